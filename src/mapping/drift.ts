// Form drift: a marketer can edit a form after it was mapped (Meta lets questions change;
// reference: meta-lead-ads.md edge case 7). A periodic job re-reads each routed form's
// questions and compares them with the ones the mapping was built from.
import type { FormQuestion, Mapping } from './schema.js';

type QuestionChange = 'label' | 'type' | 'options';

export interface QuestionDrift {
  added: FormQuestion[];
  removed: FormQuestion[];
  changed: { key: string; what: QuestionChange[] }[];
}

function byKey(questions: FormQuestion[]): Map<string, FormQuestion> {
  const out = new Map<string, FormQuestion>();
  for (const q of questions ?? []) if (q && typeof q.key === 'string' && !out.has(q.key)) out.set(q.key, q);
  return out;
}

/** Options as a set of key=value pairs: reordering options is not a change. */
function optionSignature(q: FormQuestion): string {
  return JSON.stringify((q.options ?? []).map((o) => [o.key, o.value]).sort((a, b) => (`${a[0]}\u0000${a[1]}` < `${b[0]}\u0000${b[1]}` ? -1 : 1)));
}

/** What changed between two readings of a form's questions, matched by question key. */
export function diffQuestions(before: FormQuestion[], after: FormQuestion[]): QuestionDrift {
  const old = byKey(before);
  const now = byKey(after);
  const drift: QuestionDrift = { added: [], removed: [], changed: [] };
  for (const [key, q] of now) if (!old.has(key)) drift.added.push(q);
  for (const [key, q] of old) if (!now.has(key)) drift.removed.push(q);
  for (const [key, q] of now) {
    const prev = old.get(key);
    if (!prev) continue;
    const what: QuestionChange[] = [];
    if ((prev.label ?? '') !== (q.label ?? '')) what.push('label');
    if (String(prev.type ?? '').toUpperCase() !== String(q.type ?? '').toUpperCase()) what.push('type');
    if (optionSignature(prev) !== optionSignature(q)) what.push('options');
    if (what.length > 0) drift.changed.push({ key, what });
  }
  return drift;
}

export function isDriftEmpty(drift: QuestionDrift): boolean {
  return drift.added.length === 0 && drift.removed.length === 0 && drift.changed.length === 0;
}

/**
 * The rules (0-based) a drift touches: rules reading a removed question, and rules reading a
 * question whose type or options changed. Added questions touch no rule (their answers go to
 * the unmapped note until someone maps them).
 */
export function findRulesAffectedByDrift(mapping: Mapping, drift: QuestionDrift): number[] {
  const removed = new Set(drift.removed.map((q) => q.key));
  const changed = new Set(drift.changed.filter((c) => c.what.some((w) => w !== 'label')).map((c) => c.key));
  const out: number[] = [];
  mapping.rules.forEach((rule, index) => {
    // A phone transform may read the country from another question.
    const countryKeys = (rule.transforms ?? []).flatMap((t) => (t.type === 'phone_e164' && t.defaultCountryFrom ? [t.defaultCountryFrom] : []));
    if (countryKeys.some((key) => removed.has(key) || changed.has(key))) {
      out.push(index);
      return;
    }
    if (rule.source.type !== 'answer') {
      if (rule.source.type === 'template') {
        const names = [...rule.source.template.matchAll(/\{\{([^{}|]*)(?:\|[^{}]*)?\}\}/g)].map((m) => m[1].trim().replace(/^answer\./, ''));
        if (names.some((n) => removed.has(n))) out.push(index);
      }
      return;
    }
    if (removed.has(rule.source.key) || changed.has(rule.source.key)) out.push(index);
  });
  return out;
}
