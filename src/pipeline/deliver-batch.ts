// Batches: for a connector whose manifest declares `batch`, the job of one delivery claims the
// destination's ready deliveries, its own among them (up to the CRM's batch size, waiting a few ms
// for more when it found few), and sends them in one call (deliverBatch). Each lead's outcome is
// recorded for that lead alone, with the same rules as a single send (delivery-failure.ts); the
// other leads' jobs see the claim and finish, and those of them that must wait get a delayed job
// back. See deliverInBatch. Under a steady stream, calls that were not full are spaced by the
// connector's `minIntervalMs` (waitForBatchTurn), so leads fetched one by one from a backlog still
// go in large batches. Leads a worker has just fetched need no job at all: its batch run of the
// destination (batch-runs.ts) sends them through deliverReadyBatch.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { App } from '../app.js';
import { loadConnector } from '../../connectors/index.js';
import {
  ConnectorError,
  type BatchItemOutcome,
  type BatchSupport,
  type Connector,
  type DeliveryRecord,
  type DeliveryResult,
  type FieldDescriptor,
} from '../../connectors/types.js';
import * as repo from '../store/repos.js';
import type { Delivery, Destination, Lead, Route } from '../store/schema.js';
import { buildConnectorContext, deliveryState } from './connector-context.js';
import { decryptLeadAnswers, toCanonicalLead } from './lead-record.js';
import { deliveryRecordWith, mappingForRoute, mappingReadsLead, needsFieldList } from './mapping-step.js';
import type { FormQuestion, Mapping } from '../mapping/schema.js';
import type { StepOutcome } from './fetch-lead.js';
import type { Metrics } from '../util/metrics.js';
import { errorSummary } from '../util/error-summary.js';
import { redactAnswerValues } from '../lead/redact.js';
import { asConnectorError, recordFailure, sentValuesOf, type DestinationEffects } from './delivery-failure.js';

// ---- batches ----------------------------------------------------------------------------------------

/**
 * How long a batch may hold its claims: longer than any batch takes (a few CRM calls, each at
 * most DELIVERY_TIMEOUT_MS), so a live batch never loses them; a dead one's lapse after it.
 */
function claimLeaseMs(app: App): number {
  return app.config.workers.lockDurationMs + 6 * app.config.delivery.timeoutMs;
}

/** How many batches one job sends at most while its own delivery is still ready and unclaimed (older ones went first). */
const MAX_BATCHES_PER_JOB = 10;

/**
 * The job of one delivery of a batching connector. It claims the destination's oldest ready
 * deliveries (up to `maxRecords`; with fewer it waits `maxWaitMs` once and claims again), in one
 * statement that skips rows another batch is claiming at that moment, so concurrent jobs of one
 * destination form a few full batches instead of many small ones. It sends them (one CRM call,
 * or a few) and records each outcome for its own delivery. When its own delivery was not among
 * them, it looks again: taken by another batch (done; that batch records it), waiting for its
 * retry (delayed), or still ready (another batch, oldest first).
 *
 * The deliveries a batch took along keep no job of their own (their jobs found the claim and
 * finished): those that must wait get a delayed job from here, and any this process never
 * finishes (a crash) are queued again by the outbox sweep once the claim lapses. Outcomes are
 * written only under the claim, so nothing is counted twice.
 */
export async function deliverInBatch(app: App, own: Delivery, dest: Destination, batch: BatchSupport, metrics?: Metrics): Promise<StepOutcome> {
  for (let round = 0; round < MAX_BATCHES_PER_JOB; round++) {
    const paced = await waitForBatchTurn(app, own.id, dest.id, batch.minIntervalMs ?? 0);
    if (paced) return paced;
    const { claimed, claim } = await claimBatch(app, dest.id, batch);
    if (claimed.length > 0) {
      const outcomes = await sendBatch(app, dest, claimed, claim.token, own.id, metrics);
      const mine = outcomes.get(own.id);
      if (mine) return mine;
    }
    const why = await whyNotClaimed(app, own.id);
    if (why) return why;
  }
  // Older deliveries kept coming first: this one goes back to the queue behind them.
  return { type: 'delay', delayMs: 0, detail: 'batched_behind_older_deliveries' };
}

/**
 * Claims the destination's oldest ready deliveries for one batch: up to `maxRecords`, and when it
 * found fewer, once more after `maxWaitMs`. A full batch lets the next one go at once (a backlog).
 */
async function claimBatch(app: App, destinationId: string, batch: BatchSupport): Promise<{ claimed: Delivery[]; claim: { token: string } }> {
  const claim = { token: randomUUID(), until: new Date(Date.now() + claimLeaseMs(app)), now: new Date() };
  const claimed = await repo.claimReadyDeliveries(app.db, destinationId, claim, batch.maxRecords);
  if (claimed.length > 0 && claimed.length < batch.maxRecords && batch.maxWaitMs > 0) {
    await sleep(batch.maxWaitMs);
    claimed.push(...(await repo.claimReadyDeliveries(app.db, destinationId, { ...claim, now: new Date() }, batch.maxRecords - claimed.length)));
  }
  if (claimed.length >= batch.maxRecords) app.batchTurns.lastCallAt.delete(destinationId);
  return { claimed, claim };
}

/**
 * How long a batch run's next call of the destination waits for its turn: the last call was not
 * full and went less than `minIntervalMs` ago (see BatchSupport); 0 when it may go now.
 */
export function batchTurnWaitMs(app: App, destinationId: string, batch: BatchSupport): number {
  const minIntervalMs = batch.minIntervalMs ?? 0;
  const last = app.batchTurns.lastCallAt.get(destinationId);
  return minIntervalMs > 0 && last !== undefined ? Math.max(0, last + minIntervalMs - Date.now()) : 0;
}

/**
 * One batch for a process's batch run of a destination (batch-runs.ts), which has no delivery of
 * its own, once its turn has come (batchTurnWaitMs): claims as deliverInBatch does, sends, records
 * each outcome and gives every delivery of it that must wait a delayed job. Returns the ids it
 * claimed; none when no delivery was ready and unclaimed.
 */
export async function deliverReadyBatch(app: App, dest: Destination, batch: BatchSupport, metrics?: Metrics): Promise<string[]> {
  const { claimed, claim } = await claimBatch(app, dest.id, batch);
  if (claimed.length === 0) return [];
  // Not full: the next call of this destination waits its turn (a full one cleared it).
  if ((batch.minIntervalMs ?? 0) > 0 && claimed.length < batch.maxRecords) app.batchTurns.lastCallAt.set(dest.id, Date.now());
  await sendBatch(app, dest, claimed, claim.token, null, metrics);
  return claimed.map((d) => d.id);
}

/**
 * The pacing of batch calls in this process (batching connectors with `minIntervalMs`): when it
 * last took a batch of each destination (the next waits until the interval has passed), and the
 * destinations a job of it is waiting for the turn of (that job takes the turn's batch). Owned by
 * the App, like its other memory, so two Apps in one process pace apart.
 */
export interface BatchTurns {
  readonly lastCallAt: Map<string, number>;
  readonly waiting: Set<string>;
}

/** Destinations no batch was taken of for this long are forgotten (the map stays small). */
const FORGET_BATCH_CALL_AFTER_MS = 60_000;

/**
 * How long after the turn a job that left the wait to another comes back: by then the turn's
 * batch has usually claimed its delivery, and the job finds it so and finishes.
 */
const JOIN_AFTER_TURN_MS = 250;

/**
 * Waits for the destination's turn: batch calls that were not full go at most every
 * `minIntervalMs` (see BatchSupport). One job of this process per destination sleeps until the
 * turn; the others give their worker slot back and come again just after the turn (delayed),
 * when the turn's batch holds their deliveries. When the sleeper wakes, a batch taken meanwhile
 * may hold its own delivery (then that outcome is returned); otherwise it takes the turn, marking
 * it at once (the next jobs of this destination wait for the one after), and claims everything
 * that came meanwhile.
 */
async function waitForBatchTurn(app: App, ownId: string, destinationId: string, minIntervalMs: number): Promise<StepOutcome | undefined> {
  if (minIntervalMs <= 0) return undefined;
  const { lastCallAt: lastBatchCallAt, waiting: waitingForTurn } = app.batchTurns;
  for (;;) {
    const last = lastBatchCallAt.get(destinationId);
    const waitMs = last === undefined ? 0 : last + minIntervalMs - Date.now();
    if (waitMs <= 0) break;
    if (waitingForTurn.has(destinationId)) return { type: 'delay', delayMs: waitMs + JOIN_AFTER_TURN_MS, detail: 'joins_next_batch' };
    waitingForTurn.add(destinationId);
    try {
      await sleep(waitMs);
    } finally {
      waitingForTurn.delete(destinationId);
    }
    const why = await whyNotClaimed(app, ownId);
    if (why) return why;
  }
  const now = Date.now();
  lastBatchCallAt.set(destinationId, now);
  if (lastBatchCallAt.size > 1000) {
    for (const [id, at] of lastBatchCallAt) if (now - at > FORGET_BATCH_CALL_AFTER_MS) lastBatchCallAt.delete(id);
  }
  return undefined;
}

/** Sends one claimed batch; gives the others of it that must wait a job again. */
async function sendBatch(
  app: App,
  dest: Destination,
  claimed: Delivery[],
  token: string,
  /** The delivery of the job sending the batch (its outcome goes back to that job); null for a batch run. */
  ownId: string | null,
  metrics?: Metrics,
): Promise<Map<string, StepOutcome>> {
  let outcomes: Map<string, StepOutcome>;
  const handedToCrm = new Set<string>();
  try {
    outcomes = await sendClaimed(app, dest, claimed, token, handedToCrm, metrics);
  } finally {
    // Normally every claim goes with its outcome; this frees those a failure left behind before
    // the CRM call. A lead the CRM was given keeps its claim when its outcome could not be
    // written (the CRM may hold it): as for a single send, it lapses at claimed_until and the
    // sweep takes the delivery up then, rather than a run sending it again at once.
    await repo.releaseClaims(
      app.db,
      claimed.flatMap((d) => (handedToCrm.has(d.id) ? [] : [d.id])),
      token,
    );
  }
  const later = claimed.flatMap((d) => {
    const o = outcomes.get(d.id);
    return d.id !== ownId && o?.type === 'delay' ? [{ id: d.id, delayMs: o.delayMs }] : [];
  });
  try {
    await app.queues.enqueueDeliveries(later);
  } catch (err) {
    // Their rows say when they are due: the outbox sweep queues them then.
    app.logger.warn(
      { destinationId: dest.id, deliveries: later.length, err: errorSummary(err) },
      'could not queue the waiting deliveries of a batch; the sweep will',
    );
  }
  return outcomes;
}

/**
 * Why a batch did not hold this job's delivery: finished (done), waiting for its retry (delay),
 * held by another batch at work (done: that batch records it and queues it again if it must
 * wait). Undefined when it is still ready and unclaimed.
 */
async function whyNotClaimed(app: App, deliveryId: string): Promise<StepOutcome | undefined> {
  const row = await repo.findDelivery(app.db, deliveryId);
  if (!row) return { type: 'done', detail: 'delivery_missing' };
  if (row.status !== 'pending') return { type: 'done', detail: `already_${row.status}` };
  const now = Date.now();
  const dueInMs = row.next_attempt_at ? new Date(row.next_attempt_at).getTime() - now : 0;
  if (dueInMs > 0) return { type: 'delay', delayMs: dueInMs, detail: 'waiting_for_retry' };
  if (row.claimed_until && new Date(row.claimed_until).getTime() > now) return { type: 'done', detail: 'claimed_by_batch' };
  return undefined;
}

/** One claimed delivery, ready to send. */
interface PreparedDelivery {
  delivery: Delivery;
  lead: Lead;
  record: DeliveryRecord;
  sent: string[];
  attempt: number;
}

/** Everything a batch reads or works out once: routes, form questions, the CRM's field list and mappings. */
class BatchReads {
  private routes = new Map<string, Promise<Route | undefined>>();
  private questions = new Map<string, Promise<FormQuestion[] | null>>();
  private fields: Promise<FieldDescriptor[]> | undefined;
  private mappings = new Map<string, Mapping | null>();

  constructor(
    private app: App,
    private connector: Connector,
    private ctx: ReturnType<typeof buildConnectorContext>,
  ) {}

  route(id: string | null): Promise<Route | undefined> {
    if (!id) return Promise.resolve(undefined);
    let r = this.routes.get(id);
    if (!r) this.routes.set(id, (r = repo.findRoute(this.app.db, id)));
    return r;
  }

  formQuestions(lead: Lead): Promise<FormQuestion[] | null> {
    const key = `${lead.workspace_id}\u0000${lead.form_id ?? ''}`;
    let q = this.questions.get(key);
    if (!q) this.questions.set(key, (q = repo.findFormQuestions(this.app.db, lead.workspace_id, lead.form_id) as Promise<FormQuestion[] | null>));
    return q;
  }

  fieldList(): Promise<FieldDescriptor[]> {
    this.fields ??= this.connector.describeFields(this.ctx);
    return this.fields;
  }

  /**
   * The mapping of a delivery through `route` of a lead of its form: the same for every such
   * delivery of the batch (one destination, one field list), so a route's mapping is read and the
   * preset fitted once, not per lead. One that reads the lead's own answers (mappingReadsLead) is
   * worked out each time.
   */
  mapping(route: Route | null, lead: Lead, formQuestions: FormQuestion[] | null, work: () => Mapping | null): Mapping | null {
    const key = `${route?.id ?? ''}\u0000${lead.workspace_id}\u0000${lead.form_id ?? ''}`;
    const kept = this.mappings.get(key);
    if (kept !== undefined) return kept;
    const mapping = work();
    if (!mappingReadsLead(route, formQuestions)) this.mappings.set(key, mapping);
    return mapping;
  }
}

async function sendClaimed(
  app: App,
  dest: Destination,
  claimed: Delivery[],
  token: string,
  /** Filled with the deliveries about to be sent, before the CRM call. */
  handedToCrm: Set<string>,
  metrics?: Metrics,
): Promise<Map<string, StepOutcome>> {
  const { db, logger } = app;
  const outcomes = new Map<string, StepOutcome>();
  const connector = await loadConnector(dest.type);
  const ctx = buildConnectorContext(app, dest, null);
  const reads = new BatchReads(app, connector, ctx);
  const startedAt = new Date();
  const effects: DestinationEffects = {};
  const leads = new Map(
    (
      await repo.findLeads(
        db,
        claimed.map((d) => d.lead_id),
      )
    ).map((l) => [l.id, l]),
  );

  const prepared: PreparedDelivery[] = [];
  const failed: { item: PreparedDelivery; error: ConnectorError }[] = [];
  for (const delivery of claimed) {
    const lead = leads.get(delivery.lead_id);
    if (!lead || lead.erased_at) {
      await repo.updateClaimedDelivery(db, delivery.id, token, { status: 'dead', last_error_kind: 'invalid', last_error_reason: 'lead_erased' });
      outcomes.set(delivery.id, { type: 'done', detail: 'lead_erased' });
      continue;
    }
    const canonical = toCanonicalLead(lead, decryptLeadAnswers(app.keyRing, lead));
    const attempt = delivery.attempts + 1;
    const item: PreparedDelivery = {
      delivery,
      lead,
      record: { lead: canonical, fields: {}, idempotencyKey: delivery.id },
      sent: sentValuesOf(canonical.answers, {}),
      attempt,
    };
    try {
      const route = (await reads.route(delivery.route_id)) ?? null;
      // As for one lead: a route without a mapping uses the preset fitted to the CRM's real fields.
      const fields = needsFieldList(connector, route) ? await reads.fieldList() : [];
      const formQuestions = route?.form_questions ? null : await reads.formQuestions(lead);
      const mapping = reads.mapping(route, lead, formQuestions, () => mappingForRoute(connector, route, canonical, fields, formQuestions));
      item.record = deliveryRecordWith(mapping, route, canonical, delivery.id, formQuestions);
      item.sent = sentValuesOf(canonical.answers, item.record.fields);
      prepared.push(item);
    } catch (err) {
      failed.push({ item, error: asConnectorError(err) });
    }
  }

  for (const item of prepared) handedToCrm.add(item.delivery.id);
  const results = await sendPrepared(app, connector, ctx, dest, prepared);
  const delivered: { item: PreparedDelivery; result: DeliveryResult }[] = [];
  prepared.forEach((item, i) => {
    const r = results[i];
    if (r.ok) delivered.push({ item, result: r.result });
    else failed.push({ item, error: r.error });
  });
  // A failure shared by several leads (the whole call's) quotes no lead in particular: the
  // values of every lead of the batch are taken out of it.
  const sharers = new Map<ConnectorError, number>();
  for (const { error } of failed) sharers.set(error, (sharers.get(error) ?? 0) + 1);
  let everyValue: string[] | undefined;
  const valuesFor = (item: PreparedDelivery, error: ConnectorError) =>
    (sharers.get(error) ?? 0) > 1 ? (everyValue ??= [...prepared, ...failed.map((f) => f.item)].flatMap((i) => i.sent)) : item.sent;

  // Sent: what follows is bookkeeping, outside any try (a database hiccup is never taken for a
  // failed send). One statement for every delivered lead: status and attempt together.
  if (delivered.length > 0) {
    const finishedAt = new Date();
    const rows: repo.DeliveredOutcome[] = delivered.map(({ item, result }) => ({
      deliveryId: item.delivery.id,
      token,
      workspaceId: dest.workspace_id,
      attempt: item.attempt,
      startedAt,
      finishedAt,
      externalId: result.externalId,
      externalUrl: result.url ?? null,
      action: result.action,
      httpStatus: result.httpStatus ?? null,
      responseBody: redactAnswerValues(result.responseBody ?? null, item.sent),
    }));
    const written = new Set(await repo.writeDeliveredOutcomes(db, rows));
    for (const { item, result } of delivered) {
      if (!written.has(item.delivery.id)) {
        // Another claimer took it over after this batch's claim lapsed, or the lead was erased meanwhile.
        outcomes.set(item.delivery.id, { type: 'done', detail: 'claim_lost' });
        continue;
      }
      outcomes.set(item.delivery.id, { type: 'done', detail: result.action });
      metrics?.deliveries.inc({ outcome: 'delivered', type: dest.type });
      metrics?.deliveryLatency.observe({ type: dest.type }, (Date.now() - new Date(item.lead.received_at).getTime()) / 1000);
      logger.debug({ deliveryId: item.delivery.id, destinationId: dest.id, type: dest.type, action: result.action, attempt: item.attempt }, 'lead delivered');
    }
  }
  for (const { item, error } of failed) {
    const values = valuesFor(item, error);
    const redact = (text: string | null | undefined) => redactAnswerValues(text ?? null, values);
    const target = { deliveryId: item.delivery.id, attempt: item.attempt, startedAt, redact, claimToken: token };
    outcomes.set(item.delivery.id, await recordFailure(app, dest, target, error, metrics, effects));
  }
  logger.info(
    { destinationId: dest.id, type: dest.type, leads: claimed.length, delivered: delivered.length, failed: failed.length },
    claimed.length === 1 ? 'delivery batch of one' : 'delivery batch',
  );
  return outcomes;
}

/**
 * Sends prepared leads: one alone through deliver() (its own context and state), several through
 * deliverBatch(). A whole-batch failure applies to every lead, except a refusal of the batch as
 * a whole (`invalid`, e.g. a 400 naming one bad record): then each lead goes alone, so only the
 * lead at fault is dead-lettered.
 */
async function sendPrepared(
  app: App,
  connector: Connector,
  ctx: ReturnType<typeof buildConnectorContext>,
  dest: Destination,
  prepared: PreparedDelivery[],
): Promise<BatchItemOutcome[]> {
  const alone = async (item: PreparedDelivery): Promise<BatchItemOutcome> => {
    try {
      return { ok: true, result: await connector.deliver(buildConnectorContext(app, dest, item.delivery.id), item.record) };
    } catch (err) {
      return { ok: false, error: asConnectorError(err) };
    }
  };
  if (prepared.length === 0) return [];
  if (prepared.length === 1 || !connector.deliverBatch) {
    const out: BatchItemOutcome[] = [];
    for (const item of prepared) out.push(await alone(item));
    return out;
  }
  let results: BatchItemOutcome[];
  try {
    results = await connector.deliverBatch(
      ctx,
      prepared.map((item) => ({ record: item.record, state: deliveryState(app, item.delivery.id) })),
    );
  } catch (err) {
    const error = asConnectorError(err);
    if (error.kind !== 'invalid') return prepared.map(() => ({ ok: false, error }));
    app.logger.warn(
      { destinationId: dest.id, type: dest.type, reason: error.reason, leads: prepared.length },
      'the CRM refused a whole batch; sending its leads one by one',
    );
    const out: BatchItemOutcome[] = [];
    for (const item of prepared) out.push(await alone(item));
    return out;
  }
  // A connector answering for fewer leads than it was given: the rest are retried (every write is idempotent).
  return prepared.map((_, i) => results[i] ?? { ok: false, error: new ConnectorError({ kind: 'retryable', reason: 'connector_missing_result' }) });
}
