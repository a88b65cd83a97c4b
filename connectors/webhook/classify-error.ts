// How a receiver's answer (or a failed connection) becomes a failure kind. One pure function,
// table-tested in test/unit/webhook-classify.test.ts. Only the delivery worker turns the kind
// into queue behaviour.
import type { ConnectorErrorKind } from '../types.js';

export interface WebhookResponseFacts {
  /** HTTP status, when the receiver answered. */
  status?: number;
  /** Response headers (any case). */
  headers?: Record<string, string | string[] | undefined>;
  /** Node/axios error code when no answer came (`ECONNRESET`, `ETIMEDOUT`, ...). */
  networkCode?: string;
  /** The response body (already truncated), for the receiver's own message. */
  body?: string;
  /** The clock, needed only to read a Retry-After given as an HTTP-date. */
  nowMs?: number;
}

export interface WebhookFailure {
  kind: ConnectorErrorKind;
  /** Stable reason: `status_code_503`, `network_ECONNRESET`, `timeout`, `redirect_refused`. */
  reason: string;
  retryAfterMs?: number;
  /** A short excerpt of the receiver's own words. */
  crmMessage?: string;
  /** The field the receiver named in a JSON body (`{"field": "..."}`). */
  field?: string;
}

/** Used for a 429 without a usable Retry-After, so the worker always has a concrete wait. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;
/** A receiver may not park deliveries longer than this with one Retry-After. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;
const CRM_MESSAGE_MAX_CHARS = 300;

const timeoutCodes = new Set(['ETIMEDOUT', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

/**
 * Classifies one delivery attempt. Returns null for success (2xx).
 *
 * - network failure → retryable (`timeout`, `network_<CODE>`)
 * - 3xx → invalid `redirect_refused` (redirects are never followed; the Location is not echoed)
 * - 429 → rate_limited with Retry-After (or DEFAULT_RATE_LIMIT_WAIT_MS)
 * - 503 with Retry-After → rate_limited; without → retryable
 * - 408, 425, 409, other 5xx → retryable. 409 is "a request with this Idempotency-Key is still
 *   in flight" in https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/
 *   (Stripe answers the same way), so trying again later is right.
 * - 401, 403 → auth
 * - other 4xx → invalid, with the receiver's message
 * - anything else (no status, 1xx, ≥600) → retryable
 */
export function classifyWebhookResponse(facts: WebhookResponseFacts): WebhookFailure | null {
  const { status, networkCode } = facts;
  if (status === undefined) {
    const code = sanitizeCode(networkCode);
    if (timeoutCodes.has(code)) return { kind: 'retryable', reason: 'timeout' };
    return { kind: 'retryable', reason: `network_${code}` };
  }
  if (status >= 200 && status < 300) return null;

  const reason = `status_code_${status}`;
  const words = readReceiverWords(facts.body);
  const withWords = (failure: WebhookFailure): WebhookFailure => ({
    ...failure,
    ...(words.message ? { crmMessage: words.message } : {}),
    ...(words.field ? { field: words.field } : {}),
  });

  if (status >= 300 && status < 400) {
    return {
      kind: 'invalid',
      reason: 'redirect_refused',
      crmMessage: `the receiver answered ${status} (a redirect); redirects are not followed, so set the destination to the final URL`,
    };
  }
  if (status === 429) {
    return withWords({ kind: 'rate_limited', reason, retryAfterMs: readRetryAfterMs(facts.headers, facts.nowMs) ?? DEFAULT_RATE_LIMIT_WAIT_MS });
  }
  if (status === 503) {
    const retryAfterMs = readRetryAfterMs(facts.headers, facts.nowMs);
    return withWords(retryAfterMs === undefined ? { kind: 'retryable', reason } : { kind: 'rate_limited', reason, retryAfterMs });
  }
  if (status === 401 || status === 403) return withWords({ kind: 'auth', reason });
  if (status === 408 || status === 409 || status === 425) return withWords({ kind: 'retryable', reason });
  if (status >= 400 && status < 500) return withWords({ kind: 'invalid', reason });
  return withWords({ kind: 'retryable', reason });
}

function sanitizeCode(code: string | undefined): string {
  const cleaned = (code ?? '').toUpperCase().replace(/[^A-Z0-9_]/g, '_').slice(0, 40);
  return cleaned === '' ? 'UNKNOWN' : cleaned;
}

function headerValue(headers: WebhookResponseFacts['headers'], name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
function readRetryAfterMs(headers: WebhookResponseFacts['headers'], nowMs: number | undefined): number | undefined {
  const raw = headerValue(headers, 'retry-after')?.trim();
  if (!raw) return undefined;
  let waitMs: number;
  if (/^\d+$/.test(raw)) {
    waitMs = Number(raw) * 1000;
  } else {
    const at = Date.parse(raw);
    // An HTTP-date needs the clock; without one the value cannot be read purely.
    if (Number.isNaN(at) || nowMs === undefined) return undefined;
    waitMs = at - nowMs;
  }
  return Math.min(Math.max(0, waitMs), MAX_RETRY_AFTER_MS);
}

/** The receiver's message: a JSON `message`/`error`/`detail`/`title`, else the body text, shortened. */
function readReceiverWords(body: string | undefined): { message?: string; field?: string } {
  const text = body?.trim();
  if (!text) return {};
  let message: string | undefined;
  let field: string | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const obj = parsed as Record<string, unknown>;
      for (const key of ['message', 'error_description', 'error', 'detail', 'title']) {
        const value = obj[key];
        if (typeof value === 'string' && value.trim() !== '') {
          message = value;
          break;
        }
        if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') {
          message = (value as { message: string }).message;
          break;
        }
      }
      if (typeof obj.field === 'string' && obj.field !== '') field = obj.field.slice(0, 200);
    }
  } catch {
    // Not JSON: the body text itself is the message.
  }
  return { message: shorten(message ?? text), ...(field ? { field } : {}) };
}

function shorten(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= CRM_MESSAGE_MAX_CHARS ? flat : `${flat.slice(0, CRM_MESSAGE_MAX_CHARS - 1)}…`;
}
