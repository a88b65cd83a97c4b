// Unit tests for the lead log's blind index (src/lead/blind-index.ts) and the redaction of a
// CRM's words (src/lead/redact.ts). Pure.
import { expect } from 'chai';
import fc from 'fast-check';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { hashSearchTerm, normaliseEmail, normalisePhone, parseSearchQuery, SEARCH_KEY_PURPOSE, searchTermsOf } from '../../src/lead/blind-index.js';
import { redactAnswerValues, redactEmails } from '../../src/lead/redact.js';

const WS = 'f3c1b0de-1111-4a4a-8888-000000000001';
const OTHER_WS = 'f3c1b0de-1111-4a4a-8888-000000000002';

describe('blind index', () => {
  describe('normalising', () => {
    it('trims and lower-cases an email', () => {
      expect(normaliseEmail(' Foo@Example.COM ')).to.equal('foo@example.com');
    });

    it('refuses text that is not an email', () => {
      for (const v of ['foo', 'foo@', '@example.com', 'foo bar@example.com', 'foo@example']) expect(normaliseEmail(v), v).to.equal(null);
    });

    it('writes a phone with its country code in E.164 however it is spaced or bracketed', () => {
      for (const v of ['+1 (415) 555-0100', '+14155550100', '14155550100', '001 415 555 0100', ' +1.415.555.0100 '])
        expect(normalisePhone(v), v).to.equal('+14155550100');
    });

    it('refuses text that is not a phone number', () => {
      for (const v of ['hello', '12', '+1 415 555 0100 ext 5', '', '415-55']) expect(normalisePhone(v), v).to.equal(null);
    });
  });

  describe('reading a search box', () => {
    it('takes text with @ as an email', () => {
      expect(parseSearchQuery(' Foo@Example.COM ')).to.deep.equal({ kind: 'email', value: 'foo@example.com' });
    });

    it('takes a number as a phone', () => {
      expect(parseSearchQuery('+1 (415) 555-0100')).to.deep.equal({ kind: 'phone', value: '+14155550100' });
    });

    it('answers null for text that is neither', () => {
      for (const q of ['jane', 'jane@', '12']) expect(parseSearchQuery(q), q).to.equal(null);
    });
  });

  describe("a lead's terms", () => {
    it('indexes every email answer, and the answers of phone questions by type or by key', () => {
      const terms = searchTermsOf(
        [
          { key: 'email', values: ['Jane@Example.com'] },
          { key: 'work_contact', values: ['jane@work.example'] },
          { key: 'phone_number', values: ['+1 415 555 0100'] },
          { key: 'q7', values: ['+44 7700 900123'] },
          { key: 'zip', values: ['94107'] },
          { key: 'full_name', values: ['Jane Doe'] },
        ],
        new Map([['q7', 'WHATSAPP_NUMBER']]),
      );
      expect(terms).to.deep.equal([
        { kind: 'email', value: 'jane@example.com' },
        { kind: 'email', value: 'jane@work.example' },
        { kind: 'phone', value: '+14155550100' },
        { kind: 'phone', value: '+447700900123' },
      ]);
    });

    it('lists a value given twice once', () => {
      expect(searchTermsOf([{ key: 'email', values: ['a@example.com', ' A@example.com'] }])).to.have.length(1);
    });
  });

  describe('hashing', () => {
    const ring = new KeyRing([
      { kid: 'k2', key: Buffer.alloc(32, 2) },
      { kid: 'k1', key: Buffer.alloc(32, 1) },
    ]);
    const term = { kind: 'email' as const, value: 'jane@example.com' };

    it('gives the same hash for the same term, workspace and key', () => {
      const key = ring.deriveKey(SEARCH_KEY_PURPOSE);
      expect(hashSearchTerm(key, WS, term))
        .to.equal(hashSearchTerm(key, WS, term))
        .and.match(/^[0-9a-f]{64}$/);
    });

    it('gives unrelated hashes in two workspaces, under two keys, and for two kinds', () => {
      const k2 = ring.deriveKey(SEARCH_KEY_PURPOSE, 'k2');
      const k1 = ring.deriveKey(SEARCH_KEY_PURPOSE, 'k1');
      const hashes = new Set([
        hashSearchTerm(k2, WS, term),
        hashSearchTerm(k2, OTHER_WS, term),
        hashSearchTerm(k1, WS, term),
        hashSearchTerm(k2, WS, { kind: 'phone', value: term.value }),
      ]);
      expect(hashes.size).to.equal(4);
    });

    it('derives the primary key when no key id is named', () => {
      expect(ring.deriveKey(SEARCH_KEY_PURPOSE).equals(ring.deriveKey(SEARCH_KEY_PURPOSE, 'k2'))).to.equal(true);
    });

    it('refuses a key id the ring does not hold', () => {
      expect(() => ring.deriveKey(SEARCH_KEY_PURPOSE, 'k9')).to.throw(/no key "k9"/);
    });
  });
});

describe("redacting a CRM's words", () => {
  it('takes out every email address', () => {
    expect(redactEmails('Contact already exists: Jane.Doe@example.com (id 42)')).to.equal('Contact already exists: [redacted] (id 42)');
  });

  it("takes out the lead's answer values, and its phone in E.164 and digits-only forms", () => {
    const out = redactAnswerValues('Invalid phone +14155550100 for Jane Doe; 14155550100 rejected; rating 5', ['Jane Doe', '+1 (415) 555-0100', '5']);
    expect(out).to.equal('Invalid phone [redacted] for [redacted]; [redacted] rejected; rating 5');
  });

  it('takes out a phone written as the lead wrote it from text without six digits in a row', () => {
    expect(redactAnswerValues('Bad number: +1 (415) 555-0100.', ['+1 (415) 555-0100'])).to.equal('Bad number: [redacted].');
  });

  it('takes out a value only where it stands on its own', () => {
    expect(redactAnswerValues('Rejected yesterday: yes is not a valid option', ['yes'])).to.equal('Rejected yesterday: [redacted] is not a valid option');
  });

  it('keeps null as null', () => {
    expect(redactAnswerValues(null, ['x'])).to.equal(null);
  });

  it('takes out a value written in another case in a plain ASCII answer', () => {
    const body = '{"id":"901","properties":{"company":"ACME ROCKETS","city":"san francisco"}}';
    expect(redactAnswerValues(body, ['Acme Rockets', 'San Francisco'])).to.equal('{"id":"901","properties":{"company":"[redacted]","city":"[redacted]"}}');
  });

  it('takes out a value whose long s or Kelvin sign the answer spells as plain ASCII letters', () => {
    expect(redactAnswerValues('name: Jess Kirk', ['Je\u017f\u017f \u212airk'])).to.equal('name: [redacted]');
  });

  it('takes out a value the answer spells with a long s or a Kelvin sign', () => {
    expect(redactAnswerValues('name: Je\u017f\u017f \u212airk', ['Jess Kirk'])).to.equal('name: [redacted]');
  });

  it('takes out a value with accented letters in either case', () => {
    expect(redactAnswerValues('{"city":"ZÜRICH","ok":true}', ['Zürich'])).to.equal('{"city":"[redacted]","ok":true}');
  });

  it('leaves an answer that quotes no value unchanged', () => {
    const body = '{"id":"12345678901","createdAt":"2026-11-30T13:00:00.000Z","new":true}';
    expect(redactAnswerValues(body, ['Jane Doe', '+1 (415) 555-0100', 'Acme'])).to.equal(body);
  });

  it('gives what replacing every value in turn gives, for values inside, around and beside each other', () => {
    // The rule without any shortcut: every value, longest first, replaced where it stands alone.
    const everyValueInTurn = (text: string, values: string[]) => {
      let out = text;
      for (const v of [...new Set(values.map((x) => x.trim()).filter((x) => x.length >= 3))].sort((a, b) => b.length - a.length))
        out = out.replace(new RegExp(`(?<![\\p{L}\\p{N}])${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}])`, 'giu'), '[redacted]');
      return redactEmails(out);
    };
    const values = ['Ann Lee', 'ann', 'Lee Ann', 'Müller', 'O.K. Corp', '[redacted] Ann', 'x+y (z)'];
    const texts = [
      'Ann Lee and ann lee; LEE ANN met MÜLLER of o.k. corp',
      'Annabel, Leeann, annex: none stand alone',
      'müller-Ann, Ann(Lee), x+y (z)!',
      '',
      'plain',
    ];
    for (const text of texts) expect(redactAnswerValues(text, values), text).to.equal(everyValueInTurn(text, values));
  });

  it('finds a value that overlaps an earlier place where it did not stand alone', () => {
    // "ann ann" at 3 follows a letter; the one at 7 starts inside it and stands alone.
    expect(redactAnswerValues('annann ann ann', ['ann ann'])).to.equal('annann [redacted]');
  });

  it('gives what replacing every value in turn gives, for any text made of values, their parts, other case and separators (property)', function () {
    // The reference compiles an expression per value (about half a millisecond each).
    this.timeout(30_000);
    const everyValueInTurn = (text: string, values: string[]) => {
      let out = text;
      for (const v of [...new Set(values.map((x) => x.trim()).filter((x) => x.length >= 3))].sort((a, b) => b.length - a.length))
        out = out.replace(new RegExp(`(?<![\\p{L}\\p{N}])${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}])`, 'giu'), '[redacted]');
      return redactEmails(out);
    };
    // A small alphabet, so values overlap, repeat and touch each other often.
    const pieces = ['ann', 'an', 'n', 'a', 'Je\u017f', 'jes', 'k', '\u212a', 'o.k.', 'x+y', '[redacted]', 'ü', '9'];
    const separators = [' ', '', '', '-', '.', '"'];
    const piece = fc.constantFrom(...pieces);
    const recase = (s: string, upper: boolean[]) => [...s].map((c, i) => (upper[i % upper.length] ? c.toUpperCase() : c.toLowerCase())).join('');
    const cased = fc.tuple(piece, fc.array(fc.boolean(), { minLength: 1, maxLength: 4 })).map(([p, upper]) => recase(p, upper));
    const text = fc.array(fc.tuple(cased, fc.constantFrom(...separators)), { maxLength: 12 }).map((parts) => parts.map(([p, sep]) => p + sep).join(''));
    const value = fc.array(piece, { minLength: 1, maxLength: 3 }).chain((ps) => fc.constantFrom(' ', '', '-').map((sep) => ps.join(sep)));
    fc.assert(
      fc.property(text, fc.array(value, { maxLength: 5 }), (t, values) => {
        expect(redactAnswerValues(t, values), JSON.stringify({ t, values })).to.equal(everyValueInTurn(t, values));
      }),
      { numRuns: 600 },
    );
  });
});
