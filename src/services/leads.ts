// The lead log: leads of a workspace with where they went, one lead's deliveries and attempts,
// its answers (personal data, asked for on purpose), and sending leads again. What
// `leadrelay leads …` and the API's lead operations both do.
import type { App } from '../app.js';
import type { SearchTerm } from '../lead/blind-index.js';
import { redactAnswerValues, redactEmails } from '../lead/redact.js';
import { attributionOf, decryptLeadAnswers, type LeadAnswers } from '../pipeline/lead-record.js';
import { searchHashesOf } from '../pipeline/lead-search-index.js';
import { type ReplayResult, refetchFailed, replayDeadDeliveries, replayLead, replayUnrouted } from '../pipeline/replay.js';
import { changeTimeBefore, findLeadsWithRollup, type LeadLogFilter, type LeadWithRollup, listChangedLeads, listLeadLog } from '../store/lead-log.js';
import * as repo from '../store/repos.js';
import type { Delivery, DeliveryStatus, Lead } from '../store/schema.js';
import { getDestination } from './destinations.js';
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
  // The CRM's words can quote the lead; its answers are not at hand here, so at least no email shows.
  message: redactEmails(d.last_error_message),
  mapping_drift: d.route_id !== null && drifted.has(d.route_id),
});

export type LeadSummary = ReturnType<typeof leadSummary>;

const leadSummary = (l: LeadWithRollup, deliveries: Delivery[], drifted: Set<string>) => ({
  id: l.id,
  leadgen_id: l.leadgen_id,
  received_at: iso(l.received_at)!,
  page_id: l.page_id,
  form_id: l.form_id,
  form_name: l.form_name,
  platform: l.platform,
  is_organic: l.is_organic,
  is_test: l.is_test,
  status: l.status,
  status_reason: l.status_reason,
  delivery_status: l.delivery_status,
  updated_at: iso(l.updated_at)!,
  deliveries: deliveries.map((d) => deliverySummary(d, drifted)),
});

/** Summaries of leads (rows with their rollup), their deliveries read in one query. */
async function summariesOf(app: App, workspaceId: string, rows: LeadWithRollup[]): Promise<LeadSummary[]> {
  if (rows.length === 0) return [];
  const deliveries = await repo.listDeliveriesOfLeads(
    app.db,
    rows.map((r) => r.id),
  );
  const byLead = new Map<string, Delivery[]>();
  for (const d of deliveries) {
    const list = byLead.get(d.lead_id);
    if (list) list.push(d);
    else byLead.set(d.lead_id, [d]);
  }
  const drifted = await driftedRouteIds(app, workspaceId);
  return rows.map((l) => leadSummary(l, byLead.get(l.id) ?? [], drifted));
}

export interface LeadFilter extends Omit<LeadLogFilter, 'search'> {
  /** Leads with this email or phone, found by the blind index (no answer is decrypted). */
  search?: SearchTerm;
}

/** Leads of a workspace, newest first, with their deliveries (no answers). Fetches limit + 1 to tell whether more follow. */
export async function listLeadSummaries(app: App, workspaceId: string, f: LeadFilter): Promise<LeadSummary[]> {
  const search = f.search && { kind: f.search.kind, hashes: searchHashesOf(app.keyRing, workspaceId, f.search) };
  return summariesOf(app, workspaceId, await listLeadLog(app.db, workspaceId, { ...f, search }));
}

/** The forms a workspace's leads came from (each form whose lead was fetched), by name: what the lead log filters by. */
export async function listKnownForms(app: App, workspaceId: string): Promise<{ form_id: string; page_id: string; name: string | null }[]> {
  return repo.listWorkspaceForms(app.db, workspaceId);
}

/**
 * How far the change feed may safely move its cursor: changes are stamped with their
 * transaction's start time, so one stamped a moment ago may not be committed yet. The cursor
 * stays this far behind the database's clock, and what changed within it is sent again.
 */
const CHANGE_HORIZON = '10 seconds';

/** A place in the change feed: the change time (microseconds, UTC) and lead id of the last lead sent, or a time alone. */
export interface ChangeCursor {
  t: string;
  i: string;
}

const NO_ID = '00000000-0000-0000-0000-000000000000';

/** Where a change feed starts: now, less the horizon (so what is committing now is not missed). */
export async function currentChangeCursor(app: App): Promise<ChangeCursor> {
  return { t: await changeTimeBefore(app.db, CHANGE_HORIZON), i: NO_ID };
}

/**
 * The leads of a workspace that changed after `since` (the lead itself, or any of its
 * deliveries), oldest change first, as lead summaries; and the cursor to ask from next time.
 * Delivery is at least once: a lead may come again with the same state; callers replace what
 * they hold by id.
 */
export async function listLeadChanges(
  app: App,
  workspaceId: string,
  since: ChangeCursor,
  limit: number,
): Promise<{ items: LeadSummary[]; cursor: ChangeCursor; hasMore: boolean }> {
  const horizon = await currentChangeCursor(app);
  const rows = await listChangedLeads(app.db, workspaceId, since, limit + 1);
  const hasMore = rows.length > limit;
  const page = hasMore ? rows.slice(0, limit) : rows;
  // A full page moves to its last lead (so a burst is read to its end); otherwise to the horizon.
  const last = page[page.length - 1];
  const cursor = hasMore && last ? { t: last.t, i: last.lead_id } : horizon.t > since.t ? horizon : since;
  if (page.length === 0) return { items: [], cursor, hasMore };
  const leads = await findLeadsWithRollup(
    app.db,
    workspaceId,
    page.map((r) => r.lead_id),
  );
  const order = new Map(page.map((r, n) => [r.lead_id, n]));
  leads.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  return { items: await summariesOf(app, workspaceId, leads), cursor, hasMore };
}

/**
 * What takes the lead's own data out of a CRM's words about it: its answer values (decrypted
 * in memory, never returned) and any email address; only emails when the answers are gone or
 * cannot be read.
 */
function messageRedactorFor(app: App, lead: Lead): (text: string | null) => string | null {
  let values: string[] = [];
  try {
    values = decryptLeadAnswers(app.keyRing, lead).answers.flatMap((a) => a.values.filter((v): v is string => typeof v === 'string'));
  } catch {
    // Unreadable answers (a key removed from the ring): emails are still taken out.
  }
  return (text) => redactAnswerValues(text, values);
}

type DestinationRef = { id: string; name: string | null; type: string | null };

/** A lead's deliveries and their attempts, oldest first, with what the lead log shows of them: each destination's name and type, and the redactor of the CRM's words. */
async function loadDeliveriesOf(app: App, lead: Lead) {
  const deliveries = await repo.listDeliveriesOfLead(app.db, lead.id);
  const attempts = await repo.listAttemptsOfLead(app.db, lead.id);
  const destinations = new Map((await repo.listDestinations(app.db, lead.workspace_id)).map((d) => [d.id, d]));
  const destinationOf = (id: string): DestinationRef => ({ id, name: destinations.get(id)?.name ?? null, type: destinations.get(id)?.type ?? null });
  return { deliveries, attempts, destinationOf, redact: messageRedactorFor(app, lead) };
}

/** One lead's metadata and, per delivery, every attempt with its time, outcome and reason: never its answers. */
export async function describeLead(app: App, lead: Lead) {
  const { deliveries, attempts, destinationOf, redact } = await loadDeliveriesOf(app, lead);
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
    attribution: attributionOf(lead),
    status: lead.status,
    status_reason: lead.status_reason,
    // Whether answers are held (encrypted), never what they are.
    answers: (lead.answers_envelope !== null ? 'stored' : lead.erased_at !== null ? 'erased' : 'none') as 'stored' | 'erased' | 'none',
    answers_erased_at: iso(lead.erased_at),
    deliveries: deliveries.map((d) => ({
      id: d.id,
      destination: destinationOf(d.destination_id),
      route_id: d.route_id,
      status: d.status,
      attempts_count: d.attempts,
      external_id: d.external_id,
      external_url: d.external_url,
      action: d.action,
      error_kind: d.last_error_kind,
      error: d.last_error_reason,
      message: redact(d.last_error_message),
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
          message: redact(a.message),
        })),
    })),
  };
}

/** One step of a lead's way, as the lead log's timeline shows it. */
type TimelineEvent =
  | { type: 'received' | 'fetched' | 'erased'; at: string }
  | { type: 'unrouted'; at: string; reason: string | null }
  | { type: 'routed'; at: string; delivery_id: string; route_id: string | null; destination: DestinationRef }
  | {
      type: 'attempt';
      at: string;
      started_at: string;
      delivery_id: string;
      destination: DestinationRef;
      attempt: number;
      outcome: string;
      http_status: number | null;
      error_kind: string | null;
      reason: string | null;
      message: string | null;
      record_url: string | null;
      external_id: string | null;
    }
  | { type: 'parked'; at: string; delivery_id: string; destination: DestinationRef; reason: string | null };

// Steps at the same instant keep the order they happen in.
const EVENT_RANK: Record<TimelineEvent['type'], number> = { received: 0, fetched: 1, unrouted: 2, routed: 2, attempt: 3, parked: 4, erased: 5 };

/**
 * A lead's way, oldest first: received (the webhook), fetched from Meta, routed to each
 * destination (or unrouted, with why), each delivery attempt with its outcome, time, the CRM's
 * own words (without the lead's data) and, once delivered, the link to the CRM record; parked
 * deliveries; the retention purge. With each delivery's current state. Never the answers.
 */
export async function describeLeadTimeline(app: App, lead: Lead) {
  const { deliveries, attempts, destinationOf, redact } = await loadDeliveriesOf(app, lead);
  const byId = new Map(deliveries.map((d) => [d.id, d]));
  const events: TimelineEvent[] = [
    { type: 'received', at: iso(lead.received_at)! },
    { type: 'fetched', at: iso(lead.fetched_at)! },
  ];
  if (lead.status === 'unrouted') events.push({ type: 'unrouted', at: iso(lead.fetched_at)!, reason: lead.status_reason });
  for (const d of deliveries) {
    events.push({ type: 'routed', at: iso(d.created_at)!, delivery_id: d.id, route_id: d.route_id, destination: destinationOf(d.destination_id) });
    if (d.status === 'parked')
      events.push({ type: 'parked', at: iso(d.updated_at)!, delivery_id: d.id, destination: destinationOf(d.destination_id), reason: d.last_error_reason });
  }
  for (const a of attempts) {
    const d = byId.get(a.delivery_id)!;
    const isDelivered = a.outcome === 'delivered';
    events.push({
      type: 'attempt',
      at: iso(a.finished_at)!,
      started_at: iso(a.started_at)!,
      delivery_id: a.delivery_id,
      destination: destinationOf(d.destination_id),
      attempt: a.attempt,
      outcome: a.outcome,
      http_status: a.http_status,
      error_kind: a.error_kind,
      reason: a.reason,
      message: redact(a.message),
      record_url: isDelivered ? d.external_url : null,
      external_id: isDelivered ? d.external_id : null,
    });
  }
  if (lead.erased_at) events.push({ type: 'erased', at: iso(lead.erased_at)! });
  events.sort((x, y) => x.at.localeCompare(y.at) || EVENT_RANK[x.type] - EVENT_RANK[y.type] || ('attempt' in x && 'attempt' in y ? x.attempt - y.attempt : 0));
  return {
    lead_id: lead.id,
    status: lead.status,
    status_reason: lead.status_reason,
    events,
    deliveries: deliveries.map((d) => ({
      id: d.id,
      destination: destinationOf(d.destination_id),
      status: d.status,
      attempts: d.attempts,
      external_id: d.external_id,
      record_url: d.external_url,
      action: d.action,
      error: d.last_error_reason,
      message: redact(d.last_error_message),
      next_attempt_at: iso(d.next_attempt_at),
      delivered_at: iso(d.delivered_at),
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

/** Re-queues every dead delivery of one of the workspace's destinations (not found: another workspace's); returns how many. */
export async function replayDeadDeliveriesOf(app: App, workspaceId: string, destinationId: string): Promise<number> {
  const dest = await getDestination(app, workspaceId, destinationId);
  return replayDeadDeliveries(app, dest.id);
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
