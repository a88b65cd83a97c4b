// Setting up a workspace through the REST API of the real program (page, webhook destination,
// route), then a signed leadgen webhook: the lead is delivered and listed by GET leads.
import { expect } from 'chai';
import { hashPassword } from '../../src/accounts/passwords.js';
import { createApiKey, insertUser, upsertMembership } from '../../src/accounts/store.js';
import { computeSignature256 } from '../../src/meta/signature.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { ApiClient } from '../helpers/api.js';
import { baseEnv, cli, createOwner, removeQueues, startProgram, TEST_APP_SECRET, waitUntil, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const PAGE = '1300000001';
const FORM = '2300000001';
const PAGE_TOKEN = 'EAAB-api-e2e-page-secret';
const RECEIVER_SECRET = 'api-e2e-receiver-secret';
const LEADGEN_ID = '9300000000000000001';

describe('e2e: setting up a workspace through the REST API of the real program', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let api: ApiClient;
  let ws: string;

  before(async () => {
    schema = await createTestSchema('e2e');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver({ secret: RECEIVER_SECRET });
    env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url });
    graph.setPageToken(PAGE, PAGE_TOKEN, 'Acme Bikes');
    graph.installApp(PAGE);
    graph.addForm({ id: FORM, page_id: PAGE, name: 'Test ride', questions: [{ key: 'email', type: 'EMAIL', label: 'Email' }] });
    graph.addLead({
      id: LEADGEN_ID,
      form_id: FORM,
      page_id: PAGE,
      field_data: [{ name: 'email', values: ['rider@example.com'] }],
      platform: 'fb',
      is_organic: true,
    });
    ws = await cli(['workspaces', 'create', '--name', 'Acme'], env);
    await createOwner(env);
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
    // An owner (the API answers 503 until one exists) and a key, straight into the program's database (as an admin would create one).
    const owner = await insertUser(dbh.db, { email: 'owner@example.org', name: null, passwordHash: await hashPassword('owner password of e2e') });
    await upsertMembership(dbh.db, { userId: owner.id, workspaceId: ws, role: 'owner' });
    const { secret } = await createApiKey(dbh.db, { workspaceId: ws, name: 'e2e', role: 'admin', createdBy: null });
    api = new ApiClient(program.url).withKey(secret);
  });

  after(async () => {
    await program?.kill();
    await dbh?.close();
    await receiver?.close();
    await graph?.close();
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('adds a page, a webhook destination and a route; a signed leadgen webhook is delivered and listed in GET leads', async () => {
    const page = await api.post(`/workspaces/${ws}/pages`, { page_id: PAGE, token: PAGE_TOKEN });
    expect(page.status, page.text).to.equal(200);
    const dest = await api.post(`/workspaces/${ws}/destinations`, {
      type: 'webhook',
      config: { url: `${receiver.url}/leads` },
      credentials: { secret: RECEIVER_SECRET },
    });
    expect(dest.status, dest.text).to.equal(201);
    const route = await api.post(`/workspaces/${ws}/routes`, { page_id: PAGE, destination_id: dest.body.destination.id });
    expect(route.status, route.text).to.equal(201);

    const raw = JSON.stringify({
      object: 'page',
      entry: [
        {
          id: PAGE,
          time: Math.floor(Date.now() / 1000),
          changes: [{ field: 'leadgen', value: { leadgen_id: LEADGEN_ID, page_id: PAGE, form_id: FORM, created_time: Math.floor(Date.now() / 1000) } }],
        },
      ],
    });
    const posted = await fetch(`${program.url}/webhooks/meta`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': computeSignature256(Buffer.from(raw), TEST_APP_SECRET) },
      body: raw,
    });
    expect(posted.status).to.equal(200);

    await waitUntil(async () => receiver.received.some((r) => r.body?.leadgen_id === LEADGEN_ID && isAccepted(r)), undefined, 'the lead at the receiver');
    const listed = await waitUntil(
      async () => {
        const r = await api.get(`/workspaces/${ws}/leads`);
        const lead = r.body.items?.find((l: { leadgen_id: string }) => l.leadgen_id === LEADGEN_ID);
        return lead?.deliveries[0]?.status === 'delivered' ? lead : undefined;
      },
      undefined,
      'the lead listed as delivered',
    );
    expect(listed).to.include({ page_id: PAGE, form_id: FORM, status: 'routed' });
    expect(JSON.stringify(listed)).to.not.include('rider@example.com');
    expect(program.output()).to.not.include(PAGE_TOKEN).and.not.include(RECEIVER_SECRET);
  });
});
