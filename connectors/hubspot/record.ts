// Maps one delivery record to the HubSpot contact upsert input. Pure.
//
// - The route's mapped fields come first; LeadRelay's attribution (lr_*) and lead source fill
//   only the properties the route did not map, and the unmapped answers go to `message`.
// - Values are strings (HubSpot takes strings only): booleans 'true'/'false', numbers as
//   written. Null and empty values are left out, so a blank answer never wipes a value the
//   contact already has.
// - The upsert key is the email (HubSpot's de-duplication key for contacts); a lead without
//   one is keyed by `lr_fb_lead_id`, a unique-valued property holding Meta's leadgen id.
//   https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
import { answerValues, type CanonicalLead } from '../../src/lead/canonical.js';
import type { DeliveryRecord } from '../types.js';
import type { ContactUpsertInput } from './client.js';
import { LEAD_ID_PROPERTY } from './manifest.js';

const FACEBOOK_LEAD_SOURCE = 'Facebook Lead Ads';
const INSTAGRAM_LEAD_SOURCE = 'Instagram Lead Ads';
/** HubSpot's default multi-line contact property for free text. */
const NOTE_PROPERTY = 'message';

/** 'Instagram Lead Ads' for `ig`, else 'Facebook Lead Ads' (fb, messenger, audience network, unknown). */
function leadSourceFor(platform: string | null): string {
  return platform?.trim().toLowerCase() === 'ig' ? INSTAGRAM_LEAD_SOURCE : FACEBOOK_LEAD_SOURCE;
}

/** A mapped value as HubSpot wants it, or undefined when there is nothing to write. */
function toPropertyValue(value: string | number | boolean | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  return value.trim() === '' ? undefined : value;
}

/** The attribution LeadRelay writes unless the route mapped the same property. */
function attributionProperties(lead: CanonicalLead): Record<string, string | null> {
  return {
    [LEAD_ID_PROPERTY]: lead.leadgen_id,
    lr_form_id: lead.form.id,
    lr_form_name: lead.form.name,
    lr_ad_id: lead.attribution.ad_id,
    lr_ad_name: lead.attribution.ad_name,
    lr_adset_name: lead.attribution.adset_name,
    lr_campaign_id: lead.attribution.campaign_id,
    lr_campaign_name: lead.attribution.campaign_name,
    lr_platform: lead.platform,
    lr_lead_source: leadSourceFor(lead.platform),
  };
}

/** The email to key the upsert on: the mapped `email`, else the lead's own `email` answer. */
function contactEmailFor(record: DeliveryRecord): string | undefined {
  const mapped = toPropertyValue(record.fields.email)?.trim();
  if (mapped) return mapped;
  const answered = answerValues(record.lead, 'email')
    .map((v) => v.trim())
    .find((v) => v !== '');
  return answered;
}

export function buildContactUpsertInput(record: DeliveryRecord): ContactUpsertInput {
  const properties: Record<string, string> = {};
  for (const [key, value] of Object.entries(record.fields)) {
    const text = toPropertyValue(value);
    if (text !== undefined) properties[key] = text;
  }

  for (const [key, value] of Object.entries(attributionProperties(record.lead))) {
    const text = toPropertyValue(value);
    if (text !== undefined && properties[key] === undefined) properties[key] = text;
  }

  const note = toPropertyValue(record.unmappedNote);
  if (note !== undefined && properties[NOTE_PROPERTY] === undefined) properties[NOTE_PROPERTY] = note;

  const email = contactEmailFor(record);
  if (email !== undefined) {
    properties.email = email;
    return { idProperty: 'email', id: email, properties, objectWriteTraceId: record.idempotencyKey };
  }

  // No email: the leadgen id keys the contact (mapped value wins, as for every lr_ property).
  const leadId = properties[LEAD_ID_PROPERTY] ?? record.lead.leadgen_id;
  properties[LEAD_ID_PROPERTY] = leadId;
  return { idProperty: LEAD_ID_PROPERTY, id: leadId, properties, objectWriteTraceId: record.idempotencyKey };
}
