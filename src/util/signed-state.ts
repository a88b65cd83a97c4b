// Signed values that only the browser keeps between two of our requests (the OAuth `state` of
// the CRM connect flow and of Facebook Login): base64url(JSON) + "." + base64url(HMAC-SHA256).
// Each kind of value is signed under its own label, so one kind never passes for another; the
// signature is checked before the body is parsed, so nothing unsigned is read. Expiry and what
// the payload must match are the caller's. Pure: the key comes from the caller (derived from the
// key ring for one purpose).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';

const MIN_KEY_BYTES = 32;

type SignedStateFailure = 'malformed' | 'bad_signature';

export interface StateSigner {
  /** HMAC-SHA256 of `data` for the kind of value `label` names. */
  mac(label: string, data: string): Buffer;
  /** `payload` signed as a value of the kind `label`. */
  sign(label: string, payload: object): string;
  /** The payload of a value signed as `label`, when its signature is right and it fits `schema`. */
  read<T extends z.ZodType>(
    label: string,
    value: string,
    schema: T,
    maxChars: number,
  ): { ok: true; payload: z.infer<T> } | { ok: false; failure: SignedStateFailure };
}

/** Throws when the key is shorter than 32 bytes; `keyName` names it in the message. */
export function createStateSigner(secret: Buffer, keyName: string): StateSigner {
  if (!Buffer.isBuffer(secret) || secret.length < MIN_KEY_BYTES) throw new Error(`the ${keyName} must be at least ${MIN_KEY_BYTES} bytes`);
  const key = Buffer.from(secret);
  const mac = (label: string, data: string) => createHmac('sha256', key).update(`${label}\n${data}`, 'utf8').digest();
  return {
    mac,
    sign(label, payload) {
      const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
      return `${body}.${mac(label, body).toString('base64url')}`;
    },
    read(label, value, schema, maxChars) {
      if (typeof value !== 'string' || value.length === 0 || value.length > maxChars) return { ok: false, failure: 'malformed' };
      const parts = value.split('.');
      if (parts.length !== 2 || !isBase64Url(parts[0]) || !isBase64Url(parts[1])) return { ok: false, failure: 'malformed' };
      const [body, signature] = parts;
      if (!isSameBytes(Buffer.from(signature, 'base64url'), mac(label, body))) return { ok: false, failure: 'bad_signature' };
      let json: unknown;
      try {
        json = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      } catch {
        return { ok: false, failure: 'malformed' };
      }
      const parsed = schema.safeParse(json);
      return parsed.success ? { ok: true, payload: parsed.data } : { ok: false, failure: 'malformed' };
    },
  };
}

export function isBase64Url(s: string): boolean {
  return s.length > 0 && /^[A-Za-z0-9_-]+$/.test(s);
}

/** Constant-time comparison; different lengths are simply unequal. */
export function isSameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
