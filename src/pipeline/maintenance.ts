// Maintenance loop of the work role. The outbox sweep rebuilds jobs Redis lost (a flush, a
// failover without persistence, a crash between commit and enqueue) from PostgreSQL rows: adding
// a job whose id already exists is a no-op, so sweeping is always safe. One worker at a time
// sweeps, under a short PostgreSQL lease; the loop is a timer, not a scheduled job, so it
// survives the queue backend losing everything. Once an hour it also runs the retention purges
// and indexes for search a batch of leads not yet indexed under the first key (leads stored
// before the index existed, or before a key rotation that `keys rotate` has not finished).
import { AUDIT_RETENTION_MONTHS, purgeOldAudit } from '../accounts/audit.js';
import type { App } from '../app.js';
import { deleteExpiredExports } from '../services/workspace-export.js';
import { purgeOldDataRequests } from '../store/data-requests.js';
import { purgeOldExportJobs } from '../store/export-jobs.js';
import { eraseLeadsOfErasedEvents } from '../store/facebook-user-data.js';
import { errorSummary } from '../util/error-summary.js';
import { tryTakeLease } from '../store/leases.js';
import { pruneRecentRecords } from '../store/recent-records.js';
import * as repo from '../store/repos.js';
import { processHolderId } from '../util/process-id.js';
import { reindexLeads } from './lead-search-index.js';
import { purgeDueWorkspaces } from './workspace-purge.js';

const SWEEP_BATCH = 1000;

export interface SweepResult {
  /** Open events queued as their own `ev-` job (a no-op for those that still have one). */
  events: number;
  /** Open events left alone because a batch job that lists them is still waiting or running. */
  eventsInQueuedBatches: number;
  deliveries: number;
}

/**
 * Open events by the instant their row was last written: the events of one intake (or
 * reconciliation) insert share it, as `now()` is the statement's transaction time, and have not
 * changed since while their batch job waits. Compared to the microsecond, so two inserts
 * within one millisecond stay apart. Ascending ids in, ascending ids in each group out.
 */
function groupByLastWrite(events: { id: number; writtenAtUs: string }[]): number[][] {
  const groups = new Map<string, number[]>();
  for (const e of events) {
    const group = groups.get(e.writtenAtUs);
    if (group) group.push(e.id);
    else groups.set(e.writtenAtUs, [e.id]);
  }
  return [...groups.values()];
}

export async function sweepOutbox(app: App, now = Date.now()): Promise<SweepResult> {
  const cutoff = new Date(now - app.config.maintenance.outboxMinAgeMs);
  const events = await repo.listOpenEvents(app.db, cutoff, new Date(now), SWEEP_BATCH);
  // Under a backlog older than the cutoff, intake's `evb-` batch jobs still wait with these
  // events in them: queuing `ev-` jobs beside them would read each lead from Graph twice. Only
  // events a live batch job lists are skipped; a batch job lost (Redis flushed, failed, removed)
  // is found missing, and its events are queued one by one as before.
  const inBatches = await app.queues.findEventsInQueuedBatches(groupByLastWrite(events));
  const alone = events.filter((e) => !inBatches.has(e.id)).map((e) => e.id);
  await app.queues.enqueueFetch(alone);
  // Looked at again only after the minimum age: the next sweeps reach the events behind these
  // (a window of the oldest open events could otherwise stay full of ones whose job exists).
  await repo.noteEventsSwept(
    app.db,
    events.map((e) => e.id),
    new Date(now + app.config.maintenance.outboxMinAgeMs),
  );
  const deliveries = await repo.listOpenDeliveries(app.db, cutoff, new Date(now), SWEEP_BATCH);
  await app.queues.enqueueDeliveries(deliveries.map((d) => ({ id: d.id, delayMs: d.next_attempt_at ? new Date(d.next_attempt_at).getTime() - now : 0 })));
  return { events: alone.length, eventsInQueuedBatches: events.length - alone.length, deliveries: deliveries.length };
}

/**
 * The retention purge: lead answers (the personal data) older than their workspace's retention
 * period are erased; the lead row stays, with its ids and attribution, marked erased.
 */
export async function purgeExpiredLeads(app: App, now = new Date()): Promise<number> {
  return repo.eraseExpiredLeadAnswers(app.db, now);
}

/** Meta retries a webhook for up to 36 hours: an erased lead's event is kept a little longer, so a repeat costs no Graph call. */
const ERASED_EVENT_GRACE_MS = 48 * 3_600_000;
const HOUR_MS = 3_600_000;
/**
 * A `parked` event (a lead still to fetch once its page or workspace is back) and an `erased` one
 * (a lead whose Facebook user asked for their data to be deleted before it was fetched: only the
 * event stops a later webhook or reconciliation from recording it) are kept at least this long:
 * as long as Meta keeps the lead (about 90 days), with a margin.
 */
const LEAD_STILL_AT_META_MS = 100 * 24 * HOUR_MS;
/** Connectors read their recent records for 15 minutes; older rows only wait for deletion. */
const RECENT_RECORDS_MAX_AGE_MS = 24 * 3_600_000;

const monthsBefore = (now: Date, months: number) => {
  const d = new Date(now);
  d.setUTCMonth(d.getUTCMonth() - months);
  return d;
};

export interface RetentionResult {
  erasedLeads: number;
  auditEntries: number;
  attempts: number;
  events: number;
  recentRecords: number;
  dataRequests: number;
  exportJobs: number;
  exportArchives: number;
}

/**
 * Every retention purge: lead answers (and every copy of them) past their workspace's
 * retention; delivery attempts past ATTEMPT_RETENTION_MONTHS; leadgen events past
 * EVENT_RETENTION_DAYS, and those of erased leads once Meta can no longer repeat them (neither
 * within RECONCILE_LOOKBACK_HOURS; `parked` events, leads still to fetch, and `erased` ones, whose
 * lead was never stored, not before Meta has dropped the lead); any lead left stored under an
 * `erased` event is erased;
 * connectors' stale recent records; audit entries, data-request receipts and export records
 * past 24 months; export archives past their 24 hours.
 */
export async function runRetentionPurges(app: App, now = new Date()): Promise<RetentionResult> {
  const { retention } = app.config;
  // Also any lead stored under an event its Facebook user had erased (a fetch that died mid-way).
  const erasedLeads = (await purgeExpiredLeads(app, now)) + (await eraseLeadsOfErasedEvents(app.db, now));
  const auditEntries = await purgeOldAudit(app.db);
  const attempts = await repo.pruneDeliveryAttempts(app.db, monthsBefore(now, retention.attemptRetentionMonths));
  // Never an event reconciliation may still compare with Meta's list (it would record the lead
  // as missing again, and count the day wrong): none younger than its look-back.
  const lookbackMs = app.config.reconciliation.lookbackHours * HOUR_MS;
  const events = await repo.pruneLeadgenEvents(app.db, {
    before: new Date(now.getTime() - Math.max(retention.eventRetentionDays * 24 * HOUR_MS, lookbackMs)),
    erasedBefore: new Date(now.getTime() - Math.max(ERASED_EVENT_GRACE_MS, lookbackMs)),
    // Parked and erased events: kept while Meta keeps the lead, whatever EVENT_RETENTION_DAYS says.
    leadAtMetaBefore: new Date(now.getTime() - Math.max(retention.eventRetentionDays * 24 * HOUR_MS, LEAD_STILL_AT_META_MS)),
  });
  const recentRecords = await pruneRecentRecords(app.db, RECENT_RECORDS_MAX_AGE_MS);
  const dataRequests = await purgeOldDataRequests(app.db, AUDIT_RETENTION_MONTHS);
  const exportJobs = await purgeOldExportJobs(app.db, AUDIT_RETENTION_MONTHS);
  const exportArchives = await deleteExpiredExports(app, now);
  return { erasedLeads, auditEntries, attempts, events, recentRecords, dataRequests, exportJobs, exportArchives };
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
        if (r.attempts) app.logger.info({ deleted: r.attempts }, 'retention purge deleted delivery attempts past ATTEMPT_RETENTION_MONTHS');
        if (r.events) app.logger.info({ deleted: r.events }, 'retention purge deleted leadgen events past EVENT_RETENTION_DAYS or of erased leads');
        if (r.exportArchives) app.logger.info({ deleted: r.exportArchives }, 'deleted workspace export archives older than 24 hours');
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
