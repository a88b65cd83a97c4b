// The shared vocabulary for "what does this failed call mean": one result type, one Retry-After
// parser, one case-insensitive header lookup, one way to build reason strings, and one
// classification of failures where no response arrived. Pure functions; the clock is always
// passed in. Table-tested in test/unit/classify.test.ts.
//
// It lives in src/util (the base layer, importable anywhere, importing nothing) so that both
// connectors/ and src/meta can use it while neither comes to depend on the other: a module under
// connectors/ would have made the Graph client depend on the connector layer.
//
// What stays with each caller is what only that service knows: its error bodies and codes, its
// rate-limit headers and its default waits (connectors/<id>/classify-error.ts,
// src/meta/graph-errors.ts).

/**
 * How a failure should be treated (only the delivery worker turns a kind into queue behaviour):
 * - `retryable`: try again later with backoff (5xx, dropped connection, timeout).
 * - `rate_limited`: wait `retryAfterMs`, then try again; does not use up an attempt.
 * - `auth`: the credentials are dead; park until someone re-authorises.
 * - `invalid`: the service rejected the data; dead-letter with its own message.
 */
export type FailureKind = 'retryable' | 'rate_limited' | 'auth' | 'invalid';

/** What every classifier returns. */
export interface Classification {
  kind: FailureKind;
  /** Stable, lower snake case, never the service's own words: `status_code_503`, `network_econnreset`, `hubspot_rate_limit_daily`. */
  reason: string;
  /** For `rate_limited` (always set there), and for a 503 that said when to come back. */
  retryAfterMs?: number;
  /** The service's own words for a person to read (may echo submitted data: never log it). */
  crmMessage?: string;
  /** The field the service named, when it named one. */
  field?: string;
  /** The HTTP status of the response, when one arrived. */
  httpStatus?: number;
}

/** Response headers as the HTTP clients hand them over: any name case, repeated headers as arrays. */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Longest wait a Retry-After may ask for unless the caller sets its own cap (a day). */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60_000;

/** A reason part longer than this is cut (reasons are stored and shown). */
const MAX_REASON_PART_CHARS = 64;

// ---- headers --------------------------------------------------------------------------------

/**
 * The value of header `name`, whatever case either side uses; the first value when the header
 * was repeated; undefined when absent.
 */
export function headerValue(headers: HeaderBag | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    if (typeof value === 'string') return value;
    const first = value[0];
    return typeof first === 'string' ? first : undefined;
  }
  return undefined;
}

// ---- waits ----------------------------------------------------------------------------------

/**
 * A non-negative number of seconds (`7`, `1.5`) as milliseconds, rounded up; undefined for
 * anything else (empty, negative, `1e3`, `soon`). For Retry-After's delta-seconds and for
 * reset headers that count seconds (Pipedrive's `x-ratelimit-reset`).
 */
export function parseDeltaSecondsMs(value: string | undefined): number | undefined {
  const text = value?.trim();
  if (!text || !/^\d+(\.\d+)?$/.test(text)) return undefined;
  const ms = Math.ceil(Number(text) * 1000);
  return Number.isFinite(ms) ? ms : undefined;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT` (a one-digit day is tolerated). */
const IMF_FIXDATE = new RegExp(`^[a-z]{3}, (\\d{1,2}) ([a-z]{3}) (\\d{4}) ${TIME} gmt$`, 'i');
/** Obsolete RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850_DATE = new RegExp(`^[a-z]{6,9}, (\\d{2})-([a-z]{3})-(\\d{2}) ${TIME} gmt$`, 'i');
/** Obsolete asctime: `Sun Nov  6 08:49:37 1994` (always GMT). */
const ASCTIME_DATE = new RegExp(`^[a-z]{3} ([a-z]{3}) ([ \\d]\\d) ${TIME} (\\d{4})$`, 'i');

/**
 * An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms) as
 * epoch ms; undefined for anything else. Stricter than Date.parse, which reads `Nov 5` or `2`
 * as dates in 2001.
 */
export function parseHttpDate(value: string, nowMs: number): number | undefined {
  const text = value.trim();
  let day: string, month: string, year: number, hh: string, mm: string, ss: string;
  let m = IMF_FIXDATE.exec(text);
  if (m) {
    [, day, month, , hh, mm, ss] = m;
    year = Number(m[3]);
  } else if ((m = RFC850_DATE.exec(text))) {
    [, day, month, , hh, mm, ss] = m;
    // RFC 9110: a two-digit year more than 50 years in the future is in the past century.
    const thisYear = new Date(nowMs).getUTCFullYear();
    year = 2000 + Number(m[3]);
    while (year > thisYear + 50) year -= 100;
  } else if ((m = ASCTIME_DATE.exec(text))) {
    [, month, day, hh, mm, ss] = m;
    year = Number(m[6]);
  } else {
    return undefined;
  }
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  const [d, h, min, s] = [Number(day), Number(hh), Number(mm), Number(ss)];
  if (monthIndex < 0 || d < 1 || d > 31 || h > 23 || min > 59 || s > 60) return undefined;
  const at = Date.UTC(year, monthIndex, d, h, min, s);
  // Date.UTC rolls 31 Feb over into March: refuse a day the month does not have.
  return new Date(at).getUTCDate() === d ? at : undefined;
}

/**
 * Retry-After (RFC 9110 §10.2.3) as a wait in ms: delta-seconds, or an HTTP-date measured from
 * `nowMs`. A date in the past means "now" (0); any wait is capped at `maxMs`. Absent or
 * unreadable → undefined, so the caller falls back to its own default.
 */
export function parseRetryAfterMs(value: string | undefined, nowMs: number, maxMs: number = MAX_RETRY_AFTER_MS): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  let waitMs = parseDeltaSecondsMs(value);
  if (waitMs === undefined) {
    const at = parseHttpDate(value, nowMs);
    if (at === undefined) return undefined;
    waitMs = at - nowMs;
  }
  return Math.min(Math.max(0, waitMs), maxMs);
}

/** `parseRetryAfterMs` of the `Retry-After` header in `headers`. */
export function readRetryAfterMs(headers: HeaderBag | undefined, nowMs: number, maxMs?: number): number | undefined {
  return parseRetryAfterMs(headerValue(headers, 'retry-after'), nowMs, maxMs);
}

// ---- reasons --------------------------------------------------------------------------------

/** One reason part in lower snake case: `ERR tls/cert` → `err_tls_cert`; nothing left → `unknown`. */
function reasonPart(part: string | number): string {
  const slug = String(part)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, MAX_REASON_PART_CHARS)
    .replace(/_+$/, '');
  return slug === '' ? 'unknown' : slug;
}

/**
 * A stable reason from its parts, each made lower snake case: `buildReason('crm',
 * 'UNABLE_TO_LOCK_ROW')` → `crm_unable_to_lock_row`. Parts are identifiers and codes,
 * never the service's message (which can echo submitted data).
 */
export function buildReason(...parts: (string | number)[]): string {
  return parts.map(reasonPart).join('_');
}

/** `status_code_503`. */
export function statusReason(status: number): string {
  return buildReason('status_code', status);
}

// ---- no response ----------------------------------------------------------------------------

/** Codes meaning the call ran out of time (Node, axios, undici). Their reason is `timeout`. */
const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'ECONNABORTED',
  'TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Codes of transport failures (no usable response), besides the timeouts. */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** Generic axios codes that name no cause; the real one is further down the chain. */
const WRAPPER_CODES = new Set(['ERR_NETWORK', 'ERR_BAD_RESPONSE', 'ERR_BAD_REQUEST']);

/**
 * The transport code of a failed call (`ECONNRESET`, `ETIMEDOUT`, ...): the error's own `code`,
 * else its cause's (undici puts it on `cause`, axios on the error). Undefined when none says.
 */
export function networkCodeOf(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current && typeof current === 'object' && !seen.has(current); depth++) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '' && !WRAPPER_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A call that got no response, from the transport code alone: `timeout` for the timeout codes,
 * `network_<code>` otherwise, `network_error` when there is no code. Always retryable.
 */
export function classifyNetworkCode(code: string | undefined): Classification {
  const trimmed = code?.trim() ?? '';
  if (trimmed === '') return { kind: 'retryable', reason: 'network_error' };
  if (TIMEOUT_CODES.has(trimmed.toUpperCase())) return { kind: 'retryable', reason: 'timeout' };
  return { kind: 'retryable', reason: buildReason('network', trimmed) };
}

/**
 * Recognises a thrown error as a failure to get a response, for clients that hand over the raw
 * error (jsforce): aborts and timeouts by name, the known transport codes (on the error or its
 * causes), `socket hang up`, and fetch's "fetch failed". Undefined when it is something else
 * (an API error, a bug), which the caller then classifies itself.
 */
export function classifyNetworkFailure(err: unknown): Classification | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as Record<string, unknown>;
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : '';
  // AbortSignal.timeout, node-fetch's AbortError and 'request-timeout'.
  if (name === 'AbortError' || name === 'TimeoutError' || e.type === 'request-timeout' || message === 'Request Timeout') {
    return { kind: 'retryable', reason: 'timeout' };
  }
  const code = networkCodeOf(err);
  const upper = code?.toUpperCase();
  if (upper && (TIMEOUT_CODES.has(upper) || NETWORK_ERROR_CODES.has(upper))) return classifyNetworkCode(code);
  const cause = e.cause && typeof e.cause === 'object' ? (e.cause as Record<string, unknown>) : undefined;
  if (/socket hang up/i.test(message) || /socket hang up/i.test(String(cause?.message ?? ''))) return classifyNetworkCode('ECONNRESET');
  // undici's "fetch failed" without a recognised cause, and node-fetch's FetchError 'system' type.
  if ((name === 'TypeError' && message === 'fetch failed') || (name === 'FetchError' && e.type === 'system')) return classifyNetworkCode(code);
  return undefined;
}
