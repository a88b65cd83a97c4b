// The progress of key rotations started through the API (migration 0010).
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { KeyRotationRun } from './schema.js';
import { json } from './values.js';

/** A run whose heartbeat is older than this is taken for dead. */
export const RUN_HEARTBEAT_TIMEOUT_MS = 60_000;

/** Starts a run unless a live one exists (then returns null); one transaction, serialised by an advisory lock. */
export async function startRotationRun(db: Db, r: { keyId: string; startedBy: string | null }): Promise<KeyRotationRun | null> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext('leadrelay.key-rotation-runs'))`.execute(trx);
    const live = await trx
      .selectFrom('key_rotation_runs')
      .select('id')
      .where('finished_at', 'is', null)
      .where('heartbeat_at', '>', new Date(Date.now() - RUN_HEARTBEAT_TIMEOUT_MS))
      .executeTakeFirst();
    if (live) return null;
    return trx.insertInto('key_rotation_runs').values({ key_id: r.keyId, started_by: r.startedBy }).returningAll().executeTakeFirstOrThrow();
  });
}

export async function recordRotationProgress(db: Db, id: string, done: number, total: number): Promise<void> {
  await db.updateTable('key_rotation_runs').set({ done, total, heartbeat_at: new Date() }).where('id', '=', id).execute();
}

export async function finishRotationRun(db: Db, id: string, outcome: { result: Record<string, number> } | { error: string }): Promise<void> {
  await db
    .updateTable('key_rotation_runs')
    .set({
      finished_at: new Date(),
      heartbeat_at: new Date(),
      result: 'result' in outcome ? json(outcome.result) : null,
      error: 'error' in outcome ? outcome.error : null,
    })
    .where('id', '=', id)
    .execute();
}

export async function latestRotationRun(db: Db): Promise<KeyRotationRun | undefined> {
  return db.selectFrom('key_rotation_runs').selectAll().orderBy('started_at', 'desc').limit(1).executeTakeFirst();
}
