import { sql, type Kysely } from 'kysely';

// One statement per call: the extended protocol refuses several commands in one.
async function runStatements(db: Kysely<unknown>, script: string): Promise<void> {
  for (const statement of script
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean)) {
    await sql.raw(statement).execute(db);
  }
}

// Every row belongs to a workspace, except a leadgen event for a page nobody has registered
// yet: it is kept (never dropped) with workspace_id null and status 'unrouted' until its page
// is registered.
export async function up(db: Kysely<unknown>): Promise<void> {
  await runStatements(
    db,
    `
    create table workspaces (
      id uuid primary key default gen_random_uuid(),
      name text not null,
      lead_retention_days integer not null default 90 check (lead_retention_days > 0),
      created_at timestamptz not null default now()
    );

    create table pages (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references workspaces(id) on delete cascade,
      page_id text not null unique,
      name text,
      token_envelope text not null,
      status text not null default 'active' check (status in ('active', 'needs_reauth')),
      status_reason text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index pages_workspace on pages (workspace_id);

    create table destinations (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references workspaces(id) on delete cascade,
      type text not null,
      name text not null,
      config jsonb not null default '{}'::jsonb,
      credentials_envelope text,
      status text not null default 'active' check (status in ('active', 'needs_reauth', 'disabled')),
      status_reason text,
      rate_limited_until timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index destinations_workspace on destinations (workspace_id);

    create table routes (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references workspaces(id) on delete cascade,
      page_id text not null,
      form_id text,
      destination_id uuid not null references destinations(id) on delete cascade,
      mapping jsonb,
      filter jsonb,
      is_enabled boolean not null default true,
      form_questions jsonb,
      drift jsonb,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index routes_page on routes (workspace_id, page_id);

    create table leadgen_events (
      id bigserial primary key,
      page_id text not null,
      leadgen_id text not null,
      form_id text,
      ad_id text,
      adgroup_id text,
      created_time timestamptz,
      workspace_id uuid references workspaces(id) on delete cascade,
      status text not null default 'received'
        check (status in ('received', 'fetched', 'unrouted', 'test', 'parked', 'failed')),
      status_reason text,
      is_test boolean not null default false,
      attempts integer not null default 0,
      last_error jsonb,
      received_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (page_id, leadgen_id)
    );
    create index leadgen_events_open on leadgen_events (received_at) where status = 'received';
    create index leadgen_events_page_status on leadgen_events (page_id, status);

    create table leads (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references workspaces(id) on delete cascade,
      event_id bigint references leadgen_events(id) on delete set null,
      leadgen_id text not null,
      page_id text not null,
      page_name text,
      form_id text,
      form_name text,
      created_time timestamptz not null,
      ad_id text,
      ad_name text,
      adset_id text,
      adset_name text,
      campaign_id text,
      campaign_name text,
      platform text,
      is_organic boolean not null default false,
      is_test boolean not null default false,
      answers_envelope text,
      status text not null default 'routed' check (status in ('routed', 'unrouted')),
      status_reason text,
      received_at timestamptz not null,
      fetched_at timestamptz not null default now(),
      erased_at timestamptz,
      unique (workspace_id, leadgen_id)
    );
    create index leads_recent on leads (workspace_id, received_at desc);
    create index leads_unrouted on leads (workspace_id, form_id) where status = 'unrouted';

    create table deliveries (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references workspaces(id) on delete cascade,
      lead_id uuid not null references leads(id) on delete cascade,
      destination_id uuid not null references destinations(id) on delete cascade,
      route_id uuid references routes(id) on delete set null,
      status text not null default 'pending' check (status in ('pending', 'delivered', 'dead', 'parked')),
      attempts integer not null default 0,
      external_id text,
      external_url text,
      action text,
      last_error_kind text,
      last_error_reason text,
      last_error_message text,
      connector_state jsonb,
      next_attempt_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      delivered_at timestamptz,
      unique (lead_id, destination_id)
    );
    create index deliveries_open on deliveries (updated_at) where status = 'pending';
    create index deliveries_parked on deliveries (destination_id, created_at) where status = 'parked';

    create table delivery_attempts (
      id bigserial primary key,
      workspace_id uuid not null references workspaces(id) on delete cascade,
      delivery_id uuid not null references deliveries(id) on delete cascade,
      attempt integer not null,
      started_at timestamptz not null,
      finished_at timestamptz not null,
      outcome text not null check (outcome in ('delivered', 'retry', 'rate_limited', 'auth', 'dead')),
      http_status integer,
      error_kind text,
      reason text,
      message text,
      response_body text
    );
    create index delivery_attempts_delivery on delivery_attempts (delivery_id, attempt);
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runStatements(
    db,
    `
    drop table if exists delivery_attempts, deliveries, leads, leadgen_events, routes, destinations, pages, workspaces cascade;
  `,
  );
}
