// Decides what a failed Pipedrive call means for the delivery: one pure function, table-tested in
// test/unit/pipedrive-classify.test.ts. Only Pipedrive's own parts live here (its error body,
// codes, rate-limit headers and waits); Retry-After, header lookup, reasons and failures without
// a response are the shared ones (src/util/classify.ts). It never puts Pipedrive's words into a
// reason (reasons are stable strings); the CRM's own message goes to `crmMessage` only.
//
// Pipedrive docs:
// - responses and error body: https://pipedrive.readme.io/docs/core-api-concepts-responses
// - rate limits, headers, Cloudflare blocking: https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting
import {
  classifyNetworkCode,
  headerValue,
  parseDeltaSecondsMs,
  readRetryAfterMs,
  statusReason,
  type Classification,
  type HeaderBag,
} from '../../src/util/classify.js';

/** A Pipedrive answer. The clock comes with it: a Retry-After may be an HTTP-date. */
interface PipedriveResponseFacts {
  status: number;
  /** Parsed JSON when the body was JSON, otherwise the raw text. */
  body?: unknown;
  headers?: HeaderBag;
  /** Epoch ms, to read a Retry-After given as an HTTP-date. */
  now: number;
}

/** No answer came: only the Node/axios code (ECONNRESET, ETIMEDOUT...) is known. */
interface PipedriveNoResponseFacts {
  status?: undefined;
  networkCode?: string;
}

export type PipedriveErrorInput = PipedriveResponseFacts | PipedriveNoResponseFacts;

/** A burst 429 without any usable header: the window is 2 s. */
export const DEFAULT_BURST_WAIT_MS = 2_000;
/** A spent daily budget without a reset header: look again in 15 min (it resets at midnight server time). */
export const DEFAULT_DAILY_WAIT_MS = 15 * 60_000;
/** Cloudflare blocks clients that kept calling after 429s; back off for a good while. */
export const BLOCKED_WAIT_MS = 60_000;

function asRecord(body: unknown): Record<string, unknown> | undefined {
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
}

function isHtml(body: unknown, headers: HeaderBag | undefined): boolean {
  if ((headerValue(headers, 'content-type') ?? '').includes('text/html')) return true;
  return typeof body === 'string' && /<(!doctype|html|head|body)\b/i.test(body);
}

/** `error` plus `error_info` (when it adds something), the way a person should read them. */
export function readPipedriveMessage(body: unknown): string | undefined {
  const rec = asRecord(body);
  if (!rec) return undefined;
  const error = typeof rec.error === 'string' && rec.error.trim() !== '' ? rec.error.trim() : typeof rec.message === 'string' ? rec.message.trim() : '';
  const info = typeof rec.error_info === 'string' ? rec.error_info.trim() : '';
  const description = typeof rec.error_description === 'string' ? rec.error_description.trim() : '';
  const parts = [error, description, info].filter((p, i, all) => p !== '' && all.indexOf(p) === i);
  return parts.length === 0 ? undefined : parts.join(' — ');
}

/** Pipedrive's machine code for an error, wherever this endpoint put it. */
function readPipedriveCode(body: unknown): string | undefined {
  const rec = asRecord(body);
  if (!rec) return undefined;
  for (const key of ['code', 'errorCode', 'error_code']) {
    const v = rec[key];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

const HASH_KEY = /\b([a-f0-9]{40})\b/;
const QUOTED_IDENTIFIER = /["'`“]([a-z][a-z0-9_.]*)["'`”]/i;
const LEADING_IDENTIFIER = /(?:^|validation failed:\s*|invalid (?:field|parameter|property)\s*:?\s*)([a-z][a-z0-9_.]*)\s*(?::|is |must |should |was |has )/i;
const FIELD_WORD = /\b(?:field|parameter|property)\s+["'`]?([a-z][a-z0-9_.]*)/i;

/**
 * The field a Pipedrive validation message names, when it names one: a 40-char custom-field
 * hash, a quoted identifier ("favorite_color"), "Validation failed: owner_id: ...", or
 * "field owner_id". Best effort; the whole message is in crmMessage anyway.
 */
export function findFieldInMessage(message: string): string | undefined {
  for (const pattern of [HASH_KEY, QUOTED_IDENTIFIER, LEADING_IDENTIFIER, FIELD_WORD]) {
    const m = pattern.exec(message);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

export function classifyPipedriveError(input: PipedriveErrorInput): Classification {
  if (input.status === undefined) return classifyNetworkCode(input.networkCode);
  const { status, body, headers, now } = input;

  const crmMessage = readPipedriveMessage(body);
  const withMessage = (c: Omit<Classification, 'httpStatus'>): Classification => ({
    ...c,
    ...(crmMessage === undefined ? {} : { crmMessage }),
    httpStatus: status,
  });

  if (status === 429) {
    // Pipedrive sends retry-after and x-ratelimit-reset (seconds until the window resets).
    const wait = readRetryAfterMs(headers, now) ?? parseDeltaSecondsMs(headerValue(headers, 'x-ratelimit-reset'));
    // The daily token budget is spent: 429s until the budget resets. Pipedrive documents no
    // separate signal for it, so x-daily-requests-left: 0 is the best we have.
    if (headerValue(headers, 'x-daily-requests-left')?.trim() === '0') {
      return withMessage({ kind: 'rate_limited', reason: 'pipedrive_daily_limit', retryAfterMs: wait ?? DEFAULT_DAILY_WAIT_MS });
    }
    return withMessage({ kind: 'rate_limited', reason: 'pipedrive_rate_limit', retryAfterMs: wait ?? DEFAULT_BURST_WAIT_MS });
  }

  if (status === 401) return withMessage({ kind: 'auth', reason: 'pipedrive_unauthorized' });

  // 402: the company's subscription lapsed; nothing will work until someone pays, so park.
  if (status === 402) return withMessage({ kind: 'auth', reason: 'pipedrive_payment_required' });

  if (status === 403) {
    // An api_token client that ignores 429s gets Cloudflare's HTML 403 instead of JSON.
    if (isHtml(body, headers)) return { kind: 'rate_limited', reason: 'pipedrive_blocked', retryAfterMs: BLOCKED_WAIT_MS, httpStatus: status };
    const code = readPipedriveCode(body) ?? '';
    // Plan limits ("feature_capping_..."): the data is fine but the plan refuses it.
    if (code.startsWith('feature_capping') || /feature_capping/.test(crmMessage ?? '')) {
      return withMessage({ kind: 'invalid', reason: 'pipedrive_feature_capping' });
    }
    // Missing scope or user permission: every lead of this destination will fail the same way
    // until someone fixes the app's scopes or the user's permissions, so park the destination.
    return withMessage({ kind: 'auth', reason: 'pipedrive_forbidden' });
  }

  const reason = statusReason(status);
  if (status >= 500 || status === 408) return withMessage({ kind: 'retryable', reason });

  if (status >= 400) {
    const field = crmMessage === undefined ? undefined : findFieldInMessage(crmMessage);
    return withMessage({ kind: 'invalid', reason, ...(field === undefined ? {} : { field }) });
  }

  // A 1xx/3xx (we never follow redirects) or a 2xx the caller could not use: not the data's fault.
  return withMessage({ kind: 'retryable', reason });
}
