// The cross-process lock (src/store/advisory-locks.ts) on the real PostgreSQL. Each
// createAdvisoryLocks has its own pool and in-memory queue, as a separate worker process would.
// "Still waiting" is read from pg_locks (a lock request not granted), never assumed after a sleep.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import { createAdvisoryLocks, LockWaitTimeoutError, type AdvisoryLocks } from '../../src/store/advisory-locks.js';
import { waitUntil } from '../helpers/e2e.js';
import { TEST_DATABASE_URL } from '../helpers/test-db.js';

/** A random lock id, so runs never meet each other's locks. */
const newKey = () => randomBytes(8).readBigInt64BE(0);

/** A promise with its resolve, to hold a lock until the test lets go. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('advisory locks on PostgreSQL', function () {
  this.timeout(60_000);
  let observer: pg.Client;
  const opened: AdvisoryLocks[] = [];

  /** One "process": a lock facility with its own pool. */
  const openLocks = (opts: { waitMs?: number; holdLimitMs?: number } = {}) => {
    const locks = createAdvisoryLocks({
      connectionString: TEST_DATABASE_URL,
      waitMs: opts.waitMs ?? 10_000,
      holdLimitMs: opts.holdLimitMs ?? 30_000,
      maxConnections: 4,
    });
    opened.push(locks);
    return locks;
  };

  /** pg_locks rows of this advisory lock: who holds it (granted) and who waits. */
  const lockRows = async (key: bigint) => {
    const unsigned = BigInt.asUintN(64, key);
    const { rows } = await observer.query<{ pid: number; granted: boolean }>(
      `select pid, granted from pg_locks where locktype = 'advisory' and classid = $1::bigint::oid and objid = $2::bigint::oid and objsubid = 1`,
      [(unsigned >> 32n).toString(), (unsigned & 0xffffffffn).toString()],
    );
    return rows;
  };
  const waitForWaiters = (key: bigint, count: number) =>
    waitUntil(async () => (await lockRows(key)).filter((r) => !r.granted).length >= count, 20_000, `${count} waiting for the lock`);

  before(async () => {
    observer = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await observer.connect();
  });
  after(async () => {
    await Promise.all(opened.map((l) => l.close()));
    await observer.end();
  });

  it('lets one holder in at a time across two independent pools', async () => {
    const [a, b] = [openLocks(), openLocks()];
    const key = newKey();
    const first = gate();
    const entered: string[] = [];
    const holderA = a.withLock(key, async () => {
      entered.push('a');
      await first.promise;
      entered.push('a-done');
    });
    await waitUntil(async () => entered.includes('a'), 20_000, 'the first holder');
    const holderB = b.withLock(key, async () => {
      entered.push('b');
    });
    await waitForWaiters(key, 1);
    expect(entered, 'the second pool waits while the first holds the lock').to.deep.equal(['a']);

    first.open();
    await Promise.all([holderA, holderB]);
    expect(entered).to.deep.equal(['a', 'a-done', 'b']);
    expect(await lockRows(key)).to.deep.equal([]);
  });

  it('never has two of twelve callers inside at once, from two pools and many callers per pool', async () => {
    const [a, b] = [openLocks(), openLocks()];
    const key = newKey();
    let inside = 0;
    let mostInside = 0;
    let runs = 0;
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 ? a : b).withLock(key, async () => {
          inside++;
          mostInside = Math.max(mostInside, inside);
          // Some work with a few turns of the event loop, where an overlap would show.
          await new Promise((resolve) => setTimeout(resolve, 5));
          runs++;
          inside--;
        }),
      ),
    );
    expect(runs).to.equal(12);
    expect(mostInside).to.equal(1);
  });

  it('lets holders of different keys in at once', async () => {
    const [a, b] = [openLocks(), openLocks()];
    const held = gate();
    const holderA = a.withLock(newKey(), () => held.promise);
    // B's key is another one: it gets in while A still holds its own.
    const result = await b.withLock(newKey(), async () => 'b ran');
    expect(result).to.equal('b ran');
    held.open();
    await holderA;
  });

  it("releases the lock when the holder's connection dies", async () => {
    const [a, b] = [openLocks(), openLocks()];
    const key = newKey();
    const held = gate();
    let lostCalls = 0;
    let isAInside = false;
    const holderA = a.withLock(
      key,
      async () => {
        isAInside = true;
        await held.promise;
        return 'a finished';
      },
      { onLost: () => lostCalls++ },
    );
    await waitUntil(async () => isAInside, 20_000, 'the first holder');
    const [holderRow] = await lockRows(key);
    expect(holderRow.granted).to.equal(true);

    let isBInside = false;
    const holderB = b.withLock(key, async () => {
      isBInside = true;
    });
    await waitForWaiters(key, 1);
    // The holder's connection dies (as when its process is killed): PostgreSQL frees the lock.
    await observer.query('select pg_terminate_backend($1)', [holderRow.pid]);
    await holderB;
    expect(isBInside).to.equal(true);

    held.open();
    expect(await holderA).to.equal('a finished');
    expect(lostCalls).to.equal(1);
    // The pool dropped the dead connection: A locks again.
    expect(await a.withLock(key, async () => 'a again')).to.equal('a again');
  });

  it('frees a lock held past the hold limit, though its holder never finishes', async () => {
    const a = openLocks({ holdLimitMs: 400 });
    const b = openLocks();
    const key = newKey();
    const stuck = gate();
    let lostCalls = 0;
    let isAInside = false;
    const holderA = a.withLock(
      key,
      async () => {
        isAInside = true;
        await stuck.promise;
      },
      { onLost: () => lostCalls++ },
    );
    await waitUntil(async () => isAInside, 20_000, 'the stuck holder');
    let isBInside = false;
    // B may wait 10 s (its wait limit) and would then throw; it gets in while A is still stuck.
    await b.withLock(key, async () => {
      isBInside = true;
    });
    expect(isBInside).to.equal(true);

    stuck.open();
    await holderA;
    expect(lostCalls).to.equal(1);
  });

  it('gives up after the wait limit without running the function, and locks again afterwards', async () => {
    const a = openLocks();
    const b = openLocks({ waitMs: 300 });
    const key = newKey();
    const held = gate();
    let isAInside = false;
    const holderA = a.withLock(key, async () => {
      isAInside = true;
      await held.promise;
    });
    await waitUntil(async () => isAInside, 20_000, 'the first holder');

    let hasBRun = false;
    const err = await b
      .withLock(key, async () => {
        hasBRun = true;
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(LockWaitTimeoutError);
    expect(hasBRun).to.equal(false);

    held.open();
    await holderA;
    expect(await b.withLock(key, async () => 'b later')).to.equal('b later');
  });

  it('queues callers of one process in memory: one connection per key waits in PostgreSQL', async () => {
    const [a, b] = [openLocks(), openLocks()];
    const key = newKey();
    const held = gate();
    let isAInside = false;
    const holderA = a.withLock(key, async () => {
      isAInside = true;
      await held.promise;
    });
    await waitUntil(async () => isAInside, 20_000, 'the first holder');
    let runs = 0;
    const waiters = Array.from({ length: 5 }, () => b.withLock(key, async () => void runs++));
    await waitForWaiters(key, 1);
    // The first of B's five waits in PostgreSQL; the other four wait in B's memory.
    expect((await lockRows(key)).filter((r) => !r.granted)).to.have.length(1);
    held.open();
    await Promise.all([holderA, ...waiters]);
    expect(runs).to.equal(5);
  });
});
