// Turns a stored lead (answers encrypted) into the canonical record, and a Graph lead into a row.
import type { KeyRing } from '../crypto/key-ring.js';
import { CANONICAL_SCHEMA_VERSION, type CanonicalLead, type LeadAnswer, type LeadConsent } from '../lead/canonical.js';
import type { GraphLead } from '../meta/graph-types.js';
import type { Lead, NewLead } from '../store/schema.js';

export interface LeadAnswers {
  answers: LeadAnswer[];
  consents: LeadConsent[];
}

/** Envelopes are bound to their lead, so one lead's answers can't be swapped into another's row. */
export const leadAad = (workspaceId: string, leadgenId: string) => `lead:${workspaceId}:${leadgenId}`;
export const pageTokenAad = (pageId: string) => `page-token:${pageId}`;
export const destinationAad = (destinationId: string) => `destination:${destinationId}`;

/** A Graph lead's answers and consents, as the lead's envelope holds them. */
export function leadAnswersOf(g: GraphLead): LeadAnswers {
  return {
    answers: g.fieldData.map((f) => ({ key: f.name, values: f.values })),
    consents: g.consents.map((c) => ({ key: c.key, checked: c.checked })),
  };
}

/** A new lead's row as the fetch step makes it: every column but those the database or the caller decide. */
export type NewLeadRow = Required<Omit<NewLead, 'id' | 'status' | 'fetched_at' | 'updated_at' | 'search_kid'>>;

/** `answers`: leadAnswersOf(g), when the caller has it already. */
export function leadRowFromGraph(
  keyRing: KeyRing,
  input: { workspaceId: string; eventId: number; pageId: string; pageName: string | null; formName: string | null; receivedAt: Date; isTest: boolean },
  g: GraphLead,
  answers: LeadAnswers = leadAnswersOf(g),
): NewLeadRow {
  return {
    workspace_id: input.workspaceId,
    event_id: input.eventId,
    leadgen_id: g.id,
    page_id: input.pageId,
    page_name: input.pageName,
    form_id: g.formId,
    form_name: input.formName,
    created_time: g.createdTime,
    ad_id: g.adId,
    ad_name: g.adName,
    adset_id: g.adsetId,
    adset_name: g.adsetName,
    campaign_id: g.campaignId,
    campaign_name: g.campaignName,
    platform: g.platform,
    is_organic: g.isOrganic,
    is_test: input.isTest,
    answers_envelope: keyRing.encryptJson(answers, leadAad(input.workspaceId, g.id)),
    status_reason: null,
    received_at: input.receivedAt,
    erased_at: null,
  };
}

export function decryptLeadAnswers(keyRing: KeyRing, lead: Lead): LeadAnswers {
  if (!lead.answers_envelope) return { answers: [], consents: [] };
  return keyRing.decryptJson<LeadAnswers>(lead.answers_envelope, leadAad(lead.workspace_id, lead.leadgen_id));
}

const iso = (d: Date | string) => new Date(d).toISOString();

/** The columns the canonical record is made of: of a stored lead, or of one about to be stored (its id chosen). */
type CanonicalSource = Pick<
  NewLeadRow,
  | 'leadgen_id'
  | 'workspace_id'
  | 'page_id'
  | 'page_name'
  | 'form_id'
  | 'form_name'
  | 'created_time'
  | 'platform'
  | 'is_organic'
  | 'ad_id'
  | 'ad_name'
  | 'adset_id'
  | 'adset_name'
  | 'campaign_id'
  | 'campaign_name'
  | 'is_test'
  | 'received_at'
> & { id: string };

/** The ad, ad set and campaign a lead came from, as the canonical lead and the lead log show them. */
export const attributionOf = (lead: Pick<Lead, 'ad_id' | 'ad_name' | 'adset_id' | 'adset_name' | 'campaign_id' | 'campaign_name'>) => ({
  ad_id: lead.ad_id,
  ad_name: lead.ad_name,
  adset_id: lead.adset_id,
  adset_name: lead.adset_name,
  campaign_id: lead.campaign_id,
  campaign_name: lead.campaign_name,
});

export function toCanonicalLead(lead: CanonicalSource, answers: LeadAnswers): CanonicalLead {
  return {
    schema: CANONICAL_SCHEMA_VERSION,
    id: lead.id,
    leadgen_id: lead.leadgen_id,
    workspace_id: lead.workspace_id,
    page: { id: lead.page_id, name: lead.page_name },
    form: { id: lead.form_id, name: lead.form_name },
    created_time: iso(lead.created_time),
    platform: lead.platform,
    is_organic: lead.is_organic,
    attribution: attributionOf(lead),
    answers: answers.answers,
    consents: answers.consents,
    is_test: lead.is_test,
    received_at: iso(lead.received_at),
  };
}
