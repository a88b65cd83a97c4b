// Route filters: which leads a destination receives. A filter is a list of conditions that must
// all hold (`all`), optionally plus a list of which at least one must hold (`any`). Pure; the
// reason for a miss names the condition, never the lead's answer.
import { z } from 'zod';
import type { CanonicalLead } from '../lead/canonical.js';
import { resolveOptionKeys } from './apply.js';
import type { FormQuestion } from './schema.js';

const negate = z.boolean().optional();

const conditionSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('answer'),
    key: z.string(),
    op: z.enum(['equals', 'contains', 'is_empty', 'not_empty']),
    value: z.string().optional(),
    /** Compare exactly; by default case and outer spaces are ignored. */
    caseSensitive: z.boolean().optional(),
    negate,
  }),
  /** `fb`, `ig`, … as Meta sends `platform`; `unknown` matches a lead without one. */
  z.object({ type: z.literal('platform'), in: z.array(z.string()).min(1), negate }),
  /** true: organic leads only; false: paid (ad) leads only. */
  z.object({ type: z.literal('organic'), value: z.boolean(), negate }),
  z.object({
    type: z.literal('campaign'),
    field: z.enum(['campaign_id', 'campaign_name']),
    op: z.enum(['equals', 'contains']),
    value: z.string(),
    caseSensitive: z.boolean().optional(),
    negate,
  }),
]);
type Condition = z.infer<typeof conditionSchema>;

export const routeFilterSchema = z
  .object({
    all: z.array(conditionSchema).optional(),
    any: z.array(conditionSchema).optional(),
  })
  .superRefine((filter, ctx) => {
    for (const list of ['all', 'any'] as const) {
      (filter[list] ?? []).forEach((c, i) => {
        if (c.type === 'answer' && (c.op === 'equals' || c.op === 'contains') && c.value === undefined) {
          ctx.addIssue({ code: 'custom', path: [list, i, 'value'], message: `"${c.op}" needs a value` });
        }
      });
    }
  });
export type RouteFilter = z.infer<typeof routeFilterSchema>;

export interface FilterResult {
  matched: boolean;
  /** Why the lead did not match (names the condition, never an answer). */
  reason?: string;
}

function fold(text: string, caseSensitive: boolean | undefined): string {
  const t = text.normalize('NFC').trim();
  return caseSensitive ? t : t.toLowerCase();
}

function answerValuesOf(lead: CanonicalLead, key: string, questions: FormQuestion[] | undefined): string[] {
  const values: string[] = [];
  for (const a of Array.isArray(lead?.answers) ? lead.answers : []) {
    if (a?.key !== key || !Array.isArray(a.values)) continue;
    for (const v of a.values) values.push(typeof v === 'string' ? v : String(v ?? ''));
  }
  const question = questions?.find((q) => q.key === key);
  // Compare against both the stored value (maybe an option key) and its label.
  return [...new Set([...values, ...resolveOptionKeys(values, question)])];
}

function describe(c: Condition): string {
  const not = c.negate ? 'not ' : '';
  switch (c.type) {
    case 'answer':
      return `${not}answer "${c.key}" ${c.op.replace('_', ' ')}${c.value !== undefined && (c.op === 'equals' || c.op === 'contains') ? ` "${c.value}"` : ''}`;
    case 'platform':
      return `${not}platform in [${c.in.join(', ')}]`;
    case 'organic':
      return `${not}${c.value ? 'organic' : 'paid'} lead`;
    case 'campaign':
      return `${not}${c.field} ${c.op} "${c.value}"`;
  }
}

function test(c: Condition, lead: CanonicalLead, questions: FormQuestion[] | undefined): boolean {
  switch (c.type) {
    case 'answer': {
      const values = answerValuesOf(lead, c.key, questions).filter((v) => v.trim().length > 0);
      if (c.op === 'is_empty') return values.length === 0;
      if (c.op === 'not_empty') return values.length > 0;
      const wanted = fold(c.value ?? '', c.caseSensitive);
      return c.op === 'equals' ? values.some((v) => fold(v, c.caseSensitive) === wanted) : values.some((v) => fold(v, c.caseSensitive).includes(wanted));
    }
    case 'platform': {
      const platform = typeof lead?.platform === 'string' && lead.platform.trim() ? lead.platform.trim().toLowerCase() : 'unknown';
      return c.in.some((p) => p.trim().toLowerCase() === platform);
    }
    case 'organic':
      return lead?.is_organic === c.value;
    case 'campaign': {
      const actual = lead?.attribution?.[c.field];
      if (typeof actual !== 'string' || actual.length === 0) return false;
      const a = fold(actual, c.caseSensitive);
      const wanted = fold(c.value, c.caseSensitive);
      return c.op === 'equals' ? a === wanted : a.includes(wanted);
    }
  }
}

function holds(c: Condition, lead: CanonicalLead, questions: FormQuestion[] | undefined): boolean {
  return test(c, lead, questions) !== (c.negate === true);
}

/**
 * Whether a lead passes a route's filter. No filter passes every lead. A filter that is not
 * valid passes none (and says so), so a broken filter never sends leads to the wrong CRM.
 */
export function matchesFilter(filter: RouteFilter | null | undefined, lead: CanonicalLead, questions?: FormQuestion[]): FilterResult {
  if (filter === null || filter === undefined) return { matched: true };
  const parsed = routeFilterSchema.safeParse(filter);
  if (!parsed.success) return { matched: false, reason: 'filter is not valid' };
  try {
    const all = parsed.data.all ?? [];
    for (let i = 0; i < all.length; i++) {
      if (!holds(all[i], lead, questions)) return { matched: false, reason: `condition ${i + 1} (${describe(all[i])}) not met` };
    }
    const any = parsed.data.any ?? [];
    if (any.length > 0 && !any.some((c) => holds(c, lead, questions))) {
      return { matched: false, reason: `none of: ${any.map(describe).join('; ')}` };
    }
    return { matched: true };
  } catch {
    return { matched: false, reason: 'filter could not be evaluated' };
  }
}
