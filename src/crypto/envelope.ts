// The secret-envelope wire format: a compact, versioned ASCII string that carries the key id
// in clear so a reader can pick the key (and a rotation job can find old envelopes) without
// trying every key:
//
//   lr1.<kid>.<base64url 12-byte iv>.<base64url ciphertext || 16-byte GCM tag>
//
// Key ids may contain "." (src/config/env.ts allows A-Z a-z 0-9 . _ -), while base64url never
// does, so the parser takes the version from the front and the iv and sealed data from the back;
// whatever sits in between is the key id.
//
// This module only formats and parses. The cryptography lives in key-ring.ts.

const ENVELOPE_VERSION = 'lr1';
export const IV_BYTES = 12;
export const TAG_BYTES = 16;

/** The same key-id rule as LEADRELAY_ENCRYPTION_KEYS in src/config/env.ts. */
const kidPattern = /^[A-Za-z0-9._-]{1,32}$/;
const base64urlPattern = /^[A-Za-z0-9_-]+$/;

/** `missing`: there is no envelope to open (the secret was deleted, e.g. a disconnected page's token). */
export type EnvelopeErrorCode = 'unknown_key' | 'malformed' | 'auth_failed' | 'missing';

/**
 * Why an envelope could not be opened. The message names the key id and what went wrong; it
 * never contains the plaintext, the ciphertext, the AAD or key bytes.
 */
export class EnvelopeError extends Error {
  readonly code: EnvelopeErrorCode;
  readonly kid?: string;

  constructor(code: EnvelopeErrorCode, message: string, kid?: string) {
    super(message);
    this.name = 'EnvelopeError';
    this.code = code;
    if (kid !== undefined) this.kid = kid;
  }
}

export interface EnvelopeParts {
  kid: string;
  iv: Buffer;
  /** Ciphertext followed by the 16-byte GCM tag. */
  sealed: Buffer;
}

/** True when `kid` can be written into an envelope header unambiguously. */
export function isValidKid(kid: string): boolean {
  return kidPattern.test(kid);
}

/** Writes the envelope string. */
export function formatEnvelope(parts: EnvelopeParts): string {
  if (!isValidKid(parts.kid)) throw new EnvelopeError('malformed', 'malformed envelope: key id must be 1-32 of A-Z a-z 0-9 . _ -');
  return `${ENVELOPE_VERSION}.${parts.kid}.${parts.iv.toString('base64url')}.${parts.sealed.toString('base64url')}`;
}

/** The bytes bound into GCM's additional data: the header, then the caller's purpose (if any). */
export function buildAdditionalData(kid: string, aad: string | undefined): Buffer {
  // A NUL cannot occur in the header (kid pattern), so header and purpose cannot run together.
  return Buffer.concat([Buffer.from(`${ENVELOPE_VERSION}.${kid}`, 'ascii'), Buffer.from([0]), Buffer.from(aad ?? '', 'utf8')]);
}

/**
 * Splits an envelope into its parts. Throws EnvelopeError('malformed') naming the part that is
 * wrong; never echoes the input.
 */
export function parseEnvelope(envelope: string): EnvelopeParts {
  if (typeof envelope !== 'string') throw new EnvelopeError('malformed', 'malformed envelope: not a string');
  const segments = envelope.split('.');
  if (segments[0] !== ENVELOPE_VERSION) {
    const looksVersioned = /^lr\d+$/.test(segments[0] ?? '') && segments.length >= 4;
    throw new EnvelopeError(
      'malformed',
      looksVersioned ? 'malformed envelope: unsupported envelope version' : `malformed envelope: it does not start with "${ENVELOPE_VERSION}."`,
    );
  }
  if (segments.length < 4) throw new EnvelopeError('malformed', 'malformed envelope: expected version.kid.iv.data');
  const kid = segments.slice(1, -2).join('.');
  if (!isValidKid(kid)) throw new EnvelopeError('malformed', 'malformed envelope: key id must be 1-32 of A-Z a-z 0-9 . _ -');
  const ivText = segments[segments.length - 2];
  const sealedText = segments[segments.length - 1];
  const iv = decodeStrictBase64url(ivText);
  if (iv === undefined || iv.length !== IV_BYTES) {
    throw new EnvelopeError('malformed', `malformed envelope (key "${kid}"): the iv is not ${IV_BYTES} bytes of base64url`, kid);
  }
  const sealed = decodeStrictBase64url(sealedText);
  if (sealed === undefined || sealed.length < TAG_BYTES) {
    throw new EnvelopeError('malformed', `malformed envelope (key "${kid}"): the data is not base64url of at least ${TAG_BYTES} bytes`, kid);
  }
  return { kid, iv, sealed };
}

/** True when `value` has the shape of an envelope (does not check that it decrypts). */
export function isEnvelope(value: string): boolean {
  try {
    parseEnvelope(value);
    return true;
  } catch {
    return false;
  }
}

// Buffer.from(..., 'base64url') silently skips bad characters; we want to reject them, and
// reject non-canonical encodings too, so one envelope has exactly one spelling.
function decodeStrictBase64url(text: string): Buffer | undefined {
  if (!base64urlPattern.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}
