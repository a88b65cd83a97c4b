// Contract tests for the Graph client's batch read (getLeads) against nock: the `POST /` it
// sends (batch=[{method, relative_url}], include_headers, one time-stamped appsecret_proof for
// the call) and how each answer of the batch comes back: `{code, headers, body}` with the body a
// JSON string, or `null` for a request that timed out. Shapes from
// https://developers.facebook.com/docs/graph-api/batch-requests (reference §14).
import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import nock from 'nock';
import { createGraphClient, GRAPH_BATCH_MAX, type GraphClient, type GraphLeadRead } from '../../src/meta/graph-client.js';

const ORIGIN = 'http://127.0.0.1:9';
const VERSION = 'v25.0';
const APP_SECRET = 'contract-app-secret';
const TOKEN = 'EAAPageTokenForBatchContractTests0123456789';
const NOW_MS = Date.UTC(2026, 10, 20, 10, 15, 30, 250);
const NOW_S = Math.floor(NOW_MS / 1000);

function makeClient(retries = 2): GraphClient {
  return createGraphClient({
    graphUrl: ORIGIN,
    version: VERSION,
    appSecret: APP_SECRET,
    appId: '1234567890',
    timeoutMs: 2000,
    retries,
    retryMinDelayMs: 1,
    now: () => NOW_MS,
  });
}

const leadJson = (id: string) => ({
  id,
  created_time: '2026-11-20T10:15:00+0000',
  form_id: '555666777',
  field_data: [{ name: 'email', values: [`${id}@example.com`] }],
  is_organic: true,
  platform: 'fb',
});

const graphErrorJson = (code: number, subcode?: number, message = 'Meta message') => ({
  error: { message, type: 'OAuthException', code, ...(subcode === undefined ? {} : { error_subcode: subcode }), fbtrace_id: 'TraceBatch1' },
});

/** One answer of a batch, as Graph gives it: the body is JSON text, the headers a list. */
function item(code: number, body: unknown, headers: Record<string, string> = {}) {
  return {
    code,
    headers: [{ name: 'Content-Type', value: 'text/javascript; charset=UTF-8' }, ...Object.entries(headers).map(([name, value]) => ({ name, value }))],
    body: JSON.stringify(body),
  };
}

interface SeenBatch {
  params: Record<string, string>;
  requests: { method: string; relative_url: string }[];
}

/** Answers successive `POST /v25.0/` calls with `answer(requests)`, recording what each sent. */
function scriptBatches(answers: ((requests: SeenBatch['requests']) => [number, unknown])[]): SeenBatch[] {
  const seen: SeenBatch[] = [];
  nock(ORIGIN)
    .post(`/${VERSION}/`)
    .times(answers.length)
    .reply(function (_uri, body) {
      const params = (typeof body === 'string' ? Object.fromEntries(new URLSearchParams(body)) : body) as Record<string, string>;
      const requests = JSON.parse(params.batch) as SeenBatch['requests'];
      seen.push({ params, requests });
      expect(this.req.headers['content-type']).to.match(/application\/x-www-form-urlencoded/);
      const [status, reply] = answers[seen.length - 1](requests);
      return [status, JSON.stringify(reply)];
    });
  return seen;
}

const idOf = (relativeUrl: string) => relativeUrl.split('?')[0];
const errorOf = (read: GraphLeadRead) => {
  expect(read.error, `lead ${read.leadgenId} failed`).to.not.equal(undefined);
  return read.error!.info;
};

describe('Graph client batch read (contract)', () => {
  before(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  after(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('sends one POST / with a GET per lead (the lead fields), include_headers and one time-stamped proof, and keeps the order', async () => {
    const ids = ['1234567890123456', '9007199254740993123', '77'];
    // Graph may send an id as a bare number, here one above 2^53.
    const numericIds = (answer: ReturnType<typeof item>) => ({ ...answer, body: answer.body.replace(/"id":"(\d+)"/, '"id":$1') });
    const seen = scriptBatches([(requests) => [200, requests.map((r) => numericIds(item(200, leadJson(idOf(r.relative_url)))))]]);
    const reads = await makeClient().getLeads(ids, TOKEN);

    expect(seen).to.have.length(1);
    const [{ params, requests }] = seen;
    expect(params.access_token).to.equal(TOKEN);
    expect(params.appsecret_time).to.equal(String(NOW_S));
    expect(params.appsecret_proof).to.equal(createHmac('sha256', APP_SECRET).update(`${TOKEN}|${NOW_S}`).digest('hex'));
    expect(params.include_headers).to.equal('true');
    expect(requests.map((r) => r.method)).to.deep.equal(['GET', 'GET', 'GET']);
    expect(requests.map((r) => idOf(r.relative_url))).to.deep.equal(ids);
    const fields = new URLSearchParams(requests[0].relative_url.split('?')[1]).get('fields')!.split(',');
    expect(fields).to.include.members(['id', 'created_time', 'form_id', 'field_data', 'custom_disclaimer_responses', 'ad_id', 'platform']);
    // No per-request token: the call's own token and proof cover every request.
    for (const r of requests) expect(r.relative_url).to.not.include('access_token');

    expect(reads.map((r) => r.leadgenId)).to.deep.equal(ids);
    expect(reads.map((r) => r.lead?.id)).to.deep.equal(ids);
    expect(reads[0].lead?.fieldData).to.deep.equal([{ name: 'email', values: ['1234567890123456@example.com'] }]);
    // An id above 2^53 stays exact through both JSON layers (the answer list and the body text).
    expect(reads[1].lead?.id).to.equal('9007199254740993123');
  });

  it('a null answer (timed out) is asked again alone; the others are not', async () => {
    const ids = ['101', '102', '103'];
    const seen = scriptBatches([
      (requests) => [200, requests.map((r) => (idOf(r.relative_url) === '102' ? null : item(200, leadJson(idOf(r.relative_url)))))],
      (requests) => [200, requests.map((r) => item(200, leadJson(idOf(r.relative_url))))],
    ]);
    const reads = await makeClient().getLeads(ids, TOKEN);
    expect(seen.map((s) => s.requests.map((r) => idOf(r.relative_url)))).to.deep.equal([['101', '102', '103'], ['102']]);
    expect(reads.map((r) => r.lead?.id)).to.deep.equal(ids);
  });

  it('a null answer that stays null past the retries is a transient failure of that lead alone', async () => {
    const seen = scriptBatches([
      (requests) => [200, requests.map((r) => (idOf(r.relative_url) === '202' ? null : item(200, leadJson(idOf(r.relative_url)))))],
      () => [200, [null]],
    ]);
    const reads = await makeClient(1).getLeads(['201', '202'], TOKEN);
    expect(seen).to.have.length(2);
    expect(reads[0].lead?.id).to.equal('201');
    expect(errorOf(reads[1])).to.include({ category: 'transient', reason: 'graph_batch_item_timeout' });
  });

  it('190 for one lead, an 80005 throttle for another: each classified for itself, with the wait from its own headers, and neither asked again', async () => {
    const usage = { '100200300': [{ type: 'leadgen', call_count: 100, total_cputime: 10, total_time: 10, estimated_time_to_regain_access: 7 }] };
    const seen = scriptBatches([
      (requests) => [
        200,
        requests.map((r) => {
          const id = idOf(r.relative_url);
          if (id === '302') return item(400, graphErrorJson(190, 460, 'Error validating access token: The session has been invalidated'));
          if (id === '303')
            return item(400, graphErrorJson(80005, undefined, 'There have been too many leadgen api calls'), {
              'X-Business-Use-Case-Usage': JSON.stringify(usage),
            });
          return item(200, leadJson(id));
        }),
      ],
    ]);
    const reads = await makeClient().getLeads(['301', '302', '303', '304'], TOKEN);
    expect(seen).to.have.length(1);
    expect(reads[0].lead?.id).to.equal('301');
    expect(errorOf(reads[1])).to.include({ category: 'token_dead', reason: 'graph_code_190_460', code: 190, subcode: 460, fbtraceId: 'TraceBatch1' });
    expect(errorOf(reads[2])).to.include({ category: 'throttled', reason: 'graph_code_80005', retryAfterMs: 7 * 60_000 });
    expect(reads[3].lead?.id).to.equal('304');
    expect(String(reads[1].error)).to.not.include(TOKEN);
  });

  it('100/33 for one lead is not_found for it alone; a Graph code 2 for another is asked again alone and then read', async () => {
    const seen = scriptBatches([
      (requests) => [
        200,
        requests.map((r) => {
          const id = idOf(r.relative_url);
          if (id === '402') return item(400, graphErrorJson(100, 33, `Unsupported get request. Object with ID '${id}' does not exist`));
          if (id === '403') return item(500, { error: { message: 'An unexpected error has occurred.', type: 'OAuthException', code: 2, is_transient: true } });
          return item(200, leadJson(id));
        }),
      ],
      (requests) => [200, requests.map((r) => item(200, leadJson(idOf(r.relative_url))))],
    ]);
    const reads = await makeClient().getLeads(['401', '402', '403'], TOKEN);
    expect(seen.map((s) => s.requests.map((r) => idOf(r.relative_url)))).to.deep.equal([['401', '402', '403'], ['403']]);
    expect(reads[0].lead?.id).to.equal('401');
    expect(errorOf(reads[1])).to.include({ category: 'not_found', reason: 'graph_code_100_33' });
    expect(reads[2].lead?.id).to.equal('403');
  });

  it('a whole batch refused (a dead token, HTTP 400) is every lead’s token_dead, after one call', async () => {
    const seen = scriptBatches([() => [400, graphErrorJson(190, 463, 'Error validating access token: Session has expired')]]);
    const reads = await makeClient().getLeads(['501', '502'], TOKEN);
    expect(seen).to.have.length(1);
    for (const r of reads) expect(errorOf(r)).to.include({ category: 'token_dead', reason: 'graph_code_190_463' });
  });

  it('a bare 503 for the whole batch is retried like a read, then every lead is read', async () => {
    const seen = scriptBatches([() => [503, ''], (requests) => [200, requests.map((r) => item(200, leadJson(idOf(r.relative_url))))]]);
    const reads = await makeClient().getLeads(['601', '602'], TOKEN);
    expect(seen).to.have.length(2);
    expect(reads.map((r) => r.lead?.id)).to.deep.equal(['601', '602']);
  });

  it('an answer list of the wrong length is every lead’s invalid response, not a misattributed lead', async () => {
    scriptBatches([(requests) => [200, [item(200, leadJson(idOf(requests[1].relative_url)))]]]);
    const reads = await makeClient().getLeads(['701', '702'], TOKEN);
    for (const r of reads) expect(errorOf(r)).to.include({ category: 'unknown', reason: 'graph_batch_response_invalid' });
  });

  it('an answer for another lead than asked is refused for that lead', async () => {
    scriptBatches([() => [200, [item(200, leadJson('801')), item(200, leadJson('999'))]]]);
    const reads = await makeClient().getLeads(['801', '802'], TOKEN);
    expect(reads[0].lead?.id).to.equal('801');
    expect(errorOf(reads[1])).to.include({ reason: 'graph_batch_item_mismatch' });
  });

  it(`refuses more than ${GRAPH_BATCH_MAX} leads without calling Meta, and a bad id fails alone without being sent`, async () => {
    const trap = nock(ORIGIN).post(/.*/).reply(500, {});
    const tooMany = Array.from({ length: GRAPH_BATCH_MAX + 1 }, (_, i) => String(1000 + i));
    const err = await makeClient()
      .getLeads(tooMany, TOKEN)
      .then(
        () => undefined,
        (e: unknown) => e as Error & { info: { reason: string } },
      );
    expect(err?.info.reason).to.equal('graph_batch_too_large');
    expect(trap.isDone(), 'Meta was not called').to.equal(false);
    nock.cleanAll();

    const seen = scriptBatches([(requests) => [200, requests.map((r) => item(200, leadJson(idOf(r.relative_url))))]]);
    const reads = await makeClient().getLeads(['901', '../me', '903'], TOKEN);
    expect(seen[0].requests.map((r) => idOf(r.relative_url))).to.deep.equal(['901', '903']);
    expect(errorOf(reads[1])).to.include({ category: 'invalid_request', reason: 'invalid_leadgen_id' });
    expect(reads.map((r) => r.lead?.id)).to.deep.equal(['901', undefined, '903']);
  });
});
