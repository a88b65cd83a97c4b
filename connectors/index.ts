// The connector registry: every destination type, listed once. The list is validated when this
// module loads, so a duplicate id or a malformed connector stops the program at start-up
// instead of failing the first delivery.
import { DEFAULT_FIELD_MAPPING, type Connector, type FieldMappingSupport } from './types.js';
import { webhookConnector } from './webhook/index.js';
import { hubspotConnector } from './hubspot/index.js';
import { pipedriveConnector } from './pipedrive/index.js';
import { salesforceConnector } from './salesforce/index.js';

// Add each new connector here (one import above, one entry below).
const registeredConnectors: Connector[] = [
  webhookConnector,
  hubspotConnector,
  salesforceConnector,
  pipedriveConnector,
];

const connectorIdPattern = /^[a-z][a-z0-9-]*$/;

/** Problems with one registry entry, described without touching its behaviour. */
function findConnectorProblems(entry: unknown, index: number): string[] {
  const at = `connector #${index + 1}`;
  if (!entry || typeof entry !== 'object') return [`${at} is not an object`];
  const c = entry as Partial<Record<keyof Connector, unknown>>;
  const name = typeof c.id === 'string' && c.id !== '' ? `connector "${c.id}"` : at;
  const problems: string[] = [];
  if (typeof c.id !== 'string' || !connectorIdPattern.test(c.id)) problems.push(`${name}: id must be lower-case letters, digits and dashes, starting with a letter`);
  if (typeof c.label !== 'string' || c.label.trim() === '') problems.push(`${name}: label is missing`);
  if (!Array.isArray(c.auth) || c.auth.length === 0) problems.push(`${name}: auth must list at least one mode`);
  for (const key of ['configSchema', 'credentialsSchema'] as const) {
    const schema = c[key] as { safeParse?: unknown } | undefined;
    if (!schema || typeof schema.safeParse !== 'function') problems.push(`${name}: ${key} is not a zod schema`);
  }
  for (const key of ['describeFields', 'deliver', 'verify'] as const) {
    if (typeof c[key] !== 'function') problems.push(`${name}: ${key} is not a function`);
  }
  if (c.renderBody !== undefined && typeof c.renderBody !== 'function') problems.push(`${name}: renderBody is not a function`);
  if (c.fieldMapping !== undefined) problems.push(...findFieldMappingProblems(c.fieldMapping, name));
  return problems;
}

function findFieldMappingProblems(value: unknown, name: string): string[] {
  if (!value || typeof value !== 'object') return [`${name}: fieldMapping is not an object`];
  const f = value as Partial<Record<keyof FieldMappingSupport, unknown>>;
  const problems: string[] = [];
  if (f.targets !== 'fixed' && f.targets !== 'open') problems.push(`${name}: fieldMapping.targets must be "fixed" or "open"`);
  if (f.withoutRouteMapping !== 'preset' && f.withoutRouteMapping !== 'none') problems.push(`${name}: fieldMapping.withoutRouteMapping must be "preset" or "none"`);
  if (f.knownTargets !== undefined) {
    if (!Array.isArray(f.knownTargets)) problems.push(`${name}: fieldMapping.knownTargets is not a list`);
    else if (f.knownTargets.some((t) => (t as { required?: unknown })?.required !== false)) problems.push(`${name}: fieldMapping.knownTargets may not be required`);
  }
  return problems;
}

/** Throws one error naming every problem: malformed entries and duplicate ids. */
export function validateRegistry(list: Connector[]): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  list.forEach((entry, index) => {
    problems.push(...findConnectorProblems(entry, index));
    const id = (entry as { id?: unknown } | null)?.id;
    if (typeof id === 'string') {
      if (seen.has(id)) problems.push(`connector id "${id}" is registered more than once`);
      seen.add(id);
    }
  });
  if (problems.length > 0) throw new Error(`Invalid connector registry:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

validateRegistry(registeredConnectors);
const connectorsById = new Map(registeredConnectors.map((c) => [c.id, c]));

export function listConnectors(): Connector[] {
  return [...registeredConnectors];
}

/** How a connector takes field mappings: what its manifest declares, else DEFAULT_FIELD_MAPPING. */
export function fieldMappingOf(connector: Pick<Connector, 'fieldMapping'>): FieldMappingSupport {
  return connector.fieldMapping ?? DEFAULT_FIELD_MAPPING;
}

/** The connector for a destination type; throws naming the known types when there is none. */
export function getConnector(id: string): Connector {
  const connector = connectorsById.get(id);
  if (!connector) {
    throw new Error(`unknown destination type "${id}"; known: ${registeredConnectors.map((c) => c.id).join(', ')}`);
  }
  return connector;
}
