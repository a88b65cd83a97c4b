import { sql, type Kysely } from 'kysely';

// CRM ids a destination resolved recently, by a keyed hash of a person key (never the email or
// phone itself), for CRMs whose search lags behind their creates and costs a scarce budget
// (see src/store/recent-records.ts). Rows are short-lived: reads ignore old ones, writes delete
// them.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table connector_recent_records (
      workspace_id uuid not null references workspaces(id) on delete cascade,
      destination_id uuid not null references destinations(id) on delete cascade,
      key_hash text not null,
      external_id text not null,
      created_at timestamptz not null default now(),
      primary key (destination_id, key_hash)
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists connector_recent_records`.execute(db);
}
