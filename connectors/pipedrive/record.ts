// From LeadRelay's delivery record to Pipedrive's person, lead and note bodies (the field lists
// and FieldDescriptors are fields.ts's). Pure functions; index.ts makes the calls.
//
// Field-key convention (what the route's field mapping produces in record.fields):
// - `person.<field_code>` goes to the person: `person.name`, `person.first_name`, `person.last_name`,
//   `person.email`, `person.phone`, or `person.<40-char hash>` for a person custom field.
//   The plain keys `name`, `first_name`/`firstname`, `last_name`/`lastname`, `email`, `phone`
//   mean the same (so presets written for other CRMs still land on the person).
// - Every other key goes to the lead: `title`, `value` + `currency`, `expected_close_date`, or a
//   40-char hash of a deal custom field (leads inherit deal custom fields and take them as
//   top-level keys in v1: https://developers.pipedrive.com/docs/api/v1/Leads#addLead).
// - `note` is added to the lead's note, above the unmapped answers.
// - A key we cannot place (unknown name) is not dropped: it is written into the note.
import { answerValues, type CanonicalLead } from '../../src/lead/canonical.js';
import { ConnectorError, type DeliveryRecord } from '../types.js';
import { isCustomFieldKey, PERSON_PREFIX, type PipedriveFieldCatalog, type PipedrivePersonField } from './fields.js';
import type { PipedriveConfig } from './manifest.js';

type FieldValue = string | number | boolean | null;

/** The person fields a mapping may name by a plain key (so presets written for other CRMs still land on the person). */
const PERSON_ALIASES: Record<string, string> = {
  name: 'name',
  first_name: 'first_name',
  firstname: 'first_name',
  last_name: 'last_name',
  lastname: 'last_name',
  email: 'email',
  phone: 'phone',
};

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

function invalidValue(reason: string, field: string): ConnectorError {
  return new ConnectorError({ kind: 'invalid', reason, field });
}

function asText(value: FieldValue | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  const s = String(value).trim();
  return s === '' ? undefined : s;
}

function matchOption(options: PipedrivePersonField['options'], value: string): number | string | undefined {
  const wanted = value.trim().toLowerCase();
  const found = (options ?? []).find((o) => String(o.id) === value.trim() || (o.label ?? '').trim().toLowerCase() === wanted);
  if (!found) return undefined;
  const n = Number(found.id);
  return Number.isInteger(n) ? n : found.id;
}

/**
 * Turns a mapped value into what Pipedrive expects for a custom field of this type. v2 (persons)
 * validates strictly and never coerces strings to numbers; v1 (leads) is lenient, but option
 * ids still must be ids. `set` values: v2 takes an array of option ids; for v1 we send the
 * comma-separated ids deals have always taken [unverified for leads].
 * https://pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide
 */
function coerceCustomValue(
  field: { field_type: string; options?: PipedrivePersonField['options'] } | undefined,
  key: string,
  value: FieldValue,
  api: 'v1' | 'v2',
): unknown {
  if (value === null) return null;
  if (!field) return value;
  switch (field.field_type) {
    case 'double':
    case 'int':
    case 'monetary': {
      if (typeof value === 'number') return value;
      const n = Number(String(value).trim().replace(/\s/g, ''));
      if (String(value).trim() === '' || !Number.isFinite(n)) throw invalidValue('pipedrive_value_not_a_number', key);
      return n;
    }
    case 'enum': {
      const id = matchOption(field.options, String(value));
      if (id === undefined) throw invalidValue('pipedrive_option_not_found', key);
      return id;
    }
    case 'set': {
      const parts = String(value)
        .split(/[,;\n]/)
        .map((p) => p.trim())
        .filter((p) => p !== '');
      const ids = parts.map((p) => {
        const id = matchOption(field.options, p);
        if (id === undefined) throw invalidValue('pipedrive_option_not_found', key);
        return id;
      });
      return api === 'v2' ? ids : ids.join(',');
    }
    case 'date': {
      const s = String(value).trim();
      return /^\d{4}-\d{2}-\d{2}T/.test(s) ? s.slice(0, 10) : s;
    }
    case 'user':
    case 'org':
    case 'people': {
      const n = Number(value);
      return Number.isInteger(n) ? n : value;
    }
    case 'varchar':
    case 'varchar_auto':
    case 'text':
    case 'phone':
    case 'address':
      return String(value);
    default:
      return value;
  }
}

// ---------------------------------------------------------------------------------------------
// Splitting the mapped fields
// ---------------------------------------------------------------------------------------------

export interface SplitFields {
  person: { name?: string; firstName?: string; lastName?: string; email?: string; phone?: string; custom: Record<string, FieldValue> };
  lead: { title?: string; value?: FieldValue; currency?: string; expectedCloseDate?: string; custom: Record<string, FieldValue> };
  note?: string;
  /** Keys the connector cannot place on a Pipedrive field; they go into the note. */
  unplaced: [string, string][];
}

export function splitFields(fields: DeliveryRecord['fields']): SplitFields {
  const out: SplitFields = { person: { custom: {} }, lead: { custom: {} }, unplaced: [] };
  for (const [rawKey, value] of Object.entries(fields)) {
    const isPersonKey = rawKey.startsWith(PERSON_PREFIX);
    const key = isPersonKey ? rawKey.slice(PERSON_PREFIX.length) : rawKey;
    const personStandard = PERSON_ALIASES[key.toLowerCase()];
    if (personStandard) {
      const text = asText(value);
      if (text === undefined) continue;
      if (personStandard === 'name') out.person.name = text;
      else if (personStandard === 'first_name') out.person.firstName = text;
      else if (personStandard === 'last_name') out.person.lastName = text;
      else if (personStandard === 'email') out.person.email = text;
      else out.person.phone = text;
      continue;
    }
    if (isCustomFieldKey(key)) {
      if (value === null) continue;
      (isPersonKey ? out.person.custom : out.lead.custom)[key] = value;
      continue;
    }
    if (!isPersonKey) {
      if (key === 'title') {
        out.lead.title = asText(value);
        continue;
      }
      if (key === 'value') {
        out.lead.value = value;
        continue;
      }
      if (key === 'currency') {
        out.lead.currency = asText(value)?.toUpperCase();
        continue;
      }
      if (key === 'expected_close_date') {
        const d = asText(value);
        out.lead.expectedCloseDate = d && /^\d{4}-\d{2}-\d{2}T/.test(d) ? d.slice(0, 10) : d;
        continue;
      }
      if (key === 'note') {
        out.note = asText(value);
        continue;
      }
    }
    const text = asText(value);
    if (text !== undefined) out.unplaced.push([rawKey, text]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

function firstAnswer(lead: CanonicalLead, key: string): string | undefined {
  const v = answerValues(lead, key)[0]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/** The email we search and store: the mapped one, else the form's standard `email` answer. */
export function findEmail(split: SplitFields, lead: CanonicalLead): string | undefined {
  return split.person.email ?? firstAnswer(lead, 'email');
}

/** The phone we search and store: the mapped one, else the form's standard `phone_number` answer. */
export function findPhone(split: SplitFields, lead: CanonicalLead): string | undefined {
  return split.person.phone ?? firstAnswer(lead, 'phone_number');
}

/** Pipedrive requires a person name: mapped name, first + last, the full_name answer, the email... */
function derivePersonName(split: SplitFields, lead: CanonicalLead): string {
  const joined = [split.person.firstName, split.person.lastName].filter((p) => p !== undefined).join(' ');
  const answeredJoined = [firstAnswer(lead, 'first_name'), firstAnswer(lead, 'last_name')].filter((p) => p !== undefined).join(' ');
  return (
    split.person.name ??
    (joined !== '' ? joined : undefined) ??
    firstAnswer(lead, 'full_name') ??
    (answeredJoined !== '' ? answeredJoined : undefined) ??
    findEmail(split, lead) ??
    findPhone(split, lead) ??
    `Lead ${lead.leadgen_id}`
  );
}

function deriveLeadTitle(split: SplitFields, lead: CanonicalLead): string {
  return split.lead.title ?? `${derivePersonName(split, lead)} – ${lead.form.name ?? 'Lead Ads form'}`;
}

function customFieldsFor(
  custom: Record<string, FieldValue>,
  fields: Map<string, { field_type: string; options?: PipedrivePersonField['options'] }>,
  api: 'v1' | 'v2',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(custom)) out[key] = coerceCustomValue(fields.get(key), api === 'v2' ? PERSON_PREFIX + key : key, value, api);
  return out;
}

/** POST /api/v2/persons body. https://developers.pipedrive.com/docs/api/v1/Persons#addPerson (v2) */
export function buildPersonBody(split: SplitFields, lead: CanonicalLead, config: PipedriveConfig, catalog?: PipedriveFieldCatalog): Record<string, unknown> {
  const body: Record<string, unknown> = { name: derivePersonName(split, lead) };
  const email = findEmail(split, lead);
  const phone = findPhone(split, lead);
  if (email) body.emails = [{ value: email, primary: true, label: 'work' }];
  if (phone) body.phones = [{ value: phone, primary: true, label: 'mobile' }];
  if (config.ownerId !== undefined) body.owner_id = config.ownerId;
  // v2 wants visible_to as an integer.
  if (config.visibleTo !== undefined) body.visible_to = Number(config.visibleTo);
  if (Object.keys(split.person.custom).length > 0) {
    const fields = new Map((catalog?.personFields ?? []).map((f) => [f.field_code, f]));
    body.custom_fields = customFieldsFor(split.person.custom, fields, 'v2');
  }
  return body;
}

function leadValue(split: SplitFields): { amount: number; currency: string } | undefined {
  const raw = split.lead.value;
  if (raw === undefined || raw === null || String(raw).trim() === '') return undefined;
  const amount = typeof raw === 'number' ? raw : Number(String(raw).trim());
  if (!Number.isFinite(amount)) throw invalidValue('pipedrive_value_not_a_number', 'value');
  if (!split.lead.currency || !/^[A-Z]{3}$/.test(split.lead.currency)) throw invalidValue('pipedrive_value_needs_currency', 'currency');
  return { amount, currency: split.lead.currency };
}

/** Fields shared by the lead's create and update bodies. */
function commonLeadFields(split: SplitFields, lead: CanonicalLead, config: PipedriveConfig, catalog?: PipedriveFieldCatalog): Record<string, unknown> {
  const body: Record<string, unknown> = { title: deriveLeadTitle(split, lead) };
  if (config.ownerId !== undefined) body.owner_id = config.ownerId;
  if (config.labelIds && config.labelIds.length > 0) body.label_ids = config.labelIds;
  const value = leadValue(split);
  if (value) body.value = value;
  if (split.lead.expectedCloseDate) body.expected_close_date = split.lead.expectedCloseDate;
  const fields = new Map((catalog?.leadFields ?? []).map((f) => [f.key, f]));
  Object.assign(body, customFieldsFor(split.lead.custom, fields, 'v1'));
  return body;
}

/** POST /v1/leads body. https://developers.pipedrive.com/docs/api/v1/Leads#addLead */
export function buildLeadBody(
  split: SplitFields,
  lead: CanonicalLead,
  personId: number,
  config: PipedriveConfig,
  catalog?: PipedriveFieldCatalog,
): Record<string, unknown> {
  const body = commonLeadFields(split, lead, config, catalog);
  body.person_id = personId;
  // v1 leads take visible_to as a string.
  if (config.visibleTo !== undefined) body.visible_to = config.visibleTo;
  // origin_id ties the lead to Meta's leadgen id: it is how a repeat finds it again.
  body.origin_id = lead.leadgen_id;
  if (config.channelId !== undefined) body.channel = config.channelId;
  // channel_id "further distinguishes the marketing channel": the ad campaign.
  if (lead.attribution.campaign_id) body.channel_id = lead.attribution.campaign_id;
  return body;
}

/** PATCH /v1/leads/{id} body for a repeat delivery: title, owner, labels, value, custom fields. */
export function buildLeadPatch(split: SplitFields, lead: CanonicalLead, config: PipedriveConfig, catalog?: PipedriveFieldCatalog): Record<string, unknown> {
  return commonLeadFields(split, lead, config, catalog);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * The note's HTML: the mapped `note`, then the answers no rule mapped, then any mapped keys we
 * could not place. Pipedrive renders note content as HTML, so every part is escaped and line
 * breaks become <br>. Undefined when there is nothing to say.
 */
export function buildNoteContent(split: SplitFields, unmappedNote: string | undefined): string | undefined {
  const parts: string[] = [];
  if (split.note) parts.push(split.note);
  if (unmappedNote && unmappedNote.trim() !== '') parts.push(unmappedNote.trim());
  if (split.unplaced.length > 0) parts.push(split.unplaced.map(([k, v]) => `${k}: ${v}`).join('\n'));
  if (parts.length === 0) return undefined;
  return escapeHtml(parts.join('\n\n')).replace(/\r\n|\r|\n/g, '<br>');
}
