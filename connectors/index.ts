// The connector registry: every destination type, listed once. The list is validated when this
// module loads, so a duplicate id or a malformed connector stops the program at start-up
// instead of failing the first delivery.
import type { Connector } from './types.js';
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

/** The connector for a destination type; throws naming the known types when there is none. */
export function getConnector(id: string): Connector {
  const connector = connectorsById.get(id);
  if (!connector) {
    throw new Error(`unknown destination type "${id}"; known: ${registeredConnectors.map((c) => c.id).join(', ')}`);
  }
  return connector;
}
