import { sql, type Kysely } from 'kysely';

// One-time tokens that have been used (an OAuth state, a connect link): stored as SHA-256 hashes
// until they would have expired anyway, so a replayed one is refused.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table used_tokens (
      token_hash text primary key,
      expires_at timestamptz not null
    )
  `.execute(db);
  await sql`create index used_tokens_expires_at on used_tokens (expires_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists used_tokens`.execute(db);
}
