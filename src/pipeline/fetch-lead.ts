// Fetch step: one leadgen event → the lead fetched from Graph, stored (answers encrypted),
// matched to routes, with one delivery row per destination, then one delivery job each.
// Idempotent: a repeat finds the event already fetched, the lead and deliveries already there.
import { notePageNeedsReauth } from '../alerts/raise.js';
import type { App } from '../app.js';
import { GraphError } from '../meta/graph-errors.js';
import type { GraphForm } from '../meta/graph-types.js';
import * as repo from '../store/repos.js';
import type { Route } from '../store/schema.js';
import { isWorkspaceBeingDeleted, WORKSPACE_DELETED_REASON } from '../store/workspace-deletion.js';
import { computeBackoffMs } from './backoff.js';
import { decryptLeadAnswers, leadRowFromGraph, pageTokenAad, toCanonicalLead } from './lead-record.js';
import { indexFetchedLead, questionTypesOf } from './lead-search-index.js';
import { selectRoutes } from './routing.js';

/** What the queue should do with the job. Only the worker turns this into BullMQ calls. */
export type StepOutcome = { type: 'done'; detail: string } | { type: 'delay'; delayMs: number; detail: string };

/** Meta keeps leads for about 90 days (reference §5); keep retrying transient failures for 30. */
const TRANSIENT_RETRY_WINDOW_MS = 30 * 24 * 3_600_000;

/** The form's name and questions, from the App's cache when read lately; null when Graph would not give them. */
async function getFormCached(app: App, formId: string | null, token: string): Promise<GraphForm | null> {
  if (!formId) return null;
  const hit = app.formCache.get(formId);
  if (hit !== undefined) return hit;
  let form: GraphForm | null = null;
  try {
    form = await app.graph.getForm(formId, token);
  } catch (err) {
    // The form's name and labels are a nicety; the lead is not held back for them.
    app.logger.debug({ formId, reason: err instanceof GraphError ? err.info.reason : 'error' }, 'form metadata unavailable');
  }
  app.formCache.set(formId, form);
  return form;
}

export async function fetchLeadForEvent(app: App, eventId: number): Promise<StepOutcome> {
  const { db, keyRing, logger } = app;
  const event = await repo.findEvent(db, eventId);
  if (!event) return { type: 'done', detail: 'event_missing' };
  if (event.status !== 'received') return { type: 'done', detail: `already_${event.status}` };

  const page = await repo.findPageByPageId(db, event.page_id);
  if (!page) {
    await repo.setEventStatus(db, eventId, 'unrouted', { reason: 'page_not_registered' });
    logger.info({ eventId, pageId: event.page_id }, 'lead for an unregistered page kept as unrouted');
    return { type: 'done', detail: 'page_not_registered' };
  }
  if (page.status === 'needs_reauth') {
    await repo.setEventStatus(db, eventId, 'parked', { reason: 'page_needs_reauth', workspaceId: page.workspace_id });
    return { type: 'done', detail: 'parked' };
  }
  // Kept, not fetched: a disconnected page has no token, and a workspace being deleted takes no
  // new leads. Connecting the page again (or restoring the workspace) resumes them.
  if (page.status === 'disconnected') {
    await repo.setEventStatus(db, eventId, 'parked', { reason: 'page_disconnected', workspaceId: page.workspace_id });
    return { type: 'done', detail: 'parked' };
  }
  if (await isWorkspaceBeingDeleted(db, page.workspace_id)) {
    await repo.setEventStatus(db, eventId, 'parked', { reason: WORKSPACE_DELETED_REASON, workspaceId: page.workspace_id });
    return { type: 'done', detail: 'parked' };
  }

  const token = keyRing.decrypt(page.token_envelope, pageTokenAad(page.page_id));
  let graphLead: Awaited<ReturnType<typeof app.graph.getLead>>;
  try {
    graphLead = await app.graph.getLead(event.leadgen_id, token);
  } catch (err) {
    if (!(err instanceof GraphError)) throw err;
    const info = err.info;
    const lastError = {
      category: info.category,
      reason: info.reason,
      code: info.code,
      subcode: info.subcode,
      fbtrace_id: info.fbtraceId,
      message: info.message,
    };
    if (info.category === 'token_dead' || info.category === 'page_role_missing' || info.category === 'permission_missing') {
      await repo.setPageStatus(db, page.page_id, 'needs_reauth', info.reason);
      await repo.setEventStatus(db, eventId, 'parked', { reason: 'page_needs_reauth', workspaceId: page.workspace_id, lastError });
      // One alert for the page (not one per lead); sent by the alert dispatcher, not from here.
      await notePageNeedsReauth(app, page, info);
      logger.warn(
        { eventId, pageId: page.page_id, reason: info.reason, fbtraceId: info.fbtraceId },
        'page token no longer works; its leads are parked until it is replaced',
      );
      return { type: 'done', detail: 'parked' };
    }
    if (info.category === 'throttled' || info.category === 'blocked') {
      await repo.setEventStatus(db, eventId, 'received', { lastError, workspaceId: page.workspace_id });
      return { type: 'delay', delayMs: info.retryAfterMs ?? 60_000, detail: info.reason };
    }
    const attempts = event.attempts + 1;
    // A Graph outage or a network cut must not cost leads Meta was already told we have: transient
    // errors keep retrying (at most hourly) for as long as Meta keeps the lead. Other errors (not
    // found, bad request) give up after FETCH_MAX_ATTEMPTS; `leadrelay leads refetch` retries them.
    const isTransient = info.category === 'transient';
    const age = Date.now() - new Date(event.received_at).getTime();
    if (isTransient ? age > TRANSIENT_RETRY_WINDOW_MS : attempts >= app.config.fetch.maxAttempts) {
      await repo.setEventStatus(db, eventId, 'failed', { reason: info.reason, lastError, incrementAttempts: true, workspaceId: page.workspace_id });
      logger.error({ eventId, reason: info.reason, fbtraceId: info.fbtraceId, attempts }, 'lead fetch gave up');
      return { type: 'done', detail: 'failed' };
    }
    await repo.setEventStatus(db, eventId, 'received', { lastError, incrementAttempts: true, workspaceId: page.workspace_id });
    return { type: 'delay', delayMs: computeBackoffMs(attempts, app.config.fetch.backoffBaseMs, 3_600_000), detail: info.reason };
  }

  const formId = graphLead.formId ?? event.form_id;
  const form = await getFormCached(app, formId, token);
  const questions = form
    ? form.questions.map((q) => ({ key: q.key, label: q.label, type: q.type, ...(q.options?.length ? { options: q.options } : {}) }))
    : null;
  if (form && formId) await repo.upsertForm(db, { workspaceId: page.workspace_id, formId, pageId: page.page_id, name: form.name ?? null, questions });
  const routes = await repo.findRoutesFor(db, page.workspace_id, page.page_id, graphLead.formId ?? event.form_id);

  const created = await db.transaction().execute(async (trx) => {
    const lead = await repo.insertLead(
      trx,
      leadRowFromGraph(
        keyRing,
        {
          workspaceId: page.workspace_id,
          eventId,
          pageId: page.page_id,
          pageName: page.name,
          formName: form?.name ?? null,
          receivedAt: new Date(event.received_at),
          isTest: event.is_test,
        },
        graphLead,
      ),
    );
    const answers = decryptLeadAnswers(keyRing, lead);
    // The blind index of its emails and phones, in the same transaction: a stored lead is findable.
    await indexFetchedLead(trx, keyRing, lead, answers.answers, questionTypesOf(questions));
    const canonical = toCanonicalLead(lead, answers);
    const { matched, reason } = selectRoutes(routes, canonical, questions);
    if (matched.length === 0) await repo.setLeadStatus(trx, lead.id, 'unrouted', reason);
    else if (lead.status === 'unrouted') await repo.setLeadStatus(trx, lead.id, 'routed', null);
    const deliveries = await repo.ensureDeliveries(
      trx,
      dedupeByDestination(matched).map((r) => ({ workspaceId: page.workspace_id, leadId: lead.id, destinationId: r.destination_id, routeId: r.id })),
    );
    await repo.setEventStatus(trx, eventId, 'fetched', { workspaceId: page.workspace_id, reason: null, lastError: null });
    return { lead, deliveries };
  });

  const pending = created.deliveries.filter((d) => d.status === 'pending').map((d) => ({ id: d.id }));
  await app.queues.enqueueDeliveries(pending);
  return { type: 'done', detail: `fetched:${pending.length}` };
}

/** A lead goes to each destination once, even when two routes name the same destination. */
function dedupeByDestination(routes: Route[]): Route[] {
  const seen = new Set<string>();
  return routes.filter((r) => {
    if (seen.has(r.destination_id)) return false;
    seen.add(r.destination_id);
    return true;
  });
}
