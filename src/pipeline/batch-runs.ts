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
import { getManifest } from '../../connectors/index.js';
import type { App } from '../app.js';
import type { Destination } from '../store/schema.js';
import * as repo from '../store/repos.js';
import type { Metrics } from '../util/metrics.js';
import { errorSummary } from '../util/error-summary.js';
import { batchTurnWaitMs, deliverReadyBatch } from './deliver-batch.js';
import type { DestinationPlaces } from './delivery-places.js';

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
  /** Deliveries taken and not yet claimed by a batch. */
  held(): number;
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

  const handToJobs = async (run: Run) => {
    const left = [...run.waiting].map((id) => ({ id }));
    held -= run.waiting.size;
    run.waiting.clear();
    if (left.length === 0) return;
    try {
      await opts.queue(left);
    } catch (err) {
      app.logger.warn({ deliveries: left.length, err: errorSummary(err) }, 'could not queue the deliveries a batch run left; the sweep will');
    }
  };

  /** Sends the destination's ready deliveries a batch at a time until none is left and none came meanwhile. */
  const drive = async (destinationId: string, run: Run) => {
    try {
      for (;;) {
        run.again = false;
        if (closing) break;
        const dest = await destinationTakingLeads(app, destinationId);
        if (!dest) break;
        const batch = getManifest(dest.type).batch;
        if (!batch) break;
        const waitMs = batchTurnWaitMs(app, destinationId, batch);
        if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
        const claimed = await places.run(destinationId, async () => {
          const unmark = opts.working();
          try {
            return await deliverReadyBatch(app, dest, batch, opts.metrics);
          } finally {
            unmark();
          }
        });
        for (const id of claimed) if (run.waiting.delete(id)) held--;
        if (claimed.length === 0 && !run.again) break;
      }
    } catch (err) {
      app.logger.error({ destinationId, err: errorSummary(err) }, 'a batch run failed; its deliveries go to delivery jobs');
    }
    runs.delete(destinationId);
    await handToJobs(run);
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
    held: () => held,
    async close() {
      closing = true;
      await Promise.allSettled([...runs.values()].map((r) => r.done));
    },
  };
}
