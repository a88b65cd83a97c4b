// The OAuth state, connect links and PKCE verifiers: signed, expiring, bound to one CRM.
import { expect } from 'chai';
import { createHash, createHmac } from 'node:crypto';
import {
  computeCodeChallenge,
  CONNECT_LINK_TTL_MS,
  createOAuthStateSigner,
  OAUTH_STATE_TTL_MS,
  type OAuthConnectRequest,
  type OAuthStateFailure,
} from '../../src/http/oauth-state.js';
import { buildConnectLink, createOAuthRouter } from '../../src/http/oauth-routes.js';
import { parseSalesforceLoginUrl } from '../../connectors/salesforce/manifest.js';
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import { createLogger } from '../../src/util/logger.js';

const KEY = Buffer.alloc(32, 1);
const OTHER_KEY = Buffer.alloc(32, 2);
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const WS = 'f3c1b0de-1111-4a4a-8888-000000000001';
const DEST = '7d0c1f6e-7f5a-4c56-9a36-5f7c9d3f0a11';

const signer = createOAuthStateSigner(KEY);

/** Re-encodes a state's payload with a change, keeping the original signature. */
function tamper(state: string, change: (payload: Record<string, unknown>) => void): string {
  const [body, sig] = state.split('.');
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
  change(payload);
  return `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${sig}`;
}

describe('oauth state', () => {
  const request: OAuthConnectRequest = { workspaceId: WS, type: 'hubspot', destinationId: DEST, name: 'Sales – Zoë' };

  it('round-trips every field of the request, with an expiry and a nonce', () => {
    const { state, payload } = signer.createState(request, T0);
    const check = signer.readState(state, 'hubspot', T0 + 1000);
    expect(check.ok).to.equal(true);
    if (!check.ok) return;
    expect(check.payload).to.deep.equal(payload);
    expect(check.payload).to.include({ workspaceId: WS, type: 'hubspot', destinationId: DEST, name: 'Sales – Zoë', v: 1 });
    expect(check.payload.exp).to.equal(Math.floor((T0 + OAUTH_STATE_TTL_MS) / 1000));
    expect(check.payload.nonce).to.have.length.greaterThan(15);
    expect(state).to.match(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it('makes a different state (nonce) every time', () => {
    const a = signer.createState(request, T0);
    const b = signer.createState(request, T0);
    expect(a.state).to.not.equal(b.state);
    expect(a.payload.nonce).to.not.equal(b.payload.nonce);
  });

  it('leaves optional fields out when the request has none', () => {
    const { payload } = signer.createState({ workspaceId: WS, type: 'pipedrive' }, T0);
    expect(Object.keys(payload).sort()).to.deep.equal(['exp', 'nonce', 'type', 'v', 'workspaceId']);
  });

  const valid = signer.createState(request, T0).state;
  const cases: { name: string; state: () => string; type?: string; at?: number; failure: OAuthStateFailure }[] = [
    { name: 'expired (at the expiry second)', state: () => valid, at: T0 + OAUTH_STATE_TTL_MS, failure: 'expired' },
    { name: 'expired (a day later)', state: () => valid, at: T0 + 86_400_000, failure: 'expired' },
    { name: 'made for another CRM', state: () => valid, type: 'pipedrive', failure: 'wrong_type' },
    {
      name: 'payload changed: other workspace',
      state: () => tamper(valid, (p) => (p.workspaceId = '00000000-0000-4000-8000-000000000000')),
      failure: 'bad_signature',
    },
    {
      name: 'payload changed: destination added',
      state: () => tamper(signer.createState({ workspaceId: WS, type: 'hubspot' }, T0).state, (p) => (p.destinationId = DEST)),
      failure: 'bad_signature',
    },
    { name: 'payload changed: expiry extended', state: () => tamper(valid, (p) => (p.exp = 9_999_999_999)), failure: 'bad_signature' },
    { name: 'signed with another key', state: () => createOAuthStateSigner(OTHER_KEY).createState(request, T0).state, failure: 'bad_signature' },
    { name: 'signature cut short', state: () => valid.slice(0, -4), failure: 'bad_signature' },
    { name: 'signature removed', state: () => valid.split('.')[0], failure: 'malformed' },
    { name: 'three parts', state: () => `${valid}.x`, failure: 'malformed' },
    { name: 'not base64url', state: () => valid.replace('.', '.%%'), failure: 'malformed' },
    { name: 'empty', state: () => '', failure: 'malformed' },
    { name: 'huge', state: () => `${'a'.repeat(5000)}.b`, failure: 'malformed' },
    {
      name: 'a connect-link signature passed off as a state',
      state: () => `${valid.split('.')[0]}.${signer.signConnectLink(request, T0).sig}`,
      failure: 'bad_signature',
    },
  ];
  for (const c of cases) {
    it(`refuses a state that is ${c.name}: ${c.failure}`, () => {
      const check = signer.readState(c.state(), c.type ?? 'hubspot', c.at ?? T0 + 1000);
      expect(check).to.deep.equal({ ok: false, failure: c.failure });
    });
  }

  it('refuses a correctly signed body that is not a state', () => {
    // Only the holder of the key can make one; this checks the schema still guards the shape.
    const forge = (payload: unknown) => {
      const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
      return `${body}.${createHmac('sha256', KEY).update(`leadrelay.oauth-state.v1\n${body}`).digest('base64url')}`;
    };
    const good = forge({ v: 1, workspaceId: WS, type: 'hubspot', exp: Math.floor(T0 / 1000) + 60, nonce: 'n'.repeat(22) });
    expect(signer.readState(good, 'hubspot', T0).ok, 'the forging helper matches the format').to.equal(true);
    expect(
      signer.readState(forge({ v: 2, workspaceId: WS, type: 'hubspot', exp: Math.floor(T0 / 1000) + 60, nonce: 'n'.repeat(22) }), 'hubspot', T0),
    ).to.deep.equal({ ok: false, failure: 'malformed' });
    expect(
      signer.readState(forge({ v: 1, workspaceId: WS, type: 'hubspot', exp: Math.floor(T0 / 1000) + 60, nonce: 'n'.repeat(22), extra: 1 }), 'hubspot', T0),
    ).to.deep.equal({ ok: false, failure: 'malformed' });
    expect(signer.readState(forge(['not', 'an', 'object']), 'hubspot', T0)).to.deep.equal({ ok: false, failure: 'malformed' });
  });

  it('refuses a key shorter than 32 bytes', () => {
    expect(() => createOAuthStateSigner(Buffer.alloc(16))).to.throw(/at least 32 bytes/);
  });
});

describe('oauth connect links', () => {
  const request: OAuthConnectRequest = { workspaceId: WS, type: 'salesforce', name: 'EU org', loginUrl: 'https://test.salesforce.com' };

  it('verify what they signed until they expire', () => {
    const sig = signer.signConnectLink(request, T0);
    expect(sig.expires).to.equal(Math.floor((T0 + CONNECT_LINK_TTL_MS) / 1000));
    expect(signer.verifyConnectLink(request, sig, T0 + 60_000)).to.deep.equal({ ok: true });
    expect(signer.verifyConnectLink(request, { expires: String(sig.expires), sig: sig.sig }, T0), 'query strings carry text').to.deep.equal({ ok: true });
    expect(signer.verifyConnectLink(request, sig, T0 + CONNECT_LINK_TTL_MS)).to.deep.equal({ ok: false, failure: 'expired' });
  });

  const sig = signer.signConnectLink(request, T0);
  const changed: [string, OAuthConnectRequest][] = [
    ['workspace', { ...request, workspaceId: '00000000-0000-4000-8000-000000000000' }],
    ['type', { ...request, type: 'hubspot' }],
    ['destination added', { ...request, destinationId: DEST }],
    ['name', { ...request, name: 'EU org!' }],
    ['name removed', { ...request, name: undefined }],
    ['login URL', { ...request, loginUrl: 'https://evil.example.com' }],
  ];
  for (const [what, other] of changed) {
    it(`refuse a link whose ${what} changed`, () => {
      expect(signer.verifyConnectLink(other, sig, T0)).to.deep.equal({ ok: false, failure: 'bad_signature' });
    });
  }

  it('refuse a later expiry, another key, and unsigned links', () => {
    expect(signer.verifyConnectLink(request, { ...sig, expires: sig.expires + 3600 }, T0)).to.deep.equal({ ok: false, failure: 'bad_signature' });
    expect(createOAuthStateSigner(OTHER_KEY).verifyConnectLink(request, sig, T0)).to.deep.equal({ ok: false, failure: 'bad_signature' });
    expect(signer.verifyConnectLink(request, { expires: 'soon', sig: sig.sig }, T0)).to.deep.equal({ ok: false, failure: 'bad_signature' });
    expect(signer.verifyConnectLink(request, {}, T0)).to.deep.equal({ ok: false, failure: 'unsigned' });
    expect(signer.verifyConnectLink(request, { expires: sig.expires }, T0)).to.deep.equal({ ok: false, failure: 'unsigned' });
  });

  it('build a start URL whose parameters verify after a trip through the URL', () => {
    const link = new URL(buildConnectLink('https://relay.example.com/lr/', signer, request, T0));
    expect(link.origin + link.pathname).to.equal('https://relay.example.com/lr/oauth/salesforce/start');
    const q = link.searchParams;
    const back: OAuthConnectRequest = {
      workspaceId: q.get('workspace')!,
      type: 'salesforce',
      name: q.get('name') ?? undefined,
      loginUrl: q.get('login_url') ?? undefined,
    };
    expect(back).to.deep.equal(request);
    expect(signer.verifyConnectLink(back, { expires: q.get('expires')!, sig: q.get('sig')! }, T0)).to.deep.equal({ ok: true });
  });
});

describe('oauth PKCE verifier', () => {
  it('is stable per nonce and key, 43 base64url characters, with the S256 challenge', () => {
    const v = signer.deriveCodeVerifier('nonce-aaaaaaaaaaaaaaaa');
    expect(v).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(signer.deriveCodeVerifier('nonce-aaaaaaaaaaaaaaaa')).to.equal(v);
    expect(signer.deriveCodeVerifier('nonce-bbbbbbbbbbbbbbbb')).to.not.equal(v);
    expect(createOAuthStateSigner(OTHER_KEY).deriveCodeVerifier('nonce-aaaaaaaaaaaaaaaa')).to.not.equal(v);
    expect(computeCodeChallenge(v)).to.equal(createHash('sha256').update(v).digest('base64url'));
  });

  it('matches the RFC 7636 appendix B example challenge', () => {
    expect(computeCodeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).to.equal('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });
});

describe('salesforce login URL', () => {
  const configured = 'http://127.0.0.1:9999';
  const table: [string, string | null][] = [
    ['https://login.salesforce.com', 'https://login.salesforce.com'],
    ['https://test.salesforce.com/', 'https://test.salesforce.com'],
    ['sandbox', 'https://test.salesforce.com'],
    ['production', 'https://login.salesforce.com'],
    ['https://acme.my.salesforce.com', 'https://acme.my.salesforce.com'],
    ['http://127.0.0.1:9999', 'http://127.0.0.1:9999'],
    ['http://127.0.0.1:8888', 'http://127.0.0.1:8888'],
    ['http://10.1.2.3:9999', null],
    ['http://login.salesforce.com', null],
    ['https://test.salesforce.com/services/oauth2/authorize', null],
    ['https://user:pw@test.salesforce.com', null],
    ['https://test.salesforce.com?x=1', null],
    ['test.salesforce.com', null],
  ];
  for (const [input, expected] of table) {
    it(`${input} → ${expected ?? 'refused'}`, () => {
      const r = parseSalesforceLoginUrl(input, configured);
      if (expected === null) {
        expect(r.ok).to.equal(false);
        if (!r.ok) expect(r.message).to.match(/login URL|https/);
      } else {
        expect(r).to.deep.equal({ ok: true, loginUrl: expected });
      }
    });
  }
});

describe('oauth routes before any database work', () => {
  // No database, queues or key ring: these answers must come before any of them is touched.
  let url: string;
  let close: () => Promise<void>;
  before(async () => {
    const app = {
      config: loadConfig({ NODE_ENV: 'test', PUBLIC_URL: 'https://relay.example.test', PIPEDRIVE_CLIENT_ID: 'pd-client' }),
      logger: createLogger('silent'),
    } as unknown as App;
    const web = express();
    web.use(createOAuthRouter(app, { stateSecret: KEY }));
    const server = web.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((r) => server.close(() => r()));
  });
  after(() => close());

  const page = async (path: string) => {
    const res = await fetch(`${url}${path}`, { redirect: 'manual' });
    return { status: res.status, type: res.headers.get('content-type'), html: await res.text() };
  };

  it('start names the unset client variables of the CRM', async () => {
    const hs = await page(`/oauth/hubspot/start?workspace=${WS}`);
    expect(hs.status).to.equal(400);
    expect(hs.type).to.match(/^text\/html/);
    expect(hs.html).to.contain('HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET are not set');
    const pd = await page(`/oauth/pipedrive/start?workspace=${WS}`);
    expect(pd.status).to.equal(400);
    expect(pd.html).to.contain('PIPEDRIVE_CLIENT_SECRET is not set').and.not.contain('PIPEDRIVE_CLIENT_ID');
  });

  it('answers 404 for a CRM it does not know, with the ones it does', async () => {
    const r = await page('/oauth/zoho/start');
    expect(r.status).to.equal(404);
    expect(r.html).to.contain('hubspot, salesforce, pipedrive');
  });

  it('refuses a callback whose state is missing, forged or for another CRM, escaping what it echoes', async () => {
    const forged = createOAuthStateSigner(OTHER_KEY).createState({ workspaceId: WS, type: 'hubspot' }, Date.now()).state;
    const other = signer.createState({ workspaceId: WS, type: 'pipedrive' }, Date.now()).state;
    for (const [query, text] of [
      ['code=abc', 'missing, altered'],
      [`code=abc&state=${forged}`, 'missing, altered'],
      [`code=abc&state=${other}`, 'different CRM'],
    ] as const) {
      const r = await page(`/oauth/hubspot/callback?${query}`);
      expect(r.status, query).to.equal(400);
      expect(r.html).to.contain(text);
    }
    const unknown = await page('/oauth/%3Cscript%3E/callback');
    expect(unknown.status).to.equal(404);
    expect(unknown.html).to.contain('&lt;script&gt;').and.not.contain('<script>');
  });

  it('says "declined" for access_denied with a good state, and quotes other CRM errors escaped', async () => {
    const state = signer.createState({ workspaceId: WS, type: 'hubspot' }, Date.now()).state;
    const denied = await page(`/oauth/hubspot/callback?error=access_denied&state=${state}`);
    expect(denied.status).to.equal(400);
    expect(denied.html).to.contain('Access was not allowed in HubSpot');
    const other = await page(`/oauth/hubspot/callback?error=invalid_scope&error_description=${encodeURIComponent('<b>scope</b> missing')}&state=${state}`);
    expect(other.status).to.equal(400);
    expect(other.html).to.contain('invalid_scope').and.contain('&lt;b&gt;scope&lt;/b&gt; missing');
  });
});
