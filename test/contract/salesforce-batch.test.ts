// The Salesforce connector's batch delivery (deliverBatch) with nock: many Leads in one sObject
// Collections upsert on the external id (`PATCH /composite/sobjects/Lead/FB_Lead_Id__c`,
// allOrNone=false), each record's result read on its own, a failure of the whole call thrown
// once; then the same against the loopback fake.
import { expect } from 'chai';
import nock from 'nock';
import {
  planCollectionCalls,
  salesforceConfigSchema,
  salesforceConnector,
  type SalesforceConfig,
  type SalesforceCredentials,
  type SalesforceSettings,
} from '../../connectors/salesforce/index.js';
import type { BatchDeliveryItem, BatchItemOutcome, ConnectorContext, DeliveryRecord } from '../../connectors/types.js';
import { startFakeSalesforce, type FakeSalesforce } from '../fakes/salesforce-crm.js';
import { makeSampleLead, makeSampleRecord, makeTestContext, testCrmSettings } from '../helpers/sample-lead.js';
import { expectConnectorError } from './connector-contract.js';

const INSTANCE = 'https://acme-batch.my.salesforce.com';
const API = '/services/data/v62.0';
const DESCRIBE = `${API}/sobjects/Lead/describe`;
const COLLECTION = `${API}/composite/sobjects/Lead/FB_Lead_Id__c`;
const ACCESS = '00Dacme000000002!AQ4AQLrVZ1Xg.batch-access';
const REFRESH = '5Aep861TSESvWeug_xvFHRBTTbf_batchRefresh';

type SalesforceTestContext = ConnectorContext<SalesforceConfig, SalesforceCredentials, SalesforceSettings>;

function makeContext(
  credentials: SalesforceCredentials = { accessToken: ACCESS, refreshToken: REFRESH, instanceUrl: INSTANCE },
  settings: Partial<SalesforceSettings> = {},
  config: Partial<SalesforceConfig> = {},
): SalesforceTestContext {
  return makeTestContext<SalesforceConfig, SalesforceCredentials, SalesforceSettings>({
    config: salesforceConfigSchema.parse(config),
    credentials,
    settings: { connector: { ...testCrmSettings.salesforce, ...settings } },
  });
}

function recordFor(n: number, email = `lead${n}@example.com`): DeliveryRecord {
  const lead = makeSampleLead({ leadgen_id: `80000000000000${String(n).padStart(5, '0')}`, answers: [{ key: 'email', values: [email] }] });
  return makeSampleRecord({
    lead,
    fields: { LastName: `Number${n}`, Email: email },
    unmappedNote: undefined,
    idempotencyKey: `c9e0d9a4-0000-4000-8000-${String(n).padStart(12, '0')}`,
  });
}

interface TestItem extends BatchDeliveryItem {
  saved: Record<string, unknown> | null;
}

function itemsOf(records: DeliveryRecord[]): TestItem[] {
  return records.map((record) => {
    const item: TestItem = {
      record,
      saved: null,
      state: {
        get: async () => item.saved,
        set: async (v) => {
          item.saved = v;
        },
      },
    };
    return item;
  });
}

function field(name: string, type: string, extra: Record<string, unknown> = {}) {
  return { name, label: name, type, length: 0, nillable: true, createable: true, defaultedOnCreate: false, externalId: false, unique: false, ...extra };
}

function describeBody(hasExternalId = true) {
  return {
    name: 'Lead',
    fields: [
      field('LastName', 'string', { length: 80, nillable: false }),
      field('Company', 'string', { length: 255, nillable: false }),
      field('Email', 'email', { length: 80 }),
      field('LeadSource', 'picklist', {
        restrictedPicklist: true,
        picklistValues: [
          { value: 'Facebook Lead Ads', label: 'Facebook Lead Ads', active: true },
          { value: 'Instagram Lead Ads', label: 'Instagram Lead Ads', active: true },
        ],
      }),
      field('Description', 'textarea', { length: 32000 }),
      ...(hasExternalId ? [field('FB_Lead_Id__c', 'string', { length: 40, externalId: true, unique: true })] : []),
    ],
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

interface CollectionBody {
  allOrNone: boolean;
  records: Record<string, unknown>[];
}

describe('salesforce connector: sObject Collections upsert (nock)', () => {
  before(() => {
    if (!nock.isActive()) nock.activate();
    nock.disableNetConnect();
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending, 'every arranged Salesforce call was made').to.deep.equal([]);
  });
  after(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('upserts every lead in one call (allOrNone false, external id in the body) and reads each result in order', async () => {
    const records = [1, 2, 3].map((n) => recordFor(n));
    let sent: CollectionBody | undefined;
    nock(INSTANCE).get(DESCRIBE).reply(200, describeBody());
    nock(INSTANCE)
      .matchHeader('authorization', `Bearer ${ACCESS}`)
      .patch(COLLECTION, (body: CollectionBody) => {
        sent = body;
        return true;
      })
      .reply(200, [
        { id: '00Q5g00000Batch1AAA', success: true, errors: [], created: true },
        { success: false, errors: [{ statusCode: 'REQUIRED_FIELD_MISSING', message: 'Required fields are missing: [Company]', fields: ['Company'] }] },
        { id: '00Q5g00000Batch3AAA', success: true, errors: [], created: false },
      ]);

    const outcomes = await salesforceConnector.deliverBatch!(makeContext(), itemsOf(records));

    expect(sent?.allOrNone).to.equal(false);
    expect(sent?.records).to.have.length(3);
    expect(sent?.records[0]).to.deep.include({
      attributes: { type: 'Lead' },
      FB_Lead_Id__c: '8000000000000000001',
      LastName: 'Number1',
      LeadSource: 'Instagram Lead Ads',
    });
    expect(ok(outcomes[0])).to.include({ externalId: '00Q5g00000Batch1AAA', action: 'created', httpStatus: 200 });
    expect(ok(outcomes[0]).url).to.equal(`${INSTANCE}/lightning/r/Lead/00Q5g00000Batch1AAA/view`);
    expect(ok(outcomes[2])).to.include({ action: 'updated' });
    const err = failed(outcomes[1]);
    expect(err).to.include({ kind: 'invalid', reason: 'salesforce_required_field_missing', field: 'Company' });
    expect(err.responseBody).to.contain('REQUIRED_FIELD_MISSING').and.not.contain('Batch1');
  });

  it('throws REQUEST_LIMIT_EXCEEDED of the whole call once, as the daily limit', async () => {
    nock(INSTANCE).get(DESCRIBE).reply(200, describeBody());
    nock(INSTANCE)
      .patch(COLLECTION)
      .reply(403, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]);
    const err = await expectConnectorError(salesforceConnector.deliverBatch!(makeContext(), itemsOf([recordFor(1), recordFor(2)])));
    expect(err).to.include({ kind: 'rate_limited', reason: 'salesforce_daily_request_limit' });
  });

  it('updates the record a duplicate rule matched for that lead alone', async () => {
    nock(INSTANCE).get(DESCRIBE).reply(200, describeBody());
    nock(INSTANCE)
      .patch(COLLECTION)
      .reply(200, [
        { id: '00Q5g00000Batch1AAA', success: true, errors: [], created: true },
        {
          success: false,
          errors: [
            {
              statusCode: 'DUPLICATES_DETECTED',
              message: 'Use one of these records?',
              fields: [],
              duplicateResult: {
                duplicateRuleEntityType: 'Lead',
                matchResults: [{ entityType: 'Lead', matchRecords: [{ record: { attributes: { type: 'Lead' }, Id: '00Q5g00000MatchAAA' } }] }],
              },
            },
          ],
        },
      ]);
    nock(INSTANCE).patch(`${API}/sobjects/Lead/00Q5g00000MatchAAA`).reply(204);
    const outcomes = await salesforceConnector.deliverBatch!(makeContext(), itemsOf([recordFor(1), recordFor(2)]));
    expect(ok(outcomes[1])).to.include({ externalId: '00Q5g00000MatchAAA', action: 'updated' });
  });

  it("without an external id field, creates each lead once and keeps its id in that lead's own delivery state", async () => {
    nock(INSTANCE).get(DESCRIBE).reply(200, describeBody(false));
    nock(INSTANCE).post(`${API}/sobjects/Lead`).reply(201, { id: '00Q5g00000Create1AA', success: true, errors: [] });
    nock(INSTANCE).post(`${API}/sobjects/Lead`).reply(201, { id: '00Q5g00000Create2AA', success: true, errors: [] });
    const items = itemsOf([recordFor(1), recordFor(2)]);
    const outcomes = await salesforceConnector.deliverBatch!(makeContext(), items);
    expect(outcomes.map(ok).map((r) => r.externalId)).to.deep.equal(['00Q5g00000Create1AA', '00Q5g00000Create2AA']);
    expect(items.map((i) => i.saved?.salesforceId)).to.deep.equal(['00Q5g00000Create1AA', '00Q5g00000Create2AA']);
  });

  it('plans calls of at most 200 records, each external id once per call', () => {
    const keys = [...Array.from({ length: 450 }, (_, n) => `k${n}`), 'k1'];
    const calls = planCollectionCalls(keys);
    expect(calls.map((c) => c.length)).to.deep.equal([200, 200, 51]);
    for (const call of calls) expect(new Set(call.map((i) => keys[i])).size).to.equal(call.length);
  });
});

describe('salesforce connector: sObject Collections upsert against the loopback fake', () => {
  let fake: FakeSalesforce;
  before(async () => {
    fake = await startFakeSalesforce({});
  });
  after(async () => {
    await fake.close();
  });

  it('upserts 200 Leads in one call; an invalid email fails alone; a repeat updates the same Leads', async () => {
    const tokens = fake.issueTokens();
    const ctx = makeContext(tokens, { loginUrl: fake.url });
    const records = Array.from({ length: 200 }, (_, n) => recordFor(n, n === 150 ? 'broken@@example' : undefined));
    const outcomes = await salesforceConnector.deliverBatch!(ctx, itemsOf(records));
    expect(fake.requests.filter((r) => r.method === 'PATCH' && r.path.includes('/composite/sobjects/'))).to.have.length(1);
    expect(failed(outcomes[150])).to.include({ kind: 'invalid', reason: 'salesforce_invalid_email_address', field: 'Email' });
    expect(outcomes.filter((o) => o.ok)).to.have.length(199);
    expect(fake.leadByExternalId('8000000000000000007')?.Id).to.equal(ok(outcomes[7]).externalId);

    const again = await salesforceConnector.deliverBatch!(ctx, itemsOf(records.filter((_, n) => n !== 150)));
    expect(again.map(ok).every((r) => r.action === 'updated')).to.equal(true);
    expect(fake.leads.size).to.equal(199);
  });

  it('answers a collection of more than 200 records with EXCEEDED_ID_LIMIT, and the daily allocation with REQUEST_LIMIT_EXCEEDED', async () => {
    const tokens = fake.issueTokens();
    const auth = { authorization: `Bearer ${tokens.accessToken}`, 'content-type': 'application/json' };
    const records = Array.from({ length: 201 }, (_, n) => ({ attributes: { type: 'Lead' }, FB_Lead_Id__c: `x${n}`, LastName: 'X', Company: 'Y' }));
    const tooMany = await fetch(`${fake.url}${COLLECTION}`, { method: 'PATCH', headers: auth, body: JSON.stringify({ allOrNone: false, records }) });
    expect(tooMany.status).to.equal(400);
    expect(((await tooMany.json()) as { errorCode: string }[])[0].errorCode).to.equal('EXCEEDED_ID_LIMIT');

    const small = await startFakeSalesforce({ dailyApiLimit: 1 });
    try {
      const t = small.issueTokens();
      const headers = { authorization: `Bearer ${t.accessToken}` };
      expect((await fetch(`${small.url}${DESCRIBE}`, { headers })).status).to.equal(200);
      const over = await fetch(`${small.url}${DESCRIBE}`, { headers });
      expect(over.status).to.equal(403);
      expect(await over.json()).to.deep.equal([{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]);
    } finally {
      await small.close();
    }
  });
});
