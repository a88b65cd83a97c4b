// How a receiver's answer (or a failed connection) becomes a failure kind. One pure function,
// table-tested in test/unit/webhook-classify.test.ts; the Retry-After parser, header lookup,
// reasons and no-answer classification are the shared ones (src/util/classify.ts). Only the
// delivery worker turns the kind into queue behaviour.
import { classifyNetworkCode, readRetryAfterMs, statusReason, type Classification, type HeaderBag } from '../../src/util/classify.js';

/** A receiver's answer. The clock comes with it: a Retry-After may be an HTTP-date. */
interface WebhookAnswerFacts {
  status: number;
  /** Response headers (any case). */
  headers?: HeaderBag;
  /** The response body (already truncated), for the receiver's own message. */
  body?: string;
  /** Epoch ms, to read a Retry-After given as an HTTP-date. */
  nowMs: number;
}

/** No answer came: only the transport code (`ECONNRESET`, `ETIMEDOUT`, ...) is known. */
export interface WebhookNoAnswerFacts {
  status?: undefined;
  networkCode?: string;
}

export type WebhookResponseFacts = WebhookAnswerFacts | WebhookNoAnswerFacts;

/** Used for a 429 without a usable Retry-After, so the worker always has a concrete wait. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;
/** A receiver may not park deliveries longer than this with one Retry-After. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;
const CRM_MESSAGE_MAX_CHARS = 300;

/**
 * Classifies one delivery attempt. Returns null for success (2xx).
 *
 * - no answer → retryable (`timeout`, `network_<code>`; src/util/classify.ts)
 * - 3xx → invalid `redirect_refused` (redirects are never followed; the Location is not echoed)
 * - 429 → rate_limited with Retry-After (or DEFAULT_RATE_LIMIT_WAIT_MS)
 * - 503 with Retry-After → rate_limited; without → retryable
 * - 408, 425, 409, other 5xx → retryable. 409 is "a request with this Idempotency-Key is still
 *   in flight" in https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/
 *   (Stripe answers the same way), so trying again later is right.
 * - 401, 403 → auth
 * - other 4xx → invalid, with the receiver's message
 * - anything else (1xx, ≥600) → retryable
 */
export function classifyWebhookResponse(facts: WebhookNoAnswerFacts): Classification;
export function classifyWebhookResponse(facts: WebhookResponseFacts): Classification | null;
export function classifyWebhookResponse(facts: WebhookResponseFacts): Classification | null {
  if (facts.status === undefined) return classifyNetworkCode(facts.networkCode);
  const { status } = facts;
  if (status >= 200 && status < 300) return null;

  const reason = statusReason(status);
  const words = readReceiverWords(facts.body);
  const withWords = (failure: Omit<Classification, 'httpStatus'>): Classification => ({
    ...failure,
    ...(words.message ? { crmMessage: words.message } : {}),
    ...(words.field ? { field: words.field } : {}),
    httpStatus: status,
  });

  if (status >= 300 && status < 400) {
    return {
      kind: 'invalid',
      reason: 'redirect_refused',
      crmMessage: `the receiver answered ${status} (a redirect); redirects are not followed, so set the destination to the final URL`,
      httpStatus: status,
    };
  }
  const retryAfterMs = readRetryAfterMs(facts.headers, facts.nowMs, MAX_RETRY_AFTER_MS);
  if (status === 429) return withWords({ kind: 'rate_limited', reason, retryAfterMs: retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS });
  if (status === 503) return withWords(retryAfterMs === undefined ? { kind: 'retryable', reason } : { kind: 'rate_limited', reason, retryAfterMs });
  if (status === 401 || status === 403) return withWords({ kind: 'auth', reason });
  if (status === 408 || status === 409 || status === 425) return withWords({ kind: 'retryable', reason });
  if (status >= 400 && status < 500) return withWords({ kind: 'invalid', reason });
  return withWords({ kind: 'retryable', reason });
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
