// Signed webhook bodies at the edges, through the real HTTP server (startHttpServer, node:http
// fast path): too deep, too large, and Meta's largest batch (1000 updates in one POST).
import { expect } from 'chai';
import { startHttpServer, type HttpServer } from '../../src/http/server.js';
import { computeSignature256 } from '../../src/meta/signature.js';
import { MAX_WEBHOOK_JSON_DEPTH } from '../../src/meta/webhook-payload.js';
import { createMetrics, type Metrics } from '../../src/util/metrics.js';
import { TEST_APP_SECRET } from '../helpers/e2e.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const PAGE = '500000077';
let nextLeadgen = 7_100_000_000_000_000;

/** A batch as Meta sends it: one entry per update, every id a string of its real length. */
function metaBatch(updates: number): { raw: string; leadgenIds: string[] } {
  const leadgenIds = Array.from({ length: updates }, () => String(nextLeadgen++));
  const raw = JSON.stringify({
    object: 'page',
    entry: leadgenIds.map((id) => ({
      id: PAGE,
      time: 1_767_225_600,
      changes: [
        {
          field: 'leadgen',
          value: {
            ad_id: '120200000000000001',
            form_id: '1234567890123456',
            leadgen_id: id,
            created_time: 1_767_225_600,
            page_id: PAGE,
            adgroup_id: '120200000000000001',
          },
        },
      ],
    })),
  });
  return { raw, leadgenIds };
}

describe('signed webhook bodies at the limits, through the HTTP server', function () {
  this.timeout(30_000);
  let t: TestApp;
  let http: HttpServer;
  let metrics: Metrics;
  let url: string;

  before(async () => {
    t = await createTestApp({ env: { PORT: '0', HOST: '127.0.0.1' } });
    metrics = createMetrics();
    http = await startHttpServer(t.app, metrics);
    url = `http://127.0.0.1:${http.port}/webhooks/meta`;
  });
  after(async () => {
    await http?.close();
    await t?.cleanup();
  });

  const post = async (raw: string | Buffer) => {
    const body = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': computeSignature256(body, TEST_APP_SECRET) },
      body,
    });
    return { status: res.status, text: await res.text() };
  };
  const rejected = async (reason: string) => (await metrics.webhookRejected.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

  it('refuses a deeply nested signed body with 400 naming the nesting limit, before reading past the limit', async () => {
    // 400 000 levels of arrays and then bytes that are no JSON at all: a parser that read the
    // whole body would call it malformed; the nesting check stops at level 33.
    const raw = `{"object":"page","entry":${'['.repeat(400_000)}this is not JSON`;
    const res = await post(raw);
    expect(res.status).to.equal(400);
    expect(JSON.parse(res.text)).to.deep.equal({ error: `body nests deeper than ${MAX_WEBHOOK_JSON_DEPTH} levels (a leadgen notification nests 6)` });
    expect(await rejected('too_deep')).to.equal(1);
    expect(await rejected('malformed_json')).to.equal(0);
  });

  it('refuses a small deeply nested body (parsed on the event loop) the same way', async () => {
    const res = await post(`{"object":"page","entry":[${'{"a":'.repeat(40)}1${'}'.repeat(40)}]}`);
    expect(res.status).to.equal(400);
    expect(JSON.parse(res.text).error).to.match(/^body nests deeper than 32 levels/);
  });

  it('refuses a body larger than MAX_WEBHOOK_BODY_BYTES with 413, and records nothing', async () => {
    const { raw, leadgenIds } = metaBatch(10);
    const padded = Buffer.concat([Buffer.from(raw), Buffer.alloc(t.config.intake.maxBodyBytes - Buffer.byteLength(raw) + 1, 0x20)]);
    const res = await post(padded);
    expect(res.status).to.equal(413);
    expect(JSON.parse(res.text)).to.deep.equal({ error: `body larger than ${t.config.intake.maxBodyBytes} bytes` });
    expect(await t.app.db.selectFrom('leadgen_events').select('id').where('leadgen_id', 'in', leadgenIds).execute()).to.deep.equal([]);
  });

  it("accepts Meta's largest batch (1000 updates in one POST) and records every lead once", async () => {
    const { raw, leadgenIds } = metaBatch(1000);
    expect(Buffer.byteLength(raw)).to.be.greaterThan(64 * 1024);
    const [first, repeat] = await Promise.all([post(raw), post(raw)]);
    expect([first, repeat].map((r) => `${r.status} ${r.text}`)).to.deep.equal(['200 EVENT_RECEIVED', '200 EVENT_RECEIVED']);
    const rows = await t.app.db.selectFrom('leadgen_events').select(['leadgen_id', 'page_id', 'form_id']).where('page_id', '=', PAGE).execute();
    expect(rows.map((r) => r.leadgen_id).sort()).to.deep.equal([...leadgenIds].sort());
    expect(rows[0]).to.include({ page_id: PAGE, form_id: '1234567890123456' });
  });

  it('accepts a batch whose body is just under MAX_WEBHOOK_BODY_BYTES', async () => {
    const { raw, leadgenIds } = metaBatch(1000);
    // Pretty-printed and padded with whitespace up to the limit: still valid JSON.
    const pretty = JSON.stringify(JSON.parse(raw), null, 2);
    const padded = pretty + ' '.repeat(t.config.intake.maxBodyBytes - Buffer.byteLength(pretty));
    expect(Buffer.byteLength(padded)).to.equal(t.config.intake.maxBodyBytes);
    const res = await post(padded);
    expect(`${res.status} ${res.text}`).to.equal('200 EVENT_RECEIVED');
    const rows = await t.app.db.selectFrom('leadgen_events').select('leadgen_id').where('leadgen_id', 'in', leadgenIds).execute();
    expect(rows).to.have.length(1000);
  });
});
