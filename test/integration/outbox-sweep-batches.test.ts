// The outbox sweep under a backlog older than OUTBOX_MIN_AGE_MS, on each queue backend: events
// whose intake batch job (`evb-`) still waits get no `ev-` job of their own, and the sweep still
// queues every event once the backend lost the batch jobs.
import { expect } from 'chai';
import { sql } from 'kysely';
import { sweepOutbox } from '../../src/pipeline/maintenance.js';
import { fetchBatchJobId, fetchJobId } from '../../src/pipeline/queues.js';
import * as repo from '../../src/store/repos.js';
import { createTestApp, QUEUE_BACKENDS, type TestApp } from '../helpers/test-app.js';

const PAGE_ID = '600000002';

for (const backend of QUEUE_BACKENDS)
  describe(`outbox sweep beside queued batch jobs on ${backend}`, function () {
    this.timeout(30_000);
    let t: TestApp;
    let leadgenSeq = 0;

    before(async () => {
      t = await createTestApp({ backend });
    });
    after(async () => {
      await t?.cleanup();
    });
    beforeEach(async () => {
      // Each test starts from an empty outbox and an empty queue.
      await t.app.db.updateTable('leadgen_events').set({ status: 'fetched' }).where('status', '=', 'received').execute();
      await t.loseQueuedJobs();
    });

    /** One intake insert of `n` new events (one statement, as the intake batcher writes them). */
    async function recordIntake(n: number): Promise<number[]> {
      const rows = Array.from({ length: n }, () => ({
        pageId: PAGE_ID,
        leadgenId: `7${Date.now()}${leadgenSeq++}`,
        formId: null,
        adId: null,
        adgroupId: null,
        createdTime: null,
        isTest: false,
      }));
      return (await repo.recordLeadgenEvents(t.app.db, rows)).map((r) => r.id);
    }

    const queuedFetchIds = async () => (await t.app.queues.fetch.getJobs(['waiting', 'delayed', 'active', 'prioritized'])).map((j) => j.id);
    let clock = Date.now();
    /**
     * A sweep whose clock is past the minimum age of every row written so far, and past the wait
     * each earlier sweep put on the events it queued (each call is two minimum ages later).
     */
    const sweepLater = () => {
      clock = Math.max(clock, Date.now()) + 2 * t.config.maintenance.outboxMinAgeMs + 5_000;
      return sweepOutbox(t.app, clock);
    };

    it('queues no ev- job for events of a waiting batch job, and queues every event once the backend lost its jobs', async () => {
      const batches = [await recordIntake(4), await recordIntake(5), await recordIntake(3)];
      for (const ids of batches) await t.app.queues.enqueueFetchBatch(ids);
      // An intake whose enqueue was lost: its events have no job at all.
      const lostBatch = await recordIntake(3);
      // A batch job listing only part of one insert's events (as reconciliation may queue).
      const partial = await recordIntake(4);
      await t.app.queues.enqueueFetchBatch(partial.slice(0, 2));
      const batched = [...batches.flat(), ...partial.slice(0, 2)];

      const first = await sweepLater();
      expect(first).to.include({ events: 5, eventsInQueuedBatches: batched.length });
      const queued = await queuedFetchIds();
      for (const id of batched) expect(queued, `event ${id}`).to.not.include(fetchJobId(id));
      for (const id of [...lostBatch, ...partial.slice(2)]) expect(queued, `event ${id}`).to.include(fetchJobId(id));
      for (const ids of [...batches, partial.slice(0, 2)]) expect(queued).to.include(fetchBatchJobId(ids));
      expect(queued).to.have.length(batches.length + 1 + 5);

      // Redis FLUSHALL (or the queue tables emptied): the batch jobs are gone, the rows remain.
      expect(await t.loseQueuedJobs()).to.be.greaterThan(0);
      const second = await sweepLater();
      expect(second).to.include({ events: batched.length + 5, eventsInQueuedBatches: 0 });
      const requeued = await queuedFetchIds();
      for (const id of [...batched, ...lostBatch, ...partial.slice(2)]) expect(requeued, `event ${id}`).to.include(fetchJobId(id));
      expect(requeued).to.have.length(batched.length + 5);
    });

    it('tells apart two inserts written within one millisecond', async () => {
      const lost = await recordIntake(3);
      const batched = await recordIntake(4);
      await t.app.queues.enqueueFetchBatch(batched.slice(0, 2));
      // The two inserts' write instants 300 µs apart inside one millisecond, as on a fast machine.
      await sql`update leadgen_events set updated_at = timestamptz '2026-01-01 00:00:00.100100+00' where id = any(${lost})`.execute(t.app.db);
      await sql`update leadgen_events set updated_at = timestamptz '2026-01-01 00:00:00.100400+00' where id = any(${batched})`.execute(t.app.db);

      expect(await sweepLater()).to.include({ events: 5, eventsInQueuedBatches: 2 });
      const queued = await queuedFetchIds();
      for (const id of batched.slice(0, 2)) expect(queued, `event ${id}`).to.not.include(fetchJobId(id));
      for (const id of [...lost, ...batched.slice(2)]) expect(queued, `event ${id}`).to.include(fetchJobId(id));
    });

    it('queues no ev- job for the events of inserts that joined one batch job, one-event inserts included', async () => {
      // As intake's fetch coalescer queues them: inserts that followed each other share a job.
      const joined = [...(await recordIntake(1)), ...(await recordIntake(1)), ...(await recordIntake(2))];
      await t.app.queues.enqueueFetchBatch(joined);
      const alone = await recordIntake(1);

      expect(await sweepLater()).to.include({ events: 1, eventsInQueuedBatches: joined.length });
      expect((await queuedFetchIds()).sort()).to.deep.equal([fetchBatchJobId(joined), fetchJobId(alone[0])].sort());
    });

    it('leaves an event alone while its fetch waits out a delay, and queues it once the delay is over', async () => {
      const [waiting] = await recordIntake(1);
      await repo.setEventStatus(t.app.db, waiting, 'received', { retryInMs: 3_600_000 });
      const [lost] = await recordIntake(1);
      const due = sweepOutbox(t.app, Date.now() + t.config.maintenance.outboxMinAgeMs + 5_000);
      expect(await due).to.include({ events: 1 });
      expect(await queuedFetchIds()).to.deep.equal([fetchJobId(lost)]);
      // Both now: the delay is over, and so is the wait the first sweep put on the event it queued.
      expect(await sweepOutbox(t.app, Date.now() + 3_600_000 + t.config.maintenance.outboxMinAgeMs)).to.include({ events: 2 });
      expect((await queuedFetchIds()).sort()).to.deep.equal([fetchJobId(lost), fetchJobId(waiting)].sort());
    });

    it('looks at an event it queued again only after the minimum age', async () => {
      const [id] = await recordIntake(1);
      const at = Date.now() + t.config.maintenance.outboxMinAgeMs + 5_000;
      expect(await sweepOutbox(t.app, at)).to.include({ events: 1 });
      await t.loseQueuedJobs();
      expect(await sweepOutbox(t.app, at + t.config.maintenance.outboxMinAgeMs / 2)).to.include({ events: 0 });
      expect(await sweepOutbox(t.app, at + t.config.maintenance.outboxMinAgeMs)).to.include({ events: 1 });
      expect(await queuedFetchIds()).to.deep.equal([fetchJobId(id)]);
    });

    it('queues the events of a batch job that was removed after it failed', async () => {
      const ids = await recordIntake(3);
      await t.app.queues.enqueueFetchBatch(ids);
      expect(await sweepLater()).to.include({ events: 0, eventsInQueuedBatches: 3 });
      // Failed jobs are removed (removeOnFail): the sweep must not wait for a job that is gone.
      await (await t.app.queues.fetch.getJob(fetchBatchJobId(ids)))!.remove();
      expect(await sweepLater()).to.include({ events: 3, eventsInQueuedBatches: 0 });
      expect((await queuedFetchIds()).sort()).to.deep.equal(ids.map(fetchJobId).sort());
    });
  });
