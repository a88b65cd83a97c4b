// Phone numbers read with the country the lead answered (`phone_e164` with `defaultCountryFrom`):
// which answers name a country, the order of fallbacks, and what validation, drift and
// auto-mapping make of it.
import { expect } from 'chai';
import { applyMapping } from '../../src/mapping/apply.js';
import { normalizeCountryName, resolveCountry } from '../../src/mapping/countries.js';
import { findRulesAffectedByDrift } from '../../src/mapping/drift.js';
import { mappingSchema, type FormQuestion, type Mapping, type Transform } from '../../src/mapping/schema.js';
import { suggestMapping } from '../../src/mapping/suggest.js';
import { validateMapping } from '../../src/mapping/validate.js';
import { makeSampleLead } from '../helpers/sample-lead.js';

const COUNTRY_OPTIONS = [
  { key: 'opt_uk', value: 'United Kingdom' },
  { key: 'opt_fr', value: 'France' },
];
const questions: FormQuestion[] = [
  { key: 'phone_number', label: 'Phone', type: 'PHONE' },
  { key: 'country', label: 'Country', type: 'COUNTRY' },
  { key: 'where', label: 'Where do you live?', type: 'CUSTOM', options: COUNTRY_OPTIONS },
];

/** Runs one phone rule reading its country from `from`, over a lead with these answers. */
function phoneOf(answers: { key: string; values: string[] }[], transform: Partial<Extract<Transform, { type: 'phone_e164' }>>, defaultCountry?: string) {
  const mapping: Mapping = {
    version: 1,
    rules: [{ target: 'phone', source: { type: 'answer', key: 'phone_number' }, transforms: [{ type: 'phone_e164', ...transform }] }],
    ...(defaultCountry ? { defaultCountry } : {}),
  };
  expect(mappingSchema.safeParse(mapping).success).to.equal(true);
  const out = applyMapping(mapping, makeSampleLead({ answers }), { questions });
  return { phone: out.fields.phone, warnings: out.warnings };
}

describe('mapping: phone country from an answer', () => {
  describe('resolveCountry', () => {
    const cases: [string, string | null][] = [
      ['GB', 'GB'],
      ['gb', 'GB'],
      [' fr ', 'FR'],
      ['United Kingdom', 'GB'],
      ['united kingdom', 'GB'],
      ['UK', 'GB'],
      ['England', 'GB'],
      ['United States', 'US'],
      ['USA', 'US'],
      ['U.S.A.', 'US'],
      ['The Netherlands', 'NL'],
      ['Deutschland', 'DE'],
      ['España', 'ES'],
      ['espana', 'ES'],
      ['Côte d’Ivoire', 'CI'],
      ["Cote d'Ivoire", 'CI'],
      ['Brasil', 'BR'],
      ['日本', 'JP'],
      ['Россия', 'RU'],
      ['Türkiye', 'TR'],
      ['Turkey', 'TR'],
      ['', null],
      ['   ', null],
      ['Other', null],
      ['Atlantis', null],
      ['ZZ', null], // two letters, but no country
      ['44', null],
    ];
    for (const [input, expected] of cases) {
      it(`${JSON.stringify(input)} → ${expected ?? 'no country'}`, () => expect(resolveCountry(input)).to.equal(expected));
    }
    it('normalises names without case, accents, punctuation or a leading "the"', () => {
      expect(normalizeCountryName('  The Côte d’Ivoire ')).to.equal('cote d ivoire');
    });
  });

  describe('phone_e164 with defaultCountryFrom', () => {
    const cases: {
      name: string;
      answers: { key: string; values: string[] }[];
      transform: Partial<Extract<Transform, { type: 'phone_e164' }>>;
      mappingCountry?: string;
      expected: string;
      warns: boolean;
    }[] = [
      {
        name: 'an ISO code answer reads a national number',
        answers: [
          { key: 'phone_number', values: ['07911 123456'] },
          { key: 'country', values: ['GB'] },
        ],
        transform: { defaultCountryFrom: 'country' },
        mappingCountry: 'US',
        expected: '+447911123456',
        warns: false,
      },
      {
        name: 'a country name answer reads a national number',
        answers: [
          { key: 'phone_number', values: ['06 12 34 56 78'] },
          { key: 'country', values: ['France'] },
        ],
        transform: { defaultCountryFrom: 'country' },
        mappingCountry: 'GB',
        expected: '+33612345678',
        warns: false,
      },
      {
        name: 'an option key answer is read through its label',
        answers: [
          { key: 'phone_number', values: ['07911 123456'] },
          { key: 'where', values: ['opt_uk'] },
        ],
        transform: { defaultCountryFrom: 'where' },
        mappingCountry: 'US',
        expected: '+447911123456',
        warns: false,
      },
      {
        name: 'the answered country wins over the transform country',
        answers: [
          { key: 'phone_number', values: ['06 12 34 56 78'] },
          { key: 'country', values: ['fr'] },
        ],
        transform: { defaultCountryFrom: 'country', defaultCountry: 'GB' },
        expected: '+33612345678',
        warns: false,
      },
      {
        name: 'no country answer falls back to the mapping country, silently',
        answers: [{ key: 'phone_number', values: ['(202) 555-0143'] }],
        transform: { defaultCountryFrom: 'country' },
        mappingCountry: 'US',
        expected: '+12025550143',
        warns: false,
      },
      {
        name: 'an empty country answer falls back to the transform country',
        answers: [
          { key: 'phone_number', values: ['07911 123456'] },
          { key: 'country', values: [' '] },
        ],
        transform: { defaultCountryFrom: 'country', defaultCountry: 'GB' },
        mappingCountry: 'US',
        expected: '+447911123456',
        warns: false,
      },
      {
        name: 'an answer naming no country falls back to the default, with a warning',
        answers: [
          { key: 'phone_number', values: ['(202) 555-0143'] },
          { key: 'country', values: ['Somewhere nice'] },
        ],
        transform: { defaultCountryFrom: 'country' },
        mappingCountry: 'US',
        expected: '+12025550143',
        warns: true,
      },
      {
        name: 'a number with +country code ignores the answered country',
        answers: [
          { key: 'phone_number', values: ['+1 202-555-0143'] },
          { key: 'country', values: ['GB'] },
        ],
        transform: { defaultCountryFrom: 'country' },
        expected: '+12025550143',
        warns: false,
      },
      {
        name: 'without an answer or a default, a national number is kept as typed, with a warning',
        answers: [{ key: 'phone_number', values: ['2025550143'] }],
        transform: { defaultCountryFrom: 'country' },
        expected: '2025550143',
        warns: true,
      },
      {
        name: 'a country answer of several values uses the first that names a country',
        answers: [
          { key: 'phone_number', values: ['07911 123456'] },
          { key: 'country', values: ['?', 'United Kingdom'] },
        ],
        transform: { defaultCountryFrom: 'country' },
        mappingCountry: 'US',
        expected: '+447911123456',
        warns: false,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const r = phoneOf(c.answers, c.transform, c.mappingCountry);
        expect(r.phone).to.equal(c.expected);
        expect(r.warnings.length > 0, JSON.stringify(r.warnings)).to.equal(c.warns);
      });
    }

    it('warnings name the question, never the answered country or the number', () => {
      const unreadable = phoneOf(
        [
          { key: 'phone_number', values: ['07911'] },
          { key: 'country', values: ['Mordor'] },
        ],
        { defaultCountryFrom: 'country' },
        'US',
      );
      const fromAnswer = phoneOf(
        [
          { key: 'phone_number', values: ['07911'] },
          { key: 'country', values: ['United Kingdom'] },
        ],
        { defaultCountryFrom: 'country' },
      );
      const all = [...unreadable.warnings, ...fromAnswer.warnings];
      expect(all.length).to.be.greaterThan(1);
      for (const w of all) expect(w).to.not.match(/Mordor|United Kingdom|GB|07911/);
      expect(unreadable.warnings[0]).to.equal('rule 1 (phone): the answer to "country" is not a country LeadRelay can read; used the default country US');
      expect(fromAnswer.warnings[0]).to.include('for the country answered in "country"');
    });

    it('the country answer stays in the unmapped note (reading it consumes nothing)', () => {
      const mapping: Mapping = {
        version: 1,
        rules: [{ target: 'phone', source: { type: 'answer', key: 'phone_number' }, transforms: [{ type: 'phone_e164', defaultCountryFrom: 'country' }] }],
        unmapped: { target: 'note' },
      };
      const out = applyMapping(
        mapping,
        makeSampleLead({
          answers: [
            { key: 'phone_number', values: ['07911 123456'] },
            { key: 'country', values: ['GB'] },
          ],
          consents: [],
        }),
        { questions },
      );
      expect(out.unmappedKeys).to.deep.equal(['country']);
      expect(out.fields.note).to.equal('Country: GB');
    });
  });

  describe('validation, drift and auto-mapping', () => {
    const rule = (transform: Extract<Transform, { type: 'phone_e164' }>) => ({
      target: 'phone',
      source: { type: 'answer' as const, key: 'phone_number' },
      transforms: [transform],
    });

    it('warns when the country question is not on the form', () => {
      const issues = validateMapping({ version: 1, rules: [rule({ type: 'phone_e164', defaultCountryFrom: 'nation' })], defaultCountry: 'GB' }, [], questions);
      expect(issues.map((i) => i.message)).to.deep.equal([
        'rule 1 → phone: phone country question "nation" is not on the form (the default country will be used)',
      ]);
    });

    it('without a default country, says when numbers stay as typed', () => {
      const issues = validateMapping({ version: 1, rules: [rule({ type: 'phone_e164', defaultCountryFrom: 'country' })] }, [], questions);
      expect(issues.map((i) => i.message)).to.deep.equal([
        'rule 1 → phone: no default country: phone numbers typed without +country code will be kept as typed when "country" does not name a country',
      ]);
      expect(
        validateMapping({ version: 1, rules: [rule({ type: 'phone_e164', defaultCountryFrom: 'country' })], defaultCountry: 'GB' }, [], questions),
      ).to.deep.equal([]);
    });

    it('a removed or changed country question affects the phone rule', () => {
      const mapping: Mapping = {
        version: 1,
        rules: [{ target: 'email', source: { type: 'answer', key: 'email' } }, rule({ type: 'phone_e164', defaultCountryFrom: 'where' })],
      };
      expect(findRulesAffectedByDrift(mapping, { added: [], removed: [questions[2]], changed: [] })).to.deep.equal([1]);
      expect(findRulesAffectedByDrift(mapping, { added: [], removed: [], changed: [{ key: 'where', what: ['options'] }] })).to.deep.equal([1]);
      expect(findRulesAffectedByDrift(mapping, { added: [], removed: [], changed: [{ key: 'where', what: ['label'] }] })).to.deep.equal([]);
    });

    it('suggest reads phones with the form country question when the form asks for one', () => {
      const withCountry = suggestMapping('hubspot', questions, []);
      const phone = withCountry.rules.find((r) => r.target === 'phone');
      expect(phone?.transforms).to.deep.include({ type: 'phone_e164', defaultCountryFrom: 'country' });
      const withoutCountry = suggestMapping('hubspot', [questions[0]], []);
      expect(withoutCountry.rules.find((r) => r.target === 'phone')?.transforms).to.deep.include({ type: 'phone_e164' });
    });
  });
});
