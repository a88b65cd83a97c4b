// The BullMQ work buffer on each backend (the real Redis, and BullMQ's PostgreSQL backend), and
// the outbox sweep that rebuilds it from the PostgreSQL rows after the buffer lost every job.
import { expect } from 'chai';
import { sweepOutbox } from '../../src/pipeline/maintenance.js';
import { deliverJobId, fetchJobId } from '../../src/pipeline/queues.js';
import * as repo from '../../src/store/repos.js';
import { makeBareLeadRow } from '../helpers/rows.js';
import type { DeliveryStatus, EventStatus } from '../../src/store/schema.js';
import { createTestApp, QUEUE_BACKENDS, type TestApp } from '../helpers/test-app.js';

const HOUR_MS = 3_600_000;

for (const backend of QUEUE_BACKENDS)
  describe(`queues on ${backend}`, function () {
    this.timeout(30_000);
    let t: TestApp;

    before(async () => {
      // OUTBOX_MIN_AGE_MS is 1000 in the test config.
      t = await createTestApp({ backend });
    });
    after(async () => {
      await t?.cleanup();
    });
    beforeEach(async () => {
      await t.loseQueuedJobs();
    });

    const jobIds = async (queue: 'fetch' | 'deliver') =>
      (await t.app.queues[queue].getJobs(['waiting', 'delayed', 'active', 'prioritized'])).map((j) => j.id).sort();

    it('enqueueFetch with the same event ids twice keeps one job each, keyed by the event id, carrying ids only', async () => {
      await t.app.queues.enqueueFetch([11, 12, 13]);
      await t.app.queues.enqueueFetch([12, 13, 14]);
      expect(await jobIds('fetch')).to.deep.equal(['ev-11', 'ev-12', 'ev-13', 'ev-14']);
      const job = await t.app.queues.fetch.getJob(fetchJobId(12));
      expect(job?.data).to.deep.equal({ eventId: 12 });
      expect(await t.app.queues.fetch.count()).to.equal(4);
    });

    it('enqueueDeliveries with the same ids twice keeps one job each; the first one wins', async () => {
      const a = '0b6e4c58-0000-4000-8000-00000000000a';
      const b = '0b6e4c58-0000-4000-8000-00000000000b';
      await t.app.queues.enqueueDeliveries([{ id: a }, { id: b }]);
      await t.app.queues.enqueueDeliveries([{ id: a, delayMs: 60_000 }, { id: b }]);
      expect(await jobIds('deliver')).to.deep.equal([deliverJobId(a), deliverJobId(b)].sort());
      const job = await t.app.queues.deliver.getJob(deliverJobId(a));
      expect(job?.data).to.deep.equal({ deliveryId: a });
      expect(await job!.getState()).to.equal('waiting');
    });

    it('a delivery with a delay waits as a delayed job; a negative delay runs at once', async () => {
      const later = '0b6e4c58-0000-4000-8000-0000000000c1';
      const past = '0b6e4c58-0000-4000-8000-0000000000c2';
      await t.app.queues.enqueueDeliveries([
        { id: later, delayMs: 45_000 },
        { id: past, delayMs: -5_000 },
      ]);
      const delayed = await t.app.queues.deliver.getJob(deliverJobId(later));
      expect(await delayed!.getState()).to.equal('delayed');
      expect(delayed!.opts.delay).to.equal(45_000);
      const now = await t.app.queues.deliver.getJob(deliverJobId(past));
      expect(await now!.getState()).to.equal('waiting');
      expect(await t.app.queues.deliver.getDelayedCount()).to.equal(1);
    });

    it('enqueueing nothing adds nothing', async () => {
      await t.app.queues.enqueueFetch([]);
      await t.app.queues.enqueueDeliveries([]);
      expect(await t.app.queues.fetch.count()).to.equal(0);
      expect(await t.app.queues.deliver.count()).to.equal(0);
    });

    it('ping answers true against a live backend', async () => {
      expect(await t.app.queues.ping()).to.equal(true);
    });

    describe('outbox sweep after the queue backend lost every job', () => {
      const events: Record<string, number> = {};
      const deliveries: Record<string, string> = {};
      let nextAttemptAt: Date;
      // Every row's age is relative to this instant, and the sweeps below are given it as their
      // clock, so the test does not depend on how long it takes to run.
      let setupAt: number;

      async function addEvent(name: string, status: EventStatus, ageMs: number): Promise<void> {
        const [row] = await repo.recordLeadgenEvents(t.app.db, [
          {
            pageId: '600000001',
            leadgenId: `${Date.now()}${Object.keys(events).length}`,
            formId: null,
            adId: null,
            adgroupId: null,
            createdTime: null,
            isTest: false,
          },
        ]);
        await t.app.db
          .updateTable('leadgen_events')
          .set({ status, received_at: new Date(setupAt - ageMs), updated_at: new Date(setupAt - ageMs) })
          .where('id', '=', row.id)
          .execute();
        events[name] = row.id;
      }

      async function addDelivery(
        name: string,
        status: DeliveryStatus,
        ageMs: number,
        next: Date | null,
        workspaceId: string,
        destinationId: string,
        routeId: string,
      ): Promise<void> {
        const lead = await repo.insertLead(t.app.db, makeBareLeadRow(workspaceId, `l-${name}`, '600000001'));
        const [d] = await repo.ensureDeliveries(t.app.db, [{ workspaceId, leadId: lead.id, destinationId, routeId }]);
        await t.app.db
          .updateTable('deliveries')
          .set({ status, next_attempt_at: next, updated_at: new Date(setupAt - ageMs) })
          .where('id', '=', d.id)
          .execute();
        deliveries[name] = d.id;
      }

      before(async () => {
        setupAt = Date.now();
        const ws = await repo.createWorkspace(t.app.db, 'Sweep');
        const dest = await repo.createDestination(t.app.db, {
          workspaceId: ws.id,
          type: 'webhook',
          name: 'hook',
          config: { url: 'http://127.0.0.1:9/x' },
          credentialsEnvelope: null,
        });
        const route = await repo.createRoute(t.app.db, { workspaceId: ws.id, pageId: '600000001', formId: null, destinationId: dest.id });
        await addEvent('openOld', 'received', HOUR_MS);
        await addEvent('openYoung', 'received', 0);
        for (const status of ['fetched', 'unrouted', 'test', 'parked', 'failed'] as const) await addEvent(status, status, HOUR_MS);

        nextAttemptAt = new Date(setupAt + 90_000);
        const d = (name: string, status: DeliveryStatus, ageMs: number, next: Date | null = null) =>
          addDelivery(name, status, ageMs, next, ws.id, dest.id, route.id);
        await d('pendingOld', 'pending', HOUR_MS);
        await d('pendingWaiting', 'pending', HOUR_MS, nextAttemptAt);
        await d('pendingOverdue', 'pending', HOUR_MS, new Date(setupAt - 60_000));
        await d('pendingYoung', 'pending', 0);
        await d('delivered', 'delivered', HOUR_MS);
        await d('dead', 'dead', HOUR_MS);
        await d('parked', 'parked', HOUR_MS);
      });

      it('re-queues exactly the open events and the pending deliveries older than the minimum age', async () => {
        // Everything queued before is lost with the prefix's keys.
        await t.app.queues.enqueueFetch(Object.values(events));
        await t.app.queues.enqueueDeliveries(Object.values(deliveries).map((id) => ({ id })));
        expect(await t.loseQueuedJobs()).to.be.greaterThan(0);
        expect(await t.app.queues.fetch.count()).to.equal(0);

        const result = await sweepOutbox(t.app, setupAt);
        expect(result).to.deep.equal({ events: 1, eventsInQueuedBatches: 0, deliveries: 2 });
        expect(await jobIds('fetch')).to.deep.equal([fetchJobId(events.openOld)]);
        expect(await jobIds('deliver')).to.deep.equal([deliveries.pendingOld, deliveries.pendingOverdue].map(deliverJobId).sort());
      });

      it('leaves a delivery waiting for its next attempt until it is due, and runs overdue and unscheduled deliveries at once', async () => {
        await sweepOutbox(t.app, setupAt);
        expect(await t.app.queues.deliver.getJob(deliverJobId(deliveries.pendingWaiting))).to.equal(undefined);
        await sweepOutbox(t.app, nextAttemptAt.getTime() + 1);
        const due = await t.app.queues.deliver.getJob(deliverJobId(deliveries.pendingWaiting));
        expect(await due!.getState(), 'queued once due').to.equal('waiting');
        await due!.remove();
        for (const name of ['pendingOld', 'pendingOverdue']) {
          const job = await t.app.queues.deliver.getJob(deliverJobId(deliveries[name]));
          expect(await job!.getState(), name).to.equal('waiting');
          expect(job!.opts.delay ?? 0, name).to.equal(0);
        }
      });

      it('sweeping again queues nothing twice', async () => {
        // The sweeps above, at later clocks, put a wait on the events they queued.
        await t.app.db.updateTable('leadgen_events').set({ next_attempt_at: null }).execute();
        await sweepOutbox(t.app, setupAt);
        await sweepOutbox(t.app, setupAt);
        expect(await t.app.queues.fetch.count()).to.equal(1);
        expect(await t.app.queues.deliver.count()).to.equal(2);
      });

      it('the minimum age is measured from the given clock: a later sweep takes the young rows too', async () => {
        const result = await sweepOutbox(t.app, setupAt + t.config.maintenance.outboxMinAgeMs + 5_000);
        expect(result).to.deep.equal({ events: 2, eventsInQueuedBatches: 0, deliveries: 3 });
        expect(await jobIds('fetch')).to.deep.equal([events.openOld, events.openYoung].map(fetchJobId).sort());
        const queued = await jobIds('deliver');
        expect(queued).to.include(deliverJobId(deliveries.pendingYoung));
        for (const name of ['delivered', 'dead', 'parked']) expect(queued, name).to.not.include(deliverJobId(deliveries[name]));
      });

      it('a pending delivery whose row was touched recently waits for the next sweep', async () => {
        // The sweep's cutoff is on updated_at: a row just written (a retry scheduled, a rate-limit
        // recorded) has its job in flight, so the sweep leaves it alone.
        await t.app.db
          .updateTable('deliveries')
          .set({ updated_at: new Date(setupAt) })
          .where('id', '=', deliveries.pendingOld)
          .execute();
        const result = await sweepOutbox(t.app, setupAt);
        expect(result.deliveries).to.equal(1);
        const queued = await jobIds('deliver');
        expect(queued).to.not.include(deliverJobId(deliveries.pendingOld));
        expect(queued).to.include(deliverJobId(deliveries.pendingOverdue));
      });
    });
  });
