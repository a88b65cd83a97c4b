import { expect } from 'chai';
import { matchesFilter, routeFilterSchema, type RouteFilter } from '../../src/mapping/route-filter.js';
import type { FormQuestion } from '../../src/mapping/schema.js';
import { makeSampleLead } from '../helpers/sample-lead.js';

const lead = makeSampleLead({
  answers: [
    { key: 'budget', values: ['opt_high'] },
    { key: 'comment', values: ['  '] },
    { key: 'interests', values: ['Road bikes', 'Gravel'] },
  ],
});
const questions: FormQuestion[] = [{ key: 'budget', label: 'Budget', type: 'CUSTOM', options: [{ key: 'opt_high', value: 'Over 5000' }] }];

describe('mapping: route filters', () => {
  it('no filter or an empty one matches every lead', () => {
    expect(matchesFilter(null, lead)).to.deep.equal({ matched: true });
    expect(matchesFilter(undefined, lead)).to.deep.equal({ matched: true });
    expect(matchesFilter({}, lead)).to.deep.equal({ matched: true });
    expect(matchesFilter({ all: [] }, lead)).to.deep.equal({ matched: true });
  });

  const cases: { name: string; filter: RouteFilter; matched: boolean }[] = [
    { name: 'answer equals (stored option key)', filter: { all: [{ type: 'answer', key: 'budget', op: 'equals', value: 'opt_high' }] }, matched: true },
    {
      name: 'answer equals (option label, with questions)',
      filter: { all: [{ type: 'answer', key: 'budget', op: 'equals', value: 'over 5000' }] },
      matched: true,
    },
    {
      name: 'answer equals, case-sensitive miss',
      filter: { all: [{ type: 'answer', key: 'budget', op: 'equals', value: 'OPT_HIGH', caseSensitive: true }] },
      matched: false,
    },
    { name: 'answer equals any of several values', filter: { all: [{ type: 'answer', key: 'interests', op: 'equals', value: 'gravel' }] }, matched: true },
    { name: 'answer contains', filter: { all: [{ type: 'answer', key: 'interests', op: 'contains', value: 'road' }] }, matched: true },
    { name: 'answer contains, miss', filter: { all: [{ type: 'answer', key: 'interests', op: 'contains', value: 'mountain' }] }, matched: false },
    { name: 'blank answer is empty', filter: { all: [{ type: 'answer', key: 'comment', op: 'is_empty' }] }, matched: true },
    { name: 'missing answer is empty', filter: { all: [{ type: 'answer', key: 'nope', op: 'is_empty' }] }, matched: true },
    { name: 'answer not empty', filter: { all: [{ type: 'answer', key: 'budget', op: 'not_empty' }] }, matched: true },
    { name: 'platform in [ig]', filter: { all: [{ type: 'platform', in: ['ig'] }] }, matched: true },
    { name: 'platform in [fb]', filter: { all: [{ type: 'platform', in: ['FB'] }] }, matched: false },
    { name: 'paid only', filter: { all: [{ type: 'organic', value: false }] }, matched: true },
    { name: 'organic only', filter: { all: [{ type: 'organic', value: true }] }, matched: false },
    { name: 'campaign name contains', filter: { all: [{ type: 'campaign', field: 'campaign_name', op: 'contains', value: 'spring' }] }, matched: true },
    { name: 'campaign id equals', filter: { all: [{ type: 'campaign', field: 'campaign_id', op: 'equals', value: '2385000003' }] }, matched: true },
    { name: 'negated condition', filter: { all: [{ type: 'platform', in: ['ig'], negate: true }] }, matched: false },
    {
      name: 'all: every condition must hold',
      filter: {
        all: [
          { type: 'platform', in: ['ig'] },
          { type: 'organic', value: true },
        ],
      },
      matched: false,
    },
    {
      name: 'any: one condition is enough',
      filter: {
        any: [
          { type: 'platform', in: ['fb'] },
          { type: 'answer', key: 'budget', op: 'not_empty' },
        ],
      },
      matched: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => expect(matchesFilter(c.filter, lead, questions).matched).to.equal(c.matched));
  }

  it('an organic lead has no campaign to match', () => {
    const organic = makeSampleLead({
      is_organic: true,
      attribution: { ad_id: null, ad_name: null, adset_id: null, adset_name: null, campaign_id: null, campaign_name: null },
    });
    expect(matchesFilter({ all: [{ type: 'campaign', field: 'campaign_name', op: 'contains', value: '' }] }, organic).matched).to.equal(false);
    expect(matchesFilter({ all: [{ type: 'organic', value: true }] }, organic).matched).to.equal(true);
  });

  it('a lead without a platform matches "unknown"', () => {
    expect(matchesFilter({ all: [{ type: 'platform', in: ['unknown'] }] }, makeSampleLead({ platform: null })).matched).to.equal(true);
  });

  it('the reason names the condition, never the answer', () => {
    const result = matchesFilter(
      {
        all: [
          { type: 'organic', value: false },
          { type: 'answer', key: 'budget', op: 'equals', value: 'low' },
        ],
      },
      lead,
    );
    expect(result).to.deep.equal({ matched: false, reason: 'condition 2 (answer "budget" equals "low") not met' });
    expect(result.reason).to.not.include('opt_high');
  });

  it('an invalid filter matches nothing and says why', () => {
    const bad = { all: [{ type: 'answer', key: 'x', op: 'equals' }] } as unknown as RouteFilter;
    expect(routeFilterSchema.safeParse(bad).success).to.equal(false);
    expect(matchesFilter(bad, lead)).to.deep.equal({ matched: false, reason: 'filter is not valid' });
    expect(matchesFilter({ all: [{ type: 'weather' }] } as unknown as RouteFilter, lead)).to.deep.equal({ matched: false, reason: 'filter is not valid' });
  });
});
