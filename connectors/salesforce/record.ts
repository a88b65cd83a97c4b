// From a delivery record to the Salesforce record we write, and from a describe to the fields
// the mapping editor offers. Pure functions; the calls are in client.ts and index.ts.
import { z } from 'zod';
import type { DeliveryRecord, FieldDescriptor, FieldType } from '../types.js';
import { AUTO_EXTERNAL_ID_FIELD_PATTERN, type SalesforceConfig } from './manifest.js';

const FACEBOOK_LEAD_SOURCE = 'Facebook Lead Ads';
const INSTAGRAM_LEAD_SOURCE = 'Instagram Lead Ads';
/** Long Text Area(32000): Description on Lead and Contact, when the describe gives no length. */
const DEFAULT_DESCRIPTION_LENGTH = 32_000;

/**
 * The part of `GET /sobjects/{type}/describe` we use; zod drops the rest (a Lead describe is
 * ~200 kB) before it is cached.
 * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm
 */
const salesforceDescribeFieldSchema = z.object({
  name: z.string(),
  label: z.string().catch(''),
  type: z.string(),
  length: z.number().optional().catch(undefined),
  nillable: z.boolean().default(true),
  createable: z.boolean().default(false),
  defaultedOnCreate: z.boolean().default(false),
  externalId: z.boolean().default(false),
  unique: z.boolean().default(false),
  restrictedPicklist: z.boolean().default(false),
  picklistValues: z
    .array(z.object({ value: z.string(), label: z.string().nullish(), active: z.boolean().default(true) }))
    .nullish()
    .transform((v) => v ?? []),
});
type SalesforceDescribeField = z.infer<typeof salesforceDescribeFieldSchema>;

export const salesforceDescribeSchema = z.object({
  name: z.string(),
  fields: z.array(salesforceDescribeFieldSchema),
});
export type SalesforceDescribe = z.infer<typeof salesforceDescribeSchema>;

/** Salesforce field types → ours. https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/field_types.htm */
function toFieldType(salesforceType: string): FieldType {
  switch (salesforceType) {
    case 'string':
    case 'combobox':
    case 'encryptedstring':
      return 'string';
    case 'textarea':
      return 'text';
    case 'email':
      return 'email';
    case 'phone':
      return 'phone';
    case 'picklist':
      return 'enum';
    case 'multipicklist':
      return 'multienum';
    case 'boolean':
      return 'boolean';
    case 'date':
      return 'date';
    case 'datetime':
      return 'datetime';
    case 'double':
    case 'int':
    case 'long':
    case 'currency':
    case 'percent':
      return 'number';
    case 'url':
      return 'url';
    case 'reference':
    case 'id':
      return 'id';
    default:
      return 'other';
  }
}

/**
 * The fields a mapping may write: createable ones only. Required means Salesforce rejects a
 * create without it (`createable && !nillable && !defaultedOnCreate`; org validation rules can
 * require more, and those only show up as FIELD_CUSTOM_VALIDATION_EXCEPTION).
 */
export function toFieldDescriptors(describe: SalesforceDescribe): FieldDescriptor[] {
  return describe.fields
    .filter((f) => f.createable)
    .map((f) => {
      const type = toFieldType(f.type);
      const descriptor: FieldDescriptor = {
        key: f.name,
        label: f.label || f.name,
        type,
        required: !f.nillable && !f.defaultedOnCreate,
      };
      if (f.length !== undefined && f.length > 0) descriptor.length = f.length;
      const options = f.picklistValues.filter((p) => p.active).map((p) => ({ value: p.value, label: p.label || p.value }));
      if (options.length > 0) descriptor.options = options;
      if (f.externalId) descriptor.isExternalId = true;
      return descriptor;
    });
}

function leadSourceFor(platform: string | null): string {
  // Meta sends `ig` for Instagram placements; everything else (fb, messenger, audience network,
  // unknown) was a Facebook Lead Ads form.
  return platform?.toLowerCase() === 'ig' ? INSTAGRAM_LEAD_SOURCE : FACEBOOK_LEAD_SOURCE;
}

export type ExternalIdChoice = { ok: true; field: string | null } | { ok: false; problem: string };

/**
 * Which field keys the upsert:
 * 1. the destination's `externalIdField`, which must exist on the object as an External ID field;
 * 2. else an External ID field whose name looks like a Facebook lead id (AUTO_EXTERNAL_ID_FIELD_PATTERN),
 *    unique ones first, then describe order;
 * 3. else none: the record is created.
 */
export function chooseExternalIdField(config: SalesforceConfig, describe: SalesforceDescribe): ExternalIdChoice {
  if (config.externalIdField) {
    const field = findField(describe, config.externalIdField);
    if (!field)
      return { ok: false, problem: `The field ${config.externalIdField} does not exist on ${describe.name} (or the integration user cannot see it).` };
    if (!field.externalId)
      return { ok: false, problem: `The field ${field.name} on ${describe.name} is not marked External ID, so Salesforce cannot upsert on it.` };
    return { ok: true, field: field.name };
  }
  const candidates = describe.fields.filter((f) => f.externalId && f.createable && AUTO_EXTERNAL_ID_FIELD_PATTERN.test(f.name));
  const chosen = candidates.find((f) => f.unique) ?? candidates[0];
  return { ok: true, field: chosen?.name ?? null };
}

export type SalesforceFieldValue = string | number | boolean;

export interface SalesforceWrite {
  /** Body fields, by Salesforce API name (without the external id field). */
  fields: Record<string, SalesforceFieldValue>;
  /** Set when the write is an upsert. */
  externalId?: { field: string; value: string };
  /** Fields the connector filled itself (not the mapping): see fieldsForExistingRecord. */
  added: { placeholders: string[]; leadSource?: string; description?: string };
}

export interface BuildWriteInput {
  record: DeliveryRecord;
  config: SalesforceConfig;
  describe: SalesforceDescribe;
  externalIdField: string | null;
}

/**
 * The record for one lead:
 * - the mapped fields (Salesforce API names; null and empty values are left out so an update
 *   never blanks what is there; `Id` and `attributes` are not fields);
 * - LastName (and Company on a Lead) from the mapping, else the configured placeholders;
 * - unless mapped: LeadSource = Facebook/Instagram Lead Ads when the picklist accepts it (an
 *   unrestricted picklist takes any value; a restricted one only its active values), otherwise
 *   the source goes into Description;
 * - unless mapped: Description = that source line and the unmapped answers;
 * - the external id (mapped value, else Meta's leadgen id) when there is an external id field.
 */
export function buildSalesforceWrite(input: BuildWriteInput): SalesforceWrite {
  const { record, config, describe, externalIdField } = input;
  const fields: Record<string, SalesforceFieldValue> = {};
  for (const [key, value] of Object.entries(record.fields)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'string' && value.trim() === '') continue;
    if (/^(id|attributes)$/i.test(key)) continue;
    fields[key] = value;
  }

  let externalId: SalesforceWrite['externalId'];
  if (externalIdField) {
    const mappedKey = findKey(fields, externalIdField);
    const value = mappedKey === undefined ? input.record.lead.leadgen_id : String(fields[mappedKey]);
    if (mappedKey !== undefined) delete fields[mappedKey];
    externalId = { field: externalIdField, value };
  }

  const added: SalesforceWrite['added'] = { placeholders: [] };
  if (findKey(fields, 'LastName') === undefined) {
    fields.LastName = config.defaultLastName;
    added.placeholders.push('LastName');
  }
  if (config.sobject === 'Lead' && findKey(fields, 'Company') === undefined) {
    fields.Company = config.defaultCompany;
    added.placeholders.push('Company');
  }

  const notes: string[] = [];
  if (findKey(fields, 'LeadSource') === undefined) {
    const source = leadSourceFor(record.lead.platform);
    const accepted = acceptedPicklistValue(findField(describe, 'LeadSource'), source);
    if (accepted !== undefined) {
      fields[accepted.field] = accepted.value;
      added.leadSource = accepted.field;
    } else notes.push(`Lead source: ${source}`);
  }
  if (record.unmappedNote && record.unmappedNote.trim() !== '') notes.push(record.unmappedNote.trim());

  const description = findField(describe, 'Description');
  if (notes.length > 0 && findKey(fields, 'Description') === undefined && description?.createable) {
    fields[description.name] = truncate(notes.join('\n\n'), descriptionLength(description));
    added.description = description.name;
  }
  return externalId ? { fields, externalId, added } : { fields, added };
}

/**
 * The fields for updating a record that existed before this lead (the one a duplicate rule
 * matched): the mapped values, but not our placeholders (they would overwrite a real name or
 * company) nor our LeadSource (the record's original source stays), and our Description text
 * appended to what is there instead of replacing it.
 */
export function fieldsForExistingRecord(
  write: SalesforceWrite,
  describe: SalesforceDescribe,
  existingDescription: string | null | undefined,
): Record<string, SalesforceFieldValue> {
  const fields = { ...write.fields };
  for (const key of write.added.placeholders) delete fields[key];
  if (write.added.leadSource) delete fields[write.added.leadSource];
  const key = write.added.description;
  if (key) {
    const ours = String(fields[key]);
    const existing = existingDescription?.trim() ?? '';
    if (existing.includes(ours)) delete fields[key];
    else if (existing !== '') fields[key] = truncate(`${existing}\n\n${ours}`, descriptionLength(findField(describe, key)));
  }
  return fields;
}

function descriptionLength(field: SalesforceDescribeField | undefined): number {
  return field?.length && field.length > 0 ? field.length : DEFAULT_DESCRIPTION_LENGTH;
}

/** The value to write when the field takes `wanted`, with the picklist's own spelling. */
function acceptedPicklistValue(field: SalesforceDescribeField | undefined, wanted: string): { field: string; value: string } | undefined {
  if (!field?.createable) return undefined;
  const isPicklist = field.type === 'picklist' || field.type === 'multipicklist';
  if (isPicklist) {
    const active = field.picklistValues.filter((p) => p.active);
    const exact = active.find((p) => p.value === wanted) ?? active.find((p) => p.value.toLowerCase() === wanted.toLowerCase());
    if (exact) return { field: field.name, value: exact.value };
    return field.restrictedPicklist ? undefined : { field: field.name, value: wanted };
  }
  if (field.type === 'string' || field.type === 'textarea') {
    return field.length && wanted.length > field.length ? undefined : { field: field.name, value: wanted };
  }
  return undefined;
}

/**
 * The record Salesforce's duplicate rule matched, from a DUPLICATES_DETECTED error
 * (`data.duplicateResult.matchResults[].matchRecords[].record.Id`), restricted to records of
 * `sobject` (a Lead rule may match Contacts, which we must not PATCH as Leads).
 * https://developer.salesforce.com/docs/platform/api/guide/sforce-api-objects-duplicateresult.html
 */
export function findDuplicateMatchId(err: unknown, sobject: string): string | undefined {
  for (const entry of duplicateErrorsIn(err)) {
    const matchResults = (entry.duplicateResult as { matchResults?: unknown } | undefined)?.matchResults;
    if (!Array.isArray(matchResults)) continue;
    for (const result of matchResults) {
      if (!result || typeof result !== 'object') continue;
      const { entityType, matchRecords } = result as { entityType?: unknown; matchRecords?: unknown };
      if (typeof entityType === 'string' && entityType.toLowerCase() !== sobject.toLowerCase()) continue;
      if (!Array.isArray(matchRecords)) continue;
      for (const match of matchRecords) {
        const rec = (match as { record?: Record<string, unknown> } | null)?.record;
        const id = rec?.Id ?? rec?.id;
        if (typeof id === 'string' && isSalesforceId(id) && hasPrefixOf(id, sobject)) return id;
      }
    }
  }
  return undefined;
}

function duplicateErrorsIn(err: unknown): Record<string, unknown>[] {
  if (!err || typeof err !== 'object') return [];
  const e = err as { errorCode?: unknown; data?: unknown };
  const entries = Array.isArray(e.data) ? e.data : [e.data ?? err];
  return entries.filter(
    (d): d is Record<string, unknown> =>
      !!d &&
      typeof d === 'object' &&
      ((d as { errorCode?: unknown }).errorCode === 'DUPLICATES_DETECTED' || (d as { statusCode?: unknown }).statusCode === 'DUPLICATES_DETECTED'),
  );
}

/** 15- or 18-character record ids; anything else never goes into a URL. */
export function isSalesforceId(id: string): boolean {
  return /^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/.test(id);
}

/** Key prefixes of the objects we write (Lead 00Q, Contact 003). */
const KEY_PREFIXES: Record<string, string> = { lead: '00Q', contact: '003' };

function hasPrefixOf(id: string, sobject: string): boolean {
  const prefix = KEY_PREFIXES[sobject.toLowerCase()];
  return prefix === undefined || id.startsWith(prefix);
}

/** Salesforce API names are case-insensitive. */
function findKey(fields: Record<string, unknown>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return Object.keys(fields).find((k) => k.toLowerCase() === wanted);
}

function findField(describe: SalesforceDescribe, name: string): SalesforceDescribeField | undefined {
  const wanted = name.toLowerCase();
  return describe.fields.find((f) => f.name.toLowerCase() === wanted);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
