// CRM ids a destination resolved recently, by key hash (table connector_recent_records). Times
// are the database's, so every worker process agrees on a row's age.
import { sql } from 'kysely';
import type { Db } from './db.js';
import { storableText } from './values.js';

export interface RecentRecordKey {
  workspaceId: string;
  destinationId: string;
  /** A keyed hash of the key, never the key itself (it may hold an email or a phone). */
  keyHash: string;
}

/** The external id saved for this key less than `maxAgeMs` ago, if any. */
export async function findRecentRecord(db: Db, key: RecentRecordKey, maxAgeMs: number): Promise<string | undefined> {
  const row = await db
    .selectFrom('connector_recent_records')
    .select('external_id')
    .where('workspace_id', '=', key.workspaceId)
    .where('destination_id', '=', key.destinationId)
    .where('key_hash', '=', key.keyHash)
    .where('created_at', '>', sql<Date>`now() - make_interval(secs => ${maxAgeMs / 1000})`)
    .executeTakeFirst();
  return row?.external_id;
}

/**
 * Saves (or renews) the external id for this key, and deletes this destination's rows older than
 * `maxAgeMs`. With `deliveryId`, only while that delivery's lead is not erased: the statement
 * locks the lead's row (FOR SHARE) for the check, so an erasure either waits for it and then
 * deletes what it saved, or has committed and nothing is saved.
 */
export async function saveRecentRecord(db: Db, key: RecentRecordKey, crmExternalId: string, maxAgeMs: number, deliveryId: string | null = null): Promise<void> {
  const externalId = storableText(crmExternalId);
  const leadLive = deliveryId
    ? sql`exists (
        select 1 from deliveries d join leads l on l.id = d.lead_id
        where d.id = ${deliveryId} and l.erased_at is null
        for share of l
      )`
    : sql`true`;
  await sql`
    insert into connector_recent_records (workspace_id, destination_id, key_hash, external_id)
    select ${key.workspaceId}, ${key.destinationId}, ${key.keyHash}, ${externalId}
    where ${leadLive}
    on conflict (destination_id, key_hash) do update set external_id = excluded.external_id, created_at = now()
  `.execute(db);
  await db
    .deleteFrom('connector_recent_records')
    .where('workspace_id', '=', key.workspaceId)
    .where('destination_id', '=', key.destinationId)
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${maxAgeMs / 1000})`)
    .execute();
}

/** Deletes a destination's rows for these key hashes (a person erased). Returns how many went. */
export async function deleteRecentRecords(db: Db, destinationId: string, keyHashes: string[]): Promise<number> {
  if (keyHashes.length === 0) return 0;
  const r = await db.deleteFrom('connector_recent_records').where('destination_id', '=', destinationId).where('key_hash', 'in', keyHashes).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Deletes every row older than `maxAgeMs`: no connector reads them any more (rows live minutes). */
export async function pruneRecentRecords(db: Db, maxAgeMs: number): Promise<number> {
  const r = await db
    .deleteFrom('connector_recent_records')
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${maxAgeMs / 1000})`)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
