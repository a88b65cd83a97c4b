// The work role's BullMQ workers (startWorkers) on the real PostgreSQL and Redis, against a
// loopback fake of the Graph API and loopback webhook receivers: how each failure kind of a
// destination turns into queue behaviour and delivery rows.
import { expect } from 'chai';
import { graphLeadSchema } from '../../src/meta/graph-types.js';
import { leadRowFromGraph, pageTokenAad } from '../../src/pipeline/lead-record.js';
import { deliverJobId, fetchJobId } from '../../src/pipeline/queues.js';
import { replayDeadDeliveries, replayLead, replayUnrouted, resumeDestination } from '../../src/pipeline/replay.js';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/workers.js';
import * as repo from '../../src/store/repos.js';
import { deleteRouteAndStopItsDeliveries } from '../../src/store/disconnects.js';
import type { Delivery, Destination, Route } from '../../src/store/schema.js';
import { graphFailures, startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { TEST_APP_SECRET, waitUntil } from '../helpers/e2e.js';
import { createTestApp, QUEUE_BACKENDS, type TestApp } from '../helpers/test-app.js';

const FORM = '810000001';
const PAGE_TOKEN = 'EAAB-workers-page-token';
const MAX_ATTEMPTS = 3; // DELIVERY_MAX_ATTEMPTS below

let nextPage = 820_000_000;
let nextLeadgen = 8_300_000_000_000_000_000n;
const newLeadgenId = () => String(nextLeadgen++);

interface Scenario {
  pageId: string;
  receivers: FakeReceiver[];
  destinations: Destination[];
  routes: Route[];
}

for (const backend of QUEUE_BACKENDS)
  describe(`workers on ${backend}: delivery outcomes through real BullMQ workers`, function () {
    // Waits below are bounded at 20 s: far more than they take, so only a thing that never happens runs into them.
    this.timeout(60_000);
    let t: TestApp;
    let graph: FakeGraph;
    let workers: RunningWorkers;
    let workspaceId: string;
    const receivers: FakeReceiver[] = [];

    before(async () => {
      graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
      t = await createTestApp({
        backend,
        env: {
          META_GRAPH_URL: graph.url,
          DELIVERY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
          DELIVERY_BACKOFF_BASE_MS: '20',
          DELIVERY_BACKOFF_MAX_MS: '80',
          FETCH_BACKOFF_BASE_MS: '20',
        },
      });
      workspaceId = (await repo.createWorkspace(t.app.db, 'Workers')).id;
      workers = startWorkers(t.app);
    });
    after(async () => {
      await workers?.close();
      await t?.cleanup();
      await Promise.all(receivers.map((r) => r.close()));
      await graph?.close();
    });

    /** A page of its own with one webhook destination (and receiver) per `count`, each routed from the page. */
    async function createScenario(count: number): Promise<Scenario> {
      const pageId = String(nextPage++);
      const s: Scenario = { pageId, receivers: [], destinations: [], routes: [] };
      for (let i = 0; i < count; i++) {
        const receiver = await startFakeReceiver();
        receivers.push(receiver);
        const dest = await repo.createDestination(t.app.db, {
          workspaceId,
          type: 'webhook',
          name: `hook ${pageId}-${i}`,
          config: { url: receiver.url },
          credentialsEnvelope: null,
        });
        const route = await repo.createRoute(t.app.db, { workspaceId, pageId, formId: null, destinationId: dest.id });
        s.receivers.push(receiver);
        s.destinations.push(dest);
        s.routes.push(route);
      }
      return s;
    }

    /** Stores a lead of the scenario's page (answers encrypted) with deliveries to the chosen destinations, and queues them. */
    async function createLead(s: Scenario, destinationIndexes: number[] = [0], opts: { isErased?: boolean; formId?: string } = {}) {
      const leadgenId = newLeadgenId();
      const graphLead = graphLeadSchema.parse({
        id: leadgenId,
        created_time: '2026-11-20T10:15:00+0000',
        form_id: opts.formId ?? FORM,
        field_data: [{ name: 'email', values: [`lead${leadgenId}@example.com`] }],
        platform: 'fb',
        is_organic: true,
      });
      const row = leadRowFromGraph(
        t.app.keyRing,
        { workspaceId, eventId: 0, pageId: s.pageId, pageName: null, formName: 'Form', receivedAt: new Date(), isTest: false },
        graphLead,
      );
      const lead = await repo.insertLead(t.app.db, {
        ...row,
        event_id: null,
        ...(opts.isErased ? { erased_at: new Date(), answers_envelope: null } : {}),
      });
      const deliveries = await repo.ensureDeliveries(
        t.app.db,
        destinationIndexes.map((i) => ({ workspaceId, leadId: lead.id, destinationId: s.destinations[i].id, routeId: s.routes[i].id })),
      );
      const byIndex = destinationIndexes.map((i) => deliveries.find((d) => d.destination_id === s.destinations[i].id)!);
      await t.app.queues.enqueueDeliveries(byIndex.map((d) => ({ id: d.id })));
      return { lead, leadgenId, deliveries: byIndex };
    }

    const deliveryRow = async (id: string) => (await repo.findDelivery(t.app.db, id))!;
    const destinationRow = async (id: string) => (await repo.findDestination(t.app.db, id))!;
    const attemptsOf = (id: string) => repo.listAttempts(t.app.db, id);
    const waitForStatus = (id: string, status: Delivery['status'], timeoutMs = 20_000) =>
      waitUntil(
        async () => {
          const d = await deliveryRow(id);
          return d.status === status ? d : undefined;
        },
        timeoutMs,
        `delivery ${status}`,
      );
    const jobState = async (deliveryId: string) => (await t.app.queues.deliver.getJob(deliverJobId(deliveryId)))?.getState();
    const requestsFor = (r: FakeReceiver, leadgenId: string) => r.received.filter((x) => x.body?.leadgen_id === leadgenId);

    it('fetches a lead from the fake Graph and delivers it once', async () => {
      const s = await createScenario(1);
      const leadgenId = newLeadgenId();
      graph.addForm({ id: FORM, page_id: s.pageId, name: 'Workers form' });
      graph.setPageToken(s.pageId, PAGE_TOKEN, 'Worker Page');
      graph.addLead({
        id: leadgenId,
        form_id: FORM,
        page_id: s.pageId,
        field_data: [{ name: 'email', values: ['ada@example.com'] }],
        platform: 'ig',
        is_organic: true,
      });
      await repo.upsertPage(t.app.db, {
        workspaceId,
        pageId: s.pageId,
        name: 'Worker Page',
        tokenEnvelope: t.app.keyRing.encrypt(PAGE_TOKEN, pageTokenAad(s.pageId)),
      });
      const [event] = await repo.recordLeadgenEvents(t.app.db, [
        { pageId: s.pageId, leadgenId, formId: FORM, adId: null, adgroupId: null, createdTime: null, isTest: false },
      ]);
      await t.app.queues.enqueueFetch([event.id]);

      await s.receivers[0].waitFor((r) => requestsFor(r, leadgenId).length === 1, 20_000);
      const lead = await t.app.db.selectFrom('leads').selectAll().where('leadgen_id', '=', leadgenId).executeTakeFirstOrThrow();
      const [delivery] = await repo.listDeliveriesOfLead(t.app.db, lead.id);
      const done = await waitForStatus(delivery.id, 'delivered');
      expect(done.attempts).to.equal(1);
      expect(done.external_id).to.equal(delivery.id);
      expect((await repo.findEvent(t.app.db, event.id))?.status).to.equal('fetched');
      // Delivered is final: the one request the receiver answered is all there is.
      expect(requestsFor(s.receivers[0], leadgenId).map((r) => r.status)).to.deep.equal([200]);
      const [request] = requestsFor(s.receivers[0], leadgenId);
      expect(request.body.form.name).to.equal('Workers form');
      expect(request.body.answers).to.deep.equal([{ key: 'email', values: ['ada@example.com'] }]);
      expect(request.headers['idempotency-key']).to.equal(delivery.id);
      expect(graph.calls.filter((c) => c.path === `/${graph.version}/${leadgenId}`)).to.have.length(1);
      // The fetch job is removed on completion, so a later replay can reuse its id.
      await waitUntil(async () => (await t.app.queues.fetch.getJob(fetchJobId(event.id))) === undefined, 20_000, 'fetch job removed');
    });

    it('an intake batch job fetches each of its events; a throttled one continues as its own delayed job', async () => {
      const s = await createScenario(1);
      const token = `${PAGE_TOKEN}-batch-${s.pageId}`;
      graph.addForm({ id: FORM, page_id: s.pageId, name: 'Workers form' });
      graph.setPageToken(s.pageId, token);
      await repo.upsertPage(t.app.db, { workspaceId, pageId: s.pageId, name: null, tokenEnvelope: t.app.keyRing.encrypt(token, pageTokenAad(s.pageId)) });
      const ids = [newLeadgenId(), newLeadgenId(), newLeadgenId()];
      for (const id of ids) graph.addLead({ id, form_id: FORM, page_id: s.pageId, field_data: [{ name: 'email', values: [`b${id}@example.com`] }] });
      // Meta's LeadGen throttle (80005) for the second lead: wait, don't retry at once.
      graph.failNext(ids[1], [
        {
          status: 400,
          body: { error: { message: 'throttled', type: 'OAuthException', code: 80005, fbtrace_id: 'Ft' } },
          headers: {
            'x-business-use-case-usage': JSON.stringify({
              [s.pageId]: [{ type: 'leadgen', call_count: 100, total_cputime: 1, total_time: 1, estimated_time_to_regain_access: 1 }],
            }),
          },
        },
      ]);
      const events = await repo.recordLeadgenEvents(
        t.app.db,
        ids.map((leadgenId) => ({ pageId: s.pageId, leadgenId, formId: FORM, adId: null, adgroupId: null, createdTime: null, isTest: false })),
      );
      const eventIds = events.map((e) => e.id).sort((a, b) => a - b);
      await t.app.queues.enqueueFetchBatch(eventIds);

      await s.receivers[0].waitFor((r) => requestsFor(r, ids[0]).length === 1 && requestsFor(r, ids[2]).length === 1, 20_000);
      const throttled = events.find((e) => e.leadgen_id === ids[1])!;
      const job = await waitUntil(async () => t.app.queues.fetch.getJob(fetchJobId(throttled.id)), 20_000, 'the throttled event as its own job');
      expect(await job.isDelayed(), 'it waits the minute Meta asked for').to.equal(true);
      expect((await repo.findEvent(t.app.db, throttled.id))?.status).to.equal('received');
      expect(requestsFor(s.receivers[0], ids[1])).to.have.length(0);
    });

    it('120 events of one page are read in 3 Graph batches and each lead is delivered once; two leads whose item failed are read again alone, holding back no other', async () => {
      const s = await createScenario(1);
      const token = `${PAGE_TOKEN}-graph-batch-${s.pageId}`;
      graph.addForm({ id: FORM, page_id: s.pageId, name: 'Workers form' });
      graph.setPageToken(s.pageId, token);
      await repo.upsertPage(t.app.db, { workspaceId, pageId: s.pageId, name: null, tokenEnvelope: t.app.keyRing.encrypt(token, pageTokenAad(s.pageId)) });
      const ids = Array.from({ length: 120 }, () => newLeadgenId());
      for (const id of ids) graph.addLead({ id, form_id: FORM, page_id: s.pageId, field_data: [{ name: 'email', values: [`g${id}@example.com`] }] });
      // Inside the batches: one request times out (a null answer), one lead is "not found" once.
      // The test app's Graph client does not retry (META_GRAPH_RETRIES=0): each continues as its
      // own job after the fetch backoff, as a failed single read does.
      const [timedOut, notFound] = [ids[10], ids[70]];
      graph.failNext(timedOut, [graphFailures.timedOut()]);
      graph.failNext(notFound, [graphFailures.notFound(notFound)]);
      const events = await repo.recordLeadgenEvents(
        t.app.db,
        ids.map((leadgenId) => ({ pageId: s.pageId, leadgenId, formId: FORM, adId: null, adgroupId: null, createdTime: null, isTest: false })),
      );
      const callsBefore = graph.calls.length;
      await t.app.queues.enqueueFetchBatch(events.map((e) => e.id));

      const others = ids.filter((id) => id !== notFound);
      await s.receivers[0].waitFor((r) => others.every((id) => requestsFor(r, id).length > 0), 20_000);
      await s.receivers[0].waitFor((r) => requestsFor(r, notFound).length > 0, 20_000);
      for (const id of ids)
        expect(
          requestsFor(s.receivers[0], id).map((r) => r.status),
          `lead ${id}`,
        ).to.deep.equal([200]);
      for (const id of [timedOut, notFound]) {
        const event = await repo.findEvent(t.app.db, events.find((e) => e.leadgen_id === id)!.id);
        expect(event?.attempts, `the failed read of ${id} cost one attempt`).to.equal(1);
      }

      const calls = graph.calls.slice(callsBefore);
      const httpCalls = calls.filter((c) => !c.isInBatch);
      const batches = httpCalls.filter((c) => c.method === 'POST' && c.path === `/${graph.version}/`);
      const batchSizes = batches.map((c) => (JSON.parse(c.query.batch) as unknown[]).length).sort((a, b) => b - a);
      expect(batchSizes, 'three batches of at most 50').to.deep.equal([50, 50, 20]);
      // Besides the batches: the two failed leads read again alone, and the form's metadata at most once.
      expect(httpCalls.length, 'Graph HTTP calls').to.be.at.most(3 + 3);
      for (const id of [timedOut, notFound])
        expect(
          httpCalls.filter((c) => c.path === `/${graph.version}/${id}`),
          `lead ${id} alone`,
        ).to.have.length(1);
      // Every lead was asked for once in the batches, the two that failed once more.
      const reads = calls.filter((c) => c.method === 'GET' && ids.some((id) => c.path === `/${graph.version}/${id}`));
      expect(reads).to.have.length(122);
    });

    it('a fetched lead that no route takes is kept as unrouted, with the reason, and nothing is delivered', async () => {
      const s = await createScenario(0);
      const leadgenId = newLeadgenId();
      graph.setPageToken(s.pageId, `${PAGE_TOKEN}-${s.pageId}`);
      graph.addLead({ id: leadgenId, form_id: FORM, page_id: s.pageId, field_data: [{ name: 'email', values: ['nobody@example.com'] }] });
      await repo.upsertPage(t.app.db, {
        workspaceId,
        pageId: s.pageId,
        name: null,
        tokenEnvelope: t.app.keyRing.encrypt(`${PAGE_TOKEN}-${s.pageId}`, pageTokenAad(s.pageId)),
      });
      const [event] = await repo.recordLeadgenEvents(t.app.db, [
        { pageId: s.pageId, leadgenId, formId: FORM, adId: null, adgroupId: null, createdTime: null, isTest: false },
      ]);
      await t.app.queues.enqueueFetch([event.id]);
      const lead = await waitUntil(
        async () => t.app.db.selectFrom('leads').selectAll().where('leadgen_id', '=', leadgenId).executeTakeFirst(),
        20_000,
        'stored lead',
      );
      expect(lead.status).to.equal('unrouted');
      expect(lead.status_reason).to.equal(`no route for page ${s.pageId} form ${FORM}`);
      expect((await repo.findEvent(t.app.db, event.id))?.status).to.equal('fetched');
      expect(await repo.listDeliveriesOfLead(t.app.db, lead.id)).to.deep.equal([]);
    });

    it('replayUnrouted delivers an unrouted lead once a route takes it', async () => {
      const s = await createScenario(0);
      const formId = '819999999';
      const { lead, leadgenId } = await createLead(s, [], { formId });
      await repo.setLeadStatus(t.app.db, lead.id, 'unrouted', `no route for page ${s.pageId} form ${formId}`);
      const receiver = await startFakeReceiver();
      receivers.push(receiver);
      const dest = await repo.createDestination(t.app.db, {
        workspaceId,
        type: 'webhook',
        name: 'late hook',
        config: { url: receiver.url },
        credentialsEnvelope: null,
      });
      await repo.createRoute(t.app.db, { workspaceId, pageId: s.pageId, formId: null, destinationId: dest.id });

      const results = await replayUnrouted(t.app, workspaceId, formId);
      expect(results).to.deep.equal([{ leadId: lead.id, queued: 1, unrouted: false, reason: null }]);
      const [delivery] = await repo.listDeliveriesOfLead(t.app.db, lead.id);
      await waitForStatus(delivery.id, 'delivered');
      expect(requestsFor(receiver, leadgenId)).to.have.length(1);
      expect((await repo.findLead(t.app.db, lead.id))?.status).to.equal('routed');
    });

    it('a rate-limited destination waits without using an attempt, and only it waits', async () => {
      const s = await createScenario(2);
      const [slow, other] = s.receivers;
      slow.respondWith([{ status: 429, headers: { 'retry-after': '30', 'content-type': 'application/json' }, body: '{"message":"slow down"}' }]);
      const first = await createLead(s, [0]);
      const dFirst = first.deliveries[0];
      // The delivery row is the last thing the rate-limit path writes (after its attempt and the destination's wait).
      const row = await waitUntil(
        async () => {
          const d = await deliveryRow(dFirst.id);
          return d.last_error_kind ? d : undefined;
        },
        20_000,
        'the rate-limited delivery',
      );
      expect(row.status).to.equal('pending');
      expect(row.attempts, 'a rate-limit wait does not use an attempt').to.equal(0);
      expect(row.last_error_kind).to.equal('rate_limited');
      expect(row.last_error_reason).to.equal('status_code_429');
      expect(row.last_error_message).to.equal('slow down');
      const attempts = await attemptsOf(dFirst.id);
      expect(attempts.map((a) => [a.outcome, a.attempt, a.http_status])).to.deep.equal([['rate_limited', 1, 429]]);
      // Retry-After: 30, counted from the attempt (not from when this test looked).
      const waitsUntil = new Date(row.next_attempt_at!).getTime();
      expect(waitsUntil).to.be.at.least(new Date(attempts[0].started_at).getTime() + 30_000);
      const dest = await destinationRow(s.destinations[0].id);
      expect(new Date(dest.rate_limited_until!).getTime()).to.equal(waitsUntil);
      await waitUntil(async () => (await jobState(dFirst.id)) === 'delayed', 20_000, 'delayed job');
      const job = await t.app.queues.deliver.getJob(deliverJobId(dFirst.id));
      expect(job!.attemptsMade, 'the job itself did not fail').to.equal(0);

      // Meanwhile another lead for both destinations: the other destination delivers at once,
      // the throttled one is not even asked.
      const second = await createLead(s, [0, 1]);
      const [dSlow, dOther] = second.deliveries;
      await waitForStatus(dOther.id, 'delivered');
      expect(requestsFor(other, second.leadgenId)).to.have.length(1);
      // The worker considered the throttled destination's delivery and put it off: its job is delayed.
      await waitUntil(async () => (await jobState(dSlow.id)) === 'delayed', 20_000, 'second delivery delayed');
      expect(slow.received).to.have.length(1);
      expect((await deliveryRow(dSlow.id)).attempts).to.equal(0);
      expect(await attemptsOf(dSlow.id)).to.deep.equal([]);
      expect((await destinationRow(s.destinations[1].id)).rate_limited_until).to.equal(null);
    });

    it('after the rate-limit wait the delivery goes through, still on its first attempt', async () => {
      const s = await createScenario(1);
      s.receivers[0].respondWith([{ status: 429, headers: { 'retry-after': '1' } }]);
      const { deliveries, leadgenId } = await createLead(s);
      const done = await waitForStatus(deliveries[0].id, 'delivered');
      expect(done.attempts).to.equal(1);
      // An attempt row is written before (or with) the status it leads to: all are visible now.
      expect((await attemptsOf(done.id)).map((a) => [a.outcome, a.attempt])).to.deep.equal([
        ['rate_limited', 1],
        ['delivered', 1],
      ]);
      expect(requestsFor(s.receivers[0], leadgenId).map((r) => r.status)).to.deep.equal([429, 200]);
    });

    it(`retryable failures use an attempt each and stop at DELIVERY_MAX_ATTEMPTS (${MAX_ATTEMPTS}) as dead; replayLead re-queues the dead delivery`, async () => {
      const s = await createScenario(1);
      const receiver = s.receivers[0];
      receiver.respondWith(Array.from({ length: MAX_ATTEMPTS }, () => ({ status: 500, body: 'upstream broke' })));
      const { lead, leadgenId, deliveries } = await createLead(s);
      const dead = await waitForStatus(deliveries[0].id, 'dead');
      expect(dead.attempts).to.equal(MAX_ATTEMPTS);
      expect(dead.last_error_kind).to.equal('retryable');
      expect(dead.last_error_reason).to.equal('status_code_500');
      expect((await attemptsOf(dead.id)).map((a) => [a.outcome, a.attempt])).to.deep.equal([
        ['retry', 1],
        ['retry', 2],
        ['dead', 3],
      ]);
      expect(requestsFor(receiver, leadgenId)).to.have.length(MAX_ATTEMPTS);

      const replay = await replayLead(t.app, lead.id);
      expect(replay).to.deep.equal({ leadId: lead.id, queued: 1, unrouted: false, reason: null });
      const delivered = await waitForStatus(dead.id, 'delivered');
      expect(delivered.attempts).to.equal(1);
      expect(requestsFor(receiver, leadgenId).map((r) => r.status)).to.deep.equal([500, 500, 500, 200]);
      // One delivery per lead × destination, replay or not.
      expect(await repo.listDeliveriesOfLead(t.app.db, lead.id)).to.have.length(1);
    });

    it('an auth failure parks the delivery and the destination; a later delivery to it is parked without a request', async () => {
      const s = await createScenario(1);
      const receiver = s.receivers[0];
      receiver.respondWith([{ status: 401, body: '{"error":"bad credentials"}' }]);
      const first = await createLead(s);
      const parked = await waitForStatus(first.deliveries[0].id, 'parked');
      expect(parked.last_error_kind).to.equal('auth');
      expect(parked.last_error_reason).to.equal('status_code_401');
      expect(parked.attempts).to.equal(0);
      const dest = await destinationRow(s.destinations[0].id);
      expect(dest.status).to.equal('needs_reauth');
      expect(dest.status_reason).to.equal('status_code_401');
      expect((await attemptsOf(parked.id)).map((a) => a.outcome)).to.deep.equal(['auth']);

      const second = await createLead(s);
      const parkedAtOnce = await waitForStatus(second.deliveries[0].id, 'parked');
      expect(parkedAtOnce.last_error_reason).to.equal('destination_needs_reauth');
      expect(await attemptsOf(parkedAtOnce.id)).to.deep.equal([]);
      expect(receiver.received).to.have.length(1);
    });

    it('replayLead re-queues a parked delivery; once the destination works again, parked deliveries resume', async () => {
      const s = await createScenario(1);
      const receiver = s.receivers[0];
      receiver.respondWith([{ status: 403 }]);
      const first = await createLead(s);
      await waitForStatus(first.deliveries[0].id, 'parked');
      const second = await createLead(s);
      await waitForStatus(second.deliveries[0].id, 'parked');

      // Still needing re-authorisation: the replayed delivery is parked again, with no request.
      expect((await deliveryRow(first.deliveries[0].id)).last_error_reason).to.equal('status_code_403');
      const replayed = await replayLead(t.app, first.lead.id);
      expect(replayed.queued).to.equal(1);
      // The worker ran it again (the reason now says why it was parked this time) without a request.
      await waitUntil(
        async () => {
          const d = await deliveryRow(first.deliveries[0].id);
          return d.status === 'parked' && d.last_error_reason === 'destination_needs_reauth';
        },
        20_000,
        'delivery parked again',
      );
      expect(receiver.received).to.have.length(1);

      await repo.setDestinationStatus(t.app.db, s.destinations[0].id, 'active', null);
      expect((await replayLead(t.app, first.lead.id)).queued).to.equal(1);
      await waitForStatus(first.deliveries[0].id, 'delivered');
      expect(await resumeDestination(t.app, s.destinations[0].id)).to.equal(1);
      await waitForStatus(second.deliveries[0].id, 'delivered');
      expect(requestsFor(receiver, first.leadgenId).map((r) => r.status)).to.deep.equal([403, 200]);
      expect(requestsFor(receiver, second.leadgenId).map((r) => r.status)).to.deep.equal([200]);
    });

    it('an erased lead is not delivered, and cannot be replayed', async () => {
      const s = await createScenario(1);
      const { lead, deliveries, leadgenId } = await createLead(s, [0], { isErased: true });
      const dead = await waitForStatus(deliveries[0].id, 'dead');
      expect(dead.last_error_reason).to.equal('lead_erased');
      expect(await attemptsOf(dead.id)).to.deep.equal([]);
      expect(s.receivers[0].received).to.have.length(0);
      let message = '';
      try {
        await replayLead(t.app, lead.id);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).to.match(/erased/);
      expect(message).to.not.include(`lead${leadgenId}@example.com`);
      expect((await deliveryRow(dead.id)).status).to.equal('dead');
    });

    /** A lead with a delivery its route's deletion stopped (dead, route_deleted, route_id null). */
    async function leadStoppedByRouteDeletion(diedBefore = false) {
      const s = await createScenario(1);
      const { lead, leadgenId } = await createLead(s, []);
      const [delivery] = await repo.ensureDeliveries(t.app.db, [
        { workspaceId, leadId: lead.id, destinationId: s.destinations[0].id, routeId: s.routes[0].id },
      ]);
      // Dead-lettered by the CRM before the route went, or stopped by the route's deletion.
      if (diedBefore) await repo.updateDelivery(t.app.db, delivery.id, { status: 'dead', last_error_kind: 'invalid', last_error_reason: 'status_code_422' });
      await t.app.db.transaction().execute((trx) => deleteRouteAndStopItsDeliveries(trx, s.routes[0]));
      expect(await deliveryRow(delivery.id)).to.include({
        status: 'dead',
        last_error_reason: diedBefore ? 'status_code_422' : 'route_deleted',
        route_id: null,
      });
      return { s, lead, leadgenId, delivery };
    }

    it("a replay leaves dead, unsent, a delivery stopped by its route's deletion when no route takes the lead now", async () => {
      const { lead, delivery } = await leadStoppedByRouteDeletion();
      expect(await replayLead(t.app, lead.id)).to.deep.include({ queued: 0, unrouted: true });
      expect(await deliveryRow(delivery.id)).to.include({ status: 'dead', last_error_reason: 'route_deleted' });
      expect(await jobState(delivery.id), 'no job queued').to.be.oneOf([undefined, 'unknown']);
    });

    for (const diedBefore of [false, true]) {
      it(`replays of the lead or of its destination's dead deliveries leave dead one whose route was deleted (${diedBefore ? 'dead-lettered before' : 'stopped by the deletion'})`, async () => {
        const { s, lead, delivery } = await leadStoppedByRouteDeletion(diedBefore);
        expect(await replayDeadDeliveries(t.app, s.destinations[0].id)).to.equal(0);
        expect(await replayLead(t.app, lead.id)).to.deep.include({ queued: 0, unrouted: true });
        expect((await deliveryRow(delivery.id)).status).to.equal('dead');
      });
    }

    it("a replay sends a delivery stopped by its route's deletion by the route that takes the lead now", async () => {
      const { s, lead, leadgenId, delivery } = await leadStoppedByRouteDeletion();
      const now = await repo.createRoute(t.app.db, { workspaceId, pageId: s.pageId, formId: null, destinationId: s.destinations[0].id });
      expect(await replayLead(t.app, lead.id)).to.deep.include({ queued: 1, unrouted: false });
      const sent = await waitForStatus(delivery.id, 'delivered');
      expect(sent.route_id).to.equal(now.id);
      expect(requestsFor(s.receivers[0], leadgenId)).to.have.length(1);
    });
  });
