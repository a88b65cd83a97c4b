// The lead log: leads of a workspace with where they went, one lead's deliveries and attempts,
// its answers (personal data, asked for on purpose), and sending leads again. What
// `leadrelay leads …` and the API's lead operations both do.
import { sql } from 'kysely';
import type { App } from '../app.js';
import { decryptLeadAnswers, type LeadAnswers } from '../pipeline/lead-record.js';
import { type ReplayResult, refetchFailed, replayLead, replayUnrouted } from '../pipeline/replay.js';
import * as repo from '../store/repos.js';
import type { Delivery, DeliveryStatus, Lead } from '../store/schema.js';
import { type FieldNamer, InvalidInputError, NotFoundError } from './errors.js';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** A lead by id; with a workspace, only one of that workspace (else not found). */
export async function getLead(app: App, workspaceId: string | null, leadId: string, name: FieldNamer): Promise<Lead> {
  if (!repo.isUuid(leadId))
    throw new InvalidInputError({ field: name('lead_id'), message: `"${leadId.slice(0, 40)}" is not a lead id (a uuid from leads list)` });
  const lead = await repo.findLead(app.db, leadId);
  if (!lead || (workspaceId !== null && lead.workspace_id !== workspaceId))
    throw new NotFoundError(`lead "${leadId}"`, 'list them with: leadrelay leads list --workspace W');
  return lead;
}

/** Routes whose form changed since their mapping was set: a delivery through one may have put answers in the wrong place. */
async function driftedRouteIds(app: App, workspaceId: string): Promise<Set<string>> {
  return new Set((await repo.listRoutes(app.db, workspaceId)).filter((r) => r.drift !== null).map((r) => r.id));
}

const deliverySummary = (d: Delivery, drifted: Set<string>) => ({
  id: d.id,
  destination_id: d.destination_id,
  route_id: d.route_id,
  status: d.status,
  attempts: d.attempts,
  external_id: d.external_id,
  action: d.action,
  error: d.last_error_reason,
  message: d.last_error_message,
  mapping_drift: d.route_id !== null && drifted.has(d.route_id),
});

export type LeadSummary = ReturnType<typeof leadSummary>;

const leadSummary = (l: Lead, deliveries: Delivery[], drifted: Set<string>) => ({
  id: l.id,
  leadgen_id: l.leadgen_id,
  received_at: iso(l.received_at)!,
  page_id: l.page_id,
  form_id: l.form_id,
  platform: l.platform,
  is_organic: l.is_organic,
  status: l.status,
  status_reason: l.status_reason,
  deliveries: deliveries.map((d) => deliverySummary(d, drifted)),
});

export interface LeadFilter {
  status?: Lead['status'];
  formId?: string;
  /** Received at or after. */
  since?: Date;
  /** Received before this lead (the previous page's last): newest first, ties by id. */
  after?: { receivedAt: string; id: string };
  limit: number;
}

/** Leads of a workspace, newest first, with their deliveries (no answers). Fetches limit + 1 to tell whether more follow. */
export async function listLeadSummaries(app: App, workspaceId: string, f: LeadFilter): Promise<LeadSummary[]> {
  let q = app.db.selectFrom('leads').selectAll().where('workspace_id', '=', workspaceId);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.formId) q = q.where('form_id', '=', f.formId);
  if (f.since) q = q.where('received_at', '>=', f.since);
  if (f.after) q = q.where(sql<boolean>`(received_at, id) < (${new Date(f.after.receivedAt)}, ${f.after.id}::uuid)`);
  const rows = await q.orderBy('received_at', 'desc').orderBy('id', 'desc').limit(f.limit).execute();
  const drifted = await driftedRouteIds(app, workspaceId);
  const out: LeadSummary[] = [];
  for (const l of rows) out.push(leadSummary(l, await repo.listDeliveriesOfLead(app.db, l.id), drifted));
  return out;
}

/** One lead's metadata and, per delivery, every attempt with its time, outcome and reason: never its answers. */
export async function describeLead(app: App, lead: Lead) {
  const deliveries = await repo.listDeliveriesOfLead(app.db, lead.id);
  const attempts = await repo.listAttemptsOfLead(app.db, lead.id);
  const destinations = new Map((await repo.listDestinations(app.db, lead.workspace_id)).map((d) => [d.id, d]));
  const drifted = await driftedRouteIds(app, lead.workspace_id);
  return {
    id: lead.id,
    workspace_id: lead.workspace_id,
    leadgen_id: lead.leadgen_id,
    page: { id: lead.page_id, name: lead.page_name },
    form: { id: lead.form_id, name: lead.form_name },
    created_time: iso(lead.created_time),
    received_at: iso(lead.received_at),
    fetched_at: iso(lead.fetched_at),
    platform: lead.platform,
    is_organic: lead.is_organic,
    is_test: lead.is_test,
    attribution: {
      ad_id: lead.ad_id,
      ad_name: lead.ad_name,
      adset_id: lead.adset_id,
      adset_name: lead.adset_name,
      campaign_id: lead.campaign_id,
      campaign_name: lead.campaign_name,
    },
    status: lead.status,
    status_reason: lead.status_reason,
    // Whether answers are held (encrypted), never what they are.
    answers: (lead.answers_envelope !== null ? 'stored' : lead.erased_at !== null ? 'erased' : 'none') as 'stored' | 'erased' | 'none',
    answers_erased_at: iso(lead.erased_at),
    deliveries: deliveries.map((d) => ({
      id: d.id,
      destination: {
        id: d.destination_id,
        type: destinations.get(d.destination_id)?.type ?? null,
        name: destinations.get(d.destination_id)?.name ?? null,
      },
      route_id: d.route_id,
      status: d.status,
      attempts_count: d.attempts,
      external_id: d.external_id,
      external_url: d.external_url,
      action: d.action,
      error_kind: d.last_error_kind,
      error: d.last_error_reason,
      message: d.last_error_message,
      next_attempt_at: iso(d.next_attempt_at),
      delivered_at: iso(d.delivered_at),
      mapping_drift: d.route_id !== null && drifted.has(d.route_id),
      attempts: attempts
        .filter((a) => a.delivery_id === d.id)
        .map((a) => ({
          attempt: a.attempt,
          started_at: iso(a.started_at),
          finished_at: iso(a.finished_at),
          outcome: a.outcome,
          http_status: a.http_status,
          error_kind: a.error_kind,
          reason: a.reason,
          message: a.message,
        })),
    })),
  };
}

/** A lead's answers and consents, decrypted: personal data, for callers allowed to read it (and audited by them). */
export function readLeadAnswers(app: App, lead: Lead): LeadAnswers & { erased_at: string | null } {
  return { ...decryptLeadAnswers(app.keyRing, lead), erased_at: iso(lead.erased_at) };
}

/** Routes a lead again and re-queues its dead and parked deliveries (with `all`, delivered ones too). */
export async function replayOneLead(app: App, lead: Lead, all = false): Promise<ReplayResult> {
  if (lead.erased_at) throw new InvalidInputError({ field: 'lead', message: `lead ${lead.id} was erased by the retention purge and cannot be replayed` });
  const statuses: DeliveryStatus[] = all ? ['dead', 'parked', 'delivered'] : ['dead', 'parked'];
  return replayLead(app, lead.id, statuses);
}

/** Replays a workspace's unrouted leads (of one form): those a route now takes are delivered. */
export async function replayUnroutedLeads(app: App, workspaceId: string | null, formId: string | null) {
  const results = await replayUnrouted(app, workspaceId, formId);
  const routed = results.filter((r) => !r.unrouted);
  return { replayed: results.length, routed: routed.length, queued: routed.reduce((n, r) => n + r.queued, 0) };
}

/** Fetches again the leads of a workspace's pages (or one page) whose fetch from Meta gave up. */
export async function refetchFailedLeads(app: App, workspaceId: string, pageId: string | undefined, name: FieldNamer): Promise<number> {
  const pages = await repo.listPages(app.db, workspaceId);
  if (pageId !== undefined && !pages.some((p) => p.page_id === pageId))
    throw new InvalidInputError({ field: name('page_id'), message: `page "${pageId.slice(0, 40)}" is not registered in this workspace` });
  let queued = 0;
  for (const p of pages) if (pageId === undefined || p.page_id === pageId) queued += await refetchFailed(app, p.page_id);
  return queued;
}
