// End to end: a lead Meta has whose webhook never came is recovered by reconciliation, through the
// real program (`leadrelay leads reconcile`, and POST /api/v1/workspaces/{id}/reconciliation),
// against the loopback fake Graph API and a loopback receiver, and delivered exactly once; running
// reconciliation again delivers nothing more, and the late webhook is a no-op.
import { expect } from 'chai';
import { hashPassword } from '../../src/accounts/passwords.js';
import { createApiKey, insertUser, upsertMembership } from '../../src/accounts/store.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { ApiClient } from '../helpers/api.js';
import { baseEnv, cli, postLeadgen, removeQueues, runCli, startProgram, TEST_APP_SECRET, type RunningProgram, waitUntil } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const PAGE = '1500000001';
const FORM = '2500000001';
const PAGE_TOKEN = 'EAAB-reconcile-e2e-page-token';
const RECEIVER_SECRET = 'reconcile-e2e-receiver-secret';
const MINUTE_MS = 60_000;

let nextLeadId = 9_500_000_000_000_000_000n;
const newLeadId = () => String(nextLeadId++);

describe('e2e: reconciliation recovers a lead whose webhook never came', function () {
  // Generous: on a loaded machine each CLI command and start-up takes many seconds.
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let workspaceId: string;
  let api: ApiClient;

  const emailOf = (leadgenId: string) => `rider${leadgenId}@example.com`;
  /** A lead Meta has for the form, created `minutesAgo`; no webhook is sent for it. */
  const addMetaLead = (minutesAgo: number) => {
    const id = newLeadId();
    graph.addLead({
      id,
      form_id: FORM,
      page_id: PAGE,
      created_time: Math.floor((Date.now() - minutesAgo * MINUTE_MS) / 1000),
      field_data: [
        { name: 'full_name', values: ['Zoë Ångström'] },
        { name: 'email', values: [emailOf(id)] },
      ],
    });
    return id;
  };
  const deliveredTo = (leadgenId: string) => receiver.received.filter((r) => r.body?.leadgen_id === leadgenId && isAccepted(r));
  /**
   * A positive signal that the pipeline is done with everything queued before: a new lead sent by
   * its webhook reaches the receiver. Anything a repeated reconciliation had queued would be there too.
   */
  const laterWebhookDelivered = async () => {
    const marker = addMetaLead(0);
    expect((await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId: marker })).status).to.equal(200);
    await receiver.waitFor(() => deliveredTo(marker).length === 1, 60_000);
  };
  const eventOf = (leadgenId: string) => dbh.db.selectFrom('leadgen_events').selectAll().where('leadgen_id', '=', leadgenId).execute();

  before(async () => {
    schema = await createTestSchema('e2e');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver({ secret: RECEIVER_SECRET });
    env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url });
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
    graph.installApp(PAGE);
    workspaceId = await cli(['workspaces', 'create', '--name', 'Acme'], env);
    await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--token', PAGE_TOKEN, '--name', 'Acme Bikes'], env);
    const destinationId = await cli(
      ['destinations', 'add', '--workspace', workspaceId, '--type', 'webhook', '--url', `${receiver.url}/leads`, '--secret', RECEIVER_SECRET],
      env,
    );
    // A page-level route: no route names the form, so reconciliation finds it in Meta's list of the page's forms.
    await cli(['routes', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--destination', destinationId], env);
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
    // An owner (the API answers 503 until one exists) and an editor's key, straight into the program's database.
    const owner = await insertUser(dbh.db, { email: 'owner@example.org', name: null, passwordHash: await hashPassword('owner password of e2e') });
    await upsertMembership(dbh.db, { userId: owner.id, workspaceId, role: 'owner' });
    const { secret } = await createApiKey(dbh.db, { workspaceId, name: 'e2e', role: 'editor', createdBy: null });
    api = new ApiClient(program.url).withKey(secret);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && process.env.E2E_DEBUG) console.error(program?.output().slice(-6000));
  });

  after(async () => {
    await program?.kill();
    await dbh?.close();
    await receiver?.close();
    await graph?.close();
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('`leadrelay leads reconcile` recovers the lead and it is delivered once; running it again delivers nothing more', async () => {
    const lost = addMetaLead(60);
    const first = await runCli(['leads', 'reconcile', '--workspace', workspaceId], env);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.contain(`form ${FORM} (page ${PAGE}): Meta has 1, already recorded 0, recovered 1`);
    await receiver.waitFor(() => deliveredTo(lost).length === 1, 60_000);
    const [delivered] = deliveredTo(lost);
    expect(delivered.signatureValid).to.equal(true);
    expect(delivered.body.form).to.deep.include({ id: FORM, name: 'Test ride' });
    expect(delivered.body.answers).to.deep.include({ key: 'email', values: [emailOf(lost)] });
    expect((await eventOf(lost)).map((e) => [e.source, e.status])).to.deep.equal([['reconciliation', 'fetched']]);

    const second = await runCli(['leads', 'reconcile', '--workspace', workspaceId, '--form', FORM], env);
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.contain(`form ${FORM} (page ${PAGE}): Meta has 0, already recorded 0, recovered 0`);
    // Asked again from before the lead, Meta lists it, and it is already recorded.
    const since = await runCli(['leads', 'reconcile', '--form', FORM, '--since', new Date(Date.now() - 120 * MINUTE_MS).toISOString()], env);
    expect(since.code, since.stderr).to.equal(0);
    expect(since.stdout).to.contain('Meta has 1, already recorded 1, recovered 0');
    // Its webhook, late: a no-op.
    expect((await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId: lost })).status).to.equal(200);
    await laterWebhookDelivered();
    expect(deliveredTo(lost), 'delivered once').to.have.length(1);
    expect(await eventOf(lost)).to.have.length(1);
    for (const out of [first, second, since]) {
      expect(`${out.stdout}${out.stderr}`).to.not.contain(PAGE_TOKEN);
      expect(`${out.stdout}${out.stderr}`).to.not.contain(emailOf(lost));
    }
  });

  it('POST /reconciliation recovers the lead and it is delivered once; again, nothing more; GET shows the day’s numbers', async () => {
    const lost = addMetaLead(30);
    const since = new Date(Date.now() - 45 * MINUTE_MS).toISOString();
    const run = await api.post(`/workspaces/${workspaceId}/reconciliation`, { form_id: FORM, since });
    expect(run.status, run.text).to.equal(200);
    expect(run.body.forms).to.have.length(1);
    expect(run.body.forms[0]).to.include({ page_id: PAGE, form_id: FORM, outcome: 'done', meta_count: 1, already_recorded: 0, recovered: 1 });
    await receiver.waitFor(() => deliveredTo(lost).length === 1, 60_000);

    const again = await api.post(`/workspaces/${workspaceId}/reconciliation`, { form_id: FORM, since });
    expect(again.status, again.text).to.equal(200);
    expect(again.body.totals).to.deep.equal({ meta_count: 1, already_recorded: 1, recovered: 0 });
    await laterWebhookDelivered();
    expect(deliveredTo(lost), 'delivered once').to.have.length(1);

    // The receiver's acceptance comes before the delivery row says delivered: wait for the row.
    const deliveredIn = (v: { body: { forms: { days: { delivered: number }[] }[] } }) => v.body.forms[0]?.days.reduce((n, d) => n + d.delivered, 0);
    const view = await waitUntil(
      async () => {
        const v = await api.get(`/workspaces/${workspaceId}/reconciliation?days=2`);
        return v.status === 200 && deliveredIn(v) === 4 ? v : undefined;
      },
      20_000,
      'the four deliveries counted',
    );
    expect(view.status, view.text).to.equal(200);
    const [form] = view.body.forms;
    expect(form).to.include({ page_id: PAGE, form_id: FORM, form_name: 'Test ride', last_error: null });
    const days = form.days as { meta_count: number | null; recorded: number; recovered: number; delivered: number }[];
    const sum = (f: (d: (typeof days)[number]) => number) => days.reduce((n, d) => n + f(d), 0);
    // The two recovered leads, and the webhooks' markers (recorded, delivered; Meta listed none of them).
    expect(sum((d) => d.recovered)).to.equal(2);
    expect(sum((d) => d.meta_count ?? 0)).to.equal(2);
    expect(sum((d) => d.recorded)).to.equal(4);
    expect(sum((d) => d.delivered)).to.equal(4);
    expect(view.text).to.not.contain(emailOf(lost));

    const bad = await api.post(`/workspaces/${workspaceId}/reconciliation`, { since: 'last tuesday' });
    expect(bad.status).to.equal(422);
    expect(bad.text).to.contain('body.since');
  });
});
