// The lead log and health API in process: leads fetched by the real fetch step from the fake
// Graph (so they are indexed as in production), their deliveries put in each state, then every
// filter, search by email and phone through the blind index, the timeline, the change feed, bulk
// replay of a destination's dead deliveries, health and leads per day.
import { expect } from 'chai';
import { sql } from 'kysely';
import { fetchLeadForEvent } from '../../src/pipeline/fetch-lead.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import { purgeExpiredLeads } from '../../src/pipeline/maintenance.js';
import { deliverJobId } from '../../src/pipeline/queues.js';
import * as repo from '../../src/store/repos.js';
import { eraseFacebookUserLeads, recordFacebookTestLead } from '../../src/store/facebook-user-data.js';
import { type FakeGraph, startFakeGraph } from '../fakes/meta-graph.js';
import { ApiClient, seedApiKey, seedWorkspaces, startApiServer } from '../helpers/api.js';
import { TEST_APP_SECRET } from '../helpers/e2e.js';
import { makeBareLeadRow } from '../helpers/rows.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const P1 = '8100000001';
const P2 = '8100000002';
const P_OTHER = '8100000009';
const F1 = '8200000001';
const F2 = '8200000002';
const F3 = '8200000003';
const F_OTHER = '8200000009';
const TOKENS: Record<string, string> = { [P1]: 'EAAB-lead-log-p1-secret', [P2]: 'EAAB-lead-log-p2-secret', [P_OTHER]: 'EAAB-lead-log-other-secret' };
const QUESTIONS = [
  { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
  { key: 'email', type: 'EMAIL', label: 'Email' },
  { key: 'phone_number', type: 'PHONE', label: 'Phone' },
];
/** Every answer value of the leads below: none may appear in an answer of the lead log. */
const ANSWER_VALUES = ['foo@example.com', '14155550100', 'Jane Roe', 'bar@example.com', '+447700900123', 'baz@example.com', 'old@example.com', 'Una Routed'];

describe('REST API: the lead log and health', function () {
  this.timeout(60_000);
  let t: TestApp;
  let graph: FakeGraph;
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let api: ApiClient;
  let viewer: ApiClient;
  let otherApi: ApiClient;
  let ws: string;
  let other: string;
  let base: string;
  const dest: Record<'d1' | 'd2' | 'd3' | 'd4' | 'dx', string> = { d1: '', d2: '', d3: '', d4: '', dx: '' };
  const lead: Record<'l1' | 'l2' | 'l3' | 'l4' | 'l5' | 'lx', string> = { l1: '', l2: '', l3: '', l4: '', l5: '', lx: '' };
  const receivedAt: Record<string, Date> = {};
  const texts: string[] = [];
  let leadgenSeq = 9_400_000_000_000_000_000n;

  /** A lead sent by Meta and fetched by the real fetch step (so indexed as in production); its id. */
  async function fetchLead(workspaceId: string, pageId: string, formId: string, answers: Record<string, string>, ageMs: number): Promise<string> {
    const leadgenId = String(leadgenSeq++);
    graph.addLead({ id: leadgenId, form_id: formId, page_id: pageId, field_data: Object.entries(answers).map(([name, v]) => ({ name, values: [v] })) });
    const [event] = await repo.recordLeadgenEvents(t.app.db, [{ pageId, leadgenId, formId, adId: null, adgroupId: null, createdTime: null, isTest: false }]);
    const outcome = await fetchLeadForEvent(t.app, event!.id);
    expect(outcome.type, outcome.detail).to.equal('done');
    const row = await t.app.db
      .selectFrom('leads')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('leadgen_id', '=', leadgenId)
      .executeTakeFirstOrThrow();
    const at = new Date(Date.now() - ageMs);
    await t.app.db.updateTable('leads').set({ received_at: at }).where('id', '=', row.id).execute();
    receivedAt[row.id] = at;
    return row.id;
  }

  async function deliveryOf(leadId: string, destinationId: string) {
    return t.app.db.selectFrom('deliveries').selectAll().where('lead_id', '=', leadId).where('destination_id', '=', destinationId).executeTakeFirstOrThrow();
  }

  async function setDelivery(leadId: string, destinationId: string, set: Record<string, unknown>) {
    await t.app.db.updateTable('deliveries').set(set).where('lead_id', '=', leadId).where('destination_id', '=', destinationId).execute();
  }

  /** GET, remembered for the check that no answer was ever returned. */
  async function get(client: ApiClient, path: string) {
    const r = await client.get(path);
    texts.push(r.text);
    return r;
  }

  const ids = (r: { body: { items: { id: string }[] } }) => r.body.items.map((l) => l.id);

  before(async () => {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    t = await createTestApp({ env: { META_GRAPH_URL: graph.url } });
    server = await startApiServer(t.app);
    ({ ws, other, base, api, viewer } = await seedWorkspaces(t.app, server.url));
    otherApi = new ApiClient(server.url).withKey(await seedApiKey(t.app, other, 'admin'));

    for (const [workspaceId, pageId] of [
      [ws, P1],
      [ws, P2],
      [other, P_OTHER],
    ] as const) {
      graph.setPageToken(pageId, TOKENS[pageId]!, `Page ${pageId}`);
      await repo.upsertPage(t.app.db, {
        workspaceId,
        pageId,
        name: `Page ${pageId}`,
        tokenEnvelope: t.app.keyRing.encrypt(TOKENS[pageId]!, pageTokenAad(pageId)),
      });
    }
    graph.installApp(P1);
    graph.addForm({ id: F1, page_id: P1, name: 'Test ride', questions: QUESTIONS });
    graph.addForm({ id: F2, page_id: P2, name: 'Brochure', questions: QUESTIONS });
    graph.addForm({ id: F3, page_id: P1, name: 'Unrouted form', questions: QUESTIONS });
    graph.addForm({ id: F_OTHER, page_id: P_OTHER, name: 'Theirs', questions: QUESTIONS });
    const webhook = async (workspaceId: string, name: string) =>
      (
        await repo.createDestination(t.app.db, {
          workspaceId,
          type: 'webhook',
          name,
          config: { url: `https://crm.example.com/${name}` },
          credentialsEnvelope: null,
        })
      ).id;
    dest.d1 = await webhook(ws, 'one');
    dest.d2 = await webhook(ws, 'two');
    dest.d3 = await webhook(ws, 'three');
    dest.d4 = await webhook(ws, 'four');
    dest.dx = await webhook(other, 'theirs');
    await repo.createRoute(t.app.db, { workspaceId: ws, pageId: P1, formId: F1, destinationId: dest.d1 });
    await repo.createRoute(t.app.db, { workspaceId: ws, pageId: P1, formId: F1, destinationId: dest.d2 });
    await repo.createRoute(t.app.db, { workspaceId: ws, pageId: P2, formId: F2, destinationId: dest.d1 });
    await repo.createRoute(t.app.db, { workspaceId: other, pageId: P_OTHER, formId: F_OTHER, destinationId: dest.dx });

    // l1: delivered to one, dead at two → failed. l2: pending. l3: unrouted. l4: delivered
    // everywhere. l5: parked at one, past the 90-day retention. lx: another workspace's, same email as l1.
    lead.l1 = await fetchLead(ws, P1, F1, { full_name: 'Jane Roe', email: 'foo@example.com', phone_number: '14155550100' }, 3 * DAY);
    lead.l2 = await fetchLead(ws, P2, F2, { email: 'bar@example.com', phone_number: '+447700900123' }, 1 * DAY);
    lead.l3 = await fetchLead(ws, P1, F3, { full_name: 'Una Routed' }, 2 * HOUR);
    lead.l4 = await fetchLead(ws, P1, F1, { email: 'baz@example.com' }, 2 * DAY);
    lead.l5 = await fetchLead(ws, P1, F1, { email: 'old@example.com' }, 100 * DAY);
    lead.lx = await fetchLead(other, P_OTHER, F_OTHER, { email: 'foo@example.com' }, 1 * DAY);

    const delivered = (n: string) => ({
      status: 'delivered',
      attempts: 1,
      external_id: `rec-${n}`,
      external_url: `https://crm.example.com/records/${n}`,
      delivered_at: new Date(),
    });
    await setDelivery(lead.l1, dest.d1, delivered('l1'));
    await setDelivery(lead.l1, dest.d2, {
      status: 'dead',
      attempts: 2,
      last_error_reason: 'status_code_400',
      last_error_message: 'Contact foo@example.com rejected',
    });
    await setDelivery(lead.l4, dest.d1, delivered('l4a'));
    await setDelivery(lead.l4, dest.d2, delivered('l4b'));
    await setDelivery(lead.l5, dest.d1, { status: 'parked', last_error_reason: 'auth_failed' });
    await setDelivery(lead.l5, dest.d2, delivered('l5'));
    await setDelivery(lead.lx, dest.dx, { status: 'dead', last_error_reason: 'status_code_500' });
  });

  after(async () => {
    await server?.close();
    await t?.cleanup();
    await graph?.close();
  });

  describe('filters', () => {
    it('lists every lead newest first, each with where it is as a whole', async () => {
      const r = await get(viewer, `${base}/leads`);
      expect(r.status, r.text).to.equal(200);
      expect(ids(r)).to.deep.equal([lead.l3, lead.l2, lead.l4, lead.l1, lead.l5]);
      const state = Object.fromEntries(r.body.items.map((l: { id: string; delivery_status: string }) => [l.id, l.delivery_status]));
      expect(state).to.deep.equal({ [lead.l1]: 'failed', [lead.l2]: 'pending', [lead.l3]: 'unrouted', [lead.l4]: 'delivered', [lead.l5]: 'parked' });
    });

    it('filters by page', async () => {
      expect(ids(await get(viewer, `${base}/leads?page_id=${P2}`))).to.deep.equal([lead.l2]);
    });

    it('filters by form', async () => {
      expect(ids(await get(viewer, `${base}/leads?form_id=${F1}`))).to.deep.equal([lead.l4, lead.l1, lead.l5]);
    });

    it('filters by destination', async () => {
      expect(ids(await get(viewer, `${base}/leads?destination_id=${dest.d2}`))).to.deep.equal([lead.l4, lead.l1, lead.l5]);
    });

    it('filters by the lead status and by each delivery status', async () => {
      const expected: Record<string, string[]> = {
        routed: [lead.l2, lead.l4, lead.l1, lead.l5],
        unrouted: [lead.l3],
        delivered: [lead.l4],
        failed: [lead.l1],
        pending: [lead.l2],
        parked: [lead.l5],
      };
      for (const [status, want] of Object.entries(expected)) expect(ids(await get(viewer, `${base}/leads?status=${status}`)), status).to.deep.equal(want);
    });

    it("with a destination, filters by the status of that destination's delivery", async () => {
      expect(ids(await get(viewer, `${base}/leads?destination_id=${dest.d1}&status=delivered`))).to.deep.equal([lead.l4, lead.l1]);
      expect(ids(await get(viewer, `${base}/leads?destination_id=${dest.d2}&status=delivered`))).to.deep.equal([lead.l4, lead.l5]);
    });

    it('filters by the time received (since inclusive, until exclusive)', async () => {
      const since = new Date(Date.now() - 2.5 * DAY).toISOString();
      const until = receivedAt[lead.l2]!.toISOString();
      expect(ids(await get(viewer, `${base}/leads?since=${since}&until=${until}`))).to.deep.equal([lead.l4]);
    });

    it('refuses until before since with 422 naming query.until', async () => {
      const r = await viewer.get(`${base}/leads?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z`);
      expect(r.status).to.equal(422);
      expect(r.body.errors[0].field).to.equal('query.until');
    });

    it('pages with the cursor under a filter', async () => {
      const first = await get(viewer, `${base}/leads?form_id=${F1}&limit=2`);
      expect(ids(first)).to.deep.equal([lead.l4, lead.l1]);
      const second = await get(viewer, `${base}/leads?form_id=${F1}&limit=2&cursor=${first.body.next_cursor}`);
      expect(ids(second)).to.deep.equal([lead.l5]);
      expect(second.body.next_cursor).to.equal(null);
    });
  });

  describe('search', () => {
    it('finds a lead by its email however it is typed', async () => {
      expect(ids(await get(viewer, `${base}/leads?q=${encodeURIComponent(' Foo@Example.COM ')}`))).to.deep.equal([lead.l1]);
    });

    it('finds a lead by its phone, stored without + and searched with its country code spaced and bracketed', async () => {
      expect(ids(await get(viewer, `${base}/leads?q=${encodeURIComponent('+1 (415) 555-0100')}`))).to.deep.equal([lead.l1]);
      expect(ids(await get(viewer, `${base}/leads?q=${encodeURIComponent('+44 7700 900123')}`))).to.deep.equal([lead.l2]);
    });

    it('finds nothing for an email no lead of the workspace has, and only the workspace’s own lead for a shared one', async () => {
      expect(ids(await get(viewer, `${base}/leads?q=nobody@example.com`))).to.deep.equal([]);
      expect(ids(await get(otherApi, `/workspaces/${other}/leads?q=foo@example.com`))).to.deep.equal([lead.lx]);
    });

    it('combines search with the other filters', async () => {
      expect(ids(await get(viewer, `${base}/leads?q=foo@example.com&status=delivered`))).to.deep.equal([]);
      expect(ids(await get(viewer, `${base}/leads?q=foo@example.com&status=failed`))).to.deep.equal([lead.l1]);
    });

    it('refuses a query that is neither an email nor a phone with 422 naming query.q, without repeating it', async () => {
      const r = await viewer.get(`${base}/leads?q=jane-roe-lookup`);
      expect(r.status).to.equal(422);
      expect(r.body.errors.map((e: { field: string }) => e.field)).to.deep.equal(['query.q']);
      expect(r.text).to.not.include('jane-roe-lookup');
    });

    it('searches through the hash table without decrypting any answers', async () => {
      const ring = t.app.keyRing;
      const decrypt = ring.decrypt;
      let decrypts = 0;
      ring.decrypt = () => {
        decrypts++;
        throw new Error('decrypt called');
      };
      try {
        expect(ids(await get(viewer, `${base}/leads?q=foo@example.com`))).to.deep.equal([lead.l1]);
      } finally {
        ring.decrypt = decrypt;
      }
      expect(decrypts).to.equal(0);
      const rows = await t.app.db.selectFrom('lead_search').selectAll().where('lead_id', '=', lead.l1).execute();
      expect(rows.map((r) => r.kind).sort()).to.deep.equal(['email', 'phone']);
      expect(JSON.stringify(rows)).to.not.include('foo@example.com').and.not.include('4155550100');
      // Without its rows, the lead is not found: the table is what the search reads.
      await t.app.db.deleteFrom('lead_search').where('lead_id', '=', lead.l4).execute();
      expect(ids(await get(viewer, `${base}/leads?q=baz@example.com`))).to.deep.equal([]);
    });
  });

  describe('timeline', () => {
    it("orders a lead's way: received, fetched, routed, each attempt with the CRM's words (without the lead's data) and the record link", async () => {
      const d1 = await deliveryOf(lead.l1, dest.d1);
      const d2 = await deliveryOf(lead.l1, dest.d2);
      const start = new Date();
      await repo.recordAttempt(t.app.db, {
        workspaceId: ws,
        deliveryId: d2.id,
        attempt: 1,
        startedAt: start,
        outcome: 'retry',
        httpStatus: 503,
        reason: 'status_code_503',
        message: 'Busy, try again',
      });
      await repo.recordAttempt(t.app.db, { workspaceId: ws, deliveryId: d1.id, attempt: 1, startedAt: start, outcome: 'delivered', httpStatus: 201 });
      await repo.recordAttempt(t.app.db, {
        workspaceId: ws,
        deliveryId: d2.id,
        attempt: 2,
        startedAt: start,
        outcome: 'dead',
        httpStatus: 400,
        reason: 'status_code_400',
        message: 'Contact foo@example.com (Jane Roe, 14155550100) rejected',
      });
      const r = await get(viewer, `${base}/leads/${lead.l1}/timeline`);
      expect(r.status, r.text).to.equal(200);
      const steps = r.body.events.map((e: { type: string; destination?: { id: string }; outcome?: string }) =>
        [e.type, e.destination?.id === dest.d1 ? 'one' : e.destination?.id === dest.d2 ? 'two' : null, e.outcome ?? null].filter(Boolean).join(' '),
      );
      expect(steps.slice(0, 2)).to.deep.equal(['received', 'fetched']);
      expect(steps.slice(2, 4).sort()).to.deep.equal(['routed one', 'routed two']);
      expect(steps.slice(4)).to.deep.equal(['attempt two retry', 'attempt one delivered', 'attempt two dead']);
      const times = r.body.events.map((e: { at: string }) => e.at);
      expect(times).to.deep.equal([...times].sort());
      const deliveredStep = r.body.events.find((e: { outcome?: string }) => e.outcome === 'delivered');
      expect(deliveredStep).to.include({ record_url: 'https://crm.example.com/records/l1', external_id: 'rec-l1' });
      const deadStep = r.body.events.find((e: { outcome?: string }) => e.outcome === 'dead');
      expect(deadStep).to.include({ http_status: 400, reason: 'status_code_400' });
      expect(deadStep.message).to.include('rejected').and.include('[redacted]');
      expect(r.body.deliveries.find((d: { id: string }) => d.id === d1.id)).to.include({
        status: 'delivered',
        record_url: 'https://crm.example.com/records/l1',
      });
    });

    it('shows an unrouted lead as unrouted, with why', async () => {
      const r = await get(viewer, `${base}/leads/${lead.l3}/timeline`);
      expect(r.body.events.map((e: { type: string }) => e.type)).to.deep.equal(['received', 'fetched', 'unrouted']);
      expect(r.body.events[2].reason).to.be.a('string');
    });

    it("answers 404 for another workspace's lead", async () => {
      expect((await viewer.get(`${base}/leads/${lead.lx}/timeline`)).status).to.equal(404);
    });
  });

  describe('health', () => {
    it('shows pages from what is stored, without asking Meta', async () => {
      const callsBefore = graph.calls.length;
      const r = await get(viewer, `${base}/health`);
      expect(r.status, r.text).to.equal(200);
      expect(graph.calls.length, 'no call to Meta').to.equal(callsBefore);
      const p1 = r.body.pages.find((p: { page_id: string }) => p.page_id === P1);
      expect(p1).to.include({ status: 'valid', app_installed: null, checked_at: null });
      const lastEvent = await t.app.db
        .selectFrom('leadgen_events')
        .select((eb) => eb.fn.max('received_at').as('last'))
        .where('page_id', '=', P1)
        .executeTakeFirstOrThrow();
      expect(p1.last_lead_at).to.equal(new Date(lastEvent.last as Date).toISOString());
    });

    it("does not show the event row a data-deletion callback wrote before its lead's webhook as the page's last lead", async () => {
      const lastLeadOfP1 = async () => (await get(viewer, `${base}/health`)).body.pages.find((p: { page_id: string }) => p.page_id === P1).last_lead_at;
      const before = await lastLeadOfP1();
      expect(before).to.be.a('string');
      const fbUserId = '10000000000977';
      const leadgenId = '977000000000001';
      await recordFacebookTestLead(t.app.db, { workspaceId: ws, pageId: P1, leadgenId, fbUserId });
      const erased = await eraseFacebookUserLeads(t.app.db, fbUserId, new Date());
      expect(erased.unfetched).to.have.length(1);
      expect(await t.app.db.selectFrom('leadgen_events').select('status').where('leadgen_id', '=', leadgenId).executeTakeFirst()).to.deep.equal({
        status: 'erased',
      });
      expect(await lastLeadOfP1()).to.equal(before);
    });

    it('with check=true asks Meta about every page and keeps its answer: token valid and app installed, or a refused token', async () => {
      graph.revokeToken(TOKENS[P2]!);
      const r = await get(viewer, `${base}/health?check=true`);
      expect(r.status, r.text).to.equal(200);
      const byPage = Object.fromEntries(r.body.pages.map((p: { page_id: string }) => [p.page_id, p]));
      expect(byPage[P1]).to.include({ status: 'valid', app_installed: true, check_outcome: 'ok' });
      expect(byPage[P2]).to.include({ status: 'needs_reauth', check_outcome: 'refused' });
      expect(byPage[P2].check_problem).to.include('not valid');
      expect(graph.calls.some((c) => c.path.endsWith(`/${P1}/subscribed_apps`))).to.equal(true);

      const callsBefore = graph.calls.length;
      const again = await get(viewer, `${base}/health`);
      expect(graph.calls.length).to.equal(callsBefore);
      expect(again.body.pages.find((p: { page_id: string }) => p.page_id === P1)).to.include({ app_installed: true });
      expect(r.text + again.text)
        .to.not.include(TOKENS[P1]!)
        .and.not.include(TOKENS[P2]!);
    });

    it('shows a page whose app is not installed', async () => {
      graph.installApp(P1, ['feed']);
      const r = await get(viewer, `${base}/health?check=true`);
      const p1 = r.body.pages.find((p: { page_id: string }) => p.page_id === P1);
      expect(p1).to.include({ status: 'valid', app_installed: false });
      expect(p1.check_problem).to.include('leadgen');
      graph.installApp(P1);
    });

    it('shows each destination as needs_reauth, rate_limited, failing (dead in the last 24 h) or ok', async () => {
      await repo.setDestinationStatus(t.app.db, dest.d3, 'needs_reauth', 'auth_failed');
      const until = new Date(Date.now() + HOUR);
      await repo.setDestinationRateLimit(t.app.db, dest.d1, until);
      // A dead delivery older than 24 hours does not make four failing.
      await t.app.db
        .insertInto('deliveries')
        .values({ workspace_id: ws, lead_id: lead.l3, destination_id: dest.d4, status: 'dead', updated_at: new Date(Date.now() - 2 * DAY) })
        .execute();
      const r = await get(viewer, `${base}/health`);
      const byId = Object.fromEntries(r.body.destinations.map((d: { id: string }) => [d.id, d]));
      expect(byId[dest.d1]).to.include({ status: 'rate_limited', rate_limited_until: until.toISOString() });
      expect(byId[dest.d1].last_delivered_at).to.be.a('string');
      expect(byId[dest.d2]).to.include({ status: 'failing', dead_last_24h: 1 });
      expect(byId[dest.d3]).to.include({ status: 'needs_reauth', status_reason: 'auth_failed' });
      expect(byId[dest.d4]).to.include({ status: 'ok', dead_last_24h: 0, last_delivered_at: null });
      expect(Object.keys(byId)).to.not.include(dest.dx);
      await repo.setDestinationRateLimit(t.app.db, dest.d1, null);
    });
  });

  describe('leads per day', () => {
    it('counts the leads of each UTC day and form by where they are now', async () => {
      const r = await get(viewer, `${base}/stats/leads-per-day?days=30`);
      expect(r.status, r.text).to.equal(200);
      const day = (id: string) => receivedAt[id]!.toISOString().slice(0, 10);
      const zero = { total: 1, delivered: 0, failed: 0, pending: 0, parked: 0, unrouted: 0 };
      const expected = [
        { date: day(lead.l1), form_id: F1, form_name: 'Test ride', ...zero, failed: 1 },
        { date: day(lead.l4), form_id: F1, form_name: 'Test ride', ...zero, delivered: 1 },
        { date: day(lead.l2), form_id: F2, form_name: 'Brochure', ...zero, pending: 1 },
        { date: day(lead.l3), form_id: F3, form_name: 'Unrouted form', ...zero, unrouted: 1 },
      ].sort((a, b) => a.date.localeCompare(b.date) || a.form_id.localeCompare(b.form_id));
      expect(r.body.items).to.deep.equal(expected);
      expect(r.body.to).to.equal(new Date().toISOString().slice(0, 10));
    });

    it('refuses days out of range with 422 naming query.days', async () => {
      const r = await viewer.get(`${base}/stats/leads-per-day?days=0`);
      expect(r.status).to.equal(422);
      expect(r.body.errors[0].field).to.equal('query.days');
    });
  });

  describe('change feed', () => {
    it("gives the leads changed since the list's cursor (a delivery or the lead), and then nothing more", async () => {
      // Everything so far happened long ago.
      const past = new Date(Date.now() - HOUR);
      await t.app.db.updateTable('leads').set({ updated_at: past }).execute();
      await t.app.db.updateTable('deliveries').set({ updated_at: past }).execute();
      const list = await get(viewer, `${base}/leads`);
      const cursor = list.body.changes_cursor as string;

      await setDelivery(lead.l2, dest.d1, { status: 'delivered', delivered_at: new Date() });
      await repo.setLeadStatus(t.app.db, lead.l3, 'unrouted', 'no_route_for_form');
      const r = await get(viewer, `${base}/leads/changes?since=${cursor}`);
      expect(r.status, r.text).to.equal(200);
      expect(ids(r).sort()).to.deep.equal([lead.l2, lead.l3].sort());
      expect(r.body.items.find((l: { id: string }) => l.id === lead.l2)).to.include({ delivery_status: 'delivered' });
      expect(r.body.has_more).to.equal(false);
      // Re-stamp the changes as old (a time the rows do not have yet: setting a row's own
      // updated_at again counts as not setting it): past the horizon, the next poll has none.
      const older = new Date(Date.now() - 2 * HOUR);
      await t.app.db.updateTable('leads').set({ updated_at: older }).execute();
      await t.app.db.updateTable('deliveries').set({ updated_at: older }).execute();
      const next = await get(viewer, `${base}/leads/changes?since=${r.body.cursor}`);
      expect(ids(next)).to.deep.equal([]);
    });

    it('reads a burst in pages with has_more', async () => {
      const start = (await get(viewer, `${base}/leads/changes`)).body;
      expect(start.items).to.deep.equal([]);
      await setDelivery(lead.l1, dest.d1, { action: 'updated' });
      await setDelivery(lead.l4, dest.d1, { action: 'updated' });
      const first = await get(viewer, `${base}/leads/changes?since=${start.cursor}&limit=1`);
      expect(first.body.items).to.have.length(1);
      expect(first.body.has_more).to.equal(true);
      const second = await get(viewer, `${base}/leads/changes?since=${first.body.cursor}&limit=1`);
      expect([...ids(first), ...ids(second)].sort()).to.deep.equal([lead.l1, lead.l4].sort());
    });

    it('refuses a cursor it did not give with 422 naming query.since', async () => {
      const r = await viewer.get(`${base}/leads/changes?since=not-a-cursor`);
      expect(r.status).to.equal(422);
      expect(r.body.errors[0].field).to.equal('query.since');
    });
  });

  describe('bulk replay of dead deliveries', () => {
    it("queues only that destination's dead deliveries of this workspace", async () => {
      const deadOfTwo = await deliveryOf(lead.l1, dest.d2);
      const r = await api.post(`${base}/destinations/${dest.d2}/replay-dead`, {});
      expect(r.status, r.text).to.equal(200);
      expect(r.body).to.deep.equal({ queued: 1 });
      expect((await deliveryOf(lead.l1, dest.d2)).status).to.equal('pending');
      expect(await t.app.queues.deliver.getJob(deliverJobId(deadOfTwo.id))).to.not.equal(undefined);
      expect((await deliveryOf(lead.l3, dest.d4)).status, "another destination's dead delivery").to.equal('dead');
      expect((await deliveryOf(lead.lx, dest.dx)).status, "another workspace's dead delivery").to.equal('dead');
      const audit = await t.app.db.selectFrom('audit_log').selectAll().where('action', '=', 'replayDeadDeliveries').execute();
      expect(audit.map((a) => a.target_id)).to.deep.equal([dest.d2]);
    });

    it("answers 404 for another workspace's destination, replaying nothing", async () => {
      const r = await api.post(`${base}/destinations/${dest.dx}/replay-dead`, {});
      expect(r.status).to.equal(404);
      expect((await deliveryOf(lead.lx, dest.dx)).status).to.equal('dead');
    });

    it('refuses a viewer with 403', async () => {
      expect((await viewer.post(`${base}/destinations/${dest.d4}/replay-dead`, {})).status).to.equal(403);
    });
  });

  describe('retention', () => {
    it("the purge removes an erased lead's search hashes, so it is no longer found", async () => {
      const before = await t.app.db.selectFrom('lead_search').select('hash').where('lead_id', '=', lead.l5).execute();
      expect(before).to.have.length(1);
      expect(ids(await get(viewer, `${base}/leads?q=old@example.com`))).to.deep.equal([lead.l5]);
      expect(await purgeExpiredLeads(t.app)).to.equal(1);
      expect(await t.app.db.selectFrom('lead_search').select('hash').where('lead_id', '=', lead.l5).execute()).to.deep.equal([]);
      expect(ids(await get(viewer, `${base}/leads?q=old@example.com`))).to.deep.equal([]);
      expect(ids(await get(viewer, `${base}/leads?q=foo@example.com`)), "younger leads' hashes stay").to.deep.equal([lead.l1]);
    });
  });

  // Last: mocha runs a describe's own tests before its nested describes.
  describe('afterwards', () => {
    it('never answered with a lead answer', () => {
      const all = texts.join('\n');
      expect(texts.length).to.be.greaterThan(20);
      for (const v of ANSWER_VALUES) expect(all, v).to.not.include(v);
    });

    it('lists a lead stored without answers, which has no search rows', async () => {
      const bare = await repo.insertLead(t.app.db, makeBareLeadRow(ws, '9499999999', P1));
      expect(ids(await get(viewer, `${base}/leads?limit=1`))).to.deep.equal([bare.id]);
      const { rows } = await sql<{ n: string }>`select count(*) as n from lead_search where lead_id = ${bare.id}`.execute(t.app.db);
      expect(Number(rows[0]!.n)).to.equal(0);
    });
  });
});
