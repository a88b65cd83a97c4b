// Checks that the loopback fake Graph API behaves the way the reference says Meta does, both
// on the wire (raw fetch) and through the real client the program uses.
import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { createGraphClient, type GraphClient } from '../../src/meta/graph-client.js';
import { GraphError } from '../../src/meta/graph-errors.js';
import { graphFailures, startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';

const APP_ID = '1234567890';
const APP_SECRET = 'fake-graph-test-secret';
const PAGE = '100200300';
const OTHER_PAGE = '999888777';
const TOKEN = 'EAAfakePageTokenForPage100200300';
const OTHER_TOKEN = 'EAAfakePageTokenForPage999888777';
const FORM = '555666777';
const NOW_MS = Date.UTC(2026, 10, 20, 12, 0, 0);

function classicProof(token: string): string {
  return createHmac('sha256', APP_SECRET).update(token).digest('hex');
}

interface RawAnswer {
  status: number;
  /** Raw Graph JSON, read loosely on purpose. */
  body: any;
}

async function rawGet(fake: FakeGraph, path: string, params: Record<string, string>): Promise<RawAnswer> {
  const res = await fetch(`${fake.url}${path}?${new URLSearchParams(params).toString()}`);
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

function signed(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { access_token: token, appsecret_proof: classicProof(token), ...extra };
}

async function expectGraphError(work: Promise<unknown>): Promise<GraphError> {
  try {
    await work;
  } catch (err) {
    expect(err).to.be.instanceOf(GraphError);
    return err as GraphError;
  }
  throw new Error('expected a GraphError, but the call resolved');
}

describe('fake Graph API', () => {
  let fake: FakeGraph;
  let client: GraphClient;

  beforeEach(async () => {
    fake = await startFakeGraph({ appSecret: APP_SECRET, appId: APP_ID, now: () => NOW_MS });
    fake.setPageToken(PAGE, TOKEN, 'Acme Bikes');
    fake.setPageToken(OTHER_PAGE, OTHER_TOKEN);
    fake.addForm({
      id: FORM,
      page_id: PAGE,
      name: 'Spring test ride',
      questions: [
        { key: 'email', label: 'Email', type: 'EMAIL' },
        { key: 'bike', label: 'Which bike?', options: [{ key: 'road', value: 'Road bike' }] },
      ],
    });
    client = createGraphClient({
      graphUrl: fake.url,
      version: 'v25.0',
      appSecret: APP_SECRET,
      appId: APP_ID,
      timeoutMs: 2000,
      retries: 2,
      retryMinDelayMs: 1,
      now: () => NOW_MS,
    });
  });

  afterEach(async () => {
    await fake.close();
  });

  describe('on the wire', () => {
    it("answers an unknown id with Meta's 100/33 body, HTTP 400, and an fbtrace_id", async () => {
      const answer = await rawGet(fake, '/v25.0/444444444444', signed(TOKEN));
      expect(answer.status).to.equal(400);
      expect(Object.keys(answer.body.error).sort()).to.deep.equal(['code', 'error_subcode', 'fbtrace_id', 'message', 'type']);
      expect(answer.body.error).to.include({ code: 100, error_subcode: 33, type: 'GraphMethodException' });
      expect(answer.body.error.message).to.match(/^Unsupported get request\. Object with ID '444444444444' does not exist/);
      expect(answer.body.error.fbtrace_id).to.match(/^[A-Za-z0-9_-]{10,}$/);
    });

    it('rejects a missing or wrong appsecret_proof, and accepts both the classic and the time-stamped form', async () => {
      fake.addLead({ id: '1', form_id: FORM });
      const missing = await rawGet(fake, '/v25.0/1', { access_token: TOKEN });
      expect(missing.status).to.equal(400);
      expect(missing.body.error).to.include({
        code: 100,
        type: 'GraphMethodException',
        message: 'API calls from the server require an appsecret_proof argument',
      });

      const wrong = await rawGet(fake, '/v25.0/1', { access_token: TOKEN, appsecret_proof: classicProof('another-token') });
      expect(wrong.body.error).to.include({ code: 100, message: 'Invalid appsecret_proof provided in the API argument' });

      expect((await rawGet(fake, '/v25.0/1', signed(TOKEN))).status).to.equal(200);

      const time = String(Math.floor(NOW_MS / 1000) - 60);
      const stamped = createHmac('sha256', APP_SECRET).update(`${TOKEN}|${time}`).digest('hex');
      expect((await rawGet(fake, '/v25.0/1', { access_token: TOKEN, appsecret_proof: stamped, appsecret_time: time })).status).to.equal(200);

      // A time-stamped proof lives 5 minutes.
      const old = String(Math.floor(NOW_MS / 1000) - 301);
      const stale = createHmac('sha256', APP_SECRET).update(`${TOKEN}|${old}`).digest('hex');
      const expired = await rawGet(fake, '/v25.0/1', { access_token: TOKEN, appsecret_proof: stale, appsecret_time: old });
      expect(expired.body.error.code).to.equal(100);
      // The classic proof sent with a time is checked as time-stamped, so it fails.
      const mixed = await rawGet(fake, '/v25.0/1', { access_token: TOKEN, appsecret_proof: classicProof(TOKEN), appsecret_time: time });
      expect(mixed.status).to.equal(400);
    });

    it('refuses a path without the pinned version', async () => {
      fake.addLead({ id: '1', form_id: FORM });
      for (const path of ['/1', '/v24.0/1']) {
        const answer = await rawGet(fake, path, signed(TOKEN));
        expect(answer.status).to.equal(400);
        expect(answer.body.error.code).to.equal(2500);
      }
    });

    it('answers an unknown token with 190 (no subcode) and a revoked one with 190/460', async () => {
      fake.addLead({ id: '1', form_id: FORM });
      const unknown = await rawGet(fake, '/v25.0/1', signed('EAAnotAToken'));
      expect(unknown.status).to.equal(400);
      expect(unknown.body.error).to.include({ code: 190, type: 'OAuthException', message: 'Invalid OAuth access token - Cannot parse access token' });
      expect(unknown.body.error).to.not.have.property('error_subcode');

      fake.revokeToken(TOKEN);
      const revoked = await rawGet(fake, '/v25.0/1', signed(TOKEN));
      expect(revoked.status).to.equal(400);
      expect(revoked.body.error).to.include({ code: 190, error_subcode: 460 });
      expect(revoked.body.error.fbtrace_id).to.be.a('string');
    });

    it('honours `fields`, serves defaults without it, and rejects a field leads do not have', async () => {
      fake.addLead({
        id: '1',
        form_id: FORM,
        created_time: '2026-11-20T10:15:00+0000',
        ad_id: '2385',
        field_data: [{ name: 'email', values: ['a@example.com'] }],
        custom_disclaimer_responses: [{ checkbox_key: 'news', is_checked: '1' }],
      });
      const some = await rawGet(fake, '/v25.0/1', signed(TOKEN, { fields: 'id,custom_disclaimer_responses' }));
      expect(some.body).to.deep.equal({ id: '1', custom_disclaimer_responses: [{ checkbox_key: 'news', is_checked: '1' }] });

      const defaults = await rawGet(fake, '/v25.0/1', signed(TOKEN));
      expect(defaults.body).to.deep.equal({
        created_time: '2026-11-20T10:15:00+0000',
        id: '1',
        ad_id: '2385',
        form_id: FORM,
        field_data: [{ name: 'email', values: ['a@example.com'] }],
      });

      const bad = await rawGet(fake, '/v25.0/1', signed(TOKEN, { fields: 'id,favourite_colour' }));
      expect(bad.status).to.equal(400);
      expect(bad.body.error.code).to.equal(100);
      expect(bad.body.error.message).to.include('nonexisting field (favourite_colour)');
    });

    it("hides a lead from another Page's token (100/33)", async () => {
      fake.addLead({ id: '1', form_id: FORM });
      const answer = await rawGet(fake, '/v25.0/1', signed(OTHER_TOKEN));
      expect(answer.status).to.equal(400);
      expect(answer.body.error).to.include({ code: 100, error_subcode: 33 });
    });

    it('pages /{form}/leads newest first with cursors, omits paging.next on the last page, and applies filtering', async () => {
      for (let i = 1; i <= 5; i++) fake.addLead({ id: String(i), form_id: FORM, created_time: 1_790_000_000 + i * 60 });
      const first = await rawGet(fake, `/v25.0/${FORM}/leads`, signed(TOKEN, { limit: '2', fields: 'id' }));
      expect(first.body.data).to.deep.equal([{ id: '5' }, { id: '4' }]);
      expect(first.body.paging.cursors.after).to.be.a('string');
      expect(first.body.paging.next).to.include('after=');
      const second = await rawGet(fake, `/v25.0/${FORM}/leads`, signed(TOKEN, { limit: '2', fields: 'id', after: first.body.paging.cursors.after }));
      expect(second.body.data).to.deep.equal([{ id: '3' }, { id: '2' }]);
      const third = await rawGet(fake, `/v25.0/${FORM}/leads`, signed(TOKEN, { limit: '2', fields: 'id', after: second.body.paging.cursors.after }));
      expect(third.body.data).to.deep.equal([{ id: '1' }]);
      expect(third.body.paging).to.not.have.property('next');

      const since = JSON.stringify([{ field: 'time_created', operator: 'GREATER_THAN', value: 1_790_000_000 + 3 * 60 }]);
      const filtered = await rawGet(fake, `/v25.0/${FORM}/leads`, signed(TOKEN, { fields: 'id', filtering: since }));
      expect(filtered.body.data).to.deep.equal([{ id: '5' }, { id: '4' }]);
      // Graph silently ignores an ISO date in the filter.
      const iso = JSON.stringify([{ field: 'time_created', operator: 'GREATER_THAN', value: '2030-01-01T00:00:00+0000' }]);
      const ignored = await rawGet(fake, `/v25.0/${FORM}/leads`, signed(TOKEN, { fields: 'id', filtering: iso }));
      expect(ignored.body.data).to.have.length(5);
    });

    it('filters /{form}/leads on time_created with LESS_THAN, GREATER_THAN and GREATER_THAN_OR_EQUAL together', async () => {
      for (let i = 1; i <= 5; i++) fake.addLead({ id: String(i), form_id: FORM, created_time: 1_790_000_000 + i });
      const ids = async (filters: { operator: string; value: number }[]) =>
        (
          await rawGet(
            fake,
            `/v25.0/${FORM}/leads`,
            signed(TOKEN, { fields: 'id', filtering: JSON.stringify(filters.map((f) => ({ field: 'time_created', ...f }))) }),
          )
        ).body.data.map((l: { id: string }) => l.id);
      expect(await ids([{ operator: 'GREATER_THAN_OR_EQUAL', value: 1_790_000_002 }])).to.deep.equal(['5', '4', '3', '2']);
      expect(await ids([{ operator: 'LESS_THAN', value: 1_790_000_003 }])).to.deep.equal(['2', '1']);
      expect(
        await ids([
          { operator: 'GREATER_THAN', value: 1_790_000_001 },
          { operator: 'LESS_THAN', value: 1_790_000_005 },
        ]),
      ).to.deep.equal(['4', '3', '2']);
    });

    it('throttle mode answers every request for the id with the throttle until cleared', async () => {
      fake.addLead({ id: '1', form_id: FORM });
      fake.setThrottled(FORM, graphFailures.leadgenThrottled(3, PAGE));
      for (let i = 0; i < 2; i++) {
        const r = await rawGet(fake, `/v25.0/${FORM}/leads`, signed(TOKEN, { fields: 'id' }));
        expect(r.status).to.equal(400);
        expect(r.body.error).to.include({ code: 80005 });
      }
      fake.setThrottled(FORM, graphFailures.userThrottled());
      expect((await rawGet(fake, `/v25.0/${FORM}/leads`, signed(TOKEN, { fields: 'id' }))).body.error).to.include({ code: 17 });
      fake.setThrottled(FORM, null);
      expect((await rawGet(fake, `/v25.0/${FORM}/leads`, signed(TOKEN, { fields: 'id' }))).body.data).to.deep.equal([{ id: '1' }]);
    });

    it("answers a Page's subscribed_apps only to its Page token: none installed, then the app after an install POST", async () => {
      const none = await rawGet(fake, `/v25.0/${PAGE}/subscribed_apps`, signed(TOKEN));
      expect(none).to.deep.equal({ status: 200, body: { data: [] } });

      const appToken = `${APP_ID}|${APP_SECRET}`;
      const withAppToken = await rawGet(fake, `/v25.0/${PAGE}/subscribed_apps`, signed(appToken));
      expect(withAppToken.status).to.equal(400);
      expect(withAppToken.body.error).to.include({ code: 210, type: 'OAuthException' });
      const otherPage = await rawGet(fake, `/v25.0/${PAGE}/subscribed_apps`, signed(OTHER_TOKEN));
      expect(otherPage.body.error).to.include({ code: 100, error_subcode: 33 });

      const noFields = await fetch(`${fake.url}/v25.0/${PAGE}/subscribed_apps`, { method: 'POST', body: new URLSearchParams(signed(TOKEN)) });
      expect(noFields.status).to.equal(400);
      const install = await fetch(`${fake.url}/v25.0/${PAGE}/subscribed_apps`, {
        method: 'POST',
        body: new URLSearchParams(signed(TOKEN, { subscribed_fields: 'leadgen' })),
      });
      expect(await install.json()).to.deep.equal({ success: true });
      const listed = await rawGet(fake, `/v25.0/${PAGE}/subscribed_apps`, signed(TOKEN));
      expect(listed.body.data).to.have.length(1);
      expect(listed.body.data[0]).to.include({ id: APP_ID });
      expect(listed.body.data[0].subscribed_fields).to.deep.equal(['leadgen']);
      expect(fake.installedFields(PAGE)).to.deep.equal(['leadgen']);
    });

    it('refuses subscribed_apps to a Page token without pages_manage_metadata (code 200)', async () => {
      fake.setTokenScopes(TOKEN, ['leads_retrieval', 'pages_show_list']);
      const answer = await rawGet(fake, `/v25.0/${PAGE}/subscribed_apps`, signed(TOKEN));
      expect(answer.status).to.equal(400);
      expect(answer.body.error).to.include({ code: 200 });
      expect(answer.body.error.message).to.contain('pages_manage_metadata');
    });

    it('records every call, answered or refused, in order, with its query and form body', async () => {
      await rawGet(fake, '/v25.0/42', signed(TOKEN, { fields: 'id' }));
      await rawGet(fake, '/v24.0/42', signed(TOKEN));
      await fetch(`${fake.url}/v25.0/${PAGE}/subscribed_apps`, { method: 'POST', body: new URLSearchParams(signed(TOKEN, { subscribed_fields: 'leadgen' })) });
      expect(fake.calls.map((c) => [c.method, c.path])).to.deep.equal([
        ['GET', '/v25.0/42'],
        ['GET', '/v24.0/42'],
        ['POST', `/v25.0/${PAGE}/subscribed_apps`],
      ]);
      expect(fake.calls[0].query).to.include({ access_token: TOKEN, fields: 'id' });
      expect(fake.calls[2].query).to.include({ access_token: TOKEN, subscribed_fields: 'leadgen' });
    });
  });

  describe('through the real client', () => {
    it("serves a lead in Graph's shape that the client parses", async () => {
      fake.addLead({
        id: '1234567890123456',
        form_id: FORM,
        created_time: new Date('2026-11-20T10:15:00Z'),
        field_data: [{ name: 'full_name', values: ['Zoë Ångström'] }, { name: 'colour' }],
        custom_disclaimer_responses: [
          { checkbox_key: 'a', is_checked: '1' },
          { checkbox_key: 'b', is_checked: '' },
        ],
        platform: 'ig',
      });
      const lead = await client.getLead('1234567890123456', TOKEN);
      expect(lead).to.deep.include({ id: '1234567890123456', formId: FORM, isOrganic: true, adId: null, platform: 'ig' });
      expect(lead.createdTime.toISOString()).to.equal('2026-11-20T10:15:00.000Z');
      expect(lead.fieldData).to.deep.equal([
        { name: 'full_name', values: ['Zoë Ångström'] },
        { name: 'colour', values: [] },
      ]);
      expect(lead.consents).to.deep.equal([
        { key: 'a', checked: true },
        { key: 'b', checked: false },
      ]);
      const call = fake.calls.at(-1)!;
      expect(call.query.appsecret_time).to.equal(String(Math.floor(NOW_MS / 1000)));
    });

    it('gets the form with its questions', async () => {
      const form = await client.getForm(FORM, TOKEN);
      expect(form).to.deep.include({ id: FORM, name: 'Spring test ride', status: 'ACTIVE', locale: 'en_US' });
      expect(form.questions.map((q) => [q.key, q.type, q.options.length])).to.deep.equal([
        ['email', 'EMAIL', 0],
        ['bike', 'CUSTOM', 1],
      ]);
    });

    it('lists form leads across pages since a time', async () => {
      for (let i = 1; i <= 7; i++) fake.addLead({ id: String(100 + i), form_id: FORM, created_time: 1_790_000_000 + i });
      const ids: string[] = [];
      for await (const lead of client.listFormLeads(FORM, TOKEN, { sinceUnixSeconds: 1_790_000_002, pageSize: 2 })) ids.push(lead.id);
      expect(ids).to.deep.equal(['107', '106', '105', '104', '103']);
      expect(fake.calls.filter((c) => c.path === `/v25.0/${FORM}/leads`)).to.have.length(3);
    });

    it('scripted failures: a 503 then Graph code 2 are retried, then normal service', async () => {
      fake.addLead({ id: '77', form_id: FORM });
      fake.failNext('77', [graphFailures.serverError(503), graphFailures.temporary(2)]);
      const lead = await client.getLead('77', TOKEN);
      expect(lead.id).to.equal('77');
      expect(fake.calls.filter((c) => c.path === '/v25.0/77')).to.have.length(3);
    });

    it('scripted 80005 reaches the client as throttled with the header wait', async () => {
      fake.addLead({ id: '78', form_id: FORM });
      fake.failNext('78', [graphFailures.leadgenThrottled(4, PAGE)]);
      const err = await expectGraphError(client.getLead('78', TOKEN));
      expect(err.info).to.include({ category: 'throttled', reason: 'graph_code_80005', retryAfterMs: 4 * 60_000 });
      expect(err.info.fbtraceId).to.be.a('string');
    });

    it('throttles 80005, 4 and 17 reach the client as throttled', async () => {
      fake.addLead({ id: '79', form_id: FORM });
      for (const [failure, reason] of [
        [graphFailures.leadgenThrottled(2, PAGE), 'graph_code_80005'],
        [graphFailures.appThrottled(), 'graph_code_4'],
        [graphFailures.userThrottled(), 'graph_code_17'],
      ] as const) {
        fake.setThrottled(FORM, failure);
        const err = await expectGraphError(
          (async () => {
            for await (const _lead of client.listFormLeads(FORM, TOKEN)) void _lead;
          })(),
        );
        expect(err.info).to.include({ category: 'throttled', reason });
      }
    });

    it('a revoked token is token_dead after one call; page-role loss is page_role_missing', async () => {
      fake.addLead({ id: '79', form_id: FORM });
      fake.revokeToken(TOKEN);
      const dead = await expectGraphError(client.getLead('79', TOKEN));
      expect(dead.info).to.include({ category: 'token_dead', reason: 'graph_code_190_460' });
      expect(fake.calls).to.have.length(1);
      fake.revokeToken(TOKEN, 492);
      const role = await expectGraphError(client.getLead('79', TOKEN));
      expect(role.info.category).to.equal('page_role_missing');
    });

    it('a wrong app secret on the client is invalid_request, not a missing lead', async () => {
      fake.addLead({ id: '80', form_id: FORM });
      const wrong = createGraphClient({
        graphUrl: fake.url,
        version: 'v25.0',
        appSecret: 'not-the-secret',
        timeoutMs: 2000,
        retries: 0,
        retryMinDelayMs: 1,
        now: () => NOW_MS,
      });
      const err = await expectGraphError(wrong.getLead('80', TOKEN));
      expect(err.info).to.include({ category: 'invalid_request', reason: 'graph_code_100_appsecret_proof' });
    });

    it('debug_token reports a valid Page token and an invalidated one', async () => {
      const valid = await client.debugToken(TOKEN);
      expect(valid).to.include({ isValid: true, expiresAt: null, appId: APP_ID, type: 'PAGE' });
      expect(valid.scopes).to.include('leads_retrieval');
      fake.revokeToken(TOKEN, 463);
      const invalid = await client.debugToken(TOKEN);
      expect(invalid).to.include({ isValid: false, errorCode: 190, errorSubcode: 463 });
    });

    it("debug_token reports a Page token's page id and scopes, a user token as USER, and an unknown token as invalid", async () => {
      fake.setTokenScopes(TOKEN, ['leads_retrieval', 'pages_show_list']);
      const page = await client.debugToken(TOKEN);
      expect(page).to.include({ isValid: true, type: 'PAGE', profileId: PAGE });
      expect(page.scopes).to.deep.equal(['leads_retrieval', 'pages_show_list']);
      fake.setUserToken('EAAfakeUserToken0123456789');
      const user = await client.debugToken('EAAfakeUserToken0123456789');
      expect(user).to.include({ isValid: true, type: 'USER', profileId: null });
      expect(user.expiresAt).to.be.a('number');
      const unknown = await client.debugToken('EAAnotAToken');
      expect(unknown).to.include({ isValid: false, errorCode: 190 });
    });

    it("reads a Page's name with its Page token or a user token, not with another Page's token", async () => {
      expect(await client.getPage(PAGE, TOKEN)).to.deep.equal({ id: PAGE, name: 'Acme Bikes' });
      fake.setUserToken('EAAfakeUserToken0123456789');
      expect(await client.getPage(PAGE, 'EAAfakeUserToken0123456789')).to.deep.equal({ id: PAGE, name: 'Acme Bikes' });
      const err = await expectGraphError(client.getPage(PAGE, OTHER_TOKEN));
      expect(err.info.category).to.equal('not_found');
    });

    it('test leads: one per form, dummy answers, listed, deletable', async () => {
      const created: string[] = [];
      await fake.close();
      fake = await startFakeGraph({ appSecret: APP_SECRET, appId: APP_ID, now: () => NOW_MS, onTestLeadCreated: (e) => created.push(e.leadgenId) });
      fake.setPageToken(PAGE, TOKEN);
      fake.addForm({ id: FORM, page_id: PAGE, questions: [{ key: 'email' }, { key: 'full_name' }] });
      client = createGraphClient({
        graphUrl: fake.url,
        version: 'v25.0',
        appSecret: APP_SECRET,
        appId: APP_ID,
        timeoutMs: 2000,
        retries: 0,
        retryMinDelayMs: 1,
        now: () => NOW_MS,
      });

      const { id } = await client.createTestLead(FORM, TOKEN, {
        fieldData: [{ name: 'email', values: ['t@example.com'] }],
        consents: [{ key: 'news', checked: true }],
      });
      expect(created).to.deep.equal([id]);
      const lead = await client.getLead(id, TOKEN);
      expect(lead.isOrganic).to.equal(true);
      expect(lead.fieldData).to.deep.equal([
        { name: 'email', values: ['t@example.com'] },
        { name: 'full_name', values: ['<test lead: dummy data for full_name>'] },
      ]);
      expect(lead.consents).to.deep.equal([{ key: 'news', checked: true }]);

      const again = await expectGraphError(client.createTestLead(FORM, TOKEN));
      expect(again.info.code).to.equal(100);
      expect((await client.listTestLeads(FORM, TOKEN)).map((l) => l.id)).to.deep.equal([id]);
      await client.deleteTestLead(id, TOKEN);
      const gone = await expectGraphError(client.getLead(id, TOKEN));
      expect(gone.info.category).to.equal('not_found');
    });

    it("lists a Page's forms", async () => {
      const forms = [];
      for await (const form of client.listPageForms(PAGE, TOKEN)) forms.push(form);
      expect(forms.map((f) => [f.id, f.name, f.status, f.leadsCount])).to.deep.equal([[FORM, 'Spring test ride', 'ACTIVE', 0]]);
    });
  });
  describe('batch requests (POST / with batch=[…])', () => {
    async function rawBatch(requests: unknown[], params: Record<string, string> = signed(TOKEN)): Promise<RawAnswer> {
      const res = await fetch(`${fake.url}/v25.0/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...params, batch: JSON.stringify(requests) }).toString(),
      });
      const text = await res.text();
      return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
    }
    const get = (relativeUrl: string) => ({ method: 'GET', relative_url: relativeUrl });

    it('answers each request in order as {code, headers, body} with the body as JSON text, each checked as if alone', async () => {
      fake.addLead({ id: '31', form_id: FORM, field_data: [{ name: 'email', values: ['a@example.com'] }] });
      fake.addLead({ id: '32', form_id: FORM, page_id: OTHER_PAGE });
      const answer = await rawBatch([get('31?fields=id,field_data'), get('32?fields=id'), get('33?fields=id'), get('31?fields=colour')]);
      expect(answer.status).to.equal(200);
      expect(answer.body.map((i: { code: number }) => i.code)).to.deep.equal([200, 400, 400, 400]);
      for (const i of answer.body) expect(i.body).to.be.a('string');
      expect(JSON.parse(answer.body[0].body)).to.deep.equal({ id: '31', field_data: [{ name: 'email', values: ['a@example.com'] }] });
      expect(answer.body[0].headers).to.deep.include({ name: 'Content-Type', value: 'text/javascript; charset=UTF-8' });
      // Another Page's lead and a missing one look alike (100/33); a bad field is the usual 100.
      expect(JSON.parse(answer.body[1].body).error).to.include({ code: 100, error_subcode: 33 });
      expect(JSON.parse(answer.body[2].body).error).to.include({ code: 100, error_subcode: 33 });
      expect(JSON.parse(answer.body[3].body).error.message).to.include('nonexisting field (colour)');
      // The batch is one HTTP request; its requests are listed after it.
      expect(fake.httpCallCount()).to.equal(1);
      expect(fake.calls.filter((c) => c.isInBatch).map((c) => c.path)).to.deep.equal(['/v25.0/31', '/v25.0/32', '/v25.0/33', '/v25.0/31']);
    });

    it('applies scripted failures and throttles to each request: a null for a timed-out one, the throttle with its usage header', async () => {
      for (const id of ['41', '42', '43']) fake.addLead({ id, form_id: FORM });
      fake.failNext('41', [graphFailures.timedOut()]);
      fake.setThrottled('42', graphFailures.leadgenThrottled(3, PAGE));
      const answer = await rawBatch([get('41'), get('42'), get('43')]);
      expect(answer.body[0]).to.equal(null);
      expect(answer.body[1].code).to.equal(400);
      expect(JSON.parse(answer.body[1].body).error.code).to.equal(80005);
      const usage = answer.body[1].headers.find((h: { name: string }) => h.name === 'x-business-use-case-usage');
      expect(JSON.parse(usage.value)[PAGE][0].estimated_time_to_regain_access).to.equal(3);
      expect(answer.body[2].code).to.equal(200);
      // include_headers=false leaves the headers out.
      const bare = await rawBatch([get('43')], signed(TOKEN, { include_headers: 'false' }));
      expect(bare.body[0]).to.have.keys(['code', 'body']);
    });

    it("refuses more than 50 requests with Meta's GraphBatchException, and a dead top-level token with 190 for the whole call", async () => {
      const tooMany = await rawBatch(Array.from({ length: 51 }, (_, i) => get(String(500 + i))));
      expect(tooMany.status).to.equal(400);
      expect(tooMany.body.error).to.include({ type: 'GraphBatchException', message: 'Too many requests in batch message. Maximum batch size is 50' });
      expect(fake.calls.filter((c) => c.isInBatch)).to.have.length(0);
      fake.revokeToken(TOKEN, 460);
      const dead = await rawBatch([get('41')]);
      expect(dead.status).to.equal(400);
      expect(dead.body.error).to.include({ code: 190, error_subcode: 460 });
    });

    it('serves the real client: each lead read or failed for itself', async () => {
      for (const id of ['51', '52', '53']) fake.addLead({ id, form_id: FORM });
      fake.failNext('52', [graphFailures.tokenInvalid(460)]);
      const reads = await client.getLeads(['51', '52', '53', '54'], TOKEN);
      expect(reads.map((r) => r.lead?.id ?? r.error?.info.category)).to.deep.equal(['51', 'token_dead', '53', 'not_found']);
      expect(fake.httpCallCount()).to.equal(1);
    });
  });
});
