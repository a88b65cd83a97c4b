// Batch runs: how a worker sends the deliveries of batching connectors (HubSpot, Salesforce) for
// leads it has just stored itself. A delivery job per lead cost ~30 Redis commands and a statement
// each, only for nearly every job to find its delivery already sent by another job's batch (a
// burst of 10,000 leads to two CRMs made 20,000 jobs for ~180 CRM calls). Instead the worker keeps
// one run per destination: it takes the destination's ready deliveries a batch at a time
// (deliverReadyBatch), for as long as there are any, and the fetches that store new ones only
// tell it so.
//
// Nothing is lost by skipping the job: the deliveries are pending rows first. The run keeps the
// ids it was given until a batch has claimed them. Those it ends without claiming (another
// process's batch took them, the destination stopped taking leads, an error, closing) get delivery
// jobs then, and the jobs settle them one by one as before. A process that dies leaves pending
// rows for the outbox sweep.
import { setTimeout as sleep } from 'node:timers/promises';
import { getManifest } from '../../connectors/index.js';
import type { BatchSupport } from '../../connectors/types.js';
import type { App } from '../app.js';
import type { Destination } from '../store/schema.js';
import * as repo from '../store/repos.js';
import type { Metrics } from '../util/metrics.js';
import { errorSummary } from '../util/error-summary.js';
import { batchTurnWaitMs, deliverReadyBatch } from './deliver-batch.js';
import { PlaceWaitCancelled, type DestinationPlaces } from './delivery-places.js';

/** A just-stored delivery of a batching destination. */
interface BatchedDelivery {
  id: string;
  destinationId: string;
}

export interface BatchRuns {
  /**
   * Takes deliveries of batching destinations for this process's runs, starting a destination's
   * run when none is going; returns those it does not take (closing, or too many held): they get jobs.
   */
  take(deliveries: BatchedDelivery[]): { id: string }[];
  /** Takes nothing more; lets each run finish its batch, then gives what is left to delivery jobs. */
  close(): Promise<void>;
}

export interface BatchRunsOptions {
  app: App;
  places: DestinationPlaces;
  /** The most deliveries held in all (beyond: jobs), so a CRM slower than the fetches cannot grow memory without bound. */
  maxHeld: number;
  /** Gives deliveries to delivery jobs (on failure the outbox sweep queues their rows). */
  queue(pending: { id: string }[]): Promise<void>;
  /** Marks a batch at work, for the watchdog; returns the function that unmarks it. */
  working(): () => void;
  metrics?: Metrics;
}

interface Run {
  /** Ids given to this run and not yet claimed by one of its batches. */
  waiting: Set<string>;
  /** Deliveries came while a batch was being taken: look again even when it found none. */
  again: boolean;
  /** The destination's batch support, as its last batch read it. */
  batch?: BatchSupport;
  done: Promise<void>;
}

/**
 * The destination, when it takes leads now: active, its workspace not being deleted, not
 * rate-limited. Otherwise undefined, and the run's deliveries go to jobs, which settle each one
 * (park, dead-letter, wait for the limit) exactly as they do any other.
 */
async function destinationTakingLeads(app: App, destinationId: string): Promise<Destination | undefined> {
  const { db, configCache } = app;
  const version = await repo.currentConfigVersion(db);
  const dest = await configCache.destination(db, version, destinationId);
  if (dest?.status !== 'active') return undefined;
  if (await configCache.isWorkspaceBeingDeleted(db, version, dest.workspace_id)) return undefined;
  if (dest.rate_limited_until && new Date(dest.rate_limited_until).getTime() > Date.now()) return undefined;
  return dest;
}

export function createBatchRuns(opts: BatchRunsOptions): BatchRuns {
  const { app, places } = opts;
  const runs = new Map<string, Run>();
  let held = 0;
  let closing = false;

  const closed = new AbortController();
  /** Gives deliveries a run let go of to delivery jobs. */
  const queueLeft = async (ids: string[]) => {
    if (ids.length === 0) return;
    try {
      await opts.queue(ids.map((id) => ({ id })));
    } catch (err) {
      app.logger.warn({ deliveries: ids.length, err: errorSummary(err) }, 'could not queue the deliveries a batch run let go of; the sweep will');
    }
  };

  /**
   * One batch, holding a place of the destination: its turn and the destination are checked again
   * there (the wait for the place may have been long). 'stop' when the run must end.
   */
  const sendOneBatch = async (destinationId: string, run: Run): Promise<'stop' | 'not_its_turn' | string[]> => {
    if (closing) return 'stop';
    const dest = await destinationTakingLeads(app, destinationId);
    const batch = dest && getManifest(dest.type).batch;
    if (!dest || !batch || closing) return 'stop';
    run.batch = batch;
    // A delivery job of this process took the turn meanwhile.
    if (batchTurnWaitMs(app, destinationId, batch) > 0) return 'not_its_turn';
    const given = [...run.waiting];
    const unmark = opts.working();
    try {
      const claimed = await deliverReadyBatch(app, dest, batch, opts.metrics);
      for (const id of claimed) if (run.waiting.delete(id)) held--;
      // Not full: every ready delivery was taken. Those given before it that it did not take are
      // held by another batch (another process's, or a delivery job's here), waiting for a retry,
      // or no longer pending: delivery jobs settle them, so the run does not hold them on.
      if (claimed.length < batch.maxRecords) {
        const taken = new Set(claimed);
        const elsewhere = given.filter((id) => !taken.has(id) && run.waiting.delete(id));
        held -= elsewhere.length;
        await queueLeft(elsewhere);
      }
      return claimed;
    } finally {
      unmark();
    }
  };

  /** Sends the destination's ready deliveries a batch at a time until none is left and none came meanwhile. */
  const drive = async (destinationId: string, run: Run) => {
    try {
      for (;;) {
        run.again = false;
        if (closing) break;
        // Paced by what the last batch's destination said (the first goes at once).
        const waitMs = run.batch ? batchTurnWaitMs(app, destinationId, run.batch) : 0;
        if (waitMs > 0) await sleep(waitMs, undefined, { signal: closed.signal }).catch(() => undefined);
        let sent: 'stop' | 'not_its_turn' | string[];
        try {
          sent = await places.run(destinationId, () => sendOneBatch(destinationId, run), closed.signal);
        } catch (err) {
          if (err instanceof PlaceWaitCancelled) break;
          throw err;
        }
        if (sent === 'stop') break;
        if (sent !== 'not_its_turn' && sent.length === 0 && !run.again) break;
      }
    } catch (err) {
      app.logger.error({ destinationId, err: errorSummary(err) }, 'a batch run failed; its deliveries go to delivery jobs');
    }
    runs.delete(destinationId);
    const left = [...run.waiting];
    held -= run.waiting.size;
    run.waiting.clear();
    await queueLeft(left);
  };

  return {
    take(deliveries) {
      const notTaken: { id: string }[] = [];
      for (const d of deliveries) {
        if (closing || held >= opts.maxHeld) {
          notTaken.push({ id: d.id });
          continue;
        }
        let run = runs.get(d.destinationId);
        if (!run) {
          const started: Run = { waiting: new Set(), again: false, done: Promise.resolve() };
          runs.set(d.destinationId, started);
          run = started;
          // Started on the next turn of the event loop, with every delivery of this call in hand.
          started.done = Promise.resolve().then(() => drive(d.destinationId, started));
        }
        if (!run.waiting.has(d.id)) {
          run.waiting.add(d.id);
          held++;
        }
        run.again = true;
      }
      if (deliveries.length > notTaken.length) opts.metrics?.deliveryHandOff.inc({ path: 'batch' }, deliveries.length - notTaken.length);
      return notTaken;
    },
    async close() {
      closing = true;
      closed.abort();
      await Promise.allSettled([...runs.values()].map((r) => r.done));
    },
  };
}
