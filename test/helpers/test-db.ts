// Integration tests talk to the real PostgreSQL server; each test file gets its own schema so
// files (and parallel runs) never see each other's rows.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { acquireEmbeddedPostgres } from '../../src/store/embedded-postgres.js';
import { migrateToLatest } from '../../src/store/migrate.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestSchema {
  schema: string;
  /** A DATABASE_URL that puts the program in this schema (for spawning the real binary). */
  url: string;
  drop(): Promise<void>;
}

export async function createTestSchema(prefix = 't'): Promise<TestSchema> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  const sep = TEST_DATABASE_URL.includes('?') ? '&' : '?';
  return {
    schema,
    url: `${TEST_DATABASE_URL}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  };
}

/** A migrated database in a fresh schema on the real server. */
export async function openTestDb(): Promise<DbHandle & { schema: TestSchema }> {
  const schema = await createTestSchema();
  const handle = await openDb({ url: schema.url, poolMax: 5 });
  await migrateToLatest(handle.db);
  return {
    ...handle,
    schema,
    async close() {
      await handle.close();
      await schema.drop();
    },
  };
}

/**
 * A migrated database on an embedded PostgreSQL server (the zero-setup default) in a fresh
 * data directory; closing it stops that server.
 */
export async function openEmbeddedTestDb(): Promise<DbHandle> {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'leadrelay-embedded-')), 'data');
  const embedded = await acquireEmbeddedPostgres({ dataDir, role: 'server' });
  const handle = await openDb({ url: embedded.url, kind: 'embedded', poolMax: 5, afterClose: () => embedded.release() });
  await migrateToLatest(handle.db);
  return handle;
}
