// Which of a page's routes take a lead, and the reason stored on the lead when none does.
import { expect } from 'chai';
import { selectRoutes } from '../../src/pipeline/routing.js';
import type { Route } from '../../src/store/schema.js';
import { makeSampleLead } from '../helpers/sample-lead.js';

let nextRoute = 1;
function makeRoute(filter: unknown = null, overrides: Partial<Route> = {}): Route {
  const n = String(nextRoute++).padStart(12, '0');
  return {
    id: `00000000-0000-4000-8000-${n}`,
    workspace_id: 'f3c1b0de-1111-4a4a-8888-000000000001',
    page_id: '100200300',
    form_id: null,
    destination_id: `d0000000-0000-4000-8000-${n}`,
    mapping: null,
    filter,
    is_enabled: true,
    form_questions: null,
    drift: null,
    created_at: new Date('2026-01-01T00:00:00Z'),
    updated_at: new Date('2026-01-01T00:00:00Z'),
    ...overrides,
  };
}

// Sample lead: platform ig, paid (campaign "Spring 2026"), answers include email zoe.angstrom@example.com.
const lead = makeSampleLead();

describe('selectRoutes', () => {
  it('no routes: the reason names the page and the form', () => {
    const r = selectRoutes([], lead);
    expect(r.matched).to.deep.equal([]);
    expect(r.reason).to.equal('no route for page 100200300 form 555666777');
  });

  it('no routes for a lead without a form: the reason names the page only', () => {
    const r = selectRoutes([], makeSampleLead({ form: { id: null, name: null } }));
    expect(r.matched).to.deep.equal([]);
    expect(r.reason).to.equal('no route for page 100200300');
  });

  it('a route without a filter takes every lead', () => {
    const route = makeRoute(null);
    expect(selectRoutes([route], lead)).to.deep.equal({ matched: [route], reason: null });
  });

  it('keeps only the routes whose filter matches, in order, with no reason', () => {
    const igOnly = makeRoute({ all: [{ type: 'platform', in: ['ig'] }] });
    const fbOnly = makeRoute({ all: [{ type: 'platform', in: ['fb'] }] });
    const spring = makeRoute({ any: [{ type: 'campaign', field: 'campaign_name', op: 'contains', value: 'spring' }] });
    const r = selectRoutes([igOnly, fbOnly, spring], lead);
    expect(r.matched.map((x) => x.id)).to.deep.equal([igOnly.id, spring.id]);
    expect(r.reason).to.equal(null);
  });

  it('when every filter refuses, the reason lists each route with the condition it missed', () => {
    const fbOnly = makeRoute({ all: [{ type: 'platform', in: ['fb'] }] });
    const organic = makeRoute({
      all: [
        { type: 'platform', in: ['ig'] },
        { type: 'organic', value: true },
      ],
    });
    const r = selectRoutes([fbOnly, organic], lead);
    expect(r.matched).to.deep.equal([]);
    expect(r.reason).to.equal(
      `no route's filter matched (route ${fbOnly.id}: condition 1 (platform in [fb]) not met; route ${organic.id}: condition 2 (organic lead) not met)`,
    );
  });

  it('an invalid filter takes no lead and says so', () => {
    const broken = makeRoute({ all: [{ type: 'answer', key: 'email', op: 'equals' }] });
    const r = selectRoutes([broken], lead);
    expect(r.matched).to.deep.equal([]);
    expect(r.reason).to.equal(`no route's filter matched (route ${broken.id}: filter is not valid)`);
  });

  it("the reason never carries the lead's answers", () => {
    const wantsOther = makeRoute({ all: [{ type: 'answer', key: 'email', op: 'equals', value: 'someone@else.test' }] });
    const wantsEmpty = makeRoute({ all: [{ type: 'answer', key: 'full_name', op: 'is_empty' }] });
    const r = selectRoutes([wantsOther, wantsEmpty], lead);
    expect(r.matched).to.deep.equal([]);
    expect(r.reason).to.be.a('string');
    for (const answer of lead.answers.flatMap((a) => a.values)) expect(r.reason).to.not.include(answer);
    expect(r.reason).to.include('answer "email" equals "someone@else.test"');
    expect(r.reason).to.include('answer "full_name" is empty');
  });

  it('a mix of matching and refusing routes gives the matching ones only', () => {
    const paid = makeRoute({ all: [{ type: 'organic', value: false }] });
    const organic = makeRoute({ all: [{ type: 'organic', value: true }] });
    const all = makeRoute(null);
    const r = selectRoutes([organic, paid, all], lead);
    expect(r.matched).to.deep.equal([paid, all]);
    expect(r.reason).to.equal(null);
  });
});
