// Destinations: where a workspace's leads go. Adding one, replacing its settings or credentials,
// checking them with the CRM, and the OAuth connect link: what `leadrelay destinations …` and the
// API's destination operations both do. Which settings and credentials a type takes, and how they
// are checked, is the connector manifest's business (connectors/); nothing here names a CRM.
import { getManifest, findManifest, listManifests, loadConnector } from '../../connectors/index.js';
import type { ConnectorManifest, FieldDescriptor } from '../../connectors/types.js';
import type { App } from '../app.js';
import {
  buildConnectLink,
  findConnectTargetProblem,
  findMissingOAuthSettings,
  findOAuthConnector,
  listLoginUrlTypes,
  listOAuthTypes,
  MAX_NAME_CHARS,
  settingsOf,
} from '../http/oauth-providers.js';
import { CONNECT_LINK_TTL_MS, createOAuthStateSigner, type OAuthConnectRequest } from '../http/oauth-state.js';
import { buildConnectorContext, encryptCredentials } from '../pipeline/connector-context.js';
import { resumeDestination } from '../pipeline/replay.js';
import { DESTINATION_DISCONNECTED } from '../store/disconnects.js';
import * as repo from '../store/repos.js';
import type { Destination } from '../store/schema.js';
import { guardOutboundUrl } from '../util/outbound-guard.js';
import { type FieldIssue, type FieldNamer, InvalidInputError, NotFoundError } from './errors.js';

/** The key the HTTP server signs OAuth states and connect links with. */
const OAUTH_STATE_KEY_PURPOSE = 'oauth-state';

/** A destination by id; with a workspace, only one of that workspace (else not found). */
export async function getDestination(app: App, workspaceId: string | null, id: string): Promise<Destination> {
  const dest = repo.isUuid(id) ? await repo.findDestination(app.db, id) : undefined;
  if (!dest || (workspaceId !== null && dest.workspace_id !== workspaceId)) throw new NotFoundError(`destination "${id.slice(0, 64)}"`);
  return dest;
}

/** A destination type the caller named, or an input error listing the types. */
function destinationTypeOf(type: string, name: FieldNamer): ConnectorManifest {
  const manifest = findManifest(type);
  if (!manifest)
    throw new InvalidInputError({
      field: name('type'),
      message: `${name('type')} must be one of ${listManifests()
        .map((m) => m.id)
        .join(', ')}`,
    });
  return manifest;
}

/** The connector schema's issues, each naming the config or credentials member it is about. */
function schemaIssues(target: 'config' | 'credentials', issues: readonly { path: readonly PropertyKey[]; message: string }[], name: FieldNamer): FieldIssue[] {
  return issues.map((i) => {
    const field = name([target, ...i.path.map(String)].slice(0, 2).join('.'));
    return { field, message: `${field}: ${i.message}` };
  });
}

/**
 * Puts a URL LeadRelay will call through the outbound guard delivery uses
 * (src/util/outbound-guard.ts), under the operator's policy, so a URL delivery would refuse is
 * refused when it is given, not when the first lead fails: an input error naming `field` (in
 * the words of `label`). A host that does not resolve now (or not within delivery's own timeout)
 * is only a warning: delivery treats it as a passing network failure.
 */
async function checkOutboundUrl(app: App, rawUrl: string, field: string, label: string): Promise<string | undefined> {
  const { timeoutMs } = app.config.delivery;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed_out'>((resolve) => {
    timer = setTimeout(() => resolve('timed_out'), timeoutMs);
  });
  const outcome = await Promise.race([guardOutboundUrl(rawUrl, { allowPrivateDestinations: app.config.allowPrivateDestinations }), timedOut]).finally(() =>
    clearTimeout(timer),
  );
  if (outcome === 'timed_out')
    return `${label}: the host did not resolve within ${timeoutMs} ms; stored anyway (deliveries fail and are retried until it resolves)`;
  if (outcome.isAllowed) return undefined;
  const { refusal } = outcome;
  const refuse = (message: string) => new InvalidInputError({ field, message });
  switch (refusal.reason) {
    case 'invalid_url':
      throw refuse(`${label} is not a valid URL: give an absolute https URL, e.g. https://crm.example.com/leads`);
    case 'dns_lookup_failed':
      return `${label}: ${refusal.message}; stored anyway (deliveries fail and are retried until it resolves)`;
    case 'scheme_refused': {
      // Plain http is the one refusal the operator's setting lifts; say which setting.
      const isHttp = /^http:/i.test(rawUrl.trim());
      throw refuse(
        `${label} refused: ${refusal.message}${isHttp ? '; LEADRELAY_ALLOW_PRIVATE_DESTINATIONS=true allows it on a developer machine or closed network' : ''}`,
      );
    }
    default:
      throw refuse(`${label} refused: ${refusal.message}`);
  }
}

/**
 * Puts every URL of a destination config that delivery will call (the manifest marks their inputs
 * `outbound`; CRM connectors call their vendor's API hosts) through the outbound guard. `label`
 * says how to name a field in a message (e.g. "the stored --url"); returns the warnings.
 */
async function checkDestinationUrls(app: App, manifest: ConnectorManifest, config: Record<string, unknown>, name: FieldNamer, label: FieldNamer = name) {
  const warnings: string[] = [];
  for (const input of manifest.cli.inputs) {
    const url = config[input.key];
    if (!input.outbound || input.target !== 'config' || typeof url !== 'string') continue;
    const field = `config.${input.key}`;
    const warning = await checkOutboundUrl(app, url, name(field), label(field));
    if (warning) warnings.push(warning);
  }
  return warnings;
}

function parseWith<T>(manifest: ConnectorManifest, target: 'config' | 'credentials', value: unknown, name: FieldNamer): T {
  const schema = target === 'config' ? manifest.configSchema : manifest.credentialsSchema;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = schemaIssues(target, parsed.error.issues, name);
    // The CLI prints the one line; the API answers the issues one by one.
    const summary = `invalid ${manifest.id} ${target === 'config' ? 'settings' : 'credentials'}: ${issues.map((i) => i.message).join('; ')}`;
    throw new InvalidInputError(issues, summary);
  }
  return parsed.data as T;
}

export interface AddDestinationInput {
  workspaceId: string;
  type: string;
  name?: string;
  config: Record<string, unknown>;
  /** The manifest's fixed members (e.g. the credential kind) are added when absent. */
  credentials: Record<string, unknown>;
}

/** Adds a destination after the manifest's schemas and the outbound rules accept its settings. */
export async function addDestination(app: App, input: AddDestinationInput, name: FieldNamer): Promise<{ destination: Destination; warnings: string[] }> {
  const manifest = destinationTypeOf(input.type, name);
  if (input.name !== undefined && !input.name.trim()) throw new InvalidInputError({ field: name('name'), message: `${name('name')} must not be empty` });
  // The delivery rules first: they also name a malformed URL.
  const warnings = await checkDestinationUrls(app, manifest, input.config, name);
  const config = parseWith<Record<string, unknown>>(manifest, 'config', input.config, name);
  const credentials = parseWith<Record<string, unknown>>(manifest, 'credentials', { ...(manifest.cli.fixedCredentials ?? {}), ...input.credentials }, name);
  const destination = await repo.createDestination(app.db, {
    workspaceId: input.workspaceId,
    type: manifest.id,
    name: input.name?.trim() ?? manifest.cli.defaultName?.(input.config) ?? manifest.label,
    config,
    credentialsEnvelope: null,
  });
  await repo.updateDestinationCredentials(app.db, destination.id, encryptCredentials(app, destination.id, credentials), false);
  return { destination: (await repo.findDestination(app.db, destination.id)) ?? destination, warnings };
}

export interface ReplaceDestinationInput {
  /** The whole config as it is to be (the stored one with the changes applied). */
  config: Record<string, unknown>;
  /** Whether any config value changed (else the stored config is left alone). */
  isConfigChanged: boolean;
  /** New credentials, replacing the stored ones as a whole; null keeps them. */
  credentials: Record<string, unknown> | null;
}

/**
 * Replaces a destination's config values and/or credentials, makes it active again and resumes
 * its parked deliveries, in order. Today's URL rules apply to the URLs the resumed deliveries
 * will use, new or stored (`label` names a stored one).
 */
export async function replaceDestinationSettings(
  app: App,
  dest: Destination,
  input: ReplaceDestinationInput,
  name: FieldNamer,
  label: FieldNamer = name,
): Promise<{ resumed: number; warnings: string[] }> {
  const manifest = getManifest(dest.type);
  const warnings = await checkDestinationUrls(app, manifest, input.config, name, label);
  const config = parseWith<Record<string, unknown>>(manifest, 'config', input.config, name);
  let credentials = input.credentials
    ? parseWith<Record<string, unknown>>(manifest, 'credentials', { ...(manifest.cli.fixedCredentials ?? {}), ...input.credentials }, name)
    : null;
  if (!credentials && dest.credentials_envelope === null && dest.status_reason === DESTINATION_DISCONNECTED) {
    // Disconnected: its credentials were deleted. It works again only with new ones (unless its type needs none).
    const none = manifest.credentialsSchema.safeParse({ ...(manifest.cli.fixedCredentials ?? {}) });
    if (!none.success)
      throw new InvalidInputError({
        field: name('credentials'),
        message: `destination ${dest.id} was disconnected and its credentials deleted: give new credentials${manifest.oauth ? ', or connect it again by OAuth' : ''}`,
      });
    credentials = none.data as Record<string, unknown>;
  }
  if (input.isConfigChanged) await repo.updateDestinationConfig(app.db, dest.id, config);
  if (credentials) await repo.updateDestinationCredentials(app.db, dest.id, encryptCredentials(app, dest.id, credentials), true);
  else await repo.setDestinationStatus(app.db, dest.id, 'active', null);
  await repo.setDestinationRateLimit(app.db, dest.id, null);
  return { resumed: await resumeDestination(app, dest.id), warnings };
}

/** Asks the CRM whether the credentials work, and for its writable fields. Throws ConnectorError when they do not. */
export async function checkDestination(app: App, dest: Destination): Promise<FieldDescriptor[]> {
  const connector = await loadConnector(dest.type);
  const ctx = buildConnectorContext(app, dest, null);
  await connector.verify(ctx);
  return connector.describeFields(ctx);
}

export interface ConnectInput {
  workspaceId?: string;
  type?: string;
  /** Re-authorise this destination instead of creating one. */
  destinationId?: string;
  name?: string;
  loginUrl?: string;
}

/** What a connect link is for, checked: the CRM connects by OAuth and is configured, the target exists. */
export async function resolveConnectRequest(app: App, o: ConnectInput, name: FieldNamer): Promise<OAuthConnectRequest> {
  const bad = (field: string, message: string) => new InvalidInputError({ field: name(field), message });
  let workspaceId = o.workspaceId;
  let type = o.type;
  let storedConfig: Record<string, unknown> | undefined;
  if (o.destinationId !== undefined) {
    const dest = await getDestination(app, o.workspaceId ?? null, o.destinationId);
    if (o.name !== undefined) throw bad('name', `${name('name')} is for a new destination; leave it out with ${name('destination')}`);
    workspaceId ??= dest.workspace_id;
    type ??= dest.type;
    storedConfig = (dest.config ?? {}) as Record<string, unknown>;
  }
  if (!workspaceId) throw bad('workspace', `${name('workspace')} is required (or ${name('destination')} to re-authorise one)`);
  if (!type) throw bad('type', `${name('type')} is required: one of ${listOAuthTypes().join(', ')}`);
  // Re-authorising a destination without naming a type: what is wrong with the type is the destination's.
  const isTypeOfDestination = o.type === undefined && o.destinationId !== undefined;
  const typeField = isTypeOfDestination ? 'destination' : 'type';
  const connector = findOAuthConnector(type);
  if (!connector)
    throw bad(
      typeField,
      isTypeOfDestination
        ? `destination ${o.destinationId} is a ${type} destination, which does not connect by OAuth (replace its credentials instead)`
        : `${type} destinations do not connect by OAuth; OAuth types: ${listOAuthTypes().join(', ')}`,
    );
  const missing = findMissingOAuthSettings(app.config, connector);
  if (missing) throw bad(typeField, missing);
  if (o.name !== undefined && o.name.trim() === '') throw bad('name', `${name('name')} must not be empty`);
  if (o.name !== undefined && o.name.length > MAX_NAME_CHARS) throw bad('name', `${name('name')} may have at most ${MAX_NAME_CHARS} characters`);

  // A destination connected through a login host of its own (a sandbox, a My Domain) signs in again there.
  const loginOption = connector.oauth.loginUrl;
  const stored = loginOption ? storedConfig?.[loginOption.configKey] : undefined;
  let loginUrl: string | undefined = typeof stored === 'string' ? stored : undefined;
  if (o.loginUrl !== undefined) {
    if (!loginOption)
      throw bad(
        'login_url',
        `${name('login_url')} applies only to ${isTypeOfDestination ? `${listLoginUrlTypes().join(', ')} destinations` : `${name('type')} ${listLoginUrlTypes().join(', ')}`}`,
      );
    const login = loginOption.parse(o.loginUrl, settingsOf(app.config, connector));
    if (!login.ok) throw bad('login_url', `${name('login_url')}: ${login.message}`);
    loginUrl = login.loginUrl;
  }

  const request: OAuthConnectRequest = {
    workspaceId,
    type,
    ...(o.destinationId !== undefined ? { destinationId: o.destinationId } : {}),
    ...(o.name !== undefined ? { name: o.name.trim() } : {}),
    ...(loginUrl !== undefined ? { loginUrl } : {}),
  };
  const problem = await findConnectTargetProblem(app.db, request);
  if (problem) throw bad(o.destinationId !== undefined ? 'destination' : 'workspace', problem);
  return request;
}

/** The signed link (our /oauth/<type>/start) that leads whoever holds the CRM login through its consent screen. */
export function createConnectLink(app: App, request: OAuthConnectRequest, nowMs = Date.now()): { url: string; expiresAt: Date } {
  const url = buildConnectLink(app.config.publicUrl, createOAuthStateSigner(app.keyRing.deriveKey(OAUTH_STATE_KEY_PURPOSE)), request, nowMs);
  return { url, expiresAt: new Date(nowMs + CONNECT_LINK_TTL_MS) };
}
