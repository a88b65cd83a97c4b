// Re-running a stored lead through routing and delivery (after a fix, a new route, new credentials).
import { noteDestinationResumed, notePageResumed } from '../alerts/raise.js';
import type { App } from '../app.js';
import * as repo from '../store/repos.js';
import type { DeliveryStatus } from '../store/schema.js';
import { decryptLeadAnswers, toCanonicalLead } from './lead-record.js';
import { selectRoutes } from './routing.js';
import type { FormQuestion } from '../mapping/schema.js';

export interface ReplayResult {
  leadId: string;
  queued: number;
  unrouted: boolean;
  reason: string | null;
}

/** Events per batch job when a page's backlog is queued again: 10 Graph batches of 50. */
const BACKLOG_JOB_EVENTS = 500;

/**
 * A page's backlog, queued as batch jobs so its leads are read in Graph batch requests. Reopened
 * rows share their write time, as an intake batch does, so the outbox sweep finds these jobs.
 */
async function enqueueBacklog(app: App, eventIds: number[]): Promise<void> {
  const sorted = [...eventIds].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; i += BACKLOG_JOB_EVENTS) await app.queues.enqueueFetchBatch(sorted.slice(i, i + BACKLOG_JOB_EVENTS));
}

/** Queues deliveries again. A finished job's id may still be held by a delayed or failed job: it is dropped so the new one runs. */
async function requeueDeliveries(app: App, ids: { id: string }[]): Promise<void> {
  await app.queues.removeDeliveryJobs(ids.map((d) => d.id));
  await app.queues.enqueueDeliveries(ids);
}

/** Routes the lead again (new routes may exist) and re-queues its deliveries in the given states. */
export async function replayLead(app: App, leadId: string, statuses: DeliveryStatus[] = ['dead', 'parked']): Promise<ReplayResult> {
  const lead = await repo.findLead(app.db, leadId);
  if (!lead) throw new Error(`lead ${leadId} not found`);
  if (lead.erased_at) throw new Error(`lead ${leadId} was erased by the retention purge and cannot be replayed`);
  const canonical = toCanonicalLead(lead, decryptLeadAnswers(app.keyRing, lead));
  const routes = await repo.findRoutesFor(app.db, lead.workspace_id, lead.page_id, lead.form_id);
  const questions = (await repo.findFormQuestions(app.db, lead.workspace_id, lead.form_id)) as FormQuestion[] | null;
  const { matched, reason } = selectRoutes(routes, canonical, questions);
  const ids = await app.db.transaction().execute(async (trx) => {
    const seen = new Set<string>();
    await repo.ensureDeliveries(
      trx,
      matched
        .filter((r) => {
          if (seen.has(r.destination_id)) return false;
          seen.add(r.destination_id);
          return true;
        })
        .map((r) => ({ workspaceId: lead.workspace_id, leadId: lead.id, destinationId: r.destination_id, routeId: r.id })),
    );
    await repo.setLeadStatus(trx, lead.id, matched.length ? 'routed' : 'unrouted', matched.length ? null : reason);
    await repo.resetDeliveriesOfLead(trx, lead.id, statuses);
    return (await repo.listDeliveriesOfLead(trx, lead.id)).filter((d) => d.status === 'pending').map((d) => ({ id: d.id }));
  });
  await requeueDeliveries(app, ids);
  return { leadId, queued: ids.length, unrouted: matched.length === 0, reason: matched.length ? null : reason };
}

/** Replays every unrouted lead of a workspace (optionally one form): those a route now takes are delivered. */
export async function replayUnrouted(app: App, workspaceId: string | null, formId: string | null): Promise<ReplayResult[]> {
  const rows = await repo.listUnroutedLeads(app.db, workspaceId, formId);
  const out: ReplayResult[] = [];
  for (const r of rows) out.push(await replayLead(app, r.id, []));
  return out;
}

/** Resumes a page's parked and unrouted-for-lack-of-page events after its token is (re)registered. */
export async function resumePage(app: App, pageId: string): Promise<number> {
  const reopened = await repo.reopenEventsForPage(app.db, pageId, ['parked', 'unrouted', 'failed']);
  await enqueueBacklog(
    app,
    reopened.map((r) => r.id),
  );
  await notePageResumed(app, pageId);
  return reopened.length;
}

/** Fetches again the events whose fetch gave up (of one page, or all), e.g. after Meta fixed access. */
export async function refetchFailed(app: App, pageId: string | null): Promise<number> {
  const rows = await repo.reopenFailedEvents(app.db, pageId);
  await app.queues.removeFetchJobs(rows.map((r) => r.id));
  await enqueueBacklog(
    app,
    rows.map((r) => r.id),
  );
  return rows.length;
}

/** Re-queues every dead delivery of a destination (after its receiver or data problem is fixed). */
export async function replayDeadDeliveries(app: App, destinationId: string): Promise<number> {
  const ids = await repo.reopenDeadDeliveries(app.db, destinationId);
  await requeueDeliveries(app, ids);
  return ids.length;
}

/** Resumes a destination's parked deliveries, oldest first, after its credentials are replaced. */
export async function resumeDestination(app: App, destinationId: string): Promise<number> {
  const ids = await repo.unparkDeliveries(app.db, destinationId);
  await requeueDeliveries(app, ids);
  await noteDestinationResumed(app, destinationId);
  return ids.length;
}
