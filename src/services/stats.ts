// Leads per day per form, for the health page's chart: how many arrived each UTC day, and where
// each one is now (src/services/leads.ts DeliveryRollup), counted in SQL.
import { sql } from 'kysely';
import type { App } from '../app.js';
import { rollupSql } from './leads.js';

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
export async function countLeadsPerDay(app: App, workspaceId: string, days: number) {
  const { rows: range } = await sql<{ from: string; to: string }>`
    select to_char((now() at time zone 'UTC')::date - ${days - 1}::int, 'YYYY-MM-DD') as "from",
           to_char((now() at time zone 'UTC')::date, 'YYYY-MM-DD') as "to"
  `.execute(app.db);
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
  `.execute(app.db);
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
