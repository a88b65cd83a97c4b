// The alert dispatcher of the work role: every ALERT_DISPATCH_INTERVAL_MS it sends the messages
// that are due, to every channel of the alert's workspace:
// - "opened", once, as soon as a cause is raised (even when it cleared before the message went:
//   the people who run LeadRelay should know it happened);
// - a reminder while it stays open, at a falling rate: ALERT_REPEAT_FIRST_MS after the opening,
//   then twice as long after each reminder, never more than ALERT_REPEAT_MAX_MS apart
//   (1 h, 2 h, 4 h, … 24 h by default);
// - "resolved", once, when it cleared.
// Alerts are claimed row by row (claimed_until), so several work processes never send the same
// message twice. A message that reached no channel at all is tried again in RETRY_UNSENT_MS.
// Nothing here runs inside a pipeline step: a slow or broken channel delays only other alerts.
import type { App } from '../app.js';
import {
  claimAlertsToSend,
  countDeliveriesOfDestination,
  countParkedEventsOfPage,
  countQueuedWork,
  listAlertChannels,
  recordAlertNotified,
  recordAlertSends,
  recordChannelOutcome,
  releaseAlertClaim,
} from '../store/alerts.js';
import * as repo from '../store/repos.js';
import type { Alert, AlertChannel, AlertMessageKind } from '../store/schema.js';
import { errorSummary } from '../util/error-summary.js';
import type { AlertCause } from './causes.js';
import type { AlertMessage } from './message.js';
import { type ChannelSendOutcome, sendAlertMessage } from './send.js';

/** Alerts handled per dispatch round. */
const BATCH = 50;
/** When no channel took a message: try it again after this long (the claim keeps other rounds off it). */
const RETRY_UNSENT_MS = 5 * 60_000;

/**
 * How long after the `sent`-th message about an open alert the next reminder is due: the first
 * delay, doubled after each reminder, capped.
 */
export function reminderDelayMs(sent: number, firstMs: number, maxMs: number): number {
  const doublings = Math.max(0, Math.min(sent - 1, 40));
  return Math.min(maxMs, firstMs * 2 ** doublings);
}

/** Leads held back by the cause now (null: the cause holds none back by itself). */
export async function countWaitingLeads(app: App, alert: Alert, now: Date): Promise<number | null> {
  const subject = alert.subject_id;
  switch (alert.cause as AlertCause) {
    case 'page_token':
    case 'page_token_expiring':
      return subject ? countParkedEventsOfPage(app.db, subject) : null;
    case 'destination_reauth':
      return subject ? countDeliveriesOfDestination(app.db, subject, 'parked') : null;
    case 'destination_dead_letters':
      return subject ? countDeliveriesOfDestination(app.db, subject, 'dead') : null;
    case 'queue_age':
      return countQueuedWork(app.db, alert.workspace_id, now);
    default:
      return null;
  }
}

export const healthUrlOf = (app: App, workspaceId: string) => `${app.config.publicUrl}/w/${workspaceId}/health`;

function messageOf(
  app: App,
  alert: Alert,
  workspaceName: string,
  kind: AlertMessageKind,
  extra: { reminder: number; waitingLeads: number | null; nextReminderAt: Date | null; now: Date },
): AlertMessage {
  return {
    kind,
    deliveryId: `${alert.id}:${kind === 'reminder' ? `reminder-${extra.reminder}` : kind}`,
    workspace: { id: alert.workspace_id, name: workspaceName },
    alert: {
      id: alert.id,
      cause: alert.cause,
      causeKey: alert.cause_key,
      subjectId: alert.subject_id,
      subjectName: alert.subject_name,
      title: alert.title,
      detail: alert.detail,
      fix: alert.fix,
      openedAt: new Date(alert.opened_at),
      resolvedAt: alert.resolved_at ? new Date(alert.resolved_at) : null,
      resolution: alert.resolution,
      reminder: extra.reminder,
    },
    waitingLeads: extra.waitingLeads,
    nextReminderAt: extra.nextReminderAt,
    healthUrl: healthUrlOf(app, alert.workspace_id),
    sentAt: extra.now,
  };
}

/** Sends one message to every channel (at once) and records each outcome; returns how many took it. */
export async function sendToChannels(
  app: App,
  channels: AlertChannel[],
  message: AlertMessage,
  alertId: string | null,
): Promise<{ channel: AlertChannel; result: ChannelSendOutcome }[]> {
  const results = await Promise.all(channels.map(async (channel) => ({ channel, result: await sendAlertMessage(app, channel, message) })));
  const at = new Date();
  await recordAlertSends(
    app.db,
    results.map(({ channel, result }) => ({
      workspaceId: message.workspace.id,
      alertId,
      channelId: channel.id,
      message: message.kind,
      outcome: result.outcome,
      attempts: result.attempts,
      error: result.error,
      sentAt: at,
    })),
  );
  for (const { channel, result } of results) {
    await recordChannelOutcome(app.db, channel.id, { sentAt: result.outcome === 'sent' ? at : null, error: result.error });
    if (result.outcome === 'failed')
      app.logger.warn(
        { channelId: channel.id, kind: channel.kind, message: message.kind, attempts: result.attempts, error: result.error },
        'alert message not delivered',
      );
  }
  return results;
}

export interface DispatchSummary {
  /** Messages that reached at least one channel (or had none to reach), by kind. */
  opened: number;
  reminders: number;
  resolved: number;
  /** Messages that reached no channel (tried again later). */
  unsent: number;
}

/** Sends every message due at `now`. Safe to run from several processes at once. */
export async function dispatchDueAlerts(app: App, opts: { now?: Date } = {}): Promise<DispatchSummary> {
  const now = opts.now ?? new Date();
  const summary: DispatchSummary = { opened: 0, reminders: 0, resolved: 0, unsent: 0 };
  const claimed = await claimAlertsToSend(app.db, now, BATCH);
  const channelsOf = new Map<string, AlertChannel[]>();
  const namesOf = new Map<string, string>();
  const { repeatFirstMs, repeatMaxMs } = app.config.alerts;
  for (const alert of claimed) {
    let keepClaim = false;
    try {
      const ws = alert.workspace_id;
      if (!channelsOf.has(ws)) channelsOf.set(ws, await listAlertChannels(app.db, ws));
      if (!namesOf.has(ws)) namesOf.set(ws, (await repo.findWorkspace(app.db, ws))?.name ?? ws);
      const channels = channelsOf.get(ws)!;
      const name = namesOf.get(ws)!;
      const reached = async (kind: AlertMessageKind, reminder: number, nextReminderAt: Date | null) => {
        if (channels.length === 0) return true;
        const message = messageOf(app, alert, name, kind, { reminder, waitingLeads: await countWaitingLeads(app, alert, now), nextReminderAt, now });
        const results = await sendToChannels(app, channels, message, alert.id);
        return results.some((r) => r.result.outcome === 'sent');
      };

      let isOpenedNotified = alert.opened_notified_at !== null;
      if (!isOpenedNotified) {
        const next = new Date(now.getTime() + reminderDelayMs(1, repeatFirstMs, repeatMaxMs));
        if (!(await reached('opened', 0, alert.status === 'open' ? next : null))) {
          summary.unsent++;
          keepClaim = true;
          continue;
        }
        await recordAlertNotified(app.db, alert.id, { openedAt: now, nextSendAt: next, countsAsNotification: true });
        isOpenedNotified = true;
        summary.opened++;
      } else if (alert.status === 'open' && alert.next_send_at && new Date(alert.next_send_at) <= now) {
        const sent = alert.notifications + 1;
        const next = new Date(now.getTime() + reminderDelayMs(sent, repeatFirstMs, repeatMaxMs));
        if (!(await reached('reminder', alert.notifications, next))) {
          summary.unsent++;
          keepClaim = true;
          continue;
        }
        await recordAlertNotified(app.db, alert.id, { reminderAt: now, nextSendAt: next, countsAsNotification: true });
        summary.reminders++;
      }
      if (alert.status === 'resolved' && alert.resolved_notified_at === null && isOpenedNotified) {
        if (!(await reached('resolved', 0, null))) {
          summary.unsent++;
          keepClaim = true;
          continue;
        }
        await recordAlertNotified(app.db, alert.id, { resolvedAt: now, countsAsNotification: false });
        summary.resolved++;
      }
    } catch (err) {
      app.logger.warn({ alertId: alert.id, err: errorSummary(err) }, 'alert dispatch failed; tried again on a later round');
    } finally {
      // A message no channel took keeps its claim, so the next rounds leave it alone for a while.
      if (keepClaim)
        await app.db
          .updateTable('alerts')
          .set({ claimed_until: new Date(now.getTime() + RETRY_UNSENT_MS) })
          .where('id', '=', alert.id)
          .execute()
          .catch(() => {});
      else await releaseAlertClaim(app.db, alert.id).catch(() => {});
    }
  }
  return summary;
}

/**
 * The work role's dispatcher (ALERT_DISPATCH_INTERVAL_MS; 0 turns it off). A timer, not a queued
 * job: alerts must go out even when the queue backend is what broke.
 */
export function startAlertDispatch(app: App, opts: { intervalMs: number }): { stop(): Promise<void> } {
  if (opts.intervalMs === 0) return { stop: async () => {} };
  let running: Promise<void> | null = null;
  let stopped = false;
  const tick = async () => {
    try {
      const r = await dispatchDueAlerts(app);
      if (r.opened || r.reminders || r.resolved || r.unsent) app.logger.info(r, 'alert messages sent');
    } catch (err) {
      app.logger.warn({ err: errorSummary(err) }, 'alert dispatch failed');
    }
  };
  const timer = setInterval(
    () => {
      if (!running && !stopped) running = tick().finally(() => (running = null));
    },
    Math.max(100, opts.intervalMs),
  );
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (running) await running;
    },
  };
}
