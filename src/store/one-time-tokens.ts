// Single use for tokens that are otherwise stateless (signed OAuth states, connect links): the
// first claim wins, every later claim of the same token is refused. Only a hash is stored.
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from './db.js';

const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Claims every token, all or nothing: true when none was used before (they are now), false when
 * one was (nothing is claimed). Forgets claims whose tokens have expired anyway.
 */
export async function claimOneTimeTokens(db: Db, tokens: { token: string; expiresAt: Date }[]): Promise<boolean> {
  return db
    .transaction()
    .execute(async (trx) => {
      await sql`delete from used_tokens where expires_at < now()`.execute(trx);
      for (const t of tokens) {
        const { rows } = await sql`
        insert into used_tokens (token_hash, expires_at) values (${hashToken(t.token)}, ${t.expiresAt})
        on conflict (token_hash) do nothing
        returning token_hash
      `.execute(trx);
        if (rows.length === 0) {
          // Roll back the tokens claimed so far: this attempt claims nothing.
          throw new TokenAlreadyUsed();
        }
      }
      return true;
    })
    .catch((err) => {
      if (err instanceof TokenAlreadyUsed) return false;
      throw err;
    });
}

export async function isOneTimeTokenUsed(db: Db, token: string): Promise<boolean> {
  const { rows } = await sql`select 1 from used_tokens where token_hash = ${hashToken(token)} and expires_at >= now()`.execute(db);
  return rows.length > 0;
}

class TokenAlreadyUsed extends Error {}
