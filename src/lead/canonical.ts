// The canonical lead record: what LeadRelay knows about one lead, in one versioned shape.
// The generic HTTPS destination POSTs exactly this; CRM connectors and the mapping engine
// read from it. Changing a field's meaning means a new `schema` version.
import { z } from 'zod';

export const CANONICAL_SCHEMA_VERSION = 'leadrelay.lead/v1' as const;

const leadAnswerSchema = z.object({
  /** The form question's key (`field_data[].name`), e.g. `email`, `full_name`, `car_make`. */
  key: z.string(),
  /** Every value Meta sent, in order. Multi-choice answers may be option keys. */
  values: z.array(z.string()),
});
export type LeadAnswer = z.infer<typeof leadAnswerSchema>;

const leadConsentSchema = z.object({
  /** `custom_disclaimer_responses[].checkbox_key` */
  key: z.string(),
  checked: z.boolean(),
});
export type LeadConsent = z.infer<typeof leadConsentSchema>;

const nullableString = z.string().nullable();

export const canonicalLeadSchema = z.object({
  schema: z.literal(CANONICAL_SCHEMA_VERSION),
  /** LeadRelay's id for the lead (uuid). */
  id: z.string(),
  /** Meta's leadgen id, kept as a string (it can exceed 2^53). */
  leadgen_id: z.string(),
  workspace_id: z.string(),
  page: z.object({ id: z.string(), name: nullableString }),
  form: z.object({ id: nullableString, name: nullableString }),
  /** When the person submitted the form, ISO 8601 UTC. */
  created_time: z.string(),
  /** `fb`, `ig`, or whatever Meta sends next; null when Meta did not say. */
  platform: nullableString,
  is_organic: z.boolean(),
  /** Ad attribution; every field is null for organic, preview and test leads. */
  attribution: z.object({
    ad_id: nullableString,
    ad_name: nullableString,
    adset_id: nullableString,
    adset_name: nullableString,
    campaign_id: nullableString,
    campaign_name: nullableString,
  }),
  answers: z.array(leadAnswerSchema),
  consents: z.array(leadConsentSchema),
  /** True for Meta test leads (Testing Tool, dashboard test pings). */
  is_test: z.boolean(),
  /** When LeadRelay received the webhook, ISO 8601 UTC. */
  received_at: z.string(),
});
export type CanonicalLead = z.infer<typeof canonicalLeadSchema>;

/** The answer values for a question key, or [] when the form did not ask it. */
export function answerValues(lead: CanonicalLead, key: string): string[] {
  return lead.answers.find((a) => a.key === key)?.values ?? [];
}
