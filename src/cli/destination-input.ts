// Turns `destinations add` / `reauth` flags into a destination's non-secret config and its
// credentials, as the connector's manifest declares its flags (`cli.inputs`; a secret one may also
// come from a file, stdin or a variable: ./secret-input.ts). The destination service
// (src/services/destinations.ts) then judges them, as it does the API's: the connector's own
// schemas and the outbound URL rules, naming each field by the flag it came from.
import type { CliInput, ConnectorManifest } from '../../connectors/types.js';
import { cliFieldNamer, type FieldNamer } from '../services/errors.js';
import { optionKeyOf, readSecrets, type SecretFlag, saferForms } from './secret-input.js';

/** Flag values by flag name (`api-token`), as typed (a secret: as read from its file, stdin or variable); a flag not given is absent. */
export type FlagValues = Record<string, string | undefined>;

/** A connector's flag values, and how each secret among them was given (`--api-token-file`, `LEADRELAY_API_TOKEN`), for messages. */
interface GivenFlags {
  values: FlagValues;
  givenAs: Record<string, string>;
}

export interface DestinationInput {
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

/** The credentials the flags make (required ones must be given; the service adds the manifest's fixed members). */
function credentialsFromFlags(manifest: ConnectorManifest, values: FlagValues): Record<string, unknown> {
  const credentials: Record<string, unknown> = {};
  for (const input of manifest.cli.inputs) {
    if (input.target !== 'credentials') continue;
    const value = values[input.flag];
    if (input.required && !value)
      throw new InputError(`--${input.flag} is required for --type ${manifest.id}${input.secret ? `: give it with ${saferForms(input.flag)}` : ''}`);
    if (value !== undefined) credentials[input.key] = value;
  }
  return credentials;
}

/** `destinations add`: the config and credentials the flags give (not yet checked by the schemas). */
export function destinationInputFromFlags(manifest: ConnectorManifest, values: FlagValues): DestinationInput {
  const config: Record<string, unknown> = {};
  for (const input of manifest.cli.inputs) {
    if (input.target !== 'config') continue;
    const value = values[input.flag];
    if (input.required && !value) throw new InputError(`--${input.flag} is required for --type ${manifest.id}`);
    if (value !== undefined) config[input.key] = value;
  }
  return { config, credentials: credentialsFromFlags(manifest, values) };
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

/**
 * How the destination service names a field in its messages: a config or credentials member by
 * the connector flag that carries it, or by the form a secret came in (`givenAs`:
 * `--api-token-file`, `LEADRELAY_API_TOKEN`); the whole settings or credentials by those words.
 */
export function fieldNamerOf(manifest: ConnectorManifest, givenAs: Record<string, string> = {}): FieldNamer {
  const flags: Record<string, string> = { config: 'settings', credentials: manifest.cli.credentialsLabel ?? 'credentials' };
  for (const input of manifest.cli.inputs) flags[`${input.target}.${input.key}`] = givenAs[input.flag] ?? `--${input.flag}`;
  return cliFieldNamer(flags);
}
