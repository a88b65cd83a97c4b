// Reconciliation: Meta gives up on a webhook after 36 hours, drops deliveries while a page's app
// subscription is broken, and sometimes simply does not send one; a lead whose webhook never came
// would otherwise be lost for good. So, per routed form, Meta's own list of the form's leads
// (`GET /{form_id}/leads`, filtered on `time_created`) is compared with what LeadRelay recorded,
// and each lead missing here is recorded exactly as intake records a webhook's: the same unique
// (page, leadgen id), the same fetch job, so routing and delivery are the usual ones and a
// webhook that comes later is a no-op. Reference: meta-lead-ads.md §4, §5, §9, edge case 3.
//
// Which forms: those enabled routes name, every form Graph lists for a page with a page-level
// route (so a form whose webhooks never came at all is still found), and every form a recorded
// lead of a registered page names. Each form's checkpoint says up to which second every lead is
// recorded; a run asks only for leads after it, and moves it only once every page of the answer
// is durably recorded. No run asks for leads created before the page's lead floor (set when a
// workspace that had the page was purged: its events, which made those leads no-ops here, are
// gone). A throttle (80005, 4, 17, ...) stops that form's run (and the rest of its page's, or
// everything for an app-wide one) and keeps the checkpoint; the scheduled run leaves the form
// alone until Meta's wait is over.
import { notePageNeedsReauth } from '../alerts/raise.js';
import type { App } from '../app.js';
import { GraphError, type GraphErrorInfo } from '../meta/graph-errors.js';
import * as repo from '../store/repos.js';
import { tryTakeLease } from '../store/leases.js';
import * as store from '../store/reconciliation.js';
import type { Page } from '../store/schema.js';
import { errorSummary } from '../util/error-summary.js';
import { processHolderId } from '../util/process-id.js';
import { pageTokenAad } from './lead-record.js';
import { runPeriodically } from './periodic.js';

/** Meta keeps leads about 90 days (reference §5): asking further back finds nothing. */
export const META_LEAD_RETENTION_MS = 90 * 24 * 3_600_000;
/** What reconciliation reads of each lead: no answers (they are fetched, as for a webhook, by the fetch step). */
const LISTED_LEAD_FIELDS = ['id', 'created_time', 'form_id', 'ad_id'] as const;
/** Leads per Graph page; also how many are recorded per transaction. */
const PAGE_SIZE = 100;
/** Form statuses that can hold no leads (reference: LeadgenForm `status`). */
const FORM_STATUSES_WITHOUT_LEADS = new Set(['DRAFT', 'DELETED']);
/** When Meta's throttle answer gives no wait. */
const DEFAULT_THROTTLE_WAIT_MS = 5 * 60_000;
/** Throttling that counts against the whole app, not one page (Graph code 4, reference §9), by its stable reason. */
const APP_WIDE_THROTTLE_REASONS = new Set(['graph_code_4']);

export interface ReconcileOptions {
  workspaceId?: string;
  formId?: string;
  /** Compare leads created after this time, whatever the checkpoint (never before Meta's ~90 days, nor the page's lead floor). */
  since?: Date;
  /** A scheduled run leaves a throttled form alone until its wait is over; a person's run asks anyway. */
  isScheduled?: boolean;
  now?: () => Date;
  /** Checked between forms: true ends the run there (the process is shutting down); later forms wait for the next run. */
  shouldStop?: () => boolean;
}

type FormReconcileOutcome = 'done' | 'throttled' | 'failed' | 'skipped';

export interface FormReconcileResult {
  workspaceId: string;
  pageId: string;
  formId: string;
  outcome: FormReconcileOutcome;
  /** Why the run stopped or did not start (a stable reason, e.g. graph_code_80005, page_needs_reauth). */
  reason: string | null;
  /** The window asked for: leads created after `after` and before `before` (null: Meta was not asked). */
  after: Date | null;
  before: Date | null;
  /** Leads Meta listed in the window (as far as the run got). */
  metaCount: number;
  alreadyRecorded: number;
  /** Leads recorded now, as if their webhook had come, and queued for fetching. */
  recovered: number;
  /** The form's checkpoint after the run. */
  checkpoint: Date | null;
  /** Throttled: when Meta may be asked again. */
  retryAfter: Date | null;
}

interface PagePlan {
  page: Page;
  formIds: Set<string>;
  /** Listing the page's forms failed this way (its known forms are still compared, unless throttled). */
  discoveryError: GraphErrorInfo | null;
}

const isThrottle = (info: GraphErrorInfo) => info.category === 'throttled' || info.category === 'blocked';
const isPageAccessLost = (info: GraphErrorInfo) =>
  info.category === 'token_dead' || info.category === 'page_role_missing' || info.category === 'permission_missing';

function decryptPageToken(app: App, page: Page): string {
  return app.keyRing.decrypt(page.token_envelope, pageTokenAad(page.page_id));
}

/** The forms of each registered page in scope to compare, discovering a page-level route's forms from Graph. */
async function planPages(app: App, opts: ReconcileOptions, now: Date): Promise<PagePlan[]> {
  const pages = new Map((await repo.listPages(app.db, opts.workspaceId)).map((p) => [p.page_id, p]));
  const plans = new Map<string, PagePlan>();
  const planOf = (page: Page) => {
    let plan = plans.get(page.page_id);
    if (!plan) plans.set(page.page_id, (plan = { page, formIds: new Set(), discoveryError: null }));
    return plan;
  };
  for (const t of await store.listKnownForms(app.db, { workspaceId: opts.workspaceId }, new Date(now.getTime() - META_LEAD_RETENTION_MS))) {
    const page = pages.get(t.pageId);
    if (page && page.workspace_id === t.workspaceId) planOf(page).formIds.add(t.formId);
  }

  const discovered = new Set<string>();
  const discover = async (page: Page) => {
    discovered.add(page.page_id);
    const plan = planOf(page);
    if (page.status !== 'active') return;
    try {
      for await (const form of app.graph.listPageForms(page.page_id, decryptPageToken(app, page))) {
        if (form.status && FORM_STATUSES_WITHOUT_LEADS.has(form.status.toUpperCase())) continue;
        if (form.leadsCount === 0) continue;
        plan.formIds.add(form.id);
      }
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      plan.discoveryError = err.info;
    }
  };
  for (const r of await store.listPagesWithPageLevelRoutes(app.db, { workspaceId: opts.workspaceId })) {
    const page = pages.get(r.page_id);
    if (page && page.workspace_id === r.workspace_id) await discover(page);
  }

  let result = [...plans.values()];
  if (opts.formId) {
    const formId = opts.formId;
    // A form nobody routed or recorded yet: look for it among the forms of the pages in scope.
    if (!result.some((p) => p.formIds.has(formId))) {
      for (const page of pages.values()) {
        if (discovered.has(page.page_id)) continue;
        await discover(page);
        if (plans.get(page.page_id)?.formIds.has(formId)) break;
      }
      result = [...plans.values()];
    }
    result = result.filter((p) => p.formIds.has(formId)).map((p) => ({ ...p, formIds: new Set([formId]) }));
  }
  return result.filter((p) => p.formIds.size > 0).sort((a, b) => a.page.page_id.localeCompare(b.page.page_id));
}

interface FormRunInput {
  target: store.ReconcileTarget;
  token: string;
  since: Date | undefined;
  /** The page's lead floor (a workspace that had the page was purged then): no earlier lead is recorded. */
  pageFloor: Date | null;
  isScheduled: boolean;
  now: Date;
}

/** What a stopped form reports: its run is over, the checkpoint stays. */
function stoppedResult(target: store.ReconcileTarget, reason: string, checkpoint: Date | null, extra: Partial<FormReconcileResult> = {}): FormReconcileResult {
  return {
    ...target,
    outcome: 'skipped',
    reason,
    after: null,
    before: null,
    metaCount: 0,
    alreadyRecorded: 0,
    recovered: 0,
    checkpoint,
    retryAfter: null,
    ...extra,
  };
}

async function reconcileForm(app: App, input: FormRunInput): Promise<{ result: FormReconcileResult; error: GraphErrorInfo | null }> {
  const { target, now } = input;
  const { config, db, logger } = app;
  const checkpoint = await store.findCheckpoint(db, target.workspaceId, target.formId);
  const lastTime = checkpoint?.last_time_created ? new Date(checkpoint.last_time_created) : null;
  if (input.isScheduled && checkpoint?.retry_after && new Date(checkpoint.retry_after) > now) {
    return {
      result: stoppedResult(target, checkpoint.last_error ?? 'throttled', lastTime, { outcome: 'throttled', retryAfter: new Date(checkpoint.retry_after) }),
      error: null,
    };
  }

  // The window never starts before Meta's ~90 days (nothing older can be listed), nor before the
  // page's floor (nothing older may be recorded: a purged workspace had the page, and recording
  // its leads again would deliver them twice and bring back what its owner deleted). The floor
  // holds for a person's --since too. Meta's times are whole seconds: the filter is "after".
  const retentionSec = Math.ceil((now.getTime() - META_LEAD_RETENTION_MS) / 1000);
  const pageFloorSec = input.pageFloor ? Math.floor(input.pageFloor.getTime() / 1000) : retentionSec;
  const startFrom = input.since ?? lastTime ?? new Date(now.getTime() - config.reconciliation.lookbackHours * 3_600_000);
  const afterSec = Math.max(retentionSec, pageFloorSec, Math.floor(startFrom.getTime() / 1000));
  // Leads younger than the settle time are left to their webhook (it can come minutes late).
  const beforeSec = Math.floor((now.getTime() - config.reconciliation.settleMs) / 1000);
  // The window joins the covered span when it was asked to start at or before the checkpoint
  // (a start moved up to Meta's retention or the page's floor still joins it: nothing older can
  // be listed, or may be recorded).
  const isContiguous = lastTime === null || startFrom.getTime() <= lastTime.getTime();
  const after = new Date(afterSec * 1000);
  const before = new Date(beforeSec * 1000);
  const base = { ...target, after, before, metaCount: 0, alreadyRecorded: 0, recovered: 0, retryAfter: null };
  if (beforeSec - afterSec <= 1) return { result: { ...base, outcome: 'done', reason: null, checkpoint: lastTime }, error: null };

  let metaCount = 0;
  let alreadyRecorded = 0;
  let recovered = 0;
  let earliest: Date | null = null;
  let latest: Date | null = null;
  let buffer: store.ListedLead[] = [];
  const flush = async () => {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    const r = await store.recordListedLeads(db, target, batch, now);
    metaCount += batch.length;
    alreadyRecorded += r.alreadyRecorded;
    recovered += r.newEventIds.length;
    for (const l of batch) {
      if (!earliest || l.createdTime < earliest) earliest = l.createdTime;
      if (!latest || l.createdTime > latest) latest = l.createdTime;
    }
    // The events are durable: a lost enqueue is rebuilt by the outbox sweep, as after intake.
    await app.queues
      .enqueueFetchBatch(r.newEventIds)
      .catch((err) => logger.warn({ err: errorSummary(err), count: r.newEventIds.length }, 'enqueue after reconciliation failed; the sweep will retry'));
  };

  let error: GraphErrorInfo | null = null;
  try {
    for await (const lead of app.graph.listFormLeads(target.formId, input.token, {
      sinceUnixSeconds: afterSec,
      untilUnixSeconds: beforeSec,
      pageSize: PAGE_SIZE,
      fields: LISTED_LEAD_FIELDS,
    })) {
      buffer.push({ leadgenId: lead.id, adId: lead.adId, createdTime: lead.createdTime });
      if (buffer.length >= PAGE_SIZE) await flush();
    }
    await flush();
  } catch (err) {
    if (!(err instanceof GraphError)) throw err;
    error = err.info;
    // What was listed before the failure is recorded all the same; the checkpoint does not move.
    await flush();
  }

  const counts = { metaCount, alreadyRecorded, recovered };
  if (error) {
    const retryAfter = isThrottle(error) ? new Date(now.getTime() + (error.retryAfterMs ?? DEFAULT_THROTTLE_WAIT_MS)) : null;
    const saved = await store.failCheckpoint(db, { ...target, runAt: now, reason: error.reason, retryAfter });
    if (earliest && latest) await store.refreshReconcileDays(db, target, earliest, latest);
    logger.warn(
      { workspaceId: target.workspaceId, pageId: target.pageId, formId: target.formId, reason: error.reason, fbtraceId: error.fbtraceId, ...counts },
      isThrottle(error)
        ? 'reconciliation of a form was throttled by Meta; its checkpoint stays and it is asked again later'
        : 'reconciliation of a form failed',
    );
    const lastAfter = saved.last_time_created ? new Date(saved.last_time_created) : null;
    return {
      result: { ...base, ...counts, outcome: isThrottle(error) ? 'throttled' : 'failed', reason: error.reason, checkpoint: lastAfter, retryAfter },
      error,
    };
  }

  const saved = await store.completeCheckpoint(db, {
    ...target,
    advanceTo: isContiguous ? new Date((beforeSec - 1) * 1000) : null,
    coveredFrom: isContiguous ? after : null,
    runAt: now,
  });
  await store.refreshReconcileDays(db, target, new Date((afterSec + 1) * 1000), new Date((beforeSec - 1) * 1000));
  if (recovered > 0) {
    logger.warn(
      { workspaceId: target.workspaceId, pageId: target.pageId, formId: target.formId, ...counts },
      'reconciliation recorded leads whose webhook never came; they are fetched and delivered as usual',
    );
  }
  return {
    result: { ...base, ...counts, outcome: 'done', reason: null, checkpoint: saved.last_time_created ? new Date(saved.last_time_created) : null },
    error: null,
  };
}

/**
 * Compares every routed form in scope (or one) with Meta's list of its leads and records the
 * missing ones. Forms are asked one at a time, a page's forms together, so one page's throttle
 * stops only that page. Never throws for Graph's answers; each form reports its own outcome.
 */
export async function reconcileLeads(app: App, opts: ReconcileOptions = {}): Promise<FormReconcileResult[]> {
  const now = opts.now?.() ?? new Date();
  const plans = await planPages(app, opts, now);
  const results: FormReconcileResult[] = [];
  let appWideStop: string | null = null;
  for (const plan of plans) {
    if (opts.shouldStop?.()) break;
    const { page } = plan;
    const formIds = [...plan.formIds].sort();
    const targets = formIds.map((formId) => ({ workspaceId: page.workspace_id, pageId: page.page_id, formId }));
    const checkpointOf = async (t: store.ReconcileTarget) => {
      const c = await store.findCheckpoint(app.db, t.workspaceId, t.formId);
      return c?.last_time_created ? new Date(c.last_time_created) : null;
    };
    const skipAll = async (reason: string, extra: Partial<FormReconcileResult> = {}) => {
      for (const t of targets) results.push(stoppedResult(t, reason, await checkpointOf(t), extra));
    };
    if (appWideStop) {
      await skipAll(appWideStop, { outcome: 'throttled' });
      continue;
    }
    if (page.status !== 'active') {
      // A dead token would only earn another error from Meta; the page's leads are parked anyway.
      // The forms' checkpoints say why they are not compared (GET …/reconciliation shows it).
      const reason = `page_${page.status}`;
      for (const t of targets) await store.failCheckpoint(app.db, { ...t, runAt: now, reason, retryAfter: null });
      await skipAll(reason);
      continue;
    }
    if (plan.discoveryError && isThrottle(plan.discoveryError)) {
      await skipAll(plan.discoveryError.reason, { outcome: 'throttled' });
      if (APP_WIDE_THROTTLE_REASONS.has(plan.discoveryError.reason)) appWideStop = plan.discoveryError.reason;
      continue;
    }
    const token = decryptPageToken(app, page);
    const pageFloor = await store.findPageLeadFloor(app.db, page.page_id);
    let pageStop: { reason: string; outcome: FormReconcileOutcome } | null = null;
    for (const target of targets) {
      if (opts.shouldStop?.()) break;
      if (pageStop) {
        // A form skipped for its page's lost access keeps that as its error; one skipped for a
        // throttle was not asked, so its own state stays.
        if (pageStop.outcome === 'skipped') await store.failCheckpoint(app.db, { ...target, runAt: now, reason: pageStop.reason, retryAfter: null });
        results.push(stoppedResult(target, pageStop.reason, await checkpointOf(target), { outcome: pageStop.outcome }));
        continue;
      }
      const { result, error } = await reconcileForm(app, {
        target,
        token,
        since: opts.since,
        pageFloor,
        isScheduled: opts.isScheduled ?? false,
        now,
      });
      results.push(result);
      if (result.outcome === 'throttled') {
        // Throttled now, or still waiting out an earlier throttle. Meta: calling while limited
        // extends the block; the leadgen limit is the page's, code 4's the whole app's.
        const reason = result.reason ?? 'throttled';
        pageStop = { reason, outcome: 'throttled' };
        if (APP_WIDE_THROTTLE_REASONS.has(reason)) appWideStop = reason;
      } else if (error && isPageAccessLost(error)) {
        // As the fetch step does: the page needs a new token; its other forms would fail the same way.
        // A token stored while this one was being refused is not judged by it.
        if (await repo.setPageNeedsReauthForToken(app.db, page.page_id, page.token_envelope, error.reason)) await notePageNeedsReauth(app, page, error);
        pageStop = { reason: 'page_needs_reauth', outcome: 'skipped' };
      }
    }
  }
  return results;
}

export const RECONCILE_LEASE = 'reconciliation';
/** The first scheduled run after start-up waits this long (at most one interval), so boot stays quick. */
const INITIAL_DELAY_MS = 60_000;

/**
 * Runs one scheduled reconciliation unless another process ran one within the interval: the
 * PostgreSQL lease is held for the whole interval, so a fleet of workers asks Meta once per
 * interval. Null when another process holds the lease.
 */
export async function runLockedReconciliation(app: App, intervalMs: number, shouldStop?: () => boolean): Promise<FormReconcileResult[] | null> {
  // A per-run holder id: the same process must not re-take its own lease before it expires.
  if (!(await tryTakeLease(app.db, RECONCILE_LEASE, `${processHolderId}:${Date.now()}`, Math.max(1000, intervalMs - 1000)))) return null;
  return reconcileLeads(app, { isScheduled: true, shouldStop });
}

/**
 * The work role's periodic reconciliation (RECONCILE_INTERVAL_MS; 0 turns it off). A timer, not a
 * queue-scheduled job, so it survives the queue backend losing everything; one run at a time per
 * process, one per interval across processes.
 */
export function startReconciliation(app: App, opts: { intervalMs: number; initialDelayMs?: number }): { stop(): Promise<void> } {
  if (opts.intervalMs === 0) return { stop: async () => {} };
  const intervalMs = Math.max(1000, opts.intervalMs);
  const initialDelayMs = Math.max(0, opts.initialDelayMs ?? Math.min(intervalMs, INITIAL_DELAY_MS));
  return runPeriodically(
    async (isStopped) => {
      try {
        const results = await runLockedReconciliation(app, intervalMs, isStopped);
        if (!results) return;
        const sum = (f: (r: FormReconcileResult) => number) => results.reduce((n, r) => n + f(r), 0);
        const notDone = results.filter((r) => r.outcome !== 'done');
        if (sum((r) => r.recovered) > 0 || notDone.length > 0) {
          app.logger.info(
            {
              forms: results.length,
              metaCount: sum((r) => r.metaCount),
              recovered: sum((r) => r.recovered),
              throttled: notDone.filter((r) => r.outcome === 'throttled').length,
              failed: notDone.filter((r) => r.outcome === 'failed').length,
              skipped: notDone.filter((r) => r.outcome === 'skipped').length,
            },
            'reconciliation done',
          );
        }
      } catch (err) {
        app.logger.warn({ err: errorSummary(err) }, 'reconciliation failed');
      }
    },
    { intervalMs, initialDelayMs },
  );
}
