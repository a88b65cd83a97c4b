// The connector registry: every destination type, listed once by its manifest. Manifests are
// data and small functions (connectors/types.ts ConnectorManifest), cheap to load: the config,
// the CLI and the OAuth routes read only them. A connector's SDKs load with the rest of it, on
// loadConnector(). The list is validated when this module loads, so a duplicate id or a malformed
// manifest stops the program at start-up instead of failing the first delivery; createApp loads
// every connector in a process that delivers (so one that does not load stops it too), while the
// HTTP-only side loads one when a request needs it.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_FIELD_MAPPING, type BatchSupport, type CliInput, type Connector, type ConnectorManifest, type FieldMappingSupport } from './types.js';
import { webhookManifest } from './webhook/manifest.js';
import { hubspotManifest } from './hubspot/manifest.js';
import { pipedriveManifest } from './pipedrive/manifest.js';
import { salesforceManifest } from './salesforce/manifest.js';

// Add each new connector here (one import above, one entry below).
const builtInManifests: ConnectorManifest[] = [webhookManifest, hubspotManifest, salesforceManifest, pipedriveManifest];

/** Connectors a test added (registerExtraConnector); never in production. */
const extraManifests: ConnectorManifest[] = [];
/** Connectors loaded so far, by id. */
const loadedConnectors = new Map<string, Promise<Connector>>();

const connectorIdPattern = /^[a-z][a-z0-9-]*$/;
const flagPattern = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const envNamePattern = /^[A-Z][A-Z0-9_]*$/;
/** Flags `destinations add` / `reauth` have of their own. */
const reservedFlags = new Set(['workspace', 'type', 'name', 'help', 'version', 'json']);
/** Callback parameters the OAuth routes read themselves. */
const reservedCallbackParameters = new Set(['code', 'state', 'error', 'error_description']);

/** Problems with one manifest, described without calling any of its functions. */
function findManifestProblems(entry: unknown, index: number): string[] {
  const at = `connector #${index + 1}`;
  if (!entry || typeof entry !== 'object') return [`${at} is not an object`];
  const c = entry as Partial<Record<keyof ConnectorManifest, unknown>>;
  const name = typeof c.id === 'string' && c.id !== '' ? `connector "${c.id}"` : at;
  const problems: string[] = [];
  if (typeof c.id !== 'string' || !connectorIdPattern.test(c.id))
    problems.push(`${name}: id must be lower-case letters, digits and dashes, starting with a letter`);
  if (typeof c.label !== 'string' || c.label.trim() === '') problems.push(`${name}: label is missing`);
  if (!Array.isArray(c.auth) || c.auth.length === 0) problems.push(`${name}: auth must list at least one mode`);
  for (const key of ['configSchema', 'credentialsSchema'] as const) {
    const schema = c[key] as { safeParse?: unknown } | undefined;
    if (!schema || typeof schema.safeParse !== 'function') problems.push(`${name}: ${key} is not a zod schema`);
  }
  if (c.fieldMapping !== undefined) problems.push(...findFieldMappingProblems(c.fieldMapping, name));
  if (c.mappingPreset !== undefined && (typeof c.mappingPreset !== 'string' || !c.mappingPreset.endsWith('.json')))
    problems.push(`${name}: mappingPreset must be the path of a .json file`);
  if (typeof c.load !== 'function') problems.push(`${name}: load is not a function`);
  if (c.batch !== undefined) problems.push(...findBatchProblems(c.batch, name));
  problems.push(...findSettingsProblems(c.settings, name));
  problems.push(...findCliProblems(c.cli, name));
  const hasOAuthMode = Array.isArray(c.auth) && c.auth.some((a) => (a as { type?: unknown } | null)?.type === 'oauth2');
  if (hasOAuthMode !== (c.oauth !== undefined)) problems.push(`${name}: an oauth2 auth mode and an oauth declaration go together`);
  if (c.oauth !== undefined) problems.push(...findOAuthProblems(c.oauth, c.settings, name));
  return problems;
}

function findFieldMappingProblems(value: unknown, name: string): string[] {
  if (!value || typeof value !== 'object') return [`${name}: fieldMapping is not an object`];
  const f = value as Partial<Record<keyof FieldMappingSupport, unknown>>;
  const problems: string[] = [];
  if (f.targets !== 'fixed' && f.targets !== 'open') problems.push(`${name}: fieldMapping.targets must be "fixed" or "open"`);
  if (f.withoutRouteMapping !== 'preset' && f.withoutRouteMapping !== 'none')
    problems.push(`${name}: fieldMapping.withoutRouteMapping must be "preset" or "none"`);
  if (f.knownTargets !== undefined) {
    if (!Array.isArray(f.knownTargets)) problems.push(`${name}: fieldMapping.knownTargets is not a list`);
    else if (f.knownTargets.some((t) => (t as { required?: unknown })?.required !== false))
      problems.push(`${name}: fieldMapping.knownTargets may not be required`);
  }
  return problems;
}

/** The most records one batch may declare, and the longest wait for more (a few ms is the point). */
const MAX_BATCH_RECORDS = 1000;
const MAX_BATCH_WAIT_MS = 1000;

function findBatchProblems(value: unknown, name: string): string[] {
  if (!value || typeof value !== 'object') return [`${name}: batch is not an object`];
  const b = value as Partial<Record<keyof BatchSupport, unknown>>;
  const problems: string[] = [];
  if (!Number.isInteger(b.maxRecords) || (b.maxRecords as number) < 1 || (b.maxRecords as number) > MAX_BATCH_RECORDS)
    problems.push(`${name}: batch.maxRecords must be a whole number from 1 to ${MAX_BATCH_RECORDS}`);
  if (!Number.isInteger(b.maxWaitMs) || (b.maxWaitMs as number) < 0 || (b.maxWaitMs as number) > MAX_BATCH_WAIT_MS)
    problems.push(`${name}: batch.maxWaitMs must be a whole number of ms from 0 to ${MAX_BATCH_WAIT_MS}`);
  return problems;
}

function findSettingsProblems(value: unknown, name: string): string[] {
  if (value === undefined) return [];
  if (!value || typeof value !== 'object') return [`${name}: settings is not an object`];
  const problems: string[] = [];
  for (const [key, raw] of Object.entries(value)) {
    const s = raw as { env?: unknown; type?: unknown; default?: unknown; pattern?: { regex?: unknown; message?: unknown } } | null;
    const at = `${name}: setting "${key}"`;
    if (typeof s?.env !== 'string' || !envNamePattern.test(s.env)) problems.push(`${at}: env must be an upper-case variable name`);
    if (s?.type !== 'url' && s?.type !== 'text') problems.push(`${at}: type must be "url" or "text"`);
    if (typeof s?.default !== 'string') problems.push(`${at}: default must be a string`);
    else if (s.type === 'url' && !URL.canParse(s.default)) problems.push(`${at}: default must be a URL`);
    if (s?.pattern !== undefined && (!(s.pattern?.regex instanceof RegExp) || typeof s.pattern?.message !== 'string'))
      problems.push(`${at}: pattern needs a regex and a message`);
  }
  return problems;
}

function findCliProblems(value: unknown, name: string): string[] {
  if (!value || typeof value !== 'object' || !Array.isArray((value as { inputs?: unknown }).inputs))
    return [`${name}: cli.inputs must list the flags of destinations add (it may be empty)`];
  const cli = value as { inputs: unknown[]; defaultName?: unknown; fixedCredentials?: unknown };
  const problems: string[] = [];
  const flags = new Set<string>();
  for (const raw of cli.inputs) {
    const i = (raw ?? {}) as Partial<Record<keyof CliInput, unknown>>;
    const at = `${name}: cli input ${typeof i.flag === 'string' ? `--${i.flag}` : '(no flag)'}`;
    if (typeof i.flag !== 'string' || !flagPattern.test(i.flag)) problems.push(`${at}: flag must be lower-case words joined by "-"`);
    else if (reservedFlags.has(i.flag)) problems.push(`${at}: --${i.flag} is a flag of destinations add itself`);
    else if (flags.has(i.flag)) problems.push(`${at}: declared twice`);
    if (typeof i.flag === 'string') flags.add(i.flag);
    if (typeof i.description !== 'string' || i.description.trim() === '') problems.push(`${at}: description is missing`);
    if (i.target !== 'credentials' && i.target !== 'config') problems.push(`${at}: target must be "credentials" or "config"`);
    if (typeof i.key !== 'string' || i.key === '') problems.push(`${at}: key is missing`);
    if (typeof i.required !== 'boolean' || typeof i.secret !== 'boolean') problems.push(`${at}: required and secret must be true or false`);
    // Config is stored in clear and shown back: a secret belongs in the credentials.
    if (i.secret === true && i.target !== 'credentials') problems.push(`${at}: a secret must go to the credentials`);
    if (i.outbound === true && i.target !== 'config') problems.push(`${at}: an outbound URL is config`);
  }
  if (cli.defaultName !== undefined && typeof cli.defaultName !== 'function') problems.push(`${name}: cli.defaultName is not a function`);
  if (cli.fixedCredentials !== undefined && (typeof cli.fixedCredentials !== 'object' || cli.fixedCredentials === null))
    problems.push(`${name}: cli.fixedCredentials is not an object`);
  return problems;
}

function findOAuthProblems(value: unknown, settings: unknown, name: string): string[] {
  if (!value || typeof value !== 'object') return [`${name}: oauth is not an object`];
  const o = value as Record<string, unknown>;
  const problems: string[] = [];
  const settingKeys = settings && typeof settings === 'object' ? Object.keys(settings) : [];
  if (!Array.isArray(o.requiredSettings) || o.requiredSettings.some((k) => !settingKeys.includes(k as string)))
    problems.push(`${name}: oauth.requiredSettings must name keys of its settings`);
  if (!Array.isArray(o.scopes)) problems.push(`${name}: oauth.scopes is not a list`);
  if (typeof o.pkce !== 'boolean') problems.push(`${name}: oauth.pkce must be true or false`);
  for (const key of ['authorizeUrl', 'exchangeCode', 'refresh', 'defaultName'] as const) {
    if (typeof o[key] !== 'function') problems.push(`${name}: oauth.${key} is not a function`);
  }
  if (o.forgetCaches !== undefined && typeof o.forgetCaches !== 'function') problems.push(`${name}: oauth.forgetCaches is not a function`);
  if (o.loginUrl !== undefined) {
    const l = o.loginUrl as { parse?: unknown; configKey?: unknown; description?: unknown } | null;
    if (typeof l?.parse !== 'function' || typeof l?.configKey !== 'string' || typeof l?.description !== 'string')
      problems.push(`${name}: oauth.loginUrl needs description, parse and configKey`);
  }
  if (o.callbackParameters !== undefined) {
    const params = o.callbackParameters;
    if (!Array.isArray(params) || params.some((p) => typeof p !== 'string' || reservedCallbackParameters.has(p))) {
      problems.push(`${name}: oauth.callbackParameters must be names other than ${[...reservedCallbackParameters].join(', ')}`);
    }
  }
  return problems;
}

/** Problems with a whole connector: its manifest's, and the functions that talk to the CRM. */
function findConnectorProblems(entry: unknown, index: number): string[] {
  const problems = findManifestProblems(entry, index);
  if (!entry || typeof entry !== 'object') return problems;
  const c = entry as Partial<Record<keyof Connector, unknown>>;
  const name = typeof c.id === 'string' && c.id !== '' ? `connector "${c.id}"` : `connector #${index + 1}`;
  for (const key of ['describeFields', 'deliver', 'verify'] as const) {
    if (typeof c[key] !== 'function') problems.push(`${name}: ${key} is not a function`);
  }
  if (c.renderBody !== undefined && typeof c.renderBody !== 'function') problems.push(`${name}: renderBody is not a function`);
  if (c.revoke !== undefined && typeof c.revoke !== 'function') problems.push(`${name}: revoke is not a function`);
  if ((c.batch !== undefined) !== (typeof c.deliverBatch === 'function')) problems.push(`${name}: a batch declaration and a deliverBatch function go together`);
  return problems;
}

/** Duplicate ids, and environment variables two connectors both claim. */
function findListProblems(list: readonly unknown[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  const envOwners = new Map<string, string>();
  for (const entry of list) {
    const id = (entry as { id?: unknown } | null)?.id;
    if (typeof id !== 'string') continue;
    if (ids.has(id)) problems.push(`connector id "${id}" is registered more than once`);
    ids.add(id);
    const settings = (entry as { settings?: unknown }).settings;
    for (const s of Object.values(settings && typeof settings === 'object' ? settings : {})) {
      const env = (s as { env?: unknown } | null)?.env;
      if (typeof env !== 'string') continue;
      const owner = envOwners.get(env);
      if (owner !== undefined && owner !== id) problems.push(`${env} is a setting of both "${owner}" and "${id}"`);
      envOwners.set(env, id);
    }
  }
  return problems;
}

function throwIfAny(problems: string[]): void {
  if (problems.length > 0) throw new Error(`Invalid connector registry:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

/** Throws one error naming every problem of a list of manifests: malformed entries and duplicates. */
function validateManifests(list: ConnectorManifest[]): void {
  throwIfAny([...list.flatMap((entry, index) => findManifestProblems(entry, index)), ...findListProblems(list)]);
}

/** Throws one error naming every problem of a list of loaded connectors (manifests and functions). */
export function validateRegistry(list: Connector[]): void {
  throwIfAny([...list.flatMap((entry, index) => findConnectorProblems(entry, index)), ...findListProblems(list)]);
}

validateManifests(builtInManifests);

/** Every registered connector's manifest, in registry order. */
export function listManifests(): ConnectorManifest[] {
  return [...builtInManifests, ...extraManifests];
}

/** The manifest of a destination type, or undefined. */
export function findManifest(id: string): ConnectorManifest | undefined {
  return listManifests().find((m) => m.id === id);
}

/** The manifest of a destination type; throws naming the known types when there is none. */
export function getManifest(id: string): ConnectorManifest {
  const manifest = findManifest(id);
  if (!manifest)
    throw new Error(
      `unknown destination type "${id}"; known: ${listManifests()
        .map((c) => c.id)
        .join(', ')}`,
    );
  return manifest;
}

/** The whole connector of a destination type (loaded once, then checked like a registry entry). */
export function loadConnector(id: string): Promise<Connector> {
  const manifest = getManifest(id);
  let loading = loadedConnectors.get(id);
  if (!loading) {
    loading = manifest.load().then((connector) => {
      validateRegistry([connector]);
      if (connector.id !== manifest.id)
        throw new Error(`Invalid connector registry:\n  - connector "${manifest.id}" loads a connector with id "${connector.id}"`);
      return connector;
    });
    // A failed load is not remembered: the error reaches this caller, and the next one tries again.
    loading.catch(() => loadedConnectors.delete(id));
    loadedConnectors.set(id, loading);
  }
  return loading;
}

/** Every registered connector, loaded. */
export function loadConnectors(): Promise<Connector[]> {
  return Promise.all(listManifests().map((m) => loadConnector(m.id)));
}

/**
 * Adds a connector that is not in the list above, for tests only: test/fixtures/connectors/ shows
 * that a connector needs nothing outside its folder. The binary takes such modules from
 * LEADRELAY_EXTRA_CONNECTORS (src/config/env.ts refuses it in production). Returns a function
 * that removes it again.
 */
export function registerExtraConnector(manifest: ConnectorManifest): () => void {
  validateManifests([...listManifests(), manifest]);
  extraManifests.push(manifest);
  return () => {
    const at = extraManifests.indexOf(manifest);
    if (at >= 0) extraManifests.splice(at, 1);
    loadedConnectors.delete(manifest.id);
  };
}

/**
 * Registers the connector manifests of these modules (each exports `manifest`), for tests only.
 * Relative paths are taken from the working directory. Throws one line naming a module that
 * does not load or holds no valid manifest.
 */
export async function registerExtraConnectorModules(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    let module: { manifest?: unknown };
    try {
      module = (await import(pathToFileURL(isAbsolute(path) ? path : resolve(path)).href)) as { manifest?: unknown };
    } catch (err) {
      throw new Error(`LEADRELAY_EXTRA_CONNECTORS: cannot load ${path}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
    if (!module.manifest || typeof module.manifest !== 'object')
      throw new Error(`LEADRELAY_EXTRA_CONNECTORS: ${path} exports no connector manifest (export const manifest)`);
    const manifest = module.manifest as ConnectorManifest;
    if (findManifest(manifest.id) === manifest) continue;
    try {
      registerExtraConnector(manifest);
    } catch (err) {
      const problems = (err as Error).message
        .split('\n')
        .slice(1)
        .map((line) => line.replace(/^\s*-\s*/, ''));
      throw new Error(`LEADRELAY_EXTRA_CONNECTORS: ${path}: ${problems.join('; ')}`);
    }
  }
}

/** How a connector takes field mappings: what its manifest declares, else DEFAULT_FIELD_MAPPING. */
export function fieldMappingOf(connector: Pick<ConnectorManifest, 'fieldMapping'>): FieldMappingSupport {
  return connector.fieldMapping ?? DEFAULT_FIELD_MAPPING;
}

/** The mapping preset file of a connector, relative to the project root. */
export function mappingPresetOf(connector: Pick<ConnectorManifest, 'id' | 'mappingPreset'>): string {
  return connector.mappingPreset ?? `config/mappings/${connector.id}.json`;
}
