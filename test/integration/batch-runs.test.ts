// A worker sends the leads it has just fetched for a batching connector through its batch run of
// the destination, without a delivery job each; what the run cannot send (the destination
// rate-limited, the worker closing) goes on as delivery jobs. Real BullMQ workers, the loopback
// fake Graph API, and the webhook connector declared batching (test/helpers/webhook-variants.ts)
// posting to a loopback receiver.
import { expect } from 'chai';
import { registerExtraConnector } from '../../connectors/index.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import { deliverJobId } from '../../src/pipeline/queues.js';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/workers.js';
import * as repo from '../../src/store/repos.js';
import type { Destination } from '../../src/store/schema.js';
import { createMetrics, type Metrics } from '../../src/util/metrics.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { TEST_APP_SECRET, waitUntil } from '../helpers/e2e.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { batchingWebhookManifest } from '../helpers/webhook-variants.js';

const CONNECTOR = 'test-batch-runs';
const PAGE = '874000001';
const FORM = '874000002';
const PAGE_TOKEN = 'EAAB-batch-runs-token';
let nextLeadgen = 8_740_000_000_000_000_000n;

describe('batch runs: just-fetched leads of a batching connector', function () {
  this.timeout(60_000);
  let unregister: () => void;
  let t: TestApp;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let destination: Destination;
  let workers: RunningWorkers | undefined;
  let metrics: Metrics;

  before(async () => {
    unregister = registerExtraConnector(batchingWebhookManifest(CONNECTOR, 'Test batch runs'));
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver();
    t = await createTestApp({ env: { META_GRAPH_URL: graph.url } });
    const workspaceId = (await repo.createWorkspace(t.app.db, 'Batch runs')).id;
    graph.addForm({ id: FORM, page_id: PAGE, name: 'Batch runs form' });
    graph.setPageToken(PAGE, PAGE_TOKEN);
    await repo.upsertPage(t.app.db, {
      workspaceId,
      pageId: PAGE,
      name: 'Batch runs Page',
      tokenEnvelope: t.app.keyRing.encrypt(PAGE_TOKEN, pageTokenAad(PAGE)),
    });
    const enqueue = t.app.queues.enqueueDeliveries.bind(t.app.queues);
    t.app.queues.enqueueDeliveries = (items) => {
      queuedJobs.push(...items.map((i) => i.id));
      return enqueue(items);
    };
    destination = await repo.createDestination(t.app.db, {
      workspaceId,
      type: CONNECTOR,
      name: 'batch',
      config: { url: receiver.url },
      credentialsEnvelope: null,
    });
    await repo.createRoute(t.app.db, { workspaceId, pageId: PAGE, formId: null, destinationId: destination.id });
  });
  /** Every delivery id given to a delivery job, by whoever queued it. */
  let queuedJobs: string[] = [];
  beforeEach(() => {
    metrics = createMetrics();
    queuedJobs = [];
    workers = startWorkers(t.app, metrics);
  });
  afterEach(async () => {
    receiver.release();
    await workers?.close();
    await repo.setDestinationRateLimit(t.app.db, destination.id, null);
  });
  after(async () => {
    unregister?.();
    await t?.cleanup();
    await receiver?.close();
    await graph?.close();
  });

  /** New leads at the fake Graph with their webhook events, queued for fetching; returns their leadgen ids. */
  async function sendLeads(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const leadgenId = String(nextLeadgen++);
      graph.addLead({ id: leadgenId, form_id: FORM, page_id: PAGE, field_data: [{ name: 'email', values: [`b${leadgenId}@example.com`] }] });
      const [event] = await repo.recordLeadgenEvents(t.app.db, [
        { pageId: PAGE, leadgenId, formId: FORM, adId: null, adgroupId: null, createdTime: null, isTest: false },
      ]);
      await t.app.queues.enqueueFetch([event.id]);
      ids.push(leadgenId);
    }
    return ids;
  }
  const handOffs = async (path: string) =>
    (await metrics.deliveryHandOff.get()).values.filter((v) => v.labels.path === path).reduce((sum, v) => sum + v.value, 0);
  const deliveriesOf = (leadgenIds: string[]) =>
    t.app.db
      .selectFrom('deliveries')
      .innerJoin('leads', 'leads.id', 'deliveries.lead_id')
      .select(['deliveries.id', 'deliveries.status', 'deliveries.attempts', 'deliveries.next_attempt_at', 'leads.leadgen_id'])
      .where('leads.leadgen_id', 'in', leadgenIds)
      .execute();
  const jobsOf = (deliveryIds: string[]) => Promise.all(deliveryIds.map((id) => t.app.queues.deliver.getJob(deliverJobId(id))));
  const arrivedOnce = (ids: string[]) => {
    const accepted = receiver.accepted().map((r) => r.body?.leadgen_id as string);
    return ids.every((id) => accepted.filter((a) => a === id).length === 1);
  };

  it('delivers each lead once, with no delivery job', async () => {
    const ids = await sendLeads(25);
    const deliveries = await waitUntil(
      async () => {
        const rows = await deliveriesOf(ids);
        return rows.length === ids.length && rows.every((d) => d.status !== 'pending') ? rows : undefined;
      },
      30_000,
      'every delivery settled',
    );
    expect(arrivedOnce(ids), 'each lead at the receiver once').to.equal(true);
    expect(deliveries.map((d) => [d.status, d.attempts])).to.deep.equal(ids.map(() => ['delivered', 1]));
    expect(await handOffs('batch')).to.equal(25);
    expect(queuedJobs).to.deep.equal([]);
  });

  it('gives the leads to delivery jobs while the destination is rate-limited, and sends none of them meanwhile', async () => {
    const until = new Date(Date.now() + 60_000);
    await repo.setDestinationRateLimit(t.app.db, destination.id, until);
    const ids = await sendLeads(5);
    // Each delivery job waits for the limit: its row says when it is due.
    const waiting = await waitUntil(
      async () => {
        const rows = await deliveriesOf(ids);
        return rows.length === ids.length && rows.every((r) => r.next_attempt_at?.getTime() === until.getTime()) ? rows : undefined;
      },
      20_000,
      'every delivery due when the limit ends',
    );
    expect(await handOffs('batch')).to.equal(5);
    expect([...queuedJobs].sort()).to.deep.equal(waiting.map((d) => d.id).sort());
    expect(receiver.accepted().filter((r) => ids.includes(r.body?.leadgen_id))).to.deep.equal([]);
    // The limit lifted early: the jobs send them.
    await repo.setDestinationRateLimit(t.app.db, destination.id, null);
    await t.app.db
      .updateTable('deliveries')
      .set({ next_attempt_at: null })
      .where(
        'id',
        'in',
        waiting.map((d) => d.id),
      )
      .execute();
    for (const job of await jobsOf(waiting.map((d) => d.id))) await job?.promote();
    await receiver.waitFor(() => arrivedOnce(ids), 30_000);
  });

  it('stops sending to a destination disabled while its run was at work, and leaves its leads parked', async () => {
    receiver.hold();
    const [first] = await sendLeads(1);
    await receiver.waitFor((r) => r.arrived.some((x) => x.body?.leadgen_id === first), 30_000);
    const more = await sendLeads(4);
    await waitUntil(async () => (await handOffs('batch')) === 5, 20_000, 'the four leads given to the run');
    await repo.setDestinationStatus(t.app.db, destination.id, 'disabled', null);
    try {
      receiver.release();
      const parked = await waitUntil(
        async () => {
          const rows = await deliveriesOf(more);
          return rows.every((r) => r.status === 'parked') ? rows : undefined;
        },
        20_000,
        'the four deliveries parked',
      );
      expect([...queuedJobs].sort()).to.deep.equal(parked.map((d) => d.id).sort());
      expect(receiver.arrived.filter((r) => more.includes(r.body?.leadgen_id))).to.deep.equal([]);
    } finally {
      await repo.setDestinationStatus(t.app.db, destination.id, 'active', null);
    }
  });

  it('when the worker closes, gives what its run has not sent to delivery jobs', async () => {
    receiver.hold();
    // The run's first batch is at the receiver, held there; fourteen more leads are given to the run meanwhile.
    const [first] = await sendLeads(1);
    await receiver.waitFor((r) => r.arrived.some((x) => x.body?.leadgen_id === first), 30_000);
    const more = await sendLeads(14);
    await waitUntil(async () => (await handOffs('batch')) === 15, 20_000, 'the fourteen leads given to the run');
    expect(queuedJobs).to.deep.equal([]);
    const closing = workers!.close();
    receiver.release();
    await closing;
    workers = undefined;
    const left = await deliveriesOf(more);
    expect(left.map((d) => d.status)).to.deep.equal(more.map(() => 'pending'));
    expect([...queuedJobs].sort()).to.deep.equal(left.map((d) => d.id).sort());
    expect((await jobsOf(left.map((d) => d.id))).every(Boolean), 'a delivery job for each').to.equal(true);
    expect((await deliveriesOf([first]))[0].status).to.equal('delivered');
    // A new worker's jobs deliver them.
    workers = startWorkers(t.app, metrics);
    await receiver.waitFor(() => arrivedOnce([first, ...more]), 30_000);
  });
});
