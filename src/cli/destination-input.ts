// Turns `destinations add` / `reauth` flags into a destination's non-secret config and its
// credentials, as the connector's manifest declares its flags (`cli.inputs`; a secret one may also
// come from a file, stdin or a variable: ./secret-input.ts), then lets the connector's own schemas
// judge them. A URL LeadRelay will call is put through the same outbound guard delivery uses
// (src/util/outbound-guard.ts), so a refused URL is refused when it is typed, not when the first
// lead fails.
import type { CliInput, ConnectorManifest } from '../../connectors/types.js';
import { guardOutboundUrl, type OutboundPolicy } from '../util/outbound-guard.js';
import { optionKeyOf, readSecrets, type SecretFlag, saferForms } from './secret-input.js';

/** Flag values by flag name (`api-token`), as typed (a secret: as read from its file, stdin or variable); a flag not given is absent. */
export type FlagValues = Record<string, string | undefined>;

/** A connector's flag values, and how each secret among them was given (`--api-token-file`, `LEADRELAY_API_TOKEN`), for messages. */
interface GivenFlags {
  values: FlagValues;
  givenAs: Record<string, string>;
}

export interface DestinationInput {
  name: string;
  config: Record<string, unknown>;
  credentials: Record<string, unknown>;
}

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** A connector's secret flags, as ./secret-input.ts reads them, named by their description up to any comma or parenthesis. */
export function secretFlagsOf(manifest: ConnectorManifest): SecretFlag[] {
  return manifest.cli.inputs.filter((i) => i.secret).map((i) => ({ flag: i.flag, what: `${manifest.id} ${i.description.split(/[,(]/)[0].trim()}` }));
}

/**
 * The values of the connector's own flags among commander's parsed options; its secrets in
 * whichever form they were given. Refuses (one line) a secret given twice, or a file or stdin
 * that holds none.
 */
export async function flagValuesOf(manifest: ConnectorManifest, options: Record<string, unknown>): Promise<GivenFlags> {
  const secrets = await readSecrets(secretFlagsOf(manifest), options);
  const values: FlagValues = {};
  const givenAs: Record<string, string> = {};
  for (const input of manifest.cli.inputs) {
    const secret = input.secret ? secrets.get(input.flag) : undefined;
    const value = input.secret ? secret?.value : options[optionKeyOf(input.flag)];
    if (typeof value === 'string') values[input.flag] = value;
    if (secret) givenAs[input.flag] = secret.givenAs;
  }
  return { values, givenAs };
}

/** "--a", "--a and/or --b", "--a, --b and/or --c". */
function listFlags(inputs: CliInput[]): string {
  const flags = inputs.map((i) => `--${i.flag}`);
  return flags.length <= 1 ? (flags[0] ?? '') : `${flags.slice(0, -1).join(', ')} and/or ${flags[flags.length - 1]}`;
}

/** The credentials the flags make: the fixed members, then every credential flag (required ones must be given). */
function credentialsFromFlags(manifest: ConnectorManifest, values: FlagValues): Record<string, unknown> {
  const credentials: Record<string, unknown> = { ...(manifest.cli.fixedCredentials ?? {}) };
  for (const input of manifest.cli.inputs) {
    if (input.target !== 'credentials') continue;
    const value = values[input.flag];
    if (input.required && !value)
      throw new InputError(`--${input.flag} is required for --type ${manifest.id}${input.secret ? `: give it with ${saferForms(input.flag)}` : ''}`);
    if (value !== undefined) credentials[input.key] = value;
  }
  return credentials;
}

/** `destinations add`: the config, credentials and name the flags give (not yet checked by the schemas). */
export function destinationInputFromFlags(manifest: ConnectorManifest, values: FlagValues, name?: string): DestinationInput {
  const config: Record<string, unknown> = {};
  for (const input of manifest.cli.inputs) {
    if (input.target !== 'config') continue;
    const value = values[input.flag];
    if (input.required && !value) throw new InputError(`--${input.flag} is required for --type ${manifest.id}`);
    if (value !== undefined) config[input.key] = value;
  }
  const credentials = credentialsFromFlags(manifest, values);
  return { name: name ?? manifest.cli.defaultName?.(config) ?? manifest.label, config, credentials };
}

export interface ReauthInput {
  /** The stored config with the config flags given applied. */
  config: Record<string, unknown>;
  /** The config flags given (their values replace the stored ones). */
  configInputs: CliInput[];
  /** New credentials, or null when the stored ones are kept. */
  credentials: Record<string, unknown> | null;
}

/**
 * `destinations reauth`: what the flags replace. Credentials are replaced as a whole, so a
 * connector with required credential flags needs them all; one whose credential flags are all
 * optional (the webhook's signing secret) keeps its credentials unless one is given. Config flags
 * left out keep their stored values. Something must be given.
 */
export function reauthInputFromFlags(manifest: ConnectorManifest, values: FlagValues, storedConfig: Record<string, unknown>): ReauthInput {
  const inputs = manifest.cli.inputs;
  const credentialInputs = inputs.filter((i) => i.target === 'credentials');
  const configInputs = inputs.filter((i) => i.target === 'config');
  const given = (i: CliInput) => values[i.flag] !== undefined;
  const needsCredentials = credentialInputs.some((i) => i.required);
  if (inputs.length === 0)
    throw new InputError(`${manifest.id} destinations take no flags; connect one again with: leadrelay destinations connect --destination <id>`);
  if (!needsCredentials && !inputs.some(given))
    throw new InputError(`give a new ${listFlags([...credentialInputs, ...configInputs])} for a ${manifest.id} destination`);
  const credentials = needsCredentials || credentialInputs.some(given) ? credentialsFromFlags(manifest, values) : null;
  const givenConfig = configInputs.filter(given);
  const config = { ...storedConfig };
  for (const input of givenConfig) config[input.key] = values[input.flag];
  return { config, configInputs: givenConfig, credentials };
}

/** One line for a connector schema's issues, each led by the flag that carries the value (or the form a secret came in: `givenAs`). */
export function describeIssues(
  manifest: ConnectorManifest,
  target: CliInput['target'],
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
  givenAs: Record<string, string> = {},
): string {
  return issues
    .map((i) => {
      const key = i.path.map(String).join('.');
      const input = manifest.cli.inputs.find((x) => x.target === target && x.key === String(i.path[0] ?? ''));
      return `${input ? (givenAs[input.flag] ?? `--${input.flag}`) : key || 'value'}: ${i.message}`;
    })
    .join('; ');
}

/**
 * The config values that are URLs LeadRelay itself calls through the outbound guard at delivery
 * time (the manifest marks their flags `outbound`), with the flag that sets each. (CRM connectors
 * call their vendor's API hosts.)
 */
export function outboundUrlsOf(manifest: ConnectorManifest, config: Record<string, unknown>): { flag: string; url: string }[] {
  return manifest.cli.inputs
    .filter((i) => i.outbound && i.target === 'config' && typeof config[i.key] === 'string')
    .map((i) => ({ flag: `--${i.flag}`, url: config[i.key] as string }));
}

export interface OutboundUrlCheck extends OutboundPolicy {
  /** The guard's DNS step gets this long (delivery's own timeout); past it the host counts as unresolved. */
  timeoutMs: number;
}

/**
 * Applies the outbound guard to a URL given on the command line, with the operator's policy.
 * Throws InputError (one line naming the flag) for what delivery would refuse; returns a warning
 * when the host does not resolve now, which delivery treats as a passing network failure.
 */
export async function checkOutboundUrl(flag: string, rawUrl: string, check: OutboundUrlCheck): Promise<{ warning?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed_out'>((resolve) => {
    timer = setTimeout(() => resolve('timed_out'), check.timeoutMs);
  });
  const outcome = await Promise.race([
    guardOutboundUrl(rawUrl, { allowPrivateDestinations: check.allowPrivateDestinations, resolveHost: check.resolveHost }),
    timedOut,
  ]).finally(() => clearTimeout(timer));
  if (outcome === 'timed_out') {
    return { warning: `${flag}: the host did not resolve within ${check.timeoutMs} ms; stored anyway (deliveries fail and are retried until it resolves)` };
  }
  if (outcome.isAllowed) return {};
  const { refusal } = outcome;
  switch (refusal.reason) {
    case 'invalid_url':
      throw new InputError(`${flag} is not a valid URL: give an absolute https URL, e.g. https://crm.example.com/leads`);
    case 'dns_lookup_failed':
      return { warning: `${flag}: ${refusal.message}; stored anyway (deliveries fail and are retried until it resolves)` };
    case 'scheme_refused': {
      // Plain http is the one refusal the operator's setting lifts; say which setting.
      const isHttp = /^http:/i.test(rawUrl.trim());
      throw new InputError(
        `${flag} refused: ${refusal.message}${isHttp ? '; LEADRELAY_ALLOW_PRIVATE_DESTINATIONS=true allows it on a developer machine or closed network' : ''}`,
      );
    }
    default:
      throw new InputError(`${flag} refused: ${refusal.message}`);
  }
}
