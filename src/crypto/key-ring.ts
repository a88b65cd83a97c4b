// AES-256-GCM secret envelopes under a key ring. The first key encrypts; every key decrypts, so
// an operator rotates by putting a new key first, running the re-encryption job, and only then
// removing the old key. Envelope format: see envelope.ts.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { EnvelopeError, IV_BYTES, TAG_BYTES, buildAdditionalData, formatEnvelope, isValidKid, parseEnvelope } from './envelope.js';

export { EnvelopeError, isEnvelope } from './envelope.js';

const KEY_BYTES = 32;
const CIPHER = 'aes-256-gcm';
/** How many envelopes decryptRepeated keeps open. */
const REPEATED_MAX = 512;

export interface KeyRingEntry {
  kid: string;
  key: Buffer;
}

export class KeyRing {
  /** The key id new envelopes are written with (the first key given). */
  readonly primaryKid: string;
  // A private field: keeps key bytes out of console.log, util.inspect and JSON.stringify.
  readonly #keys: Map<string, Buffer>;
  /** Keys deriveKey made, by key id and purpose (private for the same reason). */
  readonly #derived = new Map<string, Buffer>();
  /** Plaintexts of envelopes opened with decryptRepeated, by aad and envelope (private for the same reason). */
  readonly #opened = new Map<string, string>();

  /** Throws when the list is empty, a key is not 32 bytes, or a key id is invalid or repeated. */
  constructor(keys: KeyRingEntry[]) {
    if (!Array.isArray(keys) || keys.length === 0) throw new Error('key ring is empty: give at least one encryption key');
    this.#keys = new Map();
    for (const { kid, key } of keys) {
      if (typeof kid !== 'string' || !isValidKid(kid)) throw new Error('key ring: a key id must be 1-32 of A-Z a-z 0-9 . _ -');
      if (this.#keys.has(kid)) throw new Error(`key ring: key id "${kid}" appears twice`);
      if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
        throw new Error(`key ring: key "${kid}" must be ${KEY_BYTES} bytes (got ${Buffer.isBuffer(key) ? key.length : 'no buffer'})`);
      }
      // Copy, so a caller that later zeroes or reuses its buffer cannot change our keys.
      this.#keys.set(kid, Buffer.from(key));
    }
    this.primaryKid = keys[0].kid;
  }

  /**
   * Builds the ring from AppConfig.encryptionKeys. Undefined means the operator has not set
   * LEADRELAY_ENCRYPTION_KEYS; say exactly how to fix that.
   */
  static fromConfig(keys: KeyRingEntry[] | undefined): KeyRing {
    if (keys === undefined || keys.length === 0) {
      throw new Error(
        'LEADRELAY_ENCRYPTION_KEYS is not set. LeadRelay stores tokens only encrypted, so it needs at least one key. ' +
          'Generate one with `openssl rand -base64 32` and set LEADRELAY_ENCRYPTION_KEYS=k1:<that value> ' +
          '(several keys: kid:key,kid2:key2; the first encrypts, all decrypt). Keep it safe: losing it loses the stored tokens.',
      );
    }
    return new KeyRing(keys);
  }

  /**
   * A 32-byte key for one purpose (e.g. 'oauth-state'), derived with HKDF-SHA256 from the primary
   * key, or from the key `kid` names (to find what was made under a key before a rotation); the
   * key bytes themselves never leave the ring.
   */
  deriveKey(purpose: string, kid: string = this.primaryKid): Buffer {
    // Derived once per key and purpose (the blind index asks for its key for every lead); each
    // caller gets its own copy.
    const memoKey = `${kid}\0${purpose}`;
    let derived = this.#derived.get(memoKey);
    if (derived === undefined) {
      const key = this.#keys.get(kid);
      if (key === undefined) throw new Error(`key ring: no key "${kid}"`);
      derived = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `leadrelay:${purpose}`, 32));
      this.#derived.set(memoKey, derived);
    }
    return Buffer.from(derived);
  }

  /** The key ids in the ring, primary first. */
  get kids(): string[] {
    return [...this.#keys.keys()];
  }

  /**
   * Encrypts with the primary key. `aad` binds the envelope to its purpose (e.g.
   * `page-token:<id>`): decrypting with a different aad fails, so envelopes cannot be swapped.
   */
  encrypt(plaintext: string, aad?: string): string {
    if (typeof plaintext !== 'string') throw new TypeError('encrypt: plaintext must be a string');
    const kid = this.primaryKid;
    const key = this.#keys.get(kid) as Buffer;
    // A fresh random 96-bit IV per envelope; GCM must never reuse an IV under one key.
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(buildAdditionalData(kid, aad));
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return formatEnvelope({ kid, iv, sealed });
  }

  /**
   * Opens an envelope with the key its header names. Throws EnvelopeError; `missing` for a null
   * envelope: a column whose secret was deleted (a disconnected page has no token left to open).
   */
  decrypt(envelope: string | null, aad?: string): string {
    if (envelope === null) throw new EnvelopeError('missing', 'cannot decrypt: no secret is stored here any more (it was deleted)');
    const { kid, iv, sealed } = parseEnvelope(envelope);
    const key = this.#keys.get(kid);
    if (key === undefined) {
      throw new EnvelopeError('unknown_key', `cannot decrypt: key "${kid}" is not in LEADRELAY_ENCRYPTION_KEYS`, kid);
    }
    const ciphertext = sealed.subarray(0, sealed.length - TAG_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(buildAdditionalData(kid, aad));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      // Node's own message ("Unsupported state or unable to authenticate data") says nothing
      // useful; say which key and what it means. No cause attached: nothing secret leaks.
      throw new EnvelopeError(
        'auth_failed',
        `cannot decrypt with key "${kid}": the data or key is wrong (authentication failed; the envelope may have been altered or belongs to another purpose)`,
        kid,
      );
    }
  }

  /**
   * decrypt, for an envelope the process opens again and again (a page's token for each of its
   * leads, a destination's credentials for each delivery): opened once, then answered from
   * memory. Keyed by the envelope and aad, so a new token (a new envelope) is opened anew; a
   * failure is never kept. At most REPEATED_MAX envelopes are kept (all dropped when full).
   */
  decryptRepeated(envelope: string | null, aad?: string): string {
    const memoKey = envelope === null ? undefined : `${aad ?? ''}\0${envelope}`;
    const hit = memoKey === undefined ? undefined : this.#opened.get(memoKey);
    if (hit !== undefined) return hit;
    const plaintext = this.decrypt(envelope, aad);
    if (memoKey !== undefined) {
      if (this.#opened.size >= REPEATED_MAX) this.#opened.clear();
      this.#opened.set(memoKey, plaintext);
    }
    return plaintext;
  }

  /** Encrypts `JSON.stringify(value)`. Throws TypeError when the value has no JSON form. */
  encryptJson(value: unknown, aad?: string): string {
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError('encryptJson: the value has no JSON form (undefined, a function or a symbol)');
    return this.encrypt(json, aad);
  }

  /**
   * Decrypts and JSON-parses. The type parameter is not checked; validate the result if it matters.
   * `repeated`: opened with decryptRepeated (each call still parses its own copy).
   */
  decryptJson<T = unknown>(envelope: string, aad?: string, repeated = false): T {
    const text = repeated ? this.decryptRepeated(envelope, aad) : this.decrypt(envelope, aad);
    try {
      return JSON.parse(text) as T;
    } catch {
      // JSON.parse's message quotes the input, which is the secret; replace it.
      const kid = this.kidOf(envelope);
      throw new EnvelopeError('malformed', `envelope under key "${kid}" decrypted, but its content is not JSON`, kid);
    }
  }

  /** The key id in the envelope's header. Throws EnvelopeError('malformed'). */
  kidOf(envelope: string): string {
    return parseEnvelope(envelope).kid;
  }

  /** True when the envelope was written with a key other than the primary one. */
  needsRotation(envelope: string): boolean {
    return this.kidOf(envelope) !== this.primaryKid;
  }

  /**
   * Decrypts with the envelope's own key and encrypts again with the primary key (always a new
   * IV, even when the envelope is already under the primary key). The aad stays the same.
   */
  reencrypt(envelope: string, aad?: string): string {
    return this.encrypt(this.decrypt(envelope, aad), aad);
  }

  toJSON(): { primaryKid: string; kids: string[] } {
    return { primaryKid: this.primaryKid, kids: this.kids };
  }

  [inspect.custom](): string {
    return `KeyRing { primaryKid: ${JSON.stringify(this.primaryKid)}, kids: ${JSON.stringify(this.kids)} }`;
  }
}
