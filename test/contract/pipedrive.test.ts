// Contract tests of the Pipedrive connector: the shared suite with nock, Pipedrive's own cases
// (ledger, search, OAuth refresh, custom fields, notes), and a run against the loopback fake.
// All traffic targets 127.0.0.1: nock intercepts it, or the fake answers it.
import { expect } from 'chai';
import nock from 'nock';
import { pipedriveConnector, clearFieldCache, buildAuthorizeUrl, exchangeCode } from '../../connectors/pipedrive/index.js';
import { resolveApiBaseUrl } from '../../connectors/pipedrive/client.js';
import { isTrustedApiDomain } from '../../connectors/pipedrive/oauth.js';
import type { PipedriveConfig, PipedriveCredentials, PipedriveSettings } from '../../connectors/pipedrive/manifest.js';
import { ConnectorError, type ConnectorContext, type DeliveryRecord } from '../../connectors/types.js';
import { startFakePipedrive, type FakePipedrive } from '../fakes/pipedrive-crm.js';
import { makeSampleLead, makeSampleRecord, makeTestContext, makeTestDestinationState, testConnectorSettings, testCrmSettings } from '../helpers/sample-lead.js';
import { runConnectorContract, type ContractScenario } from './connector-contract.js';

const API = 'http://127.0.0.1:9';
const OAUTH = 'http://127.0.0.1:7';
const NEW_API_DOMAIN = 'http://127.0.0.1:10';
const TOKEN = 'pd-api-token-SECRET-4f9a0c1d2e';
const NOW = Date.parse('2026-11-20T10:20:00.000Z');
const LEADGEN_ID = '1234567890123456789';
const EMAIL = 'zoe.angstrom@example.com';
const PHONE = '+447700900123';

const settings = {
  ...testConnectorSettings,
  connector: { ...testCrmSettings.pipedrive, apiUrl: API, oauthUrl: OAUTH },
};

type TestContext = ReturnType<typeof makeTestContext<PipedriveConfig, PipedriveCredentials, PipedriveSettings>>;

function makeContext(opts: { config?: PipedriveConfig; credentials?: PipedriveCredentials } = {}): TestContext {
  return makeTestContext<PipedriveConfig, PipedriveCredentials, PipedriveSettings>({
    config: opts.config ?? {},
    credentials: opts.credentials ?? { type: 'api_token', apiToken: TOKEN, companyDomain: 'acme' },
    settings,
    now: () => NOW,
  });
}

/** A scope that insists on our API token. */
function api(base = API): nock.Scope {
  return nock(base, { reqheaders: { 'x-api-token': TOKEN } });
}

const rateHeaders = { 'x-ratelimit-limit': '80', 'x-ratelimit-remaining': '79', 'x-ratelimit-reset': '2' };
const emptySearch = { success: true, data: { items: [] }, additional_data: { next_cursor: null } };
function personHit(id: number) {
  return {
    success: true,
    data: { items: [{ result_score: 1, item: { id, type: 'person', name: 'Zoë', emails: [EMAIL], phones: [] } }] },
    additional_data: { next_cursor: null },
  };
}
function searchQuery(field: 'email' | 'phone', term: string) {
  return { term, fields: field, exact_match: 'true', limit: '1' };
}
/** GET /v1/leads (not archived leads) or GET /v1/leads/archived: additional_data holds the paging keys. */
function leadsList(items: { id: string; origin_id: string | null; is_archived?: boolean }[]) {
  return { success: true, data: items, additional_data: { start: 0, limit: 500, more_items_in_collection: false } };
}

function expectSecretsAbsent(err: ConnectorError, secrets: string[]): void {
  for (const s of secrets) {
    expect(err.message).to.not.contain(s);
    expect(err.crmMessage ?? '').to.not.contain(s);
    expect(err.responseBody ?? '').to.not.contain(s);
    expect(err.stack ?? '').to.not.contain(s);
  }
}

async function deliverExpectingError(
  ctx: ConnectorContext<PipedriveConfig, PipedriveCredentials, PipedriveSettings>,
  record: DeliveryRecord,
): Promise<ConnectorError> {
  try {
    await pipedriveConnector.deliver(ctx, record);
  } catch (err) {
    expect(err).to.be.instanceOf(ConnectorError);
    return err as ConnectorError;
  }
  throw new Error('expected deliver() to fail');
}

/** nock 15 needs an Error instance here: a plain object leaves the request hanging until the timeout. */
function connectionReset(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

function assertAllMocksUsed(): void {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending, 'every arranged Pipedrive call was made').to.deep.equal([]);
}

// ---------------------------------------------------------------------------------------------
// The shared contract
// ---------------------------------------------------------------------------------------------

describe('pipedrive (nock)', () => {
  before(() => nock.disableNetConnect());
  after(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  runConnectorContract('pipedrive', pipedriveConnector, {
    makeContext: () => makeContext() as unknown as ConnectorContext,
    sampleRecord: () => makeSampleRecord(),
    reset: () => assertAllMocksUsed(),
    // Pipedrive's 429 (rate-limiting docs): the search API's 10-per-2-s window is spent;
    // x-ratelimit-reset and retry-after give the seconds until it frees up.
    rateLimit: { answer: '429 on search with retry-after and x-ratelimit-*', reason: 'pipedrive_rate_limit', retryAfterMs: 2_000 },
    arrange(scenario: ContractScenario) {
      switch (scenario.kind) {
        case 'created':
          api().get('/api/v2/persons/search').query(searchQuery('email', EMAIL)).reply(200, emptySearch, rateHeaders);
          api().get('/api/v2/persons/search').query(searchQuery('phone', PHONE)).reply(200, emptySearch, rateHeaders);
          api()
            .post('/api/v2/persons')
            .reply(200, { success: true, data: { id: 101, name: 'Zoë Ångström-Núñez' } }, rateHeaders);
          api()
            .post('/v1/leads')
            .reply(201, { success: true, data: { id: scenario.externalId, title: 'x' } }, rateHeaders);
          api()
            .post('/v1/notes')
            .reply(200, { success: true, data: { id: 501 } }, rateHeaders);
          return;
        case 'updated':
          // No ledger: the person search finds them, and their leads include one from this leadgen id.
          api().get('/api/v2/persons/search').query(searchQuery('email', EMAIL)).reply(200, personHit(77), rateHeaders);
          api()
            .get('/v1/leads')
            .query({ person_id: '77', start: '0', limit: '500' })
            .reply(
              200,
              leadsList([
                { id: 'other-lead', origin_id: '999' },
                { id: scenario.externalId, origin_id: LEADGEN_ID },
              ]),
              rateHeaders,
            );
          api()
            .patch(`/v1/leads/${scenario.externalId}`)
            .reply(200, { success: true, data: { id: scenario.externalId } }, rateHeaders);
          return;
        case 'rate_limited':
          api().get('/api/v2/persons/search').query(true).reply(
            429,
            { success: false, error: 'Request over limit', errorCode: 429, data: null },
            {
              'retry-after': '2',
              'x-ratelimit-limit': '10',
              'x-ratelimit-remaining': '0',
              'x-ratelimit-reset': '2',
            },
          );
          return;
        case 'unauthorized':
          api().get('/api/v2/persons/search').query(true).reply(401, { success: false, error: 'unauthorized access', errorCode: 401 });
          return;
        case 'invalid':
          api().get('/api/v2/persons/search').query(true).times(2).reply(200, emptySearch);
          api()
            .post('/api/v2/persons')
            .reply(200, { success: true, data: { id: 101 } });
          api().post('/v1/leads').reply(400, { success: false, error: scenario.message, error_info: 'Please check developers.pipedrive.com', data: null });
          return;
        case 'server_error':
          api().get('/api/v2/persons/search').query(true).reply(scenario.status, '<html>Service Unavailable</html>', { 'content-type': 'text/html' });
          return;
        case 'connection_reset':
          api().get('/api/v2/persons/search').query(true).replyWithError(connectionReset());
          return;
      }
    },
  });

  // -------------------------------------------------------------------------------------------
  // Pipedrive's own cases
  // -------------------------------------------------------------------------------------------

  describe('pipedrive delivery', () => {
    afterEach(() => assertAllMocksUsed());

    it('creates person, lead and note with the documented bodies, and links the lead', async () => {
      const ctx = makeContext({ config: { ownerId: 12, labelIds: ['f0e0d0c0-0000-4000-8000-000000000001'], channelId: 3, visibleTo: '3' } });
      const seen: Record<string, any> = {};
      api().get('/api/v2/persons/search').query(searchQuery('email', EMAIL)).reply(200, emptySearch);
      api().get('/api/v2/persons/search').query(searchQuery('phone', PHONE)).reply(200, emptySearch);
      api()
        .post('/api/v2/persons', (b) => {
          seen.person = b;
          return true;
        })
        .reply(200, { success: true, data: { id: 101 } });
      api()
        .post('/v1/leads', (b) => {
          seen.lead = b;
          return true;
        })
        .reply(201, { success: true, data: { id: 'lead-uuid-1' } });
      api()
        .post('/v1/notes', (b) => {
          seen.note = b;
          return true;
        })
        .reply(200, { success: true, data: { id: 501 } });

      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord());

      expect(result).to.include({ externalId: 'lead-uuid-1', action: 'created', url: 'https://acme.pipedrive.com/leads/inbox/lead-uuid-1', httpStatus: 201 });
      expect(seen.person).to.deep.equal({
        name: 'Zoë Ångström-Núñez',
        emails: [{ value: EMAIL, primary: true, label: 'work' }],
        phones: [{ value: PHONE, primary: true, label: 'mobile' }],
        owner_id: 12,
        visible_to: 3,
      });
      expect(seen.lead).to.deep.equal({
        title: 'Zoë Ångström-Núñez – Spring test ride',
        owner_id: 12,
        label_ids: ['f0e0d0c0-0000-4000-8000-000000000001'],
        person_id: 101,
        visible_to: '3',
        origin_id: LEADGEN_ID,
        channel: 3,
        channel_id: '2385000003',
      });
      expect(seen.note).to.deep.equal({ content: 'favorite_color?: blue, green', lead_id: 'lead-uuid-1', pinned_to_lead_flag: 1 });
      expect(ctx.stateValue).to.deep.equal({ personId: 101, leadId: 'lead-uuid-1', noteId: 501, completed: true });
    });

    it('reuses a person found by email (no POST /persons)', async () => {
      const ctx = makeContext();
      let leadBody: any;
      api().get('/api/v2/persons/search').query(searchQuery('email', EMAIL)).reply(200, personHit(55));
      api()
        .get('/v1/leads')
        .query({ person_id: '55', start: '0', limit: '500' })
        .reply(200, leadsList([{ id: 'older', origin_id: '42' }]));
      api().get('/v1/leads/archived').query({ person_id: '55', start: '0', limit: '500' }).reply(200, leadsList([]));
      api()
        .post('/v1/leads', (b) => {
          leadBody = b;
          return true;
        })
        .reply(201, { success: true, data: { id: 'lead-2' } });
      api()
        .post('/v1/notes')
        .reply(200, { success: true, data: { id: 9 } });

      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord());
      expect(result.action).to.equal('created');
      expect(leadBody.person_id).to.equal(55);
    });

    it('searches by phone when the lead has no email', async () => {
      const ctx = makeContext();
      const lead = makeSampleLead({
        answers: [
          { key: 'full_name', values: ['Ann Lee'] },
          { key: 'phone_number', values: ['+44 7700 900999'] },
        ],
      });
      const record = makeSampleRecord({ lead, fields: { full: 'x', phone: '+447700900999' }, unmappedNote: undefined });
      api().get('/api/v2/persons/search').query(searchQuery('phone', '+447700900999')).reply(200, personHit(66));
      api().get('/v1/leads').query(true).reply(200, leadsList([]));
      api().get('/v1/leads/archived').query(true).reply(200, leadsList([]));
      api()
        .post('/v1/leads', (b) => b.person_id === 66 && b.title === 'Ann Lee – Spring test ride')
        .reply(201, { success: true, data: { id: 'lead-3' } });
      // "full" is no Pipedrive field: it is kept in the note rather than dropped.
      api()
        .post('/v1/notes', (b) => b.content === 'full: x')
        .reply(200, { success: true, data: { id: 10 } });

      const result = await pipedriveConnector.deliver(ctx, record);
      expect(result).to.include({ externalId: 'lead-3', action: 'created' });
    });

    it('finds or creates the person under the destination lock, keyed by the normalised email', async () => {
      const ctx = makeContext();
      const lead = makeSampleLead({ answers: [{ key: 'email', values: ['  Zoe.Angstrom@Example.COM '] }] });
      const record = makeSampleRecord({ lead, fields: { name: 'Zoë' }, unmappedNote: undefined });
      let lockHeldDuringCreate: boolean | undefined;
      const withLock = ctx.withLock.bind(ctx);
      let isLockHeld = false;
      ctx.withLock = async (key, fn) =>
        withLock(key, async () => {
          isLockHeld = true;
          try {
            return await fn();
          } finally {
            isLockHeld = false;
          }
        });
      api().get('/api/v2/persons/search').query(searchQuery('email', 'Zoe.Angstrom@Example.COM')).reply(200, emptySearch);
      api()
        .post('/api/v2/persons', () => {
          lockHeldDuringCreate = isLockHeld;
          return true;
        })
        .reply(200, { success: true, data: { id: 101 } });
      api()
        .post('/v1/leads')
        .reply(201, { success: true, data: { id: 'lead-locked' } });

      await pipedriveConnector.deliver(ctx, record);
      expect(ctx.destination.lockKeys).to.deep.equal(['email:zoe.angstrom@example.com']);
      expect(lockHeldDuringCreate).to.equal(true);
      expect(ctx.destination.recentRecords.get('email:zoe.angstrom@example.com')).to.equal('101');
    });

    it('keys the lock by the phone without an email, and by the leadgen id without either', async () => {
      const byPhone = makeContext();
      const phoneLead = makeSampleLead({ answers: [{ key: 'phone_number', values: ['+44 (7700) 900-999'] }] });
      api().get('/api/v2/persons/search').query(searchQuery('phone', '+44 (7700) 900-999')).reply(200, personHit(66));
      api().get('/v1/leads').query(true).reply(200, leadsList([]));
      api().get('/v1/leads/archived').query(true).reply(200, leadsList([]));
      api()
        .post('/v1/leads')
        .reply(201, { success: true, data: { id: 'lead-p' } });
      await pipedriveConnector.deliver(byPhone, makeSampleRecord({ lead: phoneLead, fields: { name: 'Ann' }, unmappedNote: undefined }));
      expect(byPhone.destination.lockKeys).to.deep.equal(['phone:+447700900999']);

      const byLead = makeContext();
      api()
        .post('/api/v2/persons')
        .reply(200, { success: true, data: { id: 67 } });
      api()
        .post('/v1/leads')
        .reply(201, { success: true, data: { id: 'lead-n' } });
      await pipedriveConnector.deliver(
        byLead,
        makeSampleRecord({ lead: makeSampleLead({ answers: [] }), fields: { name: 'Nobody' }, unmappedNote: undefined }),
      );
      expect(byLead.destination.lockKeys).to.deep.equal([`lead:${LEADGEN_ID}`]);
    });

    it('uses the person recently resolved for the same email without searching', async () => {
      const ctx = makeContext();
      ctx.destination.recentRecords.set(`email:${EMAIL}`, '88');
      api().get('/v1/leads').query({ person_id: '88', start: '0', limit: '500' }).reply(200, leadsList([]));
      api().get('/v1/leads/archived').query({ person_id: '88', start: '0', limit: '500' }).reply(200, leadsList([]));
      api()
        .post('/v1/leads', (b) => b.person_id === 88)
        .reply(201, { success: true, data: { id: 'lead-recent' } });
      api()
        .post('/v1/notes')
        .reply(200, { success: true, data: { id: 13 } });

      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord());
      expect(result).to.include({ externalId: 'lead-recent', action: 'created' });
      expect(ctx.stateValue).to.include({ personId: 88 });
    });

    it('resumes after a partial failure: one person in total, the saved personId reused', async () => {
      const ctx = makeContext();
      const record = makeSampleRecord();
      api().get('/api/v2/persons/search').query(true).times(2).reply(200, emptySearch);
      api()
        .post('/api/v2/persons')
        .once()
        .reply(200, { success: true, data: { id: 101 } });
      api().post('/v1/leads').reply(503, { success: false, error: 'Service unavailable' });

      const err = await deliverExpectingError(ctx, record);
      expect(err.kind).to.equal('retryable');
      expect(err.reason).to.equal('status_code_503');
      expect(ctx.stateValue).to.deep.equal({ personId: 101 });
      assertAllMocksUsed();

      // The retry: no search, no person; it checks the lead was not created after all, then creates it.
      api().get('/v1/leads').query({ person_id: '101', start: '0', limit: '500' }).reply(200, leadsList([]));
      api().get('/v1/leads/archived').query({ person_id: '101', start: '0', limit: '500' }).reply(200, leadsList([]));
      api()
        .post('/v1/leads', (b) => b.person_id === 101)
        .reply(201, { success: true, data: { id: 'lead-after-retry' } });
      api()
        .post('/v1/notes')
        .reply(200, { success: true, data: { id: 11 } });
      const result = await pipedriveConnector.deliver(ctx, record);
      expect(result).to.include({ externalId: 'lead-after-retry', action: 'created' });
      expect(ctx.stateValue).to.deep.equal({ personId: 101, leadId: 'lead-after-retry', noteId: 11, completed: true });
    });

    it('finds a lead its previous attempt created without hearing back, and only adds the note', async () => {
      const ctx = makeContext();
      ctx.stateValue = { personId: 101 };
      api()
        .get('/v1/leads')
        .query(true)
        .reply(200, leadsList([{ id: 'lead-lost-answer', origin_id: LEADGEN_ID }]));
      api()
        .post('/v1/notes', (b) => b.lead_id === 'lead-lost-answer')
        .reply(200, { success: true, data: { id: 12 } });
      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord());
      expect(result).to.include({ externalId: 'lead-lost-answer', action: 'created' });
      expect(ctx.stateValue).to.deep.equal({ personId: 101, leadId: 'lead-lost-answer', noteId: 12, completed: true });
    });

    it('only adds the note when the lead exists but the note step failed', async () => {
      const ctx = makeContext();
      ctx.stateValue = { personId: 101, leadId: 'lead-1' };
      api()
        .post('/v1/notes', (b) => b.lead_id === 'lead-1')
        .reply(200, { success: true, data: { id: 13 } });
      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord());
      expect(result).to.include({ externalId: 'lead-1', action: 'created' });
      expect(ctx.stateValue).to.deep.equal({ personId: 101, leadId: 'lead-1', noteId: 13, completed: true });
    });

    it('updates (PATCH) a lead the ledger says was delivered, without searching or creating', async () => {
      const ctx = makeContext({ config: { ownerId: 12, labelIds: ['label-1'] } });
      ctx.stateValue = { personId: 101, leadId: 'ext-existing-7', noteId: 501, completed: true };
      let patch: any;
      // First whether it is archived since (then it is not editable).
      api()
        .get('/v1/leads/ext-existing-7')
        .reply(200, { success: true, data: { id: 'ext-existing-7', origin_id: LEADGEN_ID, is_archived: false } });
      api()
        .patch('/v1/leads/ext-existing-7', (b) => {
          patch = b;
          return true;
        })
        .reply(200, { success: true, data: { id: 'ext-existing-7' } });
      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord({ fields: { ...makeSampleRecord().fields, title: 'Hot lead' } }));
      expect(result).to.include({ externalId: 'ext-existing-7', action: 'updated' });
      expect(patch).to.deep.equal({ title: 'Hot lead', owner_id: 12, label_ids: ['label-1'] });
    });

    it('creates the lead again when a replay finds it deleted in Pipedrive', async () => {
      const ctx = makeContext();
      ctx.stateValue = { personId: 101, leadId: 'deleted-lead', noteId: 501, completed: true };
      api()
        .get('/v1/leads/deleted-lead')
        .reply(404, { success: false, error: 'requested lead not found', error_info: 'Object was not found.', data: null, additional_data: null });
      api().get('/api/v2/persons/search').query(searchQuery('email', EMAIL)).reply(200, personHit(101));
      api().get('/v1/leads').query(true).reply(200, leadsList([]));
      api().get('/v1/leads/archived').query(true).reply(200, leadsList([]));
      api()
        .post('/v1/leads')
        .reply(201, { success: true, data: { id: 'recreated' } });
      api()
        .post('/v1/notes')
        .reply(200, { success: true, data: { id: 14 } });
      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord());
      expect(result).to.include({ externalId: 'recreated', action: 'created' });
    });

    it('finds a lead archived in Pipedrive again on a repeat without a ledger: no second lead, and no edit', async () => {
      // GET /v1/leads lists only leads that are not archived; the one from this leadgen id was
      // archived by a salesperson, so only GET /v1/leads/archived shows it. Nock refuses any
      // call not arranged here: a POST /v1/leads (a second lead) or a PATCH fails the test.
      const ctx = makeContext();
      api().get('/api/v2/persons/search').query(searchQuery('email', EMAIL)).reply(200, personHit(77));
      api()
        .get('/v1/leads')
        .query({ person_id: '77', start: '0', limit: '500' })
        .reply(200, leadsList([{ id: 'other-lead', origin_id: '999' }]));
      api()
        .get('/v1/leads/archived')
        .query({ person_id: '77', start: '0', limit: '500' })
        .reply(
          200,
          leadsList([
            { id: 'older-archived', origin_id: '998', is_archived: true },
            { id: 'archived-lead', origin_id: LEADGEN_ID, is_archived: true },
          ]),
        );
      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord());
      expect(result).to.include({ externalId: 'archived-lead', action: 'updated' });
      expect(ctx.stateValue).to.deep.equal({ personId: 77, leadId: 'archived-lead', completed: true });
    });

    it('leaves a lead archived since its delivery as it is when the ledger says delivered', async () => {
      const ctx = makeContext();
      ctx.stateValue = { personId: 101, leadId: 'since-archived', noteId: 501, completed: true };
      api()
        .get('/v1/leads/since-archived')
        .reply(200, { success: true, data: { id: 'since-archived', origin_id: LEADGEN_ID, is_archived: true } });
      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord());
      expect(result).to.include({ externalId: 'since-archived', action: 'updated' });
      expect(ctx.stateValue).to.deep.equal({ personId: 101, leadId: 'since-archived', noteId: 501, completed: true });
    });

    it('HTML-escapes the note and turns line breaks into <br>', async () => {
      const ctx = makeContext();
      ctx.stateValue = { personId: 101, leadId: 'lead-1' };
      let content = '';
      api()
        .post('/v1/notes', (b) => {
          content = b.content;
          return true;
        })
        .reply(200, { success: true, data: { id: 15 } });
      const record = makeSampleRecord({
        fields: { email: EMAIL, note: 'Called <b>twice</b>' },
        unmappedNote: 'Budget?: <script>alert("x")</script> & more\r\nTeam: Tom\'s',
      });
      await pipedriveConnector.deliver(ctx, record);
      expect(content).to.equal(
        'Called &lt;b&gt;twice&lt;/b&gt;<br><br>Budget?: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more<br>Team: Tom&#39;s',
      );
    });

    it('sends person.<hash> to the person, <hash> to the lead, with values of the field type', async () => {
      const personHash = 'a'.repeat(40);
      const leadHash = 'b'.repeat(40);
      const setHash = 'c'.repeat(40);
      const ctx = makeContext();
      api()
        .get('/api/v2/personFields')
        .query({ include_fields: 'required_fields', limit: '500' })
        .reply(200, {
          success: true,
          data: [{ field_code: 'name', field_name: 'Name', field_type: 'varchar', is_custom_field: false }],
          additional_data: { next_cursor: 'page2' },
        });
      api()
        .get('/api/v2/personFields')
        .query({ include_fields: 'required_fields', limit: '500', cursor: 'page2' })
        .reply(200, {
          success: true,
          data: [
            {
              field_code: personHash,
              field_name: 'Tier',
              field_type: 'enum',
              is_custom_field: true,
              options: [
                { id: 7, label: 'Gold' },
                { id: 8, label: 'Silver' },
              ],
            },
            {
              field_code: setHash,
              field_name: 'Interests',
              field_type: 'set',
              is_custom_field: true,
              options: [
                { id: 1, label: 'Road' },
                { id: 2, label: 'Gravel' },
              ],
            },
          ],
          additional_data: { next_cursor: null },
        });
      api()
        .get('/v1/leadFields')
        .query({ start: '0', limit: '500' })
        .reply(200, {
          success: true,
          data: [{ key: leadHash, name: 'Budget', field_type: 'double', mandatory_flag: false, active_flag: true }],
          additional_data: { pagination: { start: 0, limit: 500, more_items_in_collection: false } },
        });
      api().get('/api/v2/persons/search').query(true).times(2).reply(200, emptySearch);
      api()
        .post('/api/v2/persons', (b) => b.custom_fields?.[personHash] === 7 && JSON.stringify(b.custom_fields?.[setHash]) === '[1,2]')
        .reply(200, { success: true, data: { id: 101 } });
      api()
        .post('/v1/leads', (b) => b[leadHash] === 42.5 && !(`person.${personHash}` in b))
        .reply(201, { success: true, data: { id: 'lead-cf' } });
      api()
        .post('/v1/notes', (b) => String(b.content).includes('favorite_color: blue'))
        .reply(200, { success: true, data: { id: 16 } });

      const record = makeSampleRecord({
        fields: {
          email: EMAIL,
          phone: PHONE,
          [`person.${personHash}`]: 'gold',
          [`person.${setHash}`]: 'Road, Gravel',
          [leadHash]: '42.5',
          favorite_color: 'blue',
        },
      });
      const result = await pipedriveConnector.deliver(ctx, record);
      expect(result.externalId).to.equal('lead-cf');
    });

    it('rejects a value Pipedrive cannot take before creating anything', async () => {
      const ctx = makeContext();
      const err = await deliverExpectingError(ctx, makeSampleRecord({ fields: { email: EMAIL, value: 500 } }));
      expect(err).to.include({ kind: 'invalid', reason: 'pipedrive_value_needs_currency', field: 'currency' });
      expect(ctx.stateValue).to.equal(null);
    });

    it('reports x-ratelimit-reset when a 429 has no Retry-After', async () => {
      api()
        .get('/api/v2/persons/search')
        .query(true)
        .reply(429, { success: false, error: 'Request over limit' }, { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '3' });
      const err = await deliverExpectingError(makeContext(), makeSampleRecord());
      expect(err).to.include({ kind: 'rate_limited', reason: 'pipedrive_rate_limit', retryAfterMs: 3000, httpStatus: 429 });
    });

    it('names a dropped connection network_econnreset', async () => {
      api().get('/api/v2/persons/search').query(true).replyWithError(connectionReset());
      const err = await deliverExpectingError(makeContext(), makeSampleRecord());
      expect(err).to.include({ kind: 'retryable', reason: 'network_econnreset' });
      expect(err.cause).to.equal(undefined);
    });

    it("keeps the API token and the lead answers out of a 401's error (message, CRM message, body, stack)", async () => {
      api().get('/api/v2/persons/search').query(true).reply(401, { success: false, error: 'unauthorized access', errorCode: 401 });
      const err = await deliverExpectingError(makeContext(), makeSampleRecord());
      expect(err).to.include({ kind: 'auth', reason: 'pipedrive_unauthorized', crmMessage: 'unauthorized access' });
      expectSecretsAbsent(err, [TOKEN, EMAIL, PHONE, 'Ångström']);
      expect(err.cause).to.equal(undefined);
    });
  });

  // -------------------------------------------------------------------------------------------
  // OAuth
  // -------------------------------------------------------------------------------------------

  describe('pipedrive OAuth', () => {
    afterEach(() => assertAllMocksUsed());

    const oauthCredentials = (expiresInMs: number): PipedriveCredentials => ({
      type: 'oauth',
      accessToken: 'old-access-SECRET',
      refreshToken: 'refresh-SECRET-1',
      expiresAt: NOW + expiresInMs,
      apiDomain: API,
    });

    function arrangeCreatedFlow(base: string, accessToken: string): void {
      const scope = () => nock(base, { reqheaders: { authorization: `Bearer ${accessToken}` } });
      scope().get('/api/v2/persons/search').query(true).times(2).reply(200, emptySearch);
      scope()
        .post('/api/v2/persons')
        .reply(200, { success: true, data: { id: 101 } });
      scope()
        .post('/v1/leads')
        .reply(201, { success: true, data: { id: 'lead-oauth' } });
      scope()
        .post('/v1/notes')
        .reply(200, { success: true, data: { id: 17 } });
    }

    it('refreshes a token about to expire first, saves it, and calls the new api_domain', async () => {
      const ctx = makeContext({ credentials: oauthCredentials(2 * 60_000) });
      nock(OAUTH)
        .post('/oauth/token', (b) => b.grant_type === 'refresh_token' && b.refresh_token === 'refresh-SECRET-1')
        .basicAuth({ user: 'pd-client', pass: 'pd-secret' })
        .matchHeader('content-type', /application\/x-www-form-urlencoded/)
        .reply(200, {
          access_token: 'new-access-SECRET',
          token_type: 'Bearer',
          refresh_token: 'refresh-SECRET-1',
          scope: 'base',
          expires_in: 3599,
          api_domain: NEW_API_DOMAIN,
        });
      arrangeCreatedFlow(NEW_API_DOMAIN, 'new-access-SECRET');

      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord());
      expect(result).to.include({ externalId: 'lead-oauth', action: 'created' });
      expect(ctx.saved).to.deep.equal([
        { type: 'oauth', accessToken: 'new-access-SECRET', refreshToken: 'refresh-SECRET-1', expiresAt: NOW + 3_599_000, apiDomain: NEW_API_DOMAIN },
      ]);
      // 127.0.0.1 is no *.pipedrive.com host: no link.
      expect(result.url).to.equal(undefined);
    });

    it('does not refresh a token with more than 5 minutes left', async () => {
      const ctx = makeContext({ credentials: oauthCredentials(30 * 60_000) });
      arrangeCreatedFlow(API, 'old-access-SECRET');
      await pipedriveConnector.deliver(ctx, makeSampleRecord());
      expect(ctx.saved).to.deep.equal([]);
    });

    it('on a 401, refreshes once and retries the call', async () => {
      const ctx = makeContext({ credentials: oauthCredentials(40 * 60_000) });
      nock(API, { reqheaders: { authorization: 'Bearer old-access-SECRET' } })
        .get('/api/v2/persons/search')
        .query(true)
        .reply(401, { success: false, error: 'unauthorized access', errorCode: 401 });
      nock(OAUTH)
        .post('/oauth/token', (b) => b.grant_type === 'refresh_token')
        .reply(200, { access_token: 'new-access-SECRET', refresh_token: 'refresh-SECRET-2', expires_in: 3600, api_domain: API });
      arrangeCreatedFlow(API, 'new-access-SECRET');

      const result = await pipedriveConnector.deliver(ctx, makeSampleRecord());
      expect(result.action).to.equal('created');
      expect(ctx.saved).to.have.length(1);
      expect(ctx.saved[0]).to.include({ accessToken: 'new-access-SECRET', refreshToken: 'refresh-SECRET-2' });
    });

    it('reports auth when the call is still 401 after a refresh', async () => {
      const ctx = makeContext({ credentials: oauthCredentials(40 * 60_000) });
      nock(API).get('/api/v2/persons/search').query(true).times(2).reply(401, { success: false, error: 'unauthorized access', errorCode: 401 });
      nock(OAUTH)
        .post('/oauth/token')
        .once()
        .reply(200, { access_token: 'new-access-SECRET', refresh_token: 'refresh-SECRET-1', expires_in: 3600, api_domain: API });
      const err = await deliverExpectingError(ctx, makeSampleRecord());
      expect(err).to.include({ kind: 'auth', reason: 'pipedrive_unauthorized' });
      expectSecretsAbsent(err, ['old-access-SECRET', 'new-access-SECRET', 'refresh-SECRET-1', 'pd-secret']);
    });

    it('reports a refused refresh as auth (pipedrive_refresh_revoked), keeping the old credentials', async () => {
      const ctx = makeContext({ credentials: oauthCredentials(60_000) });
      nock(OAUTH).post('/oauth/token').reply(400, { success: false, error: 'invalid_grant', message: 'Invalid grant: refresh token is invalid' });
      const err = await deliverExpectingError(ctx, makeSampleRecord());
      expect(err).to.include({ kind: 'auth', reason: 'pipedrive_refresh_revoked', httpStatus: 400 });
      expect(err.crmMessage).to.contain('invalid_grant');
      expect(ctx.saved).to.deep.equal([]);
      expectSecretsAbsent(err, ['old-access-SECRET', 'refresh-SECRET-1', 'pd-secret']);
    });

    it('builds the authorize URL on the configured OAuth host', () => {
      const url = new URL(buildAuthorizeUrl(settings.connector, { redirectUri: 'https://relay.example.com/oauth/pipedrive/callback', state: 'st-1' }));
      expect(url.origin + url.pathname).to.equal(`${OAUTH}/oauth/authorize`);
      expect(Object.fromEntries(url.searchParams)).to.deep.equal({
        client_id: 'pd-client',
        redirect_uri: 'https://relay.example.com/oauth/pipedrive/callback',
        state: 'st-1',
      });
    });

    it('exchanges a code for credentials', async () => {
      nock(OAUTH)
        .post('/oauth/token', { grant_type: 'authorization_code', code: 'code-1', redirect_uri: 'https://relay.example.com/cb' })
        .basicAuth({ user: 'pd-client', pass: 'pd-secret' })
        .reply(200, { access_token: 'a-1', refresh_token: 'r-1', expires_in: 3600, api_domain: 'https://acme.pipedrive.com/', token_type: 'Bearer' });
      const creds = await exchangeCode(settings.connector, { code: 'code-1', redirectUri: 'https://relay.example.com/cb' }, { timeoutMs: 2000, now: NOW });
      expect(creds).to.deep.equal({
        type: 'oauth',
        accessToken: 'a-1',
        refreshToken: 'r-1',
        expiresAt: NOW + 3_600_000,
        apiDomain: 'https://acme.pipedrive.com',
      });
    });

    it('trusts only https *.pipedrive.com api_domains from the real OAuth host', () => {
      const real = testCrmSettings.pipedrive;
      expect(isTrustedApiDomain(real, 'https://acme.pipedrive.com')).to.equal(true);
      expect(isTrustedApiDomain(real, 'https://evil.example.com')).to.equal(false);
      expect(isTrustedApiDomain(real, 'http://acme.pipedrive.com')).to.equal(false);
      expect(isTrustedApiDomain(real, 'https://pipedrive.com.evil.example')).to.equal(false);
      expect(isTrustedApiDomain(settings.connector, 'http://127.0.0.1:10')).to.equal(true);
    });
  });

  // -------------------------------------------------------------------------------------------
  // Fields and addressing
  // -------------------------------------------------------------------------------------------

  describe('pipedrive describeFields', () => {
    afterEach(() => assertAllMocksUsed());

    it('lists person and lead fields across pages, with types, options and required flags, and caches them', async () => {
      const hashA = '1'.repeat(40);
      const hashB = '2'.repeat(40);
      const hashC = '3'.repeat(40);
      const ctx = makeContext();
      api()
        .get('/api/v2/personFields')
        .query({ include_fields: 'required_fields', limit: '500' })
        .reply(200, {
          success: true,
          data: [
            { field_code: 'name', field_name: 'Name', field_type: 'varchar', is_custom_field: false, required_fields: { enabled: true } },
            { field_code: 'email', field_name: 'Email', field_type: 'varchar', is_custom_field: false },
            { field_code: 'org_id', field_name: 'Organization', field_type: 'org', is_custom_field: false },
          ],
          additional_data: { next_cursor: 'c2' },
        });
      api()
        .get('/api/v2/personFields')
        .query({ include_fields: 'required_fields', limit: '500', cursor: 'c2' })
        .reply(200, {
          success: true,
          data: [{ field_code: hashA, field_name: 'Shoe size', field_type: 'double', is_custom_field: true, required_fields: { enabled: true } }],
          additional_data: { next_cursor: null },
        });
      api()
        .get('/v1/leadFields')
        .query({ start: '0', limit: '500' })
        .reply(200, {
          success: true,
          data: [
            { key: 'title', name: 'Title', field_type: 'varchar', mandatory_flag: true },
            { key: hashB, name: 'Bike', field_type: 'enum', mandatory_flag: true, active_flag: true, options: [{ id: 31, label: 'Road' }] },
          ],
          additional_data: { pagination: { start: 0, limit: 500, more_items_in_collection: true, next_start: 2 } },
        });
      api()
        .get('/v1/leadFields')
        .query({ start: '2', limit: '500' })
        .reply(200, {
          success: true,
          data: [
            { key: hashC, name: 'Interests', field_type: 'set', mandatory_flag: false, active_flag: true, options: [{ id: 1, label: 'A' }] },
            { key: 'd'.repeat(40), name: 'Old', field_type: 'varchar', active_flag: false },
          ],
          additional_data: { pagination: { start: 2, limit: 500, more_items_in_collection: false } },
        });

      const fields = await pipedriveConnector.describeFields(ctx);
      const byKey = new Map(fields.map((f) => [f.key, f]));
      expect(byKey.get('person.name')).to.include({ type: 'string', required: false });
      expect(byKey.get('person.email')).to.include({ type: 'email' });
      expect(byKey.get('person.phone')).to.include({ type: 'phone' });
      expect(byKey.has('person.org_id')).to.equal(false);
      expect(byKey.get(`person.${hashA}`)).to.include({ label: 'Person: Shoe size', type: 'number', required: true });
      expect(byKey.get('title')).to.include({ type: 'string', required: false });
      expect(byKey.get(hashB)).to.deep.include({ label: 'Bike', type: 'enum', required: true, options: [{ value: '31', label: 'Road' }] });
      expect(byKey.get(hashC)).to.include({ type: 'multienum', required: false });
      expect(byKey.has('d'.repeat(40))).to.equal(false);
      expect(byKey.get('note')).to.include({ type: 'text' });

      // Cached: no more calls (nock would refuse them).
      const again = await pipedriveConnector.describeFields(ctx);
      expect(again).to.deep.equal(fields);

      clearFieldCache(ctx.memory);
      api()
        .get('/api/v2/personFields')
        .query(true)
        .reply(200, { success: true, data: [], additional_data: { next_cursor: null } });
      api()
        .get('/v1/leadFields')
        .query(true)
        .reply(200, { success: true, data: [], additional_data: { pagination: { more_items_in_collection: false } } });
      const fresh = await pipedriveConnector.describeFields(ctx);
      expect(fresh.find((f) => f.key === `person.${hashA}`)).to.equal(undefined);
    });

    it('verifies credentials with GET /v1/users/me', async () => {
      api()
        .get('/v1/users/me')
        .reply(200, { success: true, data: { id: 1 } });
      await pipedriveConnector.verify(makeContext());
      api().get('/v1/users/me').reply(401, { success: false, error: 'unauthorized access' });
      try {
        await pipedriveConnector.verify(makeContext());
        expect.fail('expected auth');
      } catch (err) {
        expect(err).to.include({ kind: 'auth' });
      }
    });
  });

  describe('pipedrive base URL', () => {
    const defaults = testCrmSettings.pipedrive;
    it('uses the company domain when the API URL is the default', () => {
      expect(resolveApiBaseUrl(defaults, { type: 'api_token', apiToken: 't', companyDomain: 'acme' })).to.equal('https://acme.pipedrive.com');
    });
    it('uses api.pipedrive.com without a company domain', () => {
      expect(resolveApiBaseUrl(defaults, { type: 'api_token', apiToken: 't' })).to.equal('https://api.pipedrive.com');
    });
    it('lets a non-default API URL (a fake, a proxy) win over the company domain', () => {
      expect(resolveApiBaseUrl({ ...defaults, apiUrl: 'http://127.0.0.1:4000/' }, { type: 'api_token', apiToken: 't', companyDomain: 'acme' })).to.equal(
        'http://127.0.0.1:4000',
      );
    });
    it('always uses api_domain for OAuth', () => {
      expect(
        resolveApiBaseUrl(
          { ...defaults, apiUrl: 'http://127.0.0.1:4000' },
          { type: 'oauth', accessToken: 'a', refreshToken: 'r', expiresAt: 0, apiDomain: 'https://acme.pipedrive.com' },
        ),
      ).to.equal('https://acme.pipedrive.com');
    });
    it('normalizes a pasted company domain in the credentials schema', () => {
      const parsed = pipedriveConnector.credentialsSchema.parse({ type: 'api_token', apiToken: 't', companyDomain: 'https://Acme.pipedrive.com/' });
      expect(parsed).to.deep.equal({ type: 'api_token', apiToken: 't', companyDomain: 'acme' });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Against the loopback fake (what the end-to-end tests will run against)
// ---------------------------------------------------------------------------------------------

describe('pipedrive against the loopback fake', () => {
  let fake: FakePipedrive;
  const personHash = 'e'.repeat(40);
  const requiredPersonHash = 'f'.repeat(40);

  before(async () => {
    nock.cleanAll();
    nock.enableNetConnect();
    fake = await startFakePipedrive({
      // A second token for tests whose person searches must not spend the first one's search
      // window (10 per 2 s).
      apiTokens: ['fake-token-1', 'fake-token-3'],
      fieldPageSize: 3,
      personFields: [
        { field_code: personHash, field_name: 'Tier', field_type: 'enum', is_custom_field: true, options: [{ id: 4, label: 'Gold' }] },
        { field_code: requiredPersonHash, field_name: 'Licence', field_type: 'varchar', is_custom_field: true, required_fields: { enabled: true } },
      ],
    });
  });
  after(async () => {
    await fake.close();
  });

  function fakeContext(credentials: PipedriveCredentials = { type: 'api_token', apiToken: 'fake-token-1' }): TestContext {
    return makeTestContext<PipedriveConfig, PipedriveCredentials, PipedriveSettings>({
      config: { ownerId: 5 },
      credentials,
      settings: {
        ...testConnectorSettings,
        connector: { apiUrl: fake.url, oauthUrl: fake.url, clientId: fake.oauth.clientId, clientSecret: fake.oauth.clientSecret },
      },
    });
  }

  it('creates once, then updates on a repeat with or without the ledger', async () => {
    const record = makeSampleRecord({ fields: { ...makeSampleRecord().fields, [`person.${personHash}`]: 'Gold' } });
    const ctx = fakeContext();
    const first = await pipedriveConnector.deliver(ctx, record);
    expect(first.action).to.equal('created');
    expect(fake.persons.size).to.equal(1);
    const person = [...fake.persons.values()][0];
    expect(person.custom_fields).to.deep.equal({ [personHash]: 4 });
    expect(person.owner_id).to.equal(5);
    const lead = fake.leads.get(first.externalId);
    expect(lead).to.include({ origin_id: LEADGEN_ID, person_id: person.id, title: 'Zoë Ångström-Núñez – Spring test ride' });
    expect(fake.notes.map((n) => n.lead_id)).to.deep.equal([first.externalId]);

    const second = await pipedriveConnector.deliver(ctx, record);
    expect(second).to.include({ action: 'updated', externalId: first.externalId });

    const withoutLedger = await pipedriveConnector.deliver(fakeContext(), record);
    expect(withoutLedger).to.include({ action: 'updated', externalId: first.externalId });
    expect(fake.persons.size).to.equal(1);
    expect(fake.leads.size).to.equal(1);
    expect(fake.notes).to.have.length(1);
  });

  it('finds a lead archived in Pipedrive again on a repeat without a ledger, and creates no second lead', async () => {
    const record = makeSampleRecord({
      lead: makeSampleLead({ leadgen_id: '660000111', answers: [{ key: 'email', values: ['archie.ved@example.com'] }] }),
      fields: { email: 'archie.ved@example.com', name: 'Archie Ved' },
    });
    const token: PipedriveCredentials = { type: 'api_token', apiToken: 'fake-token-3' };
    const first = await pipedriveConnector.deliver(fakeContext(token), record);
    expect(first.action).to.equal('created');
    fake.archiveLead(first.externalId);
    const leadsBefore = fake.leads.size;
    const notesBefore = fake.notes.length;

    // A fresh context: the ledger of the first delivery is gone.
    const repeat = await pipedriveConnector.deliver(fakeContext(token), record);
    expect(repeat).to.include({ action: 'updated', externalId: first.externalId });
    expect([...fake.leads.values()].filter((l) => l.origin_id === '660000111')).to.have.length(1);
    expect(fake.leads.size).to.equal(leadsBefore);
    expect(fake.notes).to.have.length(notesBefore);
    // Left as the salesperson left it: still archived, not edited.
    expect(fake.leads.get(first.externalId)).to.include({ is_archived: true });
    expect(fake.requests.filter((r) => r.method === 'PATCH' && r.path === `/v1/leads/${first.externalId}`)).to.deep.equal([]);

    // With the ledger, a repeat leaves it alone too.
    const ctx = fakeContext(token);
    ctx.stateValue = { personId: fake.leads.get(first.externalId)!.person_id, leadId: first.externalId, completed: true };
    expect(await pipedriveConnector.deliver(ctx, record)).to.include({ action: 'updated', externalId: first.externalId });
    expect(fake.leads.size).to.equal(leadsBefore);
  });

  it('resumes after an injected 503 without a second person', async () => {
    const record = makeSampleRecord({
      lead: makeSampleLead({ leadgen_id: '555000111' }),
      fields: { email: 'new.person@example.com', name: 'New Person' },
    });
    const ctx = fakeContext();
    const personsBefore = fake.persons.size;
    fake.failNext({ method: 'POST', path: '/v1/leads', status: 503 });
    const err = await deliverExpectingError(ctx, record);
    expect(err).to.include({ kind: 'retryable', reason: 'status_code_503' });
    const result = await pipedriveConnector.deliver(ctx, record);
    expect(result.action).to.equal('created');
    expect(fake.persons.size).to.equal(personsBefore + 1);
    expect([...fake.leads.values()].filter((l) => l.origin_id === '555000111')).to.have.length(1);
  });

  it('describes fields across the fake pages, with the required flags personFields gives only on request', async () => {
    const fields = await pipedriveConnector.describeFields(fakeContext());
    expect(fields.map((f) => f.key)).to.include.members(['person.name', `person.${personHash}`, 'title', 'note']);
    const byKey = new Map(fields.map((f) => [f.key, f]));
    expect(byKey.get(`person.${requiredPersonHash}`)).to.include({ required: true });
    expect(byKey.get(`person.${personHash}`)).to.include({ required: false });
    expect(fake.requests.filter((r) => r.path === '/api/v2/personFields').map((r) => r.query.include_fields)).to.include('required_fields');
  });

  it("answers in the shapes of Pipedrive's OpenAPI documents", async () => {
    const get = async (path: string) => {
      const res = await fetch(`${fake.url}${path}`, { headers: { 'x-api-token': 'fake-token-1' } });
      return { status: res.status, body: (await res.json()) as { data: Record<string, unknown>[]; additional_data: Record<string, unknown> } };
    };
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${fake.url}${path}`, {
        method: 'POST',
        headers: { 'x-api-token': 'fake-token-1', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as { data: { id: string | number } } };
    };
    // One person (POST /api/v2/persons answers 200) with two leads (POST /v1/leads answers 201).
    const createdPerson = await post('/api/v2/persons', { name: 'Sam Shapes', emails: [{ value: 'shapes@example.com', primary: true, label: 'work' }] });
    expect(createdPerson.status).to.equal(200);
    const person = fake.persons.get(Number(createdPerson.body.data.id))!;
    const createdLeads = [
      await post('/v1/leads', { title: 'Shapes 1', person_id: person.id }),
      await post('/v1/leads', { title: 'Shapes 2', person_id: person.id }),
    ];
    expect(createdLeads.map((l) => l.status)).to.deep.equal([201, 201]);
    const [active, archived] = createdLeads.map((l) => fake.leads.get(String(l.body.data.id))!);
    fake.archiveLead(archived.id);

    // GET /v1/leads: not archived leads only; GET /v1/leads/archived: the archived ones.
    const list = await get(`/v1/leads?person_id=${person.id}`);
    expect(list.body.data.map((l) => l.id))
      .to.include(active.id)
      .and.not.include(archived.id);
    expect(list.body.additional_data).to.deep.equal({ start: 0, limit: 100, more_items_in_collection: false });
    const archivedList = await get(`/v1/leads/archived?person_id=${person.id}`);
    expect(archivedList.body.data.map((l) => l.id)).to.deep.equal([archived.id]);
    expect(archivedList.body.data[0]).to.include({ is_archived: true });
    expect((await get(`/v1/leads/${archived.id}`)).body.data).to.include({ id: archived.id, is_archived: true });

    // An archived lead is not editable, but can be unarchived.
    const patch = (body: unknown) =>
      fetch(`${fake.url}/v1/leads/${archived.id}`, {
        method: 'PATCH',
        headers: { 'x-api-token': 'fake-token-1', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await patch({ title: 'Renamed' })).status).to.equal(400);
    expect((await patch({ is_archived: false })).status).to.equal(200);
    expect(fake.leads.get(archived.id)).to.include({ is_archived: false, title: archived.title });
    fake.archiveLead(archived.id);

    // personFields: required_fields only when include_fields asks for it.
    const plain = await get('/api/v2/personFields?limit=500');
    expect(plain.body.data.every((f) => !('required_fields' in f))).to.equal(true);
    const withRequired = await get('/api/v2/personFields?limit=500&include_fields=required_fields');
    expect(withRequired.body.data.find((f) => f.field_code === 'name')).to.deep.include({ required_fields: { enabled: true } });

    // leadFields: start/limit/more_items_in_collection directly in additional_data.
    expect((await get('/v1/leadFields?start=0&limit=2')).body.additional_data).to.deep.equal({ start: 0, limit: 2, more_items_in_collection: true });

    // POST /v1/notes answers 200, unlike POST /v1/leads.
    expect((await post('/v1/notes', { content: 'x', lead_id: active.id })).status).to.equal(200);
  });

  it('works over OAuth: code exchange, calls to api_domain, refresh of an expired token', async () => {
    const s = { apiUrl: 'https://api.pipedrive.com', oauthUrl: fake.url, clientId: fake.oauth.clientId, clientSecret: fake.oauth.clientSecret };
    const code = fake.oauth.issueCode('https://relay.example.com/cb');
    const creds = await exchangeCode(s, { code, redirectUri: 'https://relay.example.com/cb' }, { timeoutMs: 2000, now: Date.now() });
    expect(creds.apiDomain).to.equal(fake.url);
    fake.oauth.expireAccessTokens();
    const ctx = fakeContext(creds);
    await pipedriveConnector.verify(ctx);
    expect(ctx.saved).to.have.length(1);
    expect(fake.oauth.grants.refresh_token).to.equal(1);

    fake.oauth.revokeRefreshTokens();
    fake.oauth.expireAccessTokens();
    const err = await (async () => {
      try {
        await pipedriveConnector.verify(fakeContext(ctx.saved[0]));
      } catch (e) {
        return e as ConnectorError;
      }
      throw new Error('expected verify to fail');
    })();
    expect(err).to.include({ kind: 'auth', reason: 'pipedrive_refresh_revoked' });
  });

  it('answers 429 with Retry-After while rate limited, and 401 to a bad token', async () => {
    fake.rateLimitFor(3000);
    const err = await deliverExpectingError(fakeContext(), makeSampleRecord());
    expect(err.kind).to.equal('rate_limited');
    expect(err.retryAfterMs).to.be.within(1000, 3000);
    fake.rateLimitFor(0);

    const bad = await deliverExpectingError(fakeContext({ type: 'api_token', apiToken: 'wrong' }), makeSampleRecord());
    expect(bad).to.include({
      kind: 'auth',
      reason: 'pipedrive_unauthorized',
      crmMessage: 'unauthorized access — Please check developers.pipedrive.com for more information about Pipedrive API.',
    });
  });

  it('creates one person for 20 parallel deliveries of one email, with a lagging search index', async () => {
    const slow = await startFakePipedrive({ apiTokens: ['fake-token-2'], latencyMs: { min: 20, max: 80 }, searchIndexLagMs: 5_000, burstLimit: 400 });
    try {
      const destination = makeTestDestinationState();
      const records = Array.from({ length: 20 }, (_, i) =>
        makeSampleRecord({
          lead: makeSampleLead({
            leadgen_id: `77700000${i}`,
            answers: [{ key: 'email', values: [i % 2 ? 'Same.Person@example.com' : 'same.person@example.com'] }],
          }),
          fields: { name: 'Same Person' },
          unmappedNote: undefined,
        }),
      );
      const results = await Promise.all(
        records.map((record) =>
          pipedriveConnector.deliver(
            makeTestContext<PipedriveConfig, PipedriveCredentials, PipedriveSettings>({
              config: {},
              credentials: { type: 'api_token', apiToken: 'fake-token-2' },
              settings: { ...testConnectorSettings, connector: { apiUrl: slow.url, oauthUrl: slow.url, clientId: 'x', clientSecret: 'y' } },
              destination,
            }),
            record,
          ),
        ),
      );
      expect(slow.persons.size).to.equal(1);
      const [person] = [...slow.persons.values()];
      expect(results.map((r) => r.action)).to.deep.equal(Array(20).fill('created'));
      expect(results.map((r) => slow.leads.get(r.externalId)?.person_id)).to.deep.equal(Array(20).fill(person.id));
      // Only the first delivery searched; the rest used the person it created.
      expect(slow.requests.filter((r) => r.path === '/api/v2/persons/search')).to.have.length(1);
    } finally {
      await slow.close();
    }
  });

  it('limits search to 10 requests per 2 seconds', async () => {
    // Eleven at once: at least one falls past the tenth in the window.
    const responses = await Promise.all(
      Array.from({ length: 11 }, () =>
        fetch(`${fake.url}/api/v2/persons/search?term=nobody%40example.com&fields=email&exact_match=true`, { headers: { 'x-api-token': 'fake-token-1' } }),
      ),
    );
    for (const res of responses) {
      expect(res.headers.get('x-ratelimit-limit')).to.be.a('string');
      if (res.status === 429) expect(res.headers.get('retry-after')).to.equal('2');
      await res.arrayBuffer();
    }
    expect(responses.filter((r) => r.status === 429).length).to.be.at.least(1);
  });
});
