// The lead log's reads (src/services/leads.ts shapes them): a workspace's leads with where each
// is as a whole (its delivery rollup, worked out in SQL so the log can filter and count by it),
// the change feed the log polls, and leads per day for the health page's chart.
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { Lead, SearchKind } from './schema.js';

/**
 * Where a lead is as a whole: `unrouted` (no route took it), else from its deliveries: `failed`
 * when one is dead, `parked` when one waits for re-authorisation, `pending` when one is still
 * being sent, `delivered` when every one is.
 */
export type DeliveryRollup = 'unrouted' | 'failed' | 'parked' | 'pending' | 'delivered';

/** The statuses the lead log filters by: the lead's own (routed, unrouted) and its deliveries' (DeliveryRollup). */
export const LEAD_LOG_STATUSES = ['routed', 'unrouted', 'delivered', 'failed', 'pending', 'parked'] as const;
type LeadLogStatus = (typeof LEAD_LOG_STATUSES)[number];

/** DeliveryRollup in SQL (of the row `leads`), over every delivery of the lead or only the one to `destinationId`. */
const rollupSql = (destinationId?: string) => sql<DeliveryRollup>`(case when leads.status = 'unrouted' then 'unrouted' else coalesce((
    select case when bool_or(d.status = 'dead') then 'failed' when bool_or(d.status = 'parked') then 'parked'
                when bool_or(d.status = 'pending') then 'pending' when bool_or(d.status = 'delivered') then 'delivered' end
    from deliveries d where d.lead_id = leads.id${destinationId === undefined ? sql`` : sql` and d.destination_id = ${destinationId}`}
  ), 'pending') end)`;

export type LeadWithRollup = Lead & { delivery_status: DeliveryRollup };

export interface LeadLogFilter {
  status?: LeadLogStatus;
  pageId?: string;
  formId?: string;
  /** Leads sent (or being sent) to this destination; with a delivery status, the status of that delivery. */
  destinationId?: string;
  /** Received at or after. */
  since?: Date;
  /** Received before. */
  until?: Date;
  /** Leads with one of these blind-index hashes of this kind. */
  search?: { kind: SearchKind; hashes: string[] };
  /** Received before this lead (the previous page's last): newest first, ties by id. */
  after?: { receivedAt: string; id: string };
  limit: number;
}

/** Leads of a workspace, newest first, with their rollup. */
export async function listLeadLog(db: Db, workspaceId: string, f: LeadLogFilter): Promise<LeadWithRollup[]> {
  let q = db.selectFrom('leads').selectAll('leads').select(rollupSql().as('delivery_status')).where('leads.workspace_id', '=', workspaceId);
  if (f.status === 'routed' || f.status === 'unrouted') q = q.where('leads.status', '=', f.status);
  else if (f.status) q = q.where(sql<boolean>`${rollupSql(f.destinationId)} = ${f.status}`);
  if (f.pageId) q = q.where('leads.page_id', '=', f.pageId);
  if (f.formId) q = q.where('leads.form_id', '=', f.formId);
  const destinationId = f.destinationId;
  if (destinationId)
    q = q.where((eb) =>
      eb.exists(
        eb
          .selectFrom('deliveries')
          .select('deliveries.id')
          .whereRef('deliveries.lead_id', '=', 'leads.id')
          .where('deliveries.destination_id', '=', destinationId),
      ),
    );
  if (f.since) q = q.where('leads.received_at', '>=', f.since);
  if (f.until) q = q.where('leads.received_at', '<', f.until);
  const search = f.search;
  if (search)
    q = q.where(
      'leads.id',
      'in',
      db.selectFrom('lead_search').select('lead_id').where('workspace_id', '=', workspaceId).where('kind', '=', search.kind).where('hash', 'in', search.hashes),
    );
  if (f.after) q = q.where(sql<boolean>`(leads.received_at, leads.id) < (${new Date(f.after.receivedAt)}, ${f.after.id}::uuid)`);
  return q.orderBy('leads.received_at', 'desc').orderBy('leads.id', 'desc').limit(f.limit).execute();
}

/** Leads of a workspace by id, with their rollup, in no particular order. */
export async function findLeadsWithRollup(db: Db, workspaceId: string, ids: string[]): Promise<LeadWithRollup[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('leads')
    .selectAll('leads')
    .select(rollupSql().as('delivery_status'))
    .where('leads.workspace_id', '=', workspaceId)
    .where('leads.id', 'in', ids)
    .execute();
}

// ---------- the change feed ----------

/** A change time as the feed's cursor carries it: microseconds, UTC. */
const UTC_MICROS = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';

/** The database's clock less `interval` (a PostgreSQL interval, e.g. '10 seconds'), as a change time. */
export async function changeTimeBefore(db: Db, interval: string): Promise<string> {
  const { rows } = await sql<{ t: string }>`select to_char((now() - ${interval}::interval) at time zone 'UTC', ${UTC_MICROS}) as t`.execute(db);
  return rows[0]!.t;
}

/**
 * The leads of a workspace that changed (themselves or a delivery) after the place `since`
 * (a change time and, among leads of that time, a lead id): each with its last change time,
 * oldest first, at most `limit`.
 */
export async function listChangedLeads(db: Db, workspaceId: string, since: { t: string; i: string }, limit: number): Promise<{ lead_id: string; t: string }[]> {
  const { rows } = await sql<{ lead_id: string; t: string }>`
    select lead_id, to_char(max(changed_at) at time zone 'UTC', ${UTC_MICROS}) as t
    from (
      select id as lead_id, updated_at as changed_at from leads where workspace_id = ${workspaceId} and updated_at >= ${since.t}::timestamptz
      union all
      select lead_id, updated_at from deliveries where workspace_id = ${workspaceId} and updated_at >= ${since.t}::timestamptz
    ) c
    group by lead_id
    having (max(changed_at), lead_id) > (${since.t}::timestamptz, ${since.i}::uuid)
    order by max(changed_at), lead_id
    limit ${limit}
  `.execute(db);
  return rows;
}

// ---------- leads per day ----------

export interface LeadsPerDayRow {
  /** The UTC day, YYYY-MM-DD. */
  date: string;
  form_id: string | null;
  form_name: string | null;
  total: number;
  delivered: number;
  failed: number;
  pending: number;
  parked: number;
  unrouted: number;
}

/** The last `days` UTC days (today included): per day and form, the leads received and their delivery state. */
export async function countLeadsPerDay(db: Db, workspaceId: string, days: number) {
  const { rows: range } = await sql<{ from: string; to: string }>`
    select to_char((now() at time zone 'UTC')::date - ${days - 1}::int, 'YYYY-MM-DD') as "from",
           to_char((now() at time zone 'UTC')::date, 'YYYY-MM-DD') as "to"
  `.execute(db);
  const { from, to } = range[0]!;
  const { rows } = await sql<Record<keyof LeadsPerDayRow, string | null>>`
    with l as (
      select to_char(leads.received_at at time zone 'UTC', 'YYYY-MM-DD') as date, leads.form_id, leads.form_name, ${rollupSql()} as state
      from leads
      where leads.workspace_id = ${workspaceId} and leads.received_at >= (${from}::date)::timestamp at time zone 'UTC'
    )
    select date, form_id, max(form_name) as form_name, count(*) as total,
      count(*) filter (where state = 'delivered') as delivered,
      count(*) filter (where state = 'failed') as failed,
      count(*) filter (where state = 'pending') as pending,
      count(*) filter (where state = 'parked') as parked,
      count(*) filter (where state = 'unrouted') as unrouted
    from l
    group by date, form_id
    order by date, form_id nulls last
  `.execute(db);
  const n = (v: string | null) => Number(v ?? 0);
  const items: LeadsPerDayRow[] = rows.map((r) => ({
    date: r.date!,
    form_id: r.form_id,
    form_name: r.form_name,
    total: n(r.total),
    delivered: n(r.delivered),
    failed: n(r.failed),
    pending: n(r.pending),
    parked: n(r.parked),
    unrouted: n(r.unrouted),
  }));
  return { from, to, days, items };
}
