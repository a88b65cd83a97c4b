// Contract tests for the Graph client against nock: what goes on the wire, and how each kind
// of Graph answer comes back. Graph is mocked at a loopback origin; no real traffic is allowed.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import nock from 'nock';
import { createGraphClient, type GraphClient, type GraphClientOptions } from '../../src/meta/graph-client.js';
import { GraphError } from '../../src/meta/graph-errors.js';
import type { GraphLead } from '../../src/meta/graph-types.js';

const ORIGIN = 'http://127.0.0.1:9';
const VERSION = 'v25.0';
const APP_ID = '1234567890';
const APP_SECRET = 'contract-app-secret';
const TOKEN = 'EAAPageTokenForContractTests0123456789';
const NOW_MS = Date.UTC(2026, 10, 20, 10, 15, 30, 250);
const NOW_S = Math.floor(NOW_MS / 1000);

function makeClient(overrides: Partial<GraphClientOptions> = {}): GraphClient {
  return createGraphClient({
    graphUrl: ORIGIN,
    version: VERSION,
    appSecret: APP_SECRET,
    appId: APP_ID,
    timeoutMs: 2000,
    retries: 2,
    retryMinDelayMs: 1,
    now: () => NOW_MS,
    ...overrides,
  });
}

function graphError(code: number, subcode?: number, message = 'Meta message') {
  return { error: { message, type: 'OAuthException', code, ...(subcode === undefined ? {} : { error_subcode: subcode }), fbtrace_id: 'TraceAbc123' } };
}

const leadJson = {
  id: '1234567890123456',
  created_time: '2026-11-20T10:15:00+0000',
  form_id: '555666777',
  ad_id: '2385000001',
  ad_name: 'Carousel A',
  adset_id: '2385000002',
  adset_name: 'Cyclists',
  campaign_id: '2385000003',
  campaign_name: 'Spring',
  is_organic: false,
  platform: 'ig',
  field_data: [
    { name: 'full_name', values: ['Zoë Ångström'] },
    { name: 'email', values: ['zoe@example.com'] },
  ],
  custom_disclaimer_responses: [{ checkbox_key: 'newsletter', is_checked: '1' }],
};

async function expectGraphError(work: Promise<unknown>): Promise<GraphError> {
  try {
    await work;
  } catch (err) {
    expect(err).to.be.instanceOf(GraphError);
    return err as GraphError;
  }
  throw new Error('expected a GraphError, but the call resolved');
}

/** Replies in order to successive calls of one path, counting the calls. */
function scriptPath(path: string, replies: [number, unknown, Record<string, string>?][]) {
  let calls = 0;
  nock(ORIGIN)
    .get(path)
    .query(true)
    .times(replies.length)
    .reply(() => {
      const [status, body, headers] = replies[Math.min(calls, replies.length - 1)];
      calls++;
      return [status, body as nock.Body, headers ?? {}];
    });
  return { count: () => calls };
}

/** Answers any call to Graph: while it stays pending, Meta was not called. */
function trapAnyCall(): nock.Scope {
  return nock(ORIGIN).get(/.*/).query(true).reply(500, {}).post(/.*/).query(true).reply(500, {});
}

describe('Graph client (contract)', () => {
  before(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  after(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  describe('what every call sends', () => {
    it('sends the pinned version, the token, the explicit lead fields and a time-stamped appsecret_proof', async () => {
      let seen: Record<string, string> = {};
      nock(ORIGIN)
        .get(`/${VERSION}/1234567890123456`)
        .query((q) => {
          seen = q as Record<string, string>;
          return true;
        })
        .reply(200, leadJson);
      await makeClient().getLead('1234567890123456', TOKEN);

      expect(seen.access_token).to.equal(TOKEN);
      expect(seen.appsecret_time).to.equal(String(NOW_S));
      const expected = createHmac('sha256', APP_SECRET).update(`${TOKEN}|${NOW_S}`).digest('hex');
      expect(seen.appsecret_proof).to.equal(expected);
      expect(seen.appsecret_proof).to.match(/^[0-9a-f]{64}$/);
      expect(seen.fields.split(',')).to.have.members([
        'id',
        'created_time',
        'ad_id',
        'ad_name',
        'adset_id',
        'adset_name',
        'campaign_id',
        'campaign_name',
        'form_id',
        'field_data',
        'custom_disclaimer_responses',
        'is_organic',
        'platform',
        'partner_name',
      ]);
    });

    it('computes a fresh proof per call from the injected clock', async () => {
      const times: string[] = [];
      const proofs: string[] = [];
      nock(ORIGIN)
        .get(`/${VERSION}/42`)
        .query((q) => {
          times.push(String(q.appsecret_time));
          proofs.push(String(q.appsecret_proof));
          return true;
        })
        .times(2)
        .reply(200, { ...leadJson, id: '42' });
      let clock = NOW_MS;
      const client = makeClient({ now: () => clock });
      await client.getLead('42', TOKEN);
      clock += 61_000;
      await client.getLead('42', TOKEN);
      expect(times).to.deep.equal([String(NOW_S), String(NOW_S + 61)]);
      expect(proofs[0]).to.not.equal(proofs[1]);
      expect(proofs[1]).to.equal(
        createHmac('sha256', APP_SECRET)
          .update(`${TOKEN}|${NOW_S + 61}`)
          .digest('hex'),
      );
    });

    it('refuses an id that is not a Graph id without calling Meta', async () => {
      const trap = trapAnyCall();
      const err = await expectGraphError(makeClient().getLead('../me', TOKEN));
      expect(err.info).to.include({ category: 'invalid_request', reason: 'invalid_leadgen_id' });
      expect(trap.pendingMocks(), 'calls that reached Meta').to.have.length(2);
    });
  });

  describe('parsing leads', () => {
    it('turns the Graph lead into a typed GraphLead', async () => {
      nock(ORIGIN).get(`/${VERSION}/1234567890123456`).query(true).reply(200, leadJson);
      const lead = await makeClient().getLead('1234567890123456', TOKEN);
      const expected: GraphLead = {
        id: '1234567890123456',
        createdTime: new Date('2026-11-20T10:15:00.000Z'),
        formId: '555666777',
        adId: '2385000001',
        adName: 'Carousel A',
        adsetId: '2385000002',
        adsetName: 'Cyclists',
        campaignId: '2385000003',
        campaignName: 'Spring',
        isOrganic: false,
        platform: 'ig',
        partnerName: null,
        fieldData: [
          { name: 'full_name', values: ['Zoë Ångström'] },
          { name: 'email', values: ['zoe@example.com'] },
        ],
        consents: [{ key: 'newsletter', checked: true }],
      };
      expect(lead).to.deep.equal(expected);
    });

    it('keeps numeric ids as exact strings, even above 2^53', async () => {
      // Raw text: JSON.parse would round 1234567890123456789 to ...800.
      const raw =
        '{"id":1234567890123456789,"created_time":"2026-11-20T10:15:00+0000","form_id":555666777,"ad_id":98765432109876543,' +
        '"field_data":[{"name":"zip","values":[12345]}]}';
      nock(ORIGIN).get(`/${VERSION}/1234567890123456789`).query(true).reply(200, raw, { 'content-type': 'application/json' });
      const lead = await makeClient().getLead('1234567890123456789', TOKEN);
      expect(lead.id).to.equal('1234567890123456789');
      expect(lead.formId).to.equal('555666777');
      expect(lead.adId).to.equal('98765432109876543');
      expect(lead.fieldData).to.deep.equal([{ name: 'zip', values: ['12345'] }]);
    });

    it('reads every is_checked form and tolerates missing arrays and ad fields', async () => {
      const organic = {
        id: '77',
        created_time: '2026-11-20T10:15:00+0000',
        is_organic: true,
        field_data: [{ name: 'email' }, { name: 'colour', values: [] }, { name: 'multi', values: ['a', 'b'] }],
        custom_disclaimer_responses: [
          { checkbox_key: 'a', is_checked: '1' },
          { checkbox_key: 'b', is_checked: '' },
          { checkbox_key: 'c', is_checked: true },
          { checkbox_key: 'd', is_checked: false },
          { checkbox_key: 'e' },
        ],
      };
      nock(ORIGIN).get(`/${VERSION}/77`).query(true).reply(200, organic);
      const lead = await makeClient().getLead('77', TOKEN);
      expect(lead.consents).to.deep.equal([
        { key: 'a', checked: true },
        { key: 'b', checked: false },
        { key: 'c', checked: true },
        { key: 'd', checked: false },
        { key: 'e', checked: false },
      ]);
      expect(lead.fieldData).to.deep.equal([
        { name: 'email', values: [] },
        { name: 'colour', values: [] },
        { name: 'multi', values: ['a', 'b'] },
      ]);
      expect(lead).to.include({ isOrganic: true, formId: null, adId: null, adName: null, adsetId: null, campaignId: null, campaignName: null, platform: null });
    });

    it('reports a lead without created_time as an invalid response, naming the field, not its values', async () => {
      nock(ORIGIN)
        .get(`/${VERSION}/78`)
        .query(true)
        .reply(200, { id: '78', field_data: [{ name: 'email', values: ['secret@example.com'] }] });
      const err = await expectGraphError(makeClient().getLead('78', TOKEN));
      expect(err.info).to.include({ category: 'unknown', reason: 'graph_response_invalid' });
      expect(err.message).to.include('created_time');
      expect(err.message).to.not.include('secret@example.com');
    });
  });

  describe('retries', () => {
    it('retries a bare HTTP 503 and then succeeds', async () => {
      const path = scriptPath(`/${VERSION}/501`, [
        [503, ''],
        [200, { ...leadJson, id: '501' }],
      ]);
      const lead = await makeClient().getLead('501', TOKEN);
      expect(lead.id).to.equal('501');
      expect(path.count()).to.equal(2);
    });

    it('retries Graph code 2 and then succeeds', async () => {
      const path = scriptPath(`/${VERSION}/502`, [
        [500, graphError(2, undefined, 'An unexpected error has occurred. Please retry your request later.')],
        [200, { ...leadJson, id: '502' }],
      ]);
      const lead = await makeClient().getLead('502', TOKEN);
      expect(lead.id).to.equal('502');
      expect(path.count()).to.equal(2);
    });

    it('retries a dropped connection', async () => {
      // nock's replyWithError never reaches the request on Node 20 (it hangs until the
      // timeout), so a real loopback server drops the first connection instead.
      let requests = 0;
      const server = http.createServer((req, res) => {
        requests++;
        if (requests === 1) {
          req.socket.destroy();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...leadJson, id: '503' }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      const { port } = server.address() as AddressInfo;
      nock.enableNetConnect((host) => host === `127.0.0.1:${port}`);
      try {
        const once = await expectGraphError(makeClient({ graphUrl: `http://127.0.0.1:${port}`, retries: 0 }).getLead('503', TOKEN));
        expect(once.info).to.include({ category: 'transient', reason: 'network_econnreset' });
        requests = 0;
        const lead = await makeClient({ graphUrl: `http://127.0.0.1:${port}` }).getLead('503', TOKEN);
        expect(lead.id).to.equal('503');
        expect(requests).to.equal(2);
      } finally {
        nock.disableNetConnect();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    it('stops after `retries` retries and surfaces the last transient error', async () => {
      const always = scriptPath(`/${VERSION}/504`, [
        [503, ''],
        [503, ''],
        [503, ''],
        [503, ''],
      ]);
      const err = await expectGraphError(makeClient({ retries: 2 }).getLead('504', TOKEN));
      expect(err.info).to.include({ category: 'transient', reason: 'status_code_503', httpStatus: 503 });
      // One try plus two retries; the fourth scripted reply is never asked for.
      expect(always.count()).to.equal(3);
    });

    it('does not retry a dead token (190/460): one call, token_dead, message without the token', async () => {
      const path = scriptPath(`/${VERSION}/505`, [
        [400, graphError(190, 460, `Error validating access token: The session has been invalidated (token ${TOKEN})`)],
        [200, leadJson],
      ]);
      const err = await expectGraphError(makeClient().getLead('505', TOKEN));
      expect(path.count()).to.equal(1);
      expect(err.info).to.include({ category: 'token_dead', reason: 'graph_code_190_460', code: 190, subcode: 460, httpStatus: 400, fbtraceId: 'TraceAbc123' });
      expect(err.message).to.not.include(TOKEN);
      expect(err.info.message).to.not.include(TOKEN);
      expect(JSON.stringify(err.info)).to.not.include(createHmac('sha256', APP_SECRET).update(`${TOKEN}|${NOW_S}`).digest('hex'));
    });

    it('does not retry an 80005 throttle and gives the wait from X-Business-Use-Case-Usage', async () => {
      const buc = { '100200300': [{ type: 'leadgen', call_count: 100, total_cputime: 10, total_time: 10, estimated_time_to_regain_access: 12 }] };
      const path = scriptPath(`/${VERSION}/506`, [
        [400, graphError(80005, undefined, 'There have been too many leadgen api calls to this Page'), { 'X-Business-Use-Case-Usage': JSON.stringify(buc) }],
        [200, leadJson],
      ]);
      const err = await expectGraphError(makeClient().getLead('506', TOKEN));
      expect(path.count()).to.equal(1);
      expect(err.info).to.include({ category: 'throttled', reason: 'graph_code_80005', retryAfterMs: 12 * 60_000 });
    });

    it('does not retry 100/33 and calls it not_found', async () => {
      const message =
        "Unsupported get request. Object with ID '507' does not exist, cannot be loaded due to missing permissions, or does not support this operation.";
      const path = scriptPath(`/${VERSION}/507`, [
        [400, { error: { message, type: 'GraphMethodException', code: 100, error_subcode: 33, fbtrace_id: 'TraceXyz' } }],
        [200, leadJson],
      ]);
      const err = await expectGraphError(makeClient().getLead('507', TOKEN));
      expect(path.count()).to.equal(1);
      expect(err.info).to.include({ category: 'not_found', reason: 'graph_code_100_33', fbtraceId: 'TraceXyz' });
    });

    it('does not retry a permission error (code 200)', async () => {
      const path = scriptPath(`/${VERSION}/508`, [
        [400, graphError(200, undefined, '(#200) Requires leads_retrieval permission')],
        [200, leadJson],
      ]);
      const err = await expectGraphError(makeClient().getLead('508', TOKEN));
      expect(path.count()).to.equal(1);
      expect(err.info.category).to.equal('permission_missing');
    });

    it('classifies a timeout as transient (timeout, like every connector)', async () => {
      nock(ORIGIN).get(`/${VERSION}/509`).query(true).delay(400).reply(200, leadJson);
      const err = await expectGraphError(makeClient({ timeoutMs: 40, retries: 0 }).getLead('509', TOKEN));
      expect(err.info).to.include({ category: 'transient', reason: 'timeout' });
    });

    it('calls a 200 that is not JSON an unknown failure, not a lead', async () => {
      nock(ORIGIN).get(`/${VERSION}/510`).query(true).reply(200, '<html>captive portal</html>');
      const err = await expectGraphError(makeClient().getLead('510', TOKEN));
      expect(err.info).to.include({ category: 'unknown', reason: 'graph_response_not_json' });
    });
  });

  describe('listFormLeads', () => {
    it('follows paging.cursors.after across 3 pages and stops when paging.next is absent', async () => {
      const seen: Record<string, string>[] = [];
      const page = (ids: string[], after: string | undefined, hasNext: boolean) => ({
        data: ids.map((id) => ({ ...leadJson, id })),
        paging: {
          cursors: { before: 'B', ...(after ? { after } : {}) },
          ...(hasNext ? { next: `https://graph.facebook.com/${VERSION}/555666777/leads?after=${after}` } : {}),
        },
      });
      const pages: Record<string, unknown> = {
        first: page(['1', '2'], 'CURSOR_A', true),
        CURSOR_A: page(['3', '4'], 'CURSOR_B', true),
        CURSOR_B: page(['5'], 'CURSOR_C', false),
      };
      nock(ORIGIN)
        .get(`/${VERSION}/555666777/leads`)
        .query((q) => {
          seen.push(q as Record<string, string>);
          return true;
        })
        .times(3)
        .reply(() => [200, pages[seen[seen.length - 1].after ?? 'first'] as nock.Body]);

      const ids: string[] = [];
      for await (const lead of makeClient().listFormLeads('555666777', TOKEN, { sinceUnixSeconds: 1_763_000_000.9, pageSize: 2 })) ids.push(lead.id);

      expect(ids).to.deep.equal(['1', '2', '3', '4', '5']);
      expect(seen.map((q) => q.after)).to.deep.equal([undefined, 'CURSOR_A', 'CURSOR_B']);
      for (const q of seen) {
        expect(q.limit).to.equal('2');
        expect(JSON.parse(q.filtering)).to.deep.equal([{ field: 'time_created', operator: 'GREATER_THAN', value: 1_763_000_000 }]);
        expect(q.fields).to.include('field_data');
        expect(q.appsecret_proof).to.match(/^[0-9a-f]{64}$/);
      }
      expect(nock.pendingMocks()).to.deep.equal([]);
    });

    it('asks for a window of Unix seconds (after and before) with only the fields named', async () => {
      let seen: Record<string, string> = {};
      nock(ORIGIN)
        .get(`/${VERSION}/555666777/leads`)
        .query((q) => {
          seen = q as Record<string, string>;
          return true;
        })
        .reply(200, { data: [{ id: '1', created_time: '2025-11-13T02:13:21+0000', form_id: '555666777' }] });
      const leads = [];
      for await (const lead of makeClient().listFormLeads('555666777', TOKEN, {
        sinceUnixSeconds: 1_763_000_000,
        untilUnixSeconds: 1_763_003_600,
        fields: ['id', 'created_time', 'form_id'],
      }))
        leads.push(lead);
      expect(JSON.parse(seen.filtering)).to.deep.equal([
        { field: 'time_created', operator: 'GREATER_THAN', value: 1_763_000_000 },
        { field: 'time_created', operator: 'LESS_THAN', value: 1_763_003_600 },
      ]);
      expect(seen.fields).to.equal('id,created_time,form_id');
      expect(leads.map((l) => [l.id, l.formId, l.createdTime.toISOString(), l.fieldData])).to.deep.equal([['1', '555666777', '2025-11-13T02:13:21.000Z', []]]);
    });

    it('treats an empty first page as the end', async () => {
      nock(ORIGIN).get(`/${VERSION}/9/leads`).query(true).reply(200, { data: [] });
      const ids: string[] = [];
      for await (const lead of makeClient().listFormLeads('9', TOKEN)) ids.push(lead.id);
      expect(ids).to.deep.equal([]);
    });

    it('refuses to loop when Graph repeats a cursor', async () => {
      const body = { data: [{ ...leadJson, id: '1' }], paging: { cursors: { after: 'SAME' }, next: 'https://graph.facebook.com/x' } };
      nock(ORIGIN).get(`/${VERSION}/10/leads`).query(true).times(2).reply(200, body);
      const iterate = async () => {
        for await (const _lead of makeClient().listFormLeads('10', TOKEN)) void _lead;
      };
      const err = await expectGraphError(iterate());
      expect(err.info.reason).to.equal('graph_paging_cursor_repeated');
    });
  });

  describe('forms, tokens and test leads', () => {
    it('getForm asks for the questions and parses options, keeping ids as strings', async () => {
      let fields = '';
      nock(ORIGIN)
        .get(`/${VERSION}/555666777`)
        .query((q) => {
          fields = String(q.fields);
          return true;
        })
        .reply(200, {
          id: 555666777,
          name: 'Spring test ride',
          status: 'ACTIVE',
          locale: 'en_US',
          questions: [
            { id: '901', key: 'email', label: 'Email', type: 'EMAIL' },
            {
              key: 'bike',
              label: 'Which bike?',
              type: 'CUSTOM',
              options: [
                { key: 'road', value: 'Road bike' },
                { key: 'mtb', value: 'Mountain bike' },
              ],
            },
          ],
        });
      const form = await makeClient().getForm('555666777', TOKEN);
      expect(fields.split(',')).to.include.members(['id', 'name', 'status', 'locale', 'questions']);
      expect(form).to.deep.equal({
        id: '555666777',
        name: 'Spring test ride',
        status: 'ACTIVE',
        locale: 'en_US',
        questions: [
          { id: '901', key: 'email', label: 'Email', type: 'EMAIL', options: [] },
          {
            key: 'bike',
            label: 'Which bike?',
            type: 'CUSTOM',
            options: [
              { key: 'road', value: 'Road bike' },
              { key: 'mtb', value: 'Mountain bike' },
            ],
          },
        ],
      });
    });

    it('debugToken uses the app token with its own proof and reads expiry and scopes', async () => {
      let seen: Record<string, string> = {};
      nock(ORIGIN)
        .get(`/${VERSION}/debug_token`)
        .query((q) => {
          seen = q as Record<string, string>;
          return true;
        })
        .reply(200, { data: { app_id: APP_ID, type: 'PAGE', is_valid: true, expires_at: 0, scopes: ['leads_retrieval', 'pages_show_list'] } });
      const result = await makeClient().debugToken(TOKEN);
      const appToken = `${APP_ID}|${APP_SECRET}`;
      expect(seen.input_token).to.equal(TOKEN);
      expect(seen.access_token).to.equal(appToken);
      expect(seen.appsecret_proof).to.equal(createHmac('sha256', APP_SECRET).update(`${appToken}|${NOW_S}`).digest('hex'));
      expect(result).to.include({ isValid: true, expiresAt: null, appId: APP_ID, type: 'PAGE' });
      expect(result.scopes).to.deep.equal(['leads_retrieval', 'pages_show_list']);
    });

    it('debugToken reports an invalidated token as not valid, with Meta subcode', async () => {
      nock(ORIGIN)
        .get(`/${VERSION}/debug_token`)
        .query(true)
        .reply(200, {
          data: { app_id: APP_ID, is_valid: false, expires_at: 1_790_000_000, error: { code: 190, subcode: 460, message: 'changed password' }, scopes: [] },
        });
      const result = await makeClient().debugToken(TOKEN);
      expect(result).to.include({ isValid: false, expiresAt: 1_790_000_000, errorCode: 190, errorSubcode: 460 });
    });

    it("debugToken reads a Page token's page id and the reason Meta gives for an invalid token", async () => {
      nock(ORIGIN)
        .get(`/${VERSION}/debug_token`)
        .query(true)
        .reply(200, { data: { app_id: APP_ID, type: 'PAGE', is_valid: true, expires_at: 0, profile_id: 100200300, scopes: ['leads_retrieval'] } });
      expect(await makeClient().debugToken(TOKEN)).to.include({ profileId: '100200300', errorMessage: null });
      nock(ORIGIN)
        .get(`/${VERSION}/debug_token`)
        .query(true)
        .reply(200, { data: { error: { code: 190, message: 'Invalid OAuth access token - Cannot parse access token' }, is_valid: false, scopes: [] } });
      expect(await makeClient().debugToken(TOKEN)).to.include({
        isValid: false,
        profileId: null,
        errorCode: 190,
        errorMessage: 'Invalid OAuth access token - Cannot parse access token',
      });
    });

    it('debugToken without an app id fails clearly without calling Meta', async () => {
      const trap = trapAnyCall();
      const err = await expectGraphError(makeClient({ appId: undefined }).debugToken(TOKEN));
      expect(err.info.reason).to.equal('meta_app_id_missing');
      expect(trap.pendingMocks(), 'calls that reached Meta').to.have.length(2);
    });

    it('getPage asks for id and name with the Page token and its proof', async () => {
      let seen: Record<string, string> = {};
      nock(ORIGIN)
        .get(`/${VERSION}/100200300`)
        .query((q) => {
          seen = q as Record<string, string>;
          return true;
        })
        .reply(200, { id: '100200300', name: 'Acme Bikes' });
      expect(await makeClient().getPage('100200300', TOKEN)).to.deep.equal({ id: '100200300', name: 'Acme Bikes' });
      expect(seen.fields.split(',')).to.have.members(['id', 'name']);
      expect(seen.access_token).to.equal(TOKEN);
      expect(seen.appsecret_proof).to.equal(createHmac('sha256', APP_SECRET).update(`${TOKEN}|${NOW_S}`).digest('hex'));
      expect(seen.appsecret_time).to.equal(String(NOW_S));
    });

    it('getPage with a dead token is token_dead after one call', async () => {
      const path = scriptPath(`/${VERSION}/100200300`, [[400, graphError(190, 463, 'Error validating access token: Session has expired.')]]);
      const err = await expectGraphError(makeClient().getPage('100200300', TOKEN));
      expect(err.info).to.include({ category: 'token_dead', code: 190, subcode: 463 });
      expect(path.count()).to.equal(1);
    });

    it('listSubscribedApps reads the installed apps and their fields, across pages', async () => {
      scriptPath(`/${VERSION}/100200300/subscribed_apps`, [
        [
          200,
          {
            data: [{ category: 'Business', link: 'https://example.com/app', name: 'Other app', id: 555, subscribed_fields: ['feed'] }],
            paging: { cursors: { before: 'b1', after: 'a1' }, next: 'https://graph/next' },
          },
        ],
        [
          200,
          {
            data: [
              { name: 'LeadRelay', id: APP_ID, subscribed_fields: ['leadgen', 'feed'] },
              { name: 'Old app', id: '777' },
            ],
            paging: { cursors: { before: 'b2', after: 'a2' } },
          },
        ],
      ]);
      const apps = await makeClient().listSubscribedApps('100200300', TOKEN);
      expect(apps).to.deep.equal([
        { id: '555', name: 'Other app', subscribedFields: ['feed'] },
        { id: APP_ID, name: 'LeadRelay', subscribedFields: ['leadgen', 'feed'] },
        { id: '777', name: 'Old app', subscribedFields: null },
      ]);
    });

    it('listSubscribedApps gives an empty list when no app is installed', async () => {
      nock(ORIGIN).get(`/${VERSION}/100200300/subscribed_apps`).query(true).reply(200, { data: [] });
      expect(await makeClient().listSubscribedApps('100200300', TOKEN)).to.deep.equal([]);
    });

    it('listSubscribedApps without the Page permission is permission_missing', async () => {
      nock(ORIGIN)
        .get(`/${VERSION}/100200300/subscribed_apps`)
        .query(true)
        .reply(400, graphError(210, undefined, '(#210) A page access token is required to request this resource.'));
      const err = await expectGraphError(makeClient().listSubscribedApps('100200300', TOKEN));
      expect(err.info.category).to.equal('permission_missing');
    });

    it('refuses a page id that is not a Graph id without calling Meta', async () => {
      const trap = trapAnyCall();
      for (const work of [makeClient().getPage('../me', TOKEN), makeClient().listSubscribedApps('1?x=y', TOKEN)]) {
        const err = await expectGraphError(work);
        expect(err.info.reason).to.equal('invalid_page_id');
      }
      expect(trap.pendingMocks(), 'calls that reached Meta').to.have.length(2);
    });

    it('createTestLead posts field_data and consents in the form body and is not retried', async () => {
      let body: Record<string, string> = {};
      nock(ORIGIN)
        .post(`/${VERSION}/555666777/test_leads`, (b) => {
          body = b as Record<string, string>;
          return true;
        })
        .reply(200, { id: 1234567890123 });
      const created = await makeClient().createTestLead('555666777', TOKEN, {
        fieldData: [{ name: 'email', values: ['test@example.com'] }],
        consents: [{ key: 'newsletter', checked: true }],
      });
      expect(created).to.deep.equal({ id: '1234567890123' });
      expect(JSON.parse(body.field_data)).to.deep.equal([{ name: 'email', values: ['test@example.com'] }]);
      expect(JSON.parse(body.custom_disclaimer_responses)).to.deep.equal([{ checkbox_key: 'newsletter', is_checked: true }]);
      expect(body.access_token).to.equal(TOKEN);
      expect(body.appsecret_proof).to.match(/^[0-9a-f]{64}$/);

      let posts = 0;
      nock(ORIGIN)
        .post(`/${VERSION}/555666777/test_leads`)
        .times(2)
        .reply(() => {
          posts++;
          return [503, ''];
        });
      const err = await expectGraphError(makeClient().createTestLead('555666777', TOKEN));
      expect(err.info.category).to.equal('transient');
      expect(posts).to.equal(1);
    });
  });
});
