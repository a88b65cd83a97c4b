// The work role: BullMQ workers for the fetch and delivery queues, and the maintenance loop.
// The step functions return what should happen; only this file turns that into queue calls.
import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { App } from '../app.js';
import type { Metrics } from '../http/metrics.js';
import { errorSummary } from '../http/meta-webhook.js';
import { deliverOne } from './deliver-lead.js';
import { fetchLeadForEvent, type StepOutcome } from './fetch-lead.js';
import { startFormDriftChecks } from './form-drift.js';
import { startMaintenance } from './maintenance.js';
import { DELIVER_QUEUE, FETCH_QUEUE, redisConnection, type DeliverJob, type FetchJob } from './queues.js';

export interface RunningWorkers {
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

export function startWorkers(app: App, metrics?: Metrics): RunningWorkers {
  const { config, logger } = app;
  const common = {
    prefix: config.redis.prefix,
    lockDuration: config.workers.lockDurationMs,
    stalledInterval: config.workers.lockDurationMs,
    // A worker killed mid-job leaves it stalled; another worker takes it up. Many stalls are
    // tolerated because each step is idempotent.
    maxStalledCount: 1000,
    autorun: true,
  };
  const fetchConn = redisConnection(config.redis.url, true);
  const deliverConn = redisConnection(config.redis.url, true);
  fetchConn.on('error', () => {});
  deliverConn.on('error', () => {});

  const fetchWorker = new Worker<FetchJob>(
    FETCH_QUEUE,
    async (job, token) => applyOutcome(job, token, await fetchLeadForEvent(app, job.data.eventId)),
    { ...common, connection: fetchConn as unknown as ConnectionOptions, concurrency: config.workers.fetchConcurrency },
  );
  const deliverWorker = new Worker<DeliverJob>(
    DELIVER_QUEUE,
    async (job, token) => applyOutcome(job, token, await deliverOne(app, job.data.deliveryId, metrics)),
    { ...common, connection: deliverConn as unknown as ConnectionOptions, concurrency: config.workers.deliverConcurrency },
  );
  for (const w of [fetchWorker, deliverWorker]) {
    w.on('failed', (job, err) => logger.error({ queue: w.name, jobId: job?.id, err: errorSummary(err) }, 'job failed; the outbox sweep will queue it again'));
    w.on('error', (err) => logger.warn({ queue: w.name, err: errorSummary(err) }, 'worker error'));
  }
  const maintenance = startMaintenance(app);
  const formDrift = startFormDriftChecks(app, { intervalMs: config.maintenance.formDriftIntervalMs });
  logger.info({ fetchConcurrency: config.workers.fetchConcurrency, deliverConcurrency: config.workers.deliverConcurrency }, 'workers started');
  return {
    async close() {
      await maintenance.stop();
      await formDrift.stop();
      await Promise.allSettled([fetchWorker.close(), deliverWorker.close()]);
      fetchConn.disconnect();
      deliverConn.disconnect();
    },
  };
}
