// Health monitors: every MONITOR_INTERVAL_MS (hourly by default; one work process at a time, under
// the `monitors` lease held for the interval) and on demand (POST …/monitors/run, `leadrelay
// monitors run`), per workspace:
// - page_token: `debug_token` for every page token (valid, for our app and this page, the lead
//   permissions, expiry), through the same checks `pages add` makes (src/meta/page-access.ts);
// - page_subscription: whether our app is subscribed to each page (`GET /{page}/subscribed_apps`);
//   when it fell off, it is subscribed again at once (`POST …/subscribed_apps?subscribed_fields=
//   leadgen`), read back, written to the audit log, and told as an alert that resolves itself;
// - app_subscription: the app-level webhook subscription (`GET /{app}/subscriptions`);
// - destination_credentials: each destination's credentials check (its connector's verify);
// - dead_letters: each destination's dead-lettered share of the last hour's and day's deliveries;
// - queue_age: the oldest lead waiting to be fetched and the oldest delivery overdue.
// Each finding is kept (monitor_results; the page checks also in page_checks, which the health
// page reads) and turns into alerts: a problem raises its cause, a clean check resolves it.
// Reference: meta-lead-ads.md §7 (debug_token), §8 (subscriptions), §9 (errors).
import { isConnectorError } from '../../connectors/types.js';
import { writeAudit } from '../accounts/audit.js';
import {
  appSubscriptionCause,
  type AlertCause,
  type CauseContext,
  type CauseReport,
  deadLetterCause,
  destinationReauthCause,
  pageSubscriptionCause,
  pageTokenCause,
  pageTokenExpiringCause,
  queueAgeCause,
} from '../alerts/causes.js';
import { raiseCause, resolveCauses } from '../alerts/raise.js';
import type { App } from '../app.js';
import { isGraphError } from '../meta/graph-errors.js';
import { checkPageAccess } from '../meta/page-access.js';
import { checkDestination } from '../services/destinations.js';
import { type AppSubscriptionState, readAppSubscription } from '../services/facebook/app-subscription.js';
import { countDeadLetters, listOpenAlerts, measureQueueAges, type MonitorFinding, pruneMonitorResults, recordMonitorResult } from '../store/alerts.js';
import { tryTakeLease } from '../store/leases.js';
import * as repo from '../store/repos.js';
import type { Destination, MonitorResult, Page } from '../store/schema.js';
import { errorSummary } from '../util/error-summary.js';
import { processHolderId } from '../util/process-id.js';
import { pageTokenAad } from './lead-record.js';
import { runPeriodically } from './periodic.js';

const MONITORS = ['page_token', 'page_subscription', 'app_subscription', 'destination_credentials', 'dead_letters', 'queue_age'] as const;
type MonitorName = (typeof MONITORS)[number];

type Status = MonitorResult['status'];

/** One finding of one run (what monitor_results keeps). */
interface Finding {
  monitor: MonitorName;
  subject: string;
  status: Status;
  summary: string;
  details?: Record<string, unknown>;
}

export interface WorkspaceMonitorReport {
  workspaceId: string;
  checkedAt: Date;
  findings: Finding[];
  /** Alerts this run opened (new causes) and resolved. */
  opened: number;
  resolved: number;
}

export interface RunMonitorsOptions {
  /** Only this workspace (else every one). */
  workspaceId?: string;
  now?: () => Date;
}

const LEADGEN = 'leadgen';

/** What one workspace's run does with a cause: raise it, or resolve it (with the words why). */
class CauseBook {
  opened = 0;
  resolved = 0;
  constructor(
    private readonly app: App,
    private readonly workspaceId: string,
    private readonly now: Date,
  ) {}
  async raise(report: CauseReport): Promise<void> {
    if ((await raiseCause(this.app, report, this.now)).isNew) this.opened++;
  }
  async resolve(cause: AlertCause, subjectId: string | null, resolution: string): Promise<void> {
    this.resolved += await resolveCauses(this.app, this.workspaceId, [{ cause, subjectId }], resolution, this.now);
  }
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** Keeps the page check where the health page reads it (page_checks), as `GET …/health?check=true` does. */
async function recordPageCheck(
  app: App,
  page: Page,
  check: { outcome: 'ok' | 'refused' | 'unavailable'; isAppInstalled: boolean | null; problem: string | null },
  at: Date,
) {
  const values = { workspace_id: page.workspace_id, checked_at: at, outcome: check.outcome, is_app_installed: check.isAppInstalled, problem: check.problem };
  await app.db
    .insertInto('page_checks')
    .values({ page_id: page.page_id, ...values })
    .onConflict((oc) => oc.column('page_id').doUpdateSet(values))
    .execute();
}

/** The page's token and its app subscription: two findings, and the causes they raise or resolve. */
async function monitorPage(app: App, ctx: CauseContext, page: Page, book: CauseBook, now: Date): Promise<Finding[]> {
  const { appId, appSecret, graphVersion } = app.config.meta;
  const subject = page.page_id;
  if (!appId || !appSecret) {
    const summary = 'not checked: META_APP_ID and META_APP_SECRET must be set to ask Meta';
    return [
      { monitor: 'page_token', subject, status: 'skipped', summary },
      { monitor: 'page_subscription', subject, status: 'skipped', summary },
    ];
  }
  let token: string;
  try {
    token = app.keyRing.decrypt(page.token_envelope, pageTokenAad(page.page_id));
  } catch {
    const problem = 'the stored page token cannot be decrypted with the key ring (LEADRELAY_ENCRYPTION_KEYS)';
    await book.raise(pageTokenCause(ctx, page, problem));
    return [
      { monitor: 'page_token', subject, status: 'problem', summary: problem },
      { monitor: 'page_subscription', subject, status: 'skipped', summary: 'not checked: the page token cannot be used' },
    ];
  }

  const check = await checkPageAccess(app.graph, { appId, pageId: page.page_id, pageToken: token, graphVersion, now: () => now.getTime() });
  await recordPageCheck(
    app,
    page,
    check.outcome === 'ok'
      ? { outcome: 'ok', isAppInstalled: check.appInstalled, problem: check.warnings.length ? check.warnings.join('; ') : null }
      : { outcome: check.outcome, isAppInstalled: null, problem: check.problem },
    now,
  );
  if (check.outcome === 'unavailable') {
    return [
      { monitor: 'page_token', subject, status: 'unavailable', summary: check.problem },
      { monitor: 'page_subscription', subject, status: 'unavailable', summary: 'not checked: Meta could not be asked' },
    ];
  }
  if (check.outcome === 'refused') {
    await book.raise(pageTokenCause(ctx, page, `Meta's check of the page token: ${check.problem}`));
    return [
      { monitor: 'page_token', subject, status: 'problem', summary: check.problem },
      { monitor: 'page_subscription', subject, status: 'skipped', summary: 'not checked: the page token does not work' },
    ];
  }

  const findings: Finding[] = [];
  const tokenDetails = { expires_at: iso(check.expiresAt) };
  if (page.status === 'needs_reauth') {
    // Meta accepts the token, but a lead fetch could not use it (e.g. the person lost the page role): it must still be replaced.
    const problem = `a lead fetch found the token unusable (${page.status_reason ?? 'needs_reauth'}), so the page's leads are parked`;
    await book.raise(pageTokenCause(ctx, page, problem));
    findings.push({ monitor: 'page_token', subject, status: 'problem', summary: problem, details: tokenDetails });
  } else {
    await book.resolve('page_token', subject, "Meta's check accepts the page token");
    const warnMs = app.config.monitoring.tokenExpiryWarningDays * 86_400_000;
    if (check.expiresAt && check.expiresAt.getTime() - now.getTime() <= warnMs) {
      await book.raise(pageTokenExpiringCause(ctx, page, check.expiresAt));
      findings.push({
        monitor: 'page_token',
        subject,
        status: 'warning',
        summary: `valid, but expires at ${check.expiresAt.toISOString()}`,
        details: tokenDetails,
      });
    } else {
      await book.resolve('page_token_expiring', subject, 'the page token no longer expires soon');
      findings.push({
        monitor: 'page_token',
        subject,
        status: 'ok',
        summary: check.expiresAt ? `valid until ${check.expiresAt.toISOString()}` : 'valid, does not expire',
        details: tokenDetails,
      });
    }
  }
  findings.push(await monitorPageSubscription(app, ctx, page, token, check.appInstalled, book, now));
  return findings;
}

async function monitorPageSubscription(
  app: App,
  ctx: CauseContext,
  page: Page,
  token: string,
  appInstalled: boolean | null,
  book: CauseBook,
  now: Date,
): Promise<Finding> {
  const subject = page.page_id;
  const { appId, graphVersion } = app.config.meta;
  if (appInstalled === null)
    return { monitor: 'page_subscription', subject, status: 'unavailable', summary: 'Meta would not say which apps are installed on the page' };
  if (appInstalled) {
    await book.resolve('page_subscription', subject, 'the app is subscribed to the page');
    return { monitor: 'page_subscription', subject, status: 'ok', summary: 'the app is subscribed to the page (leadgen)' };
  }
  // Fell off: subscribe it again at once, then read it back.
  let problem: string | null = null;
  try {
    await app.graph.subscribePageToApp(page.page_id, token, [LEADGEN]);
    const ours = (await app.graph.listSubscribedApps(page.page_id, token)).find((a) => a.id === appId);
    if (!ours || (ours.subscribedFields !== null && !ours.subscribedFields.includes(LEADGEN)))
      problem = 'Meta accepted it, but the page does not list the app for leadgen afterwards';
  } catch (err) {
    if (!isGraphError(err)) throw err;
    const { code, subcode, message, reason } = err.info;
    problem = code === undefined ? message || reason : `${message || reason} (Graph error ${code}${subcode === undefined ? '' : `/${subcode}`})`;
  }
  const isResubscribed = problem === null;
  await writeAudit(app.db, {
    workspaceId: page.workspace_id,
    actor: { type: 'system', id: null, label: 'health monitor' },
    action: isResubscribed ? 'page.resubscribed' : 'page.resubscribe_failed',
    target: { type: 'page', id: page.page_id },
    details: { reason: 'app_not_subscribed', ...(problem ? { problem } : {}) },
  });
  await book.raise(pageSubscriptionCause(ctx, page, { resubscribed: isResubscribed, problem, at: now, graphVersion }));
  if (isResubscribed) {
    // The page check recorded above saw the app missing: the health page would go on saying so.
    await recordPageCheck(app, page, { outcome: 'ok', isAppInstalled: true, problem: null }, now);
    await book.resolve('page_subscription', subject, 'LeadRelay subscribed the app to the page again');
    app.logger.warn({ pageId: page.page_id, workspaceId: page.workspace_id }, 'the app had fallen off a page; subscribed it again');
    return {
      monitor: 'page_subscription',
      subject,
      status: 'warning',
      summary: `the app was not subscribed to the page; LeadRelay subscribed it again at ${now.toISOString()}`,
      details: { resubscribed_at: now.toISOString() },
    };
  }
  return { monitor: 'page_subscription', subject, status: 'problem', summary: `the app is not subscribed to the page and subscribing it failed: ${problem}` };
}

function appSubscriptionWords(s: AppSubscriptionState): string {
  switch (s.status) {
    case 'other_callback':
      return `The app sends Page events to ${s.callbackUrl ?? 'another address'}, not to this server (${s.expectedCallbackUrl}).`;
    case 'missing_leadgen':
      return 'The app has a Page webhook, but not for the "leadgen" field.';
    case 'inactive':
      return "The app's Page webhook is switched off (Meta turns it off after failing deliveries).";
    default:
      return 'The app is not subscribed to Page lead events at all.';
  }
}

async function monitorAppSubscription(ctx: CauseContext, state: AppSubscriptionState | null, book: CauseBook): Promise<Finding> {
  const subject = '';
  if (state === null)
    return { monitor: 'app_subscription', subject, status: 'skipped', summary: 'not checked: META_APP_ID and META_APP_SECRET must be set to ask Meta' };
  const details = { status: state.status, callback_url: state.callbackUrl, expected_callback_url: state.expectedCallbackUrl, fields: state.fields };
  if (state.status === 'unknown')
    return { monitor: 'app_subscription', subject, status: 'unavailable', summary: `Meta could not be asked (${state.reason ?? 'error'})`, details };
  if (state.status === 'subscribed') {
    await book.resolve('app_subscription', null, "the app's Page webhook is subscribed to leadgen again");
    return { monitor: 'app_subscription', subject, status: 'ok', summary: `Page leadgen events go to ${state.expectedCallbackUrl}`, details };
  }
  const words = appSubscriptionWords(state);
  const fix =
    `Subscribe it: in LeadRelay as a workspace owner (POST /api/v1/workspaces/${ctx.workspaceId}/facebook/app-subscription), ` +
    `or in the Meta App Dashboard → Webhooks → Page: callback URL ${state.expectedCallbackUrl}, the verify token of META_VERIFY_TOKEN, and subscribe to "leadgen".`;
  await book.raise(appSubscriptionCause(ctx, words, fix));
  return { monitor: 'app_subscription', subject, status: 'problem', summary: words, details };
}

async function monitorDestination(app: App, ctx: CauseContext, dest: Destination, book: CauseBook): Promise<Finding> {
  const subject = dest.id;
  if (dest.status === 'disabled') return { monitor: 'destination_credentials', subject, status: 'skipped', summary: 'the destination is disabled' };
  let failure: { status: Status; summary: string; isAuth: boolean } | null = null;
  try {
    await checkDestination(app, dest);
  } catch (err) {
    if (isConnectorError(err)) {
      const words = err.crmMessage ? `${err.crmMessage.replace(/\s+/g, ' ').slice(0, 200)} (${err.reason})` : err.reason;
      if (err.kind === 'auth') failure = { status: 'problem', summary: `the CRM refuses the credentials: ${words}`, isAuth: true };
      else if (err.kind === 'invalid') failure = { status: 'problem', summary: `the check failed: ${words}`, isAuth: false };
      else failure = { status: 'unavailable', summary: `the CRM could not be asked just now: ${words}`, isAuth: false };
    } else {
      // Not a connector's answer: its words are not ours to show (they may carry a URL); the name is.
      failure = { status: 'unavailable', summary: `the check could not run (${errorSummary(err).name ?? 'error'})`, isAuth: false };
    }
  }
  if (dest.status === 'needs_reauth') {
    const summary = `its deliveries are parked until it is re-authorised (${dest.status_reason ?? 'needs_reauth'})${failure ? `; ${failure.summary}` : ''}`;
    await book.raise(destinationReauthCause(ctx, dest, `Deliveries found the credentials refused (${dest.status_reason ?? 'needs_reauth'})`));
    return { monitor: 'destination_credentials', subject, status: 'problem', summary };
  }
  if (failure?.isAuth) {
    await book.raise(destinationReauthCause(ctx, dest, `The hourly credentials check: ${failure.summary}`));
    return { monitor: 'destination_credentials', subject, status: 'problem', summary: failure.summary };
  }
  if (failure) return { monitor: 'destination_credentials', subject, status: failure.status, summary: failure.summary };
  await book.resolve('destination_reauth', subject, 'the CRM accepts the credentials');
  return { monitor: 'destination_credentials', subject, status: 'ok', summary: 'the CRM accepts the credentials' };
}

async function monitorDeadLetters(app: App, ctx: CauseContext, destinations: Destination[], book: CauseBook, now: Date): Promise<Finding[]> {
  const counts = new Map((await countDeadLetters(app.db, ctx.workspaceId, now)).map((c) => [c.destinationId, c]));
  const { deadLetterAlertPercent, deadLetterAlertMin } = app.config.monitoring;
  const findings: Finding[] = [];
  for (const dest of destinations) {
    const c = counts.get(dest.id) ?? { destinationId: dest.id, deadLastHour: 0, deliveredLastHour: 0, deadLastDay: 0, deliveredLastDay: 0 };
    const rate = (dead: number, delivered: number) => (dead + delivered === 0 ? 0 : Math.round((dead / (dead + delivered)) * 1000) / 10);
    const hourRate = rate(c.deadLastHour, c.deliveredLastHour);
    const dayRate = rate(c.deadLastDay, c.deliveredLastDay);
    const details = {
      dead_last_hour: c.deadLastHour,
      delivered_last_hour: c.deliveredLastHour,
      dead_rate_last_hour_percent: hourRate,
      dead_last_day: c.deadLastDay,
      delivered_last_day: c.deliveredLastDay,
      dead_rate_last_day_percent: dayRate,
    };
    const summary = `last hour ${c.deadLastHour} dead of ${c.deadLastHour + c.deliveredLastHour} (${hourRate} %); last 24 h ${c.deadLastDay} dead of ${c.deadLastDay + c.deliveredLastDay} (${dayRate} %)`;
    if (c.deadLastHour >= deadLetterAlertMin && hourRate >= deadLetterAlertPercent) {
      await book.raise(deadLetterCause(ctx, dest, c));
      findings.push({ monitor: 'dead_letters', subject: dest.id, status: 'problem', summary, details });
    } else {
      await book.resolve('destination_dead_letters', dest.id, 'no more than the threshold of deliveries went dead in the last hour');
      findings.push({ monitor: 'dead_letters', subject: dest.id, status: c.deadLastDay > 0 ? 'warning' : 'ok', summary, details });
    }
  }
  return findings;
}

async function monitorQueueAge(app: App, ctx: CauseContext, book: CauseBook, now: Date): Promise<Finding> {
  const q = await measureQueueAges(app.db, ctx.workspaceId, now);
  const ageOf = (d: Date | null) => (d ? Math.max(0, now.getTime() - d.getTime()) : 0);
  const eventAge = ageOf(q.oldestOpenEventAt);
  const deliveryAge = ageOf(q.oldestDueDeliveryAt);
  const details = {
    open_events: q.openEvents,
    oldest_open_event_at: iso(q.oldestOpenEventAt),
    oldest_open_event_age_ms: eventAge,
    due_deliveries: q.dueDeliveries,
    oldest_due_delivery_at: iso(q.oldestDueDeliveryAt),
    oldest_due_delivery_age_ms: deliveryAge,
  };
  const minutes = (ms: number) => Math.round(ms / 60_000);
  const summary =
    `${q.openEvents} lead(s) waiting to be fetched (oldest ${minutes(eventAge)} min), ` +
    `${q.dueDeliveries} delivery(ies) due (oldest ${minutes(deliveryAge)} min)`;
  const limit = app.config.monitoring.queueAgeAlertMs;
  if (Math.max(eventAge, deliveryAge) > limit) {
    await book.raise(
      queueAgeCause(
        ctx,
        `The oldest lead waiting to be fetched has waited ${minutes(eventAge)} min, the oldest due delivery ${minutes(deliveryAge)} min ` +
          `(more than ${minutes(limit)} min, MONITOR_QUEUE_AGE_ALERT_MS): the workers are not keeping up, or not running.`,
      ),
    );
    return { monitor: 'queue_age', subject: '', status: 'problem', summary, details };
  }
  await book.resolve('queue_age', null, 'the queues are moving again');
  return { monitor: 'queue_age', subject: '', status: 'ok', summary, details };
}

/** Open alerts about a page or destination that is gone are resolved: nothing is left to fix. */
async function resolveOrphans(app: App, workspaceId: string, pages: Page[], destinations: Destination[], book: CauseBook): Promise<void> {
  const pageIds = new Set(pages.map((p) => p.page_id));
  const destinationIds = new Set(destinations.map((d) => d.id));
  for (const a of await listOpenAlerts(app.db, workspaceId)) {
    if (a.subject_id === null) continue;
    const isPageCause = a.cause.startsWith('page_');
    const isGone = isPageCause ? !pageIds.has(a.subject_id) : a.cause.startsWith('destination_') && !destinationIds.has(a.subject_id);
    if (isGone)
      await book.resolve(a.cause as AlertCause, a.subject_id, isPageCause ? 'the page was removed from the workspace' : 'the destination was removed');
  }
}

async function monitorWorkspace(
  app: App,
  workspaceId: string,
  appSubscription: () => Promise<AppSubscriptionState | null>,
  now: Date,
): Promise<WorkspaceMonitorReport> {
  const ctx: CauseContext = { publicUrl: app.config.publicUrl, workspaceId };
  const book = new CauseBook(app, workspaceId, now);
  const pages = await repo.listPages(app.db, workspaceId);
  const destinations = await repo.listDestinations(app.db, workspaceId);
  const findings: Finding[] = [];
  const guarded = async (monitor: MonitorName, subject: string, work: () => Promise<Finding | Finding[]>) => {
    try {
      const r = await work();
      findings.push(...(Array.isArray(r) ? r : [r]));
    } catch (err) {
      app.logger.warn({ workspaceId, monitor, subject, err: errorSummary(err) }, 'a health monitor failed');
      findings.push({ monitor, subject, status: 'unavailable', summary: `the monitor failed (${errorSummary(err).name ?? 'error'}); it runs again next time` });
    }
  };
  for (const page of pages) await guarded('page_token', page.page_id, () => monitorPage(app, ctx, page, book, now));
  if (pages.length > 0) await guarded('app_subscription', '', async () => monitorAppSubscription(ctx, await appSubscription(), book));
  for (const dest of destinations) await guarded('destination_credentials', dest.id, () => monitorDestination(app, ctx, dest, book));
  await guarded('dead_letters', '', () => monitorDeadLetters(app, ctx, destinations, book, now));
  await guarded('queue_age', '', () => monitorQueueAge(app, ctx, book, now));
  await resolveOrphans(app, workspaceId, pages, destinations, book);

  for (const f of findings) {
    const finding: MonitorFinding = {
      workspaceId,
      monitor: f.monitor,
      subject: f.subject,
      status: f.status,
      summary: f.summary,
      details: f.details,
      checkedAt: now,
    };
    await recordMonitorResult(app.db, finding);
  }
  for (const monitor of MONITORS)
    await pruneMonitorResults(
      app.db,
      workspaceId,
      monitor,
      findings.filter((f) => f.monitor === monitor).map((f) => f.subject),
    );
  return { workspaceId, checkedAt: now, findings, opened: book.opened, resolved: book.resolved };
}

/** Runs every monitor for the workspace (or all) now. */
export async function runMonitors(app: App, opts: RunMonitorsOptions = {}): Promise<WorkspaceMonitorReport[]> {
  const now = (opts.now ?? (() => new Date()))();
  const workspaces = opts.workspaceId ? [opts.workspaceId] : (await repo.listWorkspaces(app.db)).map((w) => w.id);
  // The app-level subscription is one per Meta app: asked once per run, only if some workspace has pages.
  let appSubscription: Promise<AppSubscriptionState | null> | undefined;
  const readOnce = () => {
    const { appId, appSecret } = app.config.meta;
    appSubscription ??= appId && appSecret ? readAppSubscription(app) : Promise.resolve(null);
    return appSubscription;
  };
  const reports: WorkspaceMonitorReport[] = [];
  for (const workspaceId of workspaces) reports.push(await monitorWorkspace(app, workspaceId, readOnce, now));
  return reports;
}

const MONITORS_LEASE = 'monitors';
/** The first scheduled run after start-up waits this long (at most one interval), so boot stays quick. */
const INITIAL_DELAY_MS = 60_000;

/** Runs the monitors unless another process ran them within the interval (the lease is held for it). Null when another holds it. */
async function runLockedMonitors(app: App, intervalMs: number): Promise<WorkspaceMonitorReport[] | null> {
  // A per-run holder id: the same process must not re-take its own lease before it expires.
  if (!(await tryTakeLease(app.db, MONITORS_LEASE, `${processHolderId}:${Date.now()}`, Math.max(1000, intervalMs - 1000)))) return null;
  return runMonitors(app);
}

/** The work role's periodic monitors (MONITOR_INTERVAL_MS; 0 turns them off). */
export function startMonitoring(app: App, opts: { intervalMs: number; initialDelayMs?: number }): { stop(): Promise<void> } {
  if (opts.intervalMs === 0) return { stop: async () => {} };
  const intervalMs = Math.max(1000, opts.intervalMs);
  const initialDelayMs = Math.max(0, opts.initialDelayMs ?? Math.min(intervalMs, INITIAL_DELAY_MS));
  return runPeriodically(
    async () => {
      try {
        const reports = await runLockedMonitors(app, intervalMs);
        if (!reports) return;
        const count = (s: Status) => reports.reduce((n, r) => n + r.findings.filter((f) => f.status === s).length, 0);
        app.logger.info(
          {
            workspaces: reports.length,
            problems: count('problem'),
            warnings: count('warning'),
            unavailable: count('unavailable'),
            alertsOpened: reports.reduce((n, r) => n + r.opened, 0),
            alertsResolved: reports.reduce((n, r) => n + r.resolved, 0),
          },
          'health monitors ran',
        );
      } catch (err) {
        app.logger.warn({ err: errorSummary(err) }, 'health monitors failed');
      }
    },
    { intervalMs, initialDelayMs },
  );
}
