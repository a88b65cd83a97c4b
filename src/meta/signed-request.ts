// Meta's `signed_request`: what the data-deletion and deauthorize callbacks POST as a form field.
// Format `<base64url(signature)>.<base64url(JSON payload)>`; the signature is HMAC-SHA256 keyed
// with the app secret over the payload segment exactly as received (still encoded), and the
// payload says `algorithm: "HMAC-SHA256"`, `user_id` (app-scoped), `issued_at` and, sometimes,
// `expires` (Unix seconds).
// https://developers.facebook.com/docs/development/create-an-app/app-dashboard/data-deletion-callback/
// https://developers.facebook.com/docs/facebook-login/manually-build-a-login-flow/#deauth-callback
// The signature is checked before the payload is read, in constant time, against every
// configured secret; nothing of the request is ever put in a message.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseJsonKeepingBigIds } from './webhook-payload.js';

/** How old a signed request may be: Meta sends these callbacks at once; a day covers an outage of ours, not a replay long after. */
export const SIGNED_REQUEST_MAX_AGE_MS = 24 * 3_600_000;
/** How far in the future `issued_at` may be (clock skew between Meta and us). */
const CLOCK_SKEW_MS = 5 * 60_000;
const SEGMENT_PATTERN = /^[A-Za-z0-9_-]+={0,2}$/;
const SHA256_BYTES = 32;
/** A signed request is a few hundred bytes; anything much longer is not one. */
const MAX_LENGTH = 8192;

export interface SignedRequestPayload {
  /** The person's app-scoped Facebook user id (digits, kept as a string). */
  userId: string;
  /** Unix seconds. */
  issuedAt: number;
  /** Unix seconds, when Meta gave an end (0 or absent: none). */
  expires: number | null;
}

export type SignedRequestReason = 'no_secret' | 'malformed' | 'bad_signature' | 'wrong_algorithm' | 'expired' | 'not_yet_valid' | 'no_user';

export type SignedRequestCheck = { ok: true; payload: SignedRequestPayload } | { ok: false; reason: SignedRequestReason };

/** Why a signed request was refused, in words for the 400 answer (nothing of the request itself). */
export const SIGNED_REQUEST_REFUSALS: Record<SignedRequestReason, string> = {
  no_secret: 'META_APP_SECRET is not configured, so no signed request can be verified',
  malformed: 'signed_request is not <signature>.<payload> in base64url with a JSON payload',
  bad_signature: 'the signature of signed_request does not match (HMAC-SHA256 with the app secret)',
  wrong_algorithm: 'signed_request does not say algorithm HMAC-SHA256',
  expired: 'signed_request has expired',
  not_yet_valid: 'signed_request was issued in the future',
  no_user: 'signed_request names no app-scoped user_id',
};

function decodeSegment(segment: string): Buffer | null {
  return SEGMENT_PATTERN.test(segment) ? Buffer.from(segment, 'base64url') : null;
}

/** A number of seconds as JSON may carry it (a number, or digits in a string). */
function readSeconds(value: unknown): number | null {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,12}$/.test(value)) return Number(value);
  return null;
}

/**
 * Checks a signed request against the app secrets (any may match; an empty list is `no_secret`)
 * and the clock: signature, then algorithm, then `issued_at` (required; not older than
 * SIGNED_REQUEST_MAX_AGE_MS, not ahead of now by more than a few minutes) and `expires`.
 */
export function verifySignedRequest(signedRequest: unknown, appSecrets: string[], nowMs: number): SignedRequestCheck {
  const secrets = appSecrets.filter((s) => typeof s === 'string' && s.length > 0);
  if (secrets.length === 0) return { ok: false, reason: 'no_secret' };
  if (typeof signedRequest !== 'string' || signedRequest.length > MAX_LENGTH) return { ok: false, reason: 'malformed' };
  const parts = signedRequest.trim().split('.');
  if (parts.length !== 2) return { ok: false, reason: 'malformed' };
  const [signatureSegment, payloadSegment] = parts as [string, string];
  const signature = decodeSegment(signatureSegment);
  if (!signature || signature.length !== SHA256_BYTES || !decodeSegment(payloadSegment)) return { ok: false, reason: 'malformed' };

  let isMatch = false;
  for (const secret of secrets) {
    // Over the payload segment as it came (ASCII), never over a re-encoding of the decoded JSON.
    const expected = createHmac('sha256', secret).update(payloadSegment, 'ascii').digest();
    if (timingSafeEqual(expected, signature)) isMatch = true;
  }
  if (!isMatch) return { ok: false, reason: 'bad_signature' };

  let payload: unknown;
  try {
    payload = parseJsonKeepingBigIds(Buffer.from(payloadSegment, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return { ok: false, reason: 'malformed' };
  const p = payload as Record<string, unknown>;
  if (typeof p.algorithm !== 'string' || p.algorithm.toUpperCase() !== 'HMAC-SHA256') return { ok: false, reason: 'wrong_algorithm' };

  const issuedAt = readSeconds(p.issued_at);
  if (issuedAt === null) return { ok: false, reason: 'malformed' };
  if (issuedAt * 1000 > nowMs + CLOCK_SKEW_MS) return { ok: false, reason: 'not_yet_valid' };
  if (issuedAt * 1000 < nowMs - SIGNED_REQUEST_MAX_AGE_MS) return { ok: false, reason: 'expired' };
  const expires = p.expires === undefined || p.expires === null ? null : readSeconds(p.expires);
  if (expires === null && p.expires !== undefined && p.expires !== null) return { ok: false, reason: 'malformed' };
  if (expires !== null && expires !== 0 && expires * 1000 <= nowMs) return { ok: false, reason: 'expired' };

  const userId = typeof p.user_id === 'number' && Number.isSafeInteger(p.user_id) ? String(p.user_id) : p.user_id;
  if (typeof userId !== 'string' || !/^\d{1,32}$/.test(userId)) return { ok: false, reason: 'no_user' };
  return { ok: true, payload: { userId, issuedAt, expires: expires === 0 ? null : expires } };
}
