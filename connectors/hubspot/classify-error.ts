// Turns one failed HubSpot call into a failure kind, a stable reason and (when HubSpot said
// one) a wait, the CRM's own words and the property it named. Pure: no I/O, no clock of its
// own (a response comes with `now`), table-tested in test/unit/hubspot-classify.test.ts. Only
// HubSpot's own parts live here (its bodies, categories, codes and rate-limit headers);
// Retry-After, header lookup, reasons and failures without a response are the shared ones
// (src/util/classify.ts).
//
// HubSpot's error bodies (https://developers.hubspot.com/docs/api-reference/error-handling):
//   { status, message, category, correlationId, errors: [{ message, in, code, context }], context }
// and for 429 (https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines):
//   { status: 'error', message, errorType: 'RATE_LIMIT', correlationId, policyName: 'TEN_SECONDLY_ROLLING' | 'DAILY' }
// `message` often echoes the submitted values (emails, names): it only ever goes to
// `crmMessage`, never into a reason.
import { buildReason, classifyNetworkCode, headerValue, readRetryAfterMs, statusReason, type Classification, type HeaderBag } from '../../src/util/classify.js';

/** A HubSpot answer. The clock comes with it: the daily limit ends at a wall-clock time. */
interface HubspotResponseFacts {
  /** HTTP status; 207 means `body` is (or holds in `errors[0]`) one per-input batch error. */
  status: number;
  /** Parsed JSON body, or the raw text (parsed here when it is JSON). */
  body?: unknown;
  /** Response headers (any case). */
  headers?: HeaderBag;
  /** Epoch ms, for waits that end at a wall-clock time (daily limit, HTTP-date Retry-After). */
  now: number;
}

/** No answer came: only the transport code (ECONNRESET, ETIMEDOUT, ...) is known. */
interface HubspotNoResponseFacts {
  status?: undefined;
  networkCode?: string;
}

export type HubspotErrorInput = HubspotResponseFacts | HubspotNoResponseFacts;

/** The burst window HubSpot documents for private and public apps (10 s). */
const TEN_SECONDLY_WINDOW_MS = 10_000;
/** Never ask to wait less than this for a 429 (a zero wait would hammer the account). */
const MIN_RATE_LIMIT_WAIT_MS = 1_000;
/** Never ask to wait less than this for the daily limit. */
const MIN_DAILY_WAIT_MS = 60_000;
const MAX_CRM_MESSAGE_CHARS = 1_000;

interface HubspotErrorDetail {
  message?: unknown;
  code?: unknown;
  in?: unknown;
  context?: unknown;
}

interface HubspotErrorBody {
  status?: unknown;
  message?: unknown;
  category?: unknown;
  subCategory?: unknown;
  policyName?: unknown;
  errorType?: unknown;
  context?: unknown;
  errors?: unknown;
  error?: unknown;
  error_description?: unknown;
}

export function classifyHubspotError(input: HubspotErrorInput): Classification {
  if (input.status === undefined) return classifyNetworkCode(input.networkCode);
  const httpStatus = input.status;
  const body = pickErrorBody(httpStatus, parseBody(input.body));
  // A 207's per-input error carries a category, not a status: classify it as the status it means.
  const status = httpStatus === 207 ? statusForCategory(asString(body?.category)) : httpStatus;

  const crmMessage = readableMessage(body);
  const withMessage = (c: Omit<Classification, 'httpStatus'>): Classification => ({ ...c, ...(crmMessage === undefined ? {} : { crmMessage }), httpStatus });

  if (status === 429) return withMessage(classifyRateLimit(body, input.headers, input.now));

  if (status === 401) {
    const category = asString(body?.category);
    const reason =
      category === 'EXPIRED_AUTHENTICATION'
        ? 'hubspot_token_expired'
        : category === 'INVALID_AUTHENTICATION'
          ? 'hubspot_invalid_authentication'
          : statusReason(401);
    return withMessage({ kind: 'auth', reason });
  }

  if (status === 403) {
    // A token without the scopes the call needs: only re-consent (OAuth) or new scopes on the
    // private app fix it, so park the destination like any other auth failure.
    const missing = collectMissingScopes(body);
    const isMissingScopes = asString(body?.category) === 'MISSING_SCOPES' || missing.length > 0;
    const message = [crmMessage, missing.length > 0 ? `Missing scopes: ${missing.join(', ')}` : undefined]
      .filter((p): p is string => p !== undefined)
      .join(' ');
    return {
      kind: 'auth',
      reason: isMissingScopes ? 'hubspot_missing_scopes' : statusReason(403),
      ...(message ? { crmMessage: message } : {}),
      httpStatus,
    };
  }

  if (status === 409) {
    // Upsert should never 409; a create that races another writer does ("Contact already
    // exists. Existing ID: n"). Retrying goes through upsert again, which then updates.
    return withMessage({ kind: 'retryable', reason: 'hubspot_conflict' });
  }

  if (status === 408 || status === 423) {
    // 423 LOCKED: another write to the same record is in flight; try again shortly.
    return withMessage({ kind: 'retryable', reason: statusReason(status) });
  }

  if (status >= 500) return withMessage({ kind: 'retryable', reason: statusReason(status) });

  if (status >= 400) {
    const code = firstErrorCode(body);
    const category = asString(body?.category);
    const reason = code ? buildReason('hubspot', code) : category === 'VALIDATION_ERROR' ? 'hubspot_validation_error' : statusReason(status);
    const field = namedProperty(body);
    return withMessage({ kind: 'invalid', reason, ...(field ? { field } : {}) });
  }

  // A 2xx/3xx handed to the classifier means we could not read a success we expected.
  return withMessage({ kind: 'retryable', reason: statusReason(status) });
}

/**
 * HubSpot sends no Retry-After (usage guidelines): its 429 says which limit in `policyName` and
 * the window in `X-HubSpot-RateLimit-Interval-Milliseconds`, with `-Max`/`-Remaining` beside it
 * and `-Daily`/`-Daily-Remaining` for private apps. A Retry-After (from a proxy) still wins.
 */
function classifyRateLimit(body: HubspotErrorBody | undefined, headers: HeaderBag | undefined, now: number): Omit<Classification, 'httpStatus'> {
  const policy = asString(body?.policyName)?.toUpperCase();
  const retryAfterMs = readRetryAfterMs(headers, now);

  if (policy === 'DAILY' || (policy === undefined && headerValue(headers, 'x-hubspot-ratelimit-daily-remaining')?.trim() === '0')) {
    // The daily quota resets at midnight in the ACCOUNT's time zone, which the API does not
    // tell us. Midnight in every whole-hour zone falls on a UTC hour boundary, so we wait for
    // the next top of the hour (UTC) and look again: waiting for midnight UTC would, for an
    // account west of UTC, land before its reset and then wait a further 24 h.
    const wait = retryAfterMs ?? msUntilNextUtcHour(now);
    return { kind: 'rate_limited', reason: 'hubspot_rate_limit_daily', retryAfterMs: Math.max(wait, MIN_DAILY_WAIT_MS) };
  }

  // The rolling window is spent: waiting one whole interval lets every call in it age out.
  const windowMs = Number(headerValue(headers, 'x-hubspot-ratelimit-interval-milliseconds'));
  const wait = retryAfterMs ?? (Number.isFinite(windowMs) && windowMs > 0 ? windowMs : TEN_SECONDLY_WINDOW_MS);
  const reason =
    policy === 'TEN_SECONDLY_ROLLING'
      ? 'hubspot_rate_limit_ten_secondly'
      : policy === 'SECONDLY' || /secondly limit/i.test(asString(body?.message) ?? '')
        ? 'hubspot_rate_limit_secondly'
        : statusReason(429);
  return { kind: 'rate_limited', reason, retryAfterMs: Math.max(wait, MIN_RATE_LIMIT_WAIT_MS) };
}

function msUntilNextUtcHour(now: number): number {
  const hourMs = 3_600_000;
  return hourMs - (((now % hourMs) + hourMs) % hourMs);
}

function parseBody(body: unknown): HubspotErrorBody | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') {
    const trimmed = body.trim();
    if (!trimmed.startsWith('{')) return undefined;
    try {
      const parsed: unknown = JSON.parse(trimmed);
      return isRecord(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
  return isRecord(body) ? body : undefined;
}

/** A whole 207 response carries its per-input failures in `errors[]`; classify the first. */
function pickErrorBody(status: number | undefined, body: HubspotErrorBody | undefined): HubspotErrorBody | undefined {
  if (status !== 207 || body === undefined || body.category !== undefined) return body;
  const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
  return isRecord(first) ? first : body;
}

/** Per-input batch errors carry a category, not an HTTP status. */
function statusForCategory(category: string | undefined): number {
  switch (category) {
    case 'VALIDATION_ERROR':
      return 400;
    case 'EXPIRED_AUTHENTICATION':
    case 'INVALID_AUTHENTICATION':
      return 401;
    case 'MISSING_SCOPES':
      return 403;
    case 'OBJECT_NOT_FOUND':
      return 404;
    case 'CONFLICT':
    case 'OBJECT_ALREADY_EXISTS':
      return 409;
    case 'RATE_LIMITS':
      return 429;
    default:
      // An unknown per-input failure: retry rather than dead-letter on a guess.
      return 500;
  }
}

function firstErrorCode(body: HubspotErrorBody | undefined): string | undefined {
  if (!body) return undefined;
  for (const detail of details(body)) {
    const code = asString(detail.code);
    if (code && /^[A-Z][A-Z0-9_]*$/.test(code)) return code;
  }
  for (const legacy of legacyValidationResults(body)) {
    const code = asString(legacy.error);
    if (code) return code;
  }
  return undefined;
}

/** The property HubSpot named: context.propertyName, a legacy result's `name`, or `Property "x"` in a message. */
function namedProperty(body: HubspotErrorBody | undefined): string | undefined {
  if (!body) return undefined;
  const fromContext = firstOf(contextValue(body.context, 'propertyName'));
  if (fromContext) return fromContext;
  for (const detail of details(body)) {
    const name = firstOf(contextValue(detail.context, 'propertyName'));
    if (name) return name;
  }
  for (const legacy of legacyValidationResults(body)) {
    const name = asString(legacy.name);
    if (name) return name;
  }
  const texts = [asString(body.message), ...details(body).map((d) => asString(d.message))];
  for (const text of texts) {
    const match = text ? /Property\s+["'“]([^"'”]+)["'”]/.exec(text) : null;
    if (match) return match[1];
  }
  return undefined;
}

function collectMissingScopes(body: HubspotErrorBody | undefined): string[] {
  if (!body) return [];
  const found = new Set<string>();
  const collect = (context: unknown) => {
    for (const key of ['missingScopes', 'requiredGranularScopes', 'requiredScopes']) {
      for (const scope of contextValue(context, key)) found.add(scope);
    }
  };
  collect(body.context);
  for (const detail of details(body)) collect(detail.context);
  return [...found];
}

/**
 * The words to show a person. HubSpot's legacy validation message wraps a JSON array
 * ("Property values were not valid: [{...}]"); show the inner messages instead.
 */
function readableMessage(body: HubspotErrorBody | undefined): string | undefined {
  if (!body) return undefined;
  const legacy = legacyValidationResults(body)
    .map((r) => asString(r.message))
    .filter((m): m is string => !!m);
  const detailMessages = details(body)
    .map((d) => asString(d.message))
    .filter((m): m is string => !!m);
  const outer = asString(body.message) ?? asString(body.error_description);
  let text: string | undefined;
  if (legacy.length > 0) text = legacy.join('; ');
  else if (outer && detailMessages.length > 0 && !detailMessages.every((m) => outer.includes(m))) text = `${outer} (${detailMessages.join('; ')})`;
  else text = outer ?? (detailMessages.length > 0 ? detailMessages.join('; ') : undefined);
  if (text === undefined || text.trim() === '') return undefined;
  return text.length > MAX_CRM_MESSAGE_CHARS ? `${text.slice(0, MAX_CRM_MESSAGE_CHARS)}…` : text;
}

function legacyValidationResults(body: HubspotErrorBody): Record<string, unknown>[] {
  const message = asString(body.message);
  if (!message) return [];
  const start = message.indexOf('[{');
  const end = message.lastIndexOf('}]');
  if (start < 0 || end < start) return [];
  try {
    const parsed: unknown = JSON.parse(message.slice(start, end + 2));
    return Array.isArray(parsed) ? parsed.filter(isRecord) : [];
  } catch {
    return [];
  }
}

function details(body: HubspotErrorBody): HubspotErrorDetail[] {
  return Array.isArray(body.errors) ? body.errors.filter(isRecord) : [];
}

function contextValue(context: unknown, key: string): string[] {
  if (!isRecord(context)) return [];
  const value = context[key];
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function firstOf(values: string[]): string | undefined {
  return values.find((v) => v.trim() !== '');
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
