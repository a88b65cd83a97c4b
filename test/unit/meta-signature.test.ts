// Unit tests for src/meta/signature.ts: X-Hub-Signature-256 over raw bytes, and the
// verify-token check of the GET handshake.
// https://developers.facebook.com/docs/graph-api/webhooks/getting-started
import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { computeSignature256, verifySignature256, verifyToken } from '../../src/meta/signature.js';

const appSecret = 'test-app-secret-0123456789abcdef';
const otherSecret = 'another-apps-secret';

/** What a careless receiver hashes: the body after a parse/stringify round trip. */
function reserialize(raw: Buffer): Buffer {
  return Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8'))), 'utf8');
}

describe('meta signature', () => {
  describe('computeSignature256', () => {
    it('matches the RFC 4231 HMAC-SHA256 test vector, as sha256=<lowercase hex>', () => {
      // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
      expect(computeSignature256(Buffer.from('what do ya want for nothing?'), 'Jefe')).to.equal(
        'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      );
    });

    it('depends on both the body and the secret', () => {
      const body = Buffer.from('{"object":"page"}');
      expect(computeSignature256(body, appSecret)).not.to.equal(computeSignature256(body, otherSecret));
      expect(computeSignature256(body, appSecret)).not.to.equal(computeSignature256(Buffer.from('{"object":"page" }'), appSecret));
    });
  });

  describe('raw bytes, never re-serialised JSON', () => {
    // Each body is written the way it travels on the wire. Meta escapes "/" as \/ and non-ASCII
    // as \uXXXX (lowercase hex); JSON.stringify writes neither, so re-serialising changes the
    // bytes. Bodies with raw UTF-8 prove the multi-byte bytes themselves are what is hashed.
    const cases: { label: string; body: string; hasRawNonAscii: boolean }[] = [
      {
        label: 'é and ñ as raw UTF-8 bytes',
        body: '{"object":"page","entry":[{"id":"100200300","time":1767225600,"changes":[{"field":"feed","value":{"from":{"id":"42","name":"José Muñoz"},"message":"Mañana en el café","link":"https:\\/\\/example.com\\/menu"}}]}]}',
        hasRawNonAscii: true,
      },
      {
        label: 'escaped \\u00e9 and \\u00f1 sequences',
        body: '{"object":"page","entry":[{"id":"100200300","time":1767225600,"changes":[{"field":"feed","value":{"from":{"id":"42","name":"Jos\\u00e9 Mu\\u00f1oz"},"message":"caf\\u00e9"}}]}]}',
        hasRawNonAscii: false,
      },
      {
        label: 'an emoji escaped as a surrogate pair',
        body: '{"object":"page","entry":[{"id":"100200300","time":1767225600,"changes":[{"field":"feed","value":{"message":"New bikes \\ud83d\\udeb2 in store \\ud83d\\ude00"}}]}]}',
        hasRawNonAscii: false,
      },
      {
        label: 'an emoji as raw 4-byte UTF-8',
        body: '{"object":"page","entry":[{"id":"100200300","time":1767225600,"changes":[{"field":"feed","value":{"message":"New bikes 🚲 in store 😀","link":"https:\\/\\/example.com\\/bikes"}}]}]}',
        hasRawNonAscii: true,
      },
      {
        label: 'Arabic text, escaped',
        body: '{"object":"page","entry":[{"id":"100200300","time":1767225600,"changes":[{"field":"feed","value":{"message":"\\u0645\\u0631\\u062d\\u0628\\u0627 \\u0628\\u0627\\u0644\\u0639\\u0627\\u0644\\u0645"}}]}]}',
        hasRawNonAscii: false,
      },
      {
        label: 'Arabic text as raw UTF-8 (right-to-left)',
        body: '{"object":"page","entry":[{"id":"100200300","time":1767225600,"changes":[{"field":"feed","value":{"message":"مرحبا بالعالم","link":"https:\\/\\/example.com\\/ar"}}]}]}',
        hasRawNonAscii: true,
      },
      {
        label: 'escaped \\/ in URLs',
        body: '{"object":"page","entry":[{"id":"100200300","time":1767225600,"changes":[{"field":"feed","value":{"link":"https:\\/\\/www.facebook.com\\/100200300\\/posts\\/555?ref=a\\/b"}}]}]}',
        hasRawNonAscii: false,
      },
    ];

    for (const { label, body, hasRawNonAscii } of cases) {
      it(`verifies a body with ${label}, and a re-serialised copy would not`, () => {
        const raw = Buffer.from(body, 'utf8');
        const header = computeSignature256(raw, appSecret);

        expect(verifySignature256(raw, header, [appSecret])).to.deep.equal({ ok: true });

        // The trap this guards against: the re-serialised body is different bytes...
        const reserialized = reserialize(raw);
        expect(reserialized.equals(raw)).to.equal(false);
        // ...so a receiver hashing it would reject Meta's genuine signature.
        expect(verifySignature256(reserialized, header, [appSecret])).to.deep.equal({ ok: false, reason: 'mismatch' });

        if (hasRawNonAscii) {
          // Reading the body with the wrong encoding (latin1/"binary") also changes the bytes.
          const misdecoded = Buffer.from(raw.toString('latin1'), 'utf8');
          expect(misdecoded.equals(raw)).to.equal(false);
          expect(verifySignature256(misdecoded, header, [appSecret])).to.deep.equal({ ok: false, reason: 'mismatch' });
        }
      });
    }

    it('detects a one-byte change anywhere in the body (property)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 512 }), fc.string({ minLength: 1, maxLength: 64 }), fc.nat(), (bytes, secret, at) => {
          const raw = Buffer.from(bytes);
          const header = computeSignature256(raw, secret);
          expect(verifySignature256(raw, header, [secret])).to.deep.equal({ ok: true });
          const altered = Buffer.from(raw);
          altered[at % altered.length] ^= 0x01;
          expect(verifySignature256(altered, header, [secret])).to.deep.equal({ ok: false, reason: 'mismatch' });
        }),
        { numRuns: 200 },
      );
    });
  });

  describe('header handling', () => {
    const raw = Buffer.from('{"object":"page","entry":[]}');
    const header = computeSignature256(raw, appSecret);
    const hex = header.slice('sha256='.length);

    it('rejects a missing or blank header as missing_header', () => {
      for (const missing of [undefined, '', '   ']) {
        expect(verifySignature256(raw, missing, [appSecret])).to.deep.equal({ ok: false, reason: 'missing_header' });
      }
    });

    it('rejects the legacy sha1= header, even when its SHA-1 HMAC is correct', () => {
      const sha1Header = `sha1=${createHmac('sha1', appSecret).update(raw).digest('hex')}`;
      expect(verifySignature256(raw, sha1Header, [appSecret])).to.deep.equal({ ok: false, reason: 'malformed_header' });
    });

    it('rejects hex of the wrong length', () => {
      for (const bad of [`sha256=${hex.slice(0, 63)}`, `sha256=${hex}0`, `sha256=${hex.slice(0, 40)}`, 'sha256=']) {
        expect(verifySignature256(raw, bad, [appSecret]), bad).to.deep.equal({ ok: false, reason: 'malformed_header' });
      }
    });

    it('rejects non-hex digits and a bare digest without the prefix', () => {
      expect(verifySignature256(raw, `sha256=${hex.slice(0, 63)}g`, [appSecret])).to.deep.equal({ ok: false, reason: 'malformed_header' });
      expect(verifySignature256(raw, hex, [appSecret])).to.deep.equal({ ok: false, reason: 'malformed_header' });
      expect(verifySignature256(raw, `sha256:${hex}`, [appSecret])).to.deep.equal({ ok: false, reason: 'malformed_header' });
    });

    it('accepts uppercase hex (same bytes; hex case carries no information)', () => {
      expect(hex).to.match(/[a-f]/); // make sure upper-casing really changes the text
      expect(verifySignature256(raw, `sha256=${hex.toUpperCase()}`, [appSecret])).to.deep.equal({ ok: true });
      expect(verifySignature256(raw, `SHA256=${hex}`, [appSecret])).to.deep.equal({ ok: true });
    });

    it('accepts surrounding whitespace', () => {
      expect(verifySignature256(raw, `  ${header} `, [appSecret])).to.deep.equal({ ok: true });
    });

    it('rejects a signature made with the wrong secret as mismatch', () => {
      expect(verifySignature256(raw, computeSignature256(raw, otherSecret), [appSecret])).to.deep.equal({ ok: false, reason: 'mismatch' });
    });

    it('tries every secret: accepts when the second one matches', () => {
      const signedByOther = computeSignature256(raw, otherSecret);
      expect(verifySignature256(raw, signedByOther, [appSecret, otherSecret])).to.deep.equal({ ok: true });
      expect(verifySignature256(raw, header, [appSecret, otherSecret])).to.deep.equal({ ok: true });
      expect(verifySignature256(raw, computeSignature256(raw, 'third'), [appSecret, otherSecret])).to.deep.equal({ ok: false, reason: 'mismatch' });
    });

    it('reports no_secret for an empty list or only empty secrets, whatever the header', () => {
      expect(verifySignature256(raw, header, [])).to.deep.equal({ ok: false, reason: 'no_secret' });
      expect(verifySignature256(raw, header, [''])).to.deep.equal({ ok: false, reason: 'no_secret' });
      expect(verifySignature256(raw, undefined, [])).to.deep.equal({ ok: false, reason: 'no_secret' });
    });

    it('ignores an empty secret in the list (it would sign anything for anyone who guesses it)', () => {
      const signedWithEmpty = computeSignature256(raw, '');
      expect(verifySignature256(raw, signedWithEmpty, ['', appSecret])).to.deep.equal({ ok: false, reason: 'mismatch' });
    });
  });

  describe('verifyToken', () => {
    it('accepts the configured token', () => {
      expect(verifyToken('my-verify-token', 'my-verify-token')).to.equal(true);
      expect(verifyToken('tökén-✓', 'tökén-✓')).to.equal(true);
    });

    it('rejects a different token, a prefix, a longer token and a case change', () => {
      expect(verifyToken('other-token', 'my-verify-token')).to.equal(false);
      expect(verifyToken('my-verify', 'my-verify-token')).to.equal(false);
      expect(verifyToken('my-verify-token-x', 'my-verify-token')).to.equal(false);
      expect(verifyToken('MY-VERIFY-TOKEN', 'my-verify-token')).to.equal(false);
    });

    it('rejects a missing token', () => {
      expect(verifyToken(undefined, 'my-verify-token')).to.equal(false);
      expect(verifyToken('', 'my-verify-token')).to.equal(false);
    });

    it('is false whenever the expected token is empty, even for an empty given token', () => {
      expect(verifyToken('', '')).to.equal(false);
      expect(verifyToken(undefined, '')).to.equal(false);
      expect(verifyToken('anything', '')).to.equal(false);
    });
  });
});
