// Opening and resolving alerts: a cause (src/alerts/causes.ts) is raised when it appears and
// resolved when it clears. Raising writes one row (the same open row for the same cause, however
// many leads hit it); the messages go out from the dispatcher (dispatch.ts), never from here, so a
// step of the pipeline that raises a cause does no network call and never waits for a channel.
//
// The pipeline's hooks (`note…`) never throw: an alert that could not be written must not fail
// the fetch or delivery that found the cause (the monitors find it again within the hour).
import type { GraphErrorInfo } from '../meta/graph-errors.js';
import type { App } from '../app.js';
import { openOrRefreshAlert, resolveAlerts } from '../store/alerts.js';
import * as repo from '../store/repos.js';
import type { Alert, Destination, Page } from '../store/schema.js';
import { errorSummary } from '../util/error-summary.js';
import { type AlertCause, type CauseReport, causeKeyOf, destinationReauthCause, pageTokenCause } from './causes.js';

/** Opens the cause's alert (or refreshes the open one). */
export async function raiseCause(app: App, report: CauseReport, now = new Date()): Promise<{ alert: Alert; isNew: boolean }> {
  const r = await openOrRefreshAlert(
    app.db,
    {
      workspaceId: report.workspaceId,
      causeKey: causeKeyOf(report.cause, report.subjectId),
      cause: report.cause,
      subjectId: report.subjectId,
      subjectName: report.subjectName,
      title: report.title,
      detail: report.detail,
      fix: report.fix,
    },
    now,
  );
  if (r.isNew) app.logger.warn({ workspaceId: report.workspaceId, cause: report.cause, subject: report.subjectId, alertId: r.alert.id }, 'alert opened');
  return r;
}

/** Resolves the open alerts of these causes about this subject; returns how many. */
export async function resolveCauses(
  app: App,
  workspaceId: string,
  causes: { cause: AlertCause; subjectId: string | null }[],
  resolution: string,
  now = new Date(),
): Promise<number> {
  const resolved = await resolveAlerts(
    app.db,
    workspaceId,
    causes.map((c) => causeKeyOf(c.cause, c.subjectId)),
    resolution,
    now,
  );
  for (const a of resolved) app.logger.info({ workspaceId, cause: a.cause, subject: a.subject_id, alertId: a.id }, 'alert resolved');
  return resolved.length;
}

const contextOf = (app: App, workspaceId: string) => ({ publicUrl: app.config.publicUrl, workspaceId });

const graphWords = (info: Pick<GraphErrorInfo, 'message' | 'reason' | 'code' | 'subcode'>) =>
  info.code === undefined
    ? info.message || info.reason
    : `${info.message || info.reason} (Graph error ${info.code}${info.subcode === undefined ? '' : `/${info.subcode}`})`;

async function quietly(app: App, what: string, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (err) {
    app.logger.warn({ err: errorSummary(err) }, `could not record an alert (${what}); the monitors will find the cause again`);
  }
}

/** The fetch step (or reconciliation) found the page's token dead: one alert for the page, however many leads are parked. */
export function notePageNeedsReauth(app: App, page: Page, info: Pick<GraphErrorInfo, 'message' | 'reason' | 'code' | 'subcode'>): Promise<void> {
  return quietly(app, 'page token', () =>
    raiseCause(app, pageTokenCause(contextOf(app, page.workspace_id), page, `Meta refused the page token when a lead was fetched: ${graphWords(info)}`)),
  );
}

/** The delivery step parked a destination's deliveries for re-authorisation. */
export function noteDestinationNeedsReauth(app: App, dest: Destination, failure: { reason: string; crmMessage?: string }): Promise<void> {
  const words = failure.crmMessage ? `${failure.crmMessage.replace(/\s+/g, ' ').slice(0, 200)} (${failure.reason})` : failure.reason;
  return quietly(app, 'destination re-authorisation', () =>
    raiseCause(app, destinationReauthCause(contextOf(app, dest.workspace_id), dest, `The CRM refused the destination's credentials: ${words}`)),
  );
}

/** A page got a new token and its parked leads were resumed. */
export function notePageResumed(app: App, pageId: string): Promise<void> {
  return quietly(app, 'page resumed', async () => {
    const page = await repo.findPageByPageId(app.db, pageId);
    if (!page) return;
    await resolveCauses(
      app,
      page.workspace_id,
      [
        { cause: 'page_token', subjectId: pageId },
        { cause: 'page_token_expiring', subjectId: pageId },
      ],
      'the page token was replaced',
    );
  });
}

/** A destination got new credentials (or was reactivated) and its parked deliveries were resumed. */
export function noteDestinationResumed(app: App, destinationId: string): Promise<void> {
  return quietly(app, 'destination resumed', async () => {
    const dest = await repo.findDestination(app.db, destinationId);
    if (dest?.status !== 'active') return;
    await resolveCauses(app, dest.workspace_id, [{ cause: 'destination_reauth', subjectId: destinationId }], "the destination's credentials were replaced");
  });
}
