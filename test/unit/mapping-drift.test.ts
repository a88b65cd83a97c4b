import { expect } from 'chai';
import { diffQuestions, findRulesAffectedByDrift, isDriftEmpty } from '../../src/mapping/drift.js';
import type { FormQuestion, Mapping } from '../../src/mapping/schema.js';

const before: FormQuestion[] = [
  { key: 'email', label: 'Email', type: 'EMAIL' },
  { key: 'full_name', label: 'Full name', type: 'FULL_NAME' },
  {
    key: 'car',
    label: 'Which car?',
    type: 'CUSTOM',
    options: [
      { key: 'a', value: 'Audi' },
      { key: 'b', value: 'BMW' },
    ],
  },
  { key: 'budget', label: 'Budget', type: 'CUSTOM' },
];

describe('mapping: form drift', () => {
  it('the same questions (options reordered, type case differs) are no drift', () => {
    const after = before.map((q) => (q.key === 'car' ? { ...q, options: [...q.options!].reverse() } : q.key === 'email' ? { ...q, type: 'email' } : q));
    const drift = diffQuestions(before, after);
    expect(drift).to.deep.equal({ added: [], removed: [], changed: [] });
    expect(isDriftEmpty(drift)).to.equal(true);
  });

  const cases: { name: string; after: FormQuestion[]; expected: ReturnType<typeof diffQuestions> }[] = [
    {
      name: 'an added question',
      after: [...before, { key: 'city', label: 'City', type: 'CITY' }],
      expected: { added: [{ key: 'city', label: 'City', type: 'CITY' }], removed: [], changed: [] },
    },
    {
      name: 'a removed question',
      after: before.filter((q) => q.key !== 'budget'),
      expected: { added: [], removed: [{ key: 'budget', label: 'Budget', type: 'CUSTOM' }], changed: [] },
    },
    {
      name: 'a relabelled question',
      after: before.map((q) => (q.key === 'budget' ? { ...q, label: 'Your budget' } : q)),
      expected: { added: [], removed: [], changed: [{ key: 'budget', what: ['label'] }] },
    },
    {
      name: 'a question whose type and options changed',
      after: before.map((q) =>
        q.key === 'car'
          ? {
              ...q,
              type: 'MULTIPLE_CHOICE',
              options: [
                { key: 'a', value: 'Audi' },
                { key: 'c', value: 'Citroën' },
              ],
            }
          : q,
      ),
      expected: { added: [], removed: [], changed: [{ key: 'car', what: ['type', 'options'] }] },
    },
    {
      name: 'an option relabelled',
      after: before.map((q) =>
        q.key === 'car'
          ? {
              ...q,
              options: [
                { key: 'a', value: 'Audi AG' },
                { key: 'b', value: 'BMW' },
              ],
            }
          : q,
      ),
      expected: { added: [], removed: [], changed: [{ key: 'car', what: ['options'] }] },
    },
  ];
  for (const c of cases) {
    it(`detects ${c.name}`, () => {
      const drift = diffQuestions(before, c.after);
      expect(drift).to.deep.equal(c.expected);
      expect(isDriftEmpty(drift)).to.equal(false);
    });
  }

  it('finds the rules a drift breaks', () => {
    const mapping: Mapping = {
      version: 1,
      rules: [
        { target: 'email', source: { type: 'answer', key: 'email' } },
        { target: 'car', source: { type: 'answer', key: 'car' } },
        { target: 'budget', source: { type: 'answer', key: 'budget' } },
        { target: 'title', source: { type: 'template', template: '{{answer.budget}} for {{form_name}}' } },
        { target: 'src', source: { type: 'meta', field: 'platform' } },
      ],
    };
    const after = before
      .filter((q) => q.key !== 'budget')
      .map((q) => (q.key === 'car' ? { ...q, options: [{ key: 'z', value: 'Zastava' }] } : q.key === 'email' ? { ...q, label: 'E-mail' } : q));
    expect(findRulesAffectedByDrift(mapping, diffQuestions(before, after))).to.deep.equal([1, 2, 3]);
  });
});
