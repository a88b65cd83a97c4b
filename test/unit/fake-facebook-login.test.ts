// The fake's Facebook Login answers what the reference says Meta answers, through the program's
// own Graph client: codes work once, for their redirect URI, with the app secret; the long-lived
// exchange; /me/accounts paged; the app subscription handshake.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createGraphClient, type GraphClient } from '../../src/meta/graph-client.js';
import { GraphError } from '../../src/meta/graph-errors.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';

const APP_ID = '1234567890';
const APP_SECRET = 'fake-login-test-secret';
const REDIRECT = 'https://lr.example.com/oauth/facebook/callback';

async function failureOf(work: Promise<unknown>): Promise<GraphError> {
  try {
    await work;
  } catch (err) {
    expect(err).to.be.instanceOf(GraphError);
    return err as GraphError;
  }
  throw new Error('expected a GraphError, but the call resolved');
}

describe('fake Facebook Login', () => {
  let fake: FakeGraph;
  let client: GraphClient;
  const clientWith = (appSecret: string) =>
    createGraphClient({ graphUrl: fake.url, version: 'v25.0', appSecret, appId: APP_ID, timeoutMs: 5000, retries: 0, retryMinDelayMs: 0 });

  /** Through the dialog with Continue: the code it sends back. */
  async function codeFromDialog(scope = 'pages_show_list,leads_retrieval'): Promise<string> {
    const form = new URLSearchParams({ client_id: APP_ID, redirect_uri: REDIRECT, state: 'st', scope, response_type: 'code', decision: 'continue' });
    const res = await fetch(`${fake.url}/v25.0/dialog/oauth`, { method: 'POST', body: form, redirect: 'manual' });
    const back = new URL(res.headers.get('location')!);
    expect(back.searchParams.get('state')).to.equal('st');
    return back.searchParams.get('code')!;
  }

  beforeEach(async () => {
    fake = await startFakeGraph({ appSecret: APP_SECRET, appId: APP_ID, maxPageSize: 2 });
    fake.setLoginUser({ name: 'Mia', pages: [1, 2, 3].map((i) => ({ id: `70000000${i}`, name: `Page ${i}` })), declined: ['leads_retrieval'] });
    client = clientWith(APP_SECRET);
  });
  afterEach(() => fake.close());

  it('shows an error page, not a redirect, for another app id or an unlisted redirect URI', async () => {
    const wrongApp = await fetch(`${fake.url}/v25.0/dialog/oauth?client_id=999&redirect_uri=${encodeURIComponent(REDIRECT)}&scope=x`);
    expect(wrongApp.status).to.equal(400);
    expect(await wrongApp.text()).to.match(/Invalid App ID/);
    const strict = await startFakeGraph({ appSecret: APP_SECRET, appId: APP_ID, redirectUris: [REDIRECT] });
    const blocked = await fetch(`${strict.url}/v25.0/dialog/oauth?client_id=${APP_ID}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}&scope=x`);
    expect(await blocked.text()).to.match(/URL blocked/);
    await strict.close();
  });

  it('turns a code into a token once; a second exchange gets 100/36009', async () => {
    const code = await codeFromDialog();
    const token = await client.exchangeLoginCode({ code, redirectUri: REDIRECT });
    expect(token.accessToken).to.match(/^EAA/);
    const again = await failureOf(client.exchangeLoginCode({ code, redirectUri: REDIRECT }));
    expect(again.info).to.include({ code: 100, subcode: 36009 });
  });

  it('refuses a code for another redirect URI (100/36008), an unknown code (100) and a wrong app secret (code 1)', async () => {
    const code = await codeFromDialog();
    expect((await failureOf(client.exchangeLoginCode({ code, redirectUri: `${REDIRECT}/other` }))).info).to.include({ code: 100, subcode: 36008 });
    expect((await failureOf(client.exchangeLoginCode({ code: 'AQunknown', redirectUri: REDIRECT }))).info.code).to.equal(100);
    const wrongSecret = await failureOf(clientWith('not-the-secret').exchangeLoginCode({ code, redirectUri: REDIRECT }));
    expect(wrongSecret.info.message).to.match(/client secret/);
  });

  it('gives a long-lived token for a short-lived one, reporting the declined permission', async () => {
    const short = await client.exchangeLoginCode({ code: await codeFromDialog(), redirectUri: REDIRECT });
    const long = await client.exchangeForLongLivedToken(short.accessToken);
    expect(long.expiresInSeconds).to.equal(5_183_944);
    expect(await client.getMe(long.accessToken)).to.deep.equal({ id: '10000000000042', name: 'Mia' });
    const permissions = await client.listPermissions(long.accessToken);
    expect(permissions).to.deep.include({ permission: 'leads_retrieval', status: 'declined' });
    expect(permissions).to.deep.include({ permission: 'pages_show_list', status: 'granted' });
  });

  it('lists the Pages over several requests, each with its own Page token and tasks', async () => {
    const short = await client.exchangeLoginCode({ code: await codeFromDialog(), redirectUri: REDIRECT });
    const pages = [];
    for await (const p of client.listAccounts(short.accessToken)) pages.push(p);
    expect(pages.map((p) => p.id)).to.deep.equal(['700000001', '700000002', '700000003']);
    expect(fake.calls.filter((c) => c.path === '/v25.0/me/accounts')).to.have.length(2);
    expect(pages[0]!.tasks).to.include('MANAGE');
    expect(pages[0]!.accessToken).to.equal(fake.issuedPageTokens('700000001')[0]);
  });

  it('lists no Pages without pages_show_list', async () => {
    const short = await client.exchangeLoginCode({ code: await codeFromDialog('leads_retrieval'), redirectUri: REDIRECT });
    const pages = [];
    for await (const p of client.listAccounts(short.accessToken)) pages.push(p);
    expect(pages).to.deep.equal([]);
  });

  it('subscribes the app only after the callback answers the handshake with the challenge', async () => {
    let answer = (challenge: string) => challenge;
    const hook = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const ok = url.searchParams.get('hub.verify_token') === 'vt' && url.searchParams.get('hub.mode') === 'subscribe';
      res.writeHead(ok ? 200 : 403).end(ok ? answer(url.searchParams.get('hub.challenge') ?? '') : '');
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const callbackUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/webhooks/meta`;
    try {
      answer = () => '"not it"';
      const refused = await failureOf(client.subscribeApp({ object: 'page', callbackUrl, fields: ['leadgen'], verifyToken: 'vt', includeValues: true }));
      expect(refused.info.code).to.equal(2200);
      expect(fake.appSubscription()).to.equal(undefined);
      answer = (challenge) => challenge;
      await client.subscribeApp({ object: 'page', callbackUrl, fields: ['leadgen'], verifyToken: 'vt', includeValues: true });
      expect(await client.listAppSubscriptions()).to.deep.equal([{ object: 'page', callbackUrl, isActive: true, fields: ['leadgen'] }]);
    } finally {
      await new Promise<void>((r) => hook.close(() => r()));
    }
  });
});
