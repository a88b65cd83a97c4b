import { sql, type Kysely } from 'kysely';

// Batched deliveries: the delivery job of one lead may take a destination's other ready
// deliveries with it into one CRM call. It claims them first, in one statement, with a token of
// its own and a time by which it will be done (`claimed_until`); the other leads' jobs see the
// claim and leave those deliveries to it. The outcome is written only where the token still
// matches, so a claimer that outlived its claim records nothing twice. A claimer that dies leaves
// its claims behind: they lapse at `claimed_until`, and the outbox sweep queues those
// deliveries again.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table deliveries add column claimed_by uuid, add column claimed_until timestamptz`.execute(db);
  // The claim statement looks for a destination's ready deliveries, oldest first.
  await sql`create index deliveries_ready on deliveries (destination_id, created_at) where status = 'pending'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists deliveries_ready`.execute(db);
  await sql`alter table deliveries drop column if exists claimed_until, drop column if exists claimed_by`.execute(db);
}
