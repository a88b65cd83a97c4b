import { sql, type Kysely } from 'kysely';

// Time-limited leases for periodic work that one process of a fleet should do at a time (the
// outbox sweep, the form drift check). In PostgreSQL, not the queue backend, so they work the
// same with or without Redis.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table leases (
      name text primary key,
      holder text not null,
      expires_at timestamptz not null
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists leases`.execute(db);
}
