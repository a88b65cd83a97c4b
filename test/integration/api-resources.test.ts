import { expect } from 'chai';
import { leadAad } from '../../src/pipeline/lead-record.js';
import * as repo from '../../src/store/repos.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { type ApiClient, seedWorkspaces, startApiServer } from '../helpers/api.js';
import { TEST_APP_SECRET } from '../helpers/e2e.js';
import { makeBareLeadRow } from '../helpers/rows.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const PAGE = '7100000001';
const FORM = '7200000001';
const PAGE_TOKEN = 'EAAB-api-resources-page-secret';
const RECEIVER_SECRET = 'api-resources-receiver-secret';

describe('REST API: pages, destinations, routes, mappings and leads', function () {
  this.timeout(60_000);
  let t: TestApp;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let api: ApiClient;
  let viewer: ApiClient;
  let ws: string;
  let other: string;
  let otherDest: string;
  let base: string;

  before(async () => {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver({ secret: RECEIVER_SECRET });
    t = await createTestApp({ env: { META_GRAPH_URL: graph.url, HUBSPOT_CLIENT_ID: 'hub-client', HUBSPOT_CLIENT_SECRET: 'hub-client-secret' } });
    server = await startApiServer(t.app);
    ({ ws, other, base, api, viewer } = await seedWorkspaces(t.app, server.url));
    otherDest = (
      await repo.createDestination(t.app.db, {
        workspaceId: other,
        type: 'webhook',
        name: 'theirs',
        config: { url: `${receiver.url}/theirs` },
        credentialsEnvelope: null,
      })
    ).id;
    graph.setPageToken(PAGE, PAGE_TOKEN, 'Acme Bikes');
    graph.installApp(PAGE);
    graph.addForm({
      id: FORM,
      page_id: PAGE,
      name: 'Test ride',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
      ],
    });
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
    await graph?.close();
    await receiver?.close();
  });

  describe('pages', () => {
    it('adds a page after Meta accepts its token, naming it from Facebook, and never returns the token', async () => {
      const r = await api.post(`${base}/pages`, { page_id: PAGE, token: PAGE_TOKEN });
      expect(r.status, r.text).to.equal(200);
      expect(r.body.page).to.include({ page_id: PAGE, name: 'Acme Bikes' });
      expect(r.body.warnings).to.deep.equal([]);
      const list = await viewer.get(`${base}/pages`);
      expect(list.body.items.map((p: { page_id: string }) => p.page_id)).to.deep.equal([PAGE]);
      const one = await viewer.get(`${base}/pages/${PAGE}`);
      expect(one.body).to.include({ page_id: PAGE, status: 'active' });
      expect(r.text + list.text + one.text).to.not.include(PAGE_TOKEN);
    });

    it('refuses a token Meta does not accept with 422 naming body.token, storing nothing', async () => {
      const r = await api.post(`${base}/pages`, { page_id: '7100000009', token: 'EAAB-wrong-secret' });
      expect(r.status).to.equal(422);
      expect(r.body.errors[0].field).to.equal('body.token');
      expect(r.text).to.not.include('EAAB-wrong-secret');
      expect(await repo.findPageByPageId(t.app.db, '7100000009')).to.equal(undefined);
    });

    it('refuses a non-numeric page id with 422 naming body.page_id', async () => {
      const r = await api.post(`${base}/pages`, { page_id: 'my page', token: 'x' });
      expect(r.status).to.equal(422);
      expect(r.body.errors[0].field).to.equal('body.page_id');
    });

    it('answers 502 when Meta cannot be asked, storing nothing', async () => {
      const pageId = '7100000010';
      graph.setPageToken(pageId, 'EAAB-unreachable-secret');
      graph.failNext('debug_token', [{ status: 503 }]);
      const r = await api.post(`${base}/pages`, { page_id: pageId, token: 'EAAB-unreachable-secret' });
      expect(r.status, r.text).to.equal(502);
      expect(await repo.findPageByPageId(t.app.db, pageId)).to.equal(undefined);
    });

    it("answers 404 for another workspace's page", async () => {
      await repo.upsertPage(t.app.db, { workspaceId: other, pageId: '7100000020', name: null, tokenEnvelope: 'x' });
      expect((await api.get(`${base}/pages/7100000020`)).status).to.equal(404);
    });

    it('refuses a viewer adding a page with 403', async () => {
      const r = await viewer.post(`${base}/pages`, { page_id: PAGE, token: PAGE_TOKEN });
      expect(r.status).to.equal(403);
    });
  });

  describe('destinations and routes', () => {
    let destId: string;
    let routeId: string;

    it('lists the destination types from the connector manifests', async () => {
      const r = await viewer.get('/destination-types');
      expect(r.status).to.equal(200);
      const webhook = r.body.items.find((x: { id: string }) => x.id === 'webhook');
      expect(webhook.inputs.map((i: { key: string }) => i.key)).to.include('url');
    });

    it('adds a webhook destination; list and get show neither its URL nor its secret', async () => {
      const r = await api.post(`${base}/destinations`, {
        type: 'webhook',
        name: 'Receiver',
        config: { url: `${receiver.url}/in/path-token` },
        credentials: { secret: RECEIVER_SECRET },
      });
      expect(r.status, r.text).to.equal(201);
      destId = r.body.destination.id;
      expect(r.body.destination).to.include({ type: 'webhook', name: 'Receiver', has_credentials: true });
      const list = await viewer.get(`${base}/destinations`);
      const one = await viewer.get(`${base}/destinations/${destId}`);
      expect(one.status).to.equal(200);
      for (const text of [r.text, list.text, one.text]) expect(text).to.not.include(RECEIVER_SECRET).and.not.include('path-token');
    });

    it("refuses settings the type's schema rejects with 422 naming the member", async () => {
      const short = await api.post(`${base}/destinations`, {
        type: 'webhook',
        config: { url: 'https://crm.example.com/in' },
        credentials: { secret: 'short' },
      });
      expect(short.status).to.equal(422);
      expect(short.body.errors[0].field).to.equal('body.credentials.secret');
      const badUrl = await api.post(`${base}/destinations`, { type: 'webhook', config: { url: 'not-a-url' } });
      expect(badUrl.status).to.equal(422);
      expect(badUrl.body.errors[0].field).to.equal('body.config.url');
      const badType = await api.post(`${base}/destinations`, { type: 'fax', config: {} });
      expect(badType.status).to.equal(422);
      expect(badType.body.errors[0].field).to.equal('body.type');
    });

    it('checks a destination, returning its fields', async () => {
      const r = await api.post(`${base}/destinations/${destId}/check`);
      expect(r.status, r.text).to.equal(200);
      expect(r.body.ok).to.equal(true);
      expect(r.body.fields).to.be.an('array');
    });

    it('replaces credentials, reactivating the destination', async () => {
      await repo.setDestinationStatus(t.app.db, destId, 'needs_reauth', 'test');
      const r = await api.put(`${base}/destinations/${destId}/credentials`, { credentials: { secret: `${RECEIVER_SECRET}-2` } });
      expect(r.status, r.text).to.equal(200);
      expect(r.body.destination.status).to.equal('active');
      expect(r.text).to.not.include(RECEIVER_SECRET);
      const empty = await api.put(`${base}/destinations/${destId}/credentials`, {});
      expect(empty.status).to.equal(422);
      // Back to the secret the receiver checks.
      await api.put(`${base}/destinations/${destId}/credentials`, { credentials: { secret: RECEIVER_SECRET } });
    });

    it('gives an OAuth connect link for a type that connects by OAuth, and refuses one that does not', async () => {
      const r = await api.post(`${base}/destinations/connect`, { type: 'hubspot', name: 'CRM' });
      expect(r.status, r.text).to.equal(200);
      const url = new URL(r.body.url);
      expect(url.pathname).to.equal('/oauth/hubspot/start');
      expect(url.searchParams.get('workspace')).to.equal(ws);
      expect(url.searchParams.get('sig')).to.be.a('string');
      const webhook = await api.post(`${base}/destinations/connect`, { type: 'webhook' });
      expect(webhook.status).to.equal(422);
      expect(webhook.body.errors[0].field).to.equal('body.type');
    });

    it('refuses to re-connect by OAuth a destination whose type does not connect by OAuth, naming the destination', async () => {
      const r = await api.post(`${base}/destinations/${destId}/connect`, {});
      expect(r.status, r.text).to.equal(422);
      expect(r.body.errors).to.have.length(1);
      expect(r.body.errors[0].field).to.equal('path.destinationId');
      expect(r.body.errors[0].message).to.equal(
        `destination ${destId} is a webhook destination, which does not connect by OAuth (replace its credentials instead)`,
      );
      expect(r.text).to.not.include('body.type');
    });

    it("answers 404 for another workspace's destination on every destination operation", async () => {
      expect((await api.get(`${base}/destinations/${otherDest}`)).status).to.equal(404);
      expect((await api.post(`${base}/destinations/${otherDest}/check`)).status).to.equal(404);
      expect((await api.put(`${base}/destinations/${otherDest}/credentials`, { config: { url: 'https://x.example.com' } })).status).to.equal(404);
      expect((await api.post(`${base}/destinations/${otherDest}/connect`, {})).status).to.equal(404);
    });

    it('adds a route, lists it without a drift flag, and disables and enables it', async () => {
      const r = await api.post(`${base}/routes`, { page_id: PAGE, form_id: FORM, destination_id: destId });
      expect(r.status, r.text).to.equal(201);
      routeId = r.body.route.id;
      expect(r.body.is_page_registered).to.equal(true);
      const list = await viewer.get(`${base}/routes`);
      expect(list.body.items).to.have.length(1);
      expect(list.body.items[0]).to.include({ id: routeId, is_enabled: true, drift: null });
      const off = await api.patch(`${base}/routes/${routeId}`, { is_enabled: false });
      expect(off.body.is_enabled).to.equal(false);
      const on = await api.patch(`${base}/routes/${routeId}`, { is_enabled: true });
      expect(on.body.is_enabled).to.equal(true);
    });

    it("refuses a route to another workspace's destination with 422 naming body.destination_id, and a bad filter naming body.filter", async () => {
      const foreign = await api.post(`${base}/routes`, { page_id: PAGE, destination_id: otherDest });
      expect(foreign.status).to.equal(422);
      expect(foreign.body.errors[0].field).to.equal('body.destination_id');
      const filter = await api.post(`${base}/routes`, { page_id: PAGE, destination_id: destId, filter: { all: [{ type: 'bogus' }] } });
      expect(filter.status).to.equal(422);
      expect(filter.body.errors[0].field).to.equal('body.filter');
    });

    it("answers 404 for another workspace's route", async () => {
      const theirs = await repo.createRoute(t.app.db, { workspaceId: other, pageId: '7100000020', formId: null, destinationId: otherDest });
      expect((await api.patch(`${base}/routes/${theirs.id}`, { is_enabled: false })).status).to.equal(404);
      expect((await api.get(`${base}/routes/${theirs.id}/mapping/suggestion`)).status).to.equal(404);
    });

    describe('mappings', () => {
      it("suggests a mapping from the form's questions", async () => {
        const r = await viewer.get(`${base}/routes/${routeId}/mapping/suggestion`);
        expect(r.status, r.text).to.equal(200);
        expect(r.body.is_grouped).to.equal(false);
        expect(r.body.forms[0].mapping.rules).to.be.an('array').that.is.not.empty;
      });

      it('sets a valid mapping and refuses an invalid one naming body.mapping', async () => {
        const suggestion = (await api.get(`${base}/routes/${routeId}/mapping/suggestion`)).body.forms[0].mapping;
        const ok = await api.put(`${base}/routes/${routeId}/mapping`, { mapping: suggestion });
        expect(ok.status, ok.text).to.equal(200);
        expect(ok.body.route.mapping).to.deep.equal(suggestion);
        const bad = await api.put(`${base}/routes/${routeId}/mapping`, { mapping: { rules: 'no' } });
        expect(bad.status).to.equal(422);
        expect(bad.body.errors[0].field).to.match(/^body\.mapping/);
      });

      it("previews a sample record from the form's questions", async () => {
        const r = await viewer.post(`${base}/routes/${routeId}/mapping/preview`, { source: 'sample' });
        expect(r.status, r.text).to.equal(200);
        expect(r.body.preview.lead.source).to.equal('sample');
        expect(r.body.destination).to.deep.equal({ id: destId, type: 'webhook' });
      });

      it("refuses a viewer a preview of a stored lead's values with 403", async () => {
        const r = await viewer.post(`${base}/routes/${routeId}/mapping/preview`, { source: 'lead', lead_id: '00000000-0000-4000-8000-000000000000' });
        expect(r.status).to.equal(403);
      });

      it('checks routed forms for drift', async () => {
        const r = await api.post(`${base}/mapping-drift-checks`, {});
        expect(r.status, r.text).to.equal(200);
        expect(r.body.checked).to.equal(1);
      });
    });
  });

  describe('leads', () => {
    const leadIds: string[] = [];
    let foreignLead: string;

    before(async () => {
      for (let i = 0; i < 3; i++) {
        const leadgenId = `81000000000${i}`;
        const row = makeBareLeadRow(ws, leadgenId, PAGE);
        row.form_id = FORM;
        row.received_at = new Date(Date.now() - (3 - i) * 60_000);
        row.answers_envelope = t.app.keyRing.encryptJson(
          { answers: [{ key: 'email', values: [`secret-${i}@example.com`] }], consents: [] },
          leadAad(ws, leadgenId),
        );
        leadIds.push((await repo.insertLead(t.app.db, row)).id);
      }
      foreignLead = (await repo.insertLead(t.app.db, makeBareLeadRow(other, '819999999999', '7100000020'))).id;
    });

    it('lists leads newest first in cursor pages, never with answers', async () => {
      const first = await viewer.get(`${base}/leads?limit=2`);
      expect(first.status, first.text).to.equal(200);
      expect(first.body.items.map((l: { id: string }) => l.id)).to.deep.equal([leadIds[2], leadIds[1]]);
      const second = await viewer.get(`${base}/leads?limit=2&cursor=${first.body.next_cursor}`);
      expect(second.body.items.map((l: { id: string }) => l.id)).to.deep.equal([leadIds[0]]);
      expect(second.body.next_cursor).to.equal(null);
      expect(first.text + second.text).to.not.include('secret-');
    });

    it('filters leads by status, form and time', async () => {
      const since = new Date(Date.now() - 90_000).toISOString();
      const r = await viewer.get(`${base}/leads?form_id=${FORM}&since=${encodeURIComponent(since)}`);
      expect(r.body.items.map((l: { id: string }) => l.id)).to.deep.equal([leadIds[2]]);
      const unrouted = await viewer.get(`${base}/leads?status=unrouted`);
      expect(unrouted.body.items).to.deep.equal([]);
      const bad = await viewer.get(`${base}/leads?status=lost`);
      expect(bad.status).to.equal(422);
      expect(bad.body.errors[0].field).to.equal('query.status');
    });

    it('shows one lead without answers, and answers it 404 for another workspace', async () => {
      const r = await viewer.get(`${base}/leads/${leadIds[0]}`);
      expect(r.status, r.text).to.equal(200);
      expect(r.body).to.include({ id: leadIds[0], answers: 'stored' });
      expect(r.text).to.not.include('secret-');
      expect((await viewer.get(`${base}/leads/${foreignLead}`)).status).to.equal(404);
      expect((await api.get(`${base}/leads/${foreignLead}/answers`)).status).to.equal(404);
      expect((await api.post(`${base}/leads/${foreignLead}/replay`, {})).status).to.equal(404);
    });

    it('gives the answers to a role with leads.answers and audits the read; a viewer gets 403', async () => {
      expect((await viewer.get(`${base}/leads/${leadIds[0]}/answers`)).status).to.equal(403);
      const r = await api.get(`${base}/leads/${leadIds[0]}/answers`);
      expect(r.status).to.equal(200);
      expect(r.body.answers).to.deep.equal([{ key: 'email', values: ['secret-0@example.com'] }]);
      const entry = await t.app.db.selectFrom('audit_log').selectAll().where('action', '=', 'getLeadAnswers').executeTakeFirstOrThrow();
      expect(entry).to.include({ workspace_id: ws, actor_type: 'api_key', target_id: leadIds[0] });
      expect(JSON.stringify(entry)).to.not.include('secret-0');
    });

    it('replays a lead through its route, and replays unrouted leads', async () => {
      const r = await api.post(`${base}/leads/${leadIds[1]}/replay`, {});
      expect(r.status, r.text).to.equal(200);
      expect(r.body).to.include({ lead_id: leadIds[1], is_unrouted: false, queued: 1 });
      expect((await viewer.post(`${base}/leads/${leadIds[1]}/replay`, {})).status).to.equal(403);
      const unrouted = await api.post(`${base}/leads/replay-unrouted`, {});
      expect(unrouted.status).to.equal(200);
      expect(unrouted.body.replayed).to.equal(0);
    });

    it("refetches failed leads of the workspace's pages, refusing another workspace's page naming body.page_id", async () => {
      const r = await api.post(`${base}/leads/refetch-failed`, {});
      expect(r.status).to.equal(200);
      expect(r.body.queued).to.equal(0);
      const foreign = await api.post(`${base}/leads/refetch-failed`, { page_id: '7100000020' });
      expect(foreign.status).to.equal(422);
      expect(foreign.body.errors[0].field).to.equal('body.page_id');
    });
  });
});
