// Group-commit webhook intake on the real PostgreSQL server. Rows inserted by one autocommit
// statement share one transaction id (the xmin system column), so counting distinct xmin values
// counts the INSERT statements that wrote rows, with no instrumentation of the database.
import { expect } from 'chai';
import pg from 'pg';
import { IntakeBatcher } from '../../src/http/intake-batcher.js';
import { createHttpApp } from '../../src/http/server.js';
import { createMetrics } from '../../src/util/metrics.js';
import { computeSignature256 } from '../../src/meta/signature.js';
import type { DbHandle } from '../../src/store/db.js';
import type { NewLeadgenEvent } from '../../src/store/repos.js';
import { fetchBatchJobId, fetchJobId } from '../../src/pipeline/queues.js';
import { TEST_APP_SECRET } from '../helpers/e2e.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { openTestDb, type TestSchema } from '../helpers/test-db.js';

type TestDb = DbHandle & { schema: TestSchema };

const PAGE = '500000001';
let nextLeadgen = 7_300_000_000_000_000_000n;
const newLeadgenId = () => String(nextLeadgen++);
const ev = (leadgenId: string, extra: Partial<NewLeadgenEvent> = {}): NewLeadgenEvent => ({
  pageId: PAGE,
  leadgenId,
  formId: 'f-1',
  adId: null,
  adgroupId: null,
  createdTime: new Date(1_700_000_000_000),
  isTest: false,
  ...extra,
});

async function rowsOf(client: pg.Pool, leadgenIds: string[]): Promise<{ id: number; leadgen_id: string; xid: string; status: string }[]> {
  const r = await client.query('select id::int as id, leadgen_id, xmin::text as xid, status from leadgen_events where leadgen_id = any($1::text[])', [
    leadgenIds,
  ]);
  return r.rows;
}

/** Connections that are not the batcher's pool: what they see is committed. */
async function connectSeparately(db: TestDb): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: db.schema.url, max: 4 });
  pool.on('error', () => {});
  await pool.query('select 1');
  return pool;
}

describe('IntakeBatcher on PostgreSQL', function () {
  this.timeout(30_000);
  let db: TestDb;
  let observer: pg.Pool;

  before(async () => {
    db = await openTestDb();
    observer = await connectSeparately(db);
  });
  after(async () => {
    await observer?.end();
    await db?.close();
  });

  it('200 concurrent calls become one statement; every row is stored once and each caller resolves after its rows are visible', async () => {
    const recorded: number[][] = [];
    const batcher = new IntakeBatcher(db.db, { maxRows: 500, onRecorded: (ids) => recorded.push(ids) });
    const calls = Array.from({ length: 200 }, (_, i) => {
      const own = newLeadgenId();
      // Every tenth caller also repeats the previous caller's id: a duplicate inside the batch.
      return i % 10 === 9 ? [own, String(nextLeadgen - 2n)] : [own];
    });
    const allIds = [...new Set(calls.flat())];
    const visibleAtResolve: boolean[] = [];
    const results = await Promise.all(
      calls.map((leadgenIds) =>
        batcher.record(leadgenIds.map((id) => ev(id))).then(async (ids) => {
          const seen = await rowsOf(observer, leadgenIds);
          visibleAtResolve.push(seen.length === leadgenIds.length && ids.every((id) => seen.some((s) => s.id === id)));
          return ids;
        }),
      ),
    );

    expect(visibleAtResolve).to.have.length(200);
    expect(visibleAtResolve.every(Boolean), 'every caller resolved only after its rows were committed').to.equal(true);
    const rows = await rowsOf(observer, allIds);
    expect(rows).to.have.length(allIds.length);
    expect(new Set(rows.map((r) => r.leadgen_id)).size).to.equal(allIds.length);
    expect(new Set(rows.map((r) => r.xid)).size, 'INSERT statements that wrote rows').to.equal(1);
    // Each caller gets the ids of exactly its own rows (a duplicate in the batch maps to the one row).
    const idOf = new Map(rows.map((r) => [r.leadgen_id, r.id]));
    results.forEach((ids, i) => {
      expect(ids).to.deep.equal(calls[i].map((l) => idOf.get(l)));
    });
    expect(recorded.flat().sort((a, b) => a - b)).to.deep.equal(rows.map((r) => r.id).sort((a, b) => a - b));
    expect(batcher.pendingRows).to.equal(0);
  });

  it('splits a burst into statements of at most maxRows', async () => {
    const batcher = new IntakeBatcher(db.db, { maxRows: 50, maxInFlight: 4 });
    const ids = Array.from({ length: 200 }, newLeadgenId);
    await Promise.all(ids.map((id) => batcher.record([ev(id)])));
    const rows = await rowsOf(observer, ids);
    expect(rows).to.have.length(200);
    const perStatement = new Map<string, number>();
    for (const r of rows) perStatement.set(r.xid, (perStatement.get(r.xid) ?? 0) + 1);
    expect([...perStatement.values()]).to.deep.equal([50, 50, 50, 50]);
  });

  it('requests arriving while a write is in flight gather into the next statement', async () => {
    const batcher = new IntakeBatcher(db.db, { maxRows: 500, maxInFlight: 1 });
    const first = newLeadgenId();
    const firstDone = batcher.record([ev(first)]);
    // Let the batcher start the first INSERT before the others arrive.
    await new Promise((r) => setImmediate(r));
    const later = Array.from({ length: 60 }, newLeadgenId);
    const laterDone = later.map((id) => batcher.record([ev(id)]));
    expect(batcher.pendingRows).to.equal(60);
    await Promise.all([firstDone, ...laterDone]);
    const rows = await rowsOf(observer, [first, ...later]);
    expect(rows).to.have.length(61);
    const firstXid = rows.find((r) => r.leadgen_id === first)!.xid;
    const laterXids = new Set(rows.filter((r) => r.leadgen_id !== first).map((r) => r.xid));
    expect(laterXids.size).to.equal(1);
    expect(laterXids.has(firstXid)).to.equal(false);
  });

  it('duplicates across batches are no-ops: callers get only rows that exist, onRecorded only new events', async () => {
    const recorded: number[] = [];
    const batcher = new IntakeBatcher(db.db, { maxRows: 500, onRecorded: (ids) => recorded.push(...ids) });
    const a = newLeadgenId();
    const b = newLeadgenId();
    const [firstIds] = await Promise.all([batcher.record([ev(a), ev(b)])]);
    expect(firstIds).to.have.length(2);
    expect(recorded).to.deep.equal(firstIds);

    recorded.length = 0;
    const c = newLeadgenId();
    const [again, mixed] = await Promise.all([batcher.record([ev(a), ev(b)]), batcher.record([ev(b), ev(c)])]);
    const rows = await rowsOf(observer, [a, b, c]);
    expect(rows).to.have.length(3);
    const idOf = new Map(rows.map((r) => [r.leadgen_id, r.id]));
    // Rows that were already stored are not returned by ON CONFLICT DO NOTHING: nothing new to queue.
    expect(again).to.deep.equal([]);
    expect(mixed).to.deep.equal([idOf.get(c)]);
    expect(recorded).to.deep.equal([idOf.get(c)]);
    expect(rows.filter((r) => r.leadgen_id === a).map((r) => r.id)).to.deep.equal([firstIds[0]]);
  });

  it('the same event in statements that are in flight at once is stored once and handed on once', async () => {
    const recorded: number[] = [];
    // maxRows 1: each caller gets a statement of its own, four of them running concurrently.
    const batcher = new IntakeBatcher(db.db, { maxRows: 1, maxInFlight: 4, onRecorded: (ids) => recorded.push(...ids) });
    const id = newLeadgenId();
    const visible: boolean[] = [];
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        batcher.record([ev(id)]).then(async (ids) => {
          visible.push((await rowsOf(observer, [id])).length === 1);
          return ids;
        }),
      ),
    );
    const rows = await rowsOf(observer, [id]);
    expect(rows).to.have.length(1);
    expect(visible).to.deep.equal([true, true, true, true]);
    expect(results.filter((r) => r.length === 1)).to.deep.equal([[rows[0].id]]);
    expect(results.filter((r) => r.length === 0)).to.have.length(3);
    expect(recorded).to.deep.equal([rows[0].id]);
  });

  // One INSERT binds several parameters per row and PostgreSQL allows 65 535 per statement: a
  // batch this large must still be stored whole.
  it('records a batch larger than one statement can bind (INTAKE_BATCH_MAX_ROWS 10000)', async () => {
    const batcher = new IntakeBatcher(db.db, { maxRows: 10_000 });
    const calls = Array.from({ length: 8 }, () => Array.from({ length: 1000 }, newLeadgenId));
    await Promise.all(calls.map((ids) => batcher.record(ids.map((id) => ev(id)))));
    expect(await rowsOf(observer, calls.flat())).to.have.length(8000);
  });

  it('a dashboard test event is stored as "test" and never handed to onRecorded', async () => {
    const recorded: number[] = [];
    const batcher = new IntakeBatcher(db.db, { maxRows: 500, onRecorded: (ids) => recorded.push(...ids) });
    const real = newLeadgenId();
    const test = '444444444444444';
    const ids = await batcher.record([ev(real), ev(test, { pageId: '900', isTest: true })]);
    expect(ids).to.have.length(2);
    type Row = { id: number; leadgen_id: string; status: string; status_reason: string | null };
    const rows = await observer.query<Row>('select id::int as id, leadgen_id, status, status_reason from leadgen_events where leadgen_id = any($1::text[])', [
      [real, test],
    ]);
    const byLeadgen = new Map(rows.rows.map((r) => [r.leadgen_id, r]));
    expect(byLeadgen.get(test)).to.include({ status: 'test', status_reason: 'dashboard_test_id' });
    expect(recorded).to.deep.equal([byLeadgen.get(real)!.id]);
    expect(ids.sort((x, y) => x - y)).to.deep.equal(rows.rows.map((r) => r.id).sort((x, y) => x - y));
  });

  it('resolves an empty call at once without touching the database', async () => {
    const batcher = new IntakeBatcher(db.db, { maxRows: 500, onRecorded: () => expect.fail('nothing was recorded') });
    expect(await batcher.record([])).to.deep.equal([]);
    expect(batcher.pendingRows).to.equal(0);
  });

  describe('when the database fails', () => {
    let broken: TestDb;
    let brokenObserver: pg.Pool;
    before(async () => {
      broken = await openTestDb();
      brokenObserver = await connectSeparately(broken);
    });
    after(async () => {
      await brokenObserver?.end();
      await broken?.close();
    });

    it('rejects every caller of the failed batch, acknowledges nothing, and recovers for the next batch', async () => {
      const recorded: number[] = [];
      const batcher = new IntakeBatcher(broken.db, { maxRows: 500, onRecorded: (ids) => recorded.push(...ids) });
      await brokenObserver.query('alter table leadgen_events rename to leadgen_events_away');
      const ids = Array.from({ length: 20 }, newLeadgenId);
      const outcomes = await Promise.allSettled(ids.map((id) => batcher.record([ev(id)])));
      expect(outcomes.map((o) => o.status)).to.deep.equal(Array(20).fill('rejected'));
      const reason = (outcomes[0] as PromiseRejectedResult).reason as { code?: string };
      expect(reason.code, 'undefined_table').to.equal('42P01');
      expect(recorded).to.deep.equal([]);
      expect(batcher.pendingRows).to.equal(0);

      await brokenObserver.query('alter table leadgen_events_away rename to leadgen_events');
      expect((await rowsOf(brokenObserver, ids)).length, 'nothing of the failed batch was stored').to.equal(0);
      const next = newLeadgenId();
      const nextIds = await batcher.record([ev(next)]);
      expect(nextIds).to.have.length(1);
      expect(recorded).to.deep.equal(nextIds);
    });

    it('rejects every caller when the pool is closed', async () => {
      const closing = await openTestDb();
      const recorded: number[] = [];
      const batcher = new IntakeBatcher(closing.db, { maxRows: 500, onRecorded: (ids) => recorded.push(...ids) });
      await closing.db.destroy();
      try {
        const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => batcher.record([ev(newLeadgenId())])));
        expect(outcomes.every((o) => o.status === 'rejected')).to.equal(true);
        expect(recorded).to.deep.equal([]);
      } finally {
        await closing.schema.drop();
      }
    });
  });
});

/** The webhook receiver of a real App on a loopback port. */
async function startIntakeServer(env: Record<string, string> = {}) {
  const t = await createTestApp({ env });
  const http = await import('node:http');
  const server = http.createServer(createHttpApp(t.app, createMetrics()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { t, server, url: `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}` };
}

async function stopIntakeServer(server: import('node:http').Server | undefined, t: TestApp | undefined): Promise<void> {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await t?.cleanup();
}

describe('webhook intake over HTTP with a real App', function () {
  this.timeout(30_000);
  let t: TestApp;
  let server: import('node:http').Server;
  let url: string;

  const body = (leadgenIds: string[]) =>
    JSON.stringify({
      object: 'page',
      entry: [
        {
          id: PAGE,
          time: 1_700_000_000,
          changes: leadgenIds.map((id) => ({ field: 'leadgen', value: { leadgen_id: id, page_id: PAGE, form_id: '700000001', created_time: 1_700_000_000 } })),
        },
      ],
    });
  const post = (raw: string) =>
    fetch(`${url}/webhooks/meta`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': computeSignature256(Buffer.from(raw), TEST_APP_SECRET) },
      body: raw,
    });

  before(async () => {
    ({ t, server, url } = await startIntakeServer());
  });
  after(() => stopIntakeServer(server, t));

  it('answers 200 only after the events are stored, and queues the new events in one batch job', async () => {
    const ids = [newLeadgenId(), newLeadgenId()];
    const raw = body(ids);
    const [r1, r2] = await Promise.all([post(raw), post(raw)]);
    expect([r1.status, r2.status]).to.deep.equal([200, 200]);
    const rows = await t.app.db.selectFrom('leadgen_events').select(['id', 'leadgen_id']).where('leadgen_id', 'in', ids).orderBy('id').execute();
    expect(rows).to.have.length(2);
    const eventIds = rows.map((r) => r.id);
    const job = await waitForJob(() => t.app.queues.fetch.getJob(fetchBatchJobId(eventIds)));
    expect(job.data).to.deep.equal({ eventIds });
    expect(await t.app.queues.fetch.count(), 'the duplicate POST queued nothing more').to.equal(1);
  });

  it('answers 503 and records and queues nothing when the database refuses the write', async () => {
    const id = newLeadgenId();
    const jobsBefore = await t.app.queues.fetch.count();
    await t.app.db.schema.alterTable('leadgen_events').renameTo('leadgen_events_away').execute();
    let status: number;
    try {
      status = (await post(body([id]))).status;
    } finally {
      await t.app.db.schema.alterTable('leadgen_events_away').renameTo('leadgen_events').execute();
    }
    expect(status).to.equal(503);
    expect(await t.app.db.selectFrom('leadgen_events').select('id').where('leadgen_id', '=', id).execute()).to.deep.equal([]);
    expect(await t.app.queues.fetch.count()).to.equal(jobsBefore);
  });
});

describe('fetch jobs of webhooks that follow each other closely', function () {
  this.timeout(30_000);
  let t: TestApp;
  let server: import('node:http').Server;
  let url: string;

  before(async () => {
    // A wait long enough that the posts below, one after the other, all fall inside it.
    ({ t, server, url } = await startIntakeServer({ FETCH_JOB_WAIT_MS: '3000' }));
  });
  after(() => stopIntakeServer(server, t));

  const postOne = async (leadgenId: string) => {
    const raw = JSON.stringify({
      object: 'page',
      entry: [{ id: PAGE, time: 1_700_000_000, changes: [{ field: 'leadgen', value: { leadgen_id: leadgenId, page_id: PAGE, form_id: '700000001' } }] }],
    });
    const res = await fetch(`${url}/webhooks/meta`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': computeSignature256(Buffer.from(raw), TEST_APP_SECRET) },
      body: raw,
    });
    expect(res.status).to.equal(200);
  };
  const eventIdsOf = async (leadgenIds: string[]) =>
    (await t.app.db.selectFrom('leadgen_events').select('id').where('leadgen_id', 'in', leadgenIds).orderBy('id').execute()).map((r) => r.id);

  it('queues the first webhook after a quiet spell alone, and the next ones together in one batch job', async () => {
    const first = newLeadgenId();
    await postOne(first);
    const [firstEvent] = await eventIdsOf([first]);
    await waitForJob(() => t.app.queues.fetch.getJob(fetchJobId(firstEvent)));

    const next = [newLeadgenId(), newLeadgenId(), newLeadgenId()];
    for (const id of next) await postOne(id);
    const eventIds = await eventIdsOf(next);
    const job = await waitForJob(() => t.app.queues.fetch.getJob(fetchBatchJobId(eventIds)));
    expect(job.data).to.deep.equal({ eventIds });
    expect(await t.app.queues.fetch.count(), 'one job for the first webhook, one for the three after it').to.equal(2);
  });
});

async function waitForJob<T>(get: () => Promise<T | undefined>): Promise<T> {
  // The enqueue after commit is fire-and-forget (the sweep backs it up), so it may trail the 200.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const job = await get();
    if (job) return job;
    if (Date.now() > deadline) expect.fail('fetch job was not queued within 20 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}
