import { sql, type Kysely } from 'kysely';

// The fetch step's hot path (src/pipeline/config-cache.ts):
// - config_version: one row, one counter, bumped once by every transaction that writes to the
//   configuration a lead's fetch reads (workspaces, pages, routes, forms, destinations). A
//   process caches those rows in memory and reads the counter with the lead's event (no
//   statement of its own): a counter it has not seen yet empties its cache, so a route paused or
//   a page disconnected (committed) is seen by the next lead, in every process. The bump is a
//   deferred trigger, so it runs as the writer commits: the writer takes the counter's row lock
//   last (no lock waits while holding it, so no deadlock through it), and values commit in
//   order: a reader seeing n sees every change bumped up to n.
// - the workspace_id foreign keys of lead_search, deliveries and delivery_attempts are dropped:
//   each of those rows already hangs off a lead (or a delivery) of its workspace through
//   lead_id (delivery_id), whose foreign key cascades the same way, and the workspace purge
//   deletes by workspace_id in every table. Each check took FOR KEY SHARE on the workspace's
//   one row, several times per lead, from every concurrent fetch and delivery.
const CONFIG_TABLES = ['workspaces', 'pages', 'routes', 'forms', 'destinations'] as const;
const REDUNDANT_WORKSPACE_FKS = ['lead_search', 'deliveries', 'delivery_attempts'] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create table config_version (
    id boolean primary key default true check (id),
    version bigint not null default 1
  )`.execute(db);
  await sql`insert into config_version default values`.execute(db);
  await sql`
    create function bump_config_version() returns trigger language plpgsql as $$
    begin
      -- Once per transaction, however many rows it wrote.
      if current_setting('leadrelay.config_version_bumped', true) is distinct from 'on' then
        update config_version set version = version + 1;
        perform set_config('leadrelay.config_version_bumped', 'on', true);
      end if;
      return null;
    end $$`.execute(db);
  for (const table of CONFIG_TABLES)
    await sql`create constraint trigger ${sql.id(`${table}_config_version`)} after insert or update or delete on ${sql.table(table)}
      deferrable initially deferred for each row execute function bump_config_version()`.execute(db);
  for (const table of REDUNDANT_WORKSPACE_FKS) await sql`alter table ${sql.table(table)} drop constraint ${sql.id(`${table}_workspace_id_fkey`)}`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of REDUNDANT_WORKSPACE_FKS)
    await sql`alter table ${sql.table(table)} add constraint ${sql.id(`${table}_workspace_id_fkey`)}
      foreign key (workspace_id) references workspaces(id) on delete cascade`.execute(db);
  for (const table of CONFIG_TABLES) await sql`drop trigger if exists ${sql.id(`${table}_config_version`)} on ${sql.table(table)}`.execute(db);
  await sql`drop function if exists bump_config_version()`.execute(db);
  await sql`drop table if exists config_version`.execute(db);
}
