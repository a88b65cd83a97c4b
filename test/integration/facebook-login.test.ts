// Connect Facebook through the REST API, in process, against the loopback fake of the Facebook
// Login dialog and the Graph API: the dialog URL, the person's way through the dialog (Continue or
// Cancel on its form), the callback with the session cookie, the Pages of the person (paged), and
// connecting Pages with the problems that stop leads explained.
import http from 'node:http';
import { expect } from 'chai';
import { createSession, upsertMembership } from '../../src/accounts/store.js';
import { rotateKeys } from '../../src/services/rotate-keys.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { sessionCookieName } from '../../src/api/session-cookie.js';
import { createHttpApp } from '../../src/http/server.js';
import { facebookConnectionAad } from '../../src/meta/facebook-login.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import * as repo from '../../src/store/repos.js';
import { createMetrics } from '../../src/util/metrics.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { ApiClient, seedApiKey, seedUser } from '../helpers/api.js';
import { freePort, TEST_APP_SECRET } from '../helpers/e2e.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const APP_ID = '1234567890';
const FB_USER = '10000000000777';
const PAGES = [
  { id: '8100000001', name: 'Acme Bikes' },
  { id: '8100000002', name: 'Acme Scooters' },
  { id: '8100000003', name: 'Acme Rentals' },
  { id: '8100000004', name: 'Acme Outlet', tasks: ['ADVERTISE', 'ANALYZE'] },
  { id: '8100000005', name: 'Acme Workshop' },
];
const FORM = '8200000001';

interface Person {
  api: ApiClient;
  /** The session cookie header, for the browser's way back from Facebook. */
  cookie: string;
}

const unescapeHtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

describe('Connect Facebook through the API', function () {
  this.timeout(60_000);
  let graph: FakeGraph;
  let t: TestApp;
  let server: http.Server;
  let base: string;
  let ws: string;
  let owner: Person;
  let editor: Person;
  let publicUrl: string;

  async function signIn(userId: string): Promise<Person> {
    const s = await createSession(t.app.db, { userId, mfaVerified: true, ip: null, userAgent: null });
    const api = new ApiClient(publicUrl);
    api.setCookie(sessionCookieName(t.app.config), s.cookie);
    api.csrfToken = s.csrfToken;
    return { api, cookie: `${sessionCookieName(t.app.config)}=${s.cookie}` };
  }

  /** The person in the Facebook dialog: reads the page, presses a button of its form; returns where Facebook sends the browser. */
  async function passDialog(dialogUrl: string, decision: 'continue' | 'cancel'): Promise<string> {
    const page = await fetch(dialogUrl);
    const html = await page.text();
    expect(page.status, html).to.equal(200);
    expect(html).to.match(/<button type="submit" name="decision" value="continue">Continue<\/button>/);
    expect(html).to.match(/<button type="submit" name="decision" value="cancel">Cancel<\/button>/);
    const form = new URLSearchParams();
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) form.set(m[1]!, unescapeHtml(m[2]!));
    form.set('decision', decision);
    const res = await fetch(dialogUrl, { method: 'POST', body: form, redirect: 'manual' });
    expect(res.status).to.equal(302);
    return res.headers.get('location')!;
  }

  /** The browser arriving at the callback with (or without) its session cookie: where LeadRelay sends it next. */
  async function arrive(callbackUrl: string, cookie: string | undefined): Promise<URL> {
    const res = await fetch(callbackUrl, { headers: cookie ? { cookie } : {}, redirect: 'manual' });
    expect(res.status).to.equal(303);
    return new URL(res.headers.get('location')!);
  }

  async function startLogin(person: Person, body: Record<string, unknown> = {}): Promise<string> {
    const r = await person.api.post(`${base}/facebook/login`, body);
    expect(r.status, r.text).to.equal(200);
    return r.body.dialog_url;
  }

  /** Login → dialog (Continue) → callback: the new connection id. */
  async function connect(person: Person): Promise<string> {
    const back = await arrive(await passDialog(await startLogin(person), 'continue'), person.cookie);
    expect(back.searchParams.get('facebook_error'), back.toString()).to.equal(null);
    return back.searchParams.get('connection')!;
  }

  before(async () => {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: APP_ID, maxPageSize: 2, latencyMs: { min: 1, max: 4 } });
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    t = await createTestApp({ env: { META_GRAPH_URL: graph.url, META_DIALOG_URL: graph.url, PUBLIC_URL: publicUrl } });
    server = http.createServer(createHttpApp(t.app, createMetrics()));
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    ws = (await repo.createWorkspace(t.app.db, 'Acme')).id;
    base = `/workspaces/${ws}`;
    owner = await signIn((await seedUser(t.app, { email: 'owner@example.com', workspaceId: ws, role: 'owner' })).id);
    editor = await signIn((await seedUser(t.app, { email: 'editor@example.com', workspaceId: ws, role: 'editor' })).id);
    graph.addForm({
      id: FORM,
      page_id: PAGES[0]!.id,
      name: 'Test ride',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
      ],
    });
  });
  after(async () => {
    await new Promise<void>((r) => {
      server?.close(() => r());
      server?.closeAllConnections();
    });
    await t?.cleanup();
    await graph?.close();
  });
  beforeEach(() => {
    graph.setLoginUser({ id: FB_USER, name: 'Mia Marketer', pages: PAGES });
    graph.setAppSubscription({ callback_url: `${publicUrl}/webhooks/meta` });
    for (const p of PAGES) graph.setLeadAccess(p.id, null);
  });

  it('gives a dialog URL for this app, redirect URI and the lead permissions, with a state', async () => {
    const url = new URL(await startLogin(owner));
    expect(`${url.origin}${url.pathname}`).to.equal(`${graph.url}/v25.0/dialog/oauth`);
    expect(url.searchParams.get('client_id')).to.equal(APP_ID);
    expect(url.searchParams.get('redirect_uri')).to.equal(`${publicUrl}/oauth/facebook/callback`);
    expect(url.searchParams.get('response_type')).to.equal('code');
    expect(url.searchParams.get('scope')!.split(',')).to.include.members([
      'pages_show_list',
      'pages_manage_metadata',
      'pages_read_engagement',
      'leads_retrieval',
      'ads_management',
    ]);
    expect(url.searchParams.get('state')).to.match(/^[\w-]+\.[\w-]+$/);
  });

  it('connects: dialog → callback → Pages listed across several Graph pages → two Pages connected, tokens encrypted, app installed and checked', async () => {
    const connectionId = await connect(owner);
    const row = await t.app.db.selectFrom('facebook_connections').selectAll().where('id', '=', connectionId).executeTakeFirstOrThrow();
    expect(row).to.include({ workspace_id: ws, fb_user_id: FB_USER, name: 'Mia Marketer' });
    const userToken = t.app.keyRing.decrypt(row.token_envelope, facebookConnectionAad(connectionId));
    expect(userToken).to.match(/^EAA/);
    expect(row.token_envelope).to.not.include(userToken);
    expect(row.expires_at, 'a long-lived token: about 60 days').to.be.instanceOf(Date);
    expect(new Date(row.expires_at!).getTime() - Date.now()).to.be.greaterThan(50 * 86_400_000);

    const listed = await owner.api.get(`${base}/facebook/connections/${connectionId}/pages`);
    expect(listed.status, listed.text).to.equal(200);
    expect(listed.body.pages.map((p: { page_id: string }) => p.page_id)).to.deep.equal(PAGES.map((p) => p.id));
    const accountCalls = graph.calls.filter((c) => c.path === '/v25.0/me/accounts');
    expect(accountCalls.length, 'five Pages, two a Graph page').to.be.at.least(3);
    expect(listed.body.pages[0]).to.include({ name: 'Acme Bikes', can_manage_leads: true, already_connected: false });
    expect(listed.body.pages[3]).to.include({ can_manage_leads: false });
    expect(listed.body.pages[3].problems.map((p: { code: string }) => p.code)).to.deep.equal(['task_missing']);
    expect(listed.body).to.include({ reask_url: null, is_truncated: false });
    expect(listed.body.declined_permissions).to.deep.equal([]);

    const picked = [PAGES[0]!.id, PAGES[1]!.id];
    const r = await owner.api.post(`${base}/facebook/connections/${connectionId}/pages`, { page_ids: picked });
    expect(r.status, r.text).to.equal(200);
    expect(
      r.body.pages.map((p: { status: string }) => p.status),
      r.text,
    ).to.deep.equal(['connected', 'connected']);
    for (const pageId of picked) {
      const page = await repo.findPageByPageId(t.app.db, pageId);
      expect(page).to.include({ workspace_id: ws, status: 'active' });
      const issued = graph.issuedPageTokens(pageId);
      expect(t.app.keyRing.decrypt(page!.token_envelope, pageTokenAad(pageId))).to.equal(issued[issued.length - 1]);
      expect(page!.token_envelope).to.not.include(issued[issued.length - 1]!);
      expect(graph.installedFields(pageId)).to.deep.equal(['leadgen']);
      expect(graph.calls.some((c) => c.method === 'POST' && c.path === `/v25.0/${pageId}/subscribed_apps`)).to.equal(true);
      const afterInstall = graph.calls.slice(graph.calls.map((c) => `${c.method} ${c.path}`).lastIndexOf(`POST /v25.0/${pageId}/subscribed_apps`) + 1);
      expect(
        afterInstall.some((c) => c.method === 'GET' && c.path === `/v25.0/${pageId}/subscribed_apps`),
        'read back after installing',
      ).to.equal(true);
    }
    const secrets = [userToken, ...PAGES.flatMap((p) => graph.issuedPageTokens(p.id))];
    for (const text of [listed.text, r.text]) expect(secrets.filter((s) => text.includes(s))).to.deep.equal([]);

    const again = await owner.api.get(`${base}/facebook/connections/${connectionId}/pages`);
    expect(again.body.pages.filter((p: { already_connected: boolean }) => p.already_connected).map((p: { page_id: string }) => p.page_id)).to.deep.equal(
      picked,
    );
  });

  it("lists a connected Page's lead forms with their questions, and sends Meta a test lead, replacing the form's earlier one", async () => {
    const forms = await editor.api.get(`${base}/pages/${PAGES[0]!.id}/forms`);
    expect(forms.status, forms.text).to.equal(200);
    expect(forms.body.items).to.have.length(1);
    expect(forms.body.items[0]).to.include({ id: FORM, name: 'Test ride', status: 'ACTIVE', leads_count: 0 });
    expect(forms.body.items[0].questions.map((q: { key: string }) => q.key)).to.deep.equal(['full_name', 'email']);

    const first = await editor.api.post(`${base}/forms/${FORM}/test-leads`, { page_id: PAGES[0]!.id, answers: [{ name: 'email', values: ['t@example.com'] }] });
    expect(first.status, first.text).to.equal(201);
    expect(first.body.replaced_test_lead_ids).to.deep.equal([]);
    expect(graph.getLead(first.body.test_lead_id)).to.not.equal(undefined);

    const refused = await editor.api.post(`${base}/forms/${FORM}/test-leads`, { page_id: PAGES[0]!.id, replace_existing: false });
    expect(refused.status).to.equal(409);
    expect(refused.body.detail).to.match(/one per form/);

    const second = await editor.api.post(`${base}/forms/${FORM}/test-leads`, { page_id: PAGES[0]!.id });
    expect(second.status, second.text).to.equal(201);
    expect(second.body.replaced_test_lead_ids).to.deep.equal([first.body.test_lead_id]);
    expect(graph.getLead(first.body.test_lead_id), 'the earlier test lead is gone').to.equal(undefined);
  });

  it('explains a declined permission with a link that asks for it again, and connects once it is given', async () => {
    graph.setLoginUser({ id: FB_USER, name: 'Mia Marketer', pages: PAGES, declined: ['leads_retrieval'] });
    const connectionId = await connect(owner);
    const listed = await owner.api.get(`${base}/facebook/connections/${connectionId}/pages`);
    expect(listed.body.declined_permissions).to.have.length(1);
    expect(listed.body.declined_permissions[0].permission).to.equal('leads_retrieval');
    expect(listed.body.declined_permissions[0].explanation).to.match(/answers people give/);
    const reask = new URL(listed.body.reask_url);
    expect(reask.searchParams.get('auth_type')).to.equal('rerequest');

    const r = await owner.api.post(`${base}/facebook/connections/${connectionId}/pages`, { page_ids: [PAGES[2]!.id] });
    expect(r.status, r.text).to.equal(200);
    expect(r.body.pages[0].status).to.equal('problem');
    const declined = r.body.pages[0].problems.find((p: { code: string }) => p.code === 'permission_declined');
    expect(declined).to.include({ permission: 'leads_retrieval' });
    expect(declined.fix_url).to.match(/auth_type=rerequest/);
    expect(await repo.findPageByPageId(t.app.db, PAGES[2]!.id), 'a token that cannot read leads is not stored').to.equal(undefined);

    // The person follows the re-ask link and allows it this time.
    graph.setLoginUser({ id: FB_USER, name: 'Mia Marketer', pages: PAGES });
    const back = await arrive(await passDialog(listed.body.reask_url, 'continue'), owner.cookie);
    const renewed = back.searchParams.get('connection')!;
    const retried = await owner.api.post(`${base}/facebook/connections/${renewed}/pages`, { page_ids: [PAGES[2]!.id] });
    expect(retried.body.pages[0].status, retried.text).to.equal('connected');
  });

  it('sends the person back with access_denied when they cancel the dialog, storing nothing', async () => {
    const before = await t.app.db.selectFrom('facebook_connections').select('id').execute();
    const back = await arrive(await passDialog(await startLogin(owner), 'cancel'), owner.cookie);
    expect(`${back.origin}${back.pathname}`).to.equal(`${publicUrl}/w/${ws}/wizard/facebook`);
    expect(back.searchParams.get('facebook_error')).to.equal('access_denied');
    expect(await t.app.db.selectFrom('facebook_connections').select('id').execute()).to.have.length(before.length);
  });

  it('refuses a replayed callback (the same state again) without making a second connection', async () => {
    const callback = await passDialog(await startLogin(owner), 'continue');
    const first = await arrive(callback, owner.cookie);
    expect(first.searchParams.get('connection')).to.be.a('string');
    const count = (await t.app.db.selectFrom('facebook_connections').select('id').execute()).length;
    const replay = await arrive(callback, owner.cookie);
    expect(replay.searchParams.get('facebook_error')).to.equal('state_used');
    expect(await t.app.db.selectFrom('facebook_connections').select('id').execute()).to.have.length(count);
  });

  it('refuses a state made for another session, or arriving with no session, before spending the code', async () => {
    const callback = await passDialog(await startLogin(owner), 'continue');
    const otherSession = await signIn((await t.app.db.selectFrom('users').select('id').where('email', '=', 'owner@example.com').executeTakeFirstOrThrow()).id);
    expect((await arrive(callback, otherSession.cookie)).searchParams.get('facebook_error')).to.equal('session_mismatch');
    expect((await arrive(callback, editor.cookie)).searchParams.get('facebook_error')).to.equal('session_mismatch');
    expect((await arrive(callback, undefined)).searchParams.get('facebook_error')).to.equal('session_mismatch');
    const code = new URL(callback).searchParams.get('code');
    expect(
      graph.calls.some((c) => c.path.endsWith('/oauth/access_token') && c.query.code === code),
      'the code was not exchanged',
    ).to.equal(false);
    // The rightful session still completes it.
    expect((await arrive(callback, owner.cookie)).searchParams.get('connection')).to.be.a('string');
  });

  it('refuses a forged state and a code Facebook does not accept', async () => {
    const callback = new URL(await passDialog(await startLogin(owner), 'continue'));
    const forged = new URL(callback);
    forged.searchParams.set('state', `${callback.searchParams.get('state')!.split('.')[0]}.AAAA`);
    const refused = await arrive(forged.toString(), owner.cookie);
    expect(refused.searchParams.get('facebook_error')).to.equal('state_invalid');
    expect(`${refused.origin}${refused.pathname}`).to.equal(`${publicUrl}/workspaces`);

    const badCode = new URL(callback);
    badCode.searchParams.set('code', 'AQnot-a-code-facebook-made');
    const back = await arrive(badCode.toString(), owner.cookie);
    expect(back.searchParams.get('facebook_error')).to.equal('code_refused');
  });

  it('explains a Page whose app installation fails (no MANAGE task) and one without lead access, and still connects the good one', async () => {
    graph.setLeadAccess(PAGES[4]!.id, { users: ['10000000000999'] });
    const connectionId = await connect(owner);
    const r = await owner.api.post(`${base}/facebook/connections/${connectionId}/pages`, { page_ids: [PAGES[3]!.id, PAGES[4]!.id, PAGES[0]!.id] });
    expect(r.status, r.text).to.equal(200);
    const [outlet, workshop, bikes] = r.body.pages;
    expect(outlet.status).to.equal('problem');
    expect(outlet.problems.map((p: { code: string }) => p.code)).to.include.members(['task_missing', 'subscription_failed']);
    const failed = outlet.problems.find((p: { code: string }) => p.code === 'subscription_failed');
    expect(failed.message).to.match(/Graph error 200/);
    expect(failed.fix).to.match(/full control/);
    expect(graph.installedFields(PAGES[3]!.id)).to.equal(undefined);
    expect(workshop.status).to.equal('problem');
    const noAccess = workshop.problems.find((p: { code: string }) => p.code === 'no_lead_access');
    expect(noAccess.message).to.match(/Leads Access Manager/);
    expect(noAccess.fix).to.match(/Business Settings → Integrations → Leads Access/);
    expect(bikes.status, JSON.stringify(bikes)).to.equal('connected');
  });

  it('says the app is not subscribed at app level, and an owner subscribes it (Facebook verifies the callback)', async () => {
    graph.setAppSubscription(null);
    const connectionId = await connect(owner);
    const r = await owner.api.post(`${base}/facebook/connections/${connectionId}/pages`, { page_ids: [PAGES[1]!.id] });
    const problem = r.body.pages[0].problems.find((p: { code: string }) => p.code === 'app_not_subscribed');
    expect(problem.fix).to.include(`${publicUrl}/webhooks/meta`);

    expect((await owner.api.get(`${base}/facebook/app-subscription`)).body.status).to.equal('not_subscribed');
    expect((await editor.api.post(`${base}/facebook/app-subscription`)).status).to.equal(403);
    const subscribed = await owner.api.post(`${base}/facebook/app-subscription`);
    expect(subscribed.status, subscribed.text).to.equal(200);
    expect(subscribed.body).to.include({ status: 'subscribed', callback_url: `${publicUrl}/webhooks/meta` });
    expect(graph.appSubscription()).to.deep.include({ callback_url: `${publicUrl}/webhooks/meta`, fields: ['leadgen'], active: true });
  });

  it('keeps Facebook connections to the person: an API key is refused, another member sees none of them', async () => {
    const key = new ApiClient(publicUrl).withKey(await seedApiKey(t.app, ws, 'admin'));
    expect((await key.post(`${base}/facebook/login`, {})).status).to.equal(403);
    const connectionId = await connect(owner);
    expect((await editor.api.get(`${base}/facebook/connections/${connectionId}/pages`)).status).to.equal(404);
    expect((await editor.api.get(`${base}/facebook/connections`)).body.items.map((c: { id: string }) => c.id)).to.not.include(connectionId);
    const mine = await owner.api.get(`${base}/facebook/connections`);
    expect(mine.body.items.map((c: { id: string }) => c.id)).to.include(connectionId);
    expect(mine.text).to.not.match(/EAA/);
    expect((await owner.api.delete(`${base}/facebook/connections/${connectionId}`)).status).to.equal(204);
    expect((await owner.api.get(`${base}/facebook/connections/${connectionId}/pages`)).status).to.equal(404);
  });

  it('keeps a Facebook connection working after keys rotate re-encrypts its token under a new key', async () => {
    const connectionId = await connect(owner);
    const before = (await t.app.db.selectFrom('facebook_connections').select('token_envelope').where('id', '=', connectionId).executeTakeFirstOrThrow())
      .token_envelope;
    const k2 = new KeyRing([{ kid: 'k2', key: Buffer.alloc(32, 9) }, ...t.config.encryptionKeys!]);
    (t.app as { keyRing: KeyRing }).keyRing = k2;
    const r = await rotateKeys(t.app);
    expect(r.facebookTokens).to.be.at.least(1);
    const after = (await t.app.db.selectFrom('facebook_connections').select('token_envelope').where('id', '=', connectionId).executeTakeFirstOrThrow())
      .token_envelope;
    expect(k2.kidOf(after)).to.equal('k2');
    expect(after).to.not.equal(before);
    const listed = await owner.api.get(`${base}/facebook/connections/${connectionId}/pages`);
    expect(listed.status, listed.text).to.equal(200);
  });

  it('refuses a login to a member whose role cannot change the configuration', async () => {
    const viewerUser = await seedUser(t.app, { email: 'viewer@example.com' });
    await upsertMembership(t.app.db, { userId: viewerUser.id, workspaceId: ws, role: 'viewer' });
    const viewer = await signIn(viewerUser.id);
    const r = await viewer.api.post(`${base}/facebook/login`, {});
    expect(r.status).to.equal(403);
    expect(r.body.detail).to.include('config.write');
  });
});
