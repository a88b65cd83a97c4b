// Decides what a failed Pipedrive call means for the delivery: one pure function, table-tested in
// test/unit/pipedrive-classify.test.ts. It never puts Pipedrive's words into a reason (reasons are
// stable strings); the CRM's own message goes to `crmMessage` only.
//
// Pipedrive docs:
// - responses and error body: https://pipedrive.readme.io/docs/core-api-concepts-responses
// - rate limits, headers, Cloudflare blocking: https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting
import type { ConnectorErrorKind } from '../types.js';

export interface PipedriveErrorInput {
  status?: number;
  /** Parsed JSON when the body was JSON, otherwise the raw text. */
  body?: unknown;
  headers?: Record<string, string | undefined>;
  /** Node/axios error code when no response arrived (ECONNRESET, ETIMEDOUT...). */
  networkCode?: string;
  /** Epoch ms, only needed to read a Retry-After given as an HTTP date. */
  now?: number;
}

export interface PipedriveErrorClass {
  kind: ConnectorErrorKind;
  reason: string;
  retryAfterMs?: number;
  crmMessage?: string;
  field?: string;
}

/** A burst 429 without any usable header: the window is 2 s. */
export const DEFAULT_BURST_WAIT_MS = 2_000;
/** A spent daily budget without a reset header: look again in 15 min (it resets at midnight server time). */
export const DEFAULT_DAILY_WAIT_MS = 15 * 60_000;
/** Cloudflare blocks clients that kept calling after 429s; back off for a good while. */
export const BLOCKED_WAIT_MS = 60_000;

const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

function lowerCaseHeaders(headers: Record<string, string | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) if (typeof v === 'string') out[k.toLowerCase()] = v;
  return out;
}

/** Seconds (or an HTTP date for Retry-After) → milliseconds, or undefined when absent or unreadable. */
function readSecondsHeader(value: string | undefined, now: number | undefined, allowDate: boolean): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  if (allowDate && now !== undefined) {
    const at = Date.parse(value);
    if (Number.isFinite(at)) return Math.max(0, at - now);
  }
  return undefined;
}

function asRecord(body: unknown): Record<string, unknown> | undefined {
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
}

function isHtml(body: unknown, headers: Record<string, string>): boolean {
  if ((headers['content-type'] ?? '').includes('text/html')) return true;
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

export function classifyPipedriveError(input: PipedriveErrorInput): PipedriveErrorClass {
  const { status, body, networkCode, now } = input;
  const headers = lowerCaseHeaders(input.headers);

  if (status === undefined) {
    const code = (networkCode ?? '').toUpperCase();
    if (TIMEOUT_CODES.has(code)) return { kind: 'retryable', reason: 'timeout' };
    return { kind: 'retryable', reason: code === '' ? 'network_error' : `network_${code.toLowerCase()}` };
  }

  const crmMessage = readPipedriveMessage(body);
  const withMessage = <T extends PipedriveErrorClass>(c: T): T => (crmMessage === undefined ? c : { ...c, crmMessage });

  if (status === 429) {
    const retryAfter = readSecondsHeader(headers['retry-after'], now, true);
    const reset = readSecondsHeader(headers['x-ratelimit-reset'], now, false);
    // The daily token budget is spent: 429s until the budget resets. Pipedrive documents no
    // separate signal for it, so x-daily-requests-left: 0 is the best we have.
    if (headers['x-daily-requests-left']?.trim() === '0') {
      return withMessage({ kind: 'rate_limited', reason: 'pipedrive_daily_limit', retryAfterMs: retryAfter ?? reset ?? DEFAULT_DAILY_WAIT_MS });
    }
    return withMessage({ kind: 'rate_limited', reason: 'pipedrive_rate_limit', retryAfterMs: retryAfter ?? reset ?? DEFAULT_BURST_WAIT_MS });
  }

  if (status === 401) return withMessage({ kind: 'auth', reason: 'pipedrive_unauthorized' });

  // 402: the company's subscription lapsed; nothing will work until someone pays, so park.
  if (status === 402) return withMessage({ kind: 'auth', reason: 'pipedrive_payment_required' });

  if (status === 403) {
    // An api_token client that ignores 429s gets Cloudflare's HTML 403 instead of JSON.
    if (isHtml(body, headers)) return { kind: 'rate_limited', reason: 'pipedrive_blocked', retryAfterMs: BLOCKED_WAIT_MS };
    const code = readPipedriveCode(body) ?? '';
    // Plan limits ("feature_capping_..."): the data is fine but the plan refuses it.
    if (code.startsWith('feature_capping') || /feature_capping/.test(crmMessage ?? '')) {
      return withMessage({ kind: 'invalid', reason: 'pipedrive_feature_capping' });
    }
    // Missing scope or user permission: every lead of this destination will fail the same way
    // until someone fixes the app's scopes or the user's permissions, so park the destination.
    return withMessage({ kind: 'auth', reason: 'pipedrive_forbidden' });
  }

  if (status >= 500) return withMessage({ kind: 'retryable', reason: `status_code_${status}` });

  if (status === 408) return withMessage({ kind: 'retryable', reason: 'status_code_408' });

  if (status >= 400) {
    const field = crmMessage === undefined ? undefined : findFieldInMessage(crmMessage);
    const c: PipedriveErrorClass = withMessage({ kind: 'invalid', reason: `status_code_${status}` });
    return field === undefined ? c : { ...c, field };
  }

  // A 1xx/3xx (we never follow redirects) or a 2xx the caller could not use: not the data's fault.
  return withMessage({ kind: 'retryable', reason: `status_code_${status}` });
}
