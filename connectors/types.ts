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

export interface ConnectorSettings {
  timeoutMs: number;
  allowPrivateDestinations: boolean;
  responseBodyMaxBytes: number;
  hubspot: { apiUrl: string; clientId: string; clientSecret: string };
  salesforce: { loginUrl: string; apiVersion: string; clientId: string; clientSecret: string };
  pipedrive: { apiUrl: string; oauthUrl: string; clientId: string; clientSecret: string };
}

/** Everything a connector may use; the network edge and clock are injected for tests. */
export interface ConnectorContext<Config = Record<string, unknown>, Credentials = Record<string, unknown>> {
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
  settings: ConnectorSettings;
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

export interface Connector<Config = any, Credentials = any> {
  /** Registry key, lower-case, e.g. `webhook`, `hubspot`. */
  id: string;
  label: string;
  auth: ConnectorAuth[];
  configSchema: z.ZodType<Config>;
  credentialsSchema: z.ZodType<Credentials>;
  /** How the connector takes a route's field mapping; absent = DEFAULT_FIELD_MAPPING. */
  fieldMapping?: FieldMappingSupport;
  describeFields(ctx: ConnectorContext<Config, Credentials>): Promise<FieldDescriptor[]>;
  deliver(ctx: ConnectorContext<Config, Credentials>, record: DeliveryRecord): Promise<DeliveryResult>;
  /**
   * The exact request body deliver() would send for this record, for connectors that can say
   * without calling out (shown by `mappings preview`). Absent when the body depends on the CRM.
   */
  renderBody?(record: DeliveryRecord): unknown;
  /** Checks the credentials work; throws ConnectorError otherwise. */
  verify(ctx: ConnectorContext<Config, Credentials>): Promise<void>;
}
