import { sql, type Kysely } from 'kysely';

// Disconnecting and deleting (privacy lifecycle, part 1):
// - pages: a page can be `disconnected` (by a person, or because its Facebook user removed the
//   app or asked Meta to delete their data): its token is deleted (token_envelope null), the row
//   stays with its routes and history, and its later webhooks are kept, parked, until it is
//   connected again. `connected_fb_user_id`: the app-scoped Facebook user whose login gave the
//   page its token (Connect Facebook), so Meta's deauthorize and data-deletion callbacks find it.
// - workspaces: deletion is asked for (`deletion_requested_at`), and the workspace with every
//   row and secret it owns is hard-deleted once `purge_after` has passed (the grace period,
//   during which `workspaces restore` brings it back).
// - facebook_test_leads: Meta test leads made through LeadRelay, with the Facebook user whose
//   Page token made them: the only leads a data-deletion request can tie to a Facebook user
//   (Meta's lead data carries no submitter id).
// - meta_deletion_requests: each data-deletion request Meta sent, by its confirmation code, with
//   what was erased (counts only, no ids), for the status page Meta links people to.
// - audit_log: its append-only trigger also lets through the deletes of a workspace's hard
//   delete (which sets leadrelay.workspace_purge to that workspace's id, in its transaction).
const APPEND_ONLY_WITH_WORKSPACE_PURGE = sql`
  create or replace function audit_log_append_only() returns trigger language plpgsql as $$
  begin
    if tg_op = 'DELETE' and current_setting('leadrelay.audit_purge', true) = 'on' and old.at < now() - interval '24 months' then
      return old;
    end if;
    if tg_op = 'DELETE' and old.workspace_id is not null and current_setting('leadrelay.workspace_purge', true) = old.workspace_id::text then
      return old;
    end if;
    raise exception 'audit_log is append-only (% refused)', tg_op;
  end $$`;

const APPEND_ONLY_ORIGINAL = sql`
  create or replace function audit_log_append_only() returns trigger language plpgsql as $$
  begin
    if tg_op = 'DELETE' and current_setting('leadrelay.audit_purge', true) = 'on' and old.at < now() - interval '24 months' then
      return old;
    end if;
    raise exception 'audit_log is append-only (% refused)', tg_op;
  end $$`;

export async function up(db: Kysely<unknown>): Promise<void> {
  const statements = [
    sql`alter table pages alter column token_envelope drop not null`,
    sql`alter table pages drop constraint if exists pages_status_check`,
    sql`alter table pages add constraint pages_status_check check (status in ('active', 'needs_reauth', 'disconnected'))`,
    // Only a disconnected page may be without a token.
    sql`alter table pages add constraint pages_token_unless_disconnected check (status = 'disconnected' or token_envelope is not null)`,
    sql`alter table pages add column connected_fb_user_id text`,
    sql`create index pages_connected_fb_user on pages (connected_fb_user_id) where connected_fb_user_id is not null`,
    sql`create index facebook_connections_fb_user on facebook_connections (fb_user_id)`,
    sql`alter table workspaces add column deletion_requested_at timestamptz, add column purge_after timestamptz`,
    sql`create index workspaces_purge_due on workspaces (purge_after) where purge_after is not null`,
    sql`create table facebook_test_leads (
      workspace_id uuid not null references workspaces(id) on delete cascade,
      page_id text not null,
      leadgen_id text not null,
      fb_user_id text not null,
      created_at timestamptz not null default now(),
      primary key (page_id, leadgen_id)
    )`,
    sql`create index facebook_test_leads_fb_user on facebook_test_leads (fb_user_id)`,
    sql`create index facebook_test_leads_workspace on facebook_test_leads (workspace_id)`,
    sql`create table meta_deletion_requests (
      confirmation_code text primary key,
      request_hash text not null unique,
      received_at timestamptz not null default now(),
      completed_at timestamptz,
      result jsonb
    )`,
    APPEND_ONLY_WITH_WORKSPACE_PURGE,
  ];
  for (const s of statements) await s.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await APPEND_ONLY_ORIGINAL.execute(db);
  await sql`drop table if exists meta_deletion_requests`.execute(db);
  await sql`drop table if exists facebook_test_leads`.execute(db);
  await sql`drop index if exists workspaces_purge_due`.execute(db);
  await sql`alter table workspaces drop column if exists purge_after, drop column if exists deletion_requested_at`.execute(db);
  await sql`drop index if exists facebook_connections_fb_user`.execute(db);
  await sql`drop index if exists pages_connected_fb_user`.execute(db);
  await sql`alter table pages drop column if exists connected_fb_user_id`.execute(db);
  await sql`alter table pages drop constraint if exists pages_token_unless_disconnected`.execute(db);
  // Pages that lost their token cannot go back to a schema that requires one.
  await sql`delete from pages where token_envelope is null`.execute(db);
  await sql`alter table pages drop constraint if exists pages_status_check`.execute(db);
  await sql`alter table pages add constraint pages_status_check check (status in ('active', 'needs_reauth'))`.execute(db);
  await sql`alter table pages alter column token_envelope set not null`.execute(db);
}
