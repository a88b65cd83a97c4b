// Checked-in migrations, applied by `leadrelay migrate` and at start. The list is static so
// the compiled program needs no file-system scan; add new ones at the end.
import { Migrator, sql, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Db } from './db.js';
import * as m0001 from './migrations/0001-initial.js';
import * as m0002 from './migrations/0002-forms.js';
import * as m0003 from './migrations/0003-leases.js';
import * as m0004 from './migrations/0004-recent-records.js';
import * as m0005 from './migrations/0005-used-tokens.js';
import * as m0006 from './migrations/0006-accounts.js';
import * as m0007 from './migrations/0007-auth.js';
import * as m0008 from './migrations/0008-facebook.js';
import * as m0009 from './migrations/0009-lead-log.js';
import * as m0010 from './migrations/0010-key-rotation-runs.js';
import * as m0011 from './migrations/0011-reconciliation.js';
import * as m0012 from './migrations/0012-disconnect-and-delete.js';
import * as m0013 from './migrations/0013-data-requests.js';
import * as m0014 from './migrations/0014-alerts.js';
import * as m0015 from './migrations/0015-delivery-claims.js';
import * as m0016 from './migrations/0016-config-version.js';
import * as m0017 from './migrations/0017-event-next-attempt.js';
import * as m0018 from './migrations/0018-page-lead-floors.js';
import * as m0019 from './migrations/0019-erased-events.js';
import * as m0020 from './migrations/0020-erased-events-index.js';

const migrations: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-forms': m0002,
  '0003-leases': m0003,
  '0004-recent-records': m0004,
  '0005-used-tokens': m0005,
  '0006-accounts': m0006,
  '0007-auth': m0007,
  '0008-facebook': m0008,
  '0009-lead-log': m0009,
  '0010-key-rotation-runs': m0010,
  '0011-reconciliation': m0011,
  '0012-disconnect-and-delete': m0012,
  '0013-data-requests': m0013,
  '0014-alerts': m0014,
  '0015-delivery-claims': m0015,
  '0016-config-version': m0016,
  '0017-event-next-attempt': m0017,
  '0018-page-lead-floors': m0018,
  '0019-erased-events': m0019,
  '0020-erased-events-index': m0020,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export class MigrationError extends Error {
  constructor(
    readonly migration: string | undefined,
    cause: unknown,
  ) {
    super(`migration ${migration ?? '(unknown)'} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'MigrationError';
  }
}

/** Applies every pending migration; returns the names applied. Throws MigrationError naming the failing one. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  // Name the schema: without it Kysely looks for its bookkeeping tables in every schema, and one
  // database holding several LeadRelay schemas (tests, staging) would make it skip creating them.
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const migrator = new Migrator({
    db,
    provider: new StaticMigrationProvider(),
    migrationTableName: 'leadrelay_migrations',
    migrationLockTableName: 'leadrelay_migrations_lock',
    migrationTableSchema: rows[0]?.schema ?? 'public',
  });
  // Nothing pending (every start but the first): no lock, and no look at the catalog.
  if ((await findPendingMigrations(db)).length === 0) return [];
  for (let attempt = 1; ; attempt++) {
    const { error, results }: MigrationResultSet = await migrator.migrateToLatest();
    const failed = results?.find((r) => r.status === 'Error');
    if (!error) return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    // Before any migration runs, Kysely lists every table of the database; a table another
    // session drops meanwhile (another schema in the same database) fails that listing. Nothing
    // was applied then, so asking again is safe.
    if (failed || attempt >= 3 || !isCatalogRace(error)) throw new MigrationError(failed?.migrationName, error);
  }
}

/**
 * "relation … does not exist" (42P01), "schema … does not exist" (3F000: the whole schema dropped),
 * "could not open relation with OID" (XX000), or "column … of relation … does not exist" (42703:
 * the listing asks `pg_get_serial_sequence` about each column, and the table went while it did)
 * from the catalog listing.
 */
export function isCatalogRace(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === '42P01' || code === '3F000' || code === '42703' || (code === 'XX000' && /relation with OID/.test((err as Error).message));
}

/**
 * The migrations this program has that the database has not applied, read without Kysely's
 * migrator (no lock, no look at other schemas): for commands that only read, which must neither
 * migrate nor wait for a migration another process is running.
 */
export async function findPendingMigrations(db: Db): Promise<string[]> {
  let applied: Set<string>;
  try {
    const { rows } = await sql<{ name: string }>`select name from leadrelay_migrations`.execute(db);
    applied = new Set(rows.map((r) => r.name));
  } catch (err) {
    // 42P01: no bookkeeping table yet, nothing applied.
    if ((err as { code?: string }).code !== '42P01') throw err;
    applied = new Set();
  }
  return Object.keys(migrations).filter((name) => !applied.has(name));
}
