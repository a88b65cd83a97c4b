import { sql, type Kysely } from 'kysely';

// The few `erased` leadgen events (migration 0019), found without reading the table: the hourly
// retention purge erases any lead stored under one (a fetch that stored its lead as the
// data-deletion callback committed, and died before deleting it again).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index leadgen_events_erased on leadgen_events (id) where status = 'erased'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists leadgen_events_erased`.execute(db);
}
