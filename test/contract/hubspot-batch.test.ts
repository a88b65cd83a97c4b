// The HubSpot connector's batch delivery (deliverBatch) with nock: many contacts in one
// `POST /crm/v3/objects/contacts/batch/upsert`, the 207 multi-status answer read per input, a
// failure of the whole call thrown once, and the calls a batch is split into. Then the same
// against the loopback fake.
import { expect } from 'chai';
import nock from 'nock';
import { hubspotConnector, planContactCalls, type HubspotConfig, type HubspotCredentials, type HubspotSettings } from '../../connectors/hubspot/index.js';
import type { BatchDeliveryItem, BatchItemOutcome, ConnectorContext, DeliveryRecord } from '../../connectors/types.js';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { makeSampleLead, makeSampleRecord, makeTestContext, testCrmSettings } from '../helpers/sample-lead.js';
import { expectConnectorError } from './connector-contract.js';

const API = 'http://127.0.0.1:4598';
const UPSERT_PATH = '/crm/v3/objects/contacts/batch/upsert';
const PAT = 'pat-na1-batch-0f1e2d3c-4b5a-6978-8796';
const NOW = Date.parse('2026-11-20T10:15:02.000Z');
const ISO = new Date(NOW).toISOString();

type HubspotTestContext = ConnectorContext<HubspotConfig, HubspotCredentials, HubspotSettings>;

function makeContext(apiUrl = API, accessToken = PAT): HubspotTestContext {
  return makeTestContext<HubspotConfig, HubspotCredentials, HubspotSettings>({
    config: { portalId: '4242' },
    credentials: { type: 'private_app', accessToken },
    settings: { connector: { ...testCrmSettings.hubspot, apiUrl } },
    now: () => NOW,
  });
}

/** Lead n: its own email, leadgen id and delivery id. */
function recordFor(n: number, email = `lead${n}@example.com`): DeliveryRecord {
  const lead = makeSampleLead({
    leadgen_id: `90000000000000${String(n).padStart(5, '0')}`,
    answers: [
      { key: 'full_name', values: [`Lead Number${n}`] },
      { key: 'email', values: [email] },
    ],
  });
  return makeSampleRecord({
    lead,
    fields: { email, firstname: 'Lead', lastname: `Number${n}` },
    unmappedNote: undefined,
    idempotencyKey: `b9e0d9a4-0000-4000-8000-${String(n).padStart(12, '0')}`,
  });
}

const itemsOf = (records: DeliveryRecord[]): BatchDeliveryItem[] =>
  records.map((record) => ({ record, state: { get: async () => null, set: async () => undefined } }));

interface SentInput {
  idProperty: string;
  id: string;
  objectWriteTraceId: string;
  properties: Record<string, string>;
}

function result(input: SentInput, id: string, isNew: boolean) {
  return {
    id,
    new: isNew,
    objectWriteTraceId: input.objectWriteTraceId,
    properties: { ...input.properties, hs_object_id: id },
    createdAt: ISO,
    updatedAt: ISO,
    archived: false,
  };
}

function validationError(traceId: string, email: string) {
  return {
    status: 'error',
    category: 'VALIDATION_ERROR',
    message: 'Property values were not valid',
    context: { objectWriteTraceId: [traceId], propertyName: ['email'] },
    errors: [{ message: `Email address ${email} is invalid`, code: 'INVALID_EMAIL', context: { propertyName: ['email'] } }],
    links: {},
  };
}

const ok = (o: BatchItemOutcome) => {
  if (!o.ok) throw new Error(`expected a delivered record, got ${o.error.kind}: ${o.error.reason}`);
  return o.result;
};
const failed = (o: BatchItemOutcome) => {
  if (o.ok) throw new Error('expected a failed record');
  return o.error;
};

describe('hubspot connector: batch upsert (nock)', () => {
  before(() => {
    if (!nock.isActive()) nock.activate();
    nock.disableNetConnect();
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending, 'every arranged HubSpot call was made').to.deep.equal([]);
  });
  after(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('sends every lead in one call, each input as deliver() builds it, and maps results back by objectWriteTraceId', async () => {
    const records = [1, 2, 3].map((n) => recordFor(n));
    let sent: SentInput[] = [];
    nock(API)
      .matchHeader('authorization', `Bearer ${PAT}`)
      .post(UPSERT_PATH, (body: { inputs: SentInput[] }) => {
        sent = body.inputs;
        return true;
      })
      // HubSpot does not promise results in input order: answer them reversed.
      .reply(200, () => ({
        status: 'COMPLETE',
        results: sent.map((input, i) => result(input, `70${i}`, i !== 1)).reverse(),
        startedAt: ISO,
        completedAt: ISO,
      }));

    const outcomes = await hubspotConnector.deliverBatch!(makeContext(), itemsOf(records));

    expect(sent.map((i) => i.objectWriteTraceId)).to.deep.equal(records.map((r) => r.idempotencyKey));
    expect(sent[0]).to.include({ idProperty: 'email', id: 'lead1@example.com' });
    expect(sent[0].properties).to.include({ email: 'lead1@example.com', lr_fb_lead_id: '9000000000000000001', lr_campaign_id: '2385000003' });
    expect(outcomes.map(ok).map((r) => [r.externalId, r.action])).to.deep.equal([
      ['700', 'created'],
      ['701', 'updated'],
      ['702', 'created'],
    ]);
    expect(ok(outcomes[0]).url).to.equal('https://app.hubspot.com/contacts/4242/record/0-1/700');
    // Each lead keeps only its own part of the answer.
    expect(ok(outcomes[0]).responseBody).to.contain('lead1@example.com').and.not.contain('lead2@example.com');
  });

  it('classifies each input of a 207 on its own: the bad email is invalid, the others delivered', async () => {
    const records = [recordFor(1), recordFor(2, 'not-an-email@@x'), recordFor(3)];
    nock(API)
      .post(UPSERT_PATH)
      .reply(207, (_uri, body) => {
        const inputs = (body as { inputs: SentInput[] }).inputs;
        return {
          status: 'COMPLETE',
          results: [result(inputs[0], '801', true), result(inputs[2], '803', true)],
          numErrors: 1,
          errors: [validationError(inputs[1].objectWriteTraceId, inputs[1].id)],
          startedAt: ISO,
          completedAt: ISO,
        };
      });

    const outcomes = await hubspotConnector.deliverBatch!(makeContext(), itemsOf(records));

    expect(ok(outcomes[0]).externalId).to.equal('801');
    expect(ok(outcomes[2]).externalId).to.equal('803');
    const err = failed(outcomes[1]);
    expect(err).to.include({ kind: 'invalid', reason: 'hubspot_invalid_email', field: 'email', httpStatus: 207 });
    expect(err.crmMessage).to.contain('is invalid');
    expect(err.responseBody).to.contain('INVALID_EMAIL').and.not.contain('lead1@example.com');
    expect(err.message).to.not.contain('not-an-email');
  });

  it('throws one rate-limit failure for the whole batch, with the wait HubSpot implies', async () => {
    nock(API)
      .post(UPSERT_PATH)
      .reply(
        429,
        { status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' },
        { 'X-HubSpot-RateLimit-Max': '190', 'X-HubSpot-RateLimit-Remaining': '0', 'X-HubSpot-RateLimit-Interval-Milliseconds': '10000' },
      );
    const err = await expectConnectorError(hubspotConnector.deliverBatch!(makeContext(), itemsOf([recordFor(1), recordFor(2)])));
    expect(err).to.include({ kind: 'rate_limited', reason: 'hubspot_rate_limit_ten_secondly', retryAfterMs: 10_000 });
  });

  it('throws a 5xx and a 401 of the whole call as the batch failure', async () => {
    nock(API).post(UPSERT_PATH).reply(502, 'bad gateway', { 'content-type': 'text/plain' });
    expect(await expectConnectorError(hubspotConnector.deliverBatch!(makeContext(), itemsOf([recordFor(1), recordFor(2)])))).to.include({
      kind: 'retryable',
      reason: 'status_code_502',
    });
    nock(API).post(UPSERT_PATH).reply(401, { status: 'error', message: 'Authentication credentials not found.', category: 'INVALID_AUTHENTICATION' });
    expect(await expectConnectorError(hubspotConnector.deliverBatch!(makeContext(), itemsOf([recordFor(1), recordFor(2)])))).to.include({
      kind: 'auth',
    });
  });

  it('puts two leads of one email into successive calls (HubSpot refuses a batch naming an id twice); the later lead updates', async () => {
    const records = [recordFor(1, 'same@example.com'), recordFor(2), recordFor(3, 'SAME@example.com')];
    const calls: SentInput[][] = [];
    nock(API)
      .post(UPSERT_PATH)
      .times(2)
      .reply(200, (_uri, body) => {
        const inputs = (body as { inputs: SentInput[] }).inputs;
        calls.push(inputs);
        return {
          status: 'COMPLETE',
          results: inputs.map((input) => result(input, input.id.toLowerCase() === 'same@example.com' ? '900' : '902', calls.length === 1)),
          startedAt: ISO,
          completedAt: ISO,
        };
      });
    const outcomes = await hubspotConnector.deliverBatch!(makeContext(), itemsOf(records));
    expect(calls.map((c) => c.map((i) => i.id))).to.deep.equal([['same@example.com', 'lead2@example.com'], ['SAME@example.com']]);
    expect(ok(outcomes[0])).to.include({ externalId: '900', action: 'created' });
    expect(ok(outcomes[2])).to.include({ externalId: '900', action: 'updated' });
  });

  it('gives a later call failing as a whole to its leads only; what the first call wrote stays delivered', async () => {
    const records = [recordFor(1, 'twice@example.com'), recordFor(2, 'twice@example.com')];
    nock(API)
      .post(UPSERT_PATH)
      .reply(200, (_uri, body) => ({
        status: 'COMPLETE',
        results: (body as { inputs: SentInput[] }).inputs.map((i) => result(i, '950', true)),
        startedAt: ISO,
        completedAt: ISO,
      }))
      .post(UPSERT_PATH)
      .reply(503, { status: 'error', message: 'Service unavailable', category: 'INTERNAL_ERROR' });
    const outcomes = await hubspotConnector.deliverBatch!(makeContext(), itemsOf(records));
    expect(ok(outcomes[0]).externalId).to.equal('950');
    expect(failed(outcomes[1])).to.include({ kind: 'retryable', reason: 'status_code_503' });
  });

  it('plans calls of at most 100 inputs, keyed by one idProperty each', () => {
    const inputs = Array.from({ length: 250 }, (_, n) => ({
      idProperty: n % 50 === 0 ? 'lr_fb_lead_id' : 'email',
      id: `x${n}`,
      properties: {},
      objectWriteTraceId: `t${n}`,
    }));
    const calls = planContactCalls(inputs);
    expect(calls.map((c) => c.length)).to.deep.equal([5, 100, 100, 45]);
    for (const call of calls) expect(new Set(call.map((i) => inputs[i].idProperty)).size).to.equal(1);
    expect(calls.flat().sort((a, b) => a - b)).to.deep.equal(inputs.map((_, i) => i));
  });
});

describe('hubspot connector: batch upsert against the loopback fake', () => {
  let fake: FakeHubspot;
  before(async () => {
    fake = await startFakeHubspot({ accessTokens: [PAT] });
  });
  after(async () => {
    await fake.close();
  });

  it('upserts 100 contacts in one call; a bad email fails alone with its 207 error; a repeat updates', async () => {
    const records = Array.from({ length: 100 }, (_, n) => recordFor(n, n === 37 ? 'broken@@example' : undefined));
    const ctx = makeContext(fake.url);
    // A connected destination has LeadRelay's lr_ properties already (verify creates them).
    await hubspotConnector.verify(ctx);
    const before = fake.requests.filter((r) => r.path === UPSERT_PATH).length;
    const outcomes = await hubspotConnector.deliverBatch!(ctx, itemsOf(records));
    expect(fake.requests.filter((r) => r.path === UPSERT_PATH).length - before, 'one batch call').to.equal(1);
    expect(failed(outcomes[37])).to.include({ kind: 'invalid', field: 'email' });
    const delivered = outcomes.filter((o) => o.ok).map(ok);
    expect(delivered).to.have.length(99);
    expect(delivered.every((r) => r.action === 'created')).to.equal(true);
    expect(fake.byEmail('lead5@example.com')?.id).to.equal(ok(outcomes[5]).externalId);

    const again = await hubspotConnector.deliverBatch!(ctx, itemsOf(records.filter((_, n) => n !== 37)));
    expect(again.map(ok).every((r) => r.action === 'updated')).to.equal(true);
    expect(fake.contacts.size).to.equal(99);
  });
});
