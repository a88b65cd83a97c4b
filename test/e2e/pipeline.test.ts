// End to end: the real program, a loopback fake of the Graph API and a loopback receiver.
// A signed leadgen webhook becomes exactly one canonical record at the destination — through
// duplicates, Graph failures, dead tokens, receiver errors, a killed worker and a flushed Redis.
import { expect } from 'chai';
import { computeSignature256 } from '../../src/meta/signature.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import {
  baseEnv,
  cli,
  loseQueuedJobs,
  removeQueues,
  startProgram,
  TEST_APP_SECRET,
  TEST_VERIFY_TOKEN,
  waitUntil,
  type RunningProgram,
} from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';
import { QUEUE_BACKENDS } from '../helpers/test-app.js';

const PAGE = '1000000001';
const FORM = '2000000001';
const PAGE_TOKEN = 'EAAB-page-token-one';
const RECEIVER_SECRET = 'receiver-shared-secret';
/** /metrics answers only to this bearer token. */
const METRICS_TOKEN = 'pipeline-metrics-token-0123456789';
/** A page no workspace registered: its leads stop at intake's unrouted, with no Graph call. */
const UNREGISTERED_PAGE = '1999999999';

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
  return fetch(`${program.url}/webhooks/meta`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
    body: raw,
  });
}

/** The value of one counter of the program's /metrics, e.g. `leadrelay_webhook_rejected_total{reason="mismatch"}` (0 when absent). */
async function counter(program: RunningProgram, series: string): Promise<number> {
  const res = await fetch(`${program.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

for (const backend of QUEUE_BACKENDS)
  describe(`e2e: the lead pipeline through the real program (queues on ${backend})`, function () {
    // Generous: on a loaded machine each CLI command and start-up takes many seconds, and each
    // wait below only runs to its bound when what it waits for never happens.
    this.timeout(300_000);
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
    /** The requests for this lead the receiver accepted (answered with a 2xx). */
    const receivedFor = (leadgenId: string) => receiver.received.filter((r) => r.body?.leadgen_id === leadgenId && isAccepted(r));
    /** Every answered or abandoned request for this lead, in the order the receiver was done with them. */
    const requestsFor = (leadgenId: string) => receiver.received.filter((r) => r.body?.leadgen_id === leadgenId);
    const eventsOf = (leadgenId: string) => dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', leadgenId).execute();
    /**
     * A signal that intake is done with everything sent before: a later webhook (for a page nobody
     * registered, so it costs no Graph call) is answered and recorded.
     */
    const laterWebhookRecorded = async () => {
      const marker = newLeadId();
      expect((await post(program, webhookBody([{ pageId: UNREGISTERED_PAGE, leadgenIds: [marker] }]))).status).to.equal(200);
      expect(await eventsOf(marker)).to.have.length(1);
    };
    const deliveriesOf = async (leadgenId: string) =>
      dbh.db
        .selectFrom('deliveries')
        .innerJoin('leads', 'leads.id', 'deliveries.lead_id')
        .selectAll('deliveries')
        .where('leads.leadgen_id', '=', leadgenId)
        .execute();

    before(async () => {
      schema = await createTestSchema('e2e');
      graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
      receiver = await startFakeReceiver({ secret: RECEIVER_SECRET });
      // A delivery timeout well above a loaded machine's loopback round trip: attempts counted below are the receiver's answers, not timeouts.
      env = baseEnv({
        DATABASE_URL: schema.url,
        META_GRAPH_URL: graph.url,
        FETCH_MAX_ATTEMPTS: '2',
        DELIVERY_TIMEOUT_MS: '10000',
        METRICS_TOKEN,
        ...(backend === 'postgres' ? { REDIS_URL: '' } : {}),
      });
      graph.addForm({
        id: FORM,
        page_id: PAGE,
        name: 'Test ride',
        questions: [
          { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
          { key: 'email', type: 'EMAIL', label: 'Email' },
        ],
      });
      graph.setPageToken(PAGE, PAGE_TOKEN, 'Acme Bikes');
      workspaceId = await cli(['workspaces', 'create', '--name', 'Acme'], env);
      await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--token', PAGE_TOKEN, '--name', 'Acme Bikes'], env);
      destinationId = await cli(
        ['destinations', 'add', '--workspace', workspaceId, '--type', 'webhook', '--url', `${receiver.url}/leads`, '--secret', RECEIVER_SECRET],
        env,
      );
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
      if (env) await removeQueues(backend, env.QUEUE_PREFIX);
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
      for (const id of ids) addLead(id);
      const res = await post(
        program,
        webhookBody([
          { pageId: PAGE, leadgenIds: ids.slice(0, 3) },
          { pageId: PAGE, leadgenIds: ids.slice(3) },
        ]),
      );
      expect(res.status).to.equal(200);
      await receiver.waitFor(() => ids.every((id) => receivedFor(id).length === 1), 60_000);
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

    it('the same webhook delivered three times gives one event, one delivery and one request to the receiver', async () => {
      const id = newLeadId();
      addLead(id);
      const raw = webhookBody([{ pageId: PAGE, leadgenIds: [id] }]);
      for (let i = 0; i < 3; i++) expect((await post(program, raw)).status).to.equal(200);
      // Each 200 is sent after intake stored (or found) the event: the repeats were refused there.
      expect(await eventsOf(id)).to.have.length(1);
      const delivered = await waitUntil(async () => (await deliveriesOf(id)).find((d) => d.status === 'delivered'), 60_000, 'the delivery');
      // A later lead through the whole pipeline: by the time it arrives, anything the repeats had queued would have run.
      const later = newLeadId();
      addLead(later);
      await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [later] }]));
      await receiver.waitFor(() => receivedFor(later).length === 1, 60_000);
      expect(requestsFor(id).map((r) => r.status)).to.deep.equal([200]);
      expect(await deliveriesOf(id)).to.have.length(1);
      expect(await dbh.db.selectFrom('delivery_attempts').select('outcome').where('delivery_id', '=', delivered.id).execute()).to.deep.equal([
        { outcome: 'delivered' },
      ]);
    });

    it('a Graph 5xx, then success, still delivers', async () => {
      const id = newLeadId();
      addLead(id);
      graph.failNext(id, [
        { status: 500 },
        { status: 503, body: { error: { message: 'Service temporarily unavailable', type: 'OAuthException', code: 2, fbtrace_id: 'Abc' } } },
      ]);
      expect((await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]))).status).to.equal(200);
      await receiver.waitFor(() => receivedFor(id).length === 1, 60_000);
      const ev = await dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', id).executeTakeFirstOrThrow();
      expect(ev.status).to.equal('fetched');
      expect(ev.attempts).to.be.at.least(1);
      expect(
        graph.calls.filter((c) => c.path.endsWith(`/${id}`)),
        'the two failures, then the read',
      ).to.have.length(3);
    });

    it('a receiver 500 then 200 delivers exactly once, with both attempts recorded', async () => {
      const id = newLeadId();
      addLead(id);
      receiver.respondWith([{ status: 500, body: 'upstream broke' }]);
      await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]));
      await receiver.waitFor(() => receivedFor(id).length === 1, 60_000);
      const d = await waitUntil(async () => (await deliveriesOf(id)).find((x) => x.status === 'delivered'), 60_000, 'delivered');
      // Attempt rows are written before (or with) the status they lead to: all are visible now.
      const attempts = await dbh.db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', d.id).orderBy('attempt').execute();
      expect(attempts.map((a) => a.outcome)).to.deep.equal(['retry', 'delivered']);
      expect(attempts[0].http_status).to.equal(500);
      // A delivered delivery is final: the receiver answered this lead twice, and accepted it once.
      expect(requestsFor(id).map((r) => r.status)).to.deep.equal([500, 200]);
    });

    it("a receiver 400 is dead-lettered with the receiver's body kept", async () => {
      const id = newLeadId();
      addLead(id);
      receiver.respondWith([{ status: 400, body: '{"error":"field company is required"}' }]);
      await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]));
      const d = await waitUntil(async () => (await deliveriesOf(id)).find((x) => x.status === 'dead'), 60_000, 'dead delivery');
      expect(d.last_error_kind).to.equal('invalid');
      // Attempt rows are written before (or with) the status they lead to: this one is visible now.
      const attempts = await dbh.db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', d.id).execute();
      expect(attempts).to.have.length(1);
      expect(attempts[0].response_body).to.contain('field company is required');
      // Dead is final (the outbox sweep re-queues only pending rows): the one request is all the receiver saw.
      expect(requestsFor(id).map((r) => r.status)).to.deep.equal([400]);
      // Once the receiver is fixed, the operator re-queues the destination's dead letters.
      const out = await cli(['leads', 'replay', '--dead', '--destination', destinationId], env);
      expect(out).to.match(/^1 dead deliveries queued again/);
      await receiver.waitFor(() => receivedFor(id).length === 1, 60_000);
      await waitUntil(async () => (await deliveriesOf(id))[0].status === 'delivered', 60_000, 'delivered after replay');
      expect(requestsFor(id).map((r) => r.status)).to.deep.equal([400, 200]);
    });

    it('a fetch that gives up (lead not readable) is kept as failed; leads refetch --failed delivers it once Meta answers', async () => {
      const id = newLeadId();
      addLead(id);
      const notReadable = {
        status: 400,
        body: { error: { message: 'Unsupported get request.', type: 'GraphMethodException', code: 100, error_subcode: 33, fbtrace_id: 'AbC' } },
      };
      graph.failNext(id, [notReadable, notReadable]);
      await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]));
      const ev = await waitUntil(
        async () => {
          const row = await dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', id).executeTakeFirst();
          return row?.status === 'failed' ? row : undefined;
        },
        60_000,
        'failed event',
      );
      expect(ev.last_error).to.include({ code: 100, subcode: 33, fbtrace_id: 'AbC' });
      expect(await cli(['leads', 'refetch', '--failed', '--page-id', PAGE], env)).to.match(/^1 lead fetch/);
      await receiver.waitFor(() => receivedFor(id).length === 1, 60_000);
    });

    it('a dead page token parks the lead; registering a new token resumes it', async () => {
      const id = newLeadId();
      addLead(id);
      graph.revokeToken(PAGE_TOKEN, 460);
      await post(program, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]));
      await waitUntil(
        async () => (await dbh.db.selectFrom('leadgen_events').select('status').where('leadgen_id', '=', id).executeTakeFirst())?.status === 'parked',
        60_000,
        'parked event',
      );
      const page = await dbh.db.selectFrom('pages').selectAll().where('page_id', '=', PAGE).executeTakeFirstOrThrow();
      expect(page.status).to.equal('needs_reauth');
      expect(page.status_reason).to.contain('190');
      expect(receivedFor(id)).to.have.length(0);
      graph.setPageToken(PAGE, 'EAAB-page-token-two');
      await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--token', 'EAAB-page-token-two'], env);
      await receiver.waitFor(() => receivedFor(id).length === 1, 60_000);
    });

    it('a bad or missing signature is refused (403, 401), counted, and records nothing', async () => {
      const id = newLeadId();
      addLead(id);
      const mismatchBefore = await counter(program, 'leadrelay_webhook_rejected_total{reason="mismatch"}');
      const missingBefore = await counter(program, 'leadrelay_webhook_rejected_total{reason="missing_header"}');
      const raw = webhookBody([{ pageId: PAGE, leadgenIds: [id] }]);
      const res = await post(program, raw, computeSignature256(Buffer.from(raw), 'wrong-secret'));
      expect(res.status).to.equal(403);
      const missing = await fetch(`${program.url}/webhooks/meta`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
      expect(missing.status).to.equal(401);
      // Intake considered both and refused them (counted), and is done with them: a later webhook is recorded.
      expect(await counter(program, 'leadrelay_webhook_rejected_total{reason="mismatch"}')).to.equal(mismatchBefore + 1);
      expect(await counter(program, 'leadrelay_webhook_rejected_total{reason="missing_header"}')).to.equal(missingBefore + 1);
      await laterWebhookRecorded();
      expect(await eventsOf(id)).to.have.length(0);
    });

    it('malformed JSON gets 400, an oversized body 413; both are counted and neither is recorded', async () => {
      const [malformedId, oversizedId] = [newLeadId(), newLeadId()];
      const malformedBefore = await counter(program, 'leadrelay_webhook_rejected_total{reason="malformed_json"}');
      const tooLargeBefore = await counter(program, 'leadrelay_webhook_rejected_total{reason="too_large"}');
      // Both carry a leadgen id intake would record if it took the body.
      const malformed = webhookBody([{ pageId: PAGE, leadgenIds: [malformedId] }]).slice(0, -1);
      expect((await post(program, malformed)).status).to.equal(400);
      const big = JSON.stringify({ ...JSON.parse(webhookBody([{ pageId: PAGE, leadgenIds: [oversizedId] }])), pad: 'x'.repeat(1_100_000) });
      expect((await post(program, big)).status).to.equal(413);
      expect(await counter(program, 'leadrelay_webhook_rejected_total{reason="malformed_json"}')).to.equal(malformedBefore + 1);
      expect(await counter(program, 'leadrelay_webhook_rejected_total{reason="too_large"}')).to.equal(tooLargeBefore + 1);
      await laterWebhookRecorded();
      expect(await eventsOf(malformedId)).to.have.length(0);
      expect(await eventsOf(oversizedId)).to.have.length(0);
    });

    it('a dashboard test id is stored as "test" and not fetched; a lead for an unregistered page is kept as unrouted', async () => {
      const testBody = JSON.stringify({
        object: 'page',
        entry: [
          {
            id: '0',
            time: 1,
            changes: [{ field: 'leadgen', value: { leadgen_id: '444444444444', page_id: '444444444444', form_id: '444444444444', created_time: 1 } }],
          },
        ],
      });
      expect((await post(program, testBody)).status).to.equal(200);
      const ev = await dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', '444444444444').executeTakeFirstOrThrow();
      expect(ev.status).to.equal('test');
      // A later lead goes through the fetch worker (which finds its page unregistered): by then a
      // queued fetch of the test id would have run too.
      const id = newLeadId();
      await post(program, webhookBody([{ pageId: UNREGISTERED_PAGE, leadgenIds: [id] }]));
      await waitUntil(async () => (await eventsOf(id))[0]?.status === 'unrouted', 60_000, 'unrouted event');
      expect(graph.calls.some((c) => c.path.endsWith('/444444444444'))).to.equal(false);
      expect((await eventsOf('444444444444'))[0].status).to.equal('test');
    });

    it('the queue losing every job after the 200 still delivers (the outbox sweep rebuilds the job)', async () => {
      await program.kill();
      const serveOnly = await startProgram('serve', env);
      try {
        const id = newLeadId();
        addLead(id);
        expect((await post(serveOnly, webhookBody([{ pageId: PAGE, leadgenIds: [id] }]))).status).to.equal(200);
        // The job is queued just after the 200: remove it once it is there.
        const removed = await waitUntil(async () => loseQueuedJobs(backend, env.QUEUE_PREFIX), 30_000, 'the queued job to be there to lose');
        expect(removed, 'the queued job was in the queue and is now gone').to.be.greaterThan(0);
        program = await startProgram('start', env);
        await receiver.waitFor(() => receivedFor(id).length === 1, 60_000);
      } finally {
        await serveOnly.kill();
      }
    });

    it('a worker killed with SIGKILL mid-delivery: its request goes unanswered, another worker delivers, every request under the one idempotency key', async () => {
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
        await receiver.waitFor(() => receiver.arrived.some((r) => r.body?.leadgen_id === id), 60_000);
        const cutOff = receiver.arrived.find((r) => r.body?.leadgen_id === id)!;
        await worker.kill('SIGKILL');
        second = await startProgram('work', env);
        await waitUntil(async () => (await deliveriesOf(id))[0]?.status === 'delivered', 60_000, 'delivery after the kill');
        await receiver.waitFor(() => requestsFor(id).includes(cutOff), 60_000);
        expect(cutOff.status, 'the killed worker hung up before the answer').to.equal(0);
        const accepted = receivedFor(id);
        expect(accepted.length, 'accepted by the receiver').to.be.at.least(1);
        const keys = new Set(requestsFor(id).map((r) => r.headers['idempotency-key']));
        expect([...keys], 'every request carried the same idempotency key').to.deep.equal([cutOff.headers['idempotency-key']]);
        expect(await deliveriesOf(id)).to.have.length(1);
      } finally {
        await second?.kill();
        await worker.kill();
        await web.kill();
        program = await startProgram('start', env);
      }
    });
  });
