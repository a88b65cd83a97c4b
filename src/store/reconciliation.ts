// Repositories of reconciliation: which forms to compare with Meta, the leads Meta listed (recorded
// as if their webhook had come), the per-form checkpoints and the per-day counts.
import { sql } from 'kysely';
import type { Db } from './db.js';
import { type NewLeadgenEvent, recordLeadgenEvents } from './leadgen-events.js';
import type { ReconcileCheckpoint } from './schema.js';

/** A form of a registered page, in the page's workspace. */
export interface ReconcileTarget {
  workspaceId: string;
  pageId: string;
  formId: string;
}

/**
 * A page Graph can be asked about: it has a token (not disconnected) and its workspace is not
 * being deleted. Leads of other pages wait for the page to be connected again, or go with it.
 */
function reachablePage(alias: 'p' | 'pages') {
  return sql<boolean>`(${sql.ref(`${alias}.token_envelope`)} is not null and not exists (
    select 1 from workspaces w where w.id = ${sql.ref(`${alias}.workspace_id`)} and w.deletion_requested_at is not null))`;
}

/**
 * The forms LeadRelay knows of for registered pages: those enabled routes name, those whose
 * questions were kept (a lead of it was fetched), and those leadgen events named since `eventsSince`.
 * Forms of a page-level route that never sent a webhook are not here: Graph lists those.
 */
export async function listKnownForms(db: Db, only: { workspaceId?: string }, eventsSince: Date): Promise<ReconcileTarget[]> {
  const reachable = reachablePage('p');
  const ws = only.workspaceId ?? null;
  const { rows } = await sql<{ workspace_id: string; page_id: string; form_id: string }>`
    select r.workspace_id, r.page_id, r.form_id
      from routes r join pages p on p.page_id = r.page_id and p.workspace_id = r.workspace_id
      where ${reachable} and r.is_enabled and r.form_id is not null and (${ws}::uuid is null or r.workspace_id = ${ws}::uuid)
    union
    select f.workspace_id, f.page_id, f.form_id
      from forms f join pages p on p.page_id = f.page_id and p.workspace_id = f.workspace_id
      where ${reachable} and (${ws}::uuid is null or f.workspace_id = ${ws}::uuid)
    union
    select p.workspace_id, e.page_id, e.form_id
      from pages p cross join lateral (
        select distinct ev.page_id, ev.form_id from leadgen_events ev
        where ev.page_id = p.page_id and ev.form_id is not null and ev.created_time > ${eventsSince}
      ) e
      where ${reachable} and (${ws}::uuid is null or p.workspace_id = ${ws}::uuid)
    order by 1, 2, 3
  `.execute(db);
  return rows.map((r) => ({ workspaceId: r.workspace_id, pageId: r.page_id, formId: r.form_id }));
}

/** Pages with an enabled route that takes every form of the page (their forms are listed from Graph). */
export async function listPagesWithPageLevelRoutes(db: Db, only: { workspaceId?: string }): Promise<{ workspace_id: string; page_id: string }[]> {
  let q = db
    .selectFrom('routes')
    .innerJoin('pages', (j) => j.onRef('pages.page_id', '=', 'routes.page_id').onRef('pages.workspace_id', '=', 'routes.workspace_id'))
    .select(['routes.workspace_id', 'routes.page_id'])
    .distinct()
    .where('routes.is_enabled', '=', true)
    .where('routes.form_id', 'is', null)
    .where(reachablePage('pages'));
  if (only.workspaceId) q = q.where('routes.workspace_id', '=', only.workspaceId);
  return q.orderBy('routes.page_id').execute();
}

// ---------- page floors ----------
/**
 * The time at or before which no lead of the page may be recorded by reconciliation, whichever
 * workspace has the page now (a workspace that had it was purged then); null when it has none.
 */
export async function findPageLeadFloor(db: Db, pageId: string): Promise<Date | null> {
  const row = await db.selectFrom('page_lead_floors').select('not_before').where('page_id', '=', pageId).executeTakeFirst();
  return row ? new Date(row.not_before) : null;
}

// ---------- checkpoints ----------
export async function findCheckpoint(db: Db, workspaceId: string, formId: string): Promise<ReconcileCheckpoint | undefined> {
  return db.selectFrom('reconcile_checkpoints').selectAll().where('workspace_id', '=', workspaceId).where('form_id', '=', formId).executeTakeFirst();
}

export async function listCheckpoints(db: Db, workspaceId: string, formId?: string): Promise<(ReconcileCheckpoint & { form_name: string | null })[]> {
  let q = db
    .selectFrom('reconcile_checkpoints as c')
    .leftJoin('forms as f', (j) => j.onRef('f.workspace_id', '=', 'c.workspace_id').onRef('f.form_id', '=', 'c.form_id'))
    .selectAll('c')
    .select('f.name as form_name')
    .where('c.workspace_id', '=', workspaceId);
  if (formId) q = q.where('c.form_id', '=', formId);
  return q.orderBy('c.page_id').orderBy('c.form_id').execute();
}

/**
 * A run compared every lead of its window. `advanceTo` (the window's last second) moves the
 * checkpoint forward, never back, and `coveredFrom` (its exclusive start) extends the covered span
 * back; both null for a window that does not join the covered span (a later --since). Either way
 * the form's error and throttle wait are cleared.
 */
export async function completeCheckpoint(
  db: Db,
  c: ReconcileTarget & { advanceTo: Date | null; coveredFrom: Date | null; runAt: Date },
): Promise<ReconcileCheckpoint> {
  // greatest() and least() skip nulls: a null leaves the stored value as it is.
  const { rows } = await sql<ReconcileCheckpoint>`
    insert into reconcile_checkpoints (workspace_id, form_id, page_id, last_time_created, covered_from, last_run_at, last_error, retry_after)
    values (${c.workspaceId}, ${c.formId}, ${c.pageId}, ${c.advanceTo}, ${c.coveredFrom}, ${c.runAt}, null, null)
    on conflict (workspace_id, form_id) do update set
      page_id = excluded.page_id,
      last_time_created = greatest(reconcile_checkpoints.last_time_created, excluded.last_time_created),
      covered_from = least(reconcile_checkpoints.covered_from, excluded.covered_from),
      last_run_at = excluded.last_run_at,
      last_error = null,
      retry_after = null
    returning *
  `.execute(db);
  return rows[0];
}

/** A run stopped: the checkpoint stays where it was; the reason (and a throttle's wait) is kept. */
export async function failCheckpoint(db: Db, c: ReconcileTarget & { runAt: Date; reason: string; retryAfter: Date | null }): Promise<ReconcileCheckpoint> {
  const { rows } = await sql<ReconcileCheckpoint>`
    insert into reconcile_checkpoints (workspace_id, form_id, page_id, last_run_at, last_error, retry_after)
    values (${c.workspaceId}, ${c.formId}, ${c.pageId}, ${c.runAt}, ${c.reason}, ${c.retryAfter})
    on conflict (workspace_id, form_id) do update set
      page_id = excluded.page_id, last_run_at = excluded.last_run_at, last_error = excluded.last_error, retry_after = excluded.retry_after
    returning *
  `.execute(db);
  return rows[0];
}

// ---------- leads Meta listed ----------
export interface ListedLead {
  leadgenId: string;
  adId: string | null;
  createdTime: Date;
}

/**
 * Records the leads Meta listed for a form, in one transaction: those without an event are
 * recorded exactly as intake records a webhook's (recordLeadgenEvents: the unique page and leadgen
 * id makes a webhook that comes later, or earlier, a no-op), marked as found by reconciliation;
 * every listed lead's event gets `listed_at`. Returns the new events' ids, to be queued.
 */
export async function recordListedLeads(
  db: Db,
  target: ReconcileTarget,
  leads: ListedLead[],
  listedAt: Date,
): Promise<{ newEventIds: number[]; alreadyRecorded: number }> {
  // Within one statement a repeated (page, leadgen) pair would make ON CONFLICT fail.
  const unique = new Map<string, NewLeadgenEvent>();
  for (const l of leads) {
    unique.set(l.leadgenId, {
      pageId: target.pageId,
      leadgenId: l.leadgenId,
      formId: target.formId,
      adId: l.adId,
      adgroupId: l.adId,
      createdTime: l.createdTime,
      isTest: false,
    });
  }
  if (unique.size === 0) return { newEventIds: [], alreadyRecorded: 0 };
  return db.transaction().execute(async (trx) => {
    const inserted = await recordLeadgenEvents(trx, [...unique.values()]);
    const newEventIds = inserted.filter((r) => r.status === 'received').map((r) => r.id);
    if (inserted.length > 0) {
      await trx
        .updateTable('leadgen_events')
        .set({ source: 'reconciliation', workspace_id: target.workspaceId })
        .where(
          'id',
          'in',
          inserted.map((r) => r.id),
        )
        .execute();
    }
    await trx
      .updateTable('leadgen_events')
      .set({ listed_at: listedAt })
      .where('page_id', '=', target.pageId)
      .where('leadgen_id', 'in', [...unique.keys()])
      .execute();
    return { newEventIds, alreadyRecorded: unique.size - inserted.length };
  });
}

/**
 * Sets each UTC day's "Meta says N" from the recorded events Meta has listed, for the days from
 * `from` to `to` (inclusive). Counting listed events (not adding up runs) keeps a lead that two
 * runs both saw from counting twice.
 */
export async function refreshReconcileDays(db: Db, target: ReconcileTarget, from: Date, to: Date): Promise<void> {
  if (to < from) return;
  await sql`
    insert into reconcile_days (workspace_id, form_id, day, page_id, meta_count, updated_at)
    select ${target.workspaceId}, ${target.formId}, d::date, ${target.pageId},
      (select count(*) from leadgen_events e
        where e.page_id = ${target.pageId} and e.form_id = ${target.formId} and e.listed_at is not null
          and e.created_time >= d at time zone 'UTC' and e.created_time < (d + interval '1 day') at time zone 'UTC'),
      now()
    from generate_series((${from}::timestamptz at time zone 'UTC')::date::timestamp, (${to}::timestamptz at time zone 'UTC')::date::timestamp, interval '1 day') d
    on conflict (workspace_id, form_id, day) do update set meta_count = excluded.meta_count, page_id = excluded.page_id, updated_at = excluded.updated_at
  `.execute(db);
}

export interface FormDayCounts {
  form_id: string;
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  /** Null: no run has asked Meta about this day. */
  meta_count: number | null;
  recorded: number;
  recovered: number;
  delivered: number;
}

/**
 * Per form and UTC day from `fromDay` to `toDay`: what Meta listed (reconcile_days), the events
 * recorded (webhook or reconciliation) and those reconciliation recovered, by the lead's creation
 * day, and the leads every delivery of which succeeded.
 */
export async function countFormDays(
  db: Db,
  workspaceId: string,
  forms: { pageId: string; formId: string }[],
  fromDay: string,
  toDay: string,
): Promise<FormDayCounts[]> {
  if (forms.length === 0) return [];
  const pageIds = forms.map((f) => f.pageId);
  const formIds = forms.map((f) => f.formId);
  const { rows } = await sql<{ form_id: string; day: string; meta_count: number | null; recorded: string; recovered: string; delivered: string }>`
    with f as (select * from unnest(${pageIds}::text[], ${formIds}::text[]) as f(page_id, form_id)),
    days as (select d::date as day from generate_series(${fromDay}::date::timestamp, ${toDay}::date::timestamp, interval '1 day') d),
    bounds as (select ${fromDay}::date::timestamp at time zone 'UTC' as lo, (${toDay}::date + 1)::timestamp at time zone 'UTC' as hi),
    ev as (
      select e.form_id, (e.created_time at time zone 'UTC')::date as day, count(*) as recorded,
        count(*) filter (where e.source = 'reconciliation') as recovered
      from f join leadgen_events e on e.page_id = f.page_id and e.form_id = f.form_id, bounds
      where e.created_time >= bounds.lo and e.created_time < bounds.hi
      group by 1, 2
    ),
    dl as (
      -- A lead is received after it is created: bounding received_at lets the (workspace, received_at) index serve.
      select l.form_id, (l.created_time at time zone 'UTC')::date as day, count(*) as delivered
      from leads l, bounds
      where l.workspace_id = ${workspaceId} and l.form_id = any(${formIds}::text[])
        and l.received_at >= bounds.lo and l.created_time >= bounds.lo and l.created_time < bounds.hi
        and exists (select 1 from deliveries d where d.lead_id = l.id)
        and not exists (select 1 from deliveries d where d.lead_id = l.id and d.status <> 'delivered')
      group by 1, 2
    )
    select f.form_id, to_char(days.day, 'YYYY-MM-DD') as day, rd.meta_count,
      coalesce(ev.recorded, 0) as recorded, coalesce(ev.recovered, 0) as recovered, coalesce(dl.delivered, 0) as delivered
    from f cross join days
      left join reconcile_days rd on rd.workspace_id = ${workspaceId} and rd.form_id = f.form_id and rd.day = days.day
      left join ev on ev.form_id = f.form_id and ev.day = days.day
      left join dl on dl.form_id = f.form_id and dl.day = days.day
    order by f.form_id, days.day desc
  `.execute(db);
  return rows.map((r) => ({
    form_id: r.form_id,
    day: r.day,
    meta_count: r.meta_count === null ? null : Number(r.meta_count),
    recorded: Number(r.recorded),
    recovered: Number(r.recovered),
    delivered: Number(r.delivered),
  }));
}
