// The HubSpot connector: the shared connector contract and the issue's own cases with nock
// (HubSpot API on a loopback origin that nock answers), then the same connector against the
// loopback fake (test/fakes/hubspot-crm.ts), which also proves the fake good enough for
// end-to-end tests.
import { expect } from 'chai';
import nock from 'nock';
import {
  buildAuthorizeUrl,
  buildContactUpsertInput,
  clearFieldCache,
  exchangeCode,
  hubspotConnector,
  LEADRELAY_PROPERTIES,
  type HubspotConfig,
  type HubspotCredentials,
  type HubspotOAuthCredentials,
  type HubspotSettings,
} from '../../connectors/hubspot/index.js';
import type { ConnectorContext, ConnectorSettings, DeliveryRecord } from '../../connectors/types.js';
import { makeSampleLead, makeSampleRecord, makeTestContext, testConnectorSettings, testCrmSettings } from '../helpers/sample-lead.js';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { expectConnectorError, recordThrownErrors, runConnectorContract } from './connector-contract.js';

const API = 'http://127.0.0.1:4599';
const UPSERT_PATH = '/crm/v3/objects/contacts/batch/upsert';
const PROPERTIES_PATH = '/crm/v3/properties/contacts';
const GROUPS_PATH = '/crm/v3/properties/contacts/groups';
const TOKEN_PATH = '/oauth/2026-03/token';
const INTROSPECT_PATH = '/oauth/2026-03/token/introspect';
const NOW = Date.parse('2026-11-20T10:15:02.000Z');
const ISO = new Date(NOW).toISOString();

const PAT = 'pat-na1-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const OLD_ACCESS = 'oauth-access-old-CKDZpunPLhICAQEYs';
const NEW_ACCESS = 'oauth-access-new-DLEaqvoQMiJDBRFZt';
const REFRESH = 'oauth-refresh-6f18f26a-3e95-4d95-a6e5';
const SECRETS = [PAT, OLD_ACCESS, NEW_ACCESS, REFRESH, testCrmSettings.hubspot.clientSecret];

type HubspotTestContext = ConnectorContext<HubspotConfig, HubspotCredentials, HubspotSettings> & { saved: HubspotCredentials[] };

let destinationCount = 0;
/** Every context gets its own destination: its own id and a fresh ctx.memory (field cache, token memo). */
function makeContext(
  credentials: HubspotCredentials = { type: 'private_app', accessToken: PAT },
  config: HubspotConfig = {},
  settings: Partial<ConnectorSettings<HubspotSettings>> = {},
  now: () => number = () => NOW,
): HubspotTestContext {
  const ctx = makeTestContext<HubspotConfig, HubspotCredentials, HubspotSettings>({
    config,
    credentials,
    settings: { connector: { ...testCrmSettings.hubspot, apiUrl: API }, ...settings },
    now,
  });
  destinationCount += 1;
  ctx.destinationId = `d0000000-0000-4000-8000-${String(destinationCount).padStart(12, '0')}`;
  return ctx;
}

function oauthCredentials(expiresAt: number, accessToken = OLD_ACCESS): HubspotOAuthCredentials {
  return { type: 'oauth', accessToken, refreshToken: REFRESH, expiresAt };
}

function upsertAnswer(id: string, isNew: boolean) {
  return {
    status: 'COMPLETE',
    results: [{ id, new: isNew, properties: { hs_object_id: id }, createdAt: ISO, updatedAt: ISO, archived: false }],
    startedAt: ISO,
    completedAt: ISO,
  };
}

function legacyValidationBody(message: string, code: string, name: string) {
  return {
    status: 'error',
    message: `Property values were not valid: ${JSON.stringify([{ isValid: false, message, error: code, name, localizedErrorMessage: message }])}`,
    correlationId: '3b7f1f4e-0000-4000-8000-000000000001',
    category: 'VALIDATION_ERROR',
  };
}

const tenSecondlyBody = {
  status: 'error',
  message: 'You have reached your ten_secondly_rolling limit.',
  errorType: 'RATE_LIMIT',
  correlationId: '3b7f1f4e-0000-4000-8000-000000000002',
  policyName: 'TEN_SECONDLY_ROLLING',
};

const expiredBody = {
  status: 'error',
  message: 'The OAuth token used to make this call expired 7 second(s) ago.',
  correlationId: '3b7f1f4e-0000-4000-8000-000000000003',
  category: 'EXPIRED_AUTHENTICATION',
};

/** nock forwards an error to the request only when it looks like a Node system error. */
/** A 200 of the dated token endpoint: an AccessTokenResponse (token_use is required; hub_id, scopes and user_id are not). */
function tokenAnswer(extra: Record<string, unknown> = {}) {
  return { token_type: 'bearer', access_token: NEW_ACCESS, refresh_token: REFRESH, expires_in: 1800, token_use: 'access_token', ...extra };
}

/** A 200 of the introspection endpoint for an access token: a PublicAccessTokenInfoResponse, with its required fields. */
function accessTokenInfo(hubId: number) {
  return {
    active: true,
    token_use: 'access_token',
    token: NEW_ACCESS,
    token_type: 'access',
    hub_id: hubId,
    user_id: 7,
    app_id: 3,
    client_id: testCrmSettings.hubspot.clientId,
    scopes: ['oauth'],
    expires_in: 1800,
    is_private_distribution: false,
    signed_access_token: {
      appId: 3,
      appInstallId: 'install-1',
      audience: 'api',
      expiresAt: NOW + 1_800_000,
      hubId,
      hublet: 'na1',
      installingUserId: 7,
      isPrivateDistribution: false,
      isServiceAccount: false,
      isUserLevel: false,
      newSignature: 'sig',
      scopeToScopeGroupPks: '',
      scopes: 'oauth',
      signature: 'sig',
      trialScopeToScopeGroupPks: '',
      trialScopes: '',
      userId: 7,
    },
  };
}

function connectionReset(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
}

function formOf(body: unknown): Record<string, string> {
  if (typeof body === 'string') return Object.fromEntries(new URLSearchParams(body).entries());
  return (body ?? {}) as Record<string, string>;
}

function propertyJson(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    label: name,
    type: 'string',
    fieldType: 'text',
    description: '',
    groupName: 'contactinformation',
    options: [],
    hidden: false,
    calculated: false,
    hasUniqueValue: false,
    formField: true,
    createdAt: ISO,
    updatedAt: ISO,
    modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: false },
    ...extra,
  };
}

const defaultProperties = ['email', 'firstname', 'lastname', 'phone', 'message'].map((n) => propertyJson(n));
const allLeadRelayProperties = LEADRELAY_PROPERTIES.map((d) => propertyJson(d.name, { groupName: 'leadrelay', hasUniqueValue: d.hasUniqueValue }));

/** Every error a connector call threw in this file: none may carry a secret in its message. */
const { connector: recordingConnector, thrownErrors } = recordThrownErrors(hubspotConnector);

function recordWithoutEmail(): DeliveryRecord {
  const lead = makeSampleLead({
    answers: [
      { key: 'full_name', values: ['Zoë Ångström-Núñez'] },
      { key: 'phone_number', values: ['+44 7700 900123'] },
    ],
  });
  return makeSampleRecord({ lead, fields: { firstname: 'Zoë', phone: '+447700900123' } });
}

describe('hubspot connector (nock)', () => {
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
    // No error the connector threw in this suite may carry a secret.
    expect(thrownErrors.length, 'errors were collected').to.be.greaterThan(10);
    for (const err of thrownErrors) {
      const message = (err as Error).message;
      for (const secret of SECRETS) expect(message, 'a secret in an error message').to.not.contain(secret);
    }
  });

  runConnectorContract('hubspot', recordingConnector, {
    makeContext: () => makeContext(),
    sampleRecord: () => makeSampleRecord(),
    // HubSpot's 429 (usage guidelines) has no Retry-After: the policy is in the body and the
    // window in X-HubSpot-RateLimit-Interval-Milliseconds, which is the wait.
    rateLimit: {
      answer: '429 TEN_SECONDLY_ROLLING with X-HubSpot-RateLimit-*, no Retry-After',
      reason: 'hubspot_rate_limit_ten_secondly',
      retryAfterMs: 10_000,
    },
    arrange(scenario, record) {
      const interceptor = nock(API)
        .matchHeader('authorization', `Bearer ${PAT}`)
        .post(UPSERT_PATH, (body: { inputs: { id: string; objectWriteTraceId: string }[] }) => {
          return body.inputs.length === 1 && body.inputs[0].objectWriteTraceId === record.idempotencyKey;
        });
      switch (scenario.kind) {
        case 'created':
          interceptor.reply(200, upsertAnswer(scenario.externalId, true));
          break;
        case 'updated':
          interceptor.reply(200, upsertAnswer(scenario.externalId, false));
          break;
        case 'rate_limited':
          interceptor.reply(429, tenSecondlyBody, {
            'X-HubSpot-RateLimit-Max': '190',
            'X-HubSpot-RateLimit-Remaining': '0',
            'X-HubSpot-RateLimit-Interval-Milliseconds': '10000',
          });
          break;
        case 'unauthorized':
          interceptor.reply(401, { status: 'error', message: 'Authentication credentials not found.', category: 'INVALID_AUTHENTICATION' });
          break;
        case 'invalid':
          interceptor.reply(400, legacyValidationBody(scenario.message, 'PROPERTY_DOESNT_EXIST', scenario.field ?? 'favorite_color'));
          break;
        case 'server_error':
          interceptor.reply(scenario.status, 'upstream unavailable', { 'content-type': 'text/plain' });
          break;
        case 'connection_reset':
          interceptor.replyWithError(connectionReset());
          break;
      }
    },
    reset: () => undefined,
  });

  describe('delivery', () => {
    it('sends one input keyed by email, with attribution, lead source and the unmapped note, and links the contact', async () => {
      const record = makeSampleRecord();
      let sent: { inputs: { idProperty: string; id: string; objectWriteTraceId: string; properties: Record<string, string> }[] } | undefined;
      nock(API)
        .matchHeader('authorization', `Bearer ${PAT}`)
        .post(UPSERT_PATH, (body) => {
          sent = body;
          return true;
        })
        .reply(200, upsertAnswer('ext-created-1', true));

      const result = await recordingConnector.deliver(makeContext(undefined, { portalId: '4242' }), record);

      expect(result).to.include({
        externalId: 'ext-created-1',
        action: 'created',
        url: 'https://app.hubspot.com/contacts/4242/record/0-1/ext-created-1',
        httpStatus: 200,
      });
      expect(sent?.inputs).to.have.length(1);
      const input = sent!.inputs[0];
      expect(input).to.include({ idProperty: 'email', id: 'zoe.angstrom@example.com', objectWriteTraceId: record.idempotencyKey });
      expect(input.properties).to.deep.equal({
        email: 'zoe.angstrom@example.com',
        firstname: 'Zoë',
        lastname: 'Ångström-Núñez',
        phone: '+447700900123',
        lr_fb_lead_id: '1234567890123456789',
        lr_form_id: '555666777',
        lr_form_name: 'Spring test ride',
        lr_ad_id: '2385000001',
        lr_ad_name: 'Carousel A',
        lr_adset_name: 'Cyclists 25-45',
        lr_campaign_id: '2385000003',
        lr_campaign_name: 'Spring 2026',
        lr_platform: 'ig',
        lr_lead_source: 'Instagram Lead Ads',
        message: 'favorite_color?: blue, green',
      });
    });

    it('omits the link when the portal id is unknown', async () => {
      nock(API).post(UPSERT_PATH).reply(200, upsertAnswer('88', true));
      const result = await recordingConnector.deliver(makeContext(), makeSampleRecord());
      expect(result.url).to.equal(undefined);
    });

    it('updates the same contact when the same email is delivered twice', async () => {
      const idsByEmail = new Map<string, string>();
      nock(API)
        .post(UPSERT_PATH)
        .times(2)
        .reply((_uri, body) => {
          const input = (body as { inputs: { id: string }[] }).inputs[0];
          const existing = idsByEmail.get(input.id);
          if (existing) return [200, upsertAnswer(existing, false)];
          idsByEmail.set(input.id, '501');
          return [200, upsertAnswer('501', true)];
        });
      const ctx = makeContext();
      const first = await recordingConnector.deliver(ctx, makeSampleRecord());
      const second = await recordingConnector.deliver(ctx, makeSampleRecord());
      expect(first).to.include({ action: 'created', externalId: '501' });
      expect(second).to.include({ action: 'updated', externalId: '501' });
      expect([...idsByEmail.keys()]).to.deep.equal(['zoe.angstrom@example.com']);
    });

    it('matches a lead without an email by lr_fb_lead_id, after checking the property exists (once per destination)', async () => {
      const bodies: { inputs: { idProperty: string; id: string; properties: Record<string, string> }[] }[] = [];
      nock(API)
        .get(PROPERTIES_PATH)
        .query(true)
        .reply(200, { results: [...defaultProperties, ...allLeadRelayProperties] });
      nock(API)
        .post(UPSERT_PATH, (body) => {
          bodies.push(body);
          return true;
        })
        .times(2)
        .reply(200, upsertAnswer('777', true));
      const ctx = makeContext();
      await recordingConnector.deliver(ctx, recordWithoutEmail());
      await recordingConnector.deliver(ctx, recordWithoutEmail());
      expect(bodies).to.have.length(2);
      expect(bodies[0].inputs[0]).to.include({ idProperty: 'lr_fb_lead_id', id: '1234567890123456789' });
      expect(bodies[0].inputs[0].properties.lr_fb_lead_id).to.equal('1234567890123456789');
      expect(bodies[0].inputs[0].properties).to.not.have.property('email');
    });

    it('creates missing lr_ properties in a LeadRelay group (lr_fb_lead_id unique-valued) before keying on it', async () => {
      const created: Record<string, unknown>[] = [];
      let group: Record<string, unknown> | undefined;
      nock(API).get(PROPERTIES_PATH).query(true).reply(200, { results: defaultProperties });
      nock(API)
        .post(GROUPS_PATH, (body) => {
          group = body;
          return true;
        })
        // Another process created the group first: fine.
        .reply(409, { status: 'error', message: "Group named 'leadrelay' already exists.", category: 'OBJECT_ALREADY_EXISTS' });
      nock(API)
        .post(PROPERTIES_PATH, (body) => {
          created.push(body);
          return true;
        })
        .times(LEADRELAY_PROPERTIES.length)
        .reply(201, (_uri, body) => propertyJson((body as { name: string }).name, { groupName: 'leadrelay' }));
      nock(API).post(UPSERT_PATH).reply(200, upsertAnswer('778', true));

      const result = await recordingConnector.deliver(makeContext(), recordWithoutEmail());

      expect(result.externalId).to.equal('778');
      expect(group).to.include({ name: 'leadrelay', label: 'LeadRelay' });
      expect(created.map((p) => p.name)).to.have.members(LEADRELAY_PROPERTIES.map((d) => d.name));
      for (const p of created) expect(p).to.include({ type: 'string', fieldType: 'text', groupName: 'leadrelay' });
      expect(created.find((p) => p.name === 'lr_fb_lead_id')).to.include({ hasUniqueValue: true });
      expect(created.find((p) => p.name === 'lr_form_id')).to.include({ hasUniqueValue: false });
    });

    it('creates the lr_ properties once and retries when HubSpot says one does not exist', async () => {
      nock(API)
        .post(UPSERT_PATH)
        .reply(400, legacyValidationBody('Property "lr_campaign_name" does not exist', 'PROPERTY_DOESNT_EXIST', 'lr_campaign_name'));
      nock(API)
        .get(PROPERTIES_PATH)
        .query(true)
        .reply(200, { results: [...defaultProperties, ...allLeadRelayProperties.filter((p) => p.name !== 'lr_campaign_name')] });
      nock(API).post(GROUPS_PATH).reply(201, { name: 'leadrelay', label: 'LeadRelay', displayOrder: -1, archived: false });
      let createdName: string | undefined;
      nock(API)
        .post(PROPERTIES_PATH, (body) => {
          createdName = body.name;
          return true;
        })
        .reply(201, propertyJson('lr_campaign_name', { groupName: 'leadrelay' }));
      nock(API).post(UPSERT_PATH).reply(200, upsertAnswer('901', true));

      const ctx = makeContext();
      const result = await recordingConnector.deliver(ctx, makeSampleRecord());
      expect(result).to.include({ externalId: '901', action: 'created' });
      expect(createdName).to.equal('lr_campaign_name');

      // Still missing right after creating it: dead-letter with the field, no loop.
      nock(API)
        .post(UPSERT_PATH)
        .reply(400, legacyValidationBody('Property "lr_campaign_name" does not exist', 'PROPERTY_DOESNT_EXIST', 'lr_campaign_name'));
      const err = await expectConnectorError(recordingConnector.deliver(ctx, makeSampleRecord()));
      expect(err).to.include({ kind: 'invalid', reason: 'hubspot_property_doesnt_exist', field: 'lr_campaign_name' });
    });

    it('reports a missing schema-write scope while creating properties as auth, naming the scope', async () => {
      nock(API).get(PROPERTIES_PATH).query(true).reply(200, { results: defaultProperties });
      nock(API)
        .post(GROUPS_PATH)
        .reply(403, {
          status: 'error',
          message: "This app hasn't been granted all required scopes to make this call.",
          category: 'MISSING_SCOPES',
          errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: ['crm.schemas.contacts.write'] } }],
        });
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(), recordWithoutEmail()));
      expect(err).to.include({ kind: 'auth', reason: 'hubspot_missing_scopes', httpStatus: 403 });
      expect(err.crmMessage).to.contain('crm.schemas.contacts.write');
    });

    it('waits the 10-second rate-limit window when HubSpot sends no Retry-After', async () => {
      nock(API).post(UPSERT_PATH).reply(429, tenSecondlyBody, { 'X-HubSpot-RateLimit-Interval-Milliseconds': '10000', 'X-HubSpot-RateLimit-Remaining': '0' });
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(), makeSampleRecord()));
      expect(err).to.include({ kind: 'rate_limited', reason: 'hubspot_rate_limit_ten_secondly', retryAfterMs: 10_000, httpStatus: 429 });
    });

    it('classifies a 207 per-input error (the SDK resolves it) with the property HubSpot named', async () => {
      const record = makeSampleRecord({ fields: { email: 'zoe.angstrom@@example' } });
      nock(API)
        .post(UPSERT_PATH)
        .reply(207, {
          status: 'COMPLETE',
          results: [],
          numErrors: 1,
          errors: [
            {
              status: 'error',
              category: 'VALIDATION_ERROR',
              message: 'Property values were not valid',
              context: { objectWriteTraceId: [record.idempotencyKey], propertyName: ['email'] },
              errors: [{ message: 'Email address zoe.angstrom@@example is invalid', code: 'INVALID_EMAIL', context: { propertyName: ['email'] } }],
              links: {},
            },
          ],
          startedAt: ISO,
          completedAt: ISO,
        });
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(), record));
      expect(err).to.include({ kind: 'invalid', reason: 'hubspot_invalid_email', field: 'email', httpStatus: 207 });
      expect(err.crmMessage).to.contain('is invalid');
      expect(err.message).to.not.contain('zoe');
    });

    it("reports a 400 with HubSpot's message and field, and keeps lead data out of the error message", async () => {
      nock(API)
        .post(UPSERT_PATH)
        .reply(400, legacyValidationBody('Email address zoe.angstrom@example.com is invalid', 'INVALID_EMAIL', 'email'));
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(), makeSampleRecord()));
      expect(err).to.include({
        kind: 'invalid',
        reason: 'hubspot_invalid_email',
        field: 'email',
        crmMessage: 'Email address zoe.angstrom@example.com is invalid',
      });
      expect(err.message).to.equal('invalid: hubspot_invalid_email');
      expect(err.responseBody).to.contain('INVALID_EMAIL');
    });

    it('retries a 5xx with a non-JSON body (the SDK cannot parse it) by its status', async () => {
      nock(API).post(UPSERT_PATH).reply(502, '<html><body>Bad gateway</body></html>', { 'content-type': 'text/html' });
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(), makeSampleRecord()));
      expect(err).to.include({ kind: 'retryable', reason: 'status_code_502', httpStatus: 502 });
    });

    it('reports a dropped connection as a retryable network error', async () => {
      nock(API).post(UPSERT_PATH).replyWithError(connectionReset());
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(), makeSampleRecord()));
      expect(err).to.include({ kind: 'retryable', reason: 'network_econnreset' });
    });

    it('gives up on a call that outlives the timeout', async () => {
      nock(API).post(UPSERT_PATH).delay(1000).reply(200, upsertAnswer('1', true));
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(undefined, {}, { timeoutMs: 50 }), makeSampleRecord()));
      expect(err).to.include({ kind: 'retryable', reason: 'timeout' });
    });

    it('redacts a token HubSpot echoes back in its message', async () => {
      nock(API)
        .post(UPSERT_PATH)
        .reply(400, { status: 'error', message: `Bad header value Bearer ${PAT}`, category: 'VALIDATION_ERROR' });
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(), makeSampleRecord()));
      expect(err.crmMessage).to.contain('[redacted]').and.not.contain(PAT);
      expect(err.responseBody).to.not.contain(PAT);
    });
  });

  describe('OAuth', () => {
    function expectRefreshRequest(answer: { status: number; body: unknown }, calls: string[] = []) {
      return nock(API)
        .post(TOKEN_PATH, (body) => {
          const form = formOf(body);
          return (
            form.grant_type === 'refresh_token' &&
            form.refresh_token === REFRESH &&
            form.client_id === testCrmSettings.hubspot.clientId &&
            form.client_secret === testCrmSettings.hubspot.clientSecret
          );
        })
        .matchHeader('content-type', /application\/x-www-form-urlencoded/)
        .reply(() => {
          calls.push('refresh');
          return [answer.status, answer.body];
        });
    }
    const freshTokens = { status: 200, body: tokenAnswer() };

    it('refreshes a token that is about to expire before the call, saves the new tokens at once, then calls with them', async () => {
      const calls: string[] = [];
      expectRefreshRequest(freshTokens, calls);
      nock(API)
        .matchHeader('authorization', `Bearer ${NEW_ACCESS}`)
        .post(UPSERT_PATH)
        .reply(() => {
          calls.push('upsert');
          return [200, upsertAnswer('ext-created-1', true)];
        });
      const ctx = makeContext(oauthCredentials(NOW + 2 * 60_000));
      const save = ctx.saveCredentials.bind(ctx);
      ctx.saveCredentials = async (next) => {
        calls.push('save');
        await save(next);
      };

      const result = await recordingConnector.deliver(ctx, makeSampleRecord());

      expect(result.externalId).to.equal('ext-created-1');
      expect(calls).to.deep.equal(['refresh', 'save', 'upsert']);
      expect(ctx.saved).to.deep.equal([{ type: 'oauth', accessToken: NEW_ACCESS, refreshToken: REFRESH, expiresAt: NOW + 1_800_000 }]);
    });

    it('keeps using a token with more than five minutes left', async () => {
      nock(API).matchHeader('authorization', `Bearer ${OLD_ACCESS}`).post(UPSERT_PATH).reply(200, upsertAnswer('5', false));
      const ctx = makeContext(oauthCredentials(NOW + 20 * 60_000));
      const result = await recordingConnector.deliver(ctx, makeSampleRecord());
      expect(result.action).to.equal('updated');
      expect(ctx.saved).to.deep.equal([]);
    });

    it('shares one refresh between deliveries that find the same expiring token', async () => {
      expectRefreshRequest(freshTokens);
      nock(API).matchHeader('authorization', `Bearer ${NEW_ACCESS}`).post(UPSERT_PATH).times(2).reply(200, upsertAnswer('6', false));
      const first = makeContext(oauthCredentials(NOW + 60_000));
      const second = makeContext(oauthCredentials(NOW + 60_000));
      // One destination in one App: the same id and the same memory.
      second.destinationId = first.destinationId;
      second.memory = first.memory;
      await Promise.all([recordingConnector.deliver(first, makeSampleRecord()), recordingConnector.deliver(second, makeSampleRecord())]);
      expect(first.saved.length + second.saved.length).to.equal(1);
    });

    it('refreshes once and retries once after a 401', async () => {
      nock(API).matchHeader('authorization', `Bearer ${OLD_ACCESS}`).post(UPSERT_PATH).reply(401, expiredBody);
      expectRefreshRequest(freshTokens);
      nock(API).matchHeader('authorization', `Bearer ${NEW_ACCESS}`).post(UPSERT_PATH).reply(200, upsertAnswer('42', true));
      const ctx = makeContext(oauthCredentials(NOW + 20 * 60_000));
      const result = await recordingConnector.deliver(ctx, makeSampleRecord());
      expect(result).to.include({ externalId: '42', action: 'created' });
      expect(ctx.saved).to.have.length(1);
      expect(ctx.saved[0]).to.include({ accessToken: NEW_ACCESS });
    });

    it('reports auth when the refreshed token is refused too', async () => {
      nock(API).matchHeader('authorization', `Bearer ${OLD_ACCESS}`).post(UPSERT_PATH).reply(401, expiredBody);
      expectRefreshRequest(freshTokens);
      nock(API).matchHeader('authorization', `Bearer ${NEW_ACCESS}`).post(UPSERT_PATH).reply(401, expiredBody);
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(oauthCredentials(NOW + 20 * 60_000)), makeSampleRecord()));
      expect(err).to.include({ kind: 'auth', reason: 'hubspot_token_expired', httpStatus: 401 });
    });

    it('reports a revoked refresh token (invalid_grant) as auth, without calling the API', async () => {
      expectRefreshRequest({
        status: 400,
        body: {
          status: 'BAD_REFRESH_TOKEN',
          message: 'missing or unknown refresh token',
          category: 'VALIDATION_ERROR',
          correlationId: 'aeb5f871-7f07-4993-9211-075dc63e7cbf',
          error: 'invalid_grant',
          error_description: 'missing or unknown refresh token',
        },
      });
      const ctx = makeContext(oauthCredentials(NOW - 1000));
      const err = await expectConnectorError(recordingConnector.deliver(ctx, makeSampleRecord()));
      expect(err).to.include({ kind: 'auth', reason: 'hubspot_refresh_revoked', httpStatus: 400, crmMessage: 'missing or unknown refresh token' });
      expect(ctx.saved).to.deep.equal([]);
    });

    it('reports a 401 from the token endpoint as a revoked refresh', async () => {
      expectRefreshRequest({ status: 401, body: { status: 'error', message: 'Unauthorized' } });
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(oauthCredentials(NOW)), makeSampleRecord()));
      expect(err).to.include({ kind: 'auth', reason: 'hubspot_refresh_revoked' });
    });

    it('retries a token endpoint that is down', async () => {
      expectRefreshRequest({ status: 503, body: { status: 'error', message: 'unavailable' } });
      const err = await expectConnectorError(recordingConnector.deliver(makeContext(oauthCredentials(NOW)), makeSampleRecord()));
      expect(err).to.include({ kind: 'retryable', reason: 'status_code_503' });
    });

    it('puts the consent screen on the configured HubSpot web app (HUBSPOT_APP_URL)', () => {
      const url = new URL(
        buildAuthorizeUrl({ appUrl: 'http://127.0.0.1:4321', clientId: 'hs-client', redirectUri: 'https://leadrelay.example/cb', state: 'st-1' }),
      );
      expect(url.origin + url.pathname).to.equal('http://127.0.0.1:4321/oauth/authorize');
      expect(url.searchParams.get('state')).to.equal('st-1');
    });

    it('builds the authorize URL with every scope LeadRelay needs', () => {
      const url = new URL(buildAuthorizeUrl({ clientId: 'hs-client', redirectUri: 'https://leadrelay.example/oauth/hubspot/callback', state: 'st-123' }));
      expect(url.origin + url.pathname).to.equal('https://app.hubspot.com/oauth/authorize');
      expect(url.searchParams.get('client_id')).to.equal('hs-client');
      expect(url.searchParams.get('redirect_uri')).to.equal('https://leadrelay.example/oauth/hubspot/callback');
      expect(url.searchParams.get('state')).to.equal('st-123');
      expect(url.searchParams.get('scope')?.split(' ')).to.have.members([
        'crm.objects.contacts.write',
        'crm.objects.contacts.read',
        'crm.schemas.contacts.read',
        'crm.schemas.contacts.write',
        'oauth',
      ]);
    });

    it('exchanges a code at the dated endpoint (all parameters in the body) and learns the account id by introspection when the answer has no hub_id', async () => {
      const settings = { ...testConnectorSettings, connector: { ...testCrmSettings.hubspot, apiUrl: API } };
      nock(API)
        .post(TOKEN_PATH, (body) => {
          const form = formOf(body);
          return (
            form.grant_type === 'authorization_code' &&
            form.code === 'code-abc' &&
            form.redirect_uri === 'https://leadrelay.example/cb' &&
            form.client_secret === 'hs-secret'
          );
        })
        .reply(200, tokenAnswer());
      nock(API)
        .post(INTROSPECT_PATH, (body) => formOf(body).token === NEW_ACCESS)
        .reply(200, accessTokenInfo(24601));

      const credentials = await exchangeCode({ settings, code: 'code-abc', redirectUri: 'https://leadrelay.example/cb', now: NOW });

      expect(credentials).to.deep.equal({ type: 'oauth', accessToken: NEW_ACCESS, refreshToken: REFRESH, expiresAt: NOW + 1_800_000, hubId: '24601' });
      expect(hubspotConnector.credentialsSchema.safeParse(credentials).success).to.equal(true);

      nock(API).post(UPSERT_PATH).reply(200, upsertAnswer('31', true));
      const result = await recordingConnector.deliver(makeContext({ ...credentials, expiresAt: NOW + 1_800_000 }), makeSampleRecord());
      expect(result.url).to.equal('https://app.hubspot.com/contacts/24601/record/0-1/31');
    });

    it('takes the account id from the token answer when it has hub_id (HubSpot sends it since 2025-08-18), without introspecting', async () => {
      const settings = { ...testConnectorSettings, connector: { ...testCrmSettings.hubspot, apiUrl: API } };
      nock(API)
        .post(TOKEN_PATH)
        .reply(200, tokenAnswer({ hub_id: 24602, scopes: ['oauth', 'crm.objects.contacts.write'], user_id: 7 }));
      // Nock refuses the introspection call it was not given.
      const credentials = await exchangeCode({ settings, code: 'code-abd', redirectUri: 'https://leadrelay.example/cb', now: NOW });
      expect(credentials).to.deep.equal({ type: 'oauth', accessToken: NEW_ACCESS, refreshToken: REFRESH, expiresAt: NOW + 1_800_000, hubId: '24602' });
    });

    it('reports a refused code as auth', async () => {
      const settings = { ...testConnectorSettings, connector: { ...testCrmSettings.hubspot, apiUrl: API } };
      nock(API).post(TOKEN_PATH).reply(400, {
        status: 'BAD_AUTH_CODE',
        message: 'missing or unknown auth code',
        category: 'VALIDATION_ERROR',
        correlationId: 'aeb5f871-7f07-4993-9211-075dc63e7cbe',
        error: 'invalid_grant',
      });
      const err = await expectConnectorError(exchangeCode({ settings, code: 'code-old', redirectUri: 'https://leadrelay.example/cb', now: NOW }));
      expect(err).to.include({ kind: 'auth', reason: 'hubspot_code_rejected' });
      thrownErrors.push(err);
    });
  });

  describe('fields', () => {
    const properties = [
      propertyJson('email'),
      propertyJson('phone', { fieldType: 'phonenumber', label: 'Phone Number' }),
      propertyJson('message', { fieldType: 'textarea', label: 'Message' }),
      propertyJson('annualrevenue', { type: 'number', fieldType: 'number' }),
      propertyJson('date_of_birth', { type: 'date', fieldType: 'date' }),
      propertyJson('last_demo', { type: 'datetime', fieldType: 'date' }),
      propertyJson('lifecyclestage', {
        type: 'enumeration',
        fieldType: 'radio',
        options: [
          { label: 'Lead', value: 'lead', displayOrder: 0, hidden: false },
          { label: 'Old', value: 'old', displayOrder: 1, hidden: true },
        ],
      }),
      propertyJson('interests', {
        type: 'enumeration',
        fieldType: 'checkbox',
        options: [
          { label: 'Road', value: 'road', displayOrder: 0, hidden: false },
          { label: 'Gravel', value: 'gravel', displayOrder: 1, hidden: false },
        ],
      }),
      propertyJson('hs_marketable', { type: 'enumeration', fieldType: 'booleancheckbox', options: [] }),
      propertyJson('newsletter', { type: 'bool', fieldType: 'booleancheckbox' }),
      propertyJson('lr_fb_lead_id', { hasUniqueValue: true }),
      propertyJson('hs_object_id', { type: 'number', modificationMetadata: { readOnlyValue: true } }),
      propertyJson('num_notes', { type: 'number', calculated: true }),
      propertyJson('hs_secret_thing', { hidden: true }),
    ];

    it('lists writable properties with their types and options', async () => {
      nock(API).get(PROPERTIES_PATH).query(true).reply(200, { results: properties });
      const fields = await recordingConnector.describeFields(makeContext());
      const byKey = new Map(fields.map((f) => [f.key, f]));
      expect([...byKey.keys()]).to.have.members([
        'email',
        'phone',
        'message',
        'annualrevenue',
        'date_of_birth',
        'last_demo',
        'lifecyclestage',
        'interests',
        'hs_marketable',
        'newsletter',
        'lr_fb_lead_id',
      ]);
      expect(fields.every((f) => f.required === false)).to.equal(true);
      expect(byKey.get('email')?.type).to.equal('email');
      expect(byKey.get('phone')).to.include({ type: 'phone', label: 'Phone Number' });
      expect(byKey.get('message')?.type).to.equal('text');
      expect(byKey.get('annualrevenue')?.type).to.equal('number');
      expect(byKey.get('date_of_birth')?.type).to.equal('date');
      expect(byKey.get('last_demo')?.type).to.equal('datetime');
      expect(byKey.get('lifecyclestage')).to.deep.include({ type: 'enum', options: [{ value: 'lead', label: 'Lead' }] });
      expect(byKey.get('interests')).to.deep.include({
        type: 'multienum',
        options: [
          { value: 'road', label: 'Road' },
          { value: 'gravel', label: 'Gravel' },
        ],
      });
      expect(byKey.get('hs_marketable')?.type).to.equal('boolean');
      expect(byKey.get('newsletter')?.type).to.equal('boolean');
      expect(byKey.get('lr_fb_lead_id')?.isExternalId).to.equal(true);
    });

    it('reuses the list for five minutes per destination, and refetches after clearFieldCache or expiry', async () => {
      let clock = NOW;
      const ctx = makeContext(undefined, {}, {}, () => clock);
      nock(API)
        .get(PROPERTIES_PATH)
        .query(true)
        .reply(200, { results: [propertyJson('email')] });
      expect((await recordingConnector.describeFields(ctx)).map((f) => f.key)).to.deep.equal(['email']);
      // Served from the cache: no second interceptor exists.
      expect((await recordingConnector.describeFields(ctx)).map((f) => f.key)).to.deep.equal(['email']);

      clearFieldCache(ctx.memory);
      nock(API)
        .get(PROPERTIES_PATH)
        .query(true)
        .reply(200, { results: [propertyJson('email'), propertyJson('city')] });
      expect((await recordingConnector.describeFields(ctx)).map((f) => f.key)).to.deep.equal(['email', 'city']);

      clock += 5 * 60_000 + 1;
      nock(API)
        .get(PROPERTIES_PATH)
        .query(true)
        .reply(200, { results: [propertyJson('city')] });
      expect((await recordingConnector.describeFields(ctx)).map((f) => f.key)).to.deep.equal(['city']);
    });

    it('verify() checks the token and creates nothing when every lr_ property exists', async () => {
      nock(API)
        .matchHeader('authorization', `Bearer ${PAT}`)
        .get(PROPERTIES_PATH)
        .query(true)
        .reply(200, { results: [...defaultProperties, ...allLeadRelayProperties] });
      await recordingConnector.verify(makeContext());
    });

    it('verify() reports a dead token as auth', async () => {
      nock(API)
        .get(PROPERTIES_PATH)
        .query(true)
        .reply(401, { status: 'error', message: 'Authentication credentials not found.', category: 'INVALID_AUTHENTICATION' });
      const err = await expectConnectorError(recordingConnector.verify(makeContext()));
      expect(err).to.include({ kind: 'auth', reason: 'hubspot_invalid_authentication' });
    });
  });

  describe('record mapping', () => {
    it('lets mapped values win over attribution, writes strings, and leaves out nulls and blanks', () => {
      const lead = makeSampleLead({ platform: 'fb' });
      const input = buildContactUpsertInput(
        makeSampleRecord({
          lead,
          fields: {
            email: ' zoe.angstrom@example.com ',
            lr_campaign_name: 'Mapped campaign',
            message: 'Mapped note',
            newsletter: true,
            annualrevenue: 1200,
            city: null,
            company: '  ',
          },
        }),
      );
      expect(input.properties).to.include({
        email: 'zoe.angstrom@example.com',
        lr_campaign_name: 'Mapped campaign',
        message: 'Mapped note',
        newsletter: 'true',
        annualrevenue: '1200',
        lr_lead_source: 'Facebook Lead Ads',
        lr_platform: 'fb',
      });
      expect(input.properties).to.not.have.any.keys('city', 'company');
      expect(input.id).to.equal('zoe.angstrom@example.com');
    });

    it("falls back to the lead's email answer when the mapping has none", () => {
      const input = buildContactUpsertInput(makeSampleRecord({ fields: { firstname: 'Zoë' } }));
      expect(input).to.include({ idProperty: 'email', id: 'zoe.angstrom@example.com' });
      expect(input.properties.email).to.equal('zoe.angstrom@example.com');
    });

    it('leaves out attribution Meta did not send (organic leads)', () => {
      const lead = makeSampleLead({
        platform: null,
        is_organic: true,
        attribution: { ad_id: null, ad_name: null, adset_id: null, adset_name: null, campaign_id: null, campaign_name: null },
      });
      const input = buildContactUpsertInput(makeSampleRecord({ lead }));
      expect(input.properties).to.not.have.any.keys('lr_ad_id', 'lr_ad_name', 'lr_adset_name', 'lr_campaign_id', 'lr_campaign_name', 'lr_platform');
      expect(input.properties.lr_lead_source).to.equal('Facebook Lead Ads');
    });
  });
});

describe('hubspot connector against the loopback fake', () => {
  let fake: FakeHubspot;

  before(() => {
    // The fake is a real server: let requests reach it.
    nock.restore();
  });
  after(() => {
    if (!nock.isActive()) nock.activate();
  });
  beforeEach(async () => {
    fake = await startFakeHubspot({ accessTokens: [PAT], refreshTokens: [REFRESH], portalId: 4242 });
  });
  afterEach(async () => {
    await fake.close();
  });

  function fakeContext(credentials: HubspotCredentials = { type: 'private_app', accessToken: PAT }, now: () => number = () => Date.now()) {
    const ctx = makeContext(credentials, { portalId: String(fake.portalId) }, {}, now);
    ctx.settings = { ...ctx.settings, connector: { ...ctx.settings.connector, apiUrl: fake.url } };
    return ctx;
  }

  it('creates the lr_ properties on first use, creates the contact, then updates it', async () => {
    const ctx = fakeContext();
    const first = await hubspotConnector.deliver(ctx, makeSampleRecord());
    const second = await hubspotConnector.deliver(ctx, makeSampleRecord());

    expect(first.action).to.equal('created');
    expect(second).to.include({ action: 'updated', externalId: first.externalId });
    expect(first.url).to.equal(`https://app.hubspot.com/contacts/4242/record/0-1/${first.externalId}`);
    expect(fake.contacts.size).to.equal(1);
    const contact = fake.byEmail('zoe.angstrom@example.com');
    expect(contact?.properties).to.include({
      lr_fb_lead_id: '1234567890123456789',
      lr_lead_source: 'Instagram Lead Ads',
      message: 'favorite_color?: blue, green',
    });
    expect(fake.properties.get('lr_fb_lead_id')?.hasUniqueValue).to.equal(true);
    expect(fake.propertyGroups.has('leadrelay')).to.equal(true);
  });

  it('keys a lead without an email on lr_fb_lead_id', async () => {
    const ctx = fakeContext();
    const first = await hubspotConnector.deliver(ctx, recordWithoutEmail());
    const second = await hubspotConnector.deliver(ctx, recordWithoutEmail());
    expect(first.action).to.equal('created');
    expect(second).to.include({ action: 'updated', externalId: first.externalId });
    expect(fake.byProperty('lr_fb_lead_id', '1234567890123456789')?.id).to.equal(first.externalId);
  });

  it("reports HubSpot's validation message and field for a bad email (207 per-input error)", async () => {
    const ctx = fakeContext();
    await hubspotConnector.verify(ctx);
    const err = await expectConnectorError(hubspotConnector.deliver(ctx, makeSampleRecord({ fields: { email: 'zoe.angstrom-at-example.com' } })));
    expect(err).to.include({ kind: 'invalid', reason: 'hubspot_invalid_email', field: 'email', httpStatus: 207 });
    expect(err.crmMessage).to.contain('is invalid');
    expect(err.message).to.not.contain('zoe');
  });

  it('refreshes an expiring OAuth token at the dated endpoint, with every parameter in the body', async () => {
    const ctx = fakeContext(oauthCredentials(Date.now() + 60_000, 'unknown-to-the-fake'));
    const result = await hubspotConnector.deliver(ctx, makeSampleRecord());
    expect(result.action).to.equal('created');
    expect(ctx.saved).to.have.length(1);
    const saved = ctx.saved[0] as HubspotOAuthCredentials;
    expect(fake.tokens.valid.has(saved.accessToken)).to.equal(true);
    expect(saved.refreshToken).to.equal(REFRESH);
    const tokenCall = fake.requests.find((r) => r.path === '/oauth/2026-03/token');
    expect(tokenCall?.query).to.deep.equal({});
    expect(tokenCall?.body).to.include({ grant_type: 'refresh_token', refresh_token: REFRESH });
  });

  it('refreshes after a 401 EXPIRED_AUTHENTICATION and delivers', async () => {
    const ctx = fakeContext(oauthCredentials(Date.now() + 20 * 60_000, 'expired-early'));
    const result = await hubspotConnector.deliver(ctx, makeSampleRecord());
    expect(result.action).to.equal('created');
    const paths = fake.requests.map((r) => r.path);
    expect(paths.filter((p) => p === '/oauth/2026-03/token')).to.have.length(1);
    expect(ctx.saved).to.have.length(1);
  });

  it('reports an unknown refresh token as a revoked refresh', async () => {
    const ctx = fakeContext({ type: 'oauth', accessToken: 'gone', refreshToken: 'not-known', expiresAt: Date.now() });
    const err = await expectConnectorError(hubspotConnector.deliver(ctx, makeSampleRecord()));
    expect(err).to.include({ kind: 'auth', reason: 'hubspot_refresh_revoked' });
  });

  it('reports the wait a rate-limited fake asks for (Retry-After)', async () => {
    const ctx = fakeContext();
    await hubspotConnector.verify(ctx);
    fake.rateLimitFor(3000);
    const err = await expectConnectorError(hubspotConnector.deliver(ctx, makeSampleRecord()));
    expect(err).to.include({ kind: 'rate_limited', reason: 'hubspot_rate_limit_ten_secondly' });
    expect(err.retryAfterMs).to.be.within(1000, 3000);
  });

  it('exchanges a code and takes the account id from the token answer', async () => {
    const redirectUri = 'https://leadrelay.example/oauth/hubspot/callback';
    const code = fake.issueAuthorizationCode(redirectUri);
    const settings = { ...testConnectorSettings, connector: { ...testCrmSettings.hubspot, apiUrl: fake.url } };
    const credentials = await exchangeCode({ settings, code, redirectUri, now: Date.now() });
    expect(credentials.hubId).to.equal('4242');
    expect(fake.requests.filter((r) => r.path.includes('/introspect'))).to.deep.equal([]);
    expect(fake.tokens.refresh.has(credentials.refreshToken)).to.equal(true);
    const fields = await hubspotConnector.describeFields(fakeContext(credentials));
    expect(fields.map((f) => f.key)).to.include('email');
  });

  it("answers in the shapes of HubSpot's OpenAPI documents: 207 errors, token answers, introspection, errors", async () => {
    const form = async (path: string, params: Record<string, string>) => {
      const res = await fetch(`${fake.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(params).toString(),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const client = { client_id: testCrmSettings.hubspot.clientId, client_secret: testCrmSettings.hubspot.clientSecret };

    // A 207's per-input error is a StandardError: status, category, message, context, errors, links.
    const upsert = await fetch(`${fake.url}/crm/v3/objects/contacts/batch/upsert`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PAT}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ idProperty: 'email', id: 'bad-at-example.com', properties: {}, objectWriteTraceId: 't-1' }] }),
    });
    expect(upsert.status).to.equal(207);
    const multi = (await upsert.json()) as { numErrors: number; errors: Record<string, unknown>[] };
    expect(multi.numErrors).to.equal(1);
    expect(multi.errors[0]).to.include.all.keys('status', 'category', 'message', 'context', 'errors', 'links');

    // The dated token endpoint answers an AccessTokenResponse, with token_use.
    const refreshed = await form('/oauth/2026-03/token', { ...client, grant_type: 'refresh_token', refresh_token: REFRESH });
    expect(refreshed.status).to.equal(200);
    expect(refreshed.body).to.include({ token_use: 'access_token', token_type: 'bearer', refresh_token: REFRESH, expires_in: 1800, hub_id: 4242 });
    expect(refreshed.body).to.include.all.keys('access_token', 'scopes', 'user_id');

    // Introspection: every required field of Public{Access,Refresh}TokenInfoResponse.
    const access = await form('/oauth/2026-03/token/introspect', { ...client, token: String(refreshed.body.access_token) });
    expect(access.body).to.include({ active: true, token_use: 'access_token', hub_id: 4242 });
    expect(access.body).to.include.all.keys(
      'app_id',
      'client_id',
      'expires_in',
      'is_private_distribution',
      'scopes',
      'signed_access_token',
      'token',
      'token_type',
      'user_id',
    );
    const refresh = await form('/oauth/2026-03/token/introspect', { ...client, token: REFRESH });
    expect(refresh.body).to.include({ active: true, token_use: 'refresh_token', hub_id: 4242 });
    expect(refresh.body).to.include.all.keys('app_id', 'client_id', 'scopes', 'token', 'token_type', 'user_id');

    // A refused grant: the Error schema's category, correlationId and message, and RFC 6749's error.
    const refused = await form('/oauth/2026-03/token', { ...client, grant_type: 'refresh_token', refresh_token: 'unknown' });
    expect(refused.status).to.equal(400);
    expect(refused.body).to.include({ error: 'invalid_grant' }).and.to.include.all.keys('category', 'correlationId', 'message');
  });

  it('answers every API call with the rate-limit headers and ISO dates', async () => {
    const response = await fetch(`${fake.url}/crm/v3/objects/contacts/batch/upsert`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PAT}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ idProperty: 'email', id: 'ann@example.com', properties: { firstname: 'Ann' } }] }),
    });
    expect(response.status).to.equal(200);
    expect(response.headers.get('x-hubspot-ratelimit-max')).to.equal('190');
    expect(response.headers.get('x-hubspot-ratelimit-remaining')).to.equal('189');
    expect(response.headers.get('x-hubspot-ratelimit-interval-milliseconds')).to.equal('10000');
    const body = (await response.json()) as { results: { createdAt: string; new: boolean }[] };
    expect(body.results[0].new).to.equal(true);
    expect(new Date(body.results[0].createdAt).toISOString()).to.equal(body.results[0].createdAt);
  });
});
