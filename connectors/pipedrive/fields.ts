// Pipedrive's field lists (person fields v2, lead fields v1) and the FieldDescriptors a route's
// mapping may target, keyed as record.ts places them: `person.<field_code>` on the person, other
// keys on the lead, `note` on its note. Pure functions; index.ts reads the lists.
import { z } from 'zod';
import type { FieldDescriptor, FieldType } from '../types.js';

export const PERSON_PREFIX = 'person.';
const CUSTOM_FIELD_KEY = /^[a-f0-9]{40}$/;

export function isCustomFieldKey(key: string): boolean {
  return CUSTOM_FIELD_KEY.test(key);
}

const optionSchema = z.looseObject({ id: z.union([z.number(), z.string()]), label: z.string().nullish() });

/** GET /api/v2/personFields item (v2 names the key `field_code`). */
export const pipedrivePersonFieldSchema = z.looseObject({
  field_code: z.string(),
  field_name: z.string().nullish(),
  field_type: z.string(),
  is_custom_field: z.boolean().nullish(),
  options: z.array(optionSchema).nullish(),
  required_fields: z.looseObject({ enabled: z.boolean().nullish() }).nullish(),
  is_required: z.boolean().nullish(),
});
export type PipedrivePersonField = z.infer<typeof pipedrivePersonFieldSchema>;

/** GET /v1/leadFields item (v1 names the key `key`). */
export const pipedriveLeadFieldSchema = z.looseObject({
  key: z.string(),
  name: z.string().nullish(),
  field_type: z.string(),
  options: z.array(optionSchema).nullish(),
  mandatory_flag: z.unknown().optional(),
  edit_flag: z.boolean().nullish(),
  active_flag: z.boolean().nullish(),
});
type PipedriveLeadField = z.infer<typeof pipedriveLeadFieldSchema>;

/** Both field lists of one company, as Pipedrive described them. */
export interface PipedriveFieldCatalog {
  personFields: PipedrivePersonField[];
  leadFields: PipedriveLeadField[];
}

/** Person fields we write besides custom ones (record.ts also takes aliases such as `firstname`). */
const PERSON_STANDARD: Record<string, { label: string; type: FieldType }> = {
  name: { label: 'Name', type: 'string' },
  first_name: { label: 'First name', type: 'string' },
  last_name: { label: 'Last name', type: 'string' },
  email: { label: 'Email', type: 'email' },
  phone: { label: 'Phone', type: 'phone' },
};
/** Lead fields we write besides custom ones. */
const LEAD_STANDARD: Record<string, { label: string; type: FieldType }> = {
  title: { label: 'Lead title', type: 'string' },
  value: { label: 'Lead value (amount)', type: 'number' },
  currency: { label: 'Lead value currency (e.g. EUR)', type: 'string' },
  expected_close_date: { label: 'Expected close date', type: 'date' },
};

/** Pipedrive field_type → our FieldType. https://pipedrive.readme.io/docs/core-api-concepts-custom-fields */
function toFieldType(pipedriveType: string): FieldType {
  switch (pipedriveType) {
    case 'varchar':
    case 'varchar_auto':
    case 'varchar_options':
    case 'address':
      return 'string';
    case 'text':
      return 'text';
    case 'phone':
      return 'phone';
    case 'email':
      return 'email';
    case 'enum':
    case 'status':
      return 'enum';
    case 'set':
      return 'multienum';
    case 'date':
      return 'date';
    case 'double':
    case 'int':
    case 'monetary':
      return 'number';
    case 'user':
    case 'org':
    case 'people':
      return 'id';
    default:
      return 'other';
  }
}

function toOptions(options: PipedrivePersonField['options']): { value: string; label: string }[] | undefined {
  if (!options || options.length === 0) return undefined;
  return options.map((o) => ({ value: String(o.id), label: o.label ?? String(o.id) }));
}

/** Pipedrive's mandatory_flag is a boolean, or an object for "required in some pipelines" (not always). */
function isMandatory(flag: unknown): boolean {
  return flag === true;
}

/**
 * The fields a mapping may target: standard person fields as `person.<code>`, person custom
 * fields as `person.<hash>`, lead standard fields and deal custom fields by key, plus `note`.
 * Fields the connector fills itself (name, title) are never marked required.
 */
export function toFieldDescriptors(catalog: PipedriveFieldCatalog): FieldDescriptor[] {
  const out: FieldDescriptor[] = [];
  const personByCode = new Map(catalog.personFields.map((f) => [f.field_code, f]));

  for (const [code, std] of Object.entries(PERSON_STANDARD)) {
    const f = personByCode.get(code);
    out.push({ key: PERSON_PREFIX + code, label: `Person: ${f?.field_name ?? std.label}`, type: std.type, required: false });
  }
  for (const f of catalog.personFields) {
    if (!(f.is_custom_field === true || isCustomFieldKey(f.field_code))) continue;
    const d: FieldDescriptor = {
      key: PERSON_PREFIX + f.field_code,
      label: `Person: ${f.field_name ?? f.field_code}`,
      type: toFieldType(f.field_type),
      required: f.required_fields?.enabled === true || f.is_required === true,
    };
    const options = toOptions(f.options);
    if (options) d.options = options;
    out.push(d);
  }

  const leadByKey = new Map(catalog.leadFields.map((f) => [f.key, f]));
  for (const [key, std] of Object.entries(LEAD_STANDARD)) {
    const f = leadByKey.get(key);
    out.push({ key, label: f?.name ?? std.label, type: std.type, required: false });
  }
  for (const f of catalog.leadFields) {
    if (!isCustomFieldKey(f.key) || f.active_flag === false) continue;
    const d: FieldDescriptor = { key: f.key, label: f.name ?? f.key, type: toFieldType(f.field_type), required: isMandatory(f.mandatory_flag) };
    const options = toOptions(f.options);
    if (options) d.options = options;
    out.push(d);
  }

  out.push({ key: 'note', label: 'Note on the lead (unmapped answers are added below it)', type: 'text', required: false });
  return out;
}
