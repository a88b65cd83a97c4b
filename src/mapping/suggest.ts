// Auto-mapping: from a form's questions and a CRM's fields, propose a complete mapping.
// Standard question types go where the CRM's preset (the file its manifest names) says, custom
// questions go to the most similar field label, attribution goes to the preset's fields, and
// everything else lands in the unmapped note. The result is only a proposal: the marketer
// reviews it and validateMapping checks it before it is saved.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FieldDescriptor } from '../../connectors/types.js';
import { projectRoot } from '../config/env.js';
import { findQuestion, ruleOutputKind, rulePossibleValues } from './rule-analysis.js';
import { mappingPresetSchema, type FormQuestion, type Mapping, type MappingPreset, type MappingRule, type Transform } from './schema.js';
import { labelSimilarity } from './similarity.js';
import { truncateCodePoints } from './transforms.js';

const DEFAULT_SIMILARITY_THRESHOLD = 0.72;
/** How alike a form option and a picklist option must be to be paired in a value map. */
const OPTION_SIMILARITY_THRESHOLD = 0.8;

/**
 * Reads `config/mappings/<crm>.json`. Throws (a start-up or request boundary) naming the file
 * and the paths that are wrong.
 */
export function loadPreset(crm: string, root: string = projectRoot): MappingPreset {
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(crm)) throw new Error(`mapping preset name "${crm}" must be lower-case letters, digits, - or _`);
  return loadPresetFile(`config/mappings/${crm}.json`, root);
}

/**
 * Reads a mapping preset file, `relative` to the project root (a connector manifest's
 * `mappingPreset`). Throws naming the file and the paths that are wrong.
 */
export function loadPresetFile(relative: string, root: string = projectRoot): MappingPreset {
  let text: string;
  try {
    text = readFileSync(resolve(root, relative), 'utf8');
  } catch {
    throw new Error(`no mapping preset: ${relative} is missing`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${relative} is not valid JSON`);
  }
  const parsed = mappingPresetSchema.safeParse(raw);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`${relative} is not a valid mapping preset: ${where}`);
  }
  return parsed.data;
}

export interface SuggestOptions {
  /** Country for phone numbers without +country code (e.g. from the form's locale). */
  defaultCountry?: string;
  /**
   * The destination takes any key (its connector declares open targets): targets need not be
   * among `fields`, which then only describe keys with a known meaning. Default: the preset's
   * `mapAllByKey`.
   */
  openTargets?: boolean;
  /**
   * Fill each required field no question or preset rule fills with a placeholder rule, so the
   * proposal can be saved (default true). The delivery-time preset passes false: a delivery
   * never invents a value, and the CRM's refusal names the field.
   */
  fillRequired?: boolean;
}

/** A proposed mapping, and the required fields it fills with placeholders (to be reviewed). */
export interface MappingSuggestion {
  mapping: Mapping;
  placeholders: { rule: number; field: FieldDescriptor }[];
}

/** What a required text field no question fills gets (the words presets use for such fields too). */
export const PLACEHOLDER_TEXT = '[not provided]';

/** A rule that always writes something valid into a required field, or null when none can. */
function placeholderRule(field: FieldDescriptor): MappingRule | null {
  // A unique key must differ per lead: a constant would make every lead the same record.
  if ((field.isExternalId || field.type === 'id') && !isPicklist(field)) return { target: field.key, source: { type: 'meta', field: 'leadgen_id' } };
  switch (field.type) {
    case 'number':
      return { target: field.key, source: { type: 'constant', value: 0 } };
    case 'boolean':
      return { target: field.key, source: { type: 'constant', value: false } };
    case 'date':
      return { target: field.key, source: { type: 'meta', field: 'created_time' }, transforms: [{ type: 'date', format: 'date' }] };
    case 'datetime':
      return { target: field.key, source: { type: 'meta', field: 'created_time' } };
    case 'enum':
    case 'multienum': {
      const first = field.options?.find((o) => o.value.length > 0);
      if (field.options?.length) return first ? { target: field.key, source: { type: 'constant', value: first.value } } : null;
      break;
    }
    default:
      break;
  }
  const text = field.length ? truncateCodePoints(PLACEHOLDER_TEXT, field.length) : PLACEHOLDER_TEXT;
  return { target: field.key, source: { type: 'constant', value: text } };
}

const NOTE_FIELD_TYPES = new Set<FieldDescriptor['type']>(['string', 'text', 'other']);

/** The preset's standard type for a question: its own type, else the preset's alias for its key. */
export function standardTypeOf(question: FormQuestion, preset: MappingPreset): string | null {
  const type = String(question.type ?? '')
    .trim()
    .toUpperCase();
  if (type && Object.hasOwn(preset.standard, type)) return type;
  const aliases = preset.keyAliases ?? {};
  for (const key of [question.key, String(question.key ?? '').toLowerCase()]) {
    if (Object.hasOwn(aliases, key)) {
      const alias = aliases[key].toUpperCase();
      if (Object.hasOwn(preset.standard, alias)) return alias;
    }
  }
  return null;
}

/**
 * Pairs a form question's options with a picklist's options by label similarity. Keys and
 * labels both map (Meta may store either); values the map lacks are dropped at apply time and
 * so kept in the unmapped note. Null when no option pairs up.
 */
export function buildOptionValueMap(
  questionOptions: { key: string; value: string }[],
  fieldOptions: { value: string; label: string }[],
): Record<string, string> | null {
  const map: Record<string, string> = {};
  const keys = new Set(questionOptions.map((o) => o.key));
  for (const option of questionOptions) {
    let best: { value: string; score: number } | null = null;
    for (const fo of fieldOptions) {
      const score = Math.max(
        labelSimilarity(option.value, fo.label),
        labelSimilarity(option.value, fo.value),
        labelSimilarity(option.key, fo.value),
        labelSimilarity(option.key, fo.label),
      );
      if (score >= OPTION_SIMILARITY_THRESHOLD && (!best || score > best.score)) best = { value: fo.value, score };
    }
    if (!best) continue;
    map[option.key] = best.value;
    if (option.value !== option.key && !keys.has(option.value)) map[option.value] = best.value;
  }
  return Object.keys(map).length > 0 ? map : null;
}

const isPicklist = (f: FieldDescriptor | undefined) => !!f && (f.type === 'enum' || f.type === 'multienum') && (f.options?.length ?? 0) > 0;

/** Conversions a field of this type needs from a free-text answer. */
function conversionsFor(field: FieldDescriptor | undefined, existing: Transform[]): Transform[] {
  if (!field) return [];
  const has = (type: Transform['type']) => existing.some((t) => t.type === type);
  switch (field.type) {
    case 'boolean':
      return has('boolean') ? [] : [{ type: 'boolean' }];
    case 'number':
      return has('number') ? [] : [{ type: 'number' }];
    case 'date':
      return has('date') ? [] : [{ type: 'date', format: 'date' }];
    case 'datetime':
      return has('date') ? [] : [{ type: 'date', format: 'iso' }];
    case 'phone':
      return has('phone_e164') ? [] : [{ type: 'phone_e164' }];
    default:
      return [];
  }
}

/**
 * Completes a rule for its field: a value map for picklists, the CRM's multi-value separator,
 * and a truncate to the field's length. Null when the rule cannot fit the field (free text
 * into a picklist).
 */
function fitRuleToField(rule: MappingRule, field: FieldDescriptor | undefined, questions: FormQuestion[], preset: MappingPreset): MappingRule | null {
  let transforms: Transform[] = [...(rule.transforms ?? [])];
  if (field && rule.source.type === 'answer') transforms.push(...conversionsFor(field, transforms));
  if (isPicklist(field)) {
    // Several values of a multi-select are joined with the CRM's separator: an option holding
    // that separator could not be told apart from two options, so it is never suggested.
    const separator = field!.type === 'multienum' ? preset.multiValueSeparator : undefined;
    const options = field!.options!.filter((o) => !separator || !o.value.includes(separator));
    if (options.length === 0) return null;
    const known = rulePossibleValues({ ...rule, transforms }, questions);
    const fits = known?.every((v) => options.some((o) => o.value === v));
    if (!fits) {
      const question = rule.source.type === 'answer' ? findQuestion(questions, rule.source.key) : undefined;
      const map = question?.options?.length ? buildOptionValueMap(question.options, options) : null;
      if (!map) return null;
      transforms = transforms.filter((t) => t.type !== 'value_map');
      transforms.push({ type: 'value_map', map, fallback: 'drop' });
    }
    if (field!.type === 'multienum' && preset.multiValueSeparator && !transforms.some((t) => t.type === 'join')) {
      transforms.push({ type: 'join', separator: preset.multiValueSeparator });
    }
  }
  const fitted: MappingRule = { ...rule, transforms };
  const kind = ruleOutputKind(fitted, questions);
  if (field?.length && !isPicklist(field) && (kind === 'text' || kind === 'email' || kind === 'phone')) {
    const known = rulePossibleValues(fitted, questions);
    const alwaysFits = known?.every((v) => Array.from(v).length <= field.length!);
    const hasShortEnough = transforms.some((t) => t.type === 'truncate' && t.length <= field.length!);
    if (!alwaysFits && !hasShortEnough) transforms.push({ type: 'truncate', length: field.length });
  }
  return transforms.length > 0 ? fitted : { target: rule.target, source: rule.source };
}

/** The rule with its phone transforms reading the country from question `key` first (their own default country stays the fallback). */
function withPhoneCountryFrom(rule: MappingRule, key: string): MappingRule {
  if (!rule.transforms?.some((t) => t.type === 'phone_e164' && !t.defaultCountryFrom)) return rule;
  return {
    ...rule,
    transforms: rule.transforms.map((t) => (t.type === 'phone_e164' && !t.defaultCountryFrom ? { ...t, defaultCountryFrom: key } : t)),
  };
}

/**
 * Proposes a mapping. Targets must exist among `fields` (when `fields` is empty — a CRM not yet
 * connected — or the destination takes any key, the preset's targets are taken as they are).
 * Two questions never share a target.
 */
export function suggestMapping(
  crm: string,
  questions: FormQuestion[],
  fields: FieldDescriptor[],
  preset: MappingPreset = loadPreset(crm),
  options: SuggestOptions = {},
): Mapping {
  return proposeMapping(crm, questions, fields, preset, options).mapping;
}

/** suggestMapping, also naming the required fields it could only fill with placeholders. */
export function proposeMapping(
  crm: string,
  questions: FormQuestion[],
  fields: FieldDescriptor[],
  preset: MappingPreset = loadPreset(crm),
  options: SuggestOptions = {},
): MappingSuggestion {
  const uniqueQuestions: FormQuestion[] = [];
  const seen = new Set<string>();
  for (const q of questions ?? []) {
    if (!q || typeof q.key !== 'string' || seen.has(q.key)) continue;
    seen.add(q.key);
    uniqueQuestions.push(q);
  }
  const fieldByKey = new Map(fields.map((f) => [f.key, f]));
  const isOpen = options.openTargets ?? preset.mapAllByKey ?? false;
  const isKnown = (target: string) => fields.length === 0 || isOpen || fieldByKey.has(target);
  const usedTargets = new Set<string>();
  const mappedQuestions = new Set<string>();
  const questionRules: MappingRule[] = [];

  const addQuestionRule = (question: FormQuestion, target: string, transforms: Transform[] | undefined): boolean => {
    if (target.length === 0 || usedTargets.has(target) || !isKnown(target)) return false;
    const base: MappingRule = { target, source: { type: 'answer', key: question.key }, ...(transforms?.length ? { transforms } : {}) };
    const fitted = fitRuleToField(base, fieldByKey.get(target), uniqueQuestions, preset);
    if (!fitted) return false;
    questionRules.push(fitted);
    usedTargets.add(target);
    return true;
  };

  if (preset.mapAllByKey) {
    for (const q of uniqueQuestions) if (addQuestionRule(q, q.key, undefined)) mappedQuestions.add(q.key);
  } else {
    // Standard questions, in the preset's order of types (EMAIL before WORK_EMAIL takes `email`).
    for (const type of Object.keys(preset.standard)) {
      for (const q of uniqueQuestions) {
        if (mappedQuestions.has(q.key) || standardTypeOf(q, preset) !== type) continue;
        let isMapped = false;
        for (const target of preset.standard[type]) if (addQuestionRule(q, target.target, target.transforms)) isMapped = true;
        if (isMapped) mappedQuestions.add(q.key);
      }
    }
  }

  // Attribution and fallbacks: kept only where the target exists and its values fit.
  const extraRules: MappingRule[] = [];
  for (const rule of preset.extraRules ?? []) {
    if (!isKnown(rule.target)) continue;
    const fitted = fitRuleToField(rule, fieldByKey.get(rule.target), uniqueQuestions, preset);
    if (fitted) extraRules.push(fitted);
  }
  const reserved = new Set<string>([...usedTargets, ...extraRules.map((r) => r.target)]);
  if (preset.unmapped) reserved.add(preset.unmapped.target);

  // Custom questions: best label match first, each field at most once.
  if (!preset.mapAllByKey && fields.length > 0) {
    const threshold = preset.similarityThreshold ?? DEFAULT_SIMILARITY_THRESHOLD;
    const candidates = fields.filter((f) => !reserved.has(f.key) && f.type !== 'id' && !f.isExternalId);
    const pairs: { question: FormQuestion; field: FieldDescriptor; score: number }[] = [];
    for (const q of uniqueQuestions) {
      if (mappedQuestions.has(q.key)) continue;
      for (const f of candidates) {
        const score = Math.max(
          labelSimilarity(q.label, f.label),
          labelSimilarity(q.label, f.key),
          labelSimilarity(q.key, f.label),
          labelSimilarity(q.key, f.key),
        );
        if (score >= threshold) pairs.push({ question: q, field: f, score });
      }
    }
    pairs.sort((a, b) => b.score - a.score);
    for (const { question, field } of pairs) {
      if (mappedQuestions.has(question.key) || usedTargets.has(field.key)) continue;
      const transforms: Transform[] = [...(preset.customTransforms ?? [{ type: 'trim' }])];
      if (addQuestionRule(question, field.key, transforms)) mappedQuestions.add(question.key);
    }
  }

  // A form that asks for the country: phone numbers typed without +country code are read with it.
  const withKey = uniqueQuestions.filter((q) => q.key.length > 0);
  const countryQuestion =
    withKey.find((q) => String(q.type ?? '').toUpperCase() === 'COUNTRY' || standardTypeOf(q, preset) === 'COUNTRY') ??
    withKey.find((q) => q.key.toLowerCase() === 'country');
  const rules = [...questionRules, ...extraRules].map((rule) => (countryQuestion ? withPhoneCountryFrom(rule, countryQuestion.key) : rule));

  // The note goes to the preset's field unless the CRM has that field with a type that cannot
  // hold text; then the connector gets the note on its own (DeliveryRecord.unmappedNote).
  const noteField = preset.unmapped ? fieldByKey.get(preset.unmapped.target) : undefined;
  const unmapped = preset.unmapped && (!noteField || NOTE_FIELD_TYPES.has(noteField.type)) ? { ...preset.unmapped } : null;

  const placeholders: MappingSuggestion['placeholders'] = [];
  if (options.fillRequired !== false) {
    for (const field of fields) {
      if (!field.required || field.key === unmapped?.target || rules.some((r) => r.target === field.key)) continue;
      const rule = placeholderRule(field);
      if (!rule) continue;
      placeholders.push({ rule: rules.length, field });
      rules.push(rule);
    }
  }

  const mapping: Mapping = { version: 1, rules, unmapped };
  const country = options.defaultCountry ?? preset.defaultCountry;
  if (country) mapping.defaultCountry = country;
  return { mapping, placeholders };
}
