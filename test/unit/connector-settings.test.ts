// Connector settings come from the variables each manifest declares: the CRMs' documented
// variables keep their names and defaults, and a bad value is named like any other variable.
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config/env.js';

describe('connector settings from the environment', () => {
  it('gives every CRM its documented defaults when nothing is set', () => {
    expect(loadConfig({}).connectors).to.deep.include({
      hubspot: { apiUrl: 'https://api.hubapi.com', appUrl: 'https://app.hubspot.com', clientId: '', clientSecret: '' },
      salesforce: { loginUrl: 'https://login.salesforce.com', apiVersion: '62.0', clientId: '', clientSecret: '' },
      pipedrive: { apiUrl: 'https://api.pipedrive.com', oauthUrl: 'https://oauth.pipedrive.com', clientId: '', clientSecret: '' },
    });
  });

  it('reads the HUBSPOT_*, SALESFORCE_* and PIPEDRIVE_* variables, URLs without a trailing slash', () => {
    const c = loadConfig({
      HUBSPOT_API_URL: 'http://127.0.0.1:4001/',
      HUBSPOT_CLIENT_ID: 'hs-id',
      HUBSPOT_CLIENT_SECRET: 'hs-secret',
      SALESFORCE_LOGIN_URL: 'https://test.salesforce.com/',
      SALESFORCE_API_VERSION: '63.0',
      SALESFORCE_CLIENT_ID: 'sf-id',
      SALESFORCE_CLIENT_SECRET: 'sf-secret',
      PIPEDRIVE_API_URL: 'http://127.0.0.1:4002',
      PIPEDRIVE_OAUTH_URL: 'http://127.0.0.1:4003/',
      PIPEDRIVE_CLIENT_ID: 'pd-id',
      PIPEDRIVE_CLIENT_SECRET: 'pd-secret',
    }).connectors;
    expect(c.hubspot).to.deep.equal({ apiUrl: 'http://127.0.0.1:4001', appUrl: 'https://app.hubspot.com', clientId: 'hs-id', clientSecret: 'hs-secret' });
    expect(c.salesforce).to.deep.equal({ loginUrl: 'https://test.salesforce.com', apiVersion: '63.0', clientId: 'sf-id', clientSecret: 'sf-secret' });
    expect(c.pipedrive).to.deep.equal({ apiUrl: 'http://127.0.0.1:4002', oauthUrl: 'http://127.0.0.1:4003', clientId: 'pd-id', clientSecret: 'pd-secret' });
  });

  it('names a bad connector variable with the others, without its value', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', HUBSPOT_API_URL: 'not-a-url-secret', SALESFORCE_API_VERSION: 'v62-secret' });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems.map((p) => p.split(':')[0]).sort()).to.deep.equal(['HUBSPOT_API_URL', 'PORT', 'SALESFORCE_API_VERSION']);
    expect(problems.join('\n')).to.contain('SALESFORCE_API_VERSION: must look like 62.0').and.not.contain('secret');
  });
});
