// End to end through the real binary (`leadrelay start`), against the loopback fake Graph API, a
// loopback receiver answering as Slack, Teams and a signed webhook, a loopback SMTP server and a
// loopback CRM receiver: a page whose app subscription was removed is re-subscribed by the monitors,
// an alert goes to Slack and by mail, and its resolution follows; an expired page token with five
// leads arriving raises exactly one alert, reminded when due and resolved by a new token (the five
// leads then delivered); `leadrelay alerts test` reaches every kind of channel, and the generic
// webhook's signature verifies. No secret shows in any answer or log.
import { expect } from 'chai';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startAlertReceiver, type AlertReceiver } from '../fakes/alert-receiver.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { readMail, startFakeSmtp, type FakeSmtp } from '../fakes/smtp-server.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { ApiClient } from '../helpers/api.js';
import { baseEnv, cli, createOwner, postLeadgen, removeQueues, runCli, startProgram, TEST_APP_SECRET, waitUntil, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const APP_ID = '1234567890';
const PUBLIC_URL = 'https://leadrelay.e2e.example';
const PAGE = '1600000001';
const FORM = '2600000001';
const PAGE_TOKEN = 'EAAB-alerts-e2e-page-token';
const NEW_PAGE_TOKEN = 'EAAB-alerts-e2e-new-page-token';
const WEBHOOK_SECRET = 'alerts-e2e-webhook-signing-secret';

let nextLeadId = 9_600_000_000_000_000_000n;
const newLeadId = () => String(nextLeadId++);

describe('e2e: monitors and alerts', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let hooks: AlertReceiver;
  let smtp: FakeSmtp;
  let crm: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let workspaceId: string;
  let api: ApiClient;
  const answers: string[] = [];

  /** Slack messages whose text matches. */
  const slack = (pattern: RegExp) => hooks.of('slack').filter((r) => pattern.test(String(r.body?.text ?? '')));
  const mails = (pattern: RegExp) => smtp.mails.map(readMail).filter((m) => pattern.test(m.subject));
  const alertRows = (cause: string) => dbh.db.selectFrom('alerts').selectAll().where('cause', '=', cause).orderBy('opened_at').execute();

  before(async () => {
    schema = await createTestSchema('e2e');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: APP_ID });
    hooks = await startAlertReceiver({ webhookSecret: WEBHOOK_SECRET });
    smtp = await startFakeSmtp();
    crm = await startFakeReceiver();
    env = baseEnv({
      DATABASE_URL: schema.url,
      META_GRAPH_URL: graph.url,
      PUBLIC_URL,
      SMTP_URL: smtp.url,
      SMTP_FROM: 'LeadRelay <alerts@example.test>',
      // The scheduled monitors stay off: the tests run them on demand.
      MONITOR_INTERVAL_MS: '0',
      ALERT_DISPATCH_INTERVAL_MS: '300',
      ALERT_RETRY_MIN_DELAY_MS: '50',
    });
    graph.addForm({ id: FORM, page_id: PAGE, name: 'Test ride', questions: [{ key: 'email', type: 'EMAIL', label: 'Email' }] });
    graph.setPageToken(PAGE, PAGE_TOKEN, 'Acme Bikes');
    graph.installApp(PAGE);
    graph.setAppSubscription({ callback_url: `${PUBLIC_URL}/webhooks/meta`, fields: ['leadgen'] });
    workspaceId = await cli(['workspaces', 'create', '--name', 'Acme'], env);
    await cli(['pages', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--token', PAGE_TOKEN], env);
    const destinationId = await cli(['destinations', 'add', '--workspace', workspaceId, '--type', 'webhook', '--url', `${crm.url}/leads`], env);
    await cli(['routes', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--destination', destinationId], env);
    await createOwner(env);
    const key = JSON.parse(await cli(['api-keys', 'create', '--workspace', workspaceId, '--name', 'e2e', '--role', 'admin', '--json'], env)) as {
      secret: string;
    };
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
    api = new ApiClient(program.url).withKey(key.secret);
    for (const body of [
      { kind: 'slack', url: hooks.slackUrl, name: 'Ops Slack' },
      { kind: 'email', emails: ['ops@example.test'] },
    ]) {
      const r = await api.post(`/workspaces/${workspaceId}/alert-channels`, body);
      expect(r.status, r.text).to.equal(201);
      answers.push(r.text);
    }
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && process.env.E2E_DEBUG) console.error(program?.output().slice(-6000));
  });

  after(async () => {
    await program?.kill();
    await dbh?.close();
    await crm?.close();
    await smtp?.close();
    await hooks?.close();
    await graph?.close();
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('re-subscribes a page whose app subscription was removed, sends an alert to Slack and by mail, and then its resolution', async () => {
    graph.uninstallApp(PAGE);
    const run = await api.post(`/workspaces/${workspaceId}/monitors/run`);
    expect(run.status, run.text).to.equal(200);
    answers.push(run.text);
    expect(run.body.results.find((r: { monitor: string }) => r.monitor === 'page_subscription')).to.include({ subject: PAGE, status: 'warning' });
    expect(graph.installedFields(PAGE)).to.deep.equal(['leadgen']);

    await hooks.waitFor(() => slack(/^\*Resolved: LeadRelay's app was unsubscribed/).length === 1, 60_000);
    const [opened] = slack(/^\*Problem: LeadRelay's app was unsubscribed from page "Acme Bikes"/);
    expect(opened, 'the alert came first').to.not.equal(undefined);
    expect(opened!.at).to.be.at.most(slack(/^\*Resolved: /)[0]!.at);
    await waitUntil(async () => mails(/Resolved: LeadRelay's app was unsubscribed/).length === 1, 60_000, 'the resolution by mail');
    expect(mails(/Problem: LeadRelay's app was unsubscribed/)).to.have.length(1);

    const listed = await api.get(`/workspaces/${workspaceId}/alerts?status=all`);
    answers.push(listed.text);
    const alert = listed.body.items.find((a: { cause: string }) => a.cause === 'page_subscription');
    expect(alert).to.include({ status: 'resolved', subject_id: PAGE, resolution: 'LeadRelay subscribed the app to the page again' });
    expect(alert.sends.map((s: { message: string; outcome: string }) => `${s.message}:${s.outcome}`).sort()).to.deep.equal([
      'opened:sent',
      'opened:sent',
      'resolved:sent',
      'resolved:sent',
    ]);
  });

  it('raises exactly one alert for an expired page token with five leads arriving, reminds when due, and resolves when a new token is given', async () => {
    graph.setTokenExpiry(PAGE_TOKEN, Math.floor(Date.now() / 1000) - 60);
    const leadIds = Array.from({ length: 5 }, () => {
      const id = newLeadId();
      graph.addLead({ id, form_id: FORM, page_id: PAGE, field_data: [{ name: 'email', values: [`rider${id}@example.com`] }] });
      return id;
    });
    for (const id of leadIds) expect((await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId: id })).status).to.equal(200);
    const parked = () => dbh.db.selectFrom('leadgen_events').select('id').where('page_id', '=', PAGE).where('status', '=', 'parked').execute();
    await waitUntil(async () => (await parked()).length === 5, 60_000, 'five parked leads');
    await hooks.waitFor(() => slack(/^\*Problem: The token of page "Acme Bikes"/).length === 1, 60_000);
    expect(await alertRows('page_token')).to.have.length(1);

    // Once the opening is recorded (the message reaches Slack a moment before), the clock moves: the reminder is due now.
    await waitUntil(async () => (await alertRows('page_token'))[0]?.opened_notified_at, 60_000, 'the opening recorded');
    await dbh.db
      .updateTable('alerts')
      .set({ next_send_at: new Date(Date.now() - 1000) })
      .where('cause', '=', 'page_token')
      .execute();
    await hooks.waitFor(() => slack(/^\*Still unresolved: The token of page "Acme Bikes"/).length === 1, 60_000);
    const [reminder] = slack(/^\*Still unresolved: /);
    expect(reminder!.body.text).to.contain('5 leads waiting');
    expect(reminder!.body.text).to.contain(`leadrelay pages add --workspace ${workspaceId} --page-id ${PAGE} --token-stdin`);
    expect(slack(/The token of page/), 'one opening and one reminder, not one per lead').to.have.length(2);
    await waitUntil(async () => mails(/Still unresolved: The token of page/).length === 1, 60_000, 'the reminder by mail');
    expect(mails(/The token of page/)).to.have.length(2);
    const [row] = await alertRows('page_token');
    // The next reminder is twice as far off (2 h).
    expect(new Date(row!.next_send_at!).getTime() - new Date(row!.last_notified_at!).getTime()).to.equal(2 * 3_600_000);

    graph.setPageToken(PAGE, NEW_PAGE_TOKEN, 'Acme Bikes');
    const readded = await runCli(['pages', 'add', '--workspace', workspaceId, '--page-id', PAGE, '--token-stdin'], env, { input: `${NEW_PAGE_TOKEN}\n` });
    expect(readded.code, readded.stderr).to.equal(0);
    await hooks.waitFor(() => slack(/^\*Resolved: The token of page "Acme Bikes"/).length === 1, 60_000);
    // The mail goes out after the Slack message: waited for here, so it is not taken for the next test's.
    await waitUntil(async () => mails(/Resolved: The token of page/).length === 1, 60_000, 'the resolution by mail');
    await crm.waitFor(() => leadIds.every((id) => crm.received.some((r) => r.body?.leadgen_id === id && isAccepted(r))), 60_000);
    expect(slack(/The token of page/)).to.have.length(3);
    expect(await alertRows('page_token')).to.have.length(1);
  });

  it('`leadrelay alerts test` reaches every kind of channel, and the generic webhook signature verifies', async () => {
    const teams = await api.post(`/workspaces/${workspaceId}/alert-channels`, { kind: 'teams', url: hooks.teamsUrl });
    expect(teams.status, teams.text).to.equal(201);
    const hook = await api.post(`/workspaces/${workspaceId}/alert-channels`, { kind: 'webhook', url: hooks.webhookUrl, secret: WEBHOOK_SECRET });
    expect(hook.status, hook.text).to.equal(201);
    answers.push(teams.text, hook.text);
    const before = hooks.received.length;
    const mailsBefore = smtp.mails.length;

    const out = await runCli(['alerts', 'test', '--workspace', workspaceId], env);
    expect(out.code, out.stderr).to.equal(0);
    expect(
      out.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
    ).to.deep.equal(['sent slack', 'sent email', 'sent teams', 'sent webhook']);
    const got = hooks.received.slice(before);
    expect(got.map((r) => `${r.service}:${r.status}`).sort()).to.deep.equal(['slack:200', 'teams:200', 'webhook:200']);
    const signed = got.find((r) => r.service === 'webhook')!;
    expect(signed.signatureValid).to.equal(true);
    expect(signed.body.event).to.equal('alert.test');
    expect(smtp.mails.slice(mailsBefore).map((m) => readMail(m).subject)).to.deep.equal(['[LeadRelay] Test alert from LeadRelay']);

    const list = await runCli(['alerts', 'list', '--workspace', workspaceId, '--all'], env);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.contain(`page_token:${PAGE}  resolved`);
    expect(list.stdout).to.contain(`page_subscription:${PAGE}  resolved`);
    const channels = await runCli(['alerts', 'channels', '--workspace', workspaceId], env);
    answers.push(out.stdout, list.stdout, channels.stdout, channels.stderr);

    // No answer, command output or log line carries a channel URL's secret part, the signing secret or a page token.
    for (const text of [...answers, program.output()]) {
      for (const secret of ['slackhooksecretvalue0001', 'teamshooksecret0001', WEBHOOK_SECRET, PAGE_TOKEN, NEW_PAGE_TOKEN]) expect(text).to.not.contain(secret);
    }
  });
});
