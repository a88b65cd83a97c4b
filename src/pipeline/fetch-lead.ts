// Fetch step: one leadgen event → the lead fetched from Graph, stored (answers encrypted),
// matched to routes, with one delivery row per destination, each then handed on (DeliveryHandOff:
// a delivery job, or in a worker a send of its own or its batch run).
// Several events at once (an intake or reconciliation batch, a resumed backlog): the leads of
// one Page are read in Graph batch requests of up to 50; each lead then goes on alone, its
// failure (if any) handled exactly as a failed single read.
// Idempotent: a repeat finds the event already fetched, the lead and deliveries already there.
// Per new lead it sends two statements when the configuration is cached (the event with the
// config counter, one statement for all the events of a batch; the lead, its blind index,
// deliveries and event status in one), plus the form's upsert when the form changed.
import { randomUUID } from 'node:crypto';
import { getManifest } from '../../connectors/index.js';
import { notePageNeedsReauth } from '../alerts/raise.js';
import type { App } from '../app.js';
import { GRAPH_BATCH_MAX } from '../meta/graph-client.js';
import { GraphError } from '../meta/graph-errors.js';
import type { GraphForm, GraphLead } from '../meta/graph-types.js';
import type { FormQuestion } from '../mapping/schema.js';
import * as repo from '../store/repos.js';
import type { StoredLead } from '../store/fetched-leads.js';
import type { Delivery, Lead, Page, Route } from '../store/schema.js';
import { WORKSPACE_DELETED_REASON } from '../store/workspace-deletion.js';
import { computeBackoffMs } from './backoff.js';
import { decryptLeadAnswers, type LeadAnswers, leadAnswersOf, leadRowFromGraph, type NewLeadRow, pageTokenAad, toCanonicalLead } from './lead-record.js';
import { indexFetchedLead, questionTypesOf, searchRowsOf } from './lead-search-index.js';
import { selectRoutes } from './routing.js';
import { createLimiter, type Limiter } from './limiter.js';

/** What the queue should do with the job. Only the worker turns this into BullMQ calls. */
export type StepOutcome = { type: 'done'; detail: string } | { type: 'delay'; delayMs: number; detail: string };

/** Meta keeps leads for about 90 days (reference §5); keep retrying transient failures for 30. */
const TRANSIENT_RETRY_WINDOW_MS = 30 * 24 * 3_600_000;

/** Form reads under way, per App: the leads of a batch that share a form wait for one read, not one each. */
const formReadsInFlight = new WeakMap<App, Map<string, Promise<GraphForm | null>>>();

/** The form's name and questions, from the App's cache when read lately; null when Graph would not give them. */
async function getFormCached(app: App, formId: string | null, token: string): Promise<GraphForm | null> {
  if (!formId) return null;
  const hit = app.formCache.get(formId);
  if (hit !== undefined) return hit;
  let inFlight = formReadsInFlight.get(app);
  if (!inFlight) formReadsInFlight.set(app, (inFlight = new Map()));
  const pending = inFlight.get(formId);
  if (pending) return pending;
  const reading = readForm(app, formId, token).finally(() => inFlight.delete(formId));
  inFlight.set(formId, reading);
  return reading;
}

async function readForm(app: App, formId: string, token: string): Promise<GraphForm | null> {
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

type EventForFetch = repo.EventForFetch;

/** An event whose lead is to be read from Graph: its Page is registered, connected and not being deleted. */
interface ReadyEvent {
  eventId: number;
  event: EventForFetch;
  page: Page;
}

/** How many times an event's checks are made again from a fresh read when the configuration changed under them. */
const PREPARE_ATTEMPTS = 3;

/** Everything decided before the Graph read: an outcome already, or the event ready for its read. */
async function prepareFetch(
  app: App,
  eventId: number,
  readAlready?: EventForFetch | null,
  attempt = 1,
): Promise<{ outcome: StepOutcome } | { ready: ReadyEvent }> {
  const { db, logger, configCache } = app;
  // The event comes with the configuration counter: the page, deletion flag, routes and stored
  // form below come from the App's cache, exact as of this statement (src/pipeline/config-cache.ts).
  const event = readAlready === undefined ? await repo.findEventForFetch(db, eventId) : readAlready;
  if (!event) return { outcome: { type: 'done', detail: 'event_missing' } };
  if (event.status !== 'received') return { outcome: { type: 'done', detail: `already_${event.status}` } };
  const version = event.configVersion;
  // A lead kept (unrouted, parked) is resumed only by the change that lets it go on (a page
  // added or re-authorised, a workspace restored), which reopens the events kept by then. So the
  // status is written only while the configuration is still the one it was decided under (the
  // event may have been read seconds ago, in a batch); otherwise the checks run again on a fresh read.
  const keep = async (
    status: 'unrouted' | 'parked',
    extra: repo.EventStatusExtra,
    detail: string,
  ): Promise<{ outcome: StepOutcome } | { ready: ReadyEvent }> => {
    if (await repo.setEventStatusWhileConfigIs(db, version, eventId, status, extra)) return { outcome: { type: 'done', detail } };
    if (attempt < PREPARE_ATTEMPTS) return prepareFetch(app, eventId, undefined, attempt + 1);
    return { outcome: { type: 'delay', delayMs: 1000, detail: 'configuration_changing' } };
  };

  const page = await configCache.page(db, version, event.page_id);
  if (!page) {
    const kept = await keep('unrouted', { reason: 'page_not_registered' }, 'page_not_registered');
    if ('outcome' in kept && kept.outcome.detail === 'page_not_registered')
      logger.info({ eventId, pageId: event.page_id }, 'lead for an unregistered page kept as unrouted');
    return kept;
  }
  if (page.status === 'needs_reauth') return keep('parked', { reason: 'page_needs_reauth', workspaceId: page.workspace_id }, 'parked');
  // Kept, not fetched: a disconnected page has no token, and a workspace being deleted takes no
  // new leads. Connecting the page again (or restoring the workspace) resumes them.
  if (page.status === 'disconnected') return keep('parked', { reason: 'page_disconnected', workspaceId: page.workspace_id }, 'parked');
  if (await configCache.isWorkspaceBeingDeleted(db, version, page.workspace_id))
    return keep('parked', { reason: WORKSPACE_DELETED_REASON, workspaceId: page.workspace_id }, 'parked');
  return { ready: { eventId, event, page } };
}

/** Opened for every lead of the page: kept open by the key ring until the page's token changes. */
const decryptPageToken = (app: App, page: Page) => app.keyRing.decryptRepeated(page.token_envelope, pageTokenAad(page.page_id));

export async function fetchLeadForEvent(app: App, eventId: number, handOff: DeliveryHandOff = queueDeliveries(app)): Promise<StepOutcome> {
  const prepared = await prepareFetch(app, eventId);
  if ('outcome' in prepared) return prepared.outcome;
  const { ready } = prepared;
  const token = decryptPageToken(app, ready.page);
  let read: GraphLead | GraphError;
  try {
    read = await app.graph.getLead(ready.event.leadgen_id, token);
  } catch (err) {
    if (!(err instanceof GraphError)) throw err;
    read = err;
  }
  return finishFetch(app, ready, token, read, handOff);
}

/** What became of one event of `fetchLeadsForEvents`: its outcome, or the error that stopped it (it stays `received`). */
export type EventFetchResult = { eventId: number; outcome: StepOutcome; error?: undefined } | { eventId: number; outcome?: undefined; error: unknown };

/** A delivery stored just now and claimed for its first send by the process that stored it. */
export interface StoredDelivery {
  delivery: Delivery;
  lead: Lead;
  configVersion: number;
  /** The lead's answers as just read from Graph, so the send need not decrypt what was just encrypted. */
  answers?: LeadAnswers;
}

/**
 * Places taken (or promised, in the process's line for places) to send a lead's new deliveries to
 * these destinations itself: their claim is stored with them.
 */
export interface DirectSends {
  destinationIds: string[];
  claim: { token: string; until: Date };
  /** Sends the stored deliveries (without waiting for them) and gives back the turns left unused. */
  send(stored: StoredDelivery[]): void;
}

/**
 * What becomes of a stored lead's pending deliveries. By default each gets a delivery job; a
 * worker may send them itself (see src/pipeline/workers.ts). Either way they are pending rows in
 * PostgreSQL first, so the outbox sweep finds any this process never finishes.
 */
export interface DeliveryHandOff {
  /**
   * Places to send new deliveries to these destinations right after they are stored: free now, or
   * a turn in the line (possibly after a short wait for room). Destinations left out, or all of
   * them when undefined: their deliveries get delivery jobs.
   */
  reserve(destinationIds: string[]): DirectSends | undefined | Promise<DirectSends | undefined>;
  /** Deliveries not sent at once: each gets a delivery job. */
  queue(pending: { id: string }[]): Promise<void>;
  /**
   * New deliveries to destinations of batching connectors (active when the lead was stored), for
   * this process's batch runs of them; returns those it does not take (they get delivery jobs).
   * Without it, they all get delivery jobs.
   */
  batch?(deliveries: { id: string; destinationId: string }[]): { id: string }[];
}

const queueDeliveries = (app: App): DeliveryHandOff => ({
  reserve: () => undefined,
  queue: (pending) => app.queues.enqueueDeliveries(pending),
});

/**
 * Several events: each is checked as alone; then a Page with one event to read gets the single
 * `GET /{leadgen_id}` (no batching cost when traffic is light), and a Page with several gets Graph
 * batches of up to GRAPH_BATCH_MAX, one after the other. A lead whose item failed takes the path a
 * failed single read takes, without holding back the others; once Meta throttles a Page (or
 * blocks it), its batches not yet sent are not sent: their events wait Meta's time as well.
 * `parallelism` bounds what runs at once: events being checked or stored, and Graph reads.
 */
export async function fetchLeadsForEvents(
  app: App,
  eventIds: readonly number[],
  parallelism: number,
  /** Places shared with the process's other fetches, taken as well (after one of `parallelism`). */
  shared?: Limiter,
  handOff: DeliveryHandOff = queueDeliveries(app),
  /** The events as already read (an intake insert returns them): then they are not read again. */
  known?: readonly EventForFetch[],
): Promise<EventFetchResult[]> {
  const own = createLimiter(Math.max(1, parallelism));
  const limit: Limiter = shared ? (task) => own(() => shared(task)) : own;
  const results: EventFetchResult[] = [];
  const settle = async (eventId: number, work: () => Promise<StepOutcome>) => {
    try {
      results.push({ eventId, outcome: await work() });
    } catch (error) {
      results.push({ eventId, error });
    }
  };

  // The events are read together (one statement for the lot), then each is checked as alone.
  // Events the intake insert has just returned are not read again: their rows are as inserted,
  // and a run that took one up meanwhile is caught where the lead is stored (once per event).
  let events: Map<number, EventForFetch>;
  if (known && known.length === eventIds.length && known.every((e, i) => e.id === eventIds[i])) events = new Map(known.map((e) => [e.id, e]));
  else {
    try {
      events = await repo.findEventsForFetch(app.db, eventIds);
    } catch (error) {
      return eventIds.map((eventId) => ({ eventId, error }));
    }
  }
  const byPage = new Map<string, ReadyEvent[]>();
  await Promise.all(
    eventIds.map((eventId) =>
      limit(async () => {
        try {
          const prepared = await prepareFetch(app, eventId, events.get(eventId) ?? null);
          if ('outcome' in prepared) {
            results.push({ eventId, outcome: prepared.outcome });
            return;
          }
          const group = byPage.get(prepared.ready.page.page_id);
          if (group) group.push(prepared.ready);
          else byPage.set(prepared.ready.page.page_id, [prepared.ready]);
        } catch (error) {
          results.push({ eventId, error });
        }
      }),
    ),
  );

  const finishing: Promise<void>[] = [];
  const handed = new Set<number>();
  const finishEach = (events: ReadyEvent[], token: string, readOf: (ready: ReadyEvent) => GraphLead | GraphError) => {
    for (const ready of events) handed.add(ready.eventId);
    for (const ready of events) finishing.push(limit(() => settle(ready.eventId, () => finishFetch(app, ready, token, readOf(ready), handOff))));
  };
  /** Reads a Page's leads: returns each leadgen id's lead or GraphError. */
  const readLeads = async (leadgenIds: string[], token: string): Promise<Map<string, GraphLead | GraphError>> => {
    const reads = new Map<string, GraphLead | GraphError>();
    try {
      if (leadgenIds.length === 1) reads.set(leadgenIds[0], await app.graph.getLead(leadgenIds[0], token));
      else for (const r of await app.graph.getLeads(leadgenIds, token)) reads.set(r.leadgenId, r.error ?? r.lead);
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      for (const id of leadgenIds) reads.set(id, err);
    }
    return reads;
  };

  await Promise.all(
    [...byPage.values()].map(async (group) => {
      try {
        const token = decryptPageToken(app, group[0].page);
        // A lead asked for twice (a repeated webhook) is read once.
        const leadgenIds = [...new Set(group.map((r) => r.event.leadgen_id))];
        let stopped: GraphError | undefined;
        for (let start = 0; start < leadgenIds.length; start += GRAPH_BATCH_MAX) {
          const chunk = leadgenIds.slice(start, start + GRAPH_BATCH_MAX);
          const inChunk = new Set(chunk);
          const events = group.filter((r) => inChunk.has(r.event.leadgen_id));
          if (stopped) {
            const wait = stopped;
            finishEach(events, token, () => wait);
            continue;
          }
          const reads = await limit(() => readLeads(chunk, token));
          // Meta: once limited, stop calling; calling on extends the block.
          stopped = [...reads.values()].find(
            (r): r is GraphError => r instanceof GraphError && (r.info.category === 'throttled' || r.info.category === 'blocked'),
          );
          finishEach(events, token, (ready) => reads.get(ready.event.leadgen_id) as GraphLead | GraphError);
        }
      } catch (error) {
        // Not a Graph answer (a token that does not decrypt, a bug): these events stay `received`.
        for (const ready of group) if (!handed.has(ready.eventId)) results.push({ eventId: ready.eventId, error });
      }
    }),
  );
  await Promise.all(finishing);
  return results;
}

/** After the Graph read: a failed read is retried, delayed, parked or given up; a lead is stored and routed. */
async function finishFetch(app: App, ready: ReadyEvent, token: string, read: GraphLead | GraphError, handOff: DeliveryHandOff): Promise<StepOutcome> {
  const { db, keyRing, logger, configCache } = app;
  const { eventId, event, page } = ready;
  const version = event.configVersion;
  if (read instanceof GraphError) {
    const info = read.info;
    const lastError = {
      category: info.category,
      reason: info.reason,
      code: info.code,
      subcode: info.subcode,
      fbtrace_id: info.fbtraceId,
      message: info.message,
    };
    if (info.category === 'token_dead' || info.category === 'page_role_missing' || info.category === 'permission_missing') {
      const parked = await repo.parkEventForRefusedToken(db, {
        eventId,
        pageId: page.page_id,
        tokenEnvelope: page.token_envelope,
        reason: info.reason,
        extra: { reason: 'page_needs_reauth', workspaceId: page.workspace_id, lastError, whileReceived: true },
      });
      // The page's token was replaced while the old one was being refused: read again with the new one.
      if (!parked) return { type: 'delay', delayMs: 0, detail: 'page_token_replaced' };
      // One alert for the page (not one per lead); sent by the alert dispatcher, not from here.
      await notePageNeedsReauth(app, page, info);
      logger.warn(
        { eventId, pageId: page.page_id, reason: info.reason, fbtraceId: info.fbtraceId },
        'page token no longer works; its leads are parked until it is replaced',
      );
      return { type: 'done', detail: 'parked' };
    }
    if (info.category === 'throttled' || info.category === 'blocked') {
      const delayMs = info.retryAfterMs ?? 60_000;
      await repo.setEventStatus(db, eventId, 'received', { lastError, workspaceId: page.workspace_id, retryInMs: delayMs, whileReceived: true });
      return { type: 'delay', delayMs, detail: info.reason };
    }
    const attempts = event.attempts + 1;
    // A Graph outage or a network cut must not cost leads Meta was already told we have: transient
    // errors keep retrying (at most hourly) for as long as Meta keeps the lead. Other errors (not
    // found, bad request) give up after FETCH_MAX_ATTEMPTS; `leadrelay leads refetch` retries them.
    const isTransient = info.category === 'transient';
    const age = Date.now() - new Date(event.received_at).getTime();
    if (isTransient ? age > TRANSIENT_RETRY_WINDOW_MS : attempts >= app.config.fetch.maxAttempts) {
      await repo.setEventStatus(db, eventId, 'failed', {
        reason: info.reason,
        lastError,
        incrementAttempts: true,
        workspaceId: page.workspace_id,
        whileReceived: true,
      });
      logger.error({ eventId, reason: info.reason, fbtraceId: info.fbtraceId, attempts }, 'lead fetch gave up');
      return { type: 'done', detail: 'failed' };
    }
    const delayMs = computeBackoffMs(attempts, app.config.fetch.backoffBaseMs, 3_600_000);
    await repo.setEventStatus(db, eventId, 'received', {
      lastError,
      incrementAttempts: true,
      workspaceId: page.workspace_id,
      retryInMs: delayMs,
      whileReceived: true,
    });
    return { type: 'delay', delayMs, detail: info.reason };
  }

  const graphLead = read;
  const formId = graphLead.formId ?? event.form_id;
  const form = await getFormCached(app, formId, token);
  const questions = form
    ? form.questions.map((q) => ({ key: q.key, label: q.label, type: q.type, ...(q.options?.length ? { options: q.options } : {}) }))
    : null;
  // Written only when it changed: the upsert is a transaction and a row lock every fetch of the form would queue on.
  if (form && formId) {
    const formRow = { name: form.name ?? null, questions };
    const stored = await configCache.storedForm(db, version, page.workspace_id, formId);
    if (!stored || !isSameJson(stored, formRow)) await repo.upsertForm(db, { workspaceId: page.workspace_id, formId, pageId: page.page_id, ...formRow });
  }
  const routes = await configCache.routesFor(db, version, page.workspace_id, page.page_id, formId);

  // Everything about the new lead is decided before it is stored (its id too), so one statement stores it.
  const answers = leadAnswersOf(graphLead);
  const row = leadRowFromGraph(
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
    answers,
  );
  const leadId = randomUUID();
  const { matched, reason } = selectRoutes(routes, toCanonicalLead({ ...row, id: leadId }, answers), questions);
  const targets = dedupeByDestination(matched).map((r) => ({ destinationId: r.destination_id, routeId: r.id }));
  // Deliveries this process can send at once are stored claimed by it (no delivery job, no claim
  // statement). Not those of a batching connector: their batches claim ready rows themselves.
  const sendable: string[] = [];
  const batching = new Set<string>();
  for (const t of targets) {
    const dest = await configCache.destination(db, version, t.destinationId);
    if (dest?.status !== 'active') continue;
    if (getManifest(dest.type).batch) batching.add(t.destinationId);
    else sendable.push(t.destinationId);
  }
  const direct = sendable.length ? await handOff.reserve(sendable) : undefined;
  const lead = {
    ...row,
    id: leadId,
    status: matched.length ? ('routed' as const) : ('unrouted' as const),
    status_reason: reason,
    search_kid: keyRing.primaryKid,
  };
  let stored: StoredLead = null;
  try {
    // Stored with the leads of concurrent fetches when several are ready at once (group commit).
    stored = await app.leadStore.submit({
      lead: { ...lead, event_id: eventId },
      search: searchRowsOf(keyRing, page.workspace_id, answers.answers, questionTypesOf(questions)),
      deliveries: targets.map((t) => ({ ...t, claimedBy: direct?.destinationIds.includes(t.destinationId) ? direct.claim.token : null })),
      claimedUntil: direct?.claim.until ?? null,
    });
  } finally {
    const now = new Date();
    const storedLead: Lead = {
      ...lead,
      created_time: new Date(lead.created_time),
      received_at: new Date(lead.received_at),
      fetched_at: now,
      updated_at: now,
      erased_at: null,
    };
    // The configuration as of the store: a form the fetch has just written is what the send maps with.
    const claimed = (stored?.deliveries ?? []).filter((d) => d.claimed_by !== null);
    direct?.send(claimed.map((delivery) => ({ delivery, lead: storedLead, configVersion: stored?.configVersion ?? version, answers })));
  }
  const created = stored?.deliveries;
  const pending = created ? created.filter((d) => d.claimed_by === null) : await storeRepeatedLead(app, { row, eventId, routes, questions });
  if (pending === 'event_erased') {
    logger.info({ eventId }, 'lead not stored: its Facebook user asked Meta to delete their data while it was being fetched');
    return { type: 'done', detail: 'erased' };
  }
  // Those of batching destinations go to this process's batch runs when it has them.
  await handOff.queue(
    created && handOff.batch
      ? handOffBatched(
          handOff.batch,
          created.filter((d) => d.claimed_by === null),
          batching,
        )
      : pending,
  );
  const count = created?.length ?? pending.length;
  return { type: 'done', detail: `fetched:${count}` };
}

/** Gives the new deliveries of batching destinations to the process's batch runs; returns the rest and those they did not take. */
function handOffBatched(batch: NonNullable<DeliveryHandOff['batch']>, pending: Delivery[], batching: Set<string>): { id: string }[] {
  const toRuns = pending.filter((d) => batching.has(d.destination_id));
  if (toRuns.length === 0) return pending;
  const left = batch(toRuns.map((d) => ({ id: d.id, destinationId: d.destination_id })));
  return [...pending.filter((d) => !batching.has(d.destination_id)), ...left];
}

/**
 * The lead was stored before (an earlier event of the same leadgen id, e.g. a repeated webhook
 * after its first event was pruned): routed again as stored, with its blind index and any
 * delivery a route added since, in one transaction. Returns the deliveries still pending, or
 * 'event_erased' when the event is `erased` (its Facebook user asked Meta to delete their data:
 * storeFetchedLeads leaves such a lead to this path), and then nothing is stored.
 */
async function storeRepeatedLead(
  app: App,
  input: { row: NewLeadRow; eventId: number; routes: Route[]; questions: FormQuestion[] | null },
): Promise<{ id: string }[] | 'event_erased'> {
  const { keyRing } = app;
  const { row, eventId, routes, questions } = input;
  const deliveries = await app.db.transaction().execute(async (trx) => {
    // The event first, locked: the data-deletion callback erases it under the same lock.
    if ((await repo.lockEventStatus(trx, eventId)) === 'erased') return 'event_erased' as const;
    const lead = await repo.insertLead(trx, row);
    const answers = decryptLeadAnswers(keyRing, lead);
    await indexFetchedLead(trx, keyRing, lead, answers.answers, questionTypesOf(questions));
    const { matched, reason } = selectRoutes(routes, toCanonicalLead(lead, answers), questions);
    if (matched.length === 0) await repo.setLeadStatus(trx, lead.id, 'unrouted', reason);
    else if (lead.status === 'unrouted') await repo.setLeadStatus(trx, lead.id, 'routed', null);
    const all = await repo.ensureDeliveries(
      trx,
      dedupeByDestination(matched).map((r) => ({ workspaceId: lead.workspace_id, leadId: lead.id, destinationId: r.destination_id, routeId: r.id })),
    );
    await repo.setEventStatus(trx, eventId, 'fetched', { workspaceId: lead.workspace_id, reason: null, lastError: null });
    return all;
  });
  if (deliveries === 'event_erased') return deliveries;
  return deliveries.filter((d) => d.status === 'pending').map((d) => ({ id: d.id }));
}

/** Whether two JSON values are equal, whatever the order of their objects' keys (jsonb keeps its own). */
function isSameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => isSameJson(v, b[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => isSameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
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
