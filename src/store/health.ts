// What a workspace's health page reads (src/services/health.ts): Meta's last word on each page,
// when each page last had a lead, and each destination's recent deliveries.
import { sql } from 'kysely';
import type { Db } from './db.js';
import { ERASED_BEFORE_WEBHOOK_REASON } from './facebook-user-data.js';
import type { PageCheck } from './schema.js';

/** Stores what Meta said about a page at `checked_at`, replacing the previous check. */
export async function savePageCheck(db: Db, c: PageCheck): Promise<void> {
  const { page_id, ...rest } = c;
  await db
    .insertInto('page_checks')
    .values(c)
    .onConflict((oc) => oc.column('page_id').doUpdateSet(rest))
    .execute();
}

export async function listPageChecks(db: Db, workspaceId: string): Promise<PageCheck[]> {
  return db.selectFrom('page_checks').selectAll().where('workspace_id', '=', workspaceId).execute();
}

/**
 * When Meta last told us of a lead of each page (the webhook's time, fetched or not); pages without
 * one are left out. An event row a data-deletion callback wrote before any webhook of its lead is
 * not one.
 */
export async function listLastLeadTimes(db: Db, pageIds: string[]): Promise<Map<string, Date>> {
  if (pageIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('leadgen_events')
    .select(['page_id', (eb) => eb.fn.max('received_at').as('last')])
    .where('page_id', 'in', pageIds)
    .where((eb) => eb.or([eb('status_reason', 'is', null), eb('status_reason', '<>', ERASED_BEFORE_WEBHOOK_REASON)]))
    .groupBy('page_id')
    .execute();
  return new Map(rows.map((r) => [r.page_id, r.last as Date]));
}

export interface DestinationDeliveryStats {
  destination_id: string;
  last_delivered_at: Date | null;
  /** Deliveries that went dead in the last `hours`. */
  dead_recently: number;
}

/** Per destination of a workspace that has deliveries: its last delivery, and how many went dead in the last `hours`. */
export async function listDestinationDeliveryStats(db: Db, workspaceId: string, hours: number): Promise<DestinationDeliveryStats[]> {
  const { rows } = await sql<{ destination_id: string; last_delivered_at: Date | null; dead_recently: string }>`
    select destination_id, max(delivered_at) as last_delivered_at,
      count(*) filter (where status = 'dead' and updated_at >= now() - make_interval(hours => ${hours})) as dead_recently
    from deliveries where workspace_id = ${workspaceId}
    group by destination_id
  `.execute(db);
  return rows.map((r) => ({ ...r, dead_recently: Number(r.dead_recently) }));
}
