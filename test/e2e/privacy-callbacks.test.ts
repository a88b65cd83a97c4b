// Meta's data-deletion and deauthorize callbacks against the real program: two marketers connect
// Facebook (through the fake dialog) and a Page each; one made a Meta test lead with answers.
// A signed data-deletion request erases what LeadRelay holds for that person and its status URL
// says so; forged, expired or malformed requests change nothing; a deauthorization deletes the
// other person's tokens and disconnects their page, whose later leads are kept but not fetched
// until the page is connected again. Three more people each make a test lead that LeadRelay has
// not fetched when they ask for their data to be deleted (its webhook held back by Meta, or
// parked): it is never fetched, stored or delivered, whether its webhook comes later, its page is
// connected again, or reconciliation finds it in Meta's list.
import { expect } from 'chai';
import { sql } from 'kysely';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { ApiClient } from '../helpers/api.js';
import {
  baseEnv,
  cli,
  createOwner,
  OWNER_PASSWORD,
  postLeadgen,
  removeQueues,
  startProgram,
  TEST_APP_SECRET,
  waitUntil,
  type RunningProgram,
} from '../helpers/e2e.js';
import { buildSignedRequest, signedRequestForm } from '../helpers/meta-signed-request.js';
import { findMentions } from '../helpers/schema-scan.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const MIA = { id: '10000000000555', page: { id: '1500000001', name: 'Mia Bikes' }, form: '2500000001', email: 'mia.marketer@example.com' };
const LEO = { id: '10000000000777', page: { id: '1500000002', name: 'Leo Scooters' }, form: '2500000002' };
/** People whose test lead is not fetched yet when they ask for their data to be deleted; their pages' leads go to a webhook. */
const ZOE = { id: '10000000000911', page: { id: '1500000003', name: 'Zoe Boats' }, form: '2500000003', email: 'zoe.marketer@example.com' };
const ADA = { id: '10000000000922', page: { id: '1500000004', name: 'Ada Kites' }, form: '2500000004', email: 'ada.marketer@example.com' };
const KAI = { id: '10000000000933', page: { id: '1500000005', name: 'Kai Skates' }, form: '2500000005', email: 'kai.marketer@example.com' };
type Person = { id: string; page: { id: string; name: string }; form: string };
const WEBHOOK_SECRET = 'privacy-webhook-secret-0123';

describe('e2e: Meta data-deletion and deauthorize callbacks', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let hookId: string;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let api: ApiClient;
  let cookie: string;
  let ws: string;
  let testLeadId: string;
  const signedRequests: string[] = [];
  /** Pages whose test leads' webhooks Meta holds back, and the webhooks held, by leadgen id (a test sends them). */
  const heldPages = new Set<string>();
  const heldWebhooks = new Map<string, { pageId: string; formId: string; leadgenId: string }>();
  let nextLeadgenId = 9_200_000_000_000_000_100n;

  const onProgram = (url: string) => {
    const u = new URL(url);
    return `${program.url}${u.pathname}${u.search}`;
  };
  const sign = (fields: Parameters<typeof buildSignedRequest>[0], secret = TEST_APP_SECRET) => {
    const signed = buildSignedRequest(fields, secret);
    signedRequests.push(signed);
    return signed;
  };
  const callback = (path: 'data-deletion' | 'deauthorize', body: URLSearchParams | string) =>
    fetch(`${program.url}/webhooks/meta/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: typeof body === 'string' ? body : body.toString(),
    });

  /** Connect Facebook as the fake dialog's person, then connect their one Page. */
  async function connectFacebook(person: Person): Promise<void> {
    graph.setLoginUser({ id: person.id, name: `Person ${person.id}`, pages: [person.page] });
    const login = await api.post(`/workspaces/${ws}/facebook/login`, {});
    expect(login.status, login.text).to.equal(200);
    const html = await (await fetch(login.body.dialog_url)).text();
    const form = new URLSearchParams();
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) form.set(m[1]!, m[2]!.replace(/&amp;/g, '&'));
    form.set('decision', 'continue');
    const toFacebook = await fetch(login.body.dialog_url, { method: 'POST', body: form, redirect: 'manual' });
    const back = await fetch(onProgram(toFacebook.headers.get('location')!), { headers: { cookie }, redirect: 'manual' });
    const connectionId = new URL(back.headers.get('location')!).searchParams.get('connection');
    expect(connectionId, 'a Facebook connection').to.match(/^[0-9a-f-]{36}$/);
    const connected = await api.post(`/workspaces/${ws}/facebook/connections/${connectionId}/pages`, { page_ids: [person.page.id] });
    expect(connected.status, connected.text).to.equal(200);
    expect(connected.body.pages[0]).to.include({ status: 'connected' });
  }

  const pageRow = (pageId: string) => dbh.db.selectFrom('pages').selectAll().where('page_id', '=', pageId).executeTakeFirstOrThrow();
  const connectionsOf = (fbUserId: string) => dbh.db.selectFrom('facebook_connections').select('id').where('fb_user_id', '=', fbUserId).execute();
  const leadRow = (leadgenId: string) => dbh.db.selectFrom('leads').selectAll().where('leadgen_id', '=', leadgenId).executeTakeFirst();
  const eventRow = (leadgenId: string) => dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', leadgenId).executeTakeFirst();
  const wasDelivered = (leadgenId: string) => receiver.received.some((r) => r.body?.leadgen_id === leadgenId);

  /** The person's form, Facebook login and Page, with a route from the Page to the webhook; Meta holds back the Page's test leads' webhooks. */
  async function setUpPerson(person: Person): Promise<void> {
    graph.addForm({ id: person.form, page_id: person.page.id, name: `Form of ${person.page.name}`, questions: [{ key: 'email', type: 'EMAIL' }] });
    await connectFacebook(person);
    await cli(['routes', 'add', '--workspace', ws, '--page-id', person.page.id, '--destination', hookId], env);
    heldPages.add(person.page.id);
  }
  /** A Meta test lead the person makes on their form, with their email; returns its leadgen id. */
  async function makeTestLead(person: Person & { email: string }): Promise<string> {
    const created = await api.post(`/workspaces/${ws}/forms/${person.form}/test-leads`, {
      page_id: person.page.id,
      answers: [{ name: 'email', values: [person.email] }],
    });
    expect(created.status, created.text).to.equal(201);
    return created.body.test_lead_id;
  }
  async function sendHeldWebhook(leadgenId: string): Promise<void> {
    const webhook = heldWebhooks.get(leadgenId);
    expect(webhook, 'a held webhook').to.not.equal(undefined);
    expect((await postLeadgen(program.url, webhook!)).status).to.equal(200);
  }
  async function requestDataDeletion(person: Person): Promise<void> {
    const res = await callback('data-deletion', signedRequestForm(sign({ user_id: person.id })));
    expect(res.status).to.equal(200);
  }
  /** Someone else's lead on the person's Page, whose webhook Meta sends; returns its leadgen id. */
  async function sendOtherLead(person: Person): Promise<string> {
    const leadgenId = String(nextLeadgenId++);
    graph.addLead({ id: leadgenId, form_id: person.form, page_id: person.page.id, field_data: [{ name: 'email', values: ['buyer@example.com'] }] });
    expect((await postLeadgen(program.url, { pageId: person.page.id, formId: person.form, leadgenId })).status).to.equal(200);
    return leadgenId;
  }
  /** Connects the person's Page again with a token given by hand (its waiting leads resume). */
  async function connectPageAgain(person: Person): Promise<void> {
    const token = `EAAB-new-page-token-${person.page.id}`;
    graph.setPageToken(person.page.id, token, person.page.name);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', person.page.id, '--token', token, '--skip-check'], env);
  }
  const waitForStatus = (leadgenId: string, status: string, what: string) =>
    waitUntil(async () => ((await eventRow(leadgenId))?.status === status ? true : undefined), 60_000, what);
  const countDeletionRequests = async () =>
    Number(
      (
        await dbh.db
          .selectFrom('meta_deletion_requests')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  before(async () => {
    schema = await createTestSchema('e2e');
    graph = await startFakeGraph({
      appSecret: TEST_APP_SECRET,
      appId: '1234567890',
      // Meta sends the test lead's webhook like a real lead's (a test may hold it back).
      onTestLeadCreated: (e) => {
        const webhook = { pageId: e.pageId!, formId: e.formId, leadgenId: e.leadgenId };
        if (heldPages.has(webhook.pageId)) heldWebhooks.set(webhook.leadgenId, webhook);
        else void postLeadgen(program.url, webhook);
      },
    });
    graph.addForm({
      id: MIA.form,
      page_id: MIA.page.id,
      name: 'Bike test ride',
      questions: [
        { key: 'email', type: 'EMAIL' },
        { key: 'full_name', type: 'FULL_NAME' },
      ],
    });
    graph.addForm({ id: LEO.form, page_id: LEO.page.id, name: 'Scooter offer', questions: [{ key: 'email', type: 'EMAIL' }] });
    receiver = await startFakeReceiver({ secret: WEBHOOK_SECRET });
    env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url, META_DIALOG_URL: graph.url });
    ws = await cli(['workspaces', 'create', '--name', 'Acme'], env);
    hookId = await cli(
      ['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', `${receiver.url}/leads`, '--name', 'Leads hook', '--secret', WEBHOOK_SECRET],
      env,
    );
    const email = await createOwner(env);
    program = await startProgram('start', env);
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

    await connectFacebook(MIA);
    await connectFacebook(LEO);
    // Mia makes a Meta test lead with her own email on her Page's form; Meta sends it; LeadRelay fetches it.
    const created = await api.post(`/workspaces/${ws}/forms/${MIA.form}/test-leads`, {
      page_id: MIA.page.id,
      answers: [
        { name: 'email', values: [MIA.email] },
        { name: 'full_name', values: ['Mia Marketer'] },
      ],
    });
    expect(created.status, created.text).to.equal(201);
    testLeadId = created.body.test_lead_id;
    await waitUntil(async () => (await leadRow(testLeadId))?.answers_envelope, 60_000, 'the test lead fetched and stored');
  });

  after(async () => {
    await program?.kill();
    await dbh?.close();
    await graph?.close();
    await receiver?.close();
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('erases what it holds for the person on a signed data-deletion request, and its status URL says so', async () => {
    expect(
      (await findMentions(dbh.db, [MIA.id])).map((m) => m.table),
      'where her Facebook id is held before',
    ).to.include.members(['facebook_connections', 'pages', 'facebook_test_leads']);
    // What a connector kept of the lead's delivery (a CRM person id, say) goes with the lead.
    const kept = await sql`
      insert into deliveries (workspace_id, lead_id, destination_id, status, connector_state)
      select l.workspace_id, l.id, d.id, 'delivered', ${JSON.stringify({ personId: 7 })}::jsonb
      from leads l join destinations d on d.workspace_id = l.workspace_id
      where l.id = ${(await leadRow(testLeadId))!.id}
      on conflict (lead_id, destination_id) do update set connector_state = excluded.connector_state
    `.execute(dbh.db);
    expect(Number(kept.numAffectedRows)).to.be.greaterThan(0);
    const signed = sign({ user_id: MIA.id });
    const res = await callback('data-deletion', signedRequestForm(signed));
    expect(res.status).to.equal(200);
    const answer = (await res.json()) as { url: string; confirmation_code: string };
    expect(answer.confirmation_code).to.match(/^[A-Z2-7]{16}$/);
    expect(answer.url).to.equal(`http://localhost:${program.port}/privacy/deletion/${answer.confirmation_code}`);

    expect(await connectionsOf(MIA.id)).to.have.length(0);
    const page = await pageRow(MIA.page.id);
    expect(page).to.include({ status: 'disconnected', status_reason: 'facebook_data_deletion', token_envelope: null, connected_fb_user_id: null });
    const lead = await leadRow(testLeadId);
    expect(lead?.answers_envelope).to.equal(null);
    expect(lead?.erased_at).to.be.instanceOf(Date);
    expect(await dbh.db.selectFrom('lead_search').select('hash').where('lead_id', '=', lead!.id).execute()).to.have.length(0);
    const states = await dbh.db.selectFrom('deliveries').select('connector_state').where('lead_id', '=', lead!.id).execute();
    expect(states.map((d) => d.connector_state)).to.deep.equal(states.map(() => null));
    // Neither the person's Facebook id nor their email is left in any column of any table.
    expect((await findMentions(dbh.db, [MIA.id, MIA.email])).map((m) => `${m.table}.${m.column}`)).to.deep.equal([]);

    const page404 = await fetch(`${program.url}/privacy/deletion/AAAAAAAAAAAAAAAA`);
    expect(page404.status).to.equal(404);
    const html = await fetch(onProgram(answer.url));
    expect(html.status).to.equal(200);
    expect(html.headers.get('content-type')).to.match(/^text\/html/);
    const text = await html.text();
    expect(text).to.include(answer.confirmation_code).and.include('was completed on');
    const status = (await (await fetch(onProgram(answer.url), { headers: { accept: 'application/json' } })).json()) as Record<string, unknown>;
    expect(status).to.deep.include({ confirmation_code: answer.confirmation_code, status: 'completed' });
    expect(status.erased).to.deep.equal({ facebook_logins_deleted: 1, pages_disconnected: 1, leads_erased: 1, workspaces: 1 });

    // Meta sending the same request again gets the same code, and nothing is done twice.
    const again = await callback('data-deletion', signedRequestForm(signed));
    expect(((await again.json()) as { confirmation_code: string }).confirmation_code).to.equal(answer.confirmation_code);
    expect(await countDeletionRequests()).to.equal(1);
    const audit = await api.get(`/workspaces/${ws}/audit?action=facebook.dataDeletionRequested`);
    expect(audit.body.items).to.have.length(1);
  });

  it('changes nothing for a forged, expired or malformed signed request', async () => {
    const before = { requests: await countDeletionRequests(), page: await pageRow(LEO.page.id), connections: await connectionsOf(LEO.id) };
    expect(before.connections).to.have.length(1);
    const bad = [
      signedRequestForm(sign({ user_id: LEO.id }, 'not-the-app-secret')),
      signedRequestForm(sign({ user_id: LEO.id, issued_at: Math.floor(Date.now() / 1000) - 2 * 86_400 })),
      signedRequestForm(sign({ user_id: LEO.id, issued_at: Math.floor(Date.now() / 1000) - 60, expires: Math.floor(Date.now() / 1000) - 1 })),
      signedRequestForm(sign({ user_id: LEO.id, algorithm: 'HMAC-SHA1' })),
      signedRequestForm('not-a-signed-request'),
      'user_id=10000000000777',
    ];
    for (const path of ['data-deletion', 'deauthorize'] as const)
      for (const body of bad) {
        const res = await callback(path, body);
        expect(res.status, `${path}: ${String(body).slice(0, 30)}`).to.equal(400);
        expect(((await res.json()) as { error: string }).error).to.be.a('string');
      }
    expect(await countDeletionRequests()).to.equal(before.requests);
    expect(await connectionsOf(LEO.id)).to.deep.equal(before.connections);
    expect(await pageRow(LEO.page.id)).to.deep.equal(before.page);
  });

  it('deletes the tokens and disconnects the page on deauthorize; later leads of the page are kept, not fetched, until it is connected again', async () => {
    const res = await callback('deauthorize', signedRequestForm(sign({ user_id: LEO.id })));
    expect(res.status).to.equal(200);
    expect(await connectionsOf(LEO.id)).to.have.length(0);
    expect(await pageRow(LEO.page.id)).to.include({ status: 'disconnected', status_reason: 'facebook_deauthorized', token_envelope: null });
    const listed = await api.get(`/workspaces/${ws}/pages/${LEO.page.id}`);
    expect(listed.body).to.include({ status: 'disconnected', status_reason: 'facebook_deauthorized' });
    const audit = await api.get(`/workspaces/${ws}/audit?action=facebook.deauthorized`);
    expect(audit.body.items).to.have.length(1);
    expect(audit.body.items[0].details.pages_disconnected).to.deep.equal([LEO.page.id]);

    const leadgenId = '9200000000000000001';
    graph.addLead({ id: leadgenId, form_id: LEO.form, page_id: LEO.page.id, field_data: [{ name: 'email', values: ['buyer@example.com'] }] });
    expect((await postLeadgen(program.url, { pageId: LEO.page.id, formId: LEO.form, leadgenId })).status).to.equal(200);
    const parked = await waitUntil(
      async () => {
        const e = await dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', leadgenId).executeTakeFirst();
        return e?.status === 'parked' ? e : undefined;
      },
      60_000,
      'the event parked',
    );
    expect(parked.status_reason).to.equal('page_disconnected');
    expect(graph.calls.filter((c) => c.path.endsWith(`/${leadgenId}`))).to.have.length(0);
    expect(await leadRow(leadgenId)).to.equal(undefined);

    // A replay of the deauthorization does nothing once the page is connected again.
    graph.setPageToken(LEO.page.id, 'EAAB-leo-new-page-token');
    await cli(['pages', 'add', '--workspace', ws, '--page-id', LEO.page.id, '--token', 'EAAB-leo-new-page-token', '--skip-check'], env);
    await waitUntil(async () => (await leadRow(leadgenId))?.answers_envelope, 60_000, 'the kept lead fetched once the page is connected again');
    const replay = await callback('deauthorize', signedRequestForm(signedRequests[signedRequests.length - 1]!));
    expect(replay.status).to.equal(200);
    expect(await pageRow(LEO.page.id)).to.include({ status: 'active' });
  });

  it('stores and delivers nothing of a test lead not fetched yet whose webhook comes after the data-deletion request', async () => {
    await setUpPerson(ZOE);
    const testLeadId = await makeTestLead(ZOE);
    await requestDataDeletion(ZOE);
    expect(await eventRow(testLeadId)).to.include({ status: 'erased', status_reason: 'erasure_requested_before_webhook' });

    await sendHeldWebhook(testLeadId);
    const other = await sendOtherLead(ZOE);
    await waitForStatus(other, 'parked', 'the other lead parked while the page is disconnected');
    await connectPageAgain(ZOE);
    await receiver.waitFor(() => wasDelivered(other), 60_000);

    expect(await eventRow(testLeadId)).to.include({ status: 'erased', status_reason: 'erasure_requested_before_webhook' });
    expect(await leadRow(testLeadId)).to.equal(undefined);
    expect(wasDelivered(testLeadId)).to.equal(false);
    expect((await findMentions(dbh.db, [ZOE.id, ZOE.email])).map((m) => `${m.table}.${m.column}`)).to.deep.equal([]);
    const audit = await api.get(`/workspaces/${ws}/audit?action=facebook.dataDeletionRequested`);
    expect(audit.body.items.map((e: { details: unknown }) => e.details)).to.deep.include({
      facebook_logins_deleted: 1,
      pages_disconnected: [ZOE.page.id],
      leads_erased: 0,
      leads_not_fetched: 1,
    });
  });

  it('does not fetch or deliver a parked test lead of the person once its page is connected again after the data-deletion request', async () => {
    await setUpPerson(ADA);
    const testLeadId = await makeTestLead(ADA);
    await cli(['pages', 'disconnect', '--workspace', ws, '--page-id', ADA.page.id], env);
    await sendHeldWebhook(testLeadId);
    await waitForStatus(testLeadId, 'parked', "the test lead's event parked while the page is disconnected");

    await requestDataDeletion(ADA);
    expect(await eventRow(testLeadId)).to.include({ status: 'erased', status_reason: 'erasure_requested' });
    const other = await sendOtherLead(ADA);
    await waitForStatus(other, 'parked', 'the other lead parked while the page is disconnected');
    await connectPageAgain(ADA);
    await receiver.waitFor(() => wasDelivered(other), 60_000);

    expect(await eventRow(testLeadId)).to.include({ status: 'erased', status_reason: 'erasure_requested' });
    expect(await leadRow(testLeadId)).to.equal(undefined);
    expect(wasDelivered(testLeadId)).to.equal(false);
  });

  it("does not record again a test lead of the person that reconciliation finds in Meta's list after the data-deletion request", async () => {
    await setUpPerson(KAI);
    const testLeadId = await makeTestLead(KAI);
    const madeInSecond = Math.floor(Date.now() / 1000);
    await requestDataDeletion(KAI);
    await connectPageAgain(KAI);
    // Reconciliation compares whole seconds before the current one: let the lead's second pass.
    await waitUntil(async () => Math.floor(Date.now() / 1000) > madeInSecond, 5_000, "the test lead's second over");

    const run = JSON.parse(await cli(['leads', 'reconcile', '--workspace', ws, '--form', KAI.form, '--json'], { ...env, RECONCILE_SETTLE_MS: '0' }));
    expect(run.forms).to.have.length(1);
    expect(run.forms[0]).to.include({ outcome: 'done', meta_count: 1, already_recorded: 1, recovered: 0 });
    const event = await eventRow(testLeadId);
    expect(event).to.include({ status: 'erased', status_reason: 'erasure_requested_before_webhook' });
    expect(event?.listed_at, 'listed by Meta').to.be.instanceOf(Date);
    expect(await leadRow(testLeadId)).to.equal(undefined);
    expect(wasDelivered(testLeadId)).to.equal(false);
  });

  it('writes no signed request, Facebook user id or lead answer to its output', () => {
    const out = program.output();
    const secrets = [...signedRequests, MIA.id, LEO.id, MIA.email, ...[ZOE, ADA, KAI].flatMap((p) => [p.id, p.email])];
    expect(secrets.filter((s) => out.includes(s))).to.deep.equal([]);
  });
});
