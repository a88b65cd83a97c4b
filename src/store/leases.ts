// Leases: "one process at a time, for this long". Taken when free or expired; never waited for.
import { sql } from 'kysely';
import type { Db } from './db.js';

/** Takes the lease `name` for `ttlMs` unless another holder has an unexpired one. */
export async function tryTakeLease(db: Db, name: string, holder: string, ttlMs: number): Promise<boolean> {
  const { rows } = await sql<{ name: string }>`
    insert into leases (name, holder, expires_at)
    values (${name}, ${holder}, now() + make_interval(secs => ${ttlMs / 1000}))
    on conflict (name) do update set holder = excluded.holder, expires_at = excluded.expires_at
      where leases.expires_at <= now() or leases.holder = excluded.holder
    returning name
  `.execute(db);
  return rows.length === 1;
}

/** How long the lease has left, in ms (null: nobody holds it). For tests and diagnostics. */
export async function leaseRemainingMs(db: Db, name: string): Promise<number | null> {
  const { rows } = await sql<{
    ms: number;
  }>`select extract(epoch from (expires_at - now())) * 1000 as ms from leases where name = ${name} and expires_at > now()`.execute(db);
  return rows.length ? Number(rows[0].ms) : null;
}
