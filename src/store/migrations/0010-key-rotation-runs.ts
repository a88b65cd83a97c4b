import { sql, type Kysely } from 'kysely';

// Key rotations started through the API: one row per run, with its progress, so that any server
// process can answer "how far is it" and a second run is refused while one is alive (its
// heartbeat is recent). A run whose process died stops beating and counts as abandoned; running
// again is safe, since rotation skips what is already under the new key.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table key_rotation_runs (
      id uuid primary key default gen_random_uuid(),
      key_id text not null,
      started_by text,
      started_at timestamptz not null default now(),
      heartbeat_at timestamptz not null default now(),
      finished_at timestamptz,
      done integer not null default 0,
      total integer not null default 0,
      result jsonb,
      error text
    )
  `.execute(db);
  await sql`create index key_rotation_runs_started_at on key_rotation_runs (started_at desc)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists key_rotation_runs`.execute(db);
}
