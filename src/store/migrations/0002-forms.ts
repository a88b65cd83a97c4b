import { sql, type Kysely } from 'kysely';

// Form metadata (name and questions; no personal data), kept when a lead of the form is
// fetched, so mappings and filters have question labels and option keys for every route,
// including routes that take all of a page's forms.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table forms (
      workspace_id uuid not null references workspaces(id) on delete cascade,
      form_id text not null,
      page_id text not null,
      name text,
      questions jsonb,
      fetched_at timestamptz not null default now(),
      primary key (workspace_id, form_id)
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists forms`.execute(db);
}
