// High-entropy secrets handed to people (session cookies, API keys, single-use links): random,
// prefixed so a leaked one is recognisable, and stored only as SHA-256 hashes (a fast hash is
// right for 256-bit random values; passwords use argon2id instead).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const sha256Hex = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

/** `prefix_` followed by 32 random bytes in base64url. */
export const newToken = (prefix: string) => `${prefix}_${randomBytes(32).toString('base64url')}`;

/** Compares two strings in constant time (for CSRF tokens). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** How a secret is shown after creation: only its last four characters. */
export const masked = (secret: string) => `…${secret.slice(-4)}`;
