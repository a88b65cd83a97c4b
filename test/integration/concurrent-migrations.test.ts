// Several processes starting at once on a database nobody has migrated yet all come up: the
// migrations run once, under PostgreSQL's advisory lock, and every starter sees them applied.
import { expect } from 'chai';
import { sql } from 'kysely';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { findPendingMigrations, migrateToLatest } from '../../src/store/migrate.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

describe('migrations started by several processes at once', function () {
  this.timeout(60_000);
  let schema: TestSchema;
  const handles: DbHandle[] = [];

  before(async () => {
    schema = await createTestSchema('mig');
    // One pool each, as separate processes would have.
    for (let i = 0; i < 5; i++) handles.push(await openDb({ url: schema.url, poolMax: 2 }));
  });
  after(async () => {
    await Promise.all(handles.map((h) => h.close()));
    await schema?.drop();
  });

  it('apply every migration exactly once, and every starter finds none pending', async () => {
    const applied = await Promise.all(handles.map((h) => migrateToLatest(h.db)));
    const all = applied.flat();
    expect(new Set(all).size, 'no migration applied twice').to.equal(all.length);
    expect(all.length).to.be.greaterThan(0);
    for (const h of handles) expect(await findPendingMigrations(h.db)).to.deep.equal([]);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from leadrelay_migrations`.execute(handles[0].db);
    expect(rows[0].n).to.equal(all.length);
  });
});
