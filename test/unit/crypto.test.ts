// Unit tests for the secret envelopes (src/crypto/envelope.ts) and the key ring
// (src/crypto/key-ring.ts). Pure: no network, no filesystem.
import { createCipheriv, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { expect } from 'chai';
import fc from 'fast-check';
import { EnvelopeError, KeyRing, isEnvelope } from '../../src/crypto/key-ring.js';
import { parseEnvelope } from '../../src/crypto/envelope.js';

const keyA = Buffer.alloc(32, 0xa1);
const keyB = Buffer.alloc(32, 0xb2);
const keyC = randomBytes(32);

function ringOf(...entries: [string, Buffer][]): KeyRing {
  return new KeyRing(entries.map(([kid, key]) => ({ kid, key })));
}

/** Runs fn, expects it to throw an EnvelopeError, and returns it. */
function catchEnvelopeError(fn: () => unknown): EnvelopeError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(EnvelopeError);
    return error as EnvelopeError;
  }
  throw new Error('expected an EnvelopeError, but nothing was thrown');
}

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(Error);
    return error as Error;
  }
  throw new Error('expected an error, but nothing was thrown');
}

/** Replaces one character of a base64url segment with a different valid one. */
function flipSegmentChar(envelope: string, segmentFromEnd: number, charIndex: number): string {
  const segments = envelope.split('.');
  const at = segments.length - segmentFromEnd;
  const text = segments[at];
  // Any character but the last carries 6 full bits, so flipping it keeps the text canonical base64url.
  const swapped = text[charIndex] === 'A' ? 'B' : 'A';
  segments[at] = text.slice(0, charIndex) + swapped + text.slice(charIndex + 1);
  return segments.join('.');
}

describe('crypto: key ring and secret envelopes', () => {
  describe('round trip', () => {
    const ring = ringOf(['k1', keyA]);
    const samples: [string, string][] = [
      ['ASCII', 'EAAB-page-token-123'],
      ['non-ASCII (accents, CJK, RTL, emoji)', 'Zoë Ångström-Núñez · 東京 · مرحبا · 🚲🙂'],
      ['the empty string', ''],
      ['a long string', 'x'.repeat(100_000)],
      ['text with dots and newlines', 'a.b.c\nlr1.k1.fake.envelope\n'],
    ];
    for (const [label, plaintext] of samples) {
      it(`decrypts what it encrypted: ${label}`, () => {
        const envelope = ring.encrypt(plaintext);
        expect(ring.decrypt(envelope)).to.equal(plaintext);
      });
    }

    it('round-trips with an aad too', () => {
      const envelope = ring.encrypt('secret', 'page-token:42');
      expect(ring.decrypt(envelope, 'page-token:42')).to.equal('secret');
    });

    it('round-trips any string and any aad (property)', () => {
      fc.assert(
        fc.property(
          fc.string({ unit: 'grapheme', maxLength: 200 }),
          fc.option(fc.string({ unit: 'grapheme', maxLength: 40 }), { nil: undefined }),
          (plaintext, aad) => {
            expect(ring.decrypt(ring.encrypt(plaintext, aad), aad)).to.equal(plaintext);
          },
        ),
        { numRuns: 200 },
      );
    });

    it('round-trips JSON values with encryptJson/decryptJson', () => {
      const value = { access_token: 'EAAB…', scopes: ['leads_retrieval'], expires_at: 0, nested: { ok: true, name: 'Zoë' } };
      const envelope = ring.encryptJson(value, 'crm-token:7');
      expect(ring.decryptJson<typeof value>(envelope, 'crm-token:7')).to.deep.equal(value);
    });

    it('encryptJson refuses values without a JSON form', () => {
      expect(() => ring.encryptJson(undefined)).to.throw(TypeError, /no JSON form/);
      expect(() => ring.encryptJson(() => 1)).to.throw(TypeError, /no JSON form/);
    });

    it('decryptJson on non-JSON content fails without quoting the content', () => {
      const envelope = ring.encrypt('not json: hunter2');
      const error = catchEnvelopeError(() => ring.decryptJson(envelope));
      expect(error.code).to.equal('malformed');
      expect(error.kid).to.equal('k1');
      expect(error.message).to.include('"k1"').and.include('not JSON');
      expect(error.message).not.to.include('hunter2');
    });
  });

  describe('envelope format', () => {
    const ring = ringOf(['k1', keyA]);

    it('is lr1.<kid>.<16-char iv>.<base64url data>, ASCII only', () => {
      const envelope = ring.encrypt('hello');
      expect(envelope).to.match(/^lr1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
      const { kid, iv, sealed } = parseEnvelope(envelope);
      expect(kid).to.equal('k1');
      expect(iv.length).to.equal(12);
      // GCM: ciphertext is as long as the plaintext, then the 16-byte tag.
      expect(sealed.length).to.equal(Buffer.byteLength('hello') + 16);
      expect(isEnvelope(envelope)).to.equal(true);
    });

    it('uses a random IV: encrypting the same text twice gives different envelopes', () => {
      const first = ring.encrypt('same text', 'aad');
      const second = ring.encrypt('same text', 'aad');
      expect(first).not.to.equal(second);
      expect(parseEnvelope(first).iv.equals(parseEnvelope(second).iv)).to.equal(false);
      expect(ring.decrypt(first, 'aad')).to.equal(ring.decrypt(second, 'aad'));
    });

    it('opens an envelope built independently from the documented format (pins the format)', () => {
      // AES-256-GCM, 12-byte IV, 16-byte tag appended, AAD = "lr1.<kid>" NUL <purpose>.
      const iv = Buffer.from('000102030405060708090a0b', 'hex');
      const cipher = createCipheriv('aes-256-gcm', keyB, iv);
      cipher.setAAD(Buffer.concat([Buffer.from('lr1.legacy.2024'), Buffer.from([0]), Buffer.from('page-token:9')]));
      const sealed = Buffer.concat([cipher.update('Café token', 'utf8'), cipher.final(), cipher.getAuthTag()]);
      const envelope = `lr1.legacy.2024.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
      const ringWithDottedKid = ringOf(['legacy.2024', keyB]);
      expect(ringWithDottedKid.kidOf(envelope)).to.equal('legacy.2024');
      expect(ringWithDottedKid.decrypt(envelope, 'page-token:9')).to.equal('Café token');
    });

    it('supports key ids containing dots, which the config allows', () => {
      const dotted = ringOf(['prod.2026-01', keyA]);
      const envelope = dotted.encrypt('x');
      expect(dotted.kidOf(envelope)).to.equal('prod.2026-01');
      expect(dotted.decrypt(envelope)).to.equal('x');
    });

    const malformed: [string, string][] = [
      ['the empty string', ''],
      ['plain text', 'EAABsecretplaintexttoken'],
      ['too few parts', 'lr1.k1.AAAAAAAAAAAAAAAA'],
      ['an unknown version', 'lr9.k1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'],
      ['an empty key id', 'lr1..AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'],
      ['a key id with bad characters', 'lr1.k 1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'],
      ['a short iv', 'lr1.k1.AAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'],
      ['a non-base64url iv', 'lr1.k1.AAAAAAAA+AAAAAA/.AAAAAAAAAAAAAAAAAAAAAA'],
      ['data shorter than a tag', 'lr1.k1.AAAAAAAAAAAAAAAA.AAAA'],
      ['padding in the data', 'lr1.k1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA=='],
      ['a non-canonical base64url tail', 'lr1.k1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAB'],
    ];
    for (const [label, envelope] of malformed) {
      it(`rejects ${label} as malformed, without echoing it`, () => {
        const error = catchEnvelopeError(() => ring.decrypt(envelope));
        expect(error.code).to.equal('malformed');
        expect(error.message).to.match(/^malformed envelope/);
        if (envelope.length > 3) expect(error.message).not.to.include(envelope);
        expect(isEnvelope(envelope)).to.equal(false);
        expect(() => ring.kidOf(envelope)).to.throw(EnvelopeError);
      });
    }

    it('names an unsupported version as such', () => {
      const error = catchEnvelopeError(() => ring.decrypt('lr2.k1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'));
      expect(error.message).to.include('unsupported envelope version');
    });
  });

  describe('tampering and purpose binding', () => {
    const ring = ringOf(['k1', keyA], ['k2', keyB]);
    const plaintext = 'EAAB-the-page-token';

    it('fails authentication when the ciphertext is altered', () => {
      const envelope = ring.encrypt(plaintext);
      const tampered = flipSegmentChar(envelope, 1, 0);
      expect(tampered).not.to.equal(envelope);
      const error = catchEnvelopeError(() => ring.decrypt(tampered));
      expect(error.code).to.equal('auth_failed');
      expect(error.kid).to.equal('k1');
      expect(error.message).to.equal(
        'cannot decrypt with key "k1": the data or key is wrong (authentication failed; the envelope may have been altered or belongs to another purpose)',
      );
    });

    it('fails authentication when the tag is altered', () => {
      const envelope = ring.encrypt(plaintext);
      const sealedText = envelope.split('.')[3];
      // The tag is the last 16 bytes; flip a character inside it (not the partial last one).
      const tampered = flipSegmentChar(envelope, 1, sealedText.length - 8);
      expect(catchEnvelopeError(() => ring.decrypt(tampered)).code).to.equal('auth_failed');
    });

    it('fails authentication when the iv is altered', () => {
      const tampered = flipSegmentChar(ring.encrypt(plaintext), 2, 0);
      expect(catchEnvelopeError(() => ring.decrypt(tampered)).code).to.equal('auth_failed');
    });

    it('fails authentication when the header is relabelled with another known key id', () => {
      const envelope = ring.encrypt(plaintext);
      const relabelled = envelope.replace(/^lr1\.k1\./, 'lr1.k2.');
      const error = catchEnvelopeError(() => ring.decrypt(relabelled));
      expect(error.code).to.equal('auth_failed');
      expect(error.kid).to.equal('k2');
    });

    it('fails when decrypted with a different aad (a swapped envelope)', () => {
      const forPage1 = ring.encrypt('token-of-page-1', 'page-token:1');
      expect(catchEnvelopeError(() => ring.decrypt(forPage1, 'page-token:2')).code).to.equal('auth_failed');
    });

    it('fails when an aad is expected but none was bound, and the other way round', () => {
      const withoutAad = ring.encrypt(plaintext);
      const withAad = ring.encrypt(plaintext, 'page-token:1');
      expect(catchEnvelopeError(() => ring.decrypt(withoutAad, 'page-token:1')).code).to.equal('auth_failed');
      expect(catchEnvelopeError(() => ring.decrypt(withAad)).code).to.equal('auth_failed');
    });

    it('never puts plaintext, ciphertext or key bytes in the error', () => {
      const envelope = ring.encrypt(plaintext, 'page-token:1');
      const [, , ivText, sealedText] = envelope.split('.');
      const error = catchEnvelopeError(() => ring.decrypt(envelope, 'page-token:2'));
      const everything = `${error.message} ${inspect(error)} ${JSON.stringify(error)}`;
      for (const forbidden of [plaintext, sealedText, ivText, keyA.toString('base64'), keyA.toString('hex'), keyB.toString('base64'), keyB.toString('hex')]) {
        expect(everything).not.to.include(forbidden);
      }
    });
  });

  describe('envelopes opened again and again (decryptRepeated)', () => {
    const ring = ringOf(['k1', keyA]);

    it('gives what decrypt gives, on the first call and on later ones', () => {
      const envelope = ring.encrypt('EAAB-page-token-123', 'page-token:1');
      expect(ring.decryptRepeated(envelope, 'page-token:1')).to.equal('EAAB-page-token-123');
      expect(ring.decryptRepeated(envelope, 'page-token:1')).to.equal('EAAB-page-token-123');
    });

    it('still refuses an envelope opened before under another aad', () => {
      const envelope = ring.encrypt('token-of-page-1', 'page-token:1');
      expect(ring.decryptRepeated(envelope, 'page-token:1')).to.equal('token-of-page-1');
      expect(catchEnvelopeError(() => ring.decryptRepeated(envelope, 'page-token:2')).code).to.equal('auth_failed');
    });

    it('opens a new envelope for the same aad anew (a replaced token)', () => {
      const first = ring.encrypt('old-token', 'page-token:1');
      const second = ring.encrypt('new-token', 'page-token:1');
      expect(ring.decryptRepeated(first, 'page-token:1')).to.equal('old-token');
      expect(ring.decryptRepeated(second, 'page-token:1')).to.equal('new-token');
    });

    it('fails every time for an envelope it cannot open, and for a deleted secret', () => {
      const other = ringOf(['k9', keyB]).encrypt('secret', 'page-token:1');
      expect(catchEnvelopeError(() => ring.decryptRepeated(other, 'page-token:1')).code).to.equal('unknown_key');
      expect(catchEnvelopeError(() => ring.decryptRepeated(other, 'page-token:1')).code).to.equal('unknown_key');
      expect(catchEnvelopeError(() => ring.decryptRepeated(null, 'page-token:1')).code).to.equal('missing');
    });

    it('keeps opening envelopes correctly past the number it keeps', () => {
      const envelopes = Array.from({ length: 600 }, (_, i) => [i, ring.encrypt(`token-${i}`, `page-token:${i}`)] as const);
      for (const [i, envelope] of envelopes) expect(ring.decryptRepeated(envelope, `page-token:${i}`)).to.equal(`token-${i}`);
      for (const [i, envelope] of envelopes) expect(ring.decryptRepeated(envelope, `page-token:${i}`)).to.equal(`token-${i}`);
    });

    it('parses its own copy for each decryptJson caller', () => {
      const envelope = ring.encryptJson({ apiKey: 'k' }, 'destination:1');
      const first = ring.decryptJson<{ apiKey: string }>(envelope, 'destination:1', true);
      first.apiKey = 'changed by a caller';
      expect(ring.decryptJson(envelope, 'destination:1', true)).to.deep.equal({ apiKey: 'k' });
    });

    it('keeps opened plaintexts out of util.inspect and JSON.stringify', () => {
      const envelope = ring.encrypt('EAAB-very-secret-token', 'page-token:7');
      ring.decryptRepeated(envelope, 'page-token:7');
      expect(`${inspect(ring, { depth: 10, showHidden: true })} ${JSON.stringify(ring)}`).not.to.include('EAAB-very-secret-token');
    });
  });

  describe('unknown keys', () => {
    it('names the missing key id and the variable to fix, and leaks no ciphertext', () => {
      const old = ringOf(['k2023', keyA]);
      const current = ringOf(['k2024', keyB]);
      const envelope = old.encrypt('EAAB-secret-token');
      const [, , ivText, sealedText] = envelope.split('.');
      const error = catchEnvelopeError(() => current.decrypt(envelope));
      expect(error.code).to.equal('unknown_key');
      expect(error.kid).to.equal('k2023');
      expect(error.message).to.equal('cannot decrypt: key "k2023" is not in LEADRELAY_ENCRYPTION_KEYS');
      expect(error.message).not.to.include(sealedText);
      expect(error.message).not.to.include(ivText);
      expect(error.message).not.to.include('EAAB-secret-token');
      expect(error.name).to.equal('EnvelopeError');
    });
  });

  describe('derived keys', () => {
    it('derives the same key on every call, per key id and purpose, and a caller changing its copy changes no later one', () => {
      const ring = ringOf(['a', keyA], ['b', keyB]);
      const first = ring.deriveKey('purpose-1');
      const expected = Buffer.from(first);
      first.fill(0);
      expect(ring.deriveKey('purpose-1').equals(expected)).to.equal(true);
      expect(ring.deriveKey('purpose-1', 'a').equals(expected)).to.equal(true);
      expect(ring.deriveKey('purpose-1', 'b').equals(expected)).to.equal(false);
      expect(ring.deriveKey('purpose-2').equals(expected)).to.equal(false);
    });
  });

  describe('rotation', () => {
    const oldRing = ringOf(['k2025', keyA]);
    const rotatedRing = ringOf(['k2026', keyB], ['k2025', keyA]);
    const newOnlyRing = ringOf(['k2026', keyB]);

    it('decrypts an envelope from the old key after a new key is put first', () => {
      const envelope = oldRing.encrypt('token', 'page-token:5');
      expect(rotatedRing.primaryKid).to.equal('k2026');
      expect(rotatedRing.decrypt(envelope, 'page-token:5')).to.equal('token');
    });

    it('encrypts new envelopes with the first (primary) key', () => {
      expect(rotatedRing.kidOf(rotatedRing.encrypt('x'))).to.equal('k2026');
    });

    it('needsRotation is true for an old-key envelope and false for a primary-key one', () => {
      const old = oldRing.encrypt('token');
      const fresh = rotatedRing.encrypt('token');
      expect(rotatedRing.needsRotation(old)).to.equal(true);
      expect(rotatedRing.needsRotation(fresh)).to.equal(false);
      // needsRotation looks at the header only: no key needed.
      expect(newOnlyRing.needsRotation(old)).to.equal(true);
    });

    it('reencrypt moves an envelope to the primary key and keeps its aad binding', () => {
      const old = oldRing.encrypt('token', 'page-token:5');
      const moved = rotatedRing.reencrypt(old, 'page-token:5');
      expect(rotatedRing.kidOf(moved)).to.equal('k2026');
      expect(rotatedRing.needsRotation(moved)).to.equal(false);
      // The old key can now be removed.
      expect(newOnlyRing.decrypt(moved, 'page-token:5')).to.equal('token');
      expect(catchEnvelopeError(() => newOnlyRing.decrypt(moved)).code).to.equal('auth_failed');
      // And the old ring cannot read it.
      expect(catchEnvelopeError(() => oldRing.decrypt(moved, 'page-token:5')).code).to.equal('unknown_key');
    });

    it('reencrypt refuses an envelope whose aad does not match', () => {
      const old = oldRing.encrypt('token', 'page-token:5');
      expect(catchEnvelopeError(() => rotatedRing.reencrypt(old, 'page-token:6')).code).to.equal('auth_failed');
    });

    it('reencrypt of a primary-key envelope gives a fresh envelope with the same content', () => {
      const fresh = rotatedRing.encrypt('token');
      const again = rotatedRing.reencrypt(fresh);
      expect(again).not.to.equal(fresh);
      expect(rotatedRing.decrypt(again)).to.equal('token');
    });

    it('after removing the old key, its envelopes fail with unknown_key', () => {
      const old = oldRing.encrypt('token');
      const error = catchEnvelopeError(() => newOnlyRing.decrypt(old));
      expect(error.code).to.equal('unknown_key');
      expect(error.message).to.include('"k2025"');
    });
  });

  describe('construction', () => {
    it('throws on an empty ring', () => {
      expect(() => new KeyRing([])).to.throw(/empty/);
    });

    it('throws on a key that is not 32 bytes, naming the key id and not the bytes', () => {
      const short = Buffer.alloc(16, 0x7f);
      const error = catchError(() => ringOf(['short-key', short]));
      expect(error.message).to.include('"short-key"').and.include('32 bytes').and.include('got 16');
      expect(error.message).not.to.include(short.toString('base64'));
    });

    it('throws on a repeated key id', () => {
      expect(() => ringOf(['k1', keyA], ['k1', keyB])).to.throw(/"k1" appears twice/);
    });

    it('throws on a key id that cannot go in a header', () => {
      expect(() => ringOf(['has space', keyA])).to.throw(/key id/);
      expect(() => ringOf(['', keyA])).to.throw(/key id/);
    });

    it("copies the keys, so later changes to the caller's buffer do not matter", () => {
      const key = Buffer.from(keyC);
      const ring = ringOf(['k1', key]);
      const envelope = ring.encrypt('stable');
      key.fill(0);
      expect(ring.decrypt(envelope)).to.equal('stable');
    });

    it('does not show key bytes when logged or serialised', () => {
      const ring = ringOf(['k1', keyC], ['k0', keyA]);
      const shown = `${inspect(ring, { showHidden: true, depth: 5 })} ${JSON.stringify(ring)} ${String(ring)}`;
      for (const key of [keyC, keyA]) {
        expect(shown).not.to.include(key.toString('base64'));
        expect(shown).not.to.include(key.toString('hex'));
      }
      expect(JSON.parse(JSON.stringify(ring))).to.deep.equal({ primaryKid: 'k1', kids: ['k1', 'k0'] });
      expect(ring.kids).to.deep.equal(['k1', 'k0']);
    });
  });

  describe('KeyRing.fromConfig', () => {
    it('tells the operator to set LEADRELAY_ENCRYPTION_KEYS and how to make a key', () => {
      const error = catchError(() => KeyRing.fromConfig(undefined));
      expect(error.message).to.include('LEADRELAY_ENCRYPTION_KEYS');
      expect(error.message).to.include('openssl rand -base64 32');
    });

    it('gives the same guidance for an empty list', () => {
      expect(() => KeyRing.fromConfig([])).to.throw(/LEADRELAY_ENCRYPTION_KEYS/);
    });

    it('builds a working ring from config keys, first key primary', () => {
      const ring = KeyRing.fromConfig([
        { kid: 'new', key: keyB },
        { kid: 'old', key: keyA },
      ]);
      expect(ring.primaryKid).to.equal('new');
      expect(ring.decrypt(ring.encrypt('ok'))).to.equal('ok');
    });
  });
});
