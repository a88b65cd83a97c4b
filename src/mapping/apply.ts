// Runs a mapping against one lead: each rule reads its source, runs its transforms and fills
// its CRM field; every answer no rule fully took goes into the unmapped note, so no answer is
// ever lost. Pure and total: it never throws, whatever the lead holds (Meta's field_data can
// carry empty or several values, odd keys and option keys instead of labels; reference:
// meta-lead-ads.md edge case 7).
import type { CanonicalLead } from '../lead/canonical.js';
import { META_FIELDS, type FormQuestion, type Mapping, type MappingRule, type MappingSource, type MetaField, type Transform } from './schema.js';
import { applyTransform, isEmptyValue, parseBooleanish, toFieldValue, toText, type FieldValue, type MappedValue } from './transforms.js';

export interface MappingContext {
  /** The form's questions: labels for the note, and options to turn option keys into labels. */
  questions?: FormQuestion[];
  /** Human labels for consent checkboxes (`checkbox_key` → text), for the note. */
  consentLabels?: Record<string, string>;
  /** Country for phone numbers when neither the transform nor the mapping names one. */
  defaultCountry?: string;
}

export interface MappingOutput {
  /** CRM field key → value. Rules that produced nothing leave their field out (an upsert must not blank it). */
  fields: Record<string, FieldValue>;
  /** The answers (and consents) no rule took, one `Label: value, value` line each; null when none. */
  unmappedNote: string | null;
  /** Answer keys that went to the note (including answered-but-empty ones). */
  unmappedKeys: string[];
  /** Consent keys no rule took (they are in the note as `Consent key: yes|no`). */
  unmappedConsentKeys: string[];
  /** What a person should look at. Never contains an answer value. */
  warnings: string[];
}

export const LEAD_SOURCE_FACEBOOK = 'Facebook Lead Ads';
export const LEAD_SOURCE_INSTAGRAM = 'Instagram Lead Ads';

/** `lead_source` for a platform: `ig` → Instagram Lead Ads, anything else → Facebook Lead Ads. */
export function leadSourceForPlatform(platform: string | null | undefined): string {
  const p = typeof platform === 'string' ? platform.trim().toLowerCase() : '';
  return p === 'ig' || p === 'instagram' ? LEAD_SOURCE_INSTAGRAM : LEAD_SOURCE_FACEBOOK;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null);

/** Reads one metadata field; null when the lead does not carry it (organic leads have no ad fields). */
export function readMetaField(lead: CanonicalLead, field: MetaField): string | boolean | null {
  const a = (lead?.attribution ?? {}) as Partial<CanonicalLead['attribution']>;
  switch (field) {
    case 'created_time':
      return str(lead?.created_time);
    case 'received_at':
      return str(lead?.received_at);
    case 'form_id':
      return str(lead?.form?.id);
    case 'form_name':
      return str(lead?.form?.name);
    case 'page_id':
      return str(lead?.page?.id);
    case 'page_name':
      return str(lead?.page?.name);
    case 'ad_id':
    case 'ad_name':
    case 'adset_id':
    case 'adset_name':
    case 'campaign_id':
    case 'campaign_name':
      return str(a[field]);
    case 'platform':
      return str(lead?.platform);
    case 'is_organic':
      return typeof lead?.is_organic === 'boolean' ? lead.is_organic : null;
    case 'is_test':
      return typeof lead?.is_test === 'boolean' ? lead.is_test : null;
    case 'leadgen_id':
      return str(lead?.leadgen_id);
    case 'lead_id':
      return str(lead?.id);
    case 'lead_source':
      return leadSourceForPlatform(lead?.platform);
    default:
      return null;
  }
}

const META_FIELD_SET = new Set<string>(META_FIELDS);

interface Answer {
  key: string;
  values: string[];
}

/** The lead's answers grouped by key (a repeated key keeps all its values, in order). */
function collectAnswers(lead: CanonicalLead): Map<string, Answer> {
  const out = new Map<string, Answer>();
  const list: unknown = lead?.answers;
  if (!Array.isArray(list)) return out;
  for (const item of list) {
    if (!item || typeof item !== 'object') continue;
    const rawKey = (item as { key?: unknown }).key;
    const key = typeof rawKey === 'string' ? rawKey : rawKey === undefined || rawKey === null ? '' : String(rawKey);
    const rawValues = (item as { values?: unknown }).values;
    const values = (Array.isArray(rawValues) ? rawValues : rawValues === undefined || rawValues === null ? [] : [rawValues]).map((v) =>
      typeof v === 'string' ? v : v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v),
    );
    const existing = out.get(key);
    if (existing) existing.values.push(...values);
    else out.set(key, { key, values });
  }
  return out;
}

/** Consent answers by key. `checked` may arrive as "1"/"" strings from Graph; read it leniently. */
function collectConsents(lead: CanonicalLead): Map<string, boolean | null> {
  const out = new Map<string, boolean | null>();
  const list: unknown = lead?.consents;
  if (!Array.isArray(list)) return out;
  for (const item of list) {
    if (!item || typeof item !== 'object') continue;
    const rawKey = (item as { key?: unknown }).key;
    const key = typeof rawKey === 'string' ? rawKey : String(rawKey ?? '');
    if (!out.has(key)) out.set(key, parseBooleanish((item as { checked?: unknown }).checked));
  }
  return out;
}

function indexQuestions(questions: FormQuestion[] | undefined): Map<string, FormQuestion> {
  const out = new Map<string, FormQuestion>();
  if (!Array.isArray(questions)) return out;
  for (const q of questions) if (q && typeof q.key === 'string' && !out.has(q.key)) out.set(q.key, q);
  return out;
}

/**
 * Turns stored option keys into their labels (Meta may store a multiple-choice answer as the
 * option key; the form's `questions[].options[{key, value}]` pair them up:
 * https://developers.facebook.com/docs/marketing-api/reference/lead-gen-question-option/ ;
 * reference: meta-lead-ads.md §6). A value a value map knows is left alone, and so is a value
 * that already is one of the labels.
 */
export function resolveOptionKeys(values: string[], question: FormQuestion | undefined, keepKeys?: Set<string>): string[] {
  const options = Array.isArray(question?.options) ? question.options : [];
  if (options.length === 0) return values;
  return values.map((v) => {
    if (keepKeys?.has(v)) return v;
    const byKey = options.find((o) => o && o.key === v);
    if (!byKey) return v;
    if (options.some((o) => o && o.value === v)) return v;
    return typeof byKey.value === 'string' ? byKey.value : v;
  });
}

function valueMapKeys(transforms: Transform[] | undefined): Set<string> {
  const keys = new Set<string>();
  for (const t of transforms ?? []) if (t.type === 'value_map' && t.map) for (const k of Object.keys(t.map)) keys.add(k);
  return keys;
}

const PLACEHOLDER = /\{\{([^{}|]*)(?:\|([^{}]*))?\}\}/g;

interface LeadView {
  lead: CanonicalLead;
  answers: Map<string, Answer>;
  consents: Map<string, boolean | null>;
  questions: Map<string, FormQuestion>;
}

function answerText(view: LeadView, key: string): string {
  const answer = view.answers.get(key);
  return answer ? toText(resolveOptionKeys(answer.values, view.questions.get(key))) : '';
}

/** Fills `{{…}}` placeholders; an unknown or empty one becomes its fallback or ''. */
function renderTemplate(template: string, view: LeadView): string {
  return template.replace(PLACEHOLDER, (_all, rawName: string, fallback: string | undefined) => {
    const name = rawName.trim();
    let text = '';
    if (name.startsWith('answer.')) text = answerText(view, name.slice('answer.'.length));
    else if (name.startsWith('consent.')) {
      const c = view.consents.get(name.slice('consent.'.length));
      text = c === undefined || c === null ? '' : c ? 'yes' : 'no';
    } else if (name.startsWith('meta.') && META_FIELD_SET.has(name.slice(5))) text = toText(readMetaField(view.lead, name.slice(5) as MetaField));
    else if (META_FIELD_SET.has(name)) text = toText(readMetaField(view.lead, name as MetaField));
    else text = answerText(view, name);
    return text.length > 0 ? text : (fallback ?? '').trim();
  });
}

function readSource(source: MappingSource, view: LeadView, keepKeys: Set<string>): MappedValue {
  switch (source.type) {
    case 'answer': {
      const answer = view.answers.get(source.key);
      if (!answer) return null;
      return resolveOptionKeys([...answer.values], view.questions.get(source.key), keepKeys);
    }
    case 'meta':
      return readMetaField(view.lead, source.field);
    case 'consent': {
      const c = view.consents.get(source.key);
      return c === undefined ? null : c;
    }
    case 'constant':
      return source.value;
    case 'template':
      return renderTemplate(String(source.template ?? ''), view);
    default:
      return null;
  }
}

interface RuleOutcome {
  key: string;
  /** The answer was blank: nothing to lose. */
  isSourceEmpty: boolean;
  /** Everything the rule read is in the record (or, for a name part, that part is). */
  isCovered: boolean;
  namePart: 'first' | 'last' | null;
}

function namePartOf(transforms: Transform[] | undefined): 'first' | 'last' | null {
  let part: 'first' | 'last' | null = null;
  for (const t of transforms ?? [])
    if (t.type === 'first_name') part = 'first';
    else if (t.type === 'last_name') part = 'last';
  return part;
}

/** True when the rules that read an answer kept all of it in the record. */
function isAnswerConsumed(outcomes: RuleOutcome[]): boolean {
  if (outcomes.some((o) => o.isSourceEmpty)) return true;
  const covered = outcomes.filter((o) => o.isCovered);
  if (covered.some((o) => o.namePart === null)) return true;
  // A name split into two fields is whole only when both halves are in the record.
  return covered.some((o) => o.namePart === 'first') && covered.some((o) => o.namePart === 'last');
}

function setField(fields: Record<string, FieldValue>, key: string, value: FieldValue): void {
  // defineProperty, so a target such as `__proto__` is an ordinary key, not a prototype change.
  Object.defineProperty(fields, key, { value, enumerable: true, writable: true, configurable: true });
}

function hasField(fields: Record<string, FieldValue>, key: string): boolean {
  return Object.hasOwn(fields, key);
}

/** Builds the note: one `Label: value, value` line per answer, then `Consent key: yes|no` lines. */
function buildNote(
  view: LeadView,
  answerKeys: string[],
  consentKeys: string[],
  includeLabels: boolean,
  consentLabels: Record<string, string> | undefined,
): string | null {
  const lines: string[] = [];
  for (const key of answerKeys) {
    const answer = view.answers.get(key);
    if (!answer) continue;
    const values = resolveOptionKeys(answer.values, view.questions.get(key)).filter((v) => v.trim().length > 0);
    if (values.length === 0) continue;
    const label = includeLabels ? view.questions.get(key)?.label?.trim() || key : key;
    lines.push(`${label}: ${values.join(', ')}`);
  }
  for (const key of consentKeys) {
    const checked = view.consents.get(key);
    const label = includeLabels && consentLabels && Object.hasOwn(consentLabels, key) && consentLabels[key]?.trim() ? consentLabels[key].trim() : key;
    lines.push(`Consent ${label}: ${checked === true ? 'yes' : checked === false ? 'no' : 'unknown'}`);
  }
  return lines.length > 0 ? lines.join('\n') : null;
}

/** An answer's raw values, then the option labels they stand for (a country may be stored as an option key). */
function answerValuesWithLabels(view: LeadView, key: string): string[] {
  const answer = view.answers.get(key);
  if (!answer) return [];
  const labels = resolveOptionKeys(answer.values, view.questions.get(key));
  return [...new Set([...answer.values, ...labels])];
}

function runRule(
  rule: MappingRule,
  view: LeadView,
  defaultCountry: string | undefined,
  warn: (m: string) => void,
): { value: MappedValue; isLossy: boolean; isSourceEmpty: boolean } {
  const transforms = Array.isArray(rule.transforms) ? rule.transforms : [];
  let value = readSource(rule.source, view, valueMapKeys(transforms));
  const isSourceEmpty = isBlankValue(value);
  let isLossy = false;
  const env = { defaultCountry, warn, markLossy: () => (isLossy = true), readAnswer: (key: string) => answerValuesWithLabels(view, key) };
  for (const t of transforms) value = applyTransform(value, t, env);
  // Something became nothing: lost, unless it is the empty last name of a one-word name.
  if (!isSourceEmpty && isEmptyValue(value) && namePartOf(transforms) === null) isLossy = true;
  return { value, isLossy, isSourceEmpty };
}

function isBlankValue(value: MappedValue): boolean {
  if (typeof value === 'string') return value.trim().length === 0;
  if (Array.isArray(value)) return value.every((v) => v.trim().length === 0);
  return isEmptyValue(value);
}

/**
 * Applies a mapping to a lead. Rules run in order; when several rules fill one field, the first
 * non-empty value wins, so a constant after an answer rule is a fallback. Never throws.
 */
export function applyMapping(mapping: Mapping, lead: CanonicalLead, ctx: MappingContext = {}): MappingOutput {
  const fields: Record<string, FieldValue> = {};
  const warnings: string[] = [];
  const view: LeadView = {
    lead,
    answers: new Map(),
    consents: new Map(),
    questions: new Map(),
  };
  const outcomes = new Map<string, RuleOutcome[]>();
  const usedConsents = new Set<string>();
  try {
    view.answers = collectAnswers(lead);
    view.consents = collectConsents(lead);
    view.questions = indexQuestions(ctx?.questions);
  } catch {
    warnings.push('the lead could not be read completely');
  }
  const rules: MappingRule[] = Array.isArray(mapping?.rules) ? mapping.rules : [];
  const defaultCountry = mapping?.defaultCountry ?? ctx?.defaultCountry;

  rules.forEach((rule, index) => {
    const target = typeof rule?.target === 'string' ? rule.target : '';
    const prefix = `rule ${index + 1} (${target || 'no target'})`;
    const source = rule?.source;
    const answerKey = source?.type === 'answer' ? String(source.key) : null;
    const record = (o: Omit<RuleOutcome, 'key'>) => {
      if (answerKey === null) return;
      const list = outcomes.get(answerKey) ?? [];
      list.push({ key: answerKey, ...o });
      outcomes.set(answerKey, list);
    };
    try {
      if (!target || !source) {
        warnings.push(`${prefix}: rule has no target or source; skipped`);
        return;
      }
      const result = runRule(rule, view, defaultCountry, (m) => warnings.push(`${prefix}: ${m}`));
      const value = toFieldValue(result.value);
      const isWritten = value !== null && !hasField(fields, target);
      if (isWritten) setField(fields, target, value);
      if (source.type === 'consent' && isWritten) usedConsents.add(String(source.key));
      const namePart = namePartOf(rule.transforms);
      const isCovered = !result.isLossy && (value === null ? namePart !== null : isWritten);
      record({ isSourceEmpty: result.isSourceEmpty, isCovered, namePart });
    } catch {
      // A transform bug must not lose the lead: the answer stays unconsumed and lands in the note.
      warnings.push(`${prefix}: could not be applied; skipped`);
    }
  });

  const unmappedKeys: string[] = [];
  for (const key of view.answers.keys()) {
    const list = outcomes.get(key);
    if (!list || !isAnswerConsumed(list)) unmappedKeys.push(key);
  }
  const unmappedConsentKeys = [...view.consents.keys()].filter((k) => !usedConsents.has(k));

  let unmappedNote: string | null = null;
  try {
    const includeLabels = mapping?.unmapped?.includeLabels !== false;
    unmappedNote = buildNote(view, unmappedKeys, unmappedConsentKeys, includeLabels, ctx?.consentLabels);
  } catch {
    warnings.push('the unmapped note could not be built');
  }
  const noteTarget = mapping?.unmapped?.target;
  if (unmappedNote !== null && typeof noteTarget === 'string' && noteTarget.length > 0) {
    const existing = hasField(fields, noteTarget) ? fields[noteTarget] : null;
    setField(fields, noteTarget, existing === null || existing === '' ? unmappedNote : `${String(existing)}\n\n${unmappedNote}`);
  }
  return { fields, unmappedNote, unmappedKeys, unmappedConsentKeys, warnings };
}
