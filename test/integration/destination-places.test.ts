// One slow CRM does not hold up the others: a destination holds all but one in ten of a worker's
// delivery places (at least one kept back), a freed place goes to the destination holding fewest, and a delivery
// job for a slow destination that holds its whole share waits in the queue, not in a worker.
// Real BullMQ workers, the loopback fake Graph API and two webhook receivers, one slow.
import { expect } from 'chai';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import { deliverJobId } from '../../src/pipeline/queues.js';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/workers.js';
import { createMetrics, type Metrics } from '../../src/util/metrics.js';
import * as repo from '../../src/store/repos.js';
import type { Destination } from '../../src/store/schema.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { TEST_APP_SECRET, waitUntil } from '../helpers/e2e.js';
import { makeBareLeadRow } from '../helpers/rows.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const FORM = '870000001';
const PAGE_TOKEN = 'EAAB-destination-places-token';
let nextLeadgen = 8_720_000_000_000_000_000n;
const SLOW = { status: 200, body: '{"ok":true}', headers: { 'content-type': 'application/json' } };

describe('delivery places shared between a slow and a fast destination', function () {
  this.timeout(60_000);
  let t: TestApp;
  let graph: FakeGraph;
  let slow: FakeReceiver;
  let fast: FakeReceiver;
  let workers: RunningWorkers | undefined;
  let metrics: Metrics;
  let workspaceId: string;
  let slowDestination: Destination;
  const pageId = '871000011';
  /** Pages routed to one destination each. */
  const slowOnlyPage = '871000012';
  const fastOnlyPage = '871000013';
  const formOf = (page: string) => (page === pageId ? FORM : `${page}9`);

  before(async () => {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    slow = await startFakeReceiver();
    fast = await startFakeReceiver();
    // Four places: one destination may hold three.
    t = await createTestApp({ env: { META_GRAPH_URL: graph.url, DELIVER_CONCURRENCY: '4', DELIVERY_TIMEOUT_MS: '20000' } });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Places')).id;
    graph.addForm({ id: FORM, page_id: pageId, name: 'Places form' });
    graph.setPageToken(pageId, PAGE_TOKEN);
    await repo.upsertPage(t.app.db, { workspaceId, pageId, name: 'Places Page', tokenEnvelope: t.app.keyRing.encrypt(PAGE_TOKEN, pageTokenAad(pageId)) });
    const destinationOf = (name: string, url: string) =>
      repo.createDestination(t.app.db, { workspaceId, type: 'webhook', name, config: { url }, credentialsEnvelope: null });
    slowDestination = await destinationOf('slow', slow.url);
    const fastDestination = await destinationOf('fast', fast.url);
    for (const d of [slowDestination, fastDestination]) await repo.createRoute(t.app.db, { workspaceId, pageId, formId: null, destinationId: d.id });
    for (const [page, d] of [
      [slowOnlyPage, slowDestination],
      [fastOnlyPage, fastDestination],
    ] as const) {
      graph.addForm({ id: formOf(page), page_id: page, name: `Form of ${page}` });
      graph.setPageToken(page, `${PAGE_TOKEN}-${page}`);
      await repo.upsertPage(t.app.db, {
        workspaceId,
        pageId: page,
        name: `Page ${page}`,
        tokenEnvelope: t.app.keyRing.encrypt(`${PAGE_TOKEN}-${page}`, pageTokenAad(page)),
      });
      await repo.createRoute(t.app.db, { workspaceId, pageId: page, formId: null, destinationId: d.id });
    }
  });
  beforeEach(() => {
    metrics = createMetrics();
    workers = startWorkers(t.app, metrics);
  });
  afterEach(async () => {
    slow.release();
    await workers?.close();
  });
  after(async () => {
    await t?.cleanup();
    await slow?.close();
    await fast?.close();
    await graph?.close();
  });

  /** New leads at the fake Graph with their webhook events, queued for fetching; returns their leadgen ids. */
  async function sendLeads(n: number, page = pageId): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const leadgenId = String(nextLeadgen++);
      graph.addLead({ id: leadgenId, form_id: formOf(page), page_id: page, field_data: [{ name: 'email', values: [`p${leadgenId}@example.com`] }] });
      const [event] = await repo.recordLeadgenEvents(t.app.db, [
        { pageId: page, leadgenId, formId: formOf(page), adId: null, adgroupId: null, createdTime: null, isTest: false },
      ]);
      await t.app.queues.enqueueFetch([event.id]);
      ids.push(leadgenId);
    }
    return ids;
  }
  /** A counter's value by label value (0 when never counted). */
  const counted = async (counter: Metrics['deliveryHandOff'] | Metrics['destinationBusy'], label: string) =>
    (await counter.get()).values.filter((v) => Object.values(v.labels).includes(label)).reduce((sum, v) => sum + v.value, 0);
  const leadsAt = (r: FakeReceiver) => new Set(r.accepted().map((x) => x.body?.leadgen_id as string));

  it('delivers every lead to the fast destination while the slow one holds its whole share of places', async () => {
    slow.hold();
    const ids = await sendLeads(8);
    await fast.waitFor(() => ids.every((id) => leadsAt(fast).has(id)), 20_000);
    await slow.waitFor(() => slow.arrived.length >= 3, 20_000);
    // The slow destination, none of whose sends has ended, holds no more than its three places.
    expect(slow.arrived, 'slow sends under way').to.have.length(3);
    slow.release();
    // The slow destination gets every lead too, in its own time; all sent by the worker itself.
    await slow.waitFor(() => ids.every((id) => leadsAt(slow).has(id)), 30_000);
    expect((await counted(metrics.deliveryHandOff, 'place')) + (await counted(metrics.deliveryHandOff, 'line'))).to.equal(16);
    expect(await counted(metrics.deliveryHandOff, 'job')).to.equal(0);
  });

  it('keeps a place for another destination while the slow one has more leads than places', async () => {
    slow.hold();
    const slowIds = await sendLeads(5, slowOnlyPage);
    await slow.waitFor(() => slow.arrived.filter((r) => slowIds.includes(r.body?.leadgen_id)).length >= 3, 20_000);
    const fastIds = await sendLeads(6, fastOnlyPage);
    await fast.waitFor(() => fastIds.every((id) => leadsAt(fast).has(id)), 20_000);
    expect(
      slow.arrived.filter((r) => slowIds.includes(r.body?.leadgen_id)),
      'slow sends under way',
    ).to.have.length(3);
    slow.release();
    await slow.waitFor(() => slowIds.every((id) => leadsAt(slow).has(id)), 30_000);
  });

  it('leaves delivery jobs for the slow destination beyond the first waiting in the queue, not in workers', async () => {
    // The slow destination's sends are seen to take 1.5 s; three more then hold its whole share.
    slow.respondWith([{ ...SLOW, delayMs: 1_500 }]);
    const [warm] = await sendLeads(1);
    await slow.waitFor(() => leadsAt(slow).has(warm), 20_000);
    slow.hold();
    const held = await sendLeads(3);
    await slow.waitFor(() => slow.arrived.filter((r) => held.includes(r.body?.leadgen_id)).length === 3, 20_000);
    await fast.waitFor(() => held.every((id) => leadsAt(fast).has(id)), 20_000);

    // Two pending deliveries for the slow destination, given delivery jobs: one waits in a worker
    // for a place, the other goes back to the queue.
    const deliveries: { id: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const lead = await repo.insertLead(t.app.db, makeBareLeadRow(workspaceId, String(nextLeadgen++), pageId));
      const [delivery] = await t.app.db
        .insertInto('deliveries')
        .values({ workspace_id: workspaceId, lead_id: lead.id, destination_id: slowDestination.id, route_id: null })
        .returningAll()
        .execute();
      deliveries.push(delivery);
    }
    await t.app.queues.enqueueDeliveries(deliveries.map((d) => ({ id: d.id })));
    const states = () => Promise.all(deliveries.map(async (d) => (await t.app.queues.deliver.getJob(deliverJobId(d.id)))?.getState()));
    const seen = await waitUntil(
      async () => {
        const now = await states();
        return now.includes('delayed') && now.includes('active') ? now : undefined;
      },
      20_000,
      'one job waiting in a worker and one back in the queue',
    );
    expect(seen.sort()).to.deep.equal(['active', 'delayed']);
    for (const d of deliveries) expect((await repo.findDelivery(t.app.db, d.id))?.attempts).to.equal(0);
    expect(await counted(metrics.destinationBusy, 'webhook')).to.be.at.least(1);

    // Once the slow destination answers again, both are sent.
    slow.release();
    for (const d of deliveries)
      await waitUntil(async () => ((await repo.findDelivery(t.app.db, d.id))?.status === 'delivered' ? true : undefined), 30_000, 'delivered');
  });
});
