// The connector contract. A connector is data plus a few functions (no base class):
// the registry in connectors/index.ts lists each one once, and every connector passes
// the shared contract suite in test/contract/connector-contract.ts.
import type { z } from 'zod';
import type { CanonicalLead } from '../src/lead/canonical.js';
import type { Classification, FailureKind } from '../src/util/classify.js';

/**
 * How a failed delivery should be treated (src/util/classify.ts). Only the delivery worker turns
 * a kind into queue behaviour:
 * - `retryable`: try again later with backoff (5xx, dropped connection, timeout).
 * - `rate_limited`: wait `retryAfterMs`, then try again; does not use up an attempt.
 * - `auth`: the credentials are dead; park the destination's deliveries until re-authorised.
 * - `invalid`: the CRM rejected the data; dead-letter with the CRM's own message.
 */
export type ConnectorErrorKind = FailureKind;

/**
 * A classification (kind, stable reason such as `status_code_503` or
 * `hubspot_rate_limit_ten_secondly`, wait, the CRM's words and field, HTTP status) plus what is
 * stored with the attempt. Each connector's classify-error.ts produces the classification.
 */
export interface ConnectorErrorInit extends Classification {
  /** The response body, truncated; stored on the delivery attempt, never logged. */
  responseBody?: string;
  cause?: unknown;
}

/** The one error type connectors throw. Its `message` never contains lead answers or secrets. */
export class ConnectorError extends Error {
  readonly kind: ConnectorErrorKind;
  readonly reason: string;
  readonly crmMessage?: string;
  readonly field?: string;
  readonly retryAfterMs?: number;
  readonly httpStatus?: number;
  readonly responseBody?: string;

  constructor(init: ConnectorErrorInit) {
    super(`${init.kind}: ${init.reason}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'ConnectorError';
    this.kind = init.kind;
    this.reason = init.reason;
    this.crmMessage = init.crmMessage;
    this.field = init.field;
    this.retryAfterMs = init.retryAfterMs;
    this.httpStatus = init.httpStatus;
    this.responseBody = init.responseBody;
  }
}

export function isConnectorError(err: unknown): err is ConnectorError {
  return err instanceof ConnectorError;
}

export type FieldType = 'string' | 'text' | 'email' | 'phone' | 'number' | 'boolean' | 'date' | 'datetime' | 'enum' | 'multienum' | 'url' | 'id' | 'other';

/** One writable field of the CRM record the connector creates. */
export interface FieldDescriptor {
  key: string;
  label: string;
  type: FieldType;
  required: boolean;
  /** Maximum length in characters, when the CRM says. */
  length?: number;
  /** Picklist options, for `enum` and `multienum`. */
  options?: { value: string; label: string }[];
  /** True for fields that hold a unique external id (e.g. a Salesforce External ID field). */
  isExternalId?: boolean;
}

export interface DeliveryResult {
  externalId: string;
  action: 'created' | 'updated';
  /** A link a person can open to see the record in the CRM. */
  url?: string;
  httpStatus?: number;
  /** Truncated response body, stored on the attempt. */
  responseBody?: string;
}

/**
 * A connector that can send many leads of one destination in one CRM call declares it in its
 * manifest; the delivery worker then takes a destination's ready deliveries together (up to
 * `maxRecords`) and hands them to `deliverBatch`. Connectors without it get one `deliver` per lead.
 */
export interface BatchSupport {
  /** The most records one `deliverBatch` call takes: the CRM's own batch limit (HubSpot 100, Salesforce 200). */
  maxRecords: number;
  /**
   * How long the worker waits for more ready deliveries when it found fewer than `maxRecords`
   * (light traffic), in ms; 0 sends what it found at once.
   */
  maxWaitMs: number;
  /**
   * The shortest time between two batch calls of one destination from one process when the
   * first was not full, in ms (default 0: none). A lead that comes while calls are this close
   * waits for the next call and goes with the others that came meanwhile, so a steady stream of
   * leads makes a few large calls instead of one small call per few leads. After a quiet spell
   * (no call within the interval) a lead goes at once; a full batch never waits.
   */
  minIntervalMs?: number;
}

/** The per-delivery state of one record of a batch (ConnectorContext.state, for that delivery). */
export type DeliveryState = ConnectorContext['state'];

/** One lead of a batch: its record and its delivery's own state. */
export interface BatchDeliveryItem {
  record: DeliveryRecord;
  state: DeliveryState;
}

/**
 * What became of one record of a batch, in the order of the items given. A failure of one record
 * (the CRM refused its data) is that record's alone; a failure of the whole call (429, 5xx, 401,
 * a dropped connection) is thrown by `deliverBatch` as one ConnectorError and applies to all.
 */
export type BatchItemOutcome = { ok: true; result: DeliveryResult } | { ok: false; error: ConnectorError };

/** What the delivery worker hands a connector for one lead. */
export interface DeliveryRecord {
  lead: CanonicalLead;
  /** The CRM fields produced by the route's field mapping (CRM field key → value). */
  fields: Record<string, string | number | boolean | null>;
  /**
   * True when a mapping (the route's own, or the preset) produced `fields`, even if it wrote
   * nothing for this lead; false or absent when no mapping applied (`fields` is then empty).
   */
  isMapped?: boolean;
  /** Answers no rule mapped, with their question labels, for a note/description field. */
  unmappedNote?: string;
  /** Stable idempotency key for this lead × destination (the delivery id). */
  idempotencyKey: string;
}

/**
 * What a connector is given of the program's configuration: the delivery limits every connector
 * shares, and its own settings, parsed from the environment variables its manifest declares
 * (`ConnectorManifest.settings`).
 */
export interface ConnectorSettings<Own = Record<string, string>> {
  timeoutMs: number;
  allowPrivateDestinations: boolean;
  responseBodyMaxBytes: number;
  /** This connector's own settings, by the keys of its manifest's `settings`. */
  connector: Own;
}

/**
 * One environment variable a connector reads. src/config parses every declared variable with the
 * rest of the configuration (empty = unset), so a bad value stops start-up naming the variable.
 */
export interface ConnectorSettingDeclaration {
  /** The variable, e.g. `HUBSPOT_API_URL`: upper-case letters, digits and `_`. */
  env: string;
  /** `url`: an absolute URL, kept without a trailing slash. `text`: any text. */
  type: 'url' | 'text';
  /** The value when the variable is unset; `''` for "not configured" (an OAuth client id). */
  default: string;
  /** For `text`: the value must match `regex`; the error names the variable and says `message`. */
  pattern?: { regex: RegExp; message: string };
}

/** A manifest's settings: setting key (what the connector reads) → its variable. */
export type ConnectorSettingsDeclaration = Record<string, ConnectorSettingDeclaration>;

/** The parsed settings of a declaration: every key holds a string. */
export type SettingsOf<D extends ConnectorSettingsDeclaration> = { [K in keyof D]: string };

/**
 * A typed name for one value a connector keeps in ConnectorMemory. Declare it once, at module
 * level next to the code that uses it: `const PROPERTIES = memoryKey<CachedProperties>('hubspot.properties')`.
 * Entries are found by the key object itself; the name is for people reading the code.
 */
export interface MemoryKey<T> {
  readonly name: string;
  /** Never set: carries T for the type checker (invariantly). */
  readonly value?: (value: T) => T;
}

export function memoryKey<T>(name: string): MemoryKey<T> {
  return { name };
}

/** Work under way, by id: what ConnectorMemory.shared keeps under its key. */
export type InFlight<T> = Map<string, Promise<T>>;

/**
 * What a connector keeps in memory about one destination (field lists, refreshed tokens, work
 * under way), owned by the App that built the context: two Apps in one process (tests, a
 * server and a worker) never share it. Lost on restart; not shared with other processes.
 */
export interface ConnectorMemory {
  get<T>(key: MemoryKey<T>): T | undefined;
  set<T>(key: MemoryKey<T>, value: T): void;
  delete<T>(key: MemoryKey<T>): void;
  /**
   * Runs `work` unless work for the same key and `id` is under way in this memory, in which
   * case the caller gets that work's promise (concurrent deliveries of a destination share one
   * token refresh). The entry goes when the work settles, or with delete(key).
   */
  shared<T>(key: MemoryKey<InFlight<T>>, work: () => Promise<T>, id?: string): Promise<T>;
}

/** Everything a connector may use; the network edge and clock are injected for tests. */
export interface ConnectorContext<Config = Record<string, unknown>, Credentials = Record<string, unknown>, Settings = Record<string, string>> {
  destinationId: string;
  workspaceId: string;
  /** Non-secret settings of this destination, validated by the connector's configSchema. */
  config: Config;
  /** Decrypted credentials, validated by the connector's credentialsSchema. Never log them. */
  credentials: Credentials;
  /** Persist refreshed or rotated credentials (re-encrypted at once). */
  saveCredentials(next: Credentials): Promise<void>;
  /**
   * Per-delivery state that survives retries (e.g. Pipedrive's person/lead ids for this lead),
   * for CRMs without an upsert. Scoped to the delivery (lead × destination).
   */
  state: {
    get(): Promise<Record<string, unknown> | null>;
    set(value: Record<string, unknown>): Promise<void>;
  };
  /**
   * Runs `fn` while holding a lock on `key` within this destination, shared by every worker
   * process (a PostgreSQL advisory lock, on the embedded database too).
   * CRMs without an upsert run find-or-create under it, keyed by the person (connectors/person-key.ts),
   * so two deliveries of one person cannot both create them. `key` may hold personal data: it
   * is hashed with a secret key before it leaves the process. Waiting is bounded: past the limit
   * this throws ConnectorError { kind: 'retryable', reason: 'lock_wait_timeout' }. Keep `fn` to a
   * few CRM calls: the database ends a lock held longer than its hold limit (see README).
   */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /**
   * CRM ids this destination resolved in the last 15 minutes, by key (e.g.
   * person key → person id), shared by every worker process. For CRMs whose search lags behind
   * their creates or costs a scarce budget: consult it first, under withLock on the same key.
   * Keys are hashed like withLock's.
   */
  recentRecords: {
    find(key: string): Promise<string | undefined>;
    save(key: string, externalId: string): Promise<void>;
  };
  /**
   * What this App remembers of this destination for this connector, across deliveries (field
   * lists, refreshed tokens, refreshes under way). Re-authorising the destination hands it to
   * the manifest's `oauth.forgetCaches`.
   */
  memory: ConnectorMemory;
  settings: ConnectorSettings<Settings>;
  now(): number;
}

/**
 * How a connector takes a route's field mapping. Declared in the connector's manifest; the
 * pipeline and the CLI read it, so nothing outside connectors/ needs to know a destination type.
 */
export interface FieldMappingSupport {
  /**
   * `fixed`: mapping targets must be among describeFields() (a CRM's writable fields).
   * `open`: any key is a target (the receiver decides what keys mean); describeFields() then
   * describes what the connector always sends, not mapping targets.
   */
  targets: 'fixed' | 'open';
  /**
   * What a route without a mapping of its own sends: `preset` = the connector's preset
   * (config/mappings/<id>.json) fitted to its fields; `none` = no mapped fields at all.
   */
  withoutRouteMapping: 'preset' | 'none';
  /**
   * For open targets: keys with a documented meaning and type (validation checks values written
   * to them; none is required). Auto-mapping and validation use this list instead of describeFields().
   */
  knownTargets?: FieldDescriptor[];
}

/** What a connector that declares nothing gets: a CRM with a fixed field list and a preset. */
export const DEFAULT_FIELD_MAPPING: FieldMappingSupport = { targets: 'fixed', withoutRouteMapping: 'preset' };

export type ConnectorAuth =
  | { type: 'none' }
  | { type: 'secret'; description: string }
  | { type: 'apiKey'; description: string }
  | { type: 'oauth2'; authorizeUrl: string; tokenUrl: string; scopes: string[] };

/**
 * One flag of `leadrelay destinations add` / `reauth` for a connector: where its value goes.
 * Flags named alike by several connectors are one flag; each connector reads it for itself.
 */
export interface CliInput {
  /** The flag without its dashes: lower-case words joined by `-`, e.g. `api-token` for --api-token. */
  flag: string;
  /** What to give, for --help (the connector's id is put in front). */
  description: string;
  /** Where the value goes: the credentials (encrypted) or the config (stored in clear). */
  target: 'credentials' | 'config';
  /** The member of the credentials or config that holds the value. */
  key: string;
  /** `destinations add` refuses to run without it (and `reauth`, when it replaces credentials). */
  required: boolean;
  /** A secret (token, signing secret): only ever a credential, never echoed. */
  secret: boolean;
  /** A URL LeadRelay calls itself: put through the outbound-address rules when it is typed. */
  outbound?: boolean;
  /** How `reauth` names a replaced config value ("URL replaced"); default: the flag. */
  label?: string;
}

/** How the command line makes a destination of this connector (`destinations add` / `reauth`). */
interface ConnectorCli {
  inputs: CliInput[];
  /** Members every credentials object typed on the command line carries, e.g. `{ type: 'private_app' }`. */
  fixedCredentials?: Record<string, unknown>;
  /** A new destination's name when --name is not given, from its (unchecked) config; default: the label. */
  defaultName?(config: Record<string, unknown>): string;
  /** How `reauth` names replaced credentials ("credentials replaced"); default "credentials". */
  credentialsLabel?: string;
}

/** A login URL given on the command line or a connect link, checked. */
export type LoginUrlCheck = { ok: true; loginUrl: string } | { ok: false; message: string };

/**
 * For CRMs where a person signs in at a host of their account's (Salesforce: production, sandbox
 * or My Domain): `destinations connect --login-url`, the connect link's `login_url`. The consent,
 * the code exchange and later refreshes of that destination all go there.
 */
interface OAuthLoginUrl<Settings = Record<string, string>> {
  /** For --help of `destinations connect --login-url`. */
  description: string;
  /** Checks a login URL typed by an operator; its client secret and codes are sent there. */
  parse(raw: string, settings: Settings): LoginUrlCheck;
  /** The config member a destination keeps it in (a new one gets it; re-authorising signs in there again). */
  configKey: string;
}

interface OAuthAuthorizeInput<Settings = Record<string, string>> {
  settings: ConnectorSettings<Settings>;
  redirectUri: string;
  state: string;
  /** The login host chosen for this connection, when the connector has `loginUrl`. */
  loginUrl?: string;
  /** The PKCE S256 challenge, when the connector declares `pkce`. */
  codeChallenge?: string;
}

interface OAuthExchangeInput<Settings = Record<string, string>> {
  settings: ConnectorSettings<Settings>;
  code: string;
  /** Exactly the redirect URI the consent URL carried. */
  redirectUri: string;
  loginUrl?: string;
  /** The PKCE verifier, when the connector declares `pkce`. */
  codeVerifier?: string;
  /** The callback's extra query parameters the connector declares (`callbackParameters`), when present. */
  callbackParameters: Record<string, string>;
  /** Epoch ms, to turn `expires_in` into an expiry. */
  now: number;
}

interface OAuthRefreshInput<Config = Record<string, unknown>, Credentials = Record<string, unknown>, Settings = Record<string, string>> {
  settings: ConnectorSettings<Settings>;
  config: Config;
  credentials: Credentials;
  now: number;
}

/**
 * How a connector's CRM is connected by OAuth 2.0 (authorization-code flow): what the connect
 * routes (src/http/oauth-routes.ts) and `destinations connect` need, and nothing else. The URLs
 * are built from the connector's settings, so a test or a proxy can point them elsewhere.
 * Functions may load the connector's OAuth code lazily; they throw only ConnectorError, whose
 * messages hold no code, token or client secret.
 */
export interface ConnectorOAuth<Config = Record<string, unknown>, Credentials = Record<string, unknown>, Settings = Record<string, string>> {
  /** Keys of the manifest's `settings` that must be set before a flow starts: the OAuth app's client id and secret. */
  requiredSettings: readonly string[];
  /** What the consent asks for (where the CRM takes scopes in the URL; otherwise what the app must be given). */
  scopes: readonly string[];
  /** PKCE (RFC 7636, S256): the consent URL carries a challenge and the code exchange its verifier. */
  pkce: boolean;
  /** A per-connection login host, for CRMs that have one. */
  loginUrl?: OAuthLoginUrl<Settings>;
  /** Query parameters of the callback, besides `code` and `state`, that the code exchange reads. */
  callbackParameters?: readonly string[];
  /** The CRM's consent URL. */
  authorizeUrl(input: OAuthAuthorizeInput<Settings>): Promise<string>;
  /** Exchanges the code: the token response becomes the destination's credentials. `auth` when the CRM refuses the code. */
  exchangeCode(input: OAuthExchangeInput<Settings>): Promise<Credentials>;
  /** One refresh grant: the stored credentials become fresh ones (the caller stores them). `auth` when the grant is dead. */
  refresh(input: OAuthRefreshInput<Config, Credentials, Settings>): Promise<Credentials>;
  /** A new destination's name when the connect link gives none, from its credentials. */
  defaultName(credentials: Credentials): string;
  /** Forgets the cached tokens and fields of a destination after it was re-authorised: `memory` is its ctx.memory. */
  forgetCaches?(memory: ConnectorMemory): Promise<void>;
}

/**
 * Everything the program outside connectors/ knows about a connector: plain data and small
 * functions, cheap to load (no SDK), so the CLI's help and the config can read every manifest.
 * The registry (connectors/index.ts) lists manifests; `load()` brings the rest of the connector.
 */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds manifests of every connector, each with its own config, credential and settings types
export interface ConnectorManifest<Config = any, Credentials = any, Settings = any> {
  /** Registry key and destination type, lower-case, e.g. `webhook`, `hubspot`. */
  id: string;
  /** The name people see, e.g. `HubSpot`. */
  label: string;
  auth: ConnectorAuth[];
  configSchema: z.ZodType<Config>;
  credentialsSchema: z.ZodType<Credentials>;
  /** How the connector takes a route's field mapping; absent = DEFAULT_FIELD_MAPPING. */
  fieldMapping?: FieldMappingSupport;
  /**
   * The mapping preset (auto-mapping, and routes without a mapping when `withoutRouteMapping` is
   * `preset`): a JSON file, relative to the project root. Default `config/mappings/<id>.json`.
   */
  mappingPreset?: string;
  /** The environment variables the connector reads (API hosts, OAuth client); its `ctx.settings.connector`. */
  settings?: ConnectorSettingsDeclaration;
  /** The flags `destinations add` / `reauth` take for it. */
  cli: ConnectorCli;
  /** Present when the CRM is connected by OAuth (`destinations connect`, /oauth/<id>/...). */
  oauth?: ConnectorOAuth<Config, Credentials, Settings>;
  /** Present when the connector sends many leads per CRM call (`deliverBatch`); absent: one call per lead. */
  batch?: BatchSupport;
  /** The whole connector (its SDKs load only then). */
  load(): Promise<Connector<Config, Credentials, Settings>>;
  /**
   * Erases a person in the CRM, for CRMs with a documented way to (HubSpot's GDPR delete): the
   * "also in the CRM" of a data-subject erasure. Absent: the CRM's copy must be erased there by
   * hand (the erasure's receipt says so). Loads its code lazily; throws only ConnectorError.
   */
  erasePerson?(ctx: ConnectorContext<Config, Credentials, Settings>, person: PersonToErase): Promise<PersonErasure>;
}

/** Who to erase in a CRM: the records LeadRelay made there, and the person's addresses (normalised). */
export interface PersonToErase {
  /** The CRM's ids of the records LeadRelay's deliveries created or updated (deliveries.external_id). */
  externalIds: string[];
  /** Lower-case email addresses found in the person's answers. */
  emails: string[];
  /** E.164 phone numbers found in the person's answers. */
  phones: string[];
}

/** What the CRM did: records erased, and how many it did not have (already gone). */
export interface PersonErasure {
  erased: number;
  notFound: number;
}

/** A manifest and the functions that talk to the CRM. */
// biome-ignore lint/suspicious/noExplicitAny: as for ConnectorManifest
export interface Connector<Config = any, Credentials = any, Settings = any> extends ConnectorManifest<Config, Credentials, Settings> {
  describeFields(ctx: ConnectorContext<Config, Credentials, Settings>): Promise<FieldDescriptor[]>;
  deliver(ctx: ConnectorContext<Config, Credentials, Settings>, record: DeliveryRecord): Promise<DeliveryResult>;
  /**
   * For connectors whose manifest declares `batch`: sends up to `batch.maxRecords` leads of one
   * destination, with the same effects and idempotency keys as `deliver` for each (an upsert on
   * the same key, the same mapping, attribution and notes). Returns one outcome per item, in
   * order; throws ConnectorError only for a failure of the whole batch. `ctx.state` belongs to no
   * delivery here: each item carries its own.
   */
  deliverBatch?(ctx: ConnectorContext<Config, Credentials, Settings>, items: BatchDeliveryItem[]): Promise<BatchItemOutcome[]>;
  /**
   * The exact request body deliver() would send for this record, for connectors that can say
   * without calling out (shown by `mappings preview`). Absent when the body depends on the CRM.
   */
  renderBody?(record: DeliveryRecord): unknown;
  /** Checks the credentials work; throws ConnectorError otherwise. */
  verify(ctx: ConnectorContext<Config, Credentials, Settings>): Promise<void>;
  /**
   * Revokes the destination's credentials at the CRM (disconnecting a destination, deleting a
   * workspace), where the CRM has a revocation endpoint. A token the CRM no longer knows counts
   * as revoked; credentials the CRM cannot revoke through its API (a private-app token) answer
   * `not_revocable` with where a person revokes them. Throws ConnectorError when the CRM could
   * not be asked or refused. Absent: the destination has nothing to revoke at the other end
   * (LeadRelay deletes the credentials all the same).
   */
  revoke?(ctx: ConnectorContext<Config, Credentials, Settings>): Promise<RevocationOutcome>;
}

/** What revoking a destination's credentials at the CRM came to (failures are ConnectorErrors). */
export type RevocationOutcome = { status: 'revoked' } | { status: 'not_revocable'; message: string };
