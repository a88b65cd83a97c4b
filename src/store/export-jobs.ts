// Workspace exports (migration 0013): progress any server process can report, the archive's name
// while it is kept, and one live export per workspace at a time.
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { ExportJob } from './schema.js';
import { isUuid } from './values.js';

/** An export whose heartbeat is older than this is taken for dead (its process stopped). */
export const EXPORT_HEARTBEAT_TIMEOUT_MS = 60_000;

/** Starts an export unless one of the workspace is alive (then returns null); serialised per workspace by an advisory lock. */
export async function startExportJob(db: Db, workspaceId: string, requestedBy: string | null): Promise<ExportJob | null> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext('leadrelay.export-jobs'), hashtext(${workspaceId}))`.execute(trx);
    const live = await trx
      .selectFrom('export_jobs')
      .select('id')
      .where('workspace_id', '=', workspaceId)
      .where('status', '=', 'running')
      .where('heartbeat_at', '>', new Date(Date.now() - EXPORT_HEARTBEAT_TIMEOUT_MS))
      .executeTakeFirst();
    if (live) return null;
    return trx.insertInto('export_jobs').values({ workspace_id: workspaceId, requested_by: requestedBy }).returningAll().executeTakeFirstOrThrow();
  });
}

export async function recordExportProgress(db: Db, id: string, done: number, total: number): Promise<void> {
  await db.updateTable('export_jobs').set({ done, total, heartbeat_at: new Date() }).where('id', '=', id).execute();
}

export async function finishExportJob(
  db: Db,
  id: string,
  outcome: { fileName: string; sizeBytes: number; expiresAt: Date; done: number } | { error: string },
): Promise<void> {
  const now = new Date();
  await db
    .updateTable('export_jobs')
    .set(
      'error' in outcome
        ? { status: 'failed', error: outcome.error, finished_at: now, heartbeat_at: now }
        : {
            status: 'done',
            file_name: outcome.fileName,
            size_bytes: outcome.sizeBytes,
            expires_at: outcome.expiresAt,
            done: outcome.done,
            total: outcome.done,
            finished_at: now,
            heartbeat_at: now,
          },
    )
    .where('id', '=', id)
    .execute();
}

export async function findExportJob(db: Db, workspaceId: string, id: string): Promise<ExportJob | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('export_jobs').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

/** Finished exports whose archive is due for deletion. */
export async function listExpiredExports(db: Db, now: Date): Promise<ExportJob[]> {
  return db.selectFrom('export_jobs').selectAll().where('status', '=', 'done').where('expires_at', '<=', now).execute();
}

/** Every archive name an export row still points to (the rest under DATA_DIR/exports are leftovers). */
export async function listKeptExportFiles(db: Db): Promise<Set<string>> {
  const rows = await db.selectFrom('export_jobs').select('file_name').where('status', '=', 'done').where('file_name', 'is not', null).execute();
  return new Set(rows.map((r) => r.file_name!));
}

export async function markExportExpired(db: Db, id: string): Promise<void> {
  await db.updateTable('export_jobs').set({ status: 'expired', file_name: null }).where('id', '=', id).execute();
}

/** Deletes export rows (long since without their archives) older than `months`. */
export async function purgeOldExportJobs(db: Db, months: number): Promise<number> {
  const r = await sql`delete from export_jobs where status <> 'running' and created_at < now() - make_interval(months => ${months})`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}
