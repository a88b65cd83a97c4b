import { sql, type Kysely } from 'kysely';

// The lead log and health pages:
// - lead_search: the blind index. One row per email or phone of a lead, as HMAC-SHA256 (hex)
//   under a key derived from the key ring (src/lead/blind-index.ts), so a person's leads are
//   found without decrypting any answers. leads.search_kid names the key the lead's rows were
//   made under (null: not indexed yet); `keys rotate` and the maintenance loop index again every
//   lead whose search_kid is not the first key's.
// - leads.updated_at (kept by a trigger when the status or erasure changes) and a trigger that
//   keeps deliveries.updated_at on every change the code did not stamp itself: the lead log's
//   change feed reads them.
// - page_checks: what Meta last said about a page's token and whether the app is installed on it,
//   so the health page need not ask Meta on every view.
export async function up(db: Kysely<unknown>): Promise<void> {
  const statements = [
    sql`create table lead_search (
      lead_id uuid not null references leads(id) on delete cascade,
      workspace_id uuid not null references workspaces(id) on delete cascade,
      kind text not null check (kind in ('email', 'phone')),
      hash text not null,
      primary key (lead_id, kind, hash)
    )`,
    sql`create index lead_search_lookup on lead_search (workspace_id, kind, hash)`,
    sql`alter table leads add column search_kid text`,
    sql`alter table leads add column updated_at timestamptz`,
    sql`update leads set updated_at = coalesce(erased_at, fetched_at)`,
    sql`alter table leads alter column updated_at set default now(), alter column updated_at set not null`,
    sql`create index leads_changes on leads (workspace_id, updated_at)`,
    sql`create index leads_page on leads (workspace_id, page_id, received_at desc)`,
    sql`create index leads_to_index on leads (id) where answers_envelope is not null`,
    // An update that sets updated_at itself keeps its value (the code's own now(), a test's past time).
    sql`create function leadrelay_touch_updated_at() returns trigger language plpgsql as $$
      begin
        if new.updated_at is not distinct from old.updated_at then
          new.updated_at := now();
        end if;
        return new;
      end $$`,
    // Only what the lead log shows: re-encrypting or re-indexing a lead is not a change to it.
    sql`create trigger leads_touch before update on leads for each row
      when (old.status is distinct from new.status or old.status_reason is distinct from new.status_reason or old.erased_at is distinct from new.erased_at)
      execute function leadrelay_touch_updated_at()`,
    sql`create trigger deliveries_touch before update on deliveries for each row execute function leadrelay_touch_updated_at()`,
    sql`create index deliveries_changes on deliveries (workspace_id, updated_at)`,
    sql`create index deliveries_destination on deliveries (destination_id, status, updated_at)`,
    sql`create index leadgen_events_page_received on leadgen_events (page_id, received_at desc)`,
    sql`create table page_checks (
      page_id text primary key references pages(page_id) on delete cascade,
      workspace_id uuid not null references workspaces(id) on delete cascade,
      checked_at timestamptz not null,
      outcome text not null check (outcome in ('ok', 'refused', 'unavailable')),
      is_app_installed boolean,
      problem text
    )`,
  ];
  for (const s of statements) await s.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists page_checks`.execute(db);
  await sql`drop index if exists leadgen_events_page_received`.execute(db);
  await sql`drop index if exists deliveries_destination`.execute(db);
  await sql`drop index if exists deliveries_changes`.execute(db);
  await sql`drop trigger if exists deliveries_touch on deliveries`.execute(db);
  await sql`drop trigger if exists leads_touch on leads`.execute(db);
  await sql`drop function if exists leadrelay_touch_updated_at()`.execute(db);
  await sql`alter table leads drop column if exists updated_at, drop column if exists search_kid`.execute(db);
  await sql`drop table if exists lead_search`.execute(db);
}
