// A worker sends the deliveries of a lead it has just fetched itself, stored claimed by it, when
// one of its DELIVER_CONCURRENCY places is free, or after waiting in its line for one (sixteen per
// place); when the line is full, the fetch waits up to 1 s for room, and beyond that its lead gets
// a delivery job as before. A
// claimed delivery its process never sent (a crash) goes out once, after its claim lapses. Real
// BullMQ workers on each queue backend, the loopback fake Graph API and a webhook receiver.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { sweepOutbox } from '../../src/pipeline/maintenance.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import { deliverJobId } from '../../src/pipeline/queues.js';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/workers.js';
import * as repo from '../../src/store/repos.js';
import type { Destination, Route } from '../../src/store/schema.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { TEST_APP_SECRET, waitUntil } from '../helpers/e2e.js';
import { makeBareLeadRow } from '../helpers/rows.js';
import { createTestApp, QUEUE_BACKENDS, type TestApp } from '../helpers/test-app.js';

const FORM = '860000001';
const PAGE_TOKEN = 'EAAB-direct-delivery-token';
let nextPage = 861_000_000;
let nextLeadgen = 8_620_000_000_000_000_000n;

for (const backend of QUEUE_BACKENDS)
  describe(`deliveries sent by the worker that fetched their lead, on ${backend}`, function () {
    // Waits are bounded at 20 s: far more than they take, so only a thing that never happens runs into them.
    this.timeout(60_000);
    let t: TestApp;
    let graph: FakeGraph;
    let receiver: FakeReceiver;
    let workers: RunningWorkers | undefined;
    let workspaceId: string;
    let destination: Destination;
    let route: Route;
    let pageId: string;

    before(async () => {
      graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
      receiver = await startFakeReceiver();
      // One delivery place: a second lead finds it taken while the first is at the receiver (held
      // there up to 5 s, inside the delivery timeout).
      t = await createTestApp({
        backend,
        env: { META_GRAPH_URL: graph.url, DELIVER_CONCURRENCY: '1', WORKER_LOCK_DURATION_MS: '1000', DELIVERY_TIMEOUT_MS: '10000' },
      });
      workspaceId = (await repo.createWorkspace(t.app.db, 'Direct')).id;
      pageId = String(nextPage++);
      graph.addForm({ id: FORM, page_id: pageId, name: 'Direct form' });
      graph.setPageToken(pageId, PAGE_TOKEN);
      await repo.upsertPage(t.app.db, { workspaceId, pageId, name: 'Direct Page', tokenEnvelope: t.app.keyRing.encrypt(PAGE_TOKEN, pageTokenAad(pageId)) });
      destination = await repo.createDestination(t.app.db, {
        workspaceId,
        type: 'webhook',
        name: 'hook',
        config: { url: receiver.url },
        credentialsEnvelope: null,
      });
      route = await repo.createRoute(t.app.db, { workspaceId, pageId, formId: null, destinationId: destination.id });
    });
    beforeEach(async () => {
      // Delivery jobs wait until a test lets them run: only a direct send delivers meanwhile.
      await t.app.queues.deliver.pause();
      workers = startWorkers(t.app);
    });
    afterEach(async () => {
      await t.app.queues.deliver.resume();
      await workers?.close();
    });
    after(async () => {
      await t?.cleanup();
      await receiver?.close();
      await graph?.close();
    });

    /** A new lead at the fake Graph and its webhook event, queued for fetching; returns its leadgen id. */
    async function sendLead(): Promise<string> {
      const { leadgenId, eventId } = await recordLead();
      await t.app.queues.enqueueFetch([eventId]);
      return leadgenId;
    }
    /** A new lead at the fake Graph and its webhook event, recorded but not queued. */
    async function recordLead(): Promise<{ leadgenId: string; eventId: number }> {
      const leadgenId = String(nextLeadgen++);
      graph.addLead({ id: leadgenId, form_id: FORM, page_id: pageId, field_data: [{ name: 'email', values: [`d${leadgenId}@example.com`] }] });
      const [event] = await repo.recordLeadgenEvents(t.app.db, [
        { pageId, leadgenId, formId: FORM, adId: null, adgroupId: null, createdTime: null, isTest: false },
      ]);
      return { leadgenId, eventId: event.id };
    }
    const deliveryOf = (leadgenId: string) =>
      waitUntil(
        () =>
          t.app.db
            .selectFrom('deliveries')
            .innerJoin('leads', 'leads.id', 'deliveries.lead_id')
            .selectAll('deliveries')
            .where('leads.leadgen_id', '=', leadgenId)
            .executeTakeFirst(),
        20_000,
        `delivery of ${leadgenId}`,
      );
    const requestsFor = (leadgenId: string) => receiver.arrived.filter((r) => r.body?.leadgen_id === leadgenId);
    const deliveredRow = (id: string) =>
      waitUntil(
        async () => ((await repo.findDelivery(t.app.db, id))?.status === 'delivered' ? repo.findDelivery(t.app.db, id) : undefined),
        20_000,
        'delivered',
      );

    it('delivers a lead it has just fetched with the delivery queue paused, leaving no delivery job and no claim', async () => {
      const leadgenId = await sendLead();
      const delivery = await deliveryOf(leadgenId);
      const done = await deliveredRow(delivery.id);
      expect(done).to.include({ attempts: 1, claimed_by: null, claimed_until: null });
      expect(requestsFor(leadgenId).map((r) => r.headers['idempotency-key'])).to.deep.equal([delivery.id]);
      expect(await t.app.queues.deliver.getJob(deliverJobId(delivery.id))).to.equal(undefined);
      expect(await repo.listAttempts(t.app.db, delivery.id)).to.have.length(1);
    });

    it('fetches events handed to it without a fetch job, answering once they are stored, and refuses them once closing', async () => {
      const running = workers as RunningWorkers;
      // With the fetch queue paused, a fetch job would wait: only the hand-over fetches.
      await t.app.queues.fetch.pause();
      try {
        const { leadgenId, eventId } = await recordLead();
        expect(await running.fetchEvents([eventId])).to.equal(true);
        expect((await repo.findEvent(t.app.db, eventId))?.status).to.equal('fetched');
        await deliveredRow((await deliveryOf(leadgenId)).id);
        expect(await t.app.queues.fetch.getJobCounts('waiting', 'active', 'delayed')).to.deep.equal({ waiting: 0, active: 0, delayed: 0 });
        workers = undefined;
        await running.close();
        const late = await recordLead();
        expect(await running.fetchEvents([late.eventId])).to.equal(false);
        expect((await repo.findEvent(t.app.db, late.eventId))?.status).to.equal('received');
      } finally {
        await t.app.queues.fetch.resume();
      }
    });

    it('keeps a lead waiting in its own line when every place is taken, and queues a job only beyond the line', async () => {
      // The first lead's send holds the only place for 5 s at the receiver; the line holds 16 (one place × 16).
      receiver.respondWith([{ status: 200, body: '{"ok":true}', headers: { 'content-type': 'application/json' }, delayMs: 5_000 }]);
      const first = await sendLead();
      await receiver.waitFor(() => requestsFor(first).length === 1, 20_000);
      // Seventeen leads fetched together while the place is taken: sixteen wait in the line; the
      // fetch of the seventeenth waits 1 s for room in vain, then its lead gets a job.
      const later = await Promise.all(Array.from({ length: 17 }, () => recordLead()));
      expect(await (workers as RunningWorkers).fetchEvents(later.map((l) => l.eventId))).to.equal(true);
      expect(receiver.received.filter((r) => r.body?.leadgen_id === first)).to.have.length(0, 'the first send still holds the place');
      const rows = await Promise.all(later.map((l) => deliveryOf(l.leadgenId)));
      const queued = rows.filter((r) => r.claimed_by === null);
      expect(queued, 'deliveries stored unclaimed (for a job)').to.have.length(1);
      const job = await waitUntil(() => t.app.queues.deliver.getJob(deliverJobId(queued[0].id)), 20_000, 'delivery job');
      expect(job.data).to.deep.equal({ deliveryId: queued[0].id });

      // The line is sent as the place frees, with the delivery queue still paused.
      const inLine = rows.filter((r) => r.claimed_by !== null);
      for (const r of inLine) expect(await deliveredRow(r.id)).to.include({ attempts: 1, claimed_by: null });
      for (const r of inLine) expect(await t.app.queues.deliver.getJob(deliverJobId(r.id))).to.equal(undefined);
      expect(requestsFor(later[rows.indexOf(queued[0])].leadgenId)).to.have.length(0);

      await t.app.queues.deliver.resume();
      expect(await deliveredRow(queued[0].id)).to.include({ attempts: 1 });
      for (const l of [first, ...later.map((x) => x.leadgenId)]) expect(requestsFor(l), l).to.have.length(1);
    });

    it('holds a fetch whose lead finds the line full until the line moves, instead of queueing a job', async () => {
      // The only place is taken for 0.5 s; 24 leads fetched together meanwhile: 16 fill the line,
      // 8 wait for room (up to 1 s), which the line makes as the place frees.
      receiver.respondWith([{ status: 200, body: '{"ok":true}', headers: { 'content-type': 'application/json' }, delayMs: 500 }]);
      const first = await sendLead();
      await receiver.waitFor(() => requestsFor(first).length === 1, 20_000);
      const later = await Promise.all(Array.from({ length: 24 }, () => recordLead()));
      expect(await (workers as RunningWorkers).fetchEvents(later.map((l) => l.eventId))).to.equal(true);

      const rows = await Promise.all(later.map((l) => deliveryOf(l.leadgenId)));
      for (const r of rows) expect(await deliveredRow(r.id)).to.include({ attempts: 1, claimed_by: null });
      for (const r of rows) expect(await t.app.queues.deliver.getJob(deliverJobId(r.id)), 'no delivery job').to.equal(undefined);
      for (const l of [first, ...later.map((x) => x.leadgenId)]) expect(requestsFor(l), l).to.have.length(1);
    });

    it('leaves a lead that waited in the line past its claim to the run that took it over', async () => {
      // The place is taken for 5 s: longer than a third of the 10 s claim, so the waiting lead renews its claim first.
      receiver.respondWith([{ status: 200, body: '{"ok":true}', headers: { 'content-type': 'application/json' }, delayMs: 5_000 }]);
      const first = await sendLead();
      await receiver.waitFor(() => requestsFor(first).length === 1, 20_000);
      const [taken, behind] = await Promise.all([recordLead(), recordLead()]);
      expect(await (workers as RunningWorkers).fetchEvents([taken.eventId])).to.equal(true);
      expect(await (workers as RunningWorkers).fetchEvents([behind.eventId])).to.equal(true);
      const takenRow = await deliveryOf(taken.leadgenId);
      expect(takenRow.claimed_by).to.be.a('string');
      // What a lapsed claim leads to: another run claims the delivery and owns its send.
      const other = randomUUID();
      await t.app.db
        .updateTable('deliveries')
        .set({ claimed_by: other, claimed_until: new Date(Date.now() + 60_000) })
        .where('id', '=', takenRow.id)
        .execute();

      // The lead behind it in the line is sent after its turn passed.
      await deliveredRow((await deliveryOf(behind.leadgenId)).id);
      expect(requestsFor(taken.leadgenId)).to.have.length(0);
      expect(await repo.findDelivery(t.app.db, takenRow.id)).to.include({ status: 'pending', claimed_by: other });
    });

    it('sends a delivery stored claimed by a process that died once, after its claim lapses', async () => {
      await workers?.close();
      workers = undefined;
      // What a worker killed right after storing a lead leaves: the delivery pending, claimed by it.
      const leadgenId = String(nextLeadgen++);
      const lead = await repo.insertLead(t.app.db, makeBareLeadRow(workspaceId, leadgenId, pageId));
      const claimedUntil = new Date(Date.now() + 1_500);
      const [stored] = await t.app.db
        .insertInto('deliveries')
        .values({
          workspace_id: workspaceId,
          lead_id: lead.id,
          destination_id: destination.id,
          route_id: route.id,
          claimed_by: randomUUID(),
          claimed_until: claimedUntil,
        })
        .returningAll()
        .execute();
      // Stored long enough ago for the outbox sweep; while the claim holds, the sweep leaves it alone.
      await t.app.db
        .updateTable('deliveries')
        .set({ updated_at: new Date(Date.now() - t.config.maintenance.outboxMinAgeMs - 5_000) })
        .where('id', '=', stored.id)
        .execute();
      const sweep = () => sweepOutbox(t.app);
      expect((await sweep()).deliveries).to.equal(0);

      await t.app.queues.deliver.resume();
      workers = startWorkers(t.app);
      await waitUntil(async () => Date.now() > claimedUntil.getTime() && (await sweep()).deliveries === 1, 20_000, 'swept after the claim lapsed');
      expect(await deliveredRow(stored.id)).to.include({ attempts: 1, claimed_by: null });
      expect(requestsFor(leadgenId)).to.have.length(1);
    });
  });
