// The work role: BullMQ workers for the fetch and delivery queues, and the maintenance loop.
// The step functions return what should happen; only this file turns that into queue calls.
import { DelayedError, Worker, type ConnectionOptions, type Job, type WorkerOptions } from 'bullmq';
import * as repo from '../store/repos.js';
import { GroupCommit } from '../store/group-commit.js';
import { startAlertDispatch } from '../alerts/dispatch.js';
import type { App } from '../app.js';
import type { Metrics } from '../util/metrics.js';
import { errorSummary } from '../util/error-summary.js';
import { createBatchRuns } from './batch-runs.js';
import { deliverOne, sendStoredDelivery, singleClaimLeaseMs, type DestinationPlace } from './deliver-lead.js';
import { createDeliveryLine, OTHERS_ACTIVE_WITHIN_MS } from './delivery-line.js';
import { createDestinationPlaces, defaultPerDestinationPlaces } from './delivery-places.js';
import { fetchLeadForEvent, fetchLeadsForEvents, type DeliveryHandOff, type StepOutcome, type StoredDelivery } from './fetch-lead.js';
import { startFormDriftChecks } from './form-drift.js';
import { createLimiter, type Limiter } from './limiter.js';
import { startMaintenance } from './maintenance.js';
import { startMonitoring } from './monitors.js';
import { DELIVER_QUEUE, FETCH_QUEUE, openBackendConnection, type BackendConnection, type DeliverJob, type FetchJob } from './queues.js';
import { startReconciliation } from './reconcile.js';

export interface RunningWorkers {
  /** How long the oldest job still running has been running (0: none), for the watchdog. */
  oldestJobAgeMs(): number;
  /**
   * Fetches events handed to this process directly (the supervising `start` process sends an
   * intake insert's events over its channel, with their rows as inserted: `known`), as a fetch job
   * of them would; false, taking none, once closing.
   */
  fetchEvents(eventIds: number[], known?: repo.EventForFetch[]): Promise<boolean>;
  close(): Promise<void>;
}

async function applyOutcome(job: Job, token: string | undefined, outcome: StepOutcome): Promise<string> {
  if (outcome.type === 'delay') {
    // Wait without failing the job: the attempt bookkeeping lives in PostgreSQL.
    await job.moveToDelayed(Date.now() + outcome.delayMs, token);
    throw new DelayedError();
  }
  return outcome.detail;
}

/**
 * How many of a process's just-stored deliveries may wait for a delivery place, per place (beyond:
 * delivery jobs). With 4, `bench profile` at 1,000 leads/s still sent 38 % through jobs, at 2.3 ms
 * per lead; with 16 (320 leads with the default 20 places, a few MB) 6 %, at 1.7 ms.
 */
const WAIT_LINE_PER_PLACE = 16;

/** How long a fetch whose lead finds the line full waits for room in it before the lead gets a delivery job. */
const LINE_ROOM_WAIT_MS = 1000;

/**
 * A destination frees its places slowly when, holding its whole share, one of them is given back
 * only every this many ms or more on average: then its delivery jobs beyond the first waiting in
 * a worker (BUSY_JOBS_WAITING_IN_WORKERS) wait in the queue instead.
 */
const BUSY_JOB_WAIT_AFTER_MS = 10;
const BUSY_JOBS_WAITING_IN_WORKERS = 1;

/**
 * How many just-stored deliveries of batching destinations a process's batch runs hold at most
 * (ids only, ~100 bytes each); beyond, they get delivery jobs.
 */
const BATCH_RUNS_MAX_HELD = 50_000;

/** Claims per re-check statement of line sends, and statements in flight at once (as the lead and outcome stores). */
const LINE_RECHECK_GROUP_COMMIT = { maxWeight: 50, maxInFlight: 2, isolateFailures: true };

/** How many events of one intake batch are checked, read or stored at once. */
const BATCH_FETCH_PARALLELISM = 8;

/**
 * An intake batch: the leads of one Page are read together (Graph batch requests), then each
 * event goes on alone; one that must wait (Graph throttling, a transient error) continues as its
 * own delayed `ev-<id>` job, so the batch never retries as a whole. Safe to run again after a
 * crash: fetched events are skipped.
 */
async function fetchBatch(app: App, eventIds: number[], fetchPlaces: Limiter, handOff: DeliveryHandOff, known?: repo.EventForFetch[]): Promise<string> {
  let delayed = 0;
  let failed = 0;
  for (const r of await fetchLeadsForEvents(app, eventIds, BATCH_FETCH_PARALLELISM, fetchPlaces, handOff, known)) {
    if (r.outcome === undefined) {
      // The event stays `received` in PostgreSQL; the outbox sweep queues it on its own.
      failed++;
      app.logger.error({ eventId: r.eventId, err: errorSummary(r.error) }, 'fetch failed inside a batch; the sweep will retry it');
    } else if (r.outcome.type === 'delay') {
      delayed++;
      await app.queues.enqueueFetch([r.eventId], r.outcome.delayMs);
    }
  }
  return `batch:${eventIds.length}:delayed:${delayed}:failed:${failed}`;
}

/** A BullMQ worker on the configured backend, with its own connection. */
function openWorker<T>(
  app: App,
  name: string,
  concurrency: number,
  processor: (job: Job<T>, token?: string) => Promise<string>,
): { worker: Worker<T>; conn: BackendConnection } {
  const { config } = app;
  const conn = openBackendConnection(app.queues.backend, { forWorker: true, poolMax: concurrency + 2 });
  const opts: WorkerOptions = {
    connection: conn.connection as ConnectionOptions,
    prefix: conn.prefix,
    concurrency,
    lockDuration: config.workers.lockDurationMs,
    stalledInterval: config.workers.lockDurationMs,
    // A worker killed mid-job leaves it stalled; another worker takes it up. Many stalls are
    // tolerated because each step is idempotent.
    maxStalledCount: 1000,
    autorun: true,
  };
  const worker = conn.factory ? new Worker<T>(name, processor, opts, conn.factory as never) : new Worker<T>(name, processor, opts);
  return { worker, conn };
}

export function startWorkers(app: App, metrics?: Metrics, onDependencyError?: (source: string, err: unknown) => void): RunningWorkers {
  const { config, logger } = app;
  // When each running job started, for the watchdog.
  const running = new Set<{ startedAt: number }>();
  const timed =
    <T>(processor: (job: Job<T>, token?: string) => Promise<string>) =>
    async (job: Job<T>, token?: string) => {
      const entry = { startedAt: Date.now() };
      running.add(entry);
      try {
        return await processor(job, token);
      } finally {
        running.delete(entry);
      }
    };
  // Every fetch of this process (an intake batch's events and Graph reads included) holds one of
  // FETCH_CONCURRENCY places. An intake batch works on up to BATCH_FETCH_PARALLELISM events at
  // once, so FETCH_CONCURRENCY batch jobs would otherwise have eight times as many fetches in
  // flight as FETCH_CONCURRENCY says, every statement of the delivery worker waiting behind theirs
  // for a database connection: a backlog was fetched first and delivered after. Bounded, a
  // backlog is fetched and delivered side by side.
  const fetchPlaces = createLimiter(config.workers.fetchConcurrency);
  // Every delivery of this process holds one of DELIVER_CONCURRENCY places, shared fairly between
  // destinations (src/pipeline/delivery-places.ts): a delivery queue job's, and a lead this process
  // has just stored, which is sent right here when a place or a turn in the line is free for it
  // (src/pipeline/delivery-line.ts). The fetch does not wait for the send itself; only a full line
  // holds it back, for at most LINE_ROOM_WAIT_MS per lead. A direct send that must wait (a retry, a
  // rate limit) continues as a delayed job; one this process never finishes (a crash) is a pending
  // row the outbox sweep queues again once its claim has lapsed.
  const totalPlaces = config.workers.deliverConcurrency;
  const perDestination = defaultPerDestinationPlaces(totalPlaces);
  const places = createDestinationPlaces(totalPlaces, perDestination);
  const leaseMs = singleClaimLeaseMs(app);
  const direct = new Set<Promise<void>>();
  /** Events handed over directly (fetchEvents), being fetched. */
  const handedFetches = new Set<Promise<unknown>>();
  let closing = false;
  const track = (work: Promise<void>) => {
    const settled = work.finally(() => direct.delete(settled));
    direct.add(settled);
  };
  /** Sends a stored delivery while holding a place (given back by the caller). */
  const sendHeld = async (stored: StoredDelivery) => {
    const deliveryId = stored.delivery.id;
    const entry = { startedAt: Date.now() };
    running.add(entry);
    try {
      const outcome = await sendStoredDelivery(app, stored, metrics);
      if (outcome.type === 'delay') await app.queues.enqueueDeliveries([{ id: deliveryId, delayMs: outcome.delayMs }]);
    } catch (err) {
      logger.error({ deliveryId, err: errorSummary(err) }, 'delivery failed; queued as a job');
      // When the queue is unreachable too, the outbox sweep queues the pending row later.
      await app.queues.enqueueDeliveries([{ id: deliveryId }]).catch(() => undefined);
    } finally {
      running.delete(entry);
    }
  };
  /** A lead's delivery that waited in the line, given to a delivery job instead (at once: the claim is let go first). */
  const handBack = async (stored: StoredDelivery, claim: { token: string; until: Date }) => {
    const deliveryId = stored.delivery.id;
    try {
      await repo.releaseClaims(app.db, [deliveryId], claim.token);
      await app.queues.enqueueDeliveries([{ id: deliveryId }]);
    } catch (err) {
      // The claim lapses by itself; the outbox sweep queues the pending row then.
      logger.error({ deliveryId, err: errorSummary(err) }, 'a delivery waiting for a place could not be queued; the sweep will queue it');
    }
  };
  /** The re-checks of sends after a wait in the line: concurrent ones share one statement (group commit). */
  const lineRechecks = new GroupCommit<{ id: string; token: string }, number | undefined>(async (claims) => {
    const toSend = await repo.findClaimsToSend(app.db, claims);
    return claims.map((c) => toSend.get(c.id));
  }, LINE_RECHECK_GROUP_COMMIT);
  /** A lead's delivery that waited in the line, now holding a place. */
  const sendAfterWait = async (stored: StoredDelivery, claim: { token: string; until: Date }) => {
    const deliveryId = stored.delivery.id;
    if (closing) return handBack(stored, claim);
    let configVersion: number | undefined;
    try {
      // While it waited, its lead may have been erased, its route deleted or its destination
      // disconnected or changed: one read (shared with concurrent ones) finds whether the row is
      // still pending under the claim and the lead not erased, with the configuration counter the
      // send then goes by. Not found, whatever changed the row (or another run that took it over
      // once the claim lapsed) has decided: nothing to send.
      configVersion = await lineRechecks.submit({ id: deliveryId, token: claim.token });
      // A long wait: the claim is moved on before the send (the send renews it from then on).
      // Not held any more (it lapsed and another run took the delivery over): that run sends it.
      if (
        configVersion !== undefined &&
        claim.until.getTime() - Date.now() < (leaseMs * 2) / 3 &&
        !(await repo.renewClaim(app.db, deliveryId, claim.token, new Date(Date.now() + leaseMs)))
      )
        configVersion = undefined;
    } catch (err) {
      // The claim lapses by itself; the outbox sweep queues the pending row then.
      logger.error({ deliveryId, err: errorSummary(err) }, 'a delivery waiting for a place could not be sent; the sweep will queue it');
      return;
    }
    if (configVersion === undefined) return;
    metrics?.deliveryHandOff.inc({ path: 'line' });
    await sendHeld({ ...stored, configVersion });
  };
  const line = createDeliveryLine({
    places,
    totalPlaces,
    perDestination,
    perPlace: WAIT_LINE_PER_PLACE,
    roomWaitMs: LINE_ROOM_WAIT_MS,
    leaseMs,
    sendPlaced: (stored) => {
      metrics?.deliveryHandOff.inc({ path: 'place' });
      return sendHeld(stored);
    },
    sendAfterWait,
    handBack,
    track,
  });
  const queueDeliveries = (pending: { id: string }[]) => {
    if (pending.length > 0) metrics?.deliveryHandOff.inc({ path: 'job' }, pending.length);
    return app.queues.enqueueDeliveries(pending);
  };
  // Just-stored deliveries of batching destinations: sent by this process's run of their
  // destination, a batch at a time, without a job each (src/pipeline/batch-runs.ts).
  const batchRuns = createBatchRuns({
    app,
    places,
    maxHeld: BATCH_RUNS_MAX_HELD,
    // Counted once, as taken by the run, however they go on.
    queue: (pending) => app.queues.enqueueDeliveries(pending),
    working: () => {
      const entry = { startedAt: Date.now() };
      running.add(entry);
      return () => running.delete(entry);
    },
    metrics,
  });
  const handOff: DeliveryHandOff = {
    reserve: (destinationIds) => line.reserve(destinationIds),
    queue: queueDeliveries,
    batch: (deliveries) => batchRuns.take(deliveries),
  };
  /** Delivery jobs waiting in a worker for a place, by destination. */
  const jobsWaiting = new Map<string, number>();
  /**
   * A delivery job's turn at its destination. A destination with no place free to it that frees
   * places slowly (a slow CRM) would keep this job's worker waiting, and with enough such jobs
   * every worker, so other destinations' jobs would not even be picked up. While other
   * destinations are being sent to, one job per such destination waits in a worker (so its jobs
   * move on); others go back to the queue for about as long as one of its sends takes.
   */
  const jobPlace: DestinationPlace = async (destination, send) => {
    const id = destination.id;
    const waitingJobs = jobsWaiting.get(id) ?? 0;
    const slow = places.holdMs(id) / perDestination > BUSY_JOB_WAIT_AFTER_MS;
    if (waitingJobs >= BUSY_JOBS_WAITING_IN_WORKERS && slow && !places.isFreeFor(id) && places.othersActive(id, OTHERS_ACTIVE_WITHIN_MS)) {
      metrics?.destinationBusy.inc({ type: destination.type });
      const delayMs = Math.min(Math.max(places.holdMs(id), 1000), 30_000) * (1 + Math.random());
      return { type: 'delay', delayMs: Math.round(delayMs), detail: 'destination_busy' };
    }
    jobsWaiting.set(id, waitingJobs + 1);
    let waiting = true;
    const stopWaiting = () => {
      if (!waiting) return;
      waiting = false;
      const left = (jobsWaiting.get(id) ?? 1) - 1;
      if (left > 0) jobsWaiting.set(id, left);
      else jobsWaiting.delete(id);
    };
    try {
      return await places.run(id, () => {
        stopWaiting();
        return send();
      });
    } finally {
      stopWaiting();
    }
  };
  const fetch = openWorker<FetchJob>(
    app,
    FETCH_QUEUE,
    config.workers.fetchConcurrency,
    timed(async (job, token) => {
      if (job.data.eventIds) return fetchBatch(app, job.data.eventIds, fetchPlaces, handOff);
      return applyOutcome(job, token, await fetchPlaces(() => fetchLeadForEvent(app, Number(job.data.eventId), handOff)));
    }),
  );
  const deliver = openWorker<DeliverJob>(
    app,
    DELIVER_QUEUE,
    config.workers.deliverConcurrency,
    timed(async (job, token) => applyOutcome(job, token, await deliverOne(app, job.data.deliveryId, metrics, jobPlace))),
  );
  for (const w of [fetch.worker, deliver.worker]) {
    w.on('failed', (job, err) => logger.error({ queue: w.name, jobId: job?.id, err: errorSummary(err) }, 'job failed; the outbox sweep will queue it again'));
    // A queue backend that is down makes the worker report an error every second or so: the
    // caller logs the first at once and the rest at a falling rate.
    w.on('error', (err) =>
      onDependencyError ? onDependencyError(`queue:${w.name}`, err) : logger.warn({ queue: w.name, err: errorSummary(err) }, 'worker error'),
    );
  }
  const maintenance = startMaintenance(app);
  const formDrift = startFormDriftChecks(app, { intervalMs: config.maintenance.formDriftIntervalMs });
  const reconciliation = startReconciliation(app, { intervalMs: config.reconciliation.intervalMs });
  const monitoring = startMonitoring(app, { intervalMs: config.monitoring.intervalMs });
  const alertDispatch = startAlertDispatch(app, { intervalMs: config.alerts.dispatchIntervalMs });
  logger.info(
    { fetchConcurrency: config.workers.fetchConcurrency, deliverConcurrency: config.workers.deliverConcurrency, queue: app.queues.backend.kind },
    'workers started',
  );
  return {
    fetchEvents(eventIds, known) {
      if (closing) return Promise.resolve(false);
      const entry = { startedAt: Date.now() };
      running.add(entry);
      const fetching = fetchBatch(app, eventIds, fetchPlaces, handOff, known).finally(() => {
        running.delete(entry);
        handedFetches.delete(fetching);
      });
      handedFetches.add(fetching);
      return fetching.then(() => true);
    },
    oldestJobAgeMs() {
      let oldest = Number.POSITIVE_INFINITY;
      for (const { startedAt } of running) oldest = Math.min(oldest, startedAt);
      return running.size ? Date.now() - oldest : 0;
    },
    async close() {
      // Batch runs take nothing more (leads fetched from now on get delivery jobs): each finishes
      // the batch it is sending, and what it was given and did not send gets delivery jobs.
      const batchRunsClosed = batchRuns.close();
      await maintenance.stop();
      await formDrift.stop();
      await reconciliation.stop();
      await monitoring.stop();
      await alertDispatch.stop();
      // Leads fetched from now on get delivery jobs; direct deliveries under way finish first.
      // Events handed over from now on are refused (their sender queues them).
      closing = true;
      line.close();
      await Promise.allSettled([fetch.worker.close(), deliver.worker.close(), ...handedFetches]);
      await Promise.allSettled([...direct, batchRunsClosed]);
      fetch.conn.close();
      deliver.conn.close();
    },
  };
}
