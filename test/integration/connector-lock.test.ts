// ctx.withLock and ctx.recentRecords as buildConnectorContext wires them, on the real
// PostgreSQL: two Apps on one schema stand for two worker processes.
import { expect } from 'chai';
import { sql } from 'kysely';
import { ConnectorError } from '../../connectors/types.js';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import { buildConnectorContext } from '../../src/pipeline/connector-context.js';
import * as repo from '../../src/store/repos.js';
import type { Destination } from '../../src/store/schema.js';
import { waitUntil } from '../helpers/e2e.js';
import { createTestApp, testEnv, type TestApp } from '../helpers/test-app.js';

const PERSON_KEY = 'email:zoe.angstrom@example.com';

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('connector context: lock and recent records on PostgreSQL', function () {
  this.timeout(60_000);
  let t: TestApp;
  let other: App;
  let workspaceId: string;

  const createDestination = (name: string) =>
    repo.createDestination(t.app.db, { workspaceId, type: 'webhook', name, config: { url: 'https://example.com/hook' }, credentialsEnvelope: null });
  /** Backends waiting for an advisory lock in this database. */
  const advisoryWaiters = async () =>
    (
      await sql<{
        n: number;
      }>`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`.execute(
        t.app.db,
      )
    ).rows[0].n;

  before(async () => {
    // A short delivery timeout makes the lock wait short (3 timeouts): 3 s.
    t = await createTestApp({ withQueues: false, env: { DELIVERY_TIMEOUT_MS: '1000' } });
    other = await createApp(loadConfig(testEnv(t.schema.url, t.prefix, { DELIVERY_TIMEOUT_MS: '1000' })), { migrate: false, withQueues: false });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Locks')).id;
  });
  after(async () => {
    await other?.close();
    await t?.cleanup();
  });

  it('makes a second process wait for the lock on the same destination and person key', async () => {
    const dest = await createDestination('one');
    const held = gate();
    const order: string[] = [];
    const first = buildConnectorContext(t.app, dest, null).withLock(PERSON_KEY, async () => {
      order.push('first in');
      await held.promise;
      order.push('first out');
    });
    await waitUntil(async () => order.includes('first in'), 20_000, 'the first holder');
    const before = await advisoryWaiters();
    const second = buildConnectorContext(other, dest, null).withLock(PERSON_KEY, async () => {
      order.push('second in');
    });
    await waitUntil(async () => (await advisoryWaiters()) > before, 20_000, 'the second process waiting');
    expect(order).to.deep.equal(['first in']);
    held.open();
    await Promise.all([first, second]);
    expect(order).to.deep.equal(['first in', 'first out', 'second in']);
  });

  it('does not make another destination wait for the same person key', async () => {
    const [a, b] = [await createDestination('a'), await createDestination('b')];
    const held = gate();
    const first = buildConnectorContext(t.app, a, null).withLock(PERSON_KEY, () => held.promise);
    expect(await buildConnectorContext(other, b, null).withLock(PERSON_KEY, async () => 'b ran')).to.equal('b ran');
    held.open();
    await first;
  });

  it('turns a wait past the limit into a retryable lock_wait_timeout', async () => {
    const dest = await createDestination('slow');
    const held = gate();
    let isInside = false;
    const first = buildConnectorContext(t.app, dest, null).withLock(PERSON_KEY, async () => {
      isInside = true;
      await held.promise;
    });
    await waitUntil(async () => isInside, 20_000, 'the first holder');
    const err = await buildConnectorContext(other, dest, null)
      .withLock(PERSON_KEY, async () => 'ran')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(ConnectorError);
    expect(err).to.include({ kind: 'retryable', reason: 'lock_wait_timeout' });
    held.open();
    await first;
  });

  it('keeps the person key out of PostgreSQL: the lock id and the record key are keyed hashes', async () => {
    const dest = await createDestination('private');
    const ctx = buildConnectorContext(t.app, dest, null);
    const seen = await ctx.withLock(PERSON_KEY, async () => {
      const locks = await sql<{ key: string }>`select classid::text || ':' || objid::text as key from pg_locks where locktype = 'advisory' and granted`.execute(
        t.app.db,
      );
      const queries = await sql<{ query: string }>`select query from pg_stat_activity where datname = current_database()`.execute(t.app.db);
      return [...locks.rows.map((r) => r.key), ...queries.rows.map((r) => r.query)].join('\n');
    });
    expect(seen).to.not.contain('zoe');
    expect(seen).to.not.contain('example.com');

    await ctx.recentRecords.save(PERSON_KEY, '4242');
    const rows = await t.app.db.selectFrom('connector_recent_records').selectAll().where('destination_id', '=', dest.id).execute();
    expect(rows).to.have.length(1);
    expect(rows[0].key_hash).to.match(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows)).to.not.contain('zoe');
  });

  it("finds a record another process saved for the destination, not another destination's", async () => {
    const [a, b]: Destination[] = [await createDestination('rec-a'), await createDestination('rec-b')];
    await buildConnectorContext(t.app, a, null).recentRecords.save(PERSON_KEY, '101');
    expect(await buildConnectorContext(other, a, null).recentRecords.find(PERSON_KEY)).to.equal('101');
    expect(await buildConnectorContext(other, a, null).recentRecords.find('email:someone.else@example.com')).to.equal(undefined);
    expect(await buildConnectorContext(other, b, null).recentRecords.find(PERSON_KEY)).to.equal(undefined);
  });

  it('forgets a record after 15 minutes, and deletes old rows of the destination on the next save', async () => {
    const dest = await createDestination('old');
    const ctx = buildConnectorContext(t.app, dest, null);
    await ctx.recentRecords.save(PERSON_KEY, '7');
    await t.app.db
      .updateTable('connector_recent_records')
      .set({ created_at: sql`now() - interval '16 minutes'` })
      .where('destination_id', '=', dest.id)
      .execute();
    expect(await ctx.recentRecords.find(PERSON_KEY)).to.equal(undefined);

    await ctx.recentRecords.save('email:new.person@example.com', '8');
    const rows = await t.app.db.selectFrom('connector_recent_records').select('external_id').where('destination_id', '=', dest.id).execute();
    expect(rows.map((r) => r.external_id)).to.deep.equal(['8']);
  });
});
