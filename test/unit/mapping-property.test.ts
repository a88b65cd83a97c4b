// Property tests: whatever field_data Meta sends (odd keys, empty or many values, any Unicode),
// the mapping never throws and never drops an answer, and warnings never quote one.
import { expect } from 'chai';
import fc from 'fast-check';
import { applyMapping } from '../../src/mapping/apply.js';
import { mappingSchema, META_FIELDS, type FormQuestion, type Mapping, type MappingRule, type Transform } from '../../src/mapping/schema.js';
import type { CanonicalLead } from '../../src/lead/canonical.js';
import { makeSampleLead } from '../helpers/sample-lead.js';

const weirdKey = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom(
    '__proto__',
    'constructor',
    'toString',
    'hasOwnProperty',
    'full_name',
    'email',
    'phone_number',
    'favorite_color?',
    '',
    ' ',
    'a.b',
    '{{x}}',
    'ключ',
    '選擇',
  ),
);
const weirdValue = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.constantFrom(
    '',
    ' ',
    '1',
    '0',
    'true',
    'blue',
    'opt_a',
    '+44 7911 123456',
    '07700 900123',
    '1990-01-31',
    'Dr. Jane Smith-Jones',
    '王小明',
    '😀😀😀',
    '\u0000',
    '\ud800',
  ),
);
const answersArb = fc.array(fc.record({ key: weirdKey, values: fc.array(weirdValue, { maxLength: 4 }) }), { maxLength: 8 });
const consentsArb = fc.array(fc.record({ key: weirdKey, checked: fc.boolean() }), { maxLength: 3 });

const transformArb: fc.Arbitrary<Transform> = fc.oneof(
  fc.constantFrom<Transform>(
    { type: 'trim' },
    { type: 'lower' },
    { type: 'upper' },
    { type: 'first_name' },
    { type: 'last_name' },
    { type: 'phone_e164' },
    { type: 'phone_e164', defaultCountry: 'GB' },
    { type: 'phone_e164', defaultCountryFrom: 'q' },
    { type: 'phone_e164', defaultCountryFrom: 'country' },
    { type: 'boolean' },
    { type: 'number' },
    { type: 'first' },
    { type: 'join', separator: ';' },
  ),
  fc.constantFrom('iso', 'date', 'epoch_ms', 'us', 'eu').map((format) => ({ type: 'date', format }) as Transform),
  fc.integer({ min: 1, max: 30 }).map((length) => ({ type: 'truncate', length }) as Transform),
  fc
    .tuple(fc.dictionary(weirdValue, fc.string({ maxLength: 6 }), { maxKeys: 3 }), fc.constantFrom('keep', 'drop') as fc.Arbitrary<'keep' | 'drop'>)
    .map(([map, fallback]) => ({ type: 'value_map', map, fallback }) as Transform),
);

function ruleArb(keys: string[]): fc.Arbitrary<MappingRule> {
  const key = keys.length > 0 ? fc.oneof(fc.constantFrom(...keys), weirdKey) : weirdKey;
  const source = fc.oneof(
    key.map((k) => ({ type: 'answer' as const, key: k })),
    key.map((k) => ({ type: 'answer' as const, key: k })),
    fc.constantFrom(...META_FIELDS).map((field) => ({ type: 'meta' as const, field })),
    weirdKey.map((k) => ({ type: 'consent' as const, key: k })),
    fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.boolean()).map((value) => ({ type: 'constant' as const, value })),
    fc.string({ maxLength: 30 }).map((template) => ({ type: 'template' as const, template: `{{${template}}} {{campaign_name}}` })),
  );
  return fc.record({
    target: fc.constantFrom('a', 'b', 'c', 'email', '__proto__', 'note'),
    source,
    transforms: fc.array(transformArb, { maxLength: 3 }),
  });
}

const scenarioArb = fc.record({ answers: answersArb, consents: consentsArb }).chain(({ answers, consents }) => {
  const keys = [...new Set(answers.map((a) => a.key))];
  const questionsArb: fc.Arbitrary<FormQuestion[]> = fc.subarray(keys).chain((qKeys) =>
    fc.tuple(
      ...qKeys.map((k) =>
        fc.record({
          key: fc.constant(k),
          label: fc.string({ unit: 'grapheme', maxLength: 10 }),
          type: fc.constantFrom('CUSTOM', 'FULL_NAME', 'EMAIL', 'PHONE'),
          options: fc.option(fc.array(fc.record({ key: weirdValue, value: weirdValue }), { maxLength: 3 }), { nil: undefined }),
        }),
      ),
    ),
  );
  return fc.record({
    answers: fc.constant(answers),
    consents: fc.constant(consents),
    rules: fc.array(ruleArb(keys), { maxLength: 6 }),
    unmapped: fc.option(fc.record({ target: fc.constantFrom('note', 'a'), includeLabels: fc.boolean() }), { nil: null }),
    questions: questionsArb,
  });
});

function leadWith(answers: CanonicalLead['answers'], consents: CanonicalLead['consents']): CanonicalLead {
  return makeSampleLead({ answers, consents });
}

/** The values the note must show for one key: option keys resolved as apply.ts does, blanks dropped. */
function expectedNoteValues(values: string[], question: FormQuestion | undefined): string[] {
  const options = question?.options ?? [];
  return values
    .map((v) => {
      const byKey = options.find((o) => o.key === v);
      if (!byKey || options.some((o) => o.value === v)) return v;
      return byKey.value;
    })
    .filter((v) => v.trim().length > 0);
}

describe('mapping: properties', () => {
  it('never throws and never drops an answer, for arbitrary field_data and rules', () => {
    fc.assert(
      fc.property(scenarioArb, ({ answers, consents, rules, unmapped, questions }) => {
        const mapping: Mapping = { version: 1, rules, unmapped, defaultCountry: 'GB' };
        expect(mappingSchema.safeParse(mapping).success).to.equal(true);
        const out = applyMapping(mapping, leadWith(answers, consents), { questions });

        const answerRuleKeys = new Set(rules.filter((r) => r.source.type === 'answer').map((r) => (r.source as { key: string }).key));
        const keys = [...new Set(answers.map((a) => a.key))];
        for (const key of keys) {
          // Either a rule took it, or it is reported as unmapped.
          expect(answerRuleKeys.has(key) || out.unmappedKeys.includes(key), `key ${JSON.stringify(key)}`).to.equal(true);
        }
        for (const key of out.unmappedKeys) {
          const values = answers.filter((a) => a.key === key).flatMap((a) => a.values);
          const question = questions.find((q) => q.key === key);
          for (const v of expectedNoteValues(values, question)) expect(out.unmappedNote ?? '').to.include(v);
        }
        const consentKeys = new Set(consents.map((c) => c.key));
        for (const key of out.unmappedConsentKeys) expect(consentKeys.has(key)).to.equal(true);
        if (unmapped && out.unmappedNote !== null) expect(String(out.fields[unmapped.target])).to.include(out.unmappedNote);
        for (const value of Object.values(out.fields)) expect(['string', 'number', 'boolean']).to.include(typeof value);
      }),
      { numRuns: 400 },
    );
  });

  it('an answer a rule took is in the record whole; a cut or narrowed one is also in the note', () => {
    const keepingTransform: fc.Arbitrary<Transform> = fc.oneof(
      fc.constantFrom<Transform>({ type: 'trim' }, { type: 'first' }, { type: 'join', separator: ';' }),
      fc.integer({ min: 1, max: 12 }).map((length) => ({ type: 'truncate', length }) as Transform),
    );
    const arb = fc.record({ answers: answersArb, consents: consentsArb }).chain(({ answers, consents }) => {
      const keys = [...new Set(answers.map((a) => a.key))];
      const key = keys.length > 0 ? fc.constantFrom(...keys) : weirdKey;
      const rule = fc.record({
        target: fc.constantFrom('a', 'b', 'c', 'd'),
        source: key.map((k) => ({ type: 'answer' as const, key: k })),
        transforms: fc.array(keepingTransform, { maxLength: 2 }),
      });
      return fc.record({ answers: fc.constant(answers), consents: fc.constant(consents), rules: fc.array(rule, { maxLength: 5 }) });
    });
    fc.assert(
      fc.property(arb, ({ answers, consents, rules }) => {
        const out = applyMapping({ version: 1, rules }, leadWith(answers, consents));
        const written = Object.values(out.fields).map(String).join('\n');
        for (const key of new Set(answers.map((a) => a.key))) {
          const values = answers
            .filter((a) => a.key === key)
            .flatMap((a) => a.values)
            .filter((v) => v.trim().length > 0);
          const home = out.unmappedKeys.includes(key) ? (out.unmappedNote ?? '') : written;
          for (const v of values) expect(home, `value of ${JSON.stringify(key)}`).to.include(v.trim());
        }
      }),
      { numRuns: 400 },
    );
  });

  it('with no rules, every answer key is unmapped and every non-blank value is in the note', () => {
    fc.assert(
      fc.property(answersArb, consentsArb, (answers, consents) => {
        const out = applyMapping({ version: 1, rules: [] }, leadWith(answers, consents));
        expect(out.unmappedKeys).to.deep.equal([...new Set(answers.map((a) => a.key))]);
        for (const a of answers) for (const v of a.values) if (v.trim()) expect(out.unmappedNote).to.include(v);
        expect(out.fields).to.deep.equal({});
      }),
      { numRuns: 300 },
    );
  });

  it('an identity rule writes every value of a multi-value answer (never only the first)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }), (values) => {
        const out = applyMapping({ version: 1, rules: [{ target: 'x', source: { type: 'answer', key: 'q' } }] }, leadWith([{ key: 'q', values }], []));
        expect(out.fields.x).to.equal(values.join(', '));
        expect(out.unmappedKeys).to.deep.equal([]);
      }),
    );
  });

  it('warnings never quote an answer', () => {
    const secret = fc.string({ unit: 'grapheme', maxLength: 6 }).map((s) => `SECRET${s}`);
    fc.assert(
      fc.property(fc.array(secret, { minLength: 1, maxLength: 3 }), fc.array(ruleArb(['q']), { minLength: 1, maxLength: 6 }), (values, rules) => {
        const out = applyMapping({ version: 1, rules }, leadWith([{ key: 'q', values }], []));
        for (const w of out.warnings) expect(w).to.not.include('SECRET');
      }),
      { numRuns: 300 },
    );
  });
});
