// A connector defined outside connectors/ (test/fixtures/connectors/echo-crm) added through the
// test-only registry hook: its manifest alone gives the program its settings, flags and OAuth.
import { expect } from 'chai';
import { listManifests, loadConnector, registerExtraConnector, registerExtraConnectorModules } from '../../connectors/index.js';
import type { ConnectorManifest } from '../../connectors/types.js';
import { ConfigError, loadConfig, readExtraConnectorModules } from '../../src/config/env.js';
import { destinationInputFromFlags, fieldNamerOf, InputError, reauthInputFromFlags } from '../../src/cli/destination-input.js';
import { findMissingOAuthSettings, findOAuthConnector, listOAuthTypes } from '../../src/http/oauth-providers.js';
import { echoCrmConnector } from '../fixtures/connectors/echo-crm/index.js';
import { manifest as echoManifest } from '../fixtures/connectors/echo-crm/manifest.js';

describe('a connector from outside connectors/, through the test-only registry hook', () => {
  let unregister: (() => void) | undefined;
  beforeEach(() => {
    unregister = registerExtraConnector(echoManifest);
  });
  afterEach(() => {
    unregister?.();
    unregister = undefined;
  });

  it('is listed, loads whole, and is gone again once removed', async () => {
    expect(listManifests().map((m) => m.id)).to.include('echo-crm');
    expect(await loadConnector('echo-crm')).to.equal(echoCrmConnector);
    unregister!();
    expect(listManifests().map((m) => m.id)).to.not.include('echo-crm');
    expect(loadConfig({}).connectors).to.not.have.property('echo-crm');
  });

  it('gets the variables its manifest declares, with their defaults, and a bad one is named', () => {
    expect(loadConfig({}).connectors['echo-crm']).to.deep.equal({ apiUrl: 'https://echo-crm.invalid', clientId: '', clientSecret: '' });
    expect(loadConfig({ ECHO_CRM_API_URL: 'http://127.0.0.1:9/', ECHO_CRM_CLIENT_ID: 'id' }).connectors['echo-crm']).to.deep.equal({
      apiUrl: 'http://127.0.0.1:9',
      clientId: 'id',
      clientSecret: '',
    });
    expect(() => loadConfig({ ECHO_CRM_API_URL: 'nope' })).to.throw(ConfigError, /ECHO_CRM_API_URL:/);
  });

  it('connects by OAuth, and names its unset client variables', () => {
    expect(listOAuthTypes()).to.include('echo-crm');
    const connector = findOAuthConnector('echo-crm')!;
    expect(findMissingOAuthSettings(loadConfig({}), connector)).to.match(/^ECHO_CRM_CLIENT_ID and ECHO_CRM_CLIENT_SECRET are not set: .*Echo CRM app/);
    expect(findMissingOAuthSettings(loadConfig({ ECHO_CRM_CLIENT_ID: 'id', ECHO_CRM_CLIENT_SECRET: 's' }), connector)).to.equal(undefined);
  });

  it('turns its declared flags into credentials and config, naming a missing or refused one by its flag', () => {
    const input = destinationInputFromFlags(echoManifest, { 'echo-key': 'key-12345678', 'echo-space': 'sales' });
    expect(input).to.deep.equal({ config: { space: 'sales' }, credentials: { apiKey: 'key-12345678' } });
    expect(() => destinationInputFromFlags(echoManifest, { 'echo-space': 'sales' })).to.throw(
      InputError,
      /^--echo-key is required for --type echo-crm: give it with --echo-key-file <path>, --echo-key-stdin or LEADRELAY_ECHO_KEY$/,
    );
    const name = fieldNamerOf(echoManifest);
    expect([name('credentials.apiKey'), name('config.space'), name('name')]).to.deep.equal(['--echo-key', '--echo-space', '--name']);
    expect(fieldNamerOf(echoManifest, { 'echo-key': 'LEADRELAY_ECHO_KEY' })('credentials.apiKey')).to.equal('LEADRELAY_ECHO_KEY');
  });

  it('on reauth replaces its credentials whole and keeps config flags left out', () => {
    expect(reauthInputFromFlags(echoManifest, { 'echo-key': 'key-87654321' }, { space: 'sales' })).to.deep.equal({
      config: { space: 'sales' },
      configInputs: [],
      credentials: { apiKey: 'key-87654321' },
    });
    expect(() => reauthInputFromFlags(echoManifest, { 'echo-space': 'other' }, { space: 'sales' })).to.throw(InputError, /--echo-key is required/);
  });

  it('refuses a second connector with the same id, or one claiming its variables', () => {
    expect(() => registerExtraConnector({ ...echoManifest })).to.throw(/"echo-crm" is registered more than once/);
    const thief: ConnectorManifest = { ...echoManifest, id: 'echo-two' };
    expect(() => registerExtraConnector(thief)).to.throw(/ECHO_CRM_API_URL is a setting of both "echo-crm" and "echo-two"/);
  });

  it("refuses a connector variable that is one of LeadRelay's own", () => {
    unregister!();
    unregister = registerExtraConnector({
      ...echoManifest,
      settings: { ...echoManifest.settings, apiUrl: { env: 'PUBLIC_URL', type: 'url', default: 'https://x.invalid' } },
    });
    expect(() => loadConfig({})).to.throw(/connector "echo-crm" declares PUBLIC_URL, a variable of LeadRelay itself/);
  });
});

describe('LEADRELAY_EXTRA_CONNECTORS', () => {
  it('lists module paths outside production', () => {
    expect(readExtraConnectorModules({ NODE_ENV: 'test', LEADRELAY_EXTRA_CONNECTORS: ' a.js, b.js ,' })).to.deep.equal(['a.js', 'b.js']);
    expect(readExtraConnectorModules({ NODE_ENV: 'test' })).to.deep.equal([]);
  });

  it('is refused in production, by itself and with the rest of the configuration', () => {
    expect(() => readExtraConnectorModules({ NODE_ENV: 'production', LEADRELAY_EXTRA_CONNECTORS: 'a.js' })).to.throw(
      ConfigError,
      /LEADRELAY_EXTRA_CONNECTORS: is for tests/,
    );
    expect(() => loadConfig({ NODE_ENV: 'production', LEADRELAY_EXTRA_CONNECTORS: 'a.js' })).to.throw(ConfigError, /LEADRELAY_EXTRA_CONNECTORS: is for tests/);
  });

  it('names a module that does not load, or exports no manifest, in one line', async () => {
    const failure = async (path: string) => {
      try {
        await registerExtraConnectorModules([path]);
      } catch (err) {
        return (err as Error).message;
      }
      return 'loaded';
    };
    expect(await failure('/nonexistent/echo.js')).to.match(/^LEADRELAY_EXTRA_CONNECTORS: cannot load \/nonexistent\/echo\.js: [^\n]+$/);
    const noManifest = new URL('../../src/util/version.js', import.meta.url).pathname;
    expect(await failure(noManifest)).to.equal(`LEADRELAY_EXTRA_CONNECTORS: ${noManifest} exports no connector manifest (export const manifest)`);
  });
});
