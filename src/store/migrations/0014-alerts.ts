import { sql, type Kysely } from 'kysely';

// Health monitors and alerts.
// - monitor_results: each monitor's latest finding per workspace and subject (a page, a
//   destination, or '' for the workspace as a whole), for the health page and GET …/monitors.
// - alert_channels: where a workspace's alerts go (e-mail, Slack, Teams, a signed webhook); the
//   address and any secret sit in one key-ring envelope (additional data `alert-channel:<id>`),
//   `target_hint` is what may be shown (a host and the last characters, or the mail addresses).
// - alerts: one row per cause while it lasts (at most one open row per workspace and cause key,
//   by a partial unique index, so a hundred parked leads raise one alert), with its message
//   schedule: told when opened, reminded at `next_send_at` (falling rate), told when resolved.
// - alert_sends: every message sent or failed, per channel (test messages too).
export async function up(db: Kysely<unknown>): Promise<void> {
  const statements = [
    sql`create table monitor_results (
      workspace_id uuid not null references workspaces(id) on delete cascade,
      monitor text not null,
      subject text not null default '',
      status text not null check (status in ('ok', 'warning', 'problem', 'unavailable', 'skipped')),
      summary text not null,
      details jsonb,
      checked_at timestamptz not null,
      primary key (workspace_id, monitor, subject)
    )`,
    sql`create table alert_channels (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references workspaces(id) on delete cascade,
      kind text not null check (kind in ('email', 'slack', 'teams', 'webhook')),
      name text not null,
      settings_envelope text not null,
      target_hint text not null,
      created_by text,
      created_at timestamptz not null default now(),
      last_sent_at timestamptz,
      last_error text
    )`,
    sql`create index alert_channels_workspace on alert_channels (workspace_id, created_at)`,
    sql`create table alerts (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references workspaces(id) on delete cascade,
      cause_key text not null,
      cause text not null,
      subject_id text,
      subject_name text,
      title text not null,
      detail text not null,
      fix text not null,
      status text not null default 'open' check (status in ('open', 'resolved')),
      opened_at timestamptz not null,
      last_seen_at timestamptz not null,
      resolved_at timestamptz,
      resolution text,
      notifications integer not null default 0,
      opened_notified_at timestamptz,
      last_notified_at timestamptz,
      next_send_at timestamptz,
      resolved_notified_at timestamptz,
      claimed_until timestamptz
    )`,
    sql`create unique index alerts_one_open_per_cause on alerts (workspace_id, cause_key) where status = 'open'`,
    sql`create index alerts_to_send on alerts (next_send_at) where status = 'open' or resolved_notified_at is null`,
    sql`create index alerts_workspace_recent on alerts (workspace_id, opened_at desc)`,
    sql`create table alert_sends (
      id bigserial primary key,
      workspace_id uuid not null references workspaces(id) on delete cascade,
      alert_id uuid references alerts(id) on delete cascade,
      channel_id uuid references alert_channels(id) on delete set null,
      message text not null check (message in ('opened', 'reminder', 'resolved', 'test')),
      outcome text not null check (outcome in ('sent', 'failed')),
      attempts integer not null,
      error text,
      sent_at timestamptz not null
    )`,
    sql`create index alert_sends_alert on alert_sends (alert_id, sent_at)`,
    sql`create index alert_sends_workspace on alert_sends (workspace_id, sent_at desc)`,
  ];
  for (const s of statements) await s.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists alert_sends`.execute(db);
  await sql`drop table if exists alerts`.execute(db);
  await sql`drop table if exists alert_channels`.execute(db);
  await sql`drop table if exists monitor_results`.execute(db);
}
