// End to end: the real program, a loopback fake of the Graph API and a loopback receiver.
// A signed leadgen webhook becomes exactly one canonical record at the destination — through
// duplicates, Graph failures, dead tokens, receiver errors, a killed worker and a flushed Redis.
import { expect } from 'chai';
import { computeSignature256 } from '../../src/meta/signature.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { baseEnv, cli, flushPrefix, sleep, startProgram, TEST_APP_SECRET, TEST_VERIFY_TOKEN, waitUntil, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const PAGE = '1000000001';
const FORM = '2000000001';
const PAGE_TOKEN = 'EAAB-page-token-one';
const RECEIVER_SECRET = 'receiver-shared-secret';

let nextLeadId = 9_100_000_000_000_000_000n; // 19 digits: beyond 2^53, so ids must stay strings end to end
const newLeadId = () => String(nextLeadId++);

function webhookBody(entries: { pageId: string; leadgenIds: string[]; formId?: string }[]): string {
  return JSON.stringify({
    object: 'page',
    entry: entries.map((e) => ({
      id: e.pageId,
      time: Math.floor(Date.now() / 1000),
      changes: e.leadgenIds.map((id) => ({
        field: 'leadgen',
        value: { leadgen_id: id, page_id: e.pageId, form_id: e.formId ?? FORM, adgroup_id: '3000', ad_id: '3000', created_time: Math.floor(Date.now() / 1000) },
      })),
    })),
  });
}

async function post(program: RunningProgram, raw: string, signature = computeSignature256(Buffer.from(raw), TEST_APP_SECRET)) {
  return fetch(`${program.url}/webhooks/meta`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body: raw });
}

describe('e2e: the lead pipeline through the real program', function () {
  this.timeout(120_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let workspaceId: string;
  let destinationId: string;

  const addLead = (id: string, pageId = PAGE) =>
    graph.addLead({
      id,
      form_id: FORM,
      page_id: pageId,
      field_data: [
        { name: 'full_name', values: ['Zoë Ångström'] },
        { name: 'email', values: [`lead${id}@example.com`] },
        { name: 'favorite_color?', values: ['blue', 'green'] },
      ],
      custom_disclaimer_responses: [{ checkbox_key: 'optin', is_checked: '1' }],
      ad_id: '3000',
      ad_name: 'Ad A',
      adset_id: '3001',
      adset_name: 'Set A',
      campaign_id: '3002',
      campaign_name: 'Spring',
      platform: 'ig',
      is_organic: false,
    });
  const receivedFor = (leadgenId: string) => receiver.received.filter((r) => r.body?.leadgen_id === leadgenId && r.status >= 200 && r.status < 300);
  const deliveriesOf = async (leadgenId: string) =>
    dbh.db.selectFrom('deliveries').innerJoin('leads', 'leads.id', 'deliveries.lead_id').selectAll('deliveries').where('leads.leadgen_id', '=', leadgenId).execute();

  before(async () => {
    schema = await createTestSchema('e2e');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver({ secret: RECEIVER_SECRET });
    env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url, FETCH_MAX_ATTEMPTS: '2' });
    graph.addForm({ id: FORM, page_id: PAGE, name: 'Test ride', questions: [{ key: 'full_name', type: 'FULL_NAME', label: 'Full name' }, { key: 'email', type: 'EMAIL', label: 'Email' }] });
    graph.setPageToken(PAGE, PAGE_TOKEN, 'Acme Bikes');
    workspaceId = await cli(['workspaces', 'create', '--name', 'Acme'], env);
    await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--token', PAGE_TOKEN, '--name', 'Acme Bikes'], env);
    destinationId = await cli(['destinations', 'add', '--workspace', workspaceId, '--type', 'webhook', '--url', `${receiver.url}/leads`, '--secret', RECEIVER_SECRET], env);
    await cli(['routes', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--destination', destinationId], env);
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && process.env.E2E_DEBUG) console.error(program?.output().slice(-6000));
  });

  after(async () => {
    await program?.kill();
    await dbh?.close();
    await receiver?.close();
    await graph?.close();
    await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('answers the verification handshake with the raw challenge, and 403 for a wrong token', async () => {
    const ok = await fetch(`${program.url}/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${TEST_VERIFY_TOKEN}`);
    expect(ok.status).to.equal(200);
    expect(ok.headers.get('content-type')).to.match(/^text\/plain/);
    expect(await ok.text()).to.equal('1158201444');
    const bad = await fetch(`${program.url}/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=nope`);
    expect(bad.status).to.equal(403);
    expect(await bad.text()).to.not.contain('1158201444');
  });

  it('one batched POST with two entries of three changes gives six signed canonical records', async () => {
    const ids = Array.from({ length: 6 }, newLeadId);
    ids.forEach((id) => addLead(id));
    const res = await post(program, webhookBody([{ pageId: PAGE, leadgenIds: ids.slice(0, 3) }, { pageId: PAGE, leadgenIds: ids.slice(3) }]));
    expect(res.status).to.equal(200);
    await receiver.waitFor(() => ids.every((id) => receivedFor(id).length === 1), 20_000);
    for (const id of ids) {
      const [r] = receivedFor(id);
      expect(r.signatureValid).to.equal(true);
      expect(r.headers['idempotency-key']).to.be.a('string');
      expect(r.body.schema).to.equal('leadrelay.lead/v1');
      expect(r.body.platform).to.equal('ig');
      expect(r.body.attribution.campaign_name).to.equal('Spring');
      expect(r.body.form.name).to.equal('Test ride');
      expect(r.body.answers).to.deep.include({ key: 'favorite_color?', values: ['blue', 'green'] });
      expect(r.body.consents).to.deep.equal([{ key: 'optin', checked: true }]);
    }
  });

  it('the same webhook delivered three times gives one delivery', async () => {
    const id = newLeadId();
    addLead(id);
    const raw = webhookBody([{ pageId: PAGE, leadgenIds: [id] }]);
    for (let i = 0; i < 3; i++) expect((await post(program, raw)).status).to.equal(200);
    await receiver.waitFor(() => receivedFor(id).length >= 1);
    await sleep(1500);
    expect(receivedFor(id)).to.have.length(1);
    expect(await deliveriesOf(id)).to.have.length(1);
  });

  it('a Graph 5xx, then success, still delivers', async () => {
    const id = newLeadId();
    addLead(id);
    graph.failNext(id, [{ status: 500 }, { status: 503, body: { error: { message: 'Service temporarily unavailable', type: 'OAuthException', code: 2, fbtrace_id: 'Abc' } } }]);
    expect((await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]))).status).to.equal(200);
    await receiver.waitFor(() => receivedFor(id).length === 1, 20_000);
    const ev = await dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', id).executeTakeFirstOrThrow();
    expect(ev.status).to.equal('fetched');
    expect(ev.attempts).to.be.at.least(1);
  });

  it('a receiver 500 then 200 delivers exactly once, with both attempts recorded', async () => {
    const id = newLeadId();
    addLead(id);
    receiver.respondWith([{ status: 500, body: 'upstream broke' }]);
    await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]));
    await receiver.waitFor(() => receivedFor(id).length === 1, 20_000);
    const [d] = await deliveriesOf(id);
    await waitUntil(async () => (await deliveriesOf(id))[0].status === 'delivered');
    const attempts = await dbh.db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', d.id).orderBy('attempt').execute();
    expect(attempts.map((a) => a.outcome)).to.deep.equal(['retry', 'delivered']);
    expect(attempts[0].http_status).to.equal(500);
  });

  it("a receiver 400 is dead-lettered with the receiver's body kept", async () => {
    const id = newLeadId();
    addLead(id);
    receiver.respondWith([{ status: 400, body: '{"error":"field company is required"}' }]);
    await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]));
    const d = await waitUntil(async () => (await deliveriesOf(id)).find((x) => x.status === 'dead'), 20_000, 'dead delivery');
    expect(d.last_error_kind).to.equal('invalid');
    const attempts = await dbh.db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', d.id).execute();
    expect(attempts).to.have.length(1);
    expect(attempts[0].response_body).to.contain('field company is required');
    await sleep(800);
    expect(receiver.received.filter((r) => r.body?.leadgen_id === id)).to.have.length(1);
    // Once the receiver is fixed, the operator re-queues the destination's dead letters.
    const out = await cli(['leads', 'replay', '--dead', '--destination', destinationId], env);
    expect(out).to.match(/^1 dead deliveries queued again/);
    await receiver.waitFor(() => receivedFor(id).length === 1, 20_000);
    await waitUntil(async () => (await deliveriesOf(id))[0].status === 'delivered', 10_000, 'delivered after replay');
  });

  it('a fetch that gives up (lead not readable) is kept as failed; leads refetch --failed delivers it once Meta answers', async () => {
    const id = newLeadId();
    addLead(id);
    const notReadable = { status: 400, body: { error: { message: 'Unsupported get request.', type: 'GraphMethodException', code: 100, error_subcode: 33, fbtrace_id: 'AbC' } } };
    graph.failNext(id, [notReadable, notReadable]);
    await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]));
    const ev = await waitUntil(async () => {
      const row = await dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', id).executeTakeFirst();
      return row?.status === 'failed' ? row : undefined;
    }, 20_000, 'failed event');
    expect(ev.last_error).to.include({ code: 100, subcode: 33, fbtrace_id: 'AbC' });
    expect(await cli(['leads', 'refetch', '--failed', '--page-id', PAGE], env)).to.match(/^1 lead fetch/);
    await receiver.waitFor(() => receivedFor(id).length === 1, 20_000);
  });

  it('a dead page token parks the lead; registering a new token resumes it', async () => {
    const id = newLeadId();
    addLead(id);
    graph.revokeToken(PAGE_TOKEN, 460);
    await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]));
    await waitUntil(async () => (await dbh.db.selectFrom('leadgen_events').select('status').where('leadgen_id', '=', id).executeTakeFirst())?.status === 'parked', 15_000, 'parked event');
    const page = await dbh.db.selectFrom('pages').selectAll().where('page_id', '=', PAGE).executeTakeFirstOrThrow();
    expect(page.status).to.equal('needs_reauth');
    expect(page.status_reason).to.contain('190');
    expect(receivedFor(id)).to.have.length(0);
    graph.setPageToken(PAGE, 'EAAB-page-token-two');
    await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--token', 'EAAB-page-token-two'], env);
    await receiver.waitFor(() => receivedFor(id).length === 1, 20_000);
  });

  it('a bad signature is refused and records nothing', async () => {
    const id = newLeadId();
    addLead(id);
    const raw = webhookBody([{ pageId: PAGE, leadgenIds: [id] }]);
    const res = await post(program, raw, computeSignature256(Buffer.from(raw), 'wrong-secret'));
    expect(res.status).to.equal(403);
    const missing = await fetch(`${program.url}/webhooks/meta`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    expect(missing.status).to.equal(401);
    await sleep(300);
    expect(await dbh.db.selectFrom('leadgen_events').select('id').where('leadgen_id', '=', id).execute()).to.have.length(0);
  });

  it('malformed JSON gets 400, an oversized body 413, and neither is recorded', async () => {
    const raw = '{"object":"page","entry":[';
    expect((await post(program, raw)).status).to.equal(400);
    const big = JSON.stringify({ object: 'page', entry: [], pad: 'x'.repeat(1_100_000) });
    expect((await post(program, big)).status).to.equal(413);
  });

  it('a lead for an unregistered page is kept as unrouted; dashboard test ids are not fetched', async () => {
    const id = newLeadId();
    await post(program, webhookBody([{ pageId: '1999999999', leadgenIds: [id] }]));
    await waitUntil(async () => (await dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', id).executeTakeFirst())?.status === 'unrouted', 15_000, 'unrouted event');
    const testBody = JSON.stringify({ object: 'page', entry: [{ id: '0', time: 1, changes: [{ field: 'leadgen', value: { leadgen_id: '444444444444', page_id: '444444444444', form_id: '444444444444', created_time: 1 } }] }] });
    expect((await post(program, testBody)).status).to.equal(200);
    const ev = await dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', '444444444444').executeTakeFirstOrThrow();
    expect(ev.status).to.equal('test');
    await sleep(500);
    expect(graph.calls.some((c) => c.path.endsWith('/444444444444'))).to.equal(false);
  });

  it('Redis flushed after the 200 still delivers (the outbox sweep rebuilds the job)', async () => {
    await program.kill();
    const serveOnly = await startProgram('serve', env);
    try {
      const id = newLeadId();
      addLead(id);
      expect((await post(serveOnly, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]))).status).to.equal(200);
      const removed = await flushPrefix(env.QUEUE_PREFIX);
      expect(removed, 'the queued job was in Redis and is now gone').to.be.greaterThan(0);
      program = await startProgram('start', env);
      await receiver.waitFor(() => receivedFor(id).length === 1, 20_000);
    } finally {
      await serveOnly.kill();
    }
  });

  it('a worker killed with SIGKILL mid-delivery still delivers exactly once', async () => {
    await program.kill();
    const web = await startProgram('serve', env);
    const worker = await startProgram('work', env);
    let second: RunningProgram | undefined;
    try {
      const id = newLeadId();
      addLead(id);
      // The receiver holds the first request long enough to kill the worker while it waits.
      receiver.respondWith([{ status: 200, body: '{"ok":true}', delayMs: 4000 }]);
      await post(web, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]));
      await receiver.waitFor(() => receiver.received.some((r) => r.body?.leadgen_id === id), 15_000);
      await worker.kill('SIGKILL');
      second = await startProgram('work', env);
      await waitUntil(async () => (await deliveriesOf(id))[0]?.status === 'delivered', 30_000, 'delivery after the kill');
      const keys = new Set(receiver.received.filter((r) => r.body?.leadgen_id === id).map((r) => r.headers['idempotency-key']));
      expect(keys.size, 'every attempt carried the same idempotency key').to.equal(1);
      expect(receiver.acceptedKeys().filter((k) => keys.has(k))).to.have.length(1);
      expect(await deliveriesOf(id)).to.have.length(1);
    } finally {
      await second?.kill();
      await worker.kill();
      await web.kill();
      program = await startProgram('start', env);
    }
  });
});
