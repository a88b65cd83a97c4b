import { expect } from 'chai';
import {
  APP_USAGE_EXHAUSTED_WAIT_MS,
  classifyGraphError,
  DEFAULT_THROTTLE_WAIT_MS,
  GraphError,
  parseAppUsagePercent,
  parseBusinessUseCaseUsage,
  scrubSecrets,
  type GraphErrorCategory,
} from '../../src/meta/graph-errors.js';

const NOW = Date.parse('2026-11-20T10:15:00.000Z');

function graphBody(code: number, subcode?: number, message = 'Meta says no') {
  return { error: { message, type: 'OAuthException', code, ...(subcode === undefined ? {} : { error_subcode: subcode }), fbtrace_id: 'AbCdEf12345' } };
}

describe('classifyGraphError', () => {
  describe('the Graph code table', () => {
    const rows: { code: number; subcode?: number; status?: number; category: GraphErrorCategory; reason: string }[] = [
      { code: 1, category: 'transient', reason: 'graph_code_1' },
      { code: 2, category: 'transient', reason: 'graph_code_2' },
      { code: 1, subcode: 99, status: 500, category: 'transient', reason: 'graph_code_1_99' },
      { code: 4, category: 'throttled', reason: 'graph_code_4' },
      { code: 17, category: 'throttled', reason: 'graph_code_17' },
      { code: 32, category: 'throttled', reason: 'graph_code_32' },
      { code: 613, category: 'throttled', reason: 'graph_code_613' },
      { code: 613, subcode: 1996, category: 'throttled', reason: 'graph_code_613_1996' },
      { code: 80000, category: 'throttled', reason: 'graph_code_80000' },
      { code: 80001, category: 'throttled', reason: 'graph_code_80001' },
      { code: 80004, category: 'throttled', reason: 'graph_code_80004' },
      { code: 80005, category: 'throttled', reason: 'graph_code_80005' },
      { code: 10, category: 'permission_missing', reason: 'graph_code_10' },
      { code: 200, category: 'permission_missing', reason: 'graph_code_200' },
      { code: 230, category: 'permission_missing', reason: 'graph_code_230' },
      { code: 299, category: 'permission_missing', reason: 'graph_code_299' },
      { code: 100, category: 'not_found', reason: 'graph_code_100' },
      { code: 100, subcode: 33, category: 'not_found', reason: 'graph_code_100_33' },
      { code: 190, category: 'token_dead', reason: 'graph_code_190' },
      { code: 190, subcode: 458, category: 'token_dead', reason: 'graph_code_190_458' },
      { code: 190, subcode: 459, category: 'token_dead', reason: 'graph_code_190_459' },
      { code: 190, subcode: 460, category: 'token_dead', reason: 'graph_code_190_460' },
      { code: 190, subcode: 463, category: 'token_dead', reason: 'graph_code_190_463' },
      { code: 190, subcode: 464, category: 'token_dead', reason: 'graph_code_190_464' },
      { code: 190, subcode: 467, category: 'token_dead', reason: 'graph_code_190_467' },
      { code: 190, subcode: 492, category: 'page_role_missing', reason: 'graph_code_190_492' },
      { code: 368, category: 'blocked', reason: 'graph_code_368' },
      { code: 368, subcode: 1390008, category: 'blocked', reason: 'graph_code_368_1390008' },
      { code: 300, category: 'unknown', reason: 'graph_code_300' },
      { code: 300, status: 502, category: 'transient', reason: 'graph_code_300' },
    ];
    for (const row of rows) {
      it(`code ${row.code}${row.subcode === undefined ? '' : `/${row.subcode}`} (HTTP ${row.status ?? 400}) → ${row.category}`, () => {
        const info = classifyGraphError({ nowMs: NOW, httpStatus: row.status ?? 400, body: graphBody(row.code, row.subcode) });
        expect(info.category).to.equal(row.category);
        expect(info.reason).to.equal(row.reason);
        expect(info.code).to.equal(row.code);
        expect(info.subcode).to.equal(row.subcode);
        expect(info.httpStatus).to.equal(row.status ?? 400);
        expect(info.fbtraceId).to.equal('AbCdEf12345');
        expect(info.message).to.equal('Meta says no');
        if (row.category === 'throttled') expect(info.retryAfterMs).to.be.a('number').and.above(0);
        else expect(info.retryAfterMs).to.equal(undefined);
      });
    }

    it('reads codes sent as numeric strings and a JSON text body', () => {
      const info = classifyGraphError({ nowMs: NOW, httpStatus: 400, body: JSON.stringify({ error: { code: '190', error_subcode: '460', message: 'x' } }) });
      expect(info).to.include({ category: 'token_dead', reason: 'graph_code_190_460', code: 190, subcode: 460 });
    });

    it('treats an unlisted code that Meta marks is_transient as transient', () => {
      const body = { error: { message: 'try later', code: 9007, is_transient: true } };
      expect(classifyGraphError({ nowMs: NOW, httpStatus: 400, body }).category).to.equal('transient');
    });

    it('keeps a code 100 about appsecret_proof or a missing field from looking like a missing lead', () => {
      const proof = classifyGraphError({
        nowMs: NOW,
        httpStatus: 400,
        body: graphBody(100, undefined, 'Invalid appsecret_proof provided in the API argument'),
      });
      expect(proof).to.include({ category: 'invalid_request', reason: 'graph_code_100_appsecret_proof' });
      const field = classifyGraphError({
        nowMs: NOW,
        httpStatus: 400,
        body: graphBody(100, undefined, '(#100) Tried accessing nonexisting field (foo) on node type (UserLeadGenInfo)'),
      });
      expect(field).to.include({ category: 'invalid_request', reason: 'graph_code_100_nonexisting_field' });
      const permission = classifyGraphError({
        nowMs: NOW,
        httpStatus: 400,
        body: graphBody(100, undefined, "(#100) This endpoint requires the 'pages_read_engagement' permission"),
      });
      expect(permission).to.include({ category: 'permission_missing', reason: 'graph_code_100_permission' });
      // Subcode 33 wins whatever the text says ("... due to missing permissions ...").
      const missing = classifyGraphError({
        nowMs: NOW,
        httpStatus: 400,
        body: graphBody(100, 33, "Unsupported get request. Object with ID '1' does not exist, cannot be loaded due to missing permissions"),
      });
      expect(missing.category).to.equal('not_found');
    });

    it('falls back to the x-fb-trace-id header for the trace id', () => {
      const body = { error: { message: 'm', code: 2 } };
      const info = classifyGraphError({ nowMs: NOW, httpStatus: 500, body, headers: { 'X-FB-Trace-ID': 'HeaderTrace1' } });
      expect(info.fbtraceId).to.equal('HeaderTrace1');
    });
  });

  describe('without a Graph body', () => {
    for (const status of [500, 502, 503, 504]) {
      it(`HTTP ${status} is transient`, () => {
        const info = classifyGraphError({ nowMs: NOW, httpStatus: status, body: '<html>Bad Gateway</html>' });
        expect(info).to.include({ category: 'transient', reason: `status_code_${status}`, httpStatus: status });
        expect(info.code).to.equal(undefined);
      });
    }

    it('an empty 503 is transient', () => {
      expect(classifyGraphError({ nowMs: NOW, httpStatus: 503 })).to.include({ category: 'transient', reason: 'status_code_503' });
    });

    it('HTTP 429 is throttled and honours Retry-After seconds', () => {
      const info = classifyGraphError({ nowMs: NOW, httpStatus: 429, headers: { 'retry-after': '42' } });
      expect(info).to.include({ category: 'throttled', reason: 'status_code_429', retryAfterMs: 42_000 });
    });

    it('HTTP 429 reads a Retry-After HTTP date against the clock it is given, in any header case', () => {
      const headers = { 'Retry-After': 'Fri, 20 Nov 2026 10:16:00 GMT' };
      expect(classifyGraphError({ nowMs: NOW, httpStatus: 429, headers }).retryAfterMs).to.equal(60_000);
      expect(classifyGraphError({ nowMs: NOW + 30_000, httpStatus: 429, headers }).retryAfterMs).to.equal(30_000);
    });

    it('HTTP 429 with a Retry-After date already past waits the default', () => {
      const info = classifyGraphError({ nowMs: NOW, httpStatus: 429, headers: { 'retry-after': 'Fri, 20 Nov 2026 10:00:00 GMT' } });
      expect(info.retryAfterMs).to.equal(DEFAULT_THROTTLE_WAIT_MS);
    });

    it('another 4xx is invalid_request', () => {
      expect(classifyGraphError({ nowMs: NOW, httpStatus: 404, body: 'nope' })).to.include({ category: 'invalid_request', reason: 'status_code_404' });
    });

    // The same reasons as every connector's (src/util/classify.ts).
    const network: [string, string][] = [
      ['ECONNRESET', 'network_econnreset'],
      ['ECONNREFUSED', 'network_econnrefused'],
      ['ENOTFOUND', 'network_enotfound'],
      ['EAI_AGAIN', 'network_eai_again'],
      ['ETIMEDOUT', 'timeout'],
      ['ECONNABORTED', 'timeout'],
      ['', 'network_error'],
    ];
    for (const [networkCode, reason] of network) {
      it(`network error ${JSON.stringify(networkCode)} is transient (${reason})`, () => {
        const info = classifyGraphError({ networkCode });
        expect(info).to.include({ category: 'transient', reason });
        expect(info.httpStatus).to.equal(undefined);
      });
    }

    it('names the transport code in the message', () => {
      expect(classifyGraphError({ networkCode: 'econnreset' }).message).to.equal('no response from the Graph API (ECONNRESET)');
    });

    it('nothing at all is unknown', () => {
      expect(classifyGraphError({})).to.include({ category: 'unknown', reason: 'no_response' });
    });
  });

  describe('throttle waits from headers', () => {
    it('80005 takes estimated_time_to_regain_access (minutes) from the leadgen BUC entry', () => {
      const buc = {
        '100200300': [
          { type: 'pages', call_count: 20, total_cputime: 5, total_time: 5, estimated_time_to_regain_access: 0 },
          { type: 'leadgen', call_count: 100, total_cputime: 9, total_time: 9, estimated_time_to_regain_access: 7 },
        ],
      };
      const info = classifyGraphError({ nowMs: NOW, httpStatus: 400, body: graphBody(80005), headers: { 'X-Business-Use-Case-Usage': JSON.stringify(buc) } });
      expect(info.retryAfterMs).to.equal(7 * 60_000);
    });

    it('uses the largest estimate when no entry has the matching type', () => {
      const buc = { a: [{ type: 'ads_management', estimated_time_to_regain_access: 3 }], b: [{ type: 'messenger', estimated_time_to_regain_access: 11 }] };
      const info = classifyGraphError({ nowMs: NOW, httpStatus: 400, body: graphBody(80001), headers: { 'x-business-use-case-usage': JSON.stringify(buc) } });
      expect(info.retryAfterMs).to.equal(11 * 60_000);
    });

    it('a BUC estimate also governs a platform throttle code (BUC wins when both apply)', () => {
      const buc = { p: [{ type: 'pages', call_count: 100, estimated_time_to_regain_access: 2 }] };
      const info = classifyGraphError({ nowMs: NOW, httpStatus: 400, body: graphBody(32), headers: { 'x-business-use-case-usage': JSON.stringify(buc) } });
      expect(info.retryAfterMs).to.equal(2 * 60_000);
    });

    it('X-App-Usage at 100 % gives the exhausted-budget wait', () => {
      const info = classifyGraphError({
        nowMs: NOW,
        httpStatus: 400,
        body: graphBody(4),
        headers: { 'x-app-usage': '{"call_count":100,"total_cputime":12,"total_time":14}' },
      });
      expect(info.retryAfterMs).to.equal(APP_USAGE_EXHAUSTED_WAIT_MS);
    });

    it('no usable header gives the default wait', () => {
      const info = classifyGraphError({ nowMs: NOW, httpStatus: 400, body: graphBody(17), headers: { 'x-app-usage': '{"call_count":40}' } });
      expect(info.retryAfterMs).to.equal(DEFAULT_THROTTLE_WAIT_MS);
    });

    for (const bad of ['{not json', '[]', '"text"', 'null', '{"x": 5}', '{"x": [null, 3, {"estimated_time_to_regain_access": "soon"}]}', '']) {
      it(`malformed usage headers (${JSON.stringify(bad)}) do not throw and fall back to the default`, () => {
        const info = classifyGraphError({
          nowMs: NOW,
          httpStatus: 400,
          body: graphBody(80005),
          headers: { 'x-business-use-case-usage': bad, 'x-app-usage': bad, 'retry-after': 'whenever' },
        });
        expect(info).to.include({ category: 'throttled', retryAfterMs: DEFAULT_THROTTLE_WAIT_MS });
      });
    }

    it('accepts array-valued headers', () => {
      const info = classifyGraphError({
        nowMs: NOW,
        httpStatus: 400,
        body: graphBody(80005),
        headers: { 'x-business-use-case-usage': [JSON.stringify({ a: [{ type: 'leadgen', estimated_time_to_regain_access: 1 }] })] },
      });
      expect(info.retryAfterMs).to.equal(60_000);
    });
  });

  describe('header parsers', () => {
    it('parseBusinessUseCaseUsage reads every object and entry', () => {
      const entries = parseBusinessUseCaseUsage(
        JSON.stringify({
          '1': [{ type: 'leadgen', call_count: 10, total_cputime: 30, total_time: 20, estimated_time_to_regain_access: 0 }],
          '2': [{ type: 'pages', call_count: '55' }],
        }),
      );
      expect(entries).to.deep.equal([
        { objectId: '1', type: 'leadgen', maxUsagePercent: 30, estimatedMinutesToRegainAccess: 0 },
        { objectId: '2', type: 'pages', maxUsagePercent: 55, estimatedMinutesToRegainAccess: undefined },
      ]);
    });

    it('parseAppUsagePercent takes the highest of the three numbers', () => {
      expect(parseAppUsagePercent('{"call_count":28,"total_time":61,"total_cputime":25}')).to.equal(61);
      expect(parseAppUsagePercent('garbage')).to.equal(undefined);
      expect(parseAppUsagePercent(undefined)).to.equal(undefined);
    });
  });

  describe('secrets stay out of messages', () => {
    const token = 'EAAGm0PX4ZCpsBAKZAZBs3ZCZBZBu8ZC9ZBZCZBZAZCZBZBZCsome0long0token';
    const proof = 'a'.repeat(64);

    it('scrubs tokens, app tokens, proofs and token parameters from Meta messages', () => {
      const message = `Error validating access token ${token} (proof ${proof}) app 1234567890|0123456789abcdef0123 url ?access_token=abc.def&x=1`;
      const info = classifyGraphError({ nowMs: NOW, httpStatus: 400, body: graphBody(190, 467, message) });
      expect(info.message).to.not.include(token);
      expect(info.message).to.not.include(proof);
      expect(info.message).to.not.include('0123456789abcdef0123');
      expect(info.message).to.not.include('abc.def');
      expect(info.message).to.include('Error validating access token');
    });

    it('GraphError carries category, reason and Meta message, scrubbed', () => {
      const info = classifyGraphError({ nowMs: NOW, httpStatus: 400, body: graphBody(190, 460, `bad token ${token}`) });
      const err = new GraphError(info);
      expect(err.message).to.match(/^token_dead: graph_code_190_460 \(bad token \[redacted\]\)$/);
      expect(err.info.fbtraceId).to.equal('AbCdEf12345');
      expect(err).to.be.instanceOf(Error);
    });

    it('scrubSecrets leaves ordinary text alone', () => {
      const text = "Unsupported get request. Object with ID '1234567890123456' does not exist. See https://developers.facebook.com/docs/graph-api";
      expect(scrubSecrets(text)).to.equal(text);
    });
  });
});
