// The generic HTTPS destination against the shared connector contract (nock), then against the
// loopback fake receiver for what only a real socket shows: signatures, redirects, the timeout,
// the body cap and the private-address refusal.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import nock from 'nock';
import type { ConnectorSettings } from '../../connectors/types.js';
import { createWebhookConnector, type WebhookContext } from '../../connectors/webhook/index.js';
import type { WebhookConfig, WebhookCredentials } from '../../connectors/webhook/manifest.js';
import type { ResolveHost } from '../../src/util/outbound-guard.js';
import { makeSampleRecord, makeTestContext } from '../helpers/sample-lead.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { expectConnectorError, runConnectorContract } from './connector-contract.js';

const CRM_ORIGIN = 'https://crm.example.test';
const CRM_PATH = '/hooks/leads';
// A public address for the guard to check; nock answers before any socket is opened, and net
// connect is disabled below, so nothing is ever sent to it.
const PUBLIC_ADDRESS = '93.184.215.14';
const NOW_MS = Date.parse('2026-11-20T10:15:02.000Z');

let lookups: string[] = [];
const resolveHost: ResolveHost = async (hostname) => {
  lookups.push(hostname);
  if (hostname === 'crm.example.test') return [{ address: PUBLIC_ADDRESS, family: 4 }];
  if (hostname === 'receiver.test') return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
};

const connector = createWebhookConnector({ resolveHost });

function makeContext(
  config: WebhookConfig,
  credentials: WebhookCredentials = {},
  settings: Partial<ConnectorSettings> = {},
): WebhookContext & { saved: WebhookCredentials[] } {
  return makeTestContext<WebhookConfig, WebhookCredentials>({ config, credentials, settings, now: () => NOW_MS });
}

/**
 * nock 15 (via @mswjs/interceptors) forwards an error to the request only when it looks like a
 * Node system error (an Error with `code` and `errno`); a plain `{ code }` object leaves the
 * request hanging until the timeout, which would hide the reason under test.
 */
function makeConnectionReset(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
}

function isLoopback(host: string): boolean {
  return host.startsWith('127.0.0.1:') || host.startsWith('receiver.test:');
}

describe('webhook connector', () => {
  before(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(isLoopback);
  });
  after(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  let scope: nock.Scope | undefined;

  runConnectorContract('webhook', connector, {
    // Hostile defaults: private destinations refused, https only. The injected resolver says
    // crm.example.test is public; nock intercepts the request.
    makeContext: () => makeContext({ url: `${CRM_ORIGIN}${CRM_PATH}` }, {}, { allowPrivateDestinations: false }),
    sampleRecord: () => makeSampleRecord(),
    // What the webhook documents for receivers (manifest.ts): 429 + Retry-After in seconds.
    rateLimit: { answer: '429 with Retry-After: 7', reason: 'status_code_429', retryAfterMs: 7_000 },
    arrange(scenario, record) {
      const interceptor = nock(CRM_ORIGIN)
        .matchHeader('idempotency-key', record.idempotencyKey)
        .matchHeader('content-type', 'application/json')
        .post(CRM_PATH, (body) => JSON.stringify(body) === JSON.stringify(record.lead));
      switch (scenario.kind) {
        case 'created':
          scope = interceptor.reply(201, { id: scenario.externalId });
          break;
        case 'updated':
          // Our documented "already have it": 200 with {"duplicate": true}.
          scope = interceptor.reply(200, { id: scenario.externalId, duplicate: true });
          break;
        case 'rate_limited':
          scope = interceptor.reply(429, { message: 'slow down' }, { 'Retry-After': '7' });
          break;
        case 'unauthorized':
          scope = interceptor.reply(401, { error: 'invalid token' });
          break;
        case 'invalid':
          scope = interceptor.reply(400, { message: scenario.message, field: scenario.field });
          break;
        case 'server_error':
          scope = interceptor.reply(scenario.status, 'upstream unavailable');
          break;
        case 'connection_reset':
          scope = interceptor.replyWithError(makeConnectionReset());
          break;
      }
    },
    reset() {
      const isDone = scope?.isDone() ?? true;
      const pending = nock.pendingMocks();
      scope = undefined;
      nock.cleanAll();
      expect(isDone, `unused interceptors: ${pending.join(', ')}`).to.equal(true);
    },
  });

  describe('with nock', () => {
    afterEach(() => nock.cleanAll());

    it('reads the 2xx answer: 208 is an update, a number id is kept, no id falls back to the idempotency key', async () => {
      const record = makeSampleRecord();
      const ctx = makeContext({ url: `${CRM_ORIGIN}${CRM_PATH}` }, {}, { allowPrivateDestinations: false });
      nock(CRM_ORIGIN).post(CRM_PATH).reply(208, { id: 4242 });
      expect(await connector.deliver(ctx, record)).to.deep.include({ externalId: '4242', action: 'updated', httpStatus: 208 });
      nock(CRM_ORIGIN).post(CRM_PATH).reply(202, 'queued');
      expect(await connector.deliver(ctx, record)).to.deep.include({ externalId: record.idempotencyKey, action: 'created', responseBody: 'queued' });
    });

    it('names a dropped connection network_econnreset', async () => {
      nock(CRM_ORIGIN).post(CRM_PATH).replyWithError(makeConnectionReset());
      const err = await expectConnectorError(
        connector.deliver(makeContext({ url: `${CRM_ORIGIN}${CRM_PATH}` }, {}, { allowPrivateDestinations: false }), makeSampleRecord()),
      );
      expect(err).to.deep.include({ kind: 'retryable', reason: 'network_econnreset' });
      expect(err.httpStatus).to.equal(undefined);
    });

    it('turns 503 with Retry-After into rate_limited and a 302 into redirect_refused', async () => {
      const ctx = makeContext({ url: `${CRM_ORIGIN}${CRM_PATH}` }, {}, { allowPrivateDestinations: false });
      nock(CRM_ORIGIN).post(CRM_PATH).reply(503, 'busy', { 'Retry-After': '30' });
      expect(await expectConnectorError(connector.deliver(ctx, makeSampleRecord()))).to.deep.include({
        kind: 'rate_limited',
        reason: 'status_code_503',
        retryAfterMs: 30_000,
      });
      nock(CRM_ORIGIN).post(CRM_PATH).reply(302, '', { Location: 'http://169.254.169.254/latest/meta-data' });
      const redirect = await expectConnectorError(connector.deliver(ctx, makeSampleRecord()));
      expect(redirect).to.deep.include({ kind: 'invalid', reason: 'redirect_refused', httpStatus: 302 });
      expect(redirect.crmMessage).to.not.contain('169.254');
    });

    it('keeps the 4xx body on the error but never lead answers in its message', async () => {
      const record = makeSampleRecord();
      const echo = JSON.stringify({ message: 'rejected', received: record.lead });
      nock(CRM_ORIGIN).post(CRM_PATH).reply(422, echo);
      const err = await expectConnectorError(
        connector.deliver(makeContext({ url: `${CRM_ORIGIN}${CRM_PATH}` }, {}, { allowPrivateDestinations: false }), record),
      );
      expect(err).to.deep.include({ kind: 'invalid', reason: 'status_code_422', httpStatus: 422, crmMessage: 'rejected' });
      expect(err.responseBody).to.equal(echo);
      expect(err.message).to.equal('invalid: status_code_422');
    });

    it('sends the configured extra headers next to its own', async () => {
      const record = makeSampleRecord();
      const scope = nock(CRM_ORIGIN)
        .matchHeader('x-tenant', 'acme')
        .matchHeader('user-agent', /^LeadRelay\/\d+\.\d+\.\d+/)
        .matchHeader('x-leadrelay-delivery', record.idempotencyKey)
        .matchHeader('x-leadrelay-timestamp', String(Math.floor(NOW_MS / 1000)))
        .post(CRM_PATH)
        .reply(201, { id: 'x1' });
      await connector.deliver(
        makeContext({ url: `${CRM_ORIGIN}${CRM_PATH}`, headers: { 'X-Tenant': 'acme' } }, {}, { allowPrivateDestinations: false }),
        record,
      );
      expect(scope.isDone()).to.equal(true);
    });
  });

  describe('config schema', () => {
    it('accepts an https URL with extra headers, and refuses reserved or secret-bearing headers', () => {
      expect(connector.configSchema.safeParse({ url: 'https://crm.example.test/x', headers: { 'X-Tenant': 'acme' } }).success).to.equal(true);
      for (const name of ['Authorization', 'idempotency-key', 'X-LeadRelay-Signature', 'Content-Type', 'Host', 'bad header']) {
        expect(connector.configSchema.safeParse({ url: 'https://crm.example.test/x', headers: { [name]: 'v' } }).success, name).to.equal(false);
      }
      expect(connector.configSchema.safeParse({ url: 'https://crm.example.test/x', headers: { 'X-A': 'a\r\nX-B: b' } }).success).to.equal(false);
      expect(connector.configSchema.safeParse({ url: 'ftp://crm.example.test/x' }).success).to.equal(false);
      expect(connector.configSchema.safeParse({ url: 'https://u:p@crm.example.test/x' }).success).to.equal(false);
    });
  });

  describe('describeFields and verify', () => {
    it('describes the canonical record top-level paths', async () => {
      const fields = await connector.describeFields(makeContext({ url: `${CRM_ORIGIN}${CRM_PATH}` }));
      expect(fields.map((f) => f.key)).to.have.members(Object.keys(makeSampleRecord().lead));
    });

    it('verifies by resolving and guarding the URL, without sending anything', async () => {
      lookups = [];
      // Would answer any request to the CRM: still pending afterwards means nothing was sent.
      const trap = nock(CRM_ORIGIN).get(/.*/).reply(200).post(/.*/).reply(200).head(/.*/).reply(200);
      await connector.verify(makeContext({ url: `${CRM_ORIGIN}${CRM_PATH}` }, {}, { allowPrivateDestinations: false }));
      expect(lookups).to.deep.equal(['crm.example.test']);
      expect(trap.pendingMocks(), 'requests sent to the CRM').to.have.length(3);
      nock.cleanAll();
      const refused = await expectConnectorError(connector.verify(makeContext({ url: 'https://receiver.test/x' }, {}, { allowPrivateDestinations: false })));
      expect(refused).to.deep.include({ kind: 'invalid', reason: 'private_address_refused' });
      expect(refused.crmMessage).to.contain('127.0.0.1');
      const missing = await expectConnectorError(connector.verify(makeContext({ url: 'https://nowhere.test/x' }, {}, { allowPrivateDestinations: false })));
      expect(missing).to.deep.include({ kind: 'retryable', reason: 'network_enotfound' });
      const insecure = await expectConnectorError(connector.verify(makeContext({ url: `http://crm.example.test/x` }, {}, { allowPrivateDestinations: false })));
      expect(insecure).to.deep.include({ kind: 'invalid', reason: 'scheme_refused' });
      const shortSecret = await expectConnectorError(connector.verify(makeContext({ url: `${CRM_ORIGIN}${CRM_PATH}` }, { secret: 'short' })));
      expect(shortSecret).to.deep.include({ kind: 'invalid', reason: 'invalid_credentials' });
    });
  });

  describe('against the loopback fake receiver', () => {
    const SECRET = 'whsec_test_0123456789abcdef';
    let receiver: FakeReceiver;
    beforeEach(async () => {
      receiver = await startFakeReceiver({ secret: SECRET });
    });
    afterEach(async () => {
      await receiver.close();
    });

    // Loopback needs private destinations allowed (and http), as on a developer machine.
    const loopbackContext = (overrides: Partial<ConnectorSettings> = {}, url?: string) =>
      makeTestContext<WebhookConfig, WebhookCredentials>({
        config: { url: url ?? receiver.url },
        credentials: { secret: SECRET },
        settings: { allowPrivateDestinations: true, ...overrides },
      });

    it('posts the canonical record exactly, signed, with the idempotency key', async () => {
      const record = makeSampleRecord();
      const result = await connector.deliver(loopbackContext(), record);
      expect(result).to.deep.include({ action: 'created', externalId: record.idempotencyKey, httpStatus: 200 });
      expect(receiver.received).to.have.length(1);
      const got = receiver.received[0];
      expect(got.signatureValid).to.equal(true);
      expect(got.rawBody).to.equal(JSON.stringify(record.lead));
      expect(got.headers['idempotency-key']).to.equal(record.idempotencyKey);
      expect(got.headers['x-leadrelay-delivery']).to.equal(record.idempotencyKey);
      // The documented rule, computed here independently of the connector.
      const expected = createHmac('sha256', SECRET).update(`${got.headers['x-leadrelay-timestamp']}.${got.rawBody}`).digest('hex');
      expect(got.headers['x-leadrelay-signature']).to.equal(`sha256=${expected}`);
      expect(receiver.acceptedKeys()).to.deep.equal([record.idempotencyKey]);
    });

    it("a mapped record's body is the canonical record plus its fields, signed as sent", async () => {
      const record = makeSampleRecord({ isMapped: true, fields: { email: 'zoe.angstrom@example.com', lr_is_organic: false, budget: 900 } });
      await connector.deliver(loopbackContext(), record);
      const got = receiver.received[0];
      expect(got.signatureValid).to.equal(true);
      expect(got.body).to.deep.equal({ ...record.lead, fields: { email: 'zoe.angstrom@example.com', lr_is_organic: false, budget: 900 } });
      expect(connector.renderBody!(record)).to.deep.equal(got.body);
    });

    it('a mapped record that wrote nothing still carries an empty fields object', async () => {
      await connector.deliver(loopbackContext(), makeSampleRecord({ isMapped: true, fields: {} }));
      expect(receiver.received[0].body.fields).to.deep.equal({});
    });

    it('a record without a mapping is the canonical record alone, whatever its fields', async () => {
      const record = makeSampleRecord({ isMapped: false });
      await connector.deliver(loopbackContext(), record);
      expect(receiver.received[0].rawBody).to.equal(JSON.stringify(record.lead));
      expect(connector.renderBody!(record)).to.deep.equal(record.lead);
    });

    it('a signature made with another secret does not verify at the receiver', async () => {
      const ctx = loopbackContext();
      ctx.credentials = { secret: 'another-secret-0123456789' };
      await connector.deliver(ctx, makeSampleRecord());
      expect(receiver.received[0].signatureValid).to.equal(false);
    });

    it('sends no signature without a secret', async () => {
      const ctx = loopbackContext();
      ctx.credentials = {};
      await connector.deliver(ctx, makeSampleRecord());
      expect(receiver.received[0].headers).to.not.have.property('x-leadrelay-signature');
      expect(receiver.received[0].signatureValid).to.equal(false);
    });

    it('refuses a 302 and does not follow it', async () => {
      const other = await startFakeReceiver();
      try {
        receiver.respondWith([{ status: 302, headers: { location: other.url } }]);
        const err = await expectConnectorError(connector.deliver(loopbackContext(), makeSampleRecord()));
        expect(err).to.deep.include({ kind: 'invalid', reason: 'redirect_refused', httpStatus: 302 });
        expect(err.crmMessage).to.contain('302');
        expect(err.crmMessage).to.not.contain(other.url);
        expect(other.received).to.have.length(0);
        expect(receiver.acceptedKeys()).to.deep.equal([]);
      } finally {
        await other.close();
      }
    });

    it('gives up on a slow receiver at the fixed timeout, as retryable timeout, hanging up before the answer', async () => {
      receiver.respondWith([{ status: 200, body: '{"ok":true}', delayMs: 3000 }]);
      const err = await expectConnectorError(connector.deliver(loopbackContext({ timeoutMs: 150 }), makeSampleRecord()));
      expect(err).to.deep.include({ kind: 'retryable', reason: 'timeout' });
      // The receiver saw the sender hang up: the request was never answered, so never accepted.
      await receiver.waitFor((r) => r.received.length === 1);
      expect(receiver.received[0].status).to.equal(0);
      expect(receiver.acceptedKeys()).to.deep.equal([]);
    });

    it('times out a body that trickles in after the headers', async () => {
      // The deadline covers reading the body too, not just the wait for headers.
      const server = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"id":"slow"');
        setTimeout(() => res.end('}'), 3000).unref();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const err = await expectConnectorError(connector.deliver(loopbackContext({ timeoutMs: 150 }, `http://127.0.0.1:${port}/`), makeSampleRecord()));
        expect(err).to.deep.include({ kind: 'retryable', reason: 'timeout' });
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    it('keeps only the first responseBodyMaxBytes of a large body', async () => {
      const big = 'A'.repeat(50_000);
      receiver.respondWith([{ status: 400, body: big }]);
      const err = await expectConnectorError(connector.deliver(loopbackContext({ responseBodyMaxBytes: 1024 }), makeSampleRecord()));
      expect(err.kind).to.equal('invalid');
      expect(err.responseBody).to.equal(big.slice(0, 1024));
      receiver.respondWith([{ status: 201, body: JSON.stringify({ id: 'x', pad: big }) }]);
      const result = await connector.deliver(loopbackContext({ responseBodyMaxBytes: 64 }), makeSampleRecord());
      expect(Buffer.byteLength(result.responseBody ?? '')).to.equal(64);
      // A truncated body is not JSON any more, so the id falls back to the idempotency key.
      expect(result.externalId).to.equal(makeSampleRecord().idempotencyKey);
    });

    it('refuses the loopback receiver when private destinations are not allowed, sending nothing', async () => {
      const err = await expectConnectorError(connector.deliver(loopbackContext({ allowPrivateDestinations: false }), makeSampleRecord()));
      expect(err.kind).to.equal('invalid');
      // http is refused first; over https the address check refuses it.
      expect(err.reason).to.equal('scheme_refused');
      const overHttps = await expectConnectorError(
        connector.deliver(loopbackContext({ allowPrivateDestinations: false }, receiver.url.replace('http:', 'https:')), makeSampleRecord()),
      );
      expect(overHttps).to.deep.include({ kind: 'invalid', reason: 'private_address_refused' });
      expect(receiver.received).to.have.length(0);
    });

    it('connects to the address it checked, resolving the host once per delivery', async () => {
      lookups = [];
      const url = receiver.url.replace('127.0.0.1', 'receiver.test');
      const result = await connector.deliver(loopbackContext({}, url), makeSampleRecord());
      expect(result.httpStatus).to.equal(200);
      expect(lookups).to.deep.equal(['receiver.test']);
      expect(receiver.received[0].headers.host).to.match(/^receiver\.test:\d+$/);
    });

    it('reports a refused connection as retryable', async () => {
      const url = receiver.url;
      await receiver.close();
      const err = await expectConnectorError(connector.deliver(loopbackContext({}, url), makeSampleRecord()));
      expect(err).to.deep.include({ kind: 'retryable', reason: 'network_econnrefused' });
      receiver = await startFakeReceiver(); // for afterEach
    });

    it('lets the receiver dedupe: a repeat delivery carries the same idempotency key', async () => {
      const record = makeSampleRecord();
      receiver.respondWith([
        { status: 200, body: '{"id":"r-1"}' },
        { status: 208, body: '{"id":"r-1"}' },
      ]);
      const first = await connector.deliver(loopbackContext(), record);
      const second = await connector.deliver(loopbackContext(), record);
      expect([first.action, second.action]).to.deep.equal(['created', 'updated']);
      await receiver.waitFor((r) => r.received.length === 2);
      // Two requests, both accepted, under one key: a receiver keeping keys stores the lead once.
      expect(receiver.received.map((r) => [r.headers['idempotency-key'], r.status])).to.deep.equal([
        [record.idempotencyKey, 200],
        [record.idempotencyKey, 208],
      ]);
      expect(receiver.acceptedKeys()).to.deep.equal([record.idempotencyKey]);
    });
  });
});
