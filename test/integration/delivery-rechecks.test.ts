// What the delivery side re-checks or keeps so that a lead is neither sent when it should not be
// nor sent twice: a delivery that waited in the line is checked again before its send, a CRM
// answer holding a NUL byte is still recorded, and a batch the CRM took keeps its claims when its
// outcomes could not be written.
import { expect } from 'chai';
import type { Kysely, RootOperationNode } from 'kysely';
import type { Db } from '../../src/store/db.js';
import type { Database } from '../../src/store/schema.js';
import { deliverOne } from '../../src/pipeline/deliver-lead.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/workers.js';
import * as repo from '../../src/store/repos.js';
import { deleteRouteAndStopItsDeliveries, markDestinationDisconnected } from '../../src/store/disconnects.js';
import type { Destination, Route } from '../../src/store/schema.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { TEST_APP_SECRET, waitUntil } from '../helpers/e2e.js';
import { storeLeadWithDelivery } from '../helpers/rows.js';
import { openBatchingDestination, type BatchingDestination } from '../helpers/webhook-variants.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

let nextPage = 881_000_000;
let nextLeadgen = 8_820_000_000_000_000_000n;
const OK = { status: 200, body: '{"ok":true}', headers: { 'content-type': 'application/json' } };

describe('a delivery that waited in the line is checked again before it is sent', function () {
  this.timeout(60_000);
  let t: TestApp;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let workers: RunningWorkers | undefined;
  let workspaceId: string;
  let destination: Destination;

  before(async () => {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver();
    // One delivery place: a lead fetched while it is taken waits in the line.
    t = await createTestApp({ env: { META_GRAPH_URL: graph.url, DELIVER_CONCURRENCY: '1', WORKER_LOCK_DURATION_MS: '1000', DELIVERY_TIMEOUT_MS: '10000' } });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Line')).id;
    destination = await repo.createDestination(t.app.db, {
      workspaceId,
      type: 'webhook',
      name: 'hook',
      config: { url: receiver.url },
      credentialsEnvelope: null,
    });
  });
  beforeEach(async () => {
    // Delivery jobs never run: only the worker's own direct sends deliver.
    await t.app.queues.deliver.pause();
    workers = startWorkers(t.app);
  });
  afterEach(async () => {
    receiver.release();
    await t.app.queues.deliver.resume();
    await workers?.close();
  });
  after(async () => {
    await t?.cleanup();
    await receiver?.close();
    await graph?.close();
  });

  /** A page of its own routed to the destination. */
  async function newPage(to: Destination = destination): Promise<{ pageId: string; formId: string; route: Route }> {
    const pageId = String(nextPage++);
    const formId = `${pageId}1`;
    graph.addForm({ id: formId, page_id: pageId, name: `Form ${pageId}` });
    graph.setPageToken(pageId, `EAAB-line-${pageId}`);
    await repo.upsertPage(t.app.db, {
      workspaceId,
      pageId,
      name: `Page ${pageId}`,
      tokenEnvelope: t.app.keyRing.encrypt(`EAAB-line-${pageId}`, pageTokenAad(pageId)),
    });
    const route = await repo.createRoute(t.app.db, { workspaceId, pageId, formId: null, destinationId: to.id });
    return { pageId, formId, route };
  }
  async function recordLead(page: { pageId: string; formId: string }): Promise<{ leadgenId: string; eventId: number }> {
    const leadgenId = String(nextLeadgen++);
    graph.addLead({ id: leadgenId, form_id: page.formId, page_id: page.pageId, field_data: [{ name: 'email', values: [`r${leadgenId}@example.com`] }] });
    const [event] = await repo.recordLeadgenEvents(t.app.db, [
      { pageId: page.pageId, leadgenId, formId: page.formId, adId: null, adgroupId: null, createdTime: null, isTest: false },
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

  it('does not send a lead erased, or one whose route was deleted, while it waited', async () => {
    const pageA = await newPage();
    const pageB = await newPage();
    // The first lead holds the only place at the receiver until released.
    receiver.hold();
    const first = await recordLead(pageA);
    expect(await (workers as RunningWorkers).fetchEvents([first.eventId])).to.equal(true);
    await receiver.waitFor(() => requestsFor(first.leadgenId).length === 1, 20_000);
    // Two leads fetched meanwhile wait in the line, stored claimed by this worker.
    const erased = await recordLead(pageA);
    const unrouted = await recordLead(pageB);
    expect(await (workers as RunningWorkers).fetchEvents([erased.eventId, unrouted.eventId])).to.equal(true);
    const erasedRow = await deliveryOf(erased.leadgenId);
    const unroutedRow = await deliveryOf(unrouted.leadgenId);
    expect(erasedRow.claimed_by, 'waiting in the line').to.be.a('string');
    expect(unroutedRow.claimed_by, 'waiting in the line').to.be.a('string');
    // A lead fetched after them, before anything changes, waits behind them in the line: once it
    // reaches the receiver, the line has moved past both.
    const behind = await recordLead(pageA);
    expect(await (workers as RunningWorkers).fetchEvents([behind.eventId])).to.equal(true);
    expect((await deliveryOf(behind.leadgenId)).claimed_by, 'waiting in the line').to.be.a('string');

    // While they wait: a data-subject erasure of one lead, and the other's route deleted. Both
    // stop the delivery (dead) as documented: "a lead the route should not have taken is not sent after all".
    await repo.eraseLeadsNow(t.app.db, [erasedRow.lead_id], new Date());
    await t.app.db.transaction().execute((trx) => deleteRouteAndStopItsDeliveries(trx, pageB.route));
    expect(await repo.findDelivery(t.app.db, erasedRow.id)).to.include({ status: 'dead', last_error_reason: 'lead_erased' });
    expect(await repo.findDelivery(t.app.db, unroutedRow.id)).to.include({ status: 'dead', last_error_reason: 'route_deleted' });

    // The place frees; the line moves on.
    receiver.release();
    await receiver.waitFor(() => requestsFor(behind.leadgenId).length === 1, 20_000);
    const sent = {
      erased: requestsFor(erased.leadgenId).length,
      erasedEmailSent: requestsFor(erased.leadgenId).some((r) => r.rawBody.includes(`r${erased.leadgenId}@example.com`)),
      unrouted: requestsFor(unrouted.leadgenId).length,
    };
    const rows = {
      erased: (await repo.findDelivery(t.app.db, erasedRow.id))?.status,
      unrouted: (await repo.findDelivery(t.app.db, unroutedRow.id))?.status,
    };
    // What the rows say (dead, never sent) must be true: nothing of either lead reached the CRM.
    expect({ sent, rows }).to.deep.equal({ sent: { erased: 0, erasedEmailSent: false, unrouted: 0 }, rows: { erased: 'dead', unrouted: 'dead' } });
  });
  it('does not send leads to a destination disconnected while they waited, and leaves them parked', async () => {
    const own = await repo.createDestination(t.app.db, { workspaceId, type: 'webhook', name: 'own', config: { url: receiver.url }, credentialsEnvelope: null });
    const page = await newPage(own);
    receiver.hold();
    const first = await recordLead(page);
    expect(await (workers as RunningWorkers).fetchEvents([first.eventId])).to.equal(true);
    await receiver.waitFor(() => requestsFor(first.leadgenId).length === 1, 20_000);
    const waiting = [await recordLead(page), await recordLead(page)];
    expect(await (workers as RunningWorkers).fetchEvents(waiting.map((w) => w.eventId))).to.equal(true);
    const rows = await Promise.all(waiting.map((w) => deliveryOf(w.leadgenId)));
    for (const r of rows) expect(r.claimed_by, 'waiting in the line').to.be.a('string');
    // A lead to another destination, fetched after them before anything changes, waits behind
    // them for the only place: once it reaches the receiver, the line has moved past both.
    const behind = await recordLead(await newPage());
    expect(await (workers as RunningWorkers).fetchEvents([behind.eventId])).to.equal(true);
    expect((await deliveryOf(behind.leadgenId)).claimed_by, 'waiting in the line').to.be.a('string');

    // The destination is disconnected (the dashboard): disabled, credentials gone, its pending
    // deliveries parked until it is connected again; the config counter moves on.
    await markDestinationDisconnected(t.app.db, own.id);
    receiver.release();
    await receiver.waitFor(() => requestsFor(behind.leadgenId).length === 1, 20_000);
    const observed = {
      sentAfterDisconnect: waiting.map((w) => requestsFor(w.leadgenId).length),
      status: await Promise.all(rows.map(async (r) => (await repo.findDelivery(t.app.db, r.id))?.status)),
    };
    // Parked and never sent: connecting it again resumes them, each sent once.
    expect(observed).to.deep.equal({ sentAfterDisconnect: [0, 0], status: ['parked', 'parked'] });
  });
});

describe('a CRM answer holding a NUL byte', function () {
  this.timeout(60_000);
  let t: TestApp;
  let receiver: FakeReceiver;
  let workspaceId: string;
  let destination: Destination;
  let route: Route;

  before(async () => {
    receiver = await startFakeReceiver();
    t = await createTestApp({ withQueues: false });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Nul')).id;
    destination = await repo.createDestination(t.app.db, {
      workspaceId,
      type: 'webhook',
      name: 'hook',
      config: { url: receiver.url },
      credentialsEnvelope: null,
    });
    route = await repo.createRoute(t.app.db, { workspaceId, pageId: '889000001', formId: null, destinationId: destination.id });
  });
  after(async () => {
    await t?.cleanup();
    await receiver?.close();
  });

  async function newDelivery(): Promise<{ id: string; leadgenId: string }> {
    const leadgenId = String(nextLeadgen++);
    const { deliveryId } = await storeLeadWithDelivery(t.app, {
      workspaceId,
      pageId: '889000001',
      leadgenId,
      email: `n${leadgenId}@example.com`,
      destinationId: destination.id,
      routeId: route.id,
    });
    return { id: deliveryId, leadgenId };
  }
  /** What each later run finds once a run's claim has lapsed (as the outbox sweep then queues it again). */
  const lapseClaim = (id: string) =>
    t.app.db
      .updateTable('deliveries')
      .set({ claimed_until: new Date(Date.now() - 1) })
      .where('id', '=', id)
      .execute();
  const run = async (id: string) => {
    try {
      return (await deliverOne(t.app, id)).detail;
    } catch (err) {
      return `threw: ${(err as Error).message}`;
    }
  };

  it('a lead accepted with it is sent once and recorded as delivered', async () => {
    const { id, leadgenId } = await newDelivery();
    // One answer: the receiver's script is shared by the tests, and the lead is sent once.
    receiver.respondWith([{ ...OK, body: '{"ok":true}\u0000' }]);
    const runs: string[] = [];
    for (let i = 0; i < 3; i++) {
      runs.push(await run(id));
      await lapseClaim(id);
    }
    const row = await repo.findDelivery(t.app.db, id);
    const observed = {
      runs,
      requests: receiver.arrived.filter((r) => r.body?.leadgen_id === leadgenId).length,
      status: row?.status,
      attempts: (await repo.listAttempts(t.app.db, id)).length,
    };
    expect(observed).to.deep.equal({ runs: ['created', 'already_delivered', 'already_delivered'], requests: 1, status: 'delivered', attempts: 1 });
  });

  it('a lead refused with it is tried at most DELIVERY_MAX_ATTEMPTS (3) times', async () => {
    const { id, leadgenId } = await newDelivery();
    receiver.respondWith([1, 2, 3, 4, 5].map(() => ({ status: 500, body: 'boom\u0000', headers: { 'content-type': 'text/plain' } })));
    const runs: string[] = [];
    for (let i = 0; i < 5; i++) {
      // Its backoff wait passed too.
      await t.app.db.updateTable('deliveries').set({ next_attempt_at: null }).where('id', '=', id).execute();
      runs.push(await run(id));
      await lapseClaim(id);
    }
    const row = await repo.findDelivery(t.app.db, id);
    const observed = {
      runs,
      requests: receiver.arrived.filter((r) => r.body?.leadgen_id === leadgenId).length,
      status: row?.status,
      attempts: row?.attempts,
    };
    expect({ ...observed, runs: observed.runs.filter((r) => r.startsWith('threw')).length }).to.deep.equal({
      runs: 0,
      requests: 3,
      status: 'dead',
      attempts: 3,
    });
  });
});

describe('a batch whose delivered outcomes could not be written', function () {
  this.timeout(60_000);
  let opened: BatchingDestination | undefined;
  let t: TestApp;
  let receiver: FakeReceiver;
  let workspaceId: string;
  let destination: Destination;
  let route: Route;

  before(async () => {
    // The webhook connector under another id, declared batching: its batches go through deliver-batch.ts.
    opened = await openBatchingDestination('test-batch', 'Test batch', 'Batch');
    ({ t, receiver, workspaceId, destination } = opened);
    route = await repo.createRoute(t.app.db, { workspaceId, pageId: '889000002', formId: null, destinationId: destination.id });
  });
  after(async () => {
    await opened?.close();
  });

  /** The same database, except that the next statement writing delivered outcomes fails (a PostgreSQL error after the CRM took the leads). */
  function failingOnceDb(db: Db): Db {
    let failed = false;
    const isDeliveredWrite = (node: RootOperationNode) =>
      node.kind === 'RawNode' && (node as unknown as { sqlFragments: string[] }).sqlFragments.join('').includes("status = 'delivered'");
    return (db as Kysely<Database>).withPlugin({
      transformQuery: (args) => {
        if (!failed && isDeliveredWrite(args.node)) {
          failed = true;
          throw new Error('connection terminated unexpectedly (injected)');
        }
        return args.node;
      },
      transformResult: async (args) => args.result,
    }) as Db;
  }

  it('keeps the claim of a lead the CRM took, so no other run sends it again while the claim holds', async () => {
    const leadgenId = String(nextLeadgen++);
    const { deliveryId } = await storeLeadWithDelivery(t.app, {
      workspaceId,
      pageId: '889000002',
      leadgenId,
      email: `b${leadgenId}@example.com`,
      destinationId: destination.id,
      routeId: route.id,
    });

    let first = '';
    try {
      first = (await deliverOne({ ...t.app, db: failingOnceDb(t.app.db) }, deliveryId)).detail;
    } catch (err) {
      first = `threw: ${(err as Error).message}`;
    }
    const afterFirst = await repo.findDelivery(t.app.db, deliveryId);
    const claimHeld = afterFirst?.claimed_until != null && new Date(afterFirst.claimed_until).getTime() > Date.now();
    // Another job of the destination (or the outbox sweep's) right after.
    const second = (await deliverOne(t.app, deliveryId)).detail;
    const observed = { first, claimHeld, second, requests: receiver.arrived.filter((r) => r.body?.leadgen_id === leadgenId).length };
    expect(observed).to.deep.equal({ first: 'threw: connection terminated unexpectedly (injected)', claimHeld: true, second: 'claimed_by_batch', requests: 1 });
  });
});
