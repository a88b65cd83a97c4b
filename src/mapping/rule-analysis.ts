// Static facts about a rule, without a lead: what kind of value it produces, and — when the
// set is finite (a constant, a picklist question, a value map, lead_source) — exactly which
// values. Validation and auto-mapping both use these to check picklists and lengths.
import { LEAD_SOURCE_FACEBOOK, LEAD_SOURCE_INSTAGRAM } from './apply.js';
import type { FormQuestion, MappingRule, Transform } from './schema.js';
import { applyTransform, toFieldValue, type MappedValue } from './transforms.js';

export type ValueKind = 'text' | 'email' | 'phone' | 'number' | 'boolean' | 'date' | 'datetime';

const EMAIL_TYPES = new Set(['EMAIL', 'WORK_EMAIL']);
const PHONE_TYPES = new Set(['PHONE', 'WORK_PHONE_NUMBER', 'PHONE_OTP', 'WHATSAPP_NUMBER', 'MOBILE_PHONE']);

function sourceKind(rule: MappingRule, question: FormQuestion | undefined): ValueKind {
  const s = rule.source;
  switch (s.type) {
    case 'answer': {
      const type = (question?.type ?? '').toUpperCase();
      if (EMAIL_TYPES.has(type)) return 'email';
      if (PHONE_TYPES.has(type)) return 'phone';
      return 'text';
    }
    case 'meta':
      if (s.field === 'created_time' || s.field === 'received_at') return 'datetime';
      if (s.field === 'is_organic' || s.field === 'is_test') return 'boolean';
      return 'text';
    case 'consent':
      return 'boolean';
    case 'constant':
      return typeof s.value === 'number' ? 'number' : typeof s.value === 'boolean' ? 'boolean' : 'text';
    case 'template':
      return 'text';
  }
}

/** The kind of value a rule writes, after its transforms. */
export function ruleOutputKind(rule: MappingRule, questions?: FormQuestion[]): ValueKind {
  const question = rule.source.type === 'answer' ? findQuestion(questions, rule.source.key) : undefined;
  let kind = sourceKind(rule, question);
  for (const t of rule.transforms ?? []) kind = kindAfter(kind, t);
  return kind;
}

function kindAfter(kind: ValueKind, t: Transform): ValueKind {
  switch (t.type) {
    case 'boolean':
      return 'boolean';
    case 'number':
      return 'number';
    case 'phone_e164':
      return 'phone';
    case 'date':
      return t.format === 'epoch_ms' ? 'number' : t.format === 'iso' ? 'datetime' : t.format === 'date' ? 'date' : 'text';
    case 'first_name':
    case 'last_name':
    case 'value_map':
    case 'join':
      return 'text';
    case 'truncate':
    case 'trim':
    case 'lower':
    case 'upper':
    case 'first':
      return kind;
  }
}

export function findQuestion(questions: FormQuestion[] | undefined, key: string): FormQuestion | undefined {
  return Array.isArray(questions) ? questions.find((q) => q.key === key) : undefined;
}

function runStatic(value: MappedValue, transforms: Transform[] | undefined): string | null {
  let v = value;
  const env = { warn: () => undefined, markLossy: () => undefined };
  for (const t of transforms ?? []) v = applyTransform(v, t, env);
  const out = toFieldValue(v);
  return out === null ? null : String(out);
}

/**
 * Every value the rule can write, or null when that set is open (free text, names, dates…).
 * Each value is one picklist item: several values of one multi-choice answer are listed apart.
 */
export function rulePossibleValues(rule: MappingRule, questions?: FormQuestion[]): string[] | null {
  const s = rule.source;
  const transforms = (rule.transforms ?? []).filter((t) => t.type !== 'join');
  let candidates: MappedValue[];
  switch (s.type) {
    case 'constant':
      candidates = [s.value];
      break;
    case 'consent':
      candidates = [true, false];
      break;
    case 'meta':
      if (s.field === 'lead_source') candidates = [LEAD_SOURCE_FACEBOOK, LEAD_SOURCE_INSTAGRAM];
      else if (s.field === 'is_organic' || s.field === 'is_test') candidates = [true, false];
      else return null;
      break;
    case 'answer': {
      const question = findQuestion(questions, s.key);
      const valueMap = transforms.find((t): t is Extract<Transform, { type: 'value_map' }> => t.type === 'value_map');
      const options = question?.options ?? [];
      if (options.length > 0) {
        // Apply the same key → label resolution as apply.ts: a key the value map knows stays a key.
        candidates = options.map((o) => [valueMap && Object.hasOwn(valueMap.map, o.key) ? o.key : o.value]);
      } else if (valueMap && valueMap.fallback === 'drop') {
        candidates = Object.keys(valueMap.map).map((k) => [k]);
      } else {
        return null;
      }
      break;
    }
    case 'template':
      return null;
  }
  const out = new Set<string>();
  for (const c of candidates) {
    const v = runStatic(c, transforms);
    if (v !== null) out.add(v);
  }
  return [...out];
}

/** True when the rule writes a value for every lead (a non-empty constant, lead_source, ids). */
export function isRuleAlwaysFilled(rule: MappingRule): boolean {
  const s = rule.source;
  if (s.type === 'constant') return String(s.value).length > 0;
  if (s.type === 'meta') return ['lead_source', 'leadgen_id', 'lead_id', 'created_time', 'received_at', 'page_id', 'is_organic', 'is_test'].includes(s.field);
  if (s.type === 'template') return s.template.replace(/\{\{[^{}]*\}\}/g, '').trim().length > 0 || /\{\{[^{}|]*\|\s*[^{}\s][^{}]*\}\}/.test(s.template);
  return false;
}
