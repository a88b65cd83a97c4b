// Connect Facebook against the real program: an owner signs in, asks the API for the Facebook
// Login dialog, goes through the (fake) dialog, and the browser's way back is followed by hand,
// redirect by redirect, carrying the session cookie, to the wizard with a new connection; then
// the Pages are listed and one is connected. The run's output holds no token and no code.
import { expect } from 'chai';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { ApiClient } from '../helpers/api.js';
import { baseEnv, cli, createOwner, OWNER_PASSWORD, removeQueues, startProgram, TEST_APP_SECRET, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const PAGES = [
  { id: '1400000001', name: 'Acme Bikes' },
  { id: '1400000002', name: 'Acme Scooters' },
];

describe('e2e: Connect Facebook with the real program', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let api: ApiClient;
  let cookie: string;
  let ws: string;
  /** Every code Facebook sent back in this run, to look for in the output. */
  const codes: string[] = [];

  /** The program's own address for a URL it made from its PUBLIC_URL (http://localhost:<port>). */
  const onProgram = (url: string) => {
    const u = new URL(url);
    return `${program.url}${u.pathname}${u.search}`;
  };

  /** Opens the dialog, presses a button of its form, follows Facebook's redirect to the callback with the cookie: where LeadRelay sends the browser. */
  async function throughDialog(dialogUrl: string, decision: 'continue' | 'cancel'): Promise<URL> {
    const html = await (await fetch(dialogUrl)).text();
    const form = new URLSearchParams();
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) form.set(m[1]!, m[2]!.replace(/&amp;/g, '&'));
    form.set('decision', decision);
    const toFacebook = await fetch(dialogUrl, { method: 'POST', body: form, redirect: 'manual' });
    expect(toFacebook.status).to.equal(302);
    const callback = toFacebook.headers.get('location')!;
    const code = new URL(callback).searchParams.get('code');
    if (code) codes.push(code);
    expect(new URL(callback).pathname).to.equal('/oauth/facebook/callback');
    const back = await fetch(onProgram(callback), { headers: { cookie }, redirect: 'manual' });
    expect(back.status).to.equal(303);
    expect(back.headers.get('cache-control')).to.equal('no-store');
    return new URL(back.headers.get('location')!);
  }

  before(async () => {
    schema = await createTestSchema('e2e');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890', latencyMs: { min: 5, max: 20 } });
    graph.setLoginUser({ id: '10000000000555', name: 'Mia Marketer', pages: PAGES });
    env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url, META_DIALOG_URL: graph.url, LOG_LEVEL: 'debug' });
    ws = await cli(['workspaces', 'create', '--name', 'Acme'], env);
    const email = await createOwner(env);
    program = await startProgram('serve', env);
    // PUBLIC_URL is unset, so the program's own address is http://localhost:<port>.
    graph.setAppSubscription({ callback_url: `http://localhost:${program.port}/webhooks/meta` });
    dbh = await openDb({ url: schema.url, poolMax: 2 });
    const signIn = await fetch(`${program.url}/api/v1/auth/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: OWNER_PASSWORD }),
    });
    expect(signIn.status).to.equal(200);
    cookie = signIn.headers.getSetCookie()[0]!.split(';')[0]!;
    api = new ApiClient(program.url);
    const [name, value] = cookie.split('=');
    api.setCookie(name!, value!);
    api.csrfToken = ((await signIn.json()) as { csrf_token: string }).csrf_token;
  });

  after(async () => {
    await program?.kill();
    await dbh?.close();
    await graph?.close();
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('comes back from the dialog to the wizard with a connection, lists the Pages and connects one', async () => {
    const login = await api.post(`/workspaces/${ws}/facebook/login`, {});
    expect(login.status, login.text).to.equal(200);
    const back = await throughDialog(login.body.dialog_url, 'continue');
    expect(back.pathname).to.equal(`/w/${ws}/wizard/pages`);
    const connectionId = back.searchParams.get('connection');
    expect(connectionId, back.toString()).to.match(/^[0-9a-f-]{36}$/);

    const listed = await api.get(`/workspaces/${ws}/facebook/connections/${connectionId}/pages`);
    expect(listed.status, listed.text).to.equal(200);
    expect(listed.body.pages.map((p: { name: string }) => p.name)).to.deep.equal(['Acme Bikes', 'Acme Scooters']);

    const connected = await api.post(`/workspaces/${ws}/facebook/connections/${connectionId}/pages`, { page_ids: [PAGES[0]!.id] });
    expect(connected.status, connected.text).to.equal(200);
    expect(connected.body.pages[0]).to.include({ status: 'connected' });
    const page = await dbh.db.selectFrom('pages').selectAll().where('page_id', '=', PAGES[0]!.id).executeTakeFirstOrThrow();
    expect(page).to.include({ workspace_id: ws, status: 'active', name: 'Acme Bikes' });
    expect(graph.installedFields(PAGES[0]!.id)).to.deep.equal(['leadgen']);

    const audit = await api.get(`/workspaces/${ws}/audit?action=connectFacebook`);
    expect(audit.status, audit.text).to.equal(200);
    expect(audit.body.items.map((e: { action: string }) => e.action)).to.include('connectFacebook');
  });

  it('sends the browser back with facebook_error=access_denied when the person cancels', async () => {
    const login = await api.post(`/workspaces/${ws}/facebook/login`, {});
    const back = await throughDialog(login.body.dialog_url, 'cancel');
    expect(back.pathname).to.equal(`/w/${ws}/wizard/facebook`);
    expect(back.searchParams.get('facebook_error')).to.equal('access_denied');
  });

  it('leaves no Facebook token and no login code in the program output', () => {
    const secrets = [...codes, ...PAGES.flatMap((p) => graph.issuedPageTokens(p.id))];
    expect(secrets.length).to.be.greaterThan(2);
    const out = program.output();
    expect(secrets.filter((s) => out.includes(s))).to.deep.equal([]);
    expect(out).to.not.match(/EAA[A-Za-z0-9]{8,}/);
  });
});
