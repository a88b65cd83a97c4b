// Which of a page's routes take a lead: the form matches (done in the query) and the route's
// filter, if any, accepts the lead.
import type { CanonicalLead } from '../lead/canonical.js';
import { matchesFilter } from '../mapping/route-filter.js';
import type { FormQuestion } from '../mapping/schema.js';
import type { Route } from '../store/schema.js';

/** `questions` (the form's, when known) let a filter written with an option's label match an option key. */
export function selectRoutes(routes: Route[], lead: CanonicalLead, questions?: FormQuestion[] | null): { matched: Route[]; reason: string | null } {
  if (routes.length === 0)
    return { matched: [], reason: lead.form.id ? `no route for page ${lead.page.id} form ${lead.form.id}` : `no route for page ${lead.page.id}` };
  const matched: Route[] = [];
  const reasons: string[] = [];
  for (const r of routes) {
    const result = matchesFilter(r.filter as never, lead, (r.form_questions as FormQuestion[] | null) ?? questions ?? undefined);
    if (result.matched) matched.push(r);
    else reasons.push(`route ${r.id}: ${result.reason ?? 'filter did not match'}`);
  }
  return { matched, reason: matched.length ? null : `no route's filter matched (${reasons.join('; ')})` };
}
