import { sql, type Kysely } from 'kysely';

// page_lead_floors: per Facebook Page, the time before which no lead of it may be recorded again
// by reconciliation. A workspace's purge deletes its pages' leadgen events, which were what told
// reconciliation a lead was recorded already; without this, the page connected to another
// workspace would have its leads listed from Meta and recorded (fetched, delivered) a second time.
// Keyed by the page alone, with no workspace_id: it must outlive the purge (which empties every
// table with that column) and holds no lead data, only a time.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create table page_lead_floors (
    page_id text primary key,
    not_before timestamptz not null,
    updated_at timestamptz not null default now()
  )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists page_lead_floors`.execute(db);
}
