import { sql, type Kysely } from 'kysely';

// When the outbox sweep may next look at a `received` event (null: as soon as it is old enough).
// A fetch that must wait (Graph throttling, a transient error's backoff) writes the time its
// delayed job is due, and the sweep writes a short wait on each event it queues again. Without
// it, the sweep's window of the oldest open events could fill with events that wait in delayed
// jobs (a Graph outage backs off for days) or whose fetch keeps failing, and a newer event whose
// job was lost would never be reached.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table leadgen_events add column next_attempt_at timestamptz`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table leadgen_events drop column if exists next_attempt_at`.execute(db);
}
