// Turns one failed Salesforce call into a failure kind, a stable reason and (when Salesforce
// said them) a wait, Salesforce's own words and the field it named. Pure: no I/O, no clock of
// its own (pass `nowMs`), table-tested in test/unit/salesforce-classify.test.ts.
//
// What arrives here:
// - jsforce's HttpApiError: `errorCode` (also its `name`) and `data` = the first element of
//   Salesforce's error array `[{ message, errorCode, fields }]`, or the whole array under
//   `MULTIPLE_API_ERRORS`; a non-JSON body becomes `ERROR_HTTP_<status>`. It carries NO HTTP
//   status or headers: client.ts records those from the response and passes them as `http`.
//   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
// - jsforce's plain `Error("Unable to refresh session due to: <code>")` when the refresh after a
//   401 failed (client.ts makes <code> the OAuth `error`), or our SalesforceTokenError itself.
// - node-fetch / undici network errors (`code` ECONNRESET, ETIMEDOUT, ...; AbortError, TimeoutError).
// - An item of a save result (`{ statusCode | errorCode, message, fields }`).
// Salesforce's `message` can echo submitted values: it only ever goes to `crmMessage`, never
// into a reason.
import type { ConnectorErrorKind } from '../types.js';

export interface SalesforceHttpFacts {
  /** The HTTP status of the response the error came from, when one arrived. */
  status?: number;
  /** Its headers (any case). */
  headers?: Record<string, string | undefined>;
  /** Epoch ms, for an HTTP-date Retry-After. Defaults to 0 (then such a header is ignored). */
  nowMs?: number;
}

export interface SalesforceErrorClass {
  kind: ConnectorErrorKind;
  reason: string;
  retryAfterMs?: number;
  crmMessage?: string;
  field?: string;
}

/**
 * Daily API allocation exceeded ("TotalRequests Limit exceeded"). The allocation is a rolling
 * 24 h window and Salesforce says neither when it frees up nor sends Retry-After, so wait an hour
 * and look again. https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm
 */
export const TOTAL_REQUESTS_WAIT_MS = 60 * 60_000;
/** Too many long-running (≥20 s) requests at once ("ConcurrentRequests"): these clear in seconds. */
export const CONCURRENT_REQUESTS_WAIT_MS = 30_000;
/** An HTTP 429 without Retry-After (Salesforce itself documents 403 for its limits). */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 30_000;
/** The login host's own limit on token requests (`rate_limit_exceeded`). */
export const LOGIN_RATE_LIMIT_WAIT_MS = 15 * 60_000;
const MAX_RETRY_AFTER_MS = 24 * 60 * 60_000;
const MAX_CRM_MESSAGE_CHARS = 1_000;

/** The data is wrong for this org: dead-letter the lead with Salesforce's words (replayable after a fix). */
const INVALID_DATA_CODES = new Set([
  'REQUIRED_FIELD_MISSING',
  'INVALID_EMAIL_ADDRESS',
  'STRING_TOO_LONG',
  'FIELD_CUSTOM_VALIDATION_EXCEPTION',
  'FIELD_FILTER_VALIDATION_EXCEPTION',
  'FIELD_INTEGRITY_EXCEPTION',
  'INVALID_FIELD',
  'INVALID_FIELD_FOR_INSERT_UPDATE',
  'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST',
  'INVALID_TYPE_ON_FIELD_IN_RECORD',
  'INVALID_TYPE',
  'INVALID_CROSS_REFERENCE_KEY',
  'INVALID_ID_FIELD',
  'MALFORMED_ID',
  'NUMBER_OUTSIDE_VALID_RANGE',
  'TOO_MANY_ENUM_VALUE',
  'JSON_PARSER_ERROR',
  'DUPLICATE_VALUE',
  'DUPLICATE_EXTERNAL_ID',
  'DUPLICATES_DETECTED',
  'CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY',
  'ENTITY_IS_DELETED',
  'NOT_FOUND',
  'MULTIPLE_CHOICES',
]);

/** Transient on Salesforce's side: retry later with backoff. */
const RETRYABLE_CODES = new Set(['SERVER_UNAVAILABLE', 'UNABLE_TO_LOCK_ROW', 'REQUEST_RUNNING_TOO_LONG', 'QUERY_TIMEOUT', 'STORAGE_LIMIT_EXCEEDED']);

/**
 * The session, the user's permissions or the org's API access are wrong: park the destination
 * until someone re-authorises or fixes the integration user (INSUFFICIENT_ACCESS* by prefix).
 */
const AUTH_CODES = new Set([
  'INVALID_SESSION_ID',
  'API_DISABLED_FOR_ORG',
  'API_CURRENTLY_DISABLED',
  'INVALID_AUTH_HEADER',
  'FUNCTIONALITY_NOT_ENABLED',
  'INVALID_OPERATION_WITH_EXPIRED_PASSWORD',
  'NOT_ORG_ADMIN',
]);

/** RFC 6749 §5.2 token errors and Salesforce's own: none heals by retrying. */
const OAUTH_AUTH_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_client_id',
  'invalid_client_credentials',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_app_access',
  'inactive_user',
  'inactive_org',
  'client_not_configured',
]);

/**
 * `error_description`s of invalid_grant, for a refresh failure that reached us through jsforce's
 * own refresh function (which keeps only the description).
 */
const REVOKED_GRANT_DESCRIPTIONS = /invalid_grant|expired access\/refresh token|token validity expired|authentication failure|inactive user|inactive organization|user hasn't approved/i;

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

const REFRESH_FAILED_PREFIX = 'Unable to refresh session due to:';

/** Classifies one failure. `http` adds what jsforce's errors lack: the status and headers. */
export function classifySalesforceError(err: unknown, http: SalesforceHttpFacts = {}): SalesforceErrorClass {
  const result = classifyAny(err, http);
  // Only the keys that carry something: the result is spread into ConnectorError and compared in tests.
  return Object.fromEntries(Object.entries(result).filter(([, v]) => v !== undefined)) as unknown as SalesforceErrorClass;
}

function classifyAny(err: unknown, http: SalesforceHttpFacts): SalesforceErrorClass {
  if (err === null || typeof err !== 'object') return { kind: 'retryable', reason: 'salesforce_unknown_error' };
  const e = err as Record<string, unknown>;

  if (typeof e.oauthError === 'string') return classifyTokenError(e);

  const network = classifyNetworkError(e);
  if (network) return network;

  const message = typeof e.message === 'string' ? e.message : '';
  if (message.startsWith(REFRESH_FAILED_PREFIX)) return classifyRefreshFailure(message.slice(REFRESH_FAILED_PREFIX.length).trim());

  const detail = readErrorDetail(e);
  if (detail) return classifyDetail(detail, http);

  if (http.status !== undefined) return classifyStatus(http.status, undefined, http);
  return { kind: 'retryable', reason: 'salesforce_unknown_error' };
}

interface ErrorDetail {
  code: string;
  message?: string;
  field?: string;
}

/** `{ errorCode | statusCode, message, fields }` from an HttpApiError, its data, or a save-result item. */
function readErrorDetail(e: Record<string, unknown>): ErrorDetail | undefined {
  const data = e.data;
  // Several errors in one response: the first decides (Salesforce lists the blocking one first).
  if (Array.isArray(data) && data.length > 0 && data[0] && typeof data[0] === 'object') {
    const first = readErrorDetail(data[0] as Record<string, unknown>);
    if (first) return first;
  }
  const fromData = data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
  const code = firstString(fromData?.errorCode, fromData?.statusCode, e.errorCode, e.statusCode);
  if (!code) return undefined;
  const rawMessage = firstString(fromData?.message, e.message);
  const fields = Array.isArray(fromData?.fields) ? fromData.fields : Array.isArray(e.fields) ? e.fields : [];
  const field = fields.find((f): f is string => typeof f === 'string' && f !== '');
  return { code, message: rawMessage, field };
}

function classifyDetail(detail: ErrorDetail, http: SalesforceHttpFacts): SalesforceErrorClass {
  const code = detail.code.toUpperCase();
  const crmMessage = clip(detail.message);
  const retryAfterMs = readRetryAfterMs(http);

  if (code === 'REQUEST_LIMIT_EXCEEDED') {
    // Salesforce answers 403 with one code for two limits; only the message tells them apart.
    const isConcurrent = /ConcurrentRequests|concurrent/i.test(detail.message ?? '');
    return {
      kind: 'rate_limited',
      reason: isConcurrent ? 'salesforce_concurrent_requests_limit' : 'salesforce_daily_request_limit',
      retryAfterMs: retryAfterMs ?? (isConcurrent ? CONCURRENT_REQUESTS_WAIT_MS : TOTAL_REQUESTS_WAIT_MS),
      crmMessage,
    };
  }
  if (http.status === 429) {
    return { kind: 'rate_limited', reason: 'status_code_429', retryAfterMs: retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS, crmMessage };
  }
  if (code === 'INVALID_SESSION_ID') return { kind: 'auth', reason: 'salesforce_invalid_session', crmMessage };
  if (AUTH_CODES.has(code) || code.startsWith('INSUFFICIENT_ACCESS')) return { kind: 'auth', reason: reasonFor(code), crmMessage, field: detail.field };
  if (INVALID_DATA_CODES.has(code)) return { kind: 'invalid', reason: reasonFor(code), crmMessage, field: detail.field };

  const httpCode = /^ERROR_HTTP_(\d{3})$/.exec(code);
  // jsforce puts the raw body (often a proxy's HTML page) in the message: not worth showing.
  if (httpCode) return classifyStatus(Number(httpCode[1]), isPlainText(detail.message) ? crmMessage : undefined, http);

  if (http.status !== undefined && http.status >= 500) return { kind: 'retryable', reason: `status_code_${http.status}`, crmMessage };
  if (RETRYABLE_CODES.has(code)) return { kind: 'retryable', reason: reasonFor(code), crmMessage };
  return { kind: 'retryable', reason: `salesforce_unknown_${sanitizeCode(code)}`, crmMessage };
}

/** A status with no Salesforce error code (a proxy's HTML page, an empty body). */
function classifyStatus(status: number, crmMessage: string | undefined, http: SalesforceHttpFacts): SalesforceErrorClass {
  const reason = `status_code_${status}`;
  if (status === 429) return { kind: 'rate_limited', reason, retryAfterMs: readRetryAfterMs(http) ?? DEFAULT_RATE_LIMIT_WAIT_MS, crmMessage };
  if (status >= 500 || status === 408) return { kind: 'retryable', reason, crmMessage };
  if (status === 401 || status === 403) return { kind: 'auth', reason, crmMessage };
  if (status >= 400) return { kind: 'invalid', reason, crmMessage };
  return { kind: 'retryable', reason, crmMessage };
}

function classifyTokenError(e: Record<string, unknown>): SalesforceErrorClass {
  const code = String(e.oauthError).toLowerCase();
  const crmMessage = clip(typeof e.description === 'string' ? e.description : undefined);
  const status = typeof e.httpStatus === 'number' ? e.httpStatus : undefined;
  if (code === 'invalid_grant') {
    // For a refresh: the grant was revoked or expired (policy, password reset, user deactivated).
    // For a code exchange: the code expired or was used. Either way a person must connect again.
    return { kind: 'auth', reason: e.grantType === 'refresh_token' ? 'salesforce_refresh_revoked' : 'salesforce_oauth_invalid_grant', crmMessage };
  }
  if (code === 'rate_limit_exceeded') return { kind: 'rate_limited', reason: 'salesforce_oauth_rate_limited', retryAfterMs: LOGIN_RATE_LIMIT_WAIT_MS, crmMessage };
  if (OAUTH_AUTH_ERRORS.has(code)) return { kind: 'auth', reason: `salesforce_oauth_${sanitizeCode(code)}`, crmMessage };
  if (status !== undefined && (status >= 500 || status === 408)) return { kind: 'retryable', reason: `salesforce_oauth_status_code_${status}`, crmMessage };
  if (status === 429) return { kind: 'rate_limited', reason: 'salesforce_oauth_rate_limited', retryAfterMs: LOGIN_RATE_LIMIT_WAIT_MS, crmMessage };
  return { kind: 'retryable', reason: `salesforce_oauth_${sanitizeCode(code)}`, crmMessage };
}

/** jsforce's "Unable to refresh session due to: X"; X is an OAuth error code or a description. */
function classifyRefreshFailure(cause: string): SalesforceErrorClass {
  if (REVOKED_GRANT_DESCRIPTIONS.test(cause)) return { kind: 'auth', reason: 'salesforce_refresh_revoked', crmMessage: clip(cause) };
  if (/session_rejected_after_refresh/.test(cause)) return { kind: 'auth', reason: 'salesforce_session_rejected' };
  if (/No refresh token/i.test(cause)) return { kind: 'auth', reason: 'salesforce_no_refresh_token' };
  const oauthCode = /^[a-z_]+$/.exec(cause)?.[0];
  if (oauthCode && OAUTH_AUTH_ERRORS.has(oauthCode)) return { kind: 'auth', reason: `salesforce_oauth_${oauthCode}` };
  return { kind: 'retryable', reason: 'salesforce_refresh_failed' };
}

function classifyNetworkError(e: Record<string, unknown>): SalesforceErrorClass | undefined {
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (name === 'AbortError' || name === 'TimeoutError' || message === 'Request Timeout' || e.type === 'request-timeout') {
    return { kind: 'retryable', reason: 'timeout' };
  }
  const cause = e.cause && typeof e.cause === 'object' ? (e.cause as Record<string, unknown>) : undefined;
  const code = firstString(e.code, cause?.code);
  if (code && NETWORK_CODES.has(code.toUpperCase())) return { kind: 'retryable', reason: `network_${sanitizeCode(code)}` };
  if (/socket hang up/i.test(message) || /socket hang up/i.test(String(cause?.message ?? ''))) return { kind: 'retryable', reason: 'network_econnreset' };
  // undici's "fetch failed" without a recognised cause, and node-fetch's FetchError 'system' type.
  if ((name === 'TypeError' && message === 'fetch failed') || (name === 'FetchError' && e.type === 'system')) {
    return { kind: 'retryable', reason: code ? `network_${sanitizeCode(code)}` : 'network_error' };
  }
  return undefined;
}

/** Retry-After as ms: delta-seconds or an HTTP date (needs `nowMs`). */
function readRetryAfterMs(http: SalesforceHttpFacts): number | undefined {
  const headers = http.headers ?? {};
  const key = Object.keys(headers).find((k) => k.toLowerCase() === 'retry-after');
  const value = key === undefined ? undefined : headers[key]?.trim();
  if (!value) return undefined;
  let ms: number | undefined;
  if (/^\d+$/.test(value)) ms = Number(value) * 1000;
  else if (http.nowMs) {
    const at = Date.parse(value);
    if (!Number.isNaN(at)) ms = Math.max(0, at - http.nowMs);
  }
  return ms === undefined ? undefined : Math.min(ms, MAX_RETRY_AFTER_MS);
}

function isPlainText(text: string | undefined): boolean {
  return text !== undefined && !/^\s*</.test(text) && !text.startsWith('HTTP response contains html');
}

function reasonFor(code: string): string {
  return `salesforce_${sanitizeCode(code)}`;
}

/** Codes are fixed identifiers, but they come off the wire: keep them to [a-z0-9_]. */
function sanitizeCode(code: string): string {
  return code.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 64);
}

function firstString(...values: unknown[]): string | undefined {
  return values.find((v): v is string => typeof v === 'string' && v !== '');
}

function clip(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  return trimmed.length > MAX_CRM_MESSAGE_CHARS ? `${trimmed.slice(0, MAX_CRM_MESSAGE_CHARS)}…` : trimmed;
}
