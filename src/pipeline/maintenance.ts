// Maintenance loop of the work role. The outbox sweep rebuilds jobs Redis lost (a flush, a
// failover without persistence, a crash between commit and enqueue) from PostgreSQL rows: adding
// a job whose id already exists is a no-op, so sweeping is always safe. One worker at a time
// sweeps, under a short PostgreSQL lease; the loop is a timer, not a scheduled job, so it
// survives the queue backend losing everything. Once an hour it also runs the retention purges
// and indexes for search a batch of leads not yet indexed under the first key (leads stored
// before the index existed, or before a key rotation that `keys rotate` has not finished).
import { purgeOldAudit } from '../accounts/audit.js';
import type { App } from '../app.js';
import { errorSummary } from '../util/error-summary.js';
import { tryTakeLease } from '../store/leases.js';
import * as repo from '../store/repos.js';
import { processHolderId } from '../util/process-id.js';
import { reindexLeads } from './lead-search-index.js';
import { purgeDueWorkspaces } from './workspace-purge.js';

const SWEEP_BATCH = 1000;

export interface SweepResult {
  events: number;
  deliveries: number;
}

export async function sweepOutbox(app: App, now = Date.now()): Promise<SweepResult> {
  const cutoff = new Date(now - app.config.maintenance.outboxMinAgeMs);
  const events = await repo.listOpenEvents(app.db, cutoff, SWEEP_BATCH);
  await app.queues.enqueueFetch(events.map((e) => e.id));
  const deliveries = await repo.listOpenDeliveries(app.db, cutoff, new Date(now), SWEEP_BATCH);
  await app.queues.enqueueDeliveries(deliveries.map((d) => ({ id: d.id, delayMs: d.next_attempt_at ? new Date(d.next_attempt_at).getTime() - now : 0 })));
  return { events: events.length, deliveries: deliveries.length };
}

/**
 * The retention purge: lead answers (the personal data) older than their workspace's retention
 * period are erased; the lead row stays, with its ids and attribution, marked erased.
 */
export async function purgeExpiredLeads(app: App, now = new Date()): Promise<number> {
  return repo.eraseExpiredLeadAnswers(app.db, now);
}

/** Every retention purge: lead answers past their workspace's retention, audit entries past 24 months. */
export async function runRetentionPurges(app: App, now = new Date()): Promise<{ erasedLeads: number; auditEntries: number }> {
  const erasedLeads = await purgeExpiredLeads(app, now);
  const auditEntries = await purgeOldAudit(app.db);
  return { erasedLeads, auditEntries };
}

const PURGE_INTERVAL_MS = 3_600_000;
/** Leads indexed for search per hourly run (each is decrypted once, in memory). */
const REINDEX_PER_RUN = 5000;
const MAINTENANCE_LEASE = 'maintenance';

export function startMaintenance(app: App): { stop(): Promise<void> } {
  const interval = app.config.maintenance.outboxSweepIntervalMs;
  let running: Promise<void> | null = null;
  let stopped = false;
  let lastPurge = 0;
  const tick = async () => {
    try {
      if (!(await tryTakeLease(app.db, MAINTENANCE_LEASE, processHolderId, Math.max(1000, interval - 100)))) return;
      const r = await sweepOutbox(app);
      if (r.events || r.deliveries) app.logger.info(r, 'outbox sweep queued work');
      await purgeDueWorkspaces(app);
      if (Date.now() - lastPurge >= PURGE_INTERVAL_MS) {
        lastPurge = Date.now();
        const r = await runRetentionPurges(app);
        if (r.erasedLeads) app.logger.info({ erased: r.erasedLeads }, 'retention purge erased lead answers');
        if (r.auditEntries) app.logger.info({ deleted: r.auditEntries }, 'retention purge deleted audit entries older than 24 months');
        const indexed = await reindexLeads(app, { max: REINDEX_PER_RUN });
        if (indexed.indexed) app.logger.info({ indexed: indexed.indexed }, 'leads indexed for search by email and phone');
        if (indexed.failed)
          app.logger.warn(
            { failed: indexed.failed },
            'leads could not be indexed for search: their answers do not decrypt with any key of LEADRELAY_ENCRYPTION_KEYS',
          );
      }
    } catch (err) {
      app.logger.warn({ err: errorSummary(err) }, 'outbox sweep failed');
    }
  };
  const timer = setInterval(() => {
    if (!running && !stopped) running = tick().finally(() => (running = null));
  }, interval);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (running) await running;
    },
  };
}
