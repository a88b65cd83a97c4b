// The SQL of health monitors and alerts (migration 0014): each monitor's latest finding, alert
// channels (their addresses and secrets arrive here already encrypted), alerts with their message
// schedule, and the messages sent. What the rows mean is src/alerts/ and src/pipeline/monitors.ts.
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { Alert, AlertChannel, AlertChannelKind, AlertMessageKind, AlertSend, MonitorResult } from './schema.js';
import { isUuid, json, storableText } from './values.js';

// ---------- monitor results ----------
export interface MonitorFinding {
  workspaceId: string;
  monitor: string;
  /** A page id, a destination id, or '' for the workspace as a whole. */
  subject: string;
  status: MonitorResult['status'];
  summary: string;
  details?: Record<string, unknown>;
  checkedAt: Date;
}

export async function recordMonitorResult(db: Db, f: MonitorFinding): Promise<void> {
  const values = {
    status: f.status,
    summary: f.summary,
    details: f.details === undefined ? null : json(f.details),
    checked_at: f.checkedAt,
  };
  await db
    .insertInto('monitor_results')
    .values({ workspace_id: f.workspaceId, monitor: f.monitor, subject: f.subject, ...values })
    .onConflict((oc) => oc.columns(['workspace_id', 'monitor', 'subject']).doUpdateSet(values))
    .execute();
}

/** Drops a monitor's results about subjects that are gone (a page or destination removed since). */
export async function pruneMonitorResults(db: Db, workspaceId: string, monitor: string, keepSubjects: string[]): Promise<void> {
  let q = db.deleteFrom('monitor_results').where('workspace_id', '=', workspaceId).where('monitor', '=', monitor);
  if (keepSubjects.length > 0) q = q.where('subject', 'not in', keepSubjects);
  await q.execute();
}

export async function listMonitorResults(db: Db, workspaceId: string): Promise<MonitorResult[]> {
  return db.selectFrom('monitor_results').selectAll().where('workspace_id', '=', workspaceId).orderBy('monitor').orderBy('subject').execute();
}

// ---------- what is waiting ----------
/** Leads of a page parked until its token is replaced. */
export async function countParkedEventsOfPage(db: Db, pageId: string): Promise<number> {
  const row = await db
    .selectFrom('leadgen_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('page_id', '=', pageId)
    .where('status', '=', 'parked')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function countDeliveriesOfDestination(db: Db, destinationId: string, status: 'parked' | 'dead'): Promise<number> {
  if (!isUuid(destinationId)) return 0;
  const row = await db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('destination_id', '=', destinationId)
    .where('status', '=', status)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface DeadLetterCounts {
  destinationId: string;
  deadLastHour: number;
  deliveredLastHour: number;
  deadLastDay: number;
  deliveredLastDay: number;
}

/** Per destination of the workspace: deliveries that went dead, and that succeeded, in the hour and the day before `now`. */
export async function countDeadLetters(db: Db, workspaceId: string, now: Date): Promise<DeadLetterCounts[]> {
  const hourAgo = new Date(now.getTime() - 3_600_000);
  const dayAgo = new Date(now.getTime() - 86_400_000);
  const { rows } = await sql<{ destination_id: string; dead_hour: number; delivered_hour: number; dead_day: number; delivered_day: number }>`
    select destination_id,
      count(*) filter (where status = 'dead' and updated_at >= ${hourAgo}) as dead_hour,
      count(*) filter (where status = 'delivered' and delivered_at >= ${hourAgo}) as delivered_hour,
      count(*) filter (where status = 'dead') as dead_day,
      count(*) filter (where status = 'delivered') as delivered_day
    from deliveries
    where workspace_id = ${workspaceId}
      and ((status = 'dead' and updated_at >= ${dayAgo}) or (status = 'delivered' and delivered_at >= ${dayAgo}))
    group by destination_id
  `.execute(db);
  return rows.map((r) => ({
    destinationId: r.destination_id,
    deadLastHour: Number(r.dead_hour),
    deliveredLastHour: Number(r.delivered_hour),
    deadLastDay: Number(r.dead_day),
    deliveredLastDay: Number(r.delivered_day),
  }));
}

export interface QueueAges {
  /** Leads Meta announced that are still waiting to be fetched, and since when the oldest waits. */
  openEvents: number;
  oldestOpenEventAt: Date | null;
  /** Deliveries due (not in a backoff or rate-limit wait) and not done, and since when the oldest is due. */
  dueDeliveries: number;
  oldestDueDeliveryAt: Date | null;
}

export async function measureQueueAges(db: Db, workspaceId: string, now: Date): Promise<QueueAges> {
  const { rows: events } = await sql<{ n: number; oldest: Date | null }>`
    select count(*) as n, min(e.received_at) as oldest
    from leadgen_events e join pages p on p.page_id = e.page_id
    where p.workspace_id = ${workspaceId} and e.status = 'received'
  `.execute(db);
  const { rows: deliveries } = await sql<{ n: number; oldest: Date | null }>`
    select count(*) as n, min(coalesce(next_attempt_at, created_at)) as oldest
    from deliveries
    where workspace_id = ${workspaceId} and status = 'pending' and (next_attempt_at is null or next_attempt_at <= ${now})
  `.execute(db);
  const date = (d: Date | string | null | undefined) => (d ? new Date(d) : null);
  return {
    openEvents: Number(events[0]?.n ?? 0),
    oldestOpenEventAt: date(events[0]?.oldest),
    dueDeliveries: Number(deliveries[0]?.n ?? 0),
    oldestDueDeliveryAt: date(deliveries[0]?.oldest),
  };
}

/** The leads waiting on the workspace's queues (open events and due deliveries). */
export async function countQueuedWork(db: Db, workspaceId: string, now: Date): Promise<number> {
  const q = await measureQueueAges(db, workspaceId, now);
  return q.openEvents + q.dueDeliveries;
}

// ---------- alerts ----------
export interface RaisedCause {
  workspaceId: string;
  causeKey: string;
  cause: string;
  subjectId: string | null;
  subjectName: string | null;
  title: string;
  detail: string;
  fix: string;
}

/**
 * Opens the cause's alert, or (one is open) notes that it was seen again with the latest words.
 * One statement, so two workers raising the same cause at once still make one alert. Its words
 * may quote what a CRM said (storableText).
 */
export async function openOrRefreshAlert(db: Db, c: RaisedCause, now: Date): Promise<{ alert: Alert; isNew: boolean }> {
  const { rows } = await sql<Alert & { is_new: boolean }>`
    insert into alerts (workspace_id, cause_key, cause, subject_id, subject_name, title, detail, fix, opened_at, last_seen_at, next_send_at)
    values (${c.workspaceId}, ${c.causeKey}, ${c.cause}, ${c.subjectId}, ${c.subjectName}, ${storableText(c.title)}, ${storableText(c.detail)}, ${c.fix}, ${now}, ${now}, ${now})
    on conflict (workspace_id, cause_key) where status = 'open'
    do update set last_seen_at = excluded.last_seen_at, title = excluded.title, detail = excluded.detail, fix = excluded.fix,
      subject_name = coalesce(excluded.subject_name, alerts.subject_name)
    returning *, (xmax = 0) as is_new
  `.execute(db);
  const { is_new, ...alert } = rows[0]!;
  return { alert: alert as Alert, isNew: Boolean(is_new) };
}

/** Resolves the open alerts of these cause keys; returns the ones resolved. */
export async function resolveAlerts(db: Db, workspaceId: string, causeKeys: string[], resolution: string, now: Date): Promise<Alert[]> {
  if (causeKeys.length === 0) return [];
  return db
    .updateTable('alerts')
    .set({ status: 'resolved', resolved_at: now, resolution, next_send_at: null })
    .where('workspace_id', '=', workspaceId)
    .where('cause_key', 'in', causeKeys)
    .where('status', '=', 'open')
    .returningAll()
    .execute();
}

/** Open alerts of the workspace (all causes, or those whose key starts with one of `causes`). */
export async function listOpenAlerts(db: Db, workspaceId: string, causes?: string[]): Promise<Alert[]> {
  let q = db.selectFrom('alerts').selectAll().where('workspace_id', '=', workspaceId).where('status', '=', 'open');
  if (causes) {
    if (causes.length === 0) return [];
    q = q.where('cause', 'in', causes);
  }
  return q.orderBy('opened_at').execute();
}

export async function listAlerts(db: Db, workspaceId: string, opts: { status?: 'open' | 'resolved'; limit: number }): Promise<Alert[]> {
  let q = db.selectFrom('alerts').selectAll().where('workspace_id', '=', workspaceId);
  if (opts.status) q = q.where('status', '=', opts.status);
  return q.orderBy('opened_at', 'desc').orderBy('id').limit(opts.limit).execute();
}

/** How long a dispatcher may take over one batch before another may take it over. */
const CLAIM_MS = 5 * 60_000;

/**
 * Alerts with a message due at `now` (never told; a reminder due; resolved and not yet told),
 * claimed for `CLAIM_MS` so that another dispatcher leaves them alone. Oldest first.
 */
export async function claimAlertsToSend(db: Db, now: Date, limit: number): Promise<Alert[]> {
  const until = new Date(now.getTime() + CLAIM_MS);
  const { rows } = await sql<Alert>`
    update alerts set claimed_until = ${until}
    where id in (
      select id from alerts
      where (status = 'open' or resolved_notified_at is null)
        and (opened_notified_at is null or (status = 'open' and next_send_at <= ${now}) or (status = 'resolved' and resolved_notified_at is null))
        and (claimed_until is null or claimed_until <= ${now})
      order by opened_at
      limit ${limit}
      for update skip locked
    )
    returning *
  `.execute(db);
  return rows.sort((a, b) => new Date(a.opened_at).getTime() - new Date(b.opened_at).getTime());
}

/** After a message about the alert went out (or there was nobody to tell): its new schedule, claim released. */
export async function recordAlertNotified(
  db: Db,
  id: string,
  set: { openedAt?: Date; reminderAt?: Date; nextSendAt?: Date | null; resolvedAt?: Date; countsAsNotification: boolean },
): Promise<void> {
  const values: Record<string, unknown> = {};
  if (set.openedAt) values.opened_notified_at = set.openedAt;
  if (set.openedAt || set.reminderAt) values.last_notified_at = set.openedAt ?? set.reminderAt;
  if (set.nextSendAt !== undefined) values.next_send_at = sql`case when status = 'open' then ${set.nextSendAt}::timestamptz else null end`;
  if (set.resolvedAt) values.resolved_notified_at = set.resolvedAt;
  if (set.countsAsNotification) values.notifications = sql`notifications + 1`;
  await db.updateTable('alerts').set(values).where('id', '=', id).execute();
}

export async function releaseAlertClaim(db: Db, id: string): Promise<void> {
  await db.updateTable('alerts').set({ claimed_until: null }).where('id', '=', id).execute();
}

// ---------- channels ----------
export async function insertAlertChannel(
  db: Db,
  c: { id: string; workspaceId: string; kind: AlertChannelKind; name: string; settingsEnvelope: string; targetHint: string; createdBy: string | null },
): Promise<AlertChannel> {
  return db
    .insertInto('alert_channels')
    .values({
      id: c.id,
      workspace_id: c.workspaceId,
      kind: c.kind,
      name: c.name,
      settings_envelope: c.settingsEnvelope,
      target_hint: c.targetHint,
      created_by: c.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function listAlertChannels(db: Db, workspaceId: string): Promise<AlertChannel[]> {
  return db.selectFrom('alert_channels').selectAll().where('workspace_id', '=', workspaceId).orderBy('created_at').orderBy('id').execute();
}

/** A channel of the workspace, or undefined (also for one of another workspace). */
export async function findAlertChannel(db: Db, workspaceId: string, id: string): Promise<AlertChannel | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('alert_channels').selectAll().where('id', '=', id).where('workspace_id', '=', workspaceId).executeTakeFirst();
}

export async function deleteAlertChannel(db: Db, workspaceId: string, id: string): Promise<boolean> {
  if (!isUuid(id)) return false;
  const r = await db.deleteFrom('alert_channels').where('id', '=', id).where('workspace_id', '=', workspaceId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function recordChannelOutcome(db: Db, id: string, outcome: { sentAt: Date | null; error: string | null }): Promise<void> {
  await db
    .updateTable('alert_channels')
    .set(outcome.sentAt ? { last_sent_at: outcome.sentAt, last_error: null } : { last_error: outcome.error })
    .where('id', '=', id)
    .execute();
}

/** Every channel's envelope, for key rotation. */
export async function listAlertChannelEnvelopes(db: Db): Promise<{ id: string; settings_envelope: string }[]> {
  return db.selectFrom('alert_channels').select(['id', 'settings_envelope']).execute();
}

export async function replaceAlertChannelEnvelopeIfUnchanged(db: Db, id: string, seen: string, envelope: string): Promise<void> {
  await db.updateTable('alert_channels').set({ settings_envelope: envelope }).where('id', '=', id).where('settings_envelope', '=', seen).execute();
}

// ---------- messages sent ----------
export interface AlertSendRecord {
  workspaceId: string;
  alertId: string | null;
  channelId: string;
  message: AlertMessageKind;
  outcome: 'sent' | 'failed';
  attempts: number;
  error: string | null;
  sentAt: Date;
}

export async function recordAlertSends(db: Db, sends: AlertSendRecord[]): Promise<void> {
  if (sends.length === 0) return;
  await db
    .insertInto('alert_sends')
    .values(
      sends.map((s) => ({
        workspace_id: s.workspaceId,
        alert_id: s.alertId,
        channel_id: s.channelId,
        message: s.message,
        outcome: s.outcome,
        attempts: s.attempts,
        error: s.error,
        sent_at: s.sentAt,
      })),
    )
    .execute();
}

export async function listSendsOfAlerts(db: Db, alertIds: string[]): Promise<AlertSend[]> {
  if (alertIds.length === 0) return [];
  return db.selectFrom('alert_sends').selectAll().where('alert_id', 'in', alertIds).orderBy('sent_at').orderBy('id').execute();
}
