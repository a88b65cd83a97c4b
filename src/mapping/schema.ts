// The field mapping: an ordered list of rules `CRM field ← source → transforms`, plus where the
// answers no rule took go. Stored as JSON on a route's destination, so every shape here is a zod
// schema with its inferred type beside it.
import { z } from 'zod';

/** Lead metadata a rule can read. `lead_source` is computed from `platform` (see apply.ts). */
export const META_FIELDS = [
  'created_time',
  'received_at',
  'form_id',
  'form_name',
  'page_id',
  'page_name',
  'ad_id',
  'ad_name',
  'adset_id',
  'adset_name',
  'campaign_id',
  'campaign_name',
  'platform',
  'is_organic',
  'is_test',
  'leadgen_id',
  'lead_id',
  'lead_source',
] as const;
const metaFieldSchema = z.enum(META_FIELDS);
export type MetaField = z.infer<typeof metaFieldSchema>;

/** ISO 3166-1 alpha-2, upper case (what libphonenumber-js calls a CountryCode). */
const countryCodeSchema = z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code such as GB');

const mappingSourceSchema = z.discriminatedUnion('type', [
  /** A form answer, by question key (`field_data[].name`). */
  z.object({ type: z.literal('answer'), key: z.string() }),
  z.object({ type: z.literal('meta'), field: metaFieldSchema }),
  /** A consent checkbox from `custom_disclaimer_responses`, by `checkbox_key`. */
  z.object({ type: z.literal('consent'), key: z.string() }),
  z.object({ type: z.literal('constant'), value: z.union([z.string(), z.number(), z.boolean()]) }),
  /**
   * Text with `{{placeholder}}`s: `{{campaign_name}}` (a meta field, else an answer key),
   * `{{answer.key}}`, `{{meta.field}}`, `{{consent.key}}`, each with an optional fallback
   * after `|`: `{{campaign_name|organic}}`.
   */
  z.object({ type: z.literal('template'), template: z.string() }),
]);
export type MappingSource = z.infer<typeof mappingSourceSchema>;

const NAME_ORDERS = ['auto', 'given_first', 'family_first'] as const;
const DATE_FORMATS = ['iso', 'date', 'epoch_ms', 'us', 'eu'] as const;

const transformSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('trim') }),
  z.object({ type: z.literal('lower') }),
  z.object({ type: z.literal('upper') }),
  /**
   * Parts of a full name. `auto` reads CJK names family-name-first and everything else
   * given-name-first; `family_first` is for locales such as Hungarian or Vietnamese forms.
   */
  z.object({ type: z.literal('first_name'), order: z.enum(NAME_ORDERS).optional() }),
  z.object({ type: z.literal('last_name'), order: z.enum(NAME_ORDERS).optional() }),
  /**
   * E.164 (libphonenumber-js). A number typed without +country code is read with, in order: the
   * country answered in question `defaultCountryFrom` (an ISO code or a country name), then
   * `defaultCountry`, then the mapping's default country.
   */
  z.object({ type: z.literal('phone_e164'), defaultCountry: countryCodeSchema.optional(), defaultCountryFrom: z.string().min(1).optional() }),
  /**
   * `iso` = 2026-11-20T10:15:00.000Z, `date` = 2026-11-20, `epoch_ms` = a number,
   * `us` = 11/20/2026, `eu` = 20/11/2026 (all in UTC). `inputOrder` says how to read an
   * ambiguous `01/02/2026` answer (default month first, as Meta's US forms write it).
   */
  z.object({ type: z.literal('date'), format: z.enum(DATE_FORMATS), inputOrder: z.enum(['mdy', 'dmy']).optional() }),
  z.object({ type: z.literal('boolean') }),
  /** Parses a numeric answer (`"1 200,50"`, `"42"`) into a number. */
  z.object({ type: z.literal('number') }),
  /** Form option key or label → CRM value. `fallback` says what happens to values the map lacks. */
  z.object({
    type: z.literal('value_map'),
    map: z.record(z.string(), z.string()),
    fallback: z.enum(['keep', 'drop']).optional(),
  }),
  z.object({ type: z.literal('join'), separator: z.string() }),
  /** Keeps only the first of several values (the only way a multi-value answer is narrowed). */
  z.object({ type: z.literal('first') }),
  /** Cuts to at most `length` code points (never splits a surrogate pair). */
  z.object({ type: z.literal('truncate'), length: z.number().int().positive() }),
]);
export type Transform = z.infer<typeof transformSchema>;

const mappingRuleSchema = z.object({
  /** The CRM field key. Several rules may target one field: the first non-empty value wins. */
  target: z.string().min(1),
  source: mappingSourceSchema,
  transforms: z.array(transformSchema).optional(),
});
export type MappingRule = z.infer<typeof mappingRuleSchema>;

const unmappedTargetSchema = z.object({
  target: z.string().min(1),
  /** Write question labels (default) or question keys before each answer. */
  includeLabels: z.boolean().optional(),
});

export const mappingSchema = z.object({
  version: z.literal(1),
  rules: z.array(mappingRuleSchema),
  unmapped: unmappedTargetSchema.nullable().optional(),
  /** Country used to read phone numbers written without a +country code. */
  defaultCountry: countryCodeSchema.optional(),
});
export type Mapping = z.infer<typeof mappingSchema>;

/** A form question as `GET /{form_id}?fields=questions` returns it (type is an open string). */
export const formQuestionSchema = z.object({
  key: z.string(),
  label: z.string(),
  type: z.string(),
  options: z.array(z.object({ key: z.string(), value: z.string() })).optional(),
});
export type FormQuestion = z.infer<typeof formQuestionSchema>;

/** One CRM target a standard question type fills, e.g. FULL_NAME → firstname (first_name). */
const presetTargetSchema = z.object({
  target: z.string().min(1),
  transforms: z.array(transformSchema).optional(),
});

/**
 * The per-CRM defaults in `config/mappings/<crm>.json`, so an operator can change them
 * without code.
 */
export const mappingPresetSchema = z.object({
  crm: z.string().min(1),
  description: z.string().optional(),
  /** Standard question type (`EMAIL`, `FULL_NAME`, …) → the CRM fields it fills, in priority order. */
  standard: z.record(z.string(), z.array(presetTargetSchema)),
  /** Question key → standard type, for standard questions whose type Meta reports as CUSTOM. */
  keyAliases: z.record(z.string(), z.string()).optional(),
  /** Attribution and fallback rules appended after the question rules (only if their target exists). */
  extraRules: z.array(mappingRuleSchema).optional(),
  unmapped: unmappedTargetSchema.nullable(),
  defaultCountry: countryCodeSchema.optional(),
  /** Transforms for custom questions matched by label similarity. */
  customTransforms: z.array(transformSchema).optional(),
  /**
   * How this CRM wants several values in one multi-select field, e.g. `;` (the preset that sets it
   * says where the CRM documents it).
   */
  multiValueSeparator: z.string().optional(),
  /** Minimum label similarity (0..1) for auto-mapping a custom question. */
  similarityThreshold: z.number().min(0).max(1).optional(),
  /** Map every question to a target named like its key (the generic webhook). */
  mapAllByKey: z.boolean().optional(),
});
export type MappingPreset = z.infer<typeof mappingPresetSchema>;

export type MappingParseResult = { ok: true; mapping: Mapping } | { ok: false; errors: string[] };

/** Parses a stored mapping; the errors name the path that was wrong, never a lead value. */
export function parseMapping(raw: unknown): MappingParseResult {
  const parsed = mappingSchema.safeParse(raw);
  if (parsed.success) return { ok: true, mapping: parsed.data };
  return { ok: false, errors: parsed.error.issues.map((i) => `${i.path.join('.') || '(mapping)'}: ${i.message}`) };
}
