import { sql, type Kysely } from 'kysely';

// Sign-in details 0006 left out: the last TOTP time step a user spent (a code is accepted once),
// and an id for single-use links, so an invitation can be listed and revoked without its token
// (the token is stored only as a hash, and the hash is not an identifier to hand around).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table users add column totp_last_step bigint`.execute(db);
  await sql`alter table account_links add column id uuid not null default gen_random_uuid()`.execute(db);
  await sql`create unique index account_links_id on account_links (id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table account_links drop column if exists id`.execute(db);
  await sql`alter table users drop column if exists totp_last_step`.execute(db);
}
