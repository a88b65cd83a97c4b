// Builds Meta's `signed_request` as Meta sends it to the data-deletion and deauthorize callbacks:
// `<base64url(HMAC-SHA256(app secret, payload segment))>.<base64url(JSON payload)>`. Written apart
// from src/meta on purpose: a shared bug would otherwise pass its own test.
import { createHmac } from 'node:crypto';

export interface SignedRequestFields {
  user_id?: string | number;
  algorithm?: string;
  /** Unix seconds; default now. */
  issued_at?: number;
  expires?: number;
  [other: string]: unknown;
}

/** A signed request for this payload; `secret` signs it (a wrong one makes a forged request). */
export function buildSignedRequest(fields: SignedRequestFields, secret: string): string {
  const payload = { algorithm: 'HMAC-SHA256', issued_at: Math.floor(Date.now() / 1000), ...fields };
  const encoded = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  const signature = createHmac('sha256', secret).update(encoded).digest('base64url');
  return `${signature}.${encoded}`;
}

/** The form body Meta POSTs: `signed_request=<…>`. */
export function signedRequestForm(signedRequest: string): URLSearchParams {
  return new URLSearchParams({ signed_request: signedRequest });
}
