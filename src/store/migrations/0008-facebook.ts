import { sql, type Kysely } from 'kysely';

// Facebook Login ("Connect Facebook"): a person's long-lived Facebook user token, kept per
// workspace and person, encrypted by the key ring (additional data `facebook-connection:<id>`),
// with the permissions they granted and declined in the dialog. The Page tokens taken from it
// are stored on the pages themselves, as `leadrelay pages add` stores them.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table facebook_connections (
      id uuid primary key,
      workspace_id uuid not null references workspaces(id) on delete cascade,
      user_id uuid not null references users(id) on delete cascade,
      fb_user_id text not null,
      name text,
      token_envelope text not null,
      granted_permissions text[] not null default '{}',
      declined_permissions text[] not null default '{}',
      expires_at timestamptz,
      created_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`create index facebook_connections_workspace_user on facebook_connections (workspace_id, user_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists facebook_connections`.execute(db);
}
