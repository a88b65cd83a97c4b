// Receipts of data-subject requests (migration 0013): one row per request, written when it starts
// and finished with its outcome. The person is named only by a keyed hash.
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { ActorType, DataRequest, DataRequestKind, DataRequestStatus, SearchKind } from './schema.js';
import { isUuid, json } from './values.js';

export async function startDataRequest(
  db: Db,
  r: { workspaceId: string; kind: DataRequestKind; subjectKind: SearchKind; subjectHash: string; requestedByType: ActorType; requestedBy: string | null },
): Promise<DataRequest> {
  return db
    .insertInto('data_requests')
    .values({
      workspace_id: r.workspaceId,
      kind: r.kind,
      subject_kind: r.subjectKind,
      subject_hash: r.subjectHash,
      requested_by_type: r.requestedByType,
      requested_by: r.requestedBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function finishDataRequest(
  db: Db,
  id: string,
  status: Exclude<DataRequestStatus, 'running'>,
  counts: Record<string, unknown>,
): Promise<DataRequest> {
  return db
    .updateTable('data_requests')
    .set({ status, counts: json(counts), finished_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findDataRequest(db: Db, workspaceId: string, id: string): Promise<DataRequest | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('data_requests').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

/** A workspace's requests, newest first; `after` is the previous page's last (created_at, id). */
export async function listDataRequests(
  db: Db,
  workspaceId: string,
  page: { after?: { createdAt: string; id: string }; limit: number },
): Promise<DataRequest[]> {
  let q = db.selectFrom('data_requests').selectAll().where('workspace_id', '=', workspaceId);
  if (page.after) q = q.where(sql<boolean>`(created_at, id) < (${new Date(page.after.createdAt)}, ${page.after.id}::uuid)`);
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
}

/** Deletes receipts older than `months` (kept as long as the audit log). */
export async function purgeOldDataRequests(db: Db, months: number): Promise<number> {
  const r = await sql`delete from data_requests where created_at < now() - make_interval(months => ${months})`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}
