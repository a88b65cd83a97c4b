// The queries of a workspace's deletion (src/services/workspace-lifecycle.ts): asked for, then
// restored or, after the grace period, hard-deleted with every row it owns.
import { sql } from 'kysely';
import type { Db } from './db.js';
import { lockConfigVersion } from './config-version.js';
import type { Workspace } from './schema.js';
import { isUuid } from './values.js';

/** The reason parked events and deliveries carry while their workspace waits to be deleted (restore resumes them). */
export const WORKSPACE_DELETED_REASON = 'workspace_deleted';

/** Whether the workspace is being deleted (intake and delivery stop at once). */
export async function isWorkspaceBeingDeleted(db: Db, workspaceId: string): Promise<boolean> {
  const row = await db.selectFrom('workspaces').select('deletion_requested_at').where('id', '=', workspaceId).executeTakeFirst();
  return row?.deletion_requested_at != null;
}

/** Marks the workspace deleted; returns it as marked, or undefined when it is not there or was marked already. */
export async function markWorkspaceDeleted(db: Db, workspaceId: string, purgeAfter: Date): Promise<Workspace | undefined> {
  if (!isUuid(workspaceId)) return undefined;
  return db
    .updateTable('workspaces')
    .set({ deletion_requested_at: sql`now()`, purge_after: purgeAfter })
    .where('id', '=', workspaceId)
    .where('deletion_requested_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Parks what the workspace still had under way: events waiting to be fetched and deliveries
 * waiting to be sent (the workers park the ones that come later). Returns how many of each.
 */
export async function parkWorkspaceWork(db: Db, workspaceId: string): Promise<{ events: number; deliveries: number }> {
  const events = await db
    .updateTable('leadgen_events')
    .set({ status: 'parked', status_reason: WORKSPACE_DELETED_REASON, updated_at: sql`now()` })
    .where('workspace_id', '=', workspaceId)
    .where('status', '=', 'received')
    .executeTakeFirst();
  const deliveries = await db
    .updateTable('deliveries')
    .set({ status: 'parked', last_error_kind: 'paused', last_error_reason: WORKSPACE_DELETED_REASON, last_error_message: null })
    .where('workspace_id', '=', workspaceId)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return { events: Number(events.numUpdatedRows), deliveries: Number(deliveries.numUpdatedRows) };
}

/** Ends the deletion (only while its grace period lasts): true when the workspace was restored. */
export async function unmarkWorkspaceDeleted(db: Db, workspaceId: string): Promise<boolean> {
  const r = await db
    .updateTable('workspaces')
    .set({ deletion_requested_at: null, purge_after: null })
    .where('id', '=', workspaceId)
    .where('deletion_requested_at', 'is not', null)
    .where('purge_after', '>', sql<Date>`now()`)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Puts back what the deletion parked: the workspace's events (to fetch) and deliveries (to send). */
export async function unparkWorkspaceWork(db: Db, workspaceId: string): Promise<{ eventIds: number[]; deliveryIds: string[] }> {
  // The counter before the reopening (see config-version.ts): a fetch or send parking work under
  // the deletion either finished first (reopened here) or decides again once this transaction
  // commits. The rows first, then the counter, as every other writer takes them.
  await db.selectFrom('leadgen_events').select('id').where('workspace_id', '=', workspaceId).where('status', '=', 'parked').forUpdate().execute();
  await db.selectFrom('deliveries').select('id').where('workspace_id', '=', workspaceId).where('status', '=', 'parked').forUpdate().execute();
  await lockConfigVersion(db);
  const events = await db
    .updateTable('leadgen_events')
    .set({ status: 'received', status_reason: null, updated_at: sql`now()`, next_attempt_at: null })
    .where('workspace_id', '=', workspaceId)
    .where('status', '=', 'parked')
    .where('status_reason', '=', WORKSPACE_DELETED_REASON)
    .returning('id')
    .execute();
  const deliveries = await db
    .updateTable('deliveries')
    .set({ status: 'pending', last_error_kind: null, last_error_reason: null, next_attempt_at: null })
    .where('workspace_id', '=', workspaceId)
    .where('status', '=', 'parked')
    .where('last_error_reason', '=', WORKSPACE_DELETED_REASON)
    .returning(['id', 'created_at'])
    .execute();
  return {
    eventIds: events.map((e) => Number(e.id)),
    deliveryIds: deliveries.sort((a, b) => +new Date(a.created_at) - +new Date(b.created_at)).map((d) => d.id),
  };
}

/** Workspaces whose grace period has ended, oldest first. */
export async function listWorkspacesDueForPurge(db: Db, now: Date, limit: number): Promise<{ id: string }[]> {
  return db.selectFrom('workspaces').select('id').where('purge_after', '<=', now).orderBy('purge_after').limit(limit).execute();
}

/** Tables of the schema with a workspace_id column (the workspaces table aside): every one is emptied of the workspace's rows. */
async function listWorkspaceScopedTables(db: Db): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    select c.table_name
    from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
    where c.table_schema = current_schema() and c.column_name = 'workspace_id' and c.table_name <> 'workspaces'
    order by c.table_name
  `.execute(db);
  return rows.map((r) => r.table_name);
}

/**
 * The hard delete: every row of the workspace, in one transaction, in every table that has a
 * workspace_id column (found in the schema, so a table added later is not forgotten), its
 * audit entries included (the append-only trigger lets these through for this workspace only),
 * the webhook events of its pages that never got a workspace, and the workspace itself (its
 * foreign keys cascade to what hangs off its rows). Each of its pages keeps a lead floor
 * (page_lead_floors): reconciliation records none of the page's leads from before the purge.
 * Only while its grace period is over and it is still marked deleted (a restore in between
 * wins). Returns the rows deleted per table, or null when it was not due.
 */
export async function purgeWorkspaceRows(db: Db, workspaceId: string, now: Date): Promise<Record<string, number> | null> {
  return db.transaction().execute(async (trx) => {
    const due = await trx.selectFrom('workspaces').select('id').where('id', '=', workspaceId).where('purge_after', '<=', now).forUpdate().executeTakeFirst();
    if (!due) return null;
    await sql`select set_config('leadrelay.workspace_purge', ${workspaceId}, true)`.execute(trx);
    // Before the pages and their events go: each page gets a floor at the purge (or at its latest
    // recorded lead, should Meta's clock be ahead), so reconciliation in whichever workspace
    // connects the page next neither records and delivers again the leads this one had, nor
    // brings back leads deleted with it. The floor holds a time only, and outlives the workspace.
    await sql`
      insert into page_lead_floors (page_id, not_before)
      select p.page_id, greatest(now(), (select max(e.created_time) from leadgen_events e where e.page_id = p.page_id))
      from pages p where p.workspace_id = ${workspaceId}
      on conflict (page_id) do update set not_before = greatest(page_lead_floors.not_before, excluded.not_before), updated_at = now()
    `.execute(trx);
    const deleted: Record<string, number> = {};
    const orphanEvents = await sql`
      delete from leadgen_events e using pages p
      where p.workspace_id = ${workspaceId} and e.page_id = p.page_id and e.workspace_id is null
    `.execute(trx);
    deleted.leadgen_events = Number(orphanEvents.numAffectedRows ?? 0);
    for (const table of await listWorkspaceScopedTables(trx)) {
      const r = await sql`delete from ${sql.table(table)} where workspace_id = ${workspaceId}`.execute(trx);
      const n = Number(r.numAffectedRows ?? 0);
      if (n > 0) deleted[table] = (deleted[table] ?? 0) + n;
    }
    await trx.deleteFrom('workspaces').where('id', '=', workspaceId).execute();
    deleted.workspaces = 1;
    return deleted;
  });
}
