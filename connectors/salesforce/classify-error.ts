// Turns one failed Salesforce call into a failure kind, a stable reason and (when Salesforce
// said them) a wait, Salesforce's own words and the field it named. Pure: no I/O, no clock of
// its own (the HTTP facts come with `nowMs`), table-tested in test/unit/salesforce-classify.test.ts.
// Only Salesforce's own parts live here (its error codes, OAuth errors and limit waits);
// Retry-After, header lookup, reasons and failures without a response are the shared ones
// (src/util/classify.ts).
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
import { buildReason, classifyNetworkFailure, readRetryAfterMs, statusReason, type Classification, type HeaderBag } from '../../src/util/classify.js';

/**
 * What jsforce's errors lack, read from the response they came from. Headers can hold a wait
 * that ends at a wall-clock time, so the clock comes with them.
 */
export interface SalesforceHttpFacts {
  /** The HTTP status of the response the error came from, when one arrived. */
  status?: number;
  /** Its headers (any case). */
  headers?: HeaderBag;
  /** Epoch ms, for an HTTP-date Retry-After. */
  nowMs: number;
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
const LOGIN_RATE_LIMIT_WAIT_MS = 15 * 60_000;
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
const REVOKED_GRANT_DESCRIPTIONS =
  /invalid_grant|expired access\/refresh token|token validity expired|authentication failure|inactive user|inactive organization|user hasn't approved/i;

const REFRESH_FAILED_PREFIX = 'Unable to refresh session due to:';

/**
 * Classifies one failure. `http` adds what jsforce's errors lack: the status and headers of the
 * response, with the clock to read them. Without it (a token-endpoint error, a refresh failure)
 * there is no header to read and the documented waits apply.
 */
export function classifySalesforceError(err: unknown, http?: SalesforceHttpFacts): Classification {
  const facts: HttpFactsOrNone = http ?? {};
  const result = classifyAny(err, facts);
  const withStatus = result.httpStatus === undefined && facts.status !== undefined ? { ...result, httpStatus: facts.status } : result;
  // Only the keys that carry something: the result is spread into ConnectorError and compared in tests.
  return Object.fromEntries(Object.entries(withStatus).filter(([, v]) => v !== undefined)) as unknown as Classification;
}

type HttpFactsOrNone = SalesforceHttpFacts | { status?: undefined; headers?: undefined; nowMs?: undefined };

function classifyAny(err: unknown, http: HttpFactsOrNone): Classification {
  if (err === null || typeof err !== 'object') return { kind: 'retryable', reason: 'salesforce_unknown_error' };
  const e = err as Record<string, unknown>;

  if (typeof e.oauthError === 'string') return classifyTokenError(e);

  const network = classifyNetworkFailure(e);
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

function classifyDetail(detail: ErrorDetail, http: HttpFactsOrNone): Classification {
  const code = detail.code.toUpperCase();
  const crmMessage = clip(detail.message);
  const retryAfterMs = retryAfterFrom(http);

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

  if (http.status !== undefined && http.status >= 500) return { kind: 'retryable', reason: statusReason(http.status), crmMessage };
  if (RETRYABLE_CODES.has(code)) return { kind: 'retryable', reason: reasonFor(code), crmMessage };
  return { kind: 'retryable', reason: buildReason('salesforce_unknown', code), crmMessage };
}

/** A status with no Salesforce error code (a proxy's HTML page, an empty body). */
function classifyStatus(status: number, crmMessage: string | undefined, http: HttpFactsOrNone): Classification {
  const reason = statusReason(status);
  const c = { reason, crmMessage, httpStatus: status };
  if (status === 429) return { kind: 'rate_limited', ...c, retryAfterMs: retryAfterFrom(http) ?? DEFAULT_RATE_LIMIT_WAIT_MS };
  if (status >= 500 || status === 408) return { kind: 'retryable', ...c };
  if (status === 401 || status === 403) return { kind: 'auth', ...c };
  if (status >= 400) return { kind: 'invalid', ...c };
  return { kind: 'retryable', ...c };
}

function classifyTokenError(e: Record<string, unknown>): Classification {
  const code = String(e.oauthError).toLowerCase();
  const crmMessage = clip(typeof e.description === 'string' ? e.description : undefined);
  const status = typeof e.httpStatus === 'number' ? e.httpStatus : undefined;
  const c = { crmMessage, httpStatus: status };
  if (code === 'invalid_grant') {
    // For a refresh: the grant was revoked or expired (policy, password reset, user deactivated).
    // For a code exchange: the code expired or was used. Either way a person must connect again.
    return { kind: 'auth', reason: e.grantType === 'refresh_token' ? 'salesforce_refresh_revoked' : 'salesforce_oauth_invalid_grant', ...c };
  }
  // The login host's own limit: it says no wait, so take the documented one.
  const loginLimited: Classification = { kind: 'rate_limited', reason: 'salesforce_oauth_rate_limited', retryAfterMs: LOGIN_RATE_LIMIT_WAIT_MS, ...c };
  if (code === 'rate_limit_exceeded') return loginLimited;
  if (OAUTH_AUTH_ERRORS.has(code)) return { kind: 'auth', reason: buildReason('salesforce_oauth', code), ...c };
  if (status !== undefined && (status >= 500 || status === 408))
    return { kind: 'retryable', reason: buildReason('salesforce_oauth', statusReason(status)), ...c };
  if (status === 429) return loginLimited;
  return { kind: 'retryable', reason: buildReason('salesforce_oauth', code), ...c };
}

/** jsforce's "Unable to refresh session due to: X"; X is an OAuth error code or a description. */
function classifyRefreshFailure(cause: string): Classification {
  if (REVOKED_GRANT_DESCRIPTIONS.test(cause)) return { kind: 'auth', reason: 'salesforce_refresh_revoked', crmMessage: clip(cause) };
  if (/session_rejected_after_refresh/.test(cause)) return { kind: 'auth', reason: 'salesforce_session_rejected' };
  if (/No refresh token/i.test(cause)) return { kind: 'auth', reason: 'salesforce_no_refresh_token' };
  const oauthCode = /^[a-z_]+$/.exec(cause)?.[0];
  if (oauthCode && OAUTH_AUTH_ERRORS.has(oauthCode)) return { kind: 'auth', reason: `salesforce_oauth_${oauthCode}` };
  return { kind: 'retryable', reason: 'salesforce_refresh_failed' };
}

/** Salesforce itself sends no Retry-After (only Sforce-Limit-Info); a proxy in front of it may. */
function retryAfterFrom(http: HttpFactsOrNone): number | undefined {
  return http.nowMs === undefined ? undefined : readRetryAfterMs(http.headers, http.nowMs);
}

function isPlainText(text: string | undefined): boolean {
  return text !== undefined && !/^\s*</.test(text) && !text.startsWith('HTTP response contains html');
}

/** Codes are fixed identifiers, but they come off the wire: buildReason keeps them to [a-z0-9_]. */
function reasonFor(code: string): string {
  return buildReason('salesforce', code);
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
