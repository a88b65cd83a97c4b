// The Salesforce connector: the shared connector contract and the issue's own cases with nock
// (instance https://acme.my.salesforce.com, login https://login.salesforce.com; nock answers,
// nothing leaves the machine), then the same connector against the loopback fake
// (test/fakes/salesforce-crm.ts), which also proves the fake good enough for end-to-end tests.
import { expect } from 'chai';
import nock from 'nock';
import {
  buildAuthorizeUrl,
  clearFieldCache,
  exchangeCode,
  salesforceConfigSchema,
  salesforceConnector,
  type SalesforceConfig,
  type SalesforceCredentials,
  type SalesforceSettings,
} from '../../connectors/salesforce/index.js';
import type { ConnectorError, ConnectorContext, ConnectorSettings, DeliveryRecord } from '../../connectors/types.js';
import { makeSampleLead, makeSampleRecord, makeTestContext, testCrmSettings } from '../helpers/sample-lead.js';
import { startFakeSalesforce, type FakeSalesforce } from '../fakes/salesforce-crm.js';
import { expectConnectorError, recordThrownErrors, runConnectorContract } from './connector-contract.js';

const INSTANCE = 'https://acme.my.salesforce.com';
const LOGIN = 'https://login.salesforce.com';
const SANDBOX_LOGIN = 'https://test.salesforce.com';
const API = '/services/data/v62.0';
const DESCRIBE = `${API}/sobjects/Lead/describe`;
const LEADGEN_ID = '1234567890123456789';
const UPSERT = `${API}/sobjects/Lead/FB_Lead_Id__c/${LEADGEN_ID}`;
const TOKEN = '/services/oauth2/token';

const ACCESS = '00Dacme000000001!AQ4AQLrVZ1Xg.old-access';
const NEW_ACCESS = '00Dacme000000001!AQ4AQMnewAccessTokenValue';
const REFRESH = '5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJvold';
const ROTATED_REFRESH = '5Aep861RotatedRefreshTokenAfterRefreshNew';
const SECRETS = [ACCESS, NEW_ACCESS, REFRESH, ROTATED_REFRESH, testCrmSettings.salesforce.clientSecret];

const MATCHED_ID = '00Q5g00000AbCdEEAZ';
const CREATED_ID = '00Q5g00000NewLeadA';

type SalesforceTestContext = ConnectorContext<SalesforceConfig, SalesforceCredentials, SalesforceSettings> & {
  saved: SalesforceCredentials[];
  stateValue: Record<string, unknown> | null;
};

let destinationCount = 0;
/** Every context gets its own destination: its own id and a fresh ctx.memory (describe cache, shared refreshes). */
function makeContext(
  config: Partial<SalesforceConfig> = { externalIdField: 'FB_Lead_Id__c' },
  credentials: SalesforceCredentials = { accessToken: ACCESS, refreshToken: REFRESH, instanceUrl: INSTANCE },
  settings: Partial<ConnectorSettings<SalesforceSettings>> = {},
  now: () => number = () => Date.parse('2026-11-20T10:15:02.000Z'),
): SalesforceTestContext {
  const ctx = makeTestContext<SalesforceConfig, SalesforceCredentials, SalesforceSettings>({
    config: salesforceConfigSchema.parse(config),
    credentials,
    settings: { connector: testCrmSettings.salesforce, ...settings },
    now,
  });
  destinationCount += 1;
  ctx.destinationId = `d0000000-0000-4000-8000-${String(destinationCount).padStart(12, '0')}`;
  return ctx;
}

/** Salesforce field names, as a route mapping to Salesforce produces them. */
function sampleRecord(overrides: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return makeSampleRecord({
    fields: { FirstName: 'Zoë', LastName: 'Ångström-Núñez', Email: 'zoe.angstrom@example.com', Phone: '+447700900123' },
    ...overrides,
  });
}

interface DescribeOptions {
  leadSourceValues?: string[];
  isLeadSourceRestricted?: boolean;
  hasExternalIdField?: boolean;
  extraFields?: Record<string, unknown>[];
}

function fieldJson(name: string, type: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    label: name.replace(/__c$/, '').replace(/_/g, ' '),
    type,
    length: 0,
    nillable: true,
    createable: true,
    updateable: true,
    defaultedOnCreate: false,
    externalId: false,
    idLookup: false,
    unique: false,
    custom: name.endsWith('__c'),
    calculated: false,
    restrictedPicklist: false,
    picklistValues: [],
    referenceTo: [],
    ...extra,
  };
}

function picklistValues(values: string[], inactive: string[] = []) {
  return [
    ...values.map((v) => ({ active: true, defaultValue: false, label: v, value: v, validFor: null })),
    ...inactive.map((v) => ({ active: false, defaultValue: false, label: v, value: v, validFor: null })),
  ];
}

function leadDescribe(opts: DescribeOptions = {}) {
  const fields = [
    fieldJson('Id', 'id', { length: 18, nillable: false, createable: false, defaultedOnCreate: true }),
    fieldJson('LastName', 'string', { length: 80, nillable: false }),
    fieldJson('FirstName', 'string', { length: 40 }),
    fieldJson('Company', 'string', { length: 255, nillable: false }),
    fieldJson('Email', 'email', { length: 80 }),
    fieldJson('Phone', 'phone', { length: 40 }),
    fieldJson('LeadSource', 'picklist', {
      length: 255,
      restrictedPicklist: opts.isLeadSourceRestricted ?? true,
      picklistValues: picklistValues(opts.leadSourceValues ?? ['Web', 'Other', 'Facebook Lead Ads', 'Instagram Lead Ads'], ['Trade Show']),
    }),
    fieldJson('Status', 'picklist', { nillable: false, defaultedOnCreate: true, picklistValues: picklistValues(['Open - Not Contacted']) }),
    fieldJson('Description', 'textarea', { length: 32000 }),
    fieldJson('NumberOfEmployees', 'int'),
    fieldJson('AnnualRevenue', 'currency'),
    fieldJson('Website', 'url', { length: 255 }),
    fieldJson('OwnerId', 'reference', { nillable: false, defaultedOnCreate: true, referenceTo: ['User', 'Group'] }),
    fieldJson('HasOptedOutOfEmail', 'boolean', { nillable: false, defaultedOnCreate: true }),
    fieldJson('CreatedDate', 'datetime', { nillable: false, createable: false, defaultedOnCreate: true }),
    ...(opts.hasExternalIdField === false ? [] : [fieldJson('FB_Lead_Id__c', 'string', { length: 40, externalId: true, idLookup: true, unique: true })]),
    ...(opts.extraFields ?? []),
  ];
  return { name: 'Lead', label: 'Lead', keyPrefix: '00Q', fields, recordTypeInfos: [] };
}

function sfErrors(errorCode: string, message: string, fields: string[] = []) {
  return [{ message, errorCode, fields }];
}

function duplicateBody(matchId: string | null, entityType = 'Lead') {
  return [
    {
      duplicateResult: {
        allowSave: false,
        duplicateRule: 'Standard_Rule_for_Leads_with_Duplicate_Leads',
        duplicateRuleEntityType: 'Lead',
        errorMessage: 'Use one of these records?',
        matchResults: [
          {
            entityType,
            errors: [],
            matchEngine: 'FuzzyMatchEngine',
            matchRecords:
              matchId === null
                ? []
                : [{ additionalInformation: [], fieldDiffs: [], matchConfidence: 95, record: { attributes: { type: entityType }, Id: matchId } }],
            rule: 'Standard_Lead_Match_Rule_v1_0',
            size: matchId === null ? 0 : 1,
            success: true,
          },
        ],
      },
      errorCode: 'DUPLICATES_DETECTED',
      message: 'Use one of these records?',
    },
  ];
}

/** nock forwards an error to the request only when it looks like a Node system error. */
function connectionReset(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
}

const instance = () => nock(INSTANCE);
const describeOk = (opts: DescribeOptions = {}) => instance().get(DESCRIBE).reply(200, leadDescribe(opts));

/** Every error a connector call threw in this file: none may carry a secret or lead data in its message. */
const { connector: recordingConnector, thrownErrors } = recordThrownErrors(salesforceConnector);

describe('salesforce connector (nock)', () => {
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

  runConnectorContract('salesforce', recordingConnector, {
    makeContext: () => makeContext(),
    sampleRecord: () => sampleRecord(),
    // Salesforce answers its daily allocation with 403 REQUEST_LIMIT_EXCEEDED and no Retry-After
    // (only Sforce-Limit-Info): the connector waits the documented hour.
    rateLimit: { answer: '403 REQUEST_LIMIT_EXCEEDED TotalRequests, no Retry-After', reason: 'salesforce_daily_request_limit', retryAfterMs: 3_600_000 },
    arrange(scenario) {
      if (scenario.kind === 'unauthorized') {
        instance().get(DESCRIBE).reply(401, sfErrors('INVALID_SESSION_ID', 'Session expired or invalid'));
        nock(LOGIN).post(TOKEN).reply(400, { error: 'invalid_grant', error_description: 'expired access/refresh token' });
        return;
      }
      describeOk();
      const upsert = instance().patch(UPSERT);
      switch (scenario.kind) {
        case 'created':
          upsert.reply(201, { id: scenario.externalId, success: true, errors: [], created: true });
          return;
        case 'updated':
          upsert.reply(200, { id: scenario.externalId, success: true, errors: [], created: false });
          return;
        case 'rate_limited':
          upsert.reply(403, sfErrors('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'), { 'Sforce-Limit-Info': 'api-usage=15000/15000' });
          return;
        case 'invalid':
          upsert.reply(400, sfErrors('INVALID_FIELD', "No such column 'favorite_color' on sobject of type Lead", ['favorite_color']));
          return;
        case 'server_error':
          upsert.reply(scenario.status, sfErrors('SERVER_UNAVAILABLE', 'Server temporarily unavailable'));
          return;
        case 'connection_reset':
          upsert.replyWithError(connectionReset());
          return;
      }
    },
    reset: () => undefined,
  });

  describe('idempotent delivery', () => {
    it("upserts on the external id field with Meta's leadgen id, and a repeat updates the same record", async () => {
      const ctx = makeContext();
      describeOk();
      const bodies: unknown[] = [];
      instance()
        .patch(UPSERT, (body) => {
          bodies.push(body);
          return true;
        })
        .reply(201, { id: CREATED_ID, success: true, errors: [], created: true });
      instance()
        .patch(UPSERT, (body) => {
          bodies.push(body);
          return true;
        })
        .reply(200, { id: CREATED_ID, success: true, errors: [], created: false });

      const first = await recordingConnector.deliver(ctx, sampleRecord());
      const second = await recordingConnector.deliver(ctx, sampleRecord());
      expect(first).to.include({ externalId: CREATED_ID, action: 'created', url: `${INSTANCE}/lightning/r/Lead/${CREATED_ID}/view`, httpStatus: 201 });
      expect(second).to.include({ externalId: CREATED_ID, action: 'updated', httpStatus: 200 });
      // The external id travels in the URL, not in the body; the body is the same both times.
      expect(bodies[0]).to.deep.equal(bodies[1]);
      expect(bodies[0]).to.not.have.property('FB_Lead_Id__c');
      expect(bodies[0]).to.include({ FirstName: 'Zoë', LastName: 'Ångström-Núñez', Email: 'zoe.angstrom@example.com', LeadSource: 'Instagram Lead Ads' });
    });

    it('finds an External ID field named like a Facebook lead id when none is configured', async () => {
      const ctx = makeContext({});
      instance()
        .get(DESCRIBE)
        .reply(
          200,
          leadDescribe({
            hasExternalIdField: false,
            extraFields: [fieldJson('Facebook_Lead_ID__c', 'string', { length: 40, externalId: true, unique: true })],
          }),
        );
      instance().patch(`${API}/sobjects/Lead/Facebook_Lead_ID__c/${LEADGEN_ID}`).reply(201, { id: CREATED_ID, success: true, errors: [], created: true });
      const result = await recordingConnector.deliver(ctx, sampleRecord());
      expect(result).to.include({ externalId: CREATED_ID, action: 'created' });
    });

    it('creates when there is no external id field, and a retry of the same delivery updates that record', async () => {
      const ctx = makeContext({});
      instance()
        .get(DESCRIBE)
        .reply(200, leadDescribe({ hasExternalIdField: false }));
      let createBody: Record<string, unknown> = {};
      instance()
        .post(`${API}/sobjects/Lead`, (body) => {
          createBody = body;
          return true;
        })
        .reply(201, { id: CREATED_ID, success: true, errors: [] });
      const first = await recordingConnector.deliver(ctx, sampleRecord());
      expect(first).to.include({ externalId: CREATED_ID, action: 'created' });
      expect(createBody).to.include({ LastName: 'Ångström-Núñez', Company: '[not provided]' });
      expect(ctx.stateValue).to.deep.equal({ salesforceId: CREATED_ID, sobject: 'Lead' });

      // Update by id answers 204 No Content.
      instance().patch(`${API}/sobjects/Lead/${CREATED_ID}`).reply(204);
      const again = await recordingConnector.deliver(ctx, sampleRecord());
      expect(again).to.include({ externalId: CREATED_ID, action: 'updated' });
    });

    it('creates again when the remembered record was deleted in Salesforce since', async () => {
      const ctx = makeContext({});
      ctx.stateValue = { salesforceId: MATCHED_ID, sobject: 'Lead' };
      instance()
        .get(DESCRIBE)
        .reply(200, leadDescribe({ hasExternalIdField: false }));
      instance().patch(`${API}/sobjects/Lead/${MATCHED_ID}`).reply(404, sfErrors('ENTITY_IS_DELETED', 'entity is deleted'));
      instance().post(`${API}/sobjects/Lead`).reply(201, { id: CREATED_ID, success: true, errors: [] });
      const result = await recordingConnector.deliver(ctx, sampleRecord());
      expect(result).to.include({ externalId: CREATED_ID, action: 'created' });
      expect(ctx.stateValue).to.deep.equal({ salesforceId: CREATED_ID, sobject: 'Lead' });
    });

    it('refuses a configured external id field that is not an External ID field, as auth (a settings problem)', async () => {
      const ctx = makeContext({ externalIdField: 'Website' });
      describeOk();
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'auth', reason: 'salesforce_external_id_field_invalid', field: 'Website' });
      expect(err.crmMessage).to.contain('External ID');
    });
  });

  describe('duplicate rules', () => {
    it('updates the record the duplicate rule matched, keeping its name, company and source, and appending to its Description', async () => {
      const ctx = makeContext();
      describeOk();
      instance().patch(UPSERT).reply(400, duplicateBody(MATCHED_ID));
      instance()
        .get(`${API}/sobjects/Lead/${MATCHED_ID}`)
        .query({ fields: 'Description' })
        .reply(200, { attributes: { type: 'Lead' }, Id: MATCHED_ID, Description: 'Met at the spring fair.' });
      let updateBody: Record<string, unknown> = {};
      instance()
        .patch(`${API}/sobjects/Lead/${MATCHED_ID}`, (body) => {
          updateBody = body;
          return true;
        })
        .reply(204);
      const record = sampleRecord({ fields: { Email: 'zoe.angstrom@example.com', FirstName: 'Zoë' } });
      const result = await recordingConnector.deliver(ctx, record);
      expect(result).to.include({ externalId: MATCHED_ID, action: 'updated', url: `${INSTANCE}/lightning/r/Lead/${MATCHED_ID}/view` });
      expect(updateBody).to.include({ Email: 'zoe.angstrom@example.com', FirstName: 'Zoë' });
      expect(updateBody).to.not.have.any.keys('LastName', 'Company', 'LeadSource', 'FB_Lead_Id__c', 'Id');
      expect(updateBody.Description).to.equal('Met at the spring fair.\n\nfavorite_color?: blue, green');
    });

    it('without an external id field, updates the match and does not remember it as a record of its own', async () => {
      const ctx = makeContext({});
      instance()
        .get(DESCRIBE)
        .reply(200, leadDescribe({ hasExternalIdField: false }));
      instance().post(`${API}/sobjects/Lead`).reply(400, duplicateBody(MATCHED_ID));
      instance()
        .get(`${API}/sobjects/Lead/${MATCHED_ID}`)
        .query({ fields: 'Description' })
        .reply(200, { attributes: { type: 'Lead' }, Id: MATCHED_ID, Description: null });
      let updateBody: Record<string, unknown> = {};
      instance()
        .patch(`${API}/sobjects/Lead/${MATCHED_ID}`, (body) => {
          updateBody = body;
          return true;
        })
        .reply(204);
      const result = await recordingConnector.deliver(ctx, sampleRecord());
      expect(result).to.include({ externalId: MATCHED_ID, action: 'updated' });
      expect(updateBody).to.include({ LastName: 'Ångström-Núñez', Description: 'favorite_color?: blue, green' });
      expect(updateBody).to.not.have.any.keys('Company', 'LeadSource');
      expect(ctx.stateValue).to.equal(null);
    });

    it('sends the allowSave duplicate-rule header when the destination opts in', async () => {
      const ctx = makeContext({ externalIdField: 'FB_Lead_Id__c', allowSaveOnDuplicate: true });
      describeOk();
      instance()
        .patch(UPSERT)
        .matchHeader('sforce-duplicate-rule-header', /allowSave=true/)
        .reply(201, { id: CREATED_ID, success: true, errors: [], created: true });
      const result = await recordingConnector.deliver(ctx, sampleRecord());
      expect(result.action).to.equal('created');
    });

    it("reports a duplicate without a matched record of the same object as invalid, in Salesforce's words", async () => {
      const ctx = makeContext({});
      instance()
        .get(DESCRIBE)
        .reply(200, leadDescribe({ hasExternalIdField: false }));
      // A Lead rule that matched a Contact: that record must not be PATCHed as a Lead.
      instance().post(`${API}/sobjects/Lead`).reply(400, duplicateBody('0035g00000XyZabAAB', 'Contact'));
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'invalid', reason: 'salesforce_duplicates_detected', crmMessage: 'Use one of these records?' });
    });
  });

  describe('fields', () => {
    it('fills missing LastName and Company with the configured placeholders', async () => {
      const ctx = makeContext({ externalIdField: 'FB_Lead_Id__c', defaultCompany: 'Unknown company' });
      describeOk();
      let body: Record<string, unknown> = {};
      instance()
        .patch(UPSERT, (b) => {
          body = b;
          return true;
        })
        .reply(201, { id: CREATED_ID, success: true, errors: [], created: true });
      await recordingConnector.deliver(ctx, sampleRecord({ fields: { Email: 'zoe.angstrom@example.com', LastName: '  ', Company: null } }));
      expect(body).to.include({ LastName: '[not provided]', Company: 'Unknown company', Email: 'zoe.angstrom@example.com' });
    });

    it('writes a Contact with LastName but no Company', async () => {
      const ctx = makeContext({ sobject: 'Contact', externalIdField: 'FB_Lead_Id__c' });
      const contactDescribe = { ...leadDescribe(), name: 'Contact' };
      instance().get(`${API}/sobjects/Contact/describe`).reply(200, contactDescribe);
      let body: Record<string, unknown> = {};
      instance()
        .patch(`${API}/sobjects/Contact/FB_Lead_Id__c/${LEADGEN_ID}`, (b) => {
          body = b;
          return true;
        })
        .reply(201, { id: '0035g00000NewConAB', success: true, errors: [], created: true });
      const result = await recordingConnector.deliver(ctx, sampleRecord({ fields: { Email: 'zoe.angstrom@example.com' } }));
      expect(result.url).to.equal(`${INSTANCE}/lightning/r/Contact/0035g00000NewConAB/view`);
      expect(body).to.include({ LastName: '[not provided]' });
      expect(body).to.not.have.property('Company');
    });

    it('puts the source into Description when the restricted LeadSource picklist lacks it', async () => {
      const ctx = makeContext();
      describeOk({ leadSourceValues: ['Web', 'Other'] });
      let body: Record<string, unknown> = {};
      instance()
        .patch(UPSERT, (b) => {
          body = b;
          return true;
        })
        .reply(201, { id: CREATED_ID, success: true, errors: [], created: true });
      await recordingConnector.deliver(ctx, sampleRecord());
      expect(body).to.not.have.property('LeadSource');
      expect(body.Description).to.equal('Lead source: Instagram Lead Ads\n\nfavorite_color?: blue, green');
    });

    it('sets LeadSource on an unrestricted picklist, and leaves mapped LeadSource and Description alone', async () => {
      const ctx = makeContext();
      describeOk({ leadSourceValues: ['Web'], isLeadSourceRestricted: false });
      const bodies: Record<string, unknown>[] = [];
      instance()
        .patch(UPSERT, (b) => {
          bodies.push(b);
          return true;
        })
        .times(2)
        .reply(201, { id: CREATED_ID, success: true, errors: [], created: true });
      const facebookLead = makeSampleLead({ platform: 'fb' });
      await recordingConnector.deliver(ctx, sampleRecord({ lead: facebookLead }));
      await recordingConnector.deliver(
        ctx,
        sampleRecord({ lead: facebookLead, fields: { LastName: 'Ångström', leadsource: 'Web', Description: 'From the mapping' } }),
      );
      expect(bodies[0]).to.include({ LeadSource: 'Facebook Lead Ads', Description: 'favorite_color?: blue, green' });
      expect(bodies[1]).to.include({ leadsource: 'Web', Description: 'From the mapping' });
      expect(bodies[1]).to.not.have.property('LeadSource');
    });

    it('describes createable fields with types, required flags, lengths, active options and external ids', async () => {
      const ctx = makeContext();
      describeOk();
      const fields = await recordingConnector.describeFields(ctx);
      const byKey = Object.fromEntries(fields.map((f) => [f.key, f]));
      expect(Object.keys(byKey)).to.not.include.members(['Id', 'CreatedDate']);
      expect(byKey.LastName).to.include({ type: 'string', required: true, length: 80 });
      expect(byKey.Company).to.include({ required: true });
      expect(byKey.Email).to.include({ type: 'email', required: false });
      expect(byKey.Phone.type).to.equal('phone');
      expect(byKey.Description).to.include({ type: 'text', length: 32000 });
      expect(byKey.LeadSource.type).to.equal('enum');
      expect(byKey.LeadSource.options?.map((o) => o.value)).to.deep.equal(['Web', 'Other', 'Facebook Lead Ads', 'Instagram Lead Ads']);
      expect(byKey.Status).to.include({ required: false });
      expect(byKey.HasOptedOutOfEmail).to.include({ type: 'boolean', required: false });
      expect(byKey.OwnerId).to.include({ type: 'id', required: false });
      expect(byKey.NumberOfEmployees.type).to.equal('number');
      expect(byKey.AnnualRevenue.type).to.equal('number');
      expect(byKey.Website.type).to.equal('url');
      expect(byKey.FB_Lead_Id__c).to.include({ isExternalId: true, required: false });
    });

    it('reuses a describe for 5 minutes per destination, and again after clearFieldCache', async () => {
      let nowMs = Date.parse('2026-11-20T10:15:02.000Z');
      const ctx = makeContext(undefined, undefined, {}, () => nowMs);
      describeOk();
      await recordingConnector.describeFields(ctx);
      await recordingConnector.describeFields(ctx); // cached: no second interceptor needed
      nowMs += 5 * 60_000 + 1;
      describeOk();
      await recordingConnector.describeFields(ctx);
      clearFieldCache(ctx.memory);
      describeOk();
      await recordingConnector.describeFields(ctx);
    });

    it('verifies with a fresh describe and refuses a configured field that does not exist', async () => {
      const ctx = makeContext();
      describeOk();
      await recordingConnector.verify(ctx);
      const missing = makeContext({ externalIdField: 'Missing_Field__c' });
      describeOk();
      const err = await expectConnectorError(recordingConnector.verify(missing));
      expect(err).to.include({ kind: 'auth', reason: 'salesforce_external_id_field_invalid' });
    });
  });

  describe('session refresh', () => {
    it('refreshes after a 401, replays with the new token and saves it at once', async () => {
      const ctx = makeContext();
      describeOk();
      instance().patch(UPSERT).matchHeader('authorization', `Bearer ${ACCESS}`).reply(401, sfErrors('INVALID_SESSION_ID', 'Session expired or invalid'));
      let tokenForm: Record<string, string> = {};
      nock(LOGIN)
        .post(TOKEN, (body) => {
          tokenForm = body;
          return true;
        })
        .reply(200, {
          access_token: NEW_ACCESS,
          instance_url: INSTANCE,
          id: `${LOGIN}/id/00Dacme/005acme`,
          token_type: 'Bearer',
          issued_at: '1763633702000',
          signature: 'sig',
        });
      instance().patch(UPSERT).matchHeader('authorization', `Bearer ${NEW_ACCESS}`).reply(201, { id: CREATED_ID, success: true, errors: [], created: true });
      const result = await recordingConnector.deliver(ctx, sampleRecord());
      expect(result).to.include({ externalId: CREATED_ID, action: 'created' });
      expect(tokenForm).to.deep.equal({ grant_type: 'refresh_token', refresh_token: REFRESH, client_id: 'sf-client', client_secret: 'sf-secret' });
      expect(ctx.saved).to.deep.equal([{ accessToken: NEW_ACCESS, refreshToken: REFRESH, instanceUrl: INSTANCE }]);
    });

    it('stores a rotated refresh token, which jsforce itself drops', async () => {
      const ctx = makeContext();
      instance().get(DESCRIBE).reply(401, sfErrors('INVALID_SESSION_ID', 'Session expired or invalid'));
      nock(LOGIN).post(TOKEN).reply(200, { access_token: NEW_ACCESS, refresh_token: ROTATED_REFRESH, instance_url: INSTANCE, token_type: 'Bearer' });
      instance().get(DESCRIBE).matchHeader('authorization', `Bearer ${NEW_ACCESS}`).reply(200, leadDescribe());
      instance().patch(UPSERT).matchHeader('authorization', `Bearer ${NEW_ACCESS}`).reply(201, { id: CREATED_ID, success: true, errors: [], created: true });
      await recordingConnector.deliver(ctx, sampleRecord());
      expect(ctx.saved).to.deep.equal([{ accessToken: NEW_ACCESS, refreshToken: ROTATED_REFRESH, instanceUrl: INSTANCE }]);
    });

    it("refreshes against the destination's sandbox login URL", async () => {
      const ctx = makeContext({ externalIdField: 'FB_Lead_Id__c', loginUrl: SANDBOX_LOGIN });
      instance().get(DESCRIBE).reply(401, sfErrors('INVALID_SESSION_ID', 'Session expired or invalid'));
      nock(SANDBOX_LOGIN).post(TOKEN).reply(400, { error: 'invalid_grant', error_description: 'expired access/refresh token' });
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'auth', reason: 'salesforce_refresh_revoked', crmMessage: 'expired access/refresh token', httpStatus: 400 });
      expect(ctx.saved).to.deep.equal([]);
    });

    it('stops after one refresh when Salesforce keeps refusing the new session', async () => {
      const ctx = makeContext();
      instance().get(DESCRIBE).reply(401, sfErrors('INVALID_SESSION_ID', 'Session expired or invalid'));
      nock(LOGIN).post(TOKEN).reply(200, { access_token: NEW_ACCESS, instance_url: INSTANCE });
      instance().get(DESCRIBE).reply(401, sfErrors('INVALID_SESSION_ID', 'Session expired or invalid'));
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'auth', reason: 'salesforce_session_rejected' });
    });

    it('reports an unreachable login host during a refresh as retryable, not auth', async () => {
      const ctx = makeContext();
      instance().get(DESCRIBE).reply(401, sfErrors('INVALID_SESSION_ID', 'Session expired or invalid'));
      nock(LOGIN).post(TOKEN).reply(503, '<html>Service Unavailable</html>');
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'retryable', reason: 'salesforce_oauth_status_code_503' });
    });

    it('shares one refresh between deliveries of the same destination holding the same refresh token', async () => {
      const first = makeContext();
      const second = makeContext();
      // One destination in one App: the same id and the same memory.
      second.destinationId = first.destinationId;
      second.memory = first.memory;
      describeOk();
      instance()
        .patch(UPSERT)
        .matchHeader('authorization', `Bearer ${ACCESS}`)
        .times(2)
        .reply(401, sfErrors('INVALID_SESSION_ID', 'Session expired or invalid'));
      nock(LOGIN).post(TOKEN).once().reply(200, { access_token: NEW_ACCESS, refresh_token: ROTATED_REFRESH, instance_url: INSTANCE });
      instance()
        .patch(UPSERT)
        .matchHeader('authorization', `Bearer ${NEW_ACCESS}`)
        .times(2)
        .reply(200, { id: CREATED_ID, success: true, errors: [], created: false });
      await recordingConnector.deliver(first, sampleRecord());
      await recordingConnector.deliver(second, sampleRecord());
      expect(first.saved[0]).to.include({ accessToken: NEW_ACCESS, refreshToken: ROTATED_REFRESH });
      expect(second.saved[0]).to.include({ accessToken: NEW_ACCESS, refreshToken: ROTATED_REFRESH });
    });

    it('reports refreshed credentials it could not store as retryable', async () => {
      const ctx = makeContext();
      ctx.saveCredentials = async () => {
        throw new Error('database is down');
      };
      describeOk();
      instance().patch(UPSERT).reply(401, sfErrors('INVALID_SESSION_ID', 'Session expired or invalid'));
      nock(LOGIN).post(TOKEN).reply(200, { access_token: NEW_ACCESS, instance_url: INSTANCE });
      instance().patch(UPSERT).reply(200, { id: CREATED_ID, success: true, errors: [], created: false });
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'retryable', reason: 'salesforce_credentials_not_saved' });
    });
  });

  describe('failures', () => {
    it("reports a missing required field as invalid with Salesforce's message and the field", async () => {
      const ctx = makeContext();
      describeOk();
      instance()
        .patch(UPSERT)
        .reply(400, sfErrors('REQUIRED_FIELD_MISSING', 'Required fields are missing: [Industry]', ['Industry']));
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({
        kind: 'invalid',
        reason: 'salesforce_required_field_missing',
        field: 'Industry',
        crmMessage: 'Required fields are missing: [Industry]',
        httpStatus: 400,
      });
      expect(err.responseBody).to.contain('REQUIRED_FIELD_MISSING');
    });

    it('keeps a value Salesforce echoes in its message out of the error message', async () => {
      const ctx = makeContext();
      describeOk();
      instance()
        .patch(UPSERT)
        .reply(400, sfErrors('INVALID_EMAIL_ADDRESS', 'Email: invalid email address: zoe.angstrom@example', ['Email']));
      const err = await expectConnectorError(
        recordingConnector.deliver(ctx, sampleRecord({ fields: { LastName: 'Ångström', Email: 'zoe.angstrom@example' } })),
      );
      expect(err).to.include({ kind: 'invalid', field: 'Email' });
      expect(err.crmMessage).to.contain('invalid email address');
      expect(err.message).to.equal('invalid: salesforce_invalid_email_address');
    });

    it('reports 403 TotalRequests (no Retry-After) as rate_limited for an hour, ConcurrentRequests for 30 s', async () => {
      const ctx = makeContext();
      describeOk();
      instance().patch(UPSERT).reply(403, sfErrors('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'));
      const daily = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(daily).to.include({ kind: 'rate_limited', reason: 'salesforce_daily_request_limit', retryAfterMs: 3_600_000, httpStatus: 403 });
      instance().patch(UPSERT).reply(403, sfErrors('REQUEST_LIMIT_EXCEEDED', 'ConcurrentRequests (Concurrent API Requests) Limit exceeded.'));
      const burst = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(burst).to.include({ kind: 'rate_limited', reason: 'salesforce_concurrent_requests_limit', retryAfterMs: 30_000 });
    });

    it('reports a 5xx with an HTML body as retryable without the page as crmMessage', async () => {
      const ctx = makeContext();
      describeOk();
      instance().patch(UPSERT).reply(500, '<html><body>Internal Server Error</body></html>', { 'content-type': 'text/html' });
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'retryable', reason: 'status_code_500', httpStatus: 500 });
      expect(err.crmMessage).to.equal(undefined);
    });

    it('reports a 503 on describe at once: jsforce retries no GET of ours', async () => {
      const ctx = makeContext();
      let calls = 0;
      instance()
        .get(DESCRIBE)
        .times(6)
        .reply(() => {
          calls += 1;
          return [503, sfErrors('SERVER_UNAVAILABLE', 'Server temporarily unavailable')];
        });
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'retryable', reason: 'status_code_503' });
      expect(calls).to.equal(1);
      nock.cleanAll(); // the five unused answers are the point of this test
    });

    it('reports a reset connection on describe as retryable', async () => {
      const ctx = makeContext();
      instance().get(DESCRIBE).replyWithError(connectionReset());
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'retryable', reason: 'network_econnreset' });
    });

    it('reports a request that outlives the timeout as retryable', async () => {
      const ctx = makeContext(undefined, undefined, { timeoutMs: 50 });
      describeOk();
      instance().patch(UPSERT).delay(2_000).reply(201, { id: CREATED_ID, success: true, errors: [], created: true });
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'retryable', reason: 'timeout' });
      nock.abortPendingRequests();
    });

    it('parks a destination whose stored credentials are unusable', async () => {
      const ctx = makeContext(undefined, { accessToken: ACCESS, refreshToken: REFRESH, instanceUrl: 'https://acme.lightning.force.com' });
      const err = await expectConnectorError(recordingConnector.deliver(ctx, sampleRecord()));
      expect(err).to.include({ kind: 'auth', reason: 'salesforce_credentials_invalid' });
    });
  });

  describe('oauth', () => {
    it('builds the authorize URL for the production or sandbox login host', () => {
      const url = new URL(
        buildAuthorizeUrl({
          loginUrl: `${SANDBOX_LOGIN}/`,
          clientId: 'sf-client',
          redirectUri: 'https://relay.example.com/oauth/salesforce/callback',
          state: 'st-123',
        }),
      );
      expect(url.origin + url.pathname).to.equal(`${SANDBOX_LOGIN}/services/oauth2/authorize`);
      expect(Object.fromEntries(url.searchParams)).to.deep.equal({
        response_type: 'code',
        client_id: 'sf-client',
        redirect_uri: 'https://relay.example.com/oauth/salesforce/callback',
        scope: 'api refresh_token',
        state: 'st-123',
      });
    });

    it('exchanges a code for credentials that keep the instance URL', async () => {
      let form: Record<string, string> = {};
      nock(LOGIN)
        .post(TOKEN, (body) => {
          form = body;
          return true;
        })
        .reply(200, {
          access_token: NEW_ACCESS,
          refresh_token: REFRESH,
          instance_url: `${INSTANCE}/`,
          id: `${LOGIN}/id/00D/005`,
          token_type: 'Bearer',
          scope: 'api refresh_token',
        });
      const credentials = await exchangeCode({
        loginUrl: LOGIN,
        clientId: 'sf-client',
        clientSecret: 'sf-secret',
        redirectUri: 'https://relay.example.com/cb',
        code: 'aPrxCode',
      });
      expect(credentials).to.deep.equal({ accessToken: NEW_ACCESS, refreshToken: REFRESH, instanceUrl: INSTANCE });
      expect(form).to.deep.equal({
        grant_type: 'authorization_code',
        code: 'aPrxCode',
        client_id: 'sf-client',
        client_secret: 'sf-secret',
        redirect_uri: 'https://relay.example.com/cb',
      });
    });

    it('refuses an exchange that yields no refresh token, and an expired code, as auth', async () => {
      nock(LOGIN).post(TOKEN).reply(200, { access_token: NEW_ACCESS, instance_url: INSTANCE });
      const noRefresh = await expectConnectorError(
        exchangeCode({ loginUrl: LOGIN, clientId: 'c', clientSecret: 's', redirectUri: 'https://r.example.com/cb', code: 'x' }),
      );
      expect(noRefresh).to.include({ kind: 'auth', reason: 'salesforce_no_refresh_token' });
      nock(LOGIN).post(TOKEN).reply(400, { error: 'invalid_grant', error_description: 'invalid authorization code' });
      const expired = await expectConnectorError(
        exchangeCode({ loginUrl: LOGIN, clientId: 'c', clientSecret: 's', redirectUri: 'https://r.example.com/cb', code: 'x' }),
      );
      expect(expired).to.include({ kind: 'auth', reason: 'salesforce_oauth_invalid_grant', crmMessage: 'invalid authorization code' });
    });
  });

  describe('secrets', () => {
    it('no error thrown in this file carries a token, the client secret or lead answers in its message', () => {
      expect(thrownErrors.length, 'the tests above threw errors').to.be.greaterThan(10);
      const personal = ['Zoë', 'Ångström', 'zoe.angstrom', '+447700900123', '7700 900123'];
      for (const err of thrownErrors) {
        const e = err as ConnectorError;
        for (const secret of SECRETS) {
          expect(e.message).to.not.contain(secret);
          expect(e.crmMessage ?? '').to.not.contain(secret);
          expect(e.responseBody ?? '').to.not.contain(secret);
        }
        for (const value of personal) expect(e.message).to.not.contain(value);
      }
    });
  });
});

describe('salesforce connector against the loopback fake', () => {
  let fake: FakeSalesforce;

  before(() => {
    nock.enableNetConnect('127.0.0.1');
  });
  after(() => {
    // Back to no restriction, as the file found it: a later file in this worker may reach
    // other loopback names.
    nock.enableNetConnect();
  });
  beforeEach(async () => {
    fake = await startFakeSalesforce({ clientId: 'sf-client', clientSecret: 'sf-secret', rotateRefreshTokens: true });
  });
  afterEach(async () => {
    await fake.close();
  });

  function fakeContext(config: Partial<SalesforceConfig> = { externalIdField: 'FB_Lead_Id__c' }) {
    const tokens = fake.issueTokens();
    return makeContext(config, tokens, { connector: { ...testCrmSettings.salesforce, loginUrl: fake.url } });
  }

  it('creates a Lead, updates it on a repeat, and serves the describe', async () => {
    const ctx = fakeContext();
    const fields = await salesforceConnector.describeFields(ctx);
    expect(fields.find((f) => f.key === 'FB_Lead_Id__c')?.isExternalId).to.equal(true);
    expect(fields.find((f) => f.key === 'Company')?.required).to.equal(true);

    const first = await salesforceConnector.deliver(ctx, sampleRecord());
    const second = await salesforceConnector.deliver(ctx, sampleRecord({ fields: { LastName: 'Ångström-Núñez', City: 'Bristol' } }));
    expect(first.action).to.equal('created');
    expect(first.externalId).to.match(/^00Q[a-zA-Z0-9]{15}$/);
    expect(second).to.include({ action: 'updated', externalId: first.externalId });
    expect(fake.leads.size).to.equal(1);
    expect(fake.leadByExternalId(LEADGEN_ID)).to.include({
      Id: first.externalId,
      LastName: 'Ångström-Núñez',
      Company: '[not provided]',
      LeadSource: 'Instagram Lead Ads',
      City: 'Bristol',
      Email: 'zoe.angstrom@example.com',
    });
  });

  it('refreshes an expired session, stores the rotated refresh token, and the old one is spent', async () => {
    const ctx = fakeContext();
    const oldRefresh = ctx.credentials.refreshToken;
    fake.expireAccessTokens();
    const result = await salesforceConnector.deliver(ctx, sampleRecord());
    expect(result.action).to.equal('created');
    expect(ctx.saved).to.have.length(1);
    expect(fake.validAccessTokens.has(ctx.saved[0].accessToken)).to.equal(true);
    expect(fake.refreshTokens.has(ctx.saved[0].refreshToken)).to.equal(true);
    expect(fake.refreshTokens.has(oldRefresh)).to.equal(false);
    expect(ctx.saved[0].instanceUrl).to.equal(fake.url);
  });

  it('completes the web-server flow: authorize redirect, code exchange, then a delivery with those credentials', async () => {
    const authorizeUrl = buildAuthorizeUrl({
      loginUrl: fake.url,
      clientId: 'sf-client',
      redirectUri: 'http://127.0.0.1:9/oauth/salesforce/callback',
      state: 'st-9',
    });
    const redirect = await fetch(authorizeUrl, { redirect: 'manual' });
    expect(redirect.status).to.equal(302);
    const back = new URL(redirect.headers.get('location') ?? '');
    expect(back.searchParams.get('state')).to.equal('st-9');
    const credentials = await exchangeCode({
      loginUrl: fake.url,
      clientId: 'sf-client',
      clientSecret: 'sf-secret',
      redirectUri: 'http://127.0.0.1:9/oauth/salesforce/callback',
      code: back.searchParams.get('code') ?? '',
    });
    expect(credentials.instanceUrl).to.equal(fake.url);
    const ctx = makeContext({ externalIdField: 'FB_Lead_Id__c' }, credentials, { connector: { ...testCrmSettings.salesforce, loginUrl: fake.url } });
    expect((await salesforceConnector.deliver(ctx, sampleRecord())).action).to.equal('created');
    // A code works once.
    const reused = await expectConnectorError(
      exchangeCode({
        loginUrl: fake.url,
        clientId: 'sf-client',
        clientSecret: 'sf-secret',
        redirectUri: 'http://127.0.0.1:9/cb',
        code: back.searchParams.get('code') ?? '',
      }),
    );
    expect(reused).to.include({ kind: 'auth', reason: 'salesforce_oauth_invalid_grant' });
  });

  it('parks the destination when the refresh token is revoked', async () => {
    const ctx = fakeContext();
    fake.expireAccessTokens();
    fake.refreshTokens.clear();
    const err = await expectConnectorError(salesforceConnector.deliver(ctx, sampleRecord()));
    expect(err).to.include({ kind: 'auth', reason: 'salesforce_refresh_revoked' });
  });

  it("reports the daily limit, a 503 and Salesforce's validation errors", async () => {
    const ctx = fakeContext();
    fake.rateLimitFor(60_000);
    const limited = await expectConnectorError(salesforceConnector.deliver(ctx, sampleRecord()));
    expect(limited).to.include({ kind: 'rate_limited', reason: 'salesforce_daily_request_limit', retryAfterMs: 3_600_000 });
    fake.rateLimitFor(0);

    fake.failNext({ status: 503 });
    const unavailable = await expectConnectorError(salesforceConnector.deliver(ctx, sampleRecord()));
    expect(unavailable).to.include({ kind: 'retryable', reason: 'status_code_503' });

    const badEmail = await expectConnectorError(salesforceConnector.deliver(ctx, sampleRecord({ fields: { LastName: 'Ångström', Email: 'not-an-email' } })));
    expect(badEmail).to.include({ kind: 'invalid', reason: 'salesforce_invalid_email_address', field: 'Email' });

    const unknownField = await expectConnectorError(
      salesforceConnector.deliver(ctx, sampleRecord({ fields: { LastName: 'Ångström', favorite_color: 'blue' } })),
    );
    expect(unknownField).to.include({ kind: 'invalid', reason: 'salesforce_invalid_field', field: 'favorite_color' });
    expect(fake.leads.size).to.equal(0);
  });

  it('finds FB_Lead_Id__c by its name, and resolves a duplicate rule by updating the matched Lead', async () => {
    await fake.close();
    fake = await startFakeSalesforce({ duplicateRuleOnEmail: 'block' });
    const tokens = fake.issueTokens();
    // No externalIdField configured: the describe's FB_Lead_Id__c (External ID) is found by name.
    const ctx = makeContext({}, tokens, { connector: { ...testCrmSettings.salesforce, loginUrl: fake.url } });
    const first = await salesforceConnector.deliver(ctx, sampleRecord());
    expect(first.action).to.equal('created');

    const otherLead = makeSampleLead({ leadgen_id: '9990001112223334445' });
    const second = await salesforceConnector.deliver(
      makeContext({}, tokens, { connector: { ...testCrmSettings.salesforce, loginUrl: fake.url } }),
      sampleRecord({ lead: otherLead, fields: { Email: 'zoe.angstrom@example.com', Title: 'Rider' } }),
    );
    expect(second).to.include({ action: 'updated', externalId: first.externalId });
    expect(fake.leads.size).to.equal(1);
    const lead = fake.leads.get(first.externalId)!;
    expect(lead).to.include({ Title: 'Rider', LastName: 'Ångström-Núñez', FB_Lead_Id__c: LEADGEN_ID });
  });
});
