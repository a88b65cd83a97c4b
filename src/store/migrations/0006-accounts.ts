import { sql, type Kysely } from 'kysely';

// People, their rights and their trail: users and their sign-in sessions, TOTP recovery codes,
// memberships (a role per workspace), invitations and other single-use links, API keys, the
// audit log and the rate limiter's counters. Every secret is stored as a hash (SHA-256 for
// high-entropy tokens, argon2id for passwords) or, for TOTP secrets, encrypted by the key ring.
export async function up(db: Kysely<unknown>): Promise<void> {
  const statements = [
    sql`alter table workspaces add column require_mfa boolean not null default false`,
    sql`
    create table users (
      id uuid primary key default gen_random_uuid(),
      email text not null,
      name text,
      password_hash text not null,
      totp_secret_envelope text,
      totp_enabled_at timestamptz,
      is_operator boolean not null default false,
      failed_sign_ins integer not null default 0,
      locked_until timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`,
    sql`create unique index users_email on users (lower(email))`,
    sql`
    create table user_sessions (
      id_hash text primary key,
      user_id uuid not null references users(id) on delete cascade,
      csrf_token text not null,
      mfa_verified boolean not null default false,
      ip text,
      user_agent text,
      created_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`,
    sql`create index user_sessions_user on user_sessions (user_id)`,
    sql`
    create table recovery_codes (
      id bigserial primary key,
      user_id uuid not null references users(id) on delete cascade,
      code_hash text not null,
      used_at timestamptz
    )`,
    sql`create index recovery_codes_user on recovery_codes (user_id)`,
    sql`
    create table memberships (
      user_id uuid not null references users(id) on delete cascade,
      workspace_id uuid not null references workspaces(id) on delete cascade,
      role text not null check (role in ('owner', 'admin', 'editor', 'viewer')),
      can_read_answers boolean not null default false,
      created_at timestamptz not null default now(),
      primary key (user_id, workspace_id)
    )`,
    sql`create index memberships_workspace on memberships (workspace_id)`,
    sql`
    create table account_links (
      token_hash text primary key,
      purpose text not null check (purpose in ('owner_setup', 'invitation', 'password_reset')),
      user_id uuid references users(id) on delete cascade,
      workspace_id uuid references workspaces(id) on delete cascade,
      email text,
      role text check (role in ('owner', 'admin', 'editor', 'viewer')),
      created_by uuid references users(id) on delete set null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      used_at timestamptz,
      revoked_at timestamptz
    )`,
    sql`create index account_links_workspace on account_links (workspace_id) where purpose = 'invitation'`,
    sql`
    create table api_keys (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references workspaces(id) on delete cascade,
      name text not null,
      role text not null check (role in ('admin', 'editor', 'viewer')),
      can_read_answers boolean not null default false,
      key_hash text not null unique,
      last4 text not null,
      created_by uuid references users(id) on delete set null,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    )`,
    sql`create index api_keys_workspace on api_keys (workspace_id)`,
    sql`
    create table audit_log (
      id bigserial primary key,
      at timestamptz not null default now(),
      workspace_id uuid,
      actor_type text not null check (actor_type in ('user', 'api_key', 'operator', 'system', 'anonymous')),
      actor_id text,
      actor_label text,
      action text not null,
      target_type text,
      target_id text,
      ip text,
      user_agent text,
      details jsonb
    )`,
    sql`create index audit_log_workspace_at on audit_log (workspace_id, id desc)`,
    sql`create index audit_log_at on audit_log (at)`,
    // Append-only for the application: an update is refused, and a delete only by the retention
    // purge (which sets leadrelay.audit_purge) and only for entries past 24 months.
    sql`
    create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' and current_setting('leadrelay.audit_purge', true) = 'on' and old.at < now() - interval '24 months' then
        return old;
      end if;
      raise exception 'audit_log is append-only (% refused)', tg_op;
    end $$`,
    sql`create trigger audit_log_append_only before update or delete on audit_log for each row execute function audit_log_append_only()`,
    sql`
    create table rate_limits (
      key varchar(255) primary key,
      points integer not null default 0,
      expire bigint
    )`,
  ];
  for (const s of statements) await s.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['rate_limits', 'audit_log', 'api_keys', 'account_links', 'memberships', 'recovery_codes', 'user_sessions', 'users'])
    await sql.raw(`drop table if exists ${t}`).execute(db);
  await sql`drop function if exists audit_log_append_only()`.execute(db);
  await sql`alter table workspaces drop column if exists require_mfa`.execute(db);
}
