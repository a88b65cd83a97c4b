import { sql, type Kysely } from 'kysely';

// Reconciliation: comparing what Meta lists for each form (`GET /{form_id}/leads`) with what
// LeadRelay recorded, so a lead whose webhook never came is still recorded.
// - leadgen_events.source: how the event came, `webhook` or `reconciliation` (the lead log shows it).
// - leadgen_events.listed_at: when reconciliation last saw Meta list the lead. Counting these per
//   day gives "Meta says N" without counting a lead twice when two runs' windows overlap.
// - reconcile_checkpoints: per form, every lead created up to `last_time_created` is recorded
//   (covered since `covered_from`); a throttled form waits until `retry_after`.
// - reconcile_days: per form and UTC day, how many leads Meta listed.
export async function up(db: Kysely<unknown>): Promise<void> {
  const statements = [
    sql`alter table leadgen_events add column source text not null default 'webhook' check (source in ('webhook', 'reconciliation'))`,
    sql`alter table leadgen_events add column listed_at timestamptz`,
    sql`create index leadgen_events_form_created on leadgen_events (page_id, form_id, created_time)`,
    sql`create table reconcile_checkpoints (
      workspace_id uuid not null references workspaces(id) on delete cascade,
      form_id text not null,
      page_id text not null,
      last_time_created timestamptz,
      covered_from timestamptz,
      last_run_at timestamptz,
      last_error text,
      retry_after timestamptz,
      primary key (workspace_id, form_id)
    )`,
    sql`create table reconcile_days (
      workspace_id uuid not null references workspaces(id) on delete cascade,
      form_id text not null,
      day date not null,
      page_id text not null,
      meta_count integer not null,
      updated_at timestamptz not null default now(),
      primary key (workspace_id, form_id, day)
    )`,
  ];
  for (const s of statements) await s.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists reconcile_days`.execute(db);
  await sql`drop table if exists reconcile_checkpoints`.execute(db);
  await sql`drop index if exists leadgen_events_form_created`.execute(db);
  await sql`alter table leadgen_events drop column if exists listed_at`.execute(db);
  await sql`alter table leadgen_events drop column if exists source`.execute(db);
}
