// Health monitors and alerts on the real PostgreSQL and queues, against the loopback fake Graph API
// (through the real client), a loopback receiver answering as Slack, Teams and a signed webhook do,
// and a loopback SMTP server: a page the app fell off is re-subscribed and told as an alert that
// resolves; a dead page token hit by several leads opens one alert, reminded at a falling rate and
// resolved by a new token; a destination parked for re-authorisation; dead-letter rate, queue age
// and the app subscription; channels through the API (secrets write-only), test messages, retries;
// key rotation of the channels' envelopes.
import { expect } from 'chai';
import { reminderDelayMs, dispatchDueAlerts } from '../../src/alerts/dispatch.js';
import { decryptChannelSettings } from '../../src/alerts/channels.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { deliverOne } from '../../src/pipeline/deliver-lead.js';
import { fetchLeadForEvent } from '../../src/pipeline/fetch-lead.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import { runMonitors } from '../../src/pipeline/monitors.js';
import { replaceDestinationSettings } from '../../src/services/destinations.js';
import { apiFieldNamer } from '../../src/services/errors.js';
import { savePage } from '../../src/services/pages.js';
import { rotateKeys } from '../../src/services/rotate-keys.js';
import * as repo from '../../src/store/repos.js';
import { startAlertReceiver, type AlertReceiver } from '../fakes/alert-receiver.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { readMail, startFakeSmtp, type FakeSmtp } from '../fakes/smtp-server.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { ApiClient, seedApiKey, seedUser, startApiServer } from '../helpers/api.js';
import { TEST_APP_SECRET } from '../helpers/e2e.js';
import { makeBareLeadRow } from '../helpers/rows.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const APP_ID = '1234567890';
const HOUR_MS = 3_600_000;
let nextPage = 8_100_000_000;
let nextLeadgen = 8_300_000_000_000_000_000n;
const newLeadgenId = () => String(nextLeadgen++);

describe('health monitors and alerts', function () {
  this.timeout(60_000);
  let t: TestApp;
  let graph: FakeGraph;
  let hooks: AlertReceiver;
  let smtp: FakeSmtp;
  let crm: FakeReceiver;
  let server: Awaited<ReturnType<typeof startApiServer>>;

  before(async () => {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: APP_ID });
    hooks = await startAlertReceiver();
    smtp = await startFakeSmtp();
    crm = await startFakeReceiver();
    t = await createTestApp({
      env: {
        META_GRAPH_URL: graph.url,
        SMTP_URL: smtp.url,
        SMTP_FROM: 'LeadRelay <alerts@example.test>',
        MONITOR_INTERVAL_MS: '0',
        ALERT_DISPATCH_INTERVAL_MS: '0',
        ALERT_SEND_RETRIES: '2',
        ALERT_RETRY_MIN_DELAY_MS: '10',
      },
    });
    // The app's webhook subscription as it should be, so only what a test breaks is found.
    graph.setAppSubscription({ callback_url: `${t.config.publicUrl}/webhooks/meta`, fields: ['leadgen'] });
    server = await startApiServer(t.app);
    // The API answers 503 until an owner exists.
    await seedUser(t.app, { email: 'owner@example.test' });
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
    await crm?.close();
    await smtp?.close();
    await hooks?.close();
    await graph?.close();
  });

  /** A workspace of its own with a page (token valid, app installed) and a Slack and an e-mail channel. */
  async function createWorkspace(name: string) {
    const workspaceId = (await repo.createWorkspace(t.app.db, name)).id;
    const pageId = String(nextPage++);
    const token = `EAAB-monitor-${pageId}`;
    graph.setPageToken(pageId, token, `Page ${pageId}`);
    graph.installApp(pageId);
    await repo.upsertPage(t.app.db, { workspaceId, pageId, name: `Page ${pageId}`, tokenEnvelope: t.app.keyRing.encrypt(token, pageTokenAad(pageId)) });
    const api = new ApiClient(server.url).withKey(await seedApiKey(t.app, workspaceId, 'admin'));
    const slack = await api.post(`/workspaces/${workspaceId}/alert-channels`, { kind: 'slack', url: hooks.slackUrl });
    expect(slack.status, slack.text).to.equal(201);
    const mail = await api.post(`/workspaces/${workspaceId}/alert-channels`, { kind: 'email', emails: ['ops@example.test'] });
    expect(mail.status, mail.text).to.equal(201);
    return { workspaceId, pageId, token, api };
  }

  const alertsOf = (workspaceId: string) => t.app.db.selectFrom('alerts').selectAll().where('workspace_id', '=', workspaceId).orderBy('opened_at').execute();
  /** Slack messages (their text) about a workspace, in order. */
  const slackTexts = (workspaceId: string) =>
    hooks
      .of('slack')
      .map((r) => String(r.body?.text ?? ''))
      .filter((text) => text.includes(workspaceId));
  const mailsTo = (workspaceId: string) => smtp.mails.map((m) => ({ to: m.to, ...readMail(m) })).filter((m) => m.body.includes(workspaceId));

  it('re-subscribes a page the app fell off, audits it, and sends an alert and then its resolution to Slack and by mail', async () => {
    const w = await createWorkspace('Fell off');
    const [clean] = await runMonitors(t.app, { workspaceId: w.workspaceId });
    expect(clean.findings.find((f) => f.monitor === 'page_subscription')).to.include({ subject: w.pageId, status: 'ok' });
    expect(await alertsOf(w.workspaceId)).to.deep.equal([]);

    graph.uninstallApp(w.pageId);
    const [run] = await runMonitors(t.app, { workspaceId: w.workspaceId });
    expect(graph.installedFields(w.pageId)).to.deep.equal(['leadgen']);
    expect(graph.calls.some((c) => c.method === 'POST' && c.path === `/v25.0/${w.pageId}/subscribed_apps`)).to.equal(true);
    const finding = run.findings.find((f) => f.monitor === 'page_subscription');
    expect(finding).to.include({ subject: w.pageId, status: 'warning' });
    expect(finding?.details?.resubscribed_at).to.be.a('string');
    const audit = await t.app.db
      .selectFrom('audit_log')
      .selectAll()
      .where('workspace_id', '=', w.workspaceId)
      .where('action', '=', 'page.resubscribed')
      .execute();
    expect(audit.map((a) => [a.actor_type, a.target_id])).to.deep.equal([['system', w.pageId]]);
    const [alert] = await alertsOf(w.workspaceId);
    expect(alert).to.include({ cause: 'page_subscription', subject_id: w.pageId, status: 'resolved' });

    await dispatchDueAlerts(t.app);
    const texts = slackTexts(w.workspaceId);
    expect(texts).to.have.length(2);
    expect(texts[0]).to.match(/^\*Problem: LeadRelay's app was unsubscribed from page "Page \d+"/);
    expect(texts[0]).to.contain('subscribed it again');
    expect(texts[1]).to.match(/^\*Resolved: /);
    expect(texts[1]).to.contain('LeadRelay subscribed the app to the page again');
    const mails = mailsTo(w.workspaceId);
    expect(mails.map((m) => m.subject)).to.deep.equal([
      `[LeadRelay] Problem: LeadRelay's app was unsubscribed from page "Page ${w.pageId}" (${w.pageId})`,
      `[LeadRelay] Resolved: LeadRelay's app was unsubscribed from page "Page ${w.pageId}" (${w.pageId})`,
    ]);
    expect(mails[0]!.to).to.deep.equal(['ops@example.test']);
    // Nothing more is due.
    expect(await dispatchDueAlerts(t.app)).to.deep.equal({ opened: 0, reminders: 0, resolved: 0, unsent: 0 });
  });

  it('opens one alert for a dead page token hit by five leads, says five wait, reminds at 1 h, 2 h, 4 h … 24 h, and resolves when a new token comes', async () => {
    const w = await createWorkspace('Dead token');
    const events = await repo.recordLeadgenEvents(
      t.app.db,
      Array.from({ length: 5 }, () => ({
        pageId: w.pageId,
        leadgenId: newLeadgenId(),
        formId: null,
        adId: null,
        adgroupId: null,
        createdTime: null,
        isTest: false,
      })),
    );
    graph.setTokenExpiry(w.token, Math.floor(Date.now() / 1000) - 60);
    const outcomes = await Promise.all(events.map((e) => fetchLeadForEvent(t.app, e.id)));
    expect(outcomes.map((o) => o.type)).to.deep.equal(['done', 'done', 'done', 'done', 'done']);
    const alerts = await alertsOf(w.workspaceId);
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({ cause: 'page_token', subject_id: w.pageId, status: 'open' });
    expect(alerts[0]!.detail).to.contain('Session has expired');

    const opened = new Date();
    expect(await dispatchDueAlerts(t.app, { now: opened })).to.include({ opened: 1 });
    const [first] = slackTexts(w.workspaceId);
    expect(first).to.contain('5 leads waiting');
    expect(first).to.contain(`leadrelay pages add --workspace ${w.workspaceId} --page-id ${w.pageId} --token-stdin`);
    expect(mailsTo(w.workspaceId)).to.have.length(1);

    // The reminders: due 1 h after the opening, then 2 h, 4 h, … never more than 24 h apart.
    const gaps: number[] = [];
    let at = opened.getTime();
    for (let i = 0; i < 7; i++) {
      const row = (await alertsOf(w.workspaceId))[0]!;
      const next = new Date(row.next_send_at!).getTime();
      gaps.push((next - at) / HOUR_MS);
      expect(await dispatchDueAlerts(t.app, { now: new Date(next - 1000) }), 'not before it is due').to.include({ reminders: 0 });
      expect(await dispatchDueAlerts(t.app, { now: new Date(next) })).to.include({ reminders: 1 });
      at = next;
    }
    expect(gaps).to.deep.equal([1, 2, 4, 8, 16, 24, 24]);
    expect(slackTexts(w.workspaceId)).to.have.length(8);
    expect(slackTexts(w.workspaceId)[1]).to.match(/^\*Still unresolved: /);

    // A new token: the page is saved again, its parked leads resume, the alert resolves.
    const fresh = `EAAB-monitor-fresh-${w.pageId}`;
    graph.setPageToken(w.pageId, fresh, `Page ${w.pageId}`);
    const saved = await savePage(t.app, { workspaceId: w.workspaceId, pageId: w.pageId, token: fresh }, apiFieldNamer('body'));
    expect(saved.resumed).to.equal(5);
    expect((await alertsOf(w.workspaceId))[0]).to.include({ status: 'resolved', resolution: 'the page token was replaced' });
    expect(await dispatchDueAlerts(t.app)).to.include({ resolved: 1 });
    const texts = slackTexts(w.workspaceId);
    expect(texts).to.have.length(9);
    expect(texts[8]).to.match(/^\*Resolved: The token of page/);
    expect(mailsTo(w.workspaceId)).to.have.length(9);
  });

  it('the monitors find an expired token with no lead yet, and one that expires soon', async () => {
    const w = await createWorkspace('Expiry');
    graph.setTokenExpiry(w.token, Math.floor(Date.now() / 1000) + 2 * 86_400);
    const [soon] = await runMonitors(t.app, { workspaceId: w.workspaceId });
    expect(soon.findings.find((f) => f.monitor === 'page_token')).to.include({ status: 'warning' });
    expect((await alertsOf(w.workspaceId)).map((a) => [a.cause, a.status])).to.deep.equal([['page_token_expiring', 'open']]);

    graph.setTokenExpiry(w.token, Math.floor(Date.now() / 1000) - 1);
    const [expired] = await runMonitors(t.app, { workspaceId: w.workspaceId });
    const finding = expired.findings.find((f) => f.monitor === 'page_token');
    expect(finding?.status).to.equal('problem');
    expect(finding?.summary).to.contain('not valid');
    expect((await alertsOf(w.workspaceId)).map((a) => [a.cause, a.status])).to.deep.equal([
      ['page_token_expiring', 'open'],
      ['page_token', 'open'],
    ]);
    // The health page reads the same check.
    const check = await t.app.db.selectFrom('page_checks').selectAll().where('page_id', '=', w.pageId).executeTakeFirstOrThrow();
    expect(check.outcome).to.equal('refused');
  });

  it('opens one alert when deliveries find a destination refusing its credentials, and resolves it when new ones are given', async () => {
    const w = await createWorkspace('Reauth');
    const dest = await repo.createDestination(t.app.db, {
      workspaceId: w.workspaceId,
      type: 'webhook',
      name: 'CRM hook',
      config: { url: crm.url },
      credentialsEnvelope: null,
    });
    const route = await repo.createRoute(t.app.db, { workspaceId: w.workspaceId, pageId: w.pageId, formId: null, destinationId: dest.id });
    crm.respondWith([{ status: 401, body: '{"error":"token revoked"}' }]);
    const deliveries: string[] = [];
    for (let i = 0; i < 2; i++) {
      const lead = await repo.insertLead(t.app.db, makeBareLeadRow(w.workspaceId, newLeadgenId(), w.pageId));
      const [d] = await repo.ensureDeliveries(t.app.db, [{ workspaceId: w.workspaceId, leadId: lead.id, destinationId: dest.id, routeId: route.id }]);
      deliveries.push(d!.id);
    }
    for (const id of deliveries) await deliverOne(t.app, id);
    const alerts = await alertsOf(w.workspaceId);
    expect(alerts.map((a) => [a.cause, a.subject_id, a.status])).to.deep.equal([['destination_reauth', dest.id, 'open']]);
    expect(alerts[0]!.fix).to.contain(`leadrelay destinations reauth ${dest.id}`);

    await dispatchDueAlerts(t.app);
    expect(slackTexts(w.workspaceId).at(-1)).to.contain('2 leads waiting');
    const current = (await repo.findDestination(t.app.db, dest.id))!;
    await replaceDestinationSettings(t.app, current, { config: { url: crm.url }, isConfigChanged: false, credentials: {} }, apiFieldNamer('body'));
    expect((await alertsOf(w.workspaceId))[0]).to.include({ status: 'resolved' });
  });

  it('records dead-letter rates, queue age and the app subscription, raises their alerts, and GET /monitors shows the findings', async () => {
    const w = await createWorkspace('Numbers');
    const dest = await repo.createDestination(t.app.db, {
      workspaceId: w.workspaceId,
      type: 'webhook',
      name: 'Dead end',
      config: { url: crm.url },
      credentialsEnvelope: null,
    });
    const route = await repo.createRoute(t.app.db, { workspaceId: w.workspaceId, pageId: w.pageId, formId: null, destinationId: dest.id });
    const lead = await repo.insertLead(t.app.db, makeBareLeadRow(w.workspaceId, newLeadgenId(), w.pageId));
    for (let i = 0; i < 4; i++) {
      const other = await repo.insertLead(t.app.db, makeBareLeadRow(w.workspaceId, newLeadgenId(), w.pageId));
      const [d] = await repo.ensureDeliveries(t.app.db, [{ workspaceId: w.workspaceId, leadId: other.id, destinationId: dest.id, routeId: route.id }]);
      await repo.updateDelivery(t.app.db, d!.id, { status: 'dead', last_error_kind: 'invalid', last_error_reason: 'status_code_422' });
    }
    const [delivered] = await repo.ensureDeliveries(t.app.db, [{ workspaceId: w.workspaceId, leadId: lead.id, destinationId: dest.id, routeId: route.id }]);
    await repo.updateDelivery(t.app.db, delivered!.id, { status: 'delivered', delivered_at: new Date() });
    const [old] = await repo.recordLeadgenEvents(t.app.db, [
      { pageId: w.pageId, leadgenId: newLeadgenId(), formId: null, adId: null, adgroupId: null, createdTime: null, isTest: false },
    ]);
    await t.app.db
      .updateTable('leadgen_events')
      .set({ received_at: new Date(Date.now() - 2 * HOUR_MS) })
      .where('id', '=', old!.id)
      .execute();
    graph.setAppSubscription({ callback_url: 'https://elsewhere.example/webhooks/meta', fields: ['leadgen'] });
    try {
      const run = await w.api.post(`/workspaces/${w.workspaceId}/monitors/run`);
      expect(run.status, run.text).to.equal(200);
      expect(run.body.alerts_opened).to.equal(3);
    } finally {
      graph.setAppSubscription({ callback_url: `${t.config.publicUrl}/webhooks/meta`, fields: ['leadgen'] });
    }
    const view = await w.api.get(`/workspaces/${w.workspaceId}/monitors`);
    expect(view.status, view.text).to.equal(200);
    const find = (monitor: string) => view.body.results.find((r: { monitor: string }) => r.monitor === monitor);
    expect(find('dead_letters')).to.deep.include({ subject: dest.id, subject_name: 'Dead end', status: 'problem' });
    expect(find('dead_letters').details).to.include({ dead_last_hour: 4, delivered_last_hour: 1, dead_rate_last_hour_percent: 80 });
    expect(find('queue_age')).to.include({ status: 'problem' });
    expect(find('queue_age').details.open_events).to.equal(1);
    expect(find('app_subscription')).to.include({ status: 'problem' });
    expect(find('destination_credentials')).to.include({ subject: dest.id, status: 'ok' });
    expect(find('page_token')).to.include({ subject: w.pageId, status: 'ok' });
    const open = await w.api.get(`/workspaces/${w.workspaceId}/alerts?status=open`);
    expect(open.body.items.map((a: { cause: string }) => a.cause).sort()).to.deep.equal(['app_subscription', 'destination_dead_letters', 'queue_age']);
    const dead = open.body.items.find((a: { cause: string }) => a.cause === 'destination_dead_letters');
    expect(dead.waiting_leads).to.equal(4);
    expect(dead.fix).to.contain(`leadrelay leads replay --dead --destination ${dest.id}`);

    // Cleared: the dead letters replayed away and the old event fetched; the next run resolves all three.
    await t.app.db.updateTable('deliveries').set({ status: 'delivered', delivered_at: new Date() }).where('destination_id', '=', dest.id).execute();
    await t.app.db.updateTable('leadgen_events').set({ status: 'fetched' }).where('id', '=', old!.id).execute();
    const again = await w.api.post(`/workspaces/${w.workspaceId}/monitors/run`);
    expect(again.body.alerts_resolved).to.equal(3);
  });

  it('adds every kind of channel through the API, never shows a URL or secret again, and a test alert reaches each one; the webhook signature verifies', async () => {
    const w = await createWorkspace('Channels');
    const teams = await w.api.post(`/workspaces/${w.workspaceId}/alert-channels`, { kind: 'teams', url: hooks.teamsUrl, name: 'Ops team' });
    expect(teams.status, teams.text).to.equal(201);
    const hook = await w.api.post(`/workspaces/${w.workspaceId}/alert-channels`, { kind: 'webhook', url: hooks.webhookUrl });
    expect(hook.status, hook.text).to.equal(201);
    const secret = hook.body.secret as string;
    expect(secret).to.have.length.above(30);
    hooks.webhookSecret = secret;

    const list = await w.api.get(`/workspaces/${w.workspaceId}/alert-channels`);
    expect(list.body.items.map((c: { kind: string }) => c.kind)).to.deep.equal(['slack', 'email', 'teams', 'webhook']);
    for (const leaked of ['slackhooksecretvalue0001', 'teamshooksecret0001', 'leadrelay-alerts', secret]) expect(list.text).to.not.contain(leaked);
    expect(list.body.items[0].target).to.match(/^http:\/\/127\.0\.0\.1:\d+\/…0001$/);

    const before = hooks.received.length;
    const test = await w.api.post(`/workspaces/${w.workspaceId}/alerts/test`, {});
    expect(test.status, test.text).to.equal(200);
    expect(test.body.results.map((r: { kind: string; outcome: string }) => [r.kind, r.outcome])).to.deep.equal([
      ['slack', 'sent'],
      ['email', 'sent'],
      ['teams', 'sent'],
      ['webhook', 'sent'],
    ]);
    const got = hooks.received.slice(before);
    expect(got.map((r) => [r.service, r.status]).sort()).to.deep.equal([
      ['slack', 200],
      ['teams', 200],
      ['webhook', 200],
    ]);
    const signed = got.find((r) => r.service === 'webhook')!;
    expect(signed.signatureValid).to.equal(true);
    expect(signed.headers['x-leadrelay-event']).to.equal('alert.test');
    expect(signed.body).to.deep.include({ event: 'alert.test', workspace: { id: w.workspaceId, name: 'Channels' } });
    const card = got.find((r) => r.service === 'teams')!.body.attachments[0].content;
    expect(card.body[0].text).to.equal('Test alert from LeadRelay');
    expect(mailsTo(w.workspaceId).at(-1)!.subject).to.equal('[LeadRelay] Test alert from LeadRelay');

    // A signature made with another secret does not verify.
    hooks.webhookSecret = 'another secret, not the channel one';
    const wrong = await w.api.post(`/workspaces/${w.workspaceId}/alerts/test`, { channel_id: hook.body.channel.id });
    expect(wrong.body.results[0]).to.include({ outcome: 'failed', attempts: 1 });
    expect(wrong.body.results[0].error).to.match(/^HTTP 401 from 127\.0\.0\.1:\d+/);
    hooks.webhookSecret = secret;

    // A passing failure is retried; the message still goes.
    hooks.failNext('slack', [{ status: 503, body: 'service unavailable' }]);
    const slackId = list.body.items[0].id;
    const retried = await w.api.post(`/workspaces/${w.workspaceId}/alerts/test`, { channel_id: slackId });
    expect(retried.body.results[0]).to.include({ outcome: 'sent', attempts: 2 });
    expect((await w.api.get(`/workspaces/${w.workspaceId}/alert-channels`)).body.items[0].last_error).to.equal(null);

    const removed = await w.api.delete(`/workspaces/${w.workspaceId}/alert-channels/${slackId}`);
    expect(removed.status).to.equal(204);
    expect((await w.api.delete(`/workspaces/${w.workspaceId}/alert-channels/${slackId}`)).status).to.equal(404);
  });

  it('refuses a channel without what its kind needs, or with a URL the outbound rules refuse, naming the field', async () => {
    const w = await createWorkspace('Refusals');
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'slack' }, 'body.url'],
      [{ kind: 'teams', url: 'https://user:pass@example.com/hook' }, 'body.url'],
      [{ kind: 'webhook', url: 'ftp://example.com/hook' }, 'body.url'],
      [{ kind: 'webhook', url: hooks.webhookUrl, secret: 'short' }, 'body.secret'],
      [{ kind: 'email', emails: ['not an address'] }, 'body.emails'],
      [{ kind: 'slack', url: hooks.slackUrl, emails: ['a@example.com'] }, 'body.emails'],
      [{ kind: 'pager' }, 'body.kind'],
    ];
    for (const [body, field] of cases) {
      const r = await w.api.post(`/workspaces/${w.workspaceId}/alert-channels`, body);
      expect(r.status, JSON.stringify(body)).to.equal(422);
      expect(r.body.errors.map((e: { field: string }) => e.field)).to.deep.equal([field]);
      expect(r.text).to.not.contain('user:pass');
    }
  });

  it('sends nothing twice when two dispatchers run at once', async () => {
    await dispatchDueAlerts(t.app);
    const w = await createWorkspace('Twice');
    graph.uninstallApp(w.pageId);
    await runMonitors(t.app, { workspaceId: w.workspaceId });
    const results = await Promise.all([dispatchDueAlerts(t.app), dispatchDueAlerts(t.app), dispatchDueAlerts(t.app)]);
    expect(results.reduce((n, r) => n + r.opened, 0)).to.equal(1);
    expect(slackTexts(w.workspaceId)).to.have.length(2);
  });

  it('the reminder gaps double from ALERT_REPEAT_FIRST_MS up to ALERT_REPEAT_MAX_MS', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => reminderDelayMs(n, HOUR_MS, 24 * HOUR_MS) / HOUR_MS)).to.deep.equal([1, 2, 4, 8, 16, 24, 24, 24]);
  });

  it('keys rotate re-encrypts alert channels under the new key, and they still send', async () => {
    const w = await createWorkspace('Rotated');
    const k2 = new KeyRing([{ kid: 'k2', key: Buffer.alloc(32, 11) }, ...t.config.encryptionKeys!]);
    (t.app as { keyRing: KeyRing }).keyRing = k2;
    const r = await rotateKeys(t.app);
    expect(r.alertChannels).to.be.at.least(2);
    const channels = await t.app.db.selectFrom('alert_channels').selectAll().where('workspace_id', '=', w.workspaceId).execute();
    for (const c of channels) {
      expect(k2.kidOf(c.settings_envelope)).to.equal('k2');
      expect(decryptChannelSettings(new KeyRing([{ kid: 'k2', key: Buffer.alloc(32, 11) }]), c).kind).to.be.oneOf(['slack', 'email']);
    }
    const test = await w.api.post(`/workspaces/${w.workspaceId}/alerts/test`, {});
    expect(test.body.results.map((x: { outcome: string }) => x.outcome)).to.deep.equal(['sent', 'sent']);
  });
});
