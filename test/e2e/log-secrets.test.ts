// A full run's logs hold no secret: the real binary, at its most verbose log level, goes through
// an API key's lifecycle (made, used, a second made through the API, revoked, refused), /metrics
// with right and wrong tokens, a wrong key, and a lead from webhook to a signed delivery; then
// it stops, and its whole stdout and stderr are searched for every secret and answer it handled.
import { expect } from 'chai';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import {
  baseEnv,
  cli,
  createOwner,
  OWNER_PASSWORD,
  postLeadgen,
  removeQueues,
  runCli,
  startProgram,
  TEST_APP_SECRET,
  TEST_KEYS,
  type RunningProgram,
} from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const PAGE = '1000000555';
const FORM = '2000000555';
const LEADGEN = '9300000000000000555';
const PAGE_TOKEN = 'EAAB-log-scan-page-token-5f3c9a';
const DESTINATION_SECRET = 'log-scan-destination-secret-8d2e';
const METRICS_TOKEN = 'log-scan-metrics-token-71b04e29';
const ANSWERS = { full_name: 'Ottilie Quarterbridge', email: 'ottilie.quarterbridge@example.org', phone: '+4915112345678' };

describe('e2e: no secret in a full run’s logs', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram | undefined;
  /** Every secret the run handled, by what it is (the name goes into a failure message, never the value). */
  const secrets: Record<string, string> = {
    'page token': PAGE_TOKEN,
    'owner password': OWNER_PASSWORD,
    'destination signing secret': DESTINATION_SECRET,
    METRICS_TOKEN,
    'Meta app secret': TEST_APP_SECRET,
    'encryption key': TEST_KEYS.split(':')[1]!,
    'lead name': ANSWERS.full_name,
    'lead email': ANSWERS.email,
    'lead phone': ANSWERS.phone,
  };

  before(async () => {
    schema = await createTestSchema('e2e');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver({ secret: DESTINATION_SECRET });
    // debug: the most the program ever logs.
    env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url, METRICS_TOKEN, LOG_LEVEL: 'debug' });
    graph.addForm({
      id: FORM,
      page_id: PAGE,
      name: 'Scan form',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
        { key: 'phone', type: 'PHONE', label: 'Phone' },
      ],
    });
    graph.setPageToken(PAGE, PAGE_TOKEN, 'Scan Page');
    graph.addLead({
      id: LEADGEN,
      form_id: FORM,
      page_id: PAGE,
      field_data: Object.entries(ANSWERS).map(([name, value]) => ({ name, values: [value] })),
    });
    const workspaceId = await cli(['workspaces', 'create', '--name', 'Scanned'], env);
    await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--token', PAGE_TOKEN], env);
    const destinationId = await cli(
      ['destinations', 'add', '--workspace', workspaceId, '--type', 'webhook', '--url', `${receiver.url}/leads`, '--secret', DESTINATION_SECRET],
      env,
    );
    await cli(['routes', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--destination', destinationId], env);

    await createOwner(env);
    program = await startProgram('start', env);
    const api = (path: string, key: string, init: RequestInit = {}) =>
      fetch(`${program!.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } });

    // An API key's lifecycle.
    const adminKey = await cli(['api-keys', 'create', '--workspace', workspaceId, '--name', 'scan', '--role', 'admin'], env);
    secrets['API key made by the CLI'] = adminKey;
    expect((await api(`/workspaces/${workspaceId}`, adminKey)).status).to.equal(200);
    const made = await api(`/workspaces/${workspaceId}/api-keys`, adminKey, { method: 'POST', body: JSON.stringify({ name: 'second', role: 'viewer' }) });
    expect(made.status).to.equal(201);
    const second = (await made.json()) as { id: string; secret: string };
    secrets['API key made through the API'] = second.secret;
    const viaCli = await runCli(['api', 'GET', `/workspaces/${workspaceId}/api-keys`], {
      ...env,
      LEADRELAY_API_URL: program.url,
      LEADRELAY_API_KEY: second.secret,
    });
    expect(viaCli.code, 'a viewer may not list keys').to.equal(1);
    expect((await api(`/workspaces/${workspaceId}/api-keys/${second.id}`, adminKey, { method: 'DELETE' })).status).to.equal(200);
    expect((await api(`/workspaces/${workspaceId}`, second.secret)).status).to.equal(401);
    const unknownKey = 'lrk_log-scan-unknown-key-000000000000000000000';
    secrets['an unknown key'] = unknownKey;
    expect((await api(`/workspaces/${workspaceId}`, unknownKey)).status).to.equal(401);

    // /metrics, with the wrong token and the right one.
    expect((await fetch(`${program.url}/metrics`, { headers: { authorization: 'Bearer not-the-metrics-token-at-all' } })).status).to.equal(401);
    expect((await fetch(`${program.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).to.equal(200);

    // A lead, from the webhook to a signed delivery.
    expect((await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId: LEADGEN })).status).to.equal(200);
    await receiver.waitFor(() => receiver.received.some((r) => r.body?.leadgen_id === LEADGEN && isAccepted(r)), 60_000);
    await program.kill('SIGTERM');
  });
  after(async () => {
    await program?.kill();
    await receiver?.close();
    await graph?.close();
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('delivered the lead with its answers (so the scan covers a real delivery)', () => {
    const delivered = receiver.received.find((r) => r.body?.leadgen_id === LEADGEN && isAccepted(r));
    expect(JSON.stringify(delivered?.body)).to.include(ANSWERS.email);
  });

  it('wrote logs, and none of them holds a secret or an answer', () => {
    const output = program!.output();
    expect(output.length, 'the run logged something').to.be.greaterThan(200);
    const found = Object.entries(secrets)
      .filter(([, value]) => output.includes(value))
      .map(([what]) => what);
    expect(found).to.deep.equal([]);
  });
});
