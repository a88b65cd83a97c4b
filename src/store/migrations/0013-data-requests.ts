import { sql, type Kysely } from 'kysely';

// The privacy lifecycle's own records and the indexes its purges need:
// - data_requests: one row per data-subject request (find, export, correct, erase) and its
//   outcome: the receipt. The person is named only by a keyed hash of their normalised email or
//   phone (never the address itself), under a key of its own, so the row cannot be joined to the
//   blind index (lead_search) without the key ring.
// - export_jobs: workspace exports (a .tar.gz under DATA_DIR/exports) with their progress, so any
//   server process can report one; the file is deleted 24 hours after it was made.
// - indexes for pruning delivery attempts, leadgen events and connectors' recent records past
//   their own retention periods.
export async function up(db: Kysely<unknown>): Promise<void> {
  const statements = [
    sql`create table data_requests (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references workspaces(id) on delete cascade,
      kind text not null check (kind in ('find', 'export', 'correct', 'erase')),
      subject_kind text not null check (subject_kind in ('email', 'phone')),
      subject_hash text not null,
      requested_by_type text not null,
      requested_by text,
      status text not null default 'running' check (status in ('running', 'done', 'partial', 'failed')),
      counts jsonb,
      created_at timestamptz not null default now(),
      finished_at timestamptz
    )`,
    sql`create index data_requests_workspace on data_requests (workspace_id, created_at desc)`,
    sql`create table export_jobs (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references workspaces(id) on delete cascade,
      requested_by text,
      status text not null default 'running' check (status in ('running', 'done', 'failed', 'expired')),
      done integer not null default 0,
      total integer not null default 0,
      file_name text,
      size_bytes bigint,
      error text,
      created_at timestamptz not null default now(),
      heartbeat_at timestamptz not null default now(),
      finished_at timestamptz,
      expires_at timestamptz
    )`,
    sql`create index export_jobs_workspace on export_jobs (workspace_id, created_at desc)`,
    sql`create index export_jobs_expiry on export_jobs (expires_at) where status = 'done'`,
    sql`create index delivery_attempts_finished_at on delivery_attempts (finished_at)`,
    sql`create index leadgen_events_received_at on leadgen_events (received_at)`,
    // Deleting an event sets its lead's event_id to null: without this, each delete scans leads.
    sql`create index leads_event on leads (event_id) where event_id is not null`,
    sql`create index connector_recent_records_created_at on connector_recent_records (created_at)`,
  ];
  for (const s of statements) await s.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists connector_recent_records_created_at`.execute(db);
  await sql`drop index if exists leads_event`.execute(db);
  await sql`drop index if exists leadgen_events_received_at`.execute(db);
  await sql`drop index if exists delivery_attempts_finished_at`.execute(db);
  await sql`drop table if exists export_jobs`.execute(db);
  await sql`drop table if exists data_requests`.execute(db);
}
