// Opens the database: the PostgreSQL server at DATABASE_URL, or (when it is unset) the embedded
// PostgreSQL under DATA_DIR that src/store/embedded-postgres.ts starts or joins. Both are real
// PostgreSQL servers, so they run the same migrations and the same queries through Kysely.
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { prepareRepeatedStatements, StatementNamer } from './prepared-statements.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

export interface DbHandle {
  db: Db;
  kind: 'postgres' | 'embedded';
  /** The connection string in use (the embedded server's, when embedded). */
  url: string;
  /** The pool under `db`, for libraries that speak node-postgres themselves (the rate limiter). */
  pool: pg.Pool;
  close(): Promise<void>;
  /** True when a trivial query answers (for /readyz). */
  ping(): Promise<boolean>;
}

// BIGINT (int8) arrives as a string from node-postgres; our bigint ids fit in a JS number.
pg.types.setTypeParser(20, (v: string) => Number(v));

export interface OpenDbOptions {
  url: string;
  kind?: DbHandle['kind'];
  poolMax?: number;
  /** Called when a connection fails outside a query (the server restarted, the network dropped). */
  onConnectionError?: (err: Error) => void;
  /** Runs after the pool is closed (the embedded server's release). */
  afterClose?: () => Promise<void>;
  /** Send repeated statements as named prepared statements (default true; see prepared-statements.ts). */
  preparedStatements?: boolean;
}

export async function openDb(opts: OpenDbOptions): Promise<DbHandle> {
  const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolMax ?? 20, application_name: 'leadrelay' });
  const onError = opts.onConnectionError ?? (() => {});
  // An idle connection that drops is reported on the pool. A checked-out one (a transaction
  // doing work between statements) has no listener of pg-pool's, so without ours the server
  // restarting would kill the process with an unhandled 'error' event: its query fails instead.
  pool.on('error', onError);
  pool.on('connect', (client) => client.on('error', onError));
  if (opts.preparedStatements !== false) prepareRepeatedStatements(pool, new StatementNamer());
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let isClosed = false;
  return {
    db,
    kind: opts.kind ?? 'postgres',
    url: opts.url,
    pool,
    async close() {
      if (isClosed) return;
      isClosed = true;
      try {
        await db.destroy();
      } finally {
        await opts.afterClose?.();
      }
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
