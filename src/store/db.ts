// Opens the database: a PostgreSQL server when DATABASE_URL is set, else an embedded
// PostgreSQL (PGlite) under PGLITE_DIR so a newcomer's `npm start` works with no setup.
// Both run the same migrations and the same queries through Kysely.
import { mkdirSync } from 'node:fs';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

export interface DbHandle {
  db: Db;
  kind: 'postgres' | 'pglite';
  close(): Promise<void>;
  /** True when a trivial query answers (for /readyz). */
  ping(): Promise<boolean>;
}

// BIGINT (int8) arrives as a string from node-postgres; our bigint ids fit in a JS number.
pg.types.setTypeParser(20, (v: string) => Number(v));

export interface OpenDbOptions {
  url?: string;
  poolMax?: number;
  pgliteDir?: string;
  /** PostgreSQL schema to use (tests isolate themselves in their own schema). */
  searchPath?: string;
}

export async function openDb(opts: OpenDbOptions): Promise<DbHandle> {
  if (opts.url) {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolMax ?? 20,
      options: opts.searchPath ? `-c search_path=${opts.searchPath}` : undefined,
    });
    // A dropped idle connection must not crash the process; the pool replaces it.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      kind: 'postgres',
      close: () => db.destroy(),
      ping: () => pingDb(db),
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGliteDialect } = await import('kysely-pglite-dialect');
  const dir = opts.pgliteDir ?? './data/pglite';
  if (dir !== 'memory://') mkdirSync(dir, { recursive: true });
  const lite = await PGlite.create(dir === 'memory://' ? undefined : dir);
  const db = new Kysely<Database>({ dialect: new PGliteDialect(lite) });
  return {
    db,
    kind: 'pglite',
    close: async () => {
      await db.destroy();
      if (!lite.closed) await lite.close();
    },
    ping: () => pingDb(db),
  };
}

async function pingDb(db: Db): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}
