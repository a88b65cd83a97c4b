// The mapping editor's model: the Mapping format as the API documents it (components Mapping),
// words for its sources and transforms, and the pure edits the editor makes. The server stays the
// judge: every draft is previewed and validated by it.
import type { DestinationField, LeadForm, Mapping } from './setup-state';

export type Rule = Mapping['rules'][number];
export type Source = Rule['source'];
export type Transform = NonNullable<Rule['transforms']>[number];
export type Question = LeadForm['questions'][number];
type MetaField = Extract<Source, { type: 'meta' }>['field'];

/** The lead details a rule can read (besides answers), in words. */
const META_FIELD_LABELS: Record<MetaField, string> = {
  created_time: 'When the lead was made',
  received_at: 'When LeadRelay received it',
  form_id: 'Form id',
  form_name: 'Form name',
  page_id: 'Page id',
  page_name: 'Page name',
  ad_id: 'Ad id',
  ad_name: 'Ad name',
  adset_id: 'Ad set id',
  adset_name: 'Ad set name',
  campaign_id: 'Campaign id',
  campaign_name: 'Campaign name',
  platform: 'Platform (fb, ig)',
  is_organic: 'Organic (not from an ad)',
  is_test: 'Test lead',
  leadgen_id: 'Facebook lead id',
  lead_id: 'LeadRelay lead id',
  lead_source: 'Lead source (Facebook or Instagram Lead Ads)',
};

/** A source as one option id of the "From" picker. */
export function sourceKey(source: Source): string {
  switch (source.type) {
    case 'answer':
      return `answer:${source.key}`;
    case 'meta':
      return `meta:${source.field}`;
    case 'consent':
      return `consent:${source.key}`;
    default:
      return source.type;
  }
}

/** The source an option id stands for; a fixed value or template keeps what it held. */
export function sourceFromKey(key: string, previous: Source): Source {
  const [type, ...rest] = key.split(':');
  const value = rest.join(':');
  if (type === 'answer') return { type: 'answer', key: value };
  if (type === 'meta') return { type: 'meta', field: value as MetaField };
  if (type === 'consent') return { type: 'consent', key: value };
  if (type === 'template') return previous.type === 'template' ? previous : { type: 'template', template: '' };
  return previous.type === 'constant' ? previous : { type: 'constant', value: '' };
}

export interface SourceOption {
  id: string;
  label: string;
  description: string;
}

export function sourceOptions(questions: Question[], current: Source): SourceOption[] {
  const options: SourceOption[] = [
    ...questions.map((q) => ({ id: `answer:${q.key}`, label: q.label, description: 'form question' })),
    ...Object.entries(META_FIELD_LABELS).map(([field, label]) => ({ id: `meta:${field}`, label, description: 'lead detail' })),
    { id: 'constant', label: 'A fixed value', description: 'the same for every lead' },
    { id: 'template', label: 'A template', description: 'text with {{placeholders}}' },
  ];
  // A source the lists above lack (a consent box, a question the form no longer has) stays choosable.
  if (!options.some((o) => o.id === sourceKey(current)))
    options.unshift({ id: sourceKey(current), label: describeSource(current, questions), description: 'current' });
  return options;
}

export function describeSource(source: Source, questions: Question[]): string {
  switch (source.type) {
    case 'answer':
      return questions.find((q) => q.key === source.key)?.label ?? `Answer “${source.key}” (not on the form now)`;
    case 'meta':
      return META_FIELD_LABELS[source.field];
    case 'consent':
      return `Consent box “${source.key}”`;
    case 'constant':
      return `Fixed value “${String(source.value)}”`;
    case 'template':
      return `Template “${source.template}”`;
  }
}

const DATE_FORMATS = {
  iso: 'date and time (ISO)',
  date: 'date (2026-11-20)',
  epoch_ms: 'milliseconds since 1970',
  us: 'US date (11/20/2026)',
  eu: 'European date (20/11/2026)',
};
export type DateFormat = keyof typeof DATE_FORMATS;
export const DATE_FORMAT_OPTIONS = Object.entries(DATE_FORMATS).map(([id, label]) => ({ id, label }));

export function describeTransform(t: Transform): string {
  switch (t.type) {
    case 'trim':
      return 'Trim spaces';
    case 'lower':
      return 'Lower case';
    case 'upper':
      return 'Upper case';
    case 'first_name':
      return 'First name part';
    case 'last_name':
      return 'Last name part';
    case 'phone_e164':
      return `International phone format${t.defaultCountry ? ` (numbers without a country code: ${t.defaultCountry})` : ''}`;
    case 'date':
      return `As a ${DATE_FORMATS[t.format]}`;
    case 'boolean':
      return 'As yes/no';
    case 'number':
      return 'As a number';
    case 'value_map':
      return 'Translate answers to CRM values';
    case 'join':
      return `Join several answers with “${t.separator}”`;
    case 'first':
      return 'First answer only';
    case 'truncate':
      return `Cut to ${t.length} characters`;
  }
}

/** The transforms a person can add, each with a sensible start. */
export const TRANSFORM_CHOICES: { id: Transform['type']; label: string; make(field: DestinationField | undefined): Transform }[] = [
  { id: 'trim', label: 'Trim spaces', make: () => ({ type: 'trim' }) },
  { id: 'lower', label: 'Lower case', make: () => ({ type: 'lower' }) },
  { id: 'upper', label: 'Upper case', make: () => ({ type: 'upper' }) },
  { id: 'first_name', label: 'First name part', make: () => ({ type: 'first_name' }) },
  { id: 'last_name', label: 'Last name part', make: () => ({ type: 'last_name' }) },
  { id: 'phone_e164', label: 'International phone format', make: () => ({ type: 'phone_e164' }) },
  { id: 'date', label: 'As a date', make: () => ({ type: 'date', format: 'date' }) },
  { id: 'boolean', label: 'As yes/no', make: () => ({ type: 'boolean' }) },
  { id: 'number', label: 'As a number', make: () => ({ type: 'number' }) },
  { id: 'join', label: 'Join several answers', make: () => ({ type: 'join', separator: ', ' }) },
  { id: 'first', label: 'First answer only', make: () => ({ type: 'first' }) },
  { id: 'truncate', label: 'Cut to a length', make: (field) => ({ type: 'truncate', length: field?.length ?? 255 }) },
];

export function fieldDescription(f: DestinationField): string {
  return [f.type, f.required ? 'required' : null, f.options?.length ? `${f.options.length} choices` : null, f.length ? `up to ${f.length} characters` : null]
    .filter(Boolean)
    .join(' · ');
}

/** Required CRM fields no rule fills. */
export function missingRequiredFields(mapping: Mapping, fields: DestinationField[]): DestinationField[] {
  const targets = new Set([...mapping.rules.map((r) => r.target), ...(mapping.unmapped?.target ? [mapping.unmapped.target] : [])]);
  return fields.filter((f) => f.required && !targets.has(f.key));
}

/** Form questions no rule reads: their answers go into the unmapped note. */
export function unmappedQuestions(mapping: Mapping, questions: Question[]): Question[] {
  const read = new Set<string>();
  for (const r of mapping.rules) {
    if (r.source.type === 'answer') read.add(r.source.key);
    if (r.source.type === 'template') for (const m of r.source.template.matchAll(/\{\{\s*(?:answer\.)?([^}|\s]+)/g)) read.add(m[1]!);
  }
  return questions.filter((q) => !read.has(q.key));
}

export function replaceRule(mapping: Mapping, index: number, rule: Rule): Mapping {
  return { ...mapping, rules: mapping.rules.map((r, i) => (i === index ? rule : r)) };
}

export function removeRule(mapping: Mapping, index: number): Mapping {
  return { ...mapping, rules: mapping.rules.filter((_, i) => i !== index) };
}

/** A new rule: the first question no rule reads, to the first required field none fills (else the first free field). */
export function newRule(mapping: Mapping, questions: Question[], fields: DestinationField[]): Rule {
  const question = unmappedQuestions(mapping, questions)[0] ?? questions[0];
  const taken = new Set(mapping.rules.map((r) => r.target));
  const field = missingRequiredFields(mapping, fields)[0] ?? fields.find((f) => !taken.has(f.key)) ?? fields[0];
  return {
    target: field?.key ?? '',
    source: question ? { type: 'answer', key: question.key } : { type: 'constant', value: '' },
    transforms: [{ type: 'trim' }],
  };
}

/** The rule's value map (form option → CRM value), if it has one. */
export function valueMapOf(rule: Rule): Record<string, string> {
  const t = rule.transforms?.find((x) => x.type === 'value_map');
  return t?.type === 'value_map' ? t.map : {};
}

/** Sets one form option's CRM value ('' removes it), adding a value map transform when there is none. */
export function setValueMapEntry(rule: Rule, optionKey: string, value: string): Rule {
  const transforms = [...(rule.transforms ?? [])];
  const at = transforms.findIndex((t) => t.type === 'value_map');
  const map = { ...valueMapOf(rule) };
  if (value === '') delete map[optionKey];
  else map[optionKey] = value;
  const next: Transform = { type: 'value_map', map, fallback: 'keep' };
  if (at >= 0) {
    const existing = transforms[at];
    transforms[at] = existing?.type === 'value_map' ? { ...existing, map } : next;
  } else transforms.push(next);
  return { ...rule, transforms };
}

/** The questions a rule reads and their options (a value map applies to those). */
export function questionOf(rule: Rule, questions: Question[]): Question | undefined {
  return rule.source.type === 'answer' ? questions.find((q) => q.key === (rule.source as { key: string }).key) : undefined;
}

/** A value the preview shows: text as is, everything else as JSON. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** `body.mapping.rules.3.target` → 3: the rule a server error is about. */
export function ruleIndexOfField(field: string): number | null {
  const m = /mapping\.rules\.(\d+)/.exec(field);
  return m ? Number(m[1]) : null;
}
