// Deliveries of one person to Pipedrive, run at once by two worker "processes" (two Apps, each
// with its own pools, on one schema of the real PostgreSQL) through the delivery step the
// workers run (deliverOne), against the loopback fake Pipedrive with network latency and a
// search index that lags behind creates.
import { expect } from 'chai';
import { graphLeadSchema } from '../../src/meta/graph-types.js';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import { deliverOne } from '../../src/pipeline/deliver-lead.js';
import { leadRowFromGraph } from '../../src/pipeline/lead-record.js';
import * as repo from '../../src/store/repos.js';
import { createPipedriveRoute } from '../helpers/rows.js';
import { startFakePipedrive, type FakePipedrive } from '../fakes/pipedrive-crm.js';
import { createTestApp, testEnv, type TestApp } from '../helpers/test-app.js';

const PAGE = '830000001';
const FORM = '830000002';
const API_TOKEN = 'pd-concurrency-token';
let nextLeadgen = 8_400_000_000_000_000_000n;

describe('pipedrive: concurrent deliveries of one person from two worker processes', function () {
  this.timeout(60_000);
  let pipedrive: FakePipedrive;
  let t: TestApp;
  let other: App;
  let workspaceId: string;

  before(async () => {
    pipedrive = await startFakePipedrive({
      apiTokens: [API_TOKEN],
      latencyMs: { min: 40, max: 160 },
      // Longer than this whole file takes, even on a loaded machine: no person created here ever
      // shows in search, so "search does not show them yet" holds however slowly the tests run.
      searchIndexLagMs: 600_000,
      // Premium OAuth burst; the Search API keeps its 10 per 2 s.
      burstLimit: 400,
    });
    const env = { PIPEDRIVE_API_URL: pipedrive.url };
    t = await createTestApp({ withQueues: false, env });
    other = await createApp(loadConfig(testEnv(t.schema.url, t.prefix, env)), { migrate: false, withQueues: false });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Concurrent Pipedrive')).id;
  });
  after(async () => {
    await other?.close();
    await t?.cleanup();
    await pipedrive?.close();
  });

  /** A stored lead (answers encrypted) with its pending delivery to the route's destination. */
  async function createDelivery(r: Awaited<ReturnType<typeof createPipedriveRoute>>, email: string) {
    const leadgenId = String(nextLeadgen++);
    const graphLead = graphLeadSchema.parse({
      id: leadgenId,
      created_time: '2026-11-20T10:15:00+0000',
      form_id: FORM,
      field_data: [
        { name: 'full_name', values: ['Dana Scully'] },
        { name: 'email', values: [email] },
      ],
      platform: 'fb',
      is_organic: false,
    });
    const row = leadRowFromGraph(
      t.app.keyRing,
      { workspaceId, eventId: 0, pageId: PAGE, pageName: null, formName: 'Form', receivedAt: new Date(), isTest: false },
      graphLead,
    );
    const lead = await repo.insertLead(t.app.db, { ...row, event_id: null });
    const [delivery] = await repo.ensureDeliveries(t.app.db, [{ workspaceId, leadId: lead.id, destinationId: r.dest.id, routeId: r.route.id }]);
    return { leadgenId, deliveryId: delivery.id };
  }

  it('creates one person for 20 deliveries of one email, and every delivery links its lead to that person', async () => {
    const r = await createPipedriveRoute(t.app, { workspaceId, pageId: PAGE, formId: FORM, apiToken: API_TOKEN });
    // The same person, written as people type it.
    const spellings = ['dana.scully@example.com', 'Dana.Scully@example.com', ' dana.scully@EXAMPLE.com'];
    const deliveries = await Promise.all(Array.from({ length: 20 }, (_, i) => createDelivery(r, spellings[i % spellings.length])));

    const outcomes = await Promise.all(deliveries.map((d, i) => deliverOne(i % 2 ? other : t.app, d.deliveryId)));

    expect(pipedrive.persons.size, 'persons in Pipedrive').to.equal(1);
    const [person] = [...pipedrive.persons.values()];
    expect(outcomes.map((o) => o.type)).to.deep.equal(Array(20).fill('done'));
    for (const d of deliveries) {
      const row = await repo.findDelivery(t.app.db, d.deliveryId);
      expect(row?.status, `delivery of ${d.leadgenId}`).to.equal('delivered');
      const lead = pipedrive.leads.get(row?.external_id ?? '');
      expect(lead, `Pipedrive lead of ${d.leadgenId}`).to.include({ origin_id: d.leadgenId, person_id: person.id });
    }
    expect(pipedrive.leads.size).to.equal(20);
  });

  it('sends one delivery run by both processes at once only once: one Pipedrive lead, one attempt', async () => {
    // As after a Redis FLUSHALL: the job of a delivery still at the CRM is lost, and the outbox
    // sweep queues it again, so a second worker runs the same delivery meanwhile.
    const r = await createPipedriveRoute(t.app, { workspaceId, pageId: PAGE, formId: FORM, apiToken: API_TOKEN });
    const d = await createDelivery(r, 'walter.skinner@example.com');
    const leadsBefore = pipedrive.leads.size;

    const [a, b] = await Promise.all([deliverOne(t.app, d.deliveryId), deliverOne(other, d.deliveryId)]);

    const [winner, loser] = [a, b].map((o) => `${o.type}:${o.detail}`).sort((x) => (x === 'done:created' ? -1 : 1));
    expect(winner).to.equal('done:created');
    // The other run either found the claim (and waits for it to lapse) or, if it was that slow, the lead delivered.
    expect(loser).to.be.oneOf(['delay:held_by_another_run', 'done:already_delivered']);
    expect(pipedrive.leads.size - leadsBefore, 'leads created in Pipedrive').to.equal(1);
    const attempts = await repo.listAttempts(t.app.db, d.deliveryId);
    expect(attempts.map((x) => x.outcome)).to.deep.equal(['delivered']);
    // The delayed run, when it comes back, finds the delivery done.
    expect(await deliverOne(other, d.deliveryId)).to.deep.equal({ type: 'done', detail: 'already_delivered' });
  });

  it('finds the person a previous burst created, while search does not show them yet', async () => {
    const r = await createPipedriveRoute(t.app, { workspaceId, pageId: PAGE, formId: FORM, apiToken: API_TOKEN });
    const first = await createDelivery(r, 'fox.mulder@example.com');
    expect(await deliverOne(t.app, first.deliveryId)).to.include({ type: 'done', detail: 'created' });
    const personsAfterFirst = pipedrive.persons.size;

    // Later, within the fake's search lag (so search cannot find the person), in the other process.
    const second = await createDelivery(r, 'Fox.Mulder@example.com');
    expect(await deliverOne(other, second.deliveryId)).to.include({ type: 'done', detail: 'created' });
    expect(pipedrive.persons.size).to.equal(personsAfterFirst);
    const [firstRow, secondRow] = [await repo.findDelivery(t.app.db, first.deliveryId), await repo.findDelivery(t.app.db, second.deliveryId)];
    expect(pipedrive.leads.get(secondRow?.external_id ?? '')?.person_id).to.equal(pipedrive.leads.get(firstRow?.external_id ?? '')?.person_id);
  });
});
