// Revoking a destination's credentials at the CRM (`connector.revoke`), against each CRM's
// loopback fake: OAuth tokens are revoked at the vendor's endpoint and stop working there; a token
// the CRM no longer knows counts as revoked; credentials without a revocation endpoint say where a
// person revokes them; a refused client is an `auth` ConnectorError that names no secret.
import { expect } from 'chai';
import { hubspotConnector } from '../../connectors/hubspot/index.js';
import { pipedriveConnector } from '../../connectors/pipedrive/index.js';
import { salesforceConnector } from '../../connectors/salesforce/index.js';
import type { Connector, ConnectorContext } from '../../connectors/types.js';
import { startFakeHubspot, type FakeHubspot } from '../fakes/hubspot-crm.js';
import { startFakePipedrive, type FakePipedrive } from '../fakes/pipedrive-crm.js';
import { startFakeSalesforce, type FakeSalesforce } from '../fakes/salesforce-crm.js';
import { makeTestContext, testCrmSettings } from '../helpers/sample-lead.js';
import { expectConnectorError } from './connector-contract.js';

// As the delivery worker holds them: by type, not by their own config and credential types.
const hubspot: Connector = hubspotConnector;
const salesforce: Connector = salesforceConnector;
const pipedrive: Connector = pipedriveConnector;

describe('connector.revoke against the CRM fakes', () => {
  describe('HubSpot', () => {
    let hs: FakeHubspot;
    const context = (credentials: Record<string, unknown>, clientSecret = testCrmSettings.hubspot.clientSecret) =>
      makeTestContext({
        config: {},
        credentials,
        settings: { connector: { ...testCrmSettings.hubspot, apiUrl: hs.url, clientSecret } },
      }) as unknown as ConnectorContext;
    beforeEach(async () => {
      hs = await startFakeHubspot({ refreshTokens: ['hs-refresh-1'] });
    });
    afterEach(() => hs.close());

    it('revokes an OAuth refresh token at the dated revoke endpoint, with every parameter in the body', async () => {
      const outcome = await hubspot.revoke!(context({ type: 'oauth', accessToken: 'hs-access', refreshToken: 'hs-refresh-1', expiresAt: Date.now() + 60_000 }));
      expect(outcome).to.deep.equal({ status: 'revoked' });
      expect(hs.revokedTokens).to.deep.equal(['hs-refresh-1']);
      const call = hs.requests.find((r) => r.path === '/oauth/2026-03/token/revoke')!;
      expect(call.query).to.deep.equal({});
      expect(call.body).to.include({ token: 'hs-refresh-1', token_type_hint: 'refresh_token', client_id: 'hs-client' });
      expect(hs.tokens.refresh.has('hs-refresh-1')).to.equal(false);
    });

    it('counts a refresh token HubSpot no longer knows as revoked', async () => {
      const outcome = await hubspot.revoke!(context({ type: 'oauth', accessToken: 'a', refreshToken: 'hs-refresh-gone', expiresAt: 0 }));
      expect(outcome).to.deep.equal({ status: 'revoked' });
    });

    it('says a private-app token cannot be revoked through the API, without calling HubSpot', async () => {
      const outcome = await hubspot.revoke!(context({ type: 'private_app', accessToken: 'pat-na1-secret' }));
      expect(outcome.status).to.equal('not_revocable');
      expect(hs.requests).to.have.length(0);
    });

    it('fails with auth when HubSpot refuses the app client, naming no secret', async () => {
      const err = await expectConnectorError(
        hubspot.revoke!(context({ type: 'oauth', accessToken: 'a', refreshToken: 'hs-refresh-1', expiresAt: 0 }, 'wrong-secret')),
      );
      expect(err.kind).to.equal('auth');
      expect(`${err.message} ${err.crmMessage ?? ''} ${err.responseBody ?? ''}`)
        .to.not.include('hs-refresh-1')
        .and.not.include('wrong-secret');
      expect(hs.tokens.refresh.has('hs-refresh-1')).to.equal(true);
    });
  });

  describe('Salesforce', () => {
    let sf: FakeSalesforce;
    const context = (credentials: Record<string, unknown>) =>
      makeTestContext({
        config: { sobject: 'Lead', defaultCompany: 'x', defaultLastName: 'x', allowSaveOnDuplicate: false },
        credentials,
        settings: { connector: { ...testCrmSettings.salesforce, loginUrl: sf.url } },
      }) as unknown as ConnectorContext;
    beforeEach(async () => {
      sf = await startFakeSalesforce();
    });
    afterEach(() => sf.close());

    it('revokes the refresh token at /services/oauth2/revoke, which ends its access token too', async () => {
      const issued = sf.issueTokens();
      const outcome = await salesforce.revoke!(context(issued));
      expect(outcome).to.deep.equal({ status: 'revoked' });
      expect(sf.revokedTokens).to.deep.equal([issued.refreshToken]);
      expect(sf.refreshTokens.has(issued.refreshToken)).to.equal(false);
      expect(sf.validAccessTokens.has(issued.accessToken)).to.equal(false);
    });

    it('counts a token Salesforce no longer knows (400 unsupported_token_type) as revoked', async () => {
      const outcome = await salesforce.revoke!(context({ accessToken: 'a', refreshToken: 'unknown-refresh', instanceUrl: sf.url }));
      expect(outcome).to.deep.equal({ status: 'revoked' });
      expect(sf.revokedTokens).to.deep.equal([]);
    });
  });

  describe('Pipedrive', () => {
    let pd: FakePipedrive;
    const context = (credentials: Record<string, unknown>, clientSecret?: string) =>
      makeTestContext({
        config: {},
        credentials,
        settings: {
          connector: { apiUrl: pd.url, oauthUrl: pd.url, clientId: pd.oauth.clientId, clientSecret: clientSecret ?? pd.oauth.clientSecret },
        },
      }) as unknown as ConnectorContext;
    beforeEach(async () => {
      pd = await startFakePipedrive();
      pd.oauth.refreshTokens.add('pd-refresh-1');
    });
    afterEach(() => pd.close());

    it('revokes the refresh token at /oauth/revoke with Basic client authentication', async () => {
      const outcome = await pipedrive.revoke!(
        context({ type: 'oauth', accessToken: 'a', refreshToken: 'pd-refresh-1', expiresAt: Date.now() + 60_000, apiDomain: pd.url }),
      );
      expect(outcome).to.deep.equal({ status: 'revoked' });
      expect(pd.oauth.revokedTokens).to.deep.equal(['pd-refresh-1']);
      expect(pd.requests.find((r) => r.path === '/oauth/revoke')?.auth).to.equal('basic');
    });

    it('says an API token cannot be revoked through the API, without calling Pipedrive', async () => {
      const outcome = await pipedrive.revoke!(context({ type: 'api_token', apiToken: 'pd-api-token' }));
      expect(outcome.status).to.equal('not_revocable');
      expect(pd.requests).to.have.length(0);
    });

    it('fails with auth when Pipedrive refuses the app client', async () => {
      const err = await expectConnectorError(
        pipedrive.revoke!(
          context({ type: 'oauth', accessToken: 'a', refreshToken: 'pd-refresh-1', expiresAt: Date.now() + 60_000, apiDomain: pd.url }, 'wrong'),
        ),
      );
      expect(err.kind).to.equal('auth');
      expect(pd.oauth.refreshTokens.has('pd-refresh-1')).to.equal(true);
    });
  });
});
