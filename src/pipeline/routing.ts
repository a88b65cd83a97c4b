// Which of a page's routes take a lead: the form matches (done in the query) and the route's
// filter, if any, accepts the lead.
import type { CanonicalLead } from '../lead/canonical.js';
import { matchesFilter } from '../mapping/route-filter.js';
import type { Route } from '../store/schema.js';

export function selectRoutes(routes: Route[], lead: CanonicalLead): { matched: Route[]; reason: string | null } {
  if (routes.length === 0) return { matched: [], reason: lead.form.id ? `no route for page ${lead.page.id} form ${lead.form.id}` : `no route for page ${lead.page.id}` };
  const matched: Route[] = [];
  const reasons: string[] = [];
  for (const r of routes) {
    const result = matchesFilter(r.filter as never, lead);
    if (result.matched) matched.push(r);
    else reasons.push(`route ${r.id}: ${result.reason ?? 'filter did not match'}`);
  }
  return { matched, reason: matched.length ? null : `no route's filter matched (${reasons.join('; ')})` };
}
