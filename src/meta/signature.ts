// Meta webhook authenticity: the X-Hub-Signature-256 header on POSTs and the verify token on
// the GET handshake.
// https://developers.facebook.com/docs/graph-api/webhooks/getting-started
//
// The HMAC must be computed over the raw request bytes exactly as received. Re-serialising the
// parsed JSON changes the bytes (Meta escapes non-ASCII as \u00e9 and "/" as \/, and
// JSON.stringify writes neither), so a re-serialised body fails for accented names and URLs.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const SIGNATURE_PREFIX = 'sha256=';
const SHA256_HEX_LENGTH = 64;
const hexPattern = /^[0-9a-fA-F]+$/;

/** `sha256=<lowercase hex HMAC-SHA256 of rawBody keyed with appSecret>`, as Meta sends it. */
export function computeSignature256(rawBody: Buffer, appSecret: string): string {
  return SIGNATURE_PREFIX + createHmac('sha256', appSecret).update(rawBody).digest('hex');
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing_header' | 'malformed_header' | 'mismatch' | 'no_secret' };

/**
 * Checks an X-Hub-Signature-256 header against the raw body. Every non-empty secret in
 * `appSecrets` is tried (one endpoint may serve several Meta apps); the body is accepted when any
 * matches.
 *
 * - `no_secret` comes first: with no secret configured nothing can be verified, whatever the
 *   request carries, and that is the operator's problem to fix, not the sender's.
 * - Only `sha256=` is accepted. The legacy `X-Hub-Signature: sha1=` scheme is not verified;
 *   current docs document only the SHA-256 header.
 * - The hex digits are compared as the bytes they encode, so upper- and lowercase hex are both
 *   accepted. Meta sends lowercase; the case of a hex digit carries no information, so
 *   rejecting uppercase would add no security and would only break a proxy or tool that
 *   re-cases the header.
 * - The comparison is constant-time (timingSafeEqual on two 32-byte buffers), and every secret
 *   is tried even after a match, so timing reveals neither the digest nor which secret matched.
 */
export function verifySignature256(rawBody: Buffer, header: string | undefined, appSecrets: string[]): SignatureCheck {
  const secrets = appSecrets.filter((secret) => typeof secret === 'string' && secret.length > 0);
  if (secrets.length === 0) return { ok: false, reason: 'no_secret' };
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing_header' };

  const value = header.trim();
  if (value.slice(0, SIGNATURE_PREFIX.length).toLowerCase() !== SIGNATURE_PREFIX) return { ok: false, reason: 'malformed_header' };
  const hex = value.slice(SIGNATURE_PREFIX.length);
  if (hex.length !== SHA256_HEX_LENGTH || !hexPattern.test(hex)) return { ok: false, reason: 'malformed_header' };
  const given = Buffer.from(hex, 'hex');

  let isMatch = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(rawBody).digest();
    // Both are 32 bytes here, as timingSafeEqual requires.
    if (timingSafeEqual(expected, given)) isMatch = true;
  }
  return isMatch ? { ok: true } : { ok: false, reason: 'mismatch' };
}

/**
 * Compares the GET handshake's `hub.verify_token` with the configured one in constant time.
 * False when nothing is configured: an empty expected token must never let an empty or
 * missing given token through.
 */
export function verifyToken(given: string | undefined, expected: string): boolean {
  if (typeof expected !== 'string' || expected.length === 0) return false;
  if (typeof given !== 'string') return false;
  // Hash both sides first: timingSafeEqual needs equal lengths, and comparing fixed-size digests
  // keeps the configured token's length from leaking through an early length check.
  const givenDigest = createHash('sha256').update(given, 'utf8').digest();
  const expectedDigest = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(givenDigest, expectedDigest);
}
