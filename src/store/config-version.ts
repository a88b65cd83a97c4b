// The configuration counter (config_version, migration 0016): one row, bumped as it commits by
// every transaction that writes workspaces, pages, routes, forms or destinations.
//
// A run that decided to keep work waiting (an event parked or unrouted, a delivery parked) under
// one value of the counter writes that only while the counter still holds it: its own row
// locked first, then the counter's row shared (setEventStatusWhileConfigIs,
// settleDeliveryUnlessHeld). A writer that resumes waiting work (a workspace restored, a page or
// destination resumed) locks the counter's row before it reopens anything
// (lockConfigVersion), so such a run either finished first (its row is reopened) or waits for
// the writer's commit and then sees the new value (it decides again).
import { sql } from 'kysely';
import type { Db } from './db.js';

/** The counter now: what a send that waited goes by. */
export async function currentConfigVersion(db: Db): Promise<number> {
  const r = await sql<{ version: string }>`select version from config_version`.execute(db);
  return Number(r.rows[0]?.version);
}

/** Locks the counter's row for the rest of the transaction (a writer about to resume waiting work). Only inside a transaction. */
export async function lockConfigVersion(trx: Db): Promise<void> {
  if (!trx.isTransaction) throw new Error('lockConfigVersion needs a transaction');
  await sql`select version from config_version for update`.execute(trx);
}

/** The counter, its row shared for the rest of the transaction (a run about to keep work waiting under the value it read). */
export async function sharedConfigVersion(trx: Db): Promise<number> {
  const r = await sql<{ version: string }>`select version from config_version for share`.execute(trx);
  return Number(r.rows[0]?.version);
}
