// Table tests for the shared failure-classification pieces (src/util/classify.ts): Retry-After,
// HTTP dates, header lookup, reason strings and failures without a response.
import { expect } from 'chai';
import {
  buildReason,
  classifyNetworkCode,
  classifyNetworkFailure,
  headerValue,
  MAX_RETRY_AFTER_MS,
  networkCodeOf,
  parseDeltaSecondsMs,
  parseHttpDate,
  parseRetryAfterMs,
  readRetryAfterMs,
  statusReason,
  type Classification,
  type HeaderBag,
} from '../../src/util/classify.js';

const NOW = Date.parse('2026-11-20T10:15:00.000Z');

describe('shared classification (src/util/classify.ts)', () => {
  describe('parseRetryAfterMs', () => {
    const rows: { name: string; value: string | undefined; nowMs?: number; maxMs?: number; expected: number | undefined }[] = [
      { name: 'delta-seconds', value: '7', expected: 7_000 },
      { name: 'delta-seconds with spaces around', value: '  120 ', expected: 120_000 },
      { name: 'zero seconds', value: '0', expected: 0 },
      { name: 'fractional seconds round up', value: '1.5', expected: 1_500 },
      { name: 'fractional milliseconds round up', value: '0.0001', expected: 1 },
      { name: 'an HTTP date 30 s ahead', value: 'Fri, 20 Nov 2026 10:15:30 GMT', expected: 30_000 },
      { name: 'an HTTP date in the past means now', value: 'Fri, 20 Nov 2026 10:14:00 GMT', expected: 0 },
      { name: 'an HTTP date long past means now', value: 'Sun, 06 Nov 1994 08:49:37 GMT', expected: 0 },
      { name: 'an HTTP date with a one-digit day', value: 'Fri, 4 Dec 2026 10:15:00 GMT', nowMs: Date.parse('2026-12-04T10:14:00Z'), expected: 60_000 },
      { name: 'an HTTP date in lower case', value: 'fri, 20 nov 2026 10:16:00 gmt', expected: 60_000 },
      { name: 'the obsolete RFC 850 form', value: 'Friday, 20-Nov-26 10:15:10 GMT', expected: 10_000 },
      { name: 'the obsolete asctime form (read as GMT)', value: 'Fri Nov 20 10:15:20 2026', expected: 20_000 },
      { name: 'asctime with a one-digit day', value: 'Tue Dec  1 10:15:00 2026', nowMs: Date.parse('2026-12-01T10:14:30Z'), expected: 30_000 },
      { name: 'a far-future date is capped at a day', value: 'Fri, 20 Nov 2099 10:15:00 GMT', expected: MAX_RETRY_AFTER_MS },
      { name: 'an enormous delta is capped at a day', value: '99999999999', expected: MAX_RETRY_AFTER_MS },
      { name: "a caller's own cap", value: '7200', maxMs: 3_600_000, expected: 3_600_000 },
      { name: 'a date measured from the injected clock, not the machine clock', value: 'Fri, 20 Nov 2026 10:15:30 GMT', nowMs: NOW + 10_000, expected: 20_000 },
      { name: 'absent', value: undefined, expected: undefined },
      { name: 'empty', value: '', expected: undefined },
      { name: 'blank', value: '   ', expected: undefined },
      { name: 'negative', value: '-5', expected: undefined },
      { name: 'a word', value: 'soon', expected: undefined },
      { name: 'a unit', value: '5s', expected: undefined },
      { name: 'exponent notation', value: '1e3', expected: undefined },
      { name: 'hex', value: '0x10', expected: undefined },
      { name: 'a partial date Date.parse would accept', value: 'Nov 5', expected: undefined },
      { name: 'an ISO timestamp (not an HTTP date)', value: '2026-11-20T10:15:30Z', expected: undefined },
      { name: 'a date with a numeric zone (not an HTTP date)', value: 'Fri, 20 Nov 2026 10:15:30 +0100', expected: undefined },
      { name: 'a day the month does not have', value: 'Mon, 31 Feb 2026 10:15:30 GMT', expected: undefined },
      { name: 'an hour out of range', value: 'Fri, 20 Nov 2026 25:15:30 GMT', expected: undefined },
      { name: 'an unknown month', value: 'Fri, 20 Foo 2026 10:15:30 GMT', expected: undefined },
    ];
    for (const row of rows) {
      it(`${row.name}: ${JSON.stringify(row.value)} → ${String(row.expected)}`, () => {
        expect(parseRetryAfterMs(row.value, row.nowMs ?? NOW, row.maxMs)).to.equal(row.expected);
      });
    }

    it('an RFC 850 two-digit year more than 50 years ahead is in the past century', () => {
      expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).to.equal(Date.parse('1994-11-06T08:49:37Z'));
      expect(parseHttpDate('Friday, 20-Nov-26 10:15:10 GMT', NOW)).to.equal(Date.parse('2026-11-20T10:15:10Z'));
    });

    it('readRetryAfterMs finds the header in any case', () => {
      for (const name of ['Retry-After', 'retry-after', 'RETRY-AFTER', 'rEtRy-AfTeR']) {
        expect(readRetryAfterMs({ [name]: '9' }, NOW), name).to.equal(9_000);
      }
      expect(readRetryAfterMs({ 'Retry-After': 'Fri, 20 Nov 2026 10:15:05 GMT' }, NOW)).to.equal(5_000);
      expect(readRetryAfterMs({}, NOW)).to.equal(undefined);
      expect(readRetryAfterMs(undefined, NOW)).to.equal(undefined);
    });
  });

  describe('parseDeltaSecondsMs', () => {
    const rows: [string | undefined, number | undefined][] = [
      ['2', 2_000],
      ['5400', 5_400_000],
      ['0.25', 250],
      [' 3 ', 3_000],
      ['', undefined],
      [undefined, undefined],
      ['-1', undefined],
      ['2s', undefined],
      ['Infinity', undefined],
      ['Fri, 20 Nov 2026 10:15:30 GMT', undefined],
    ];
    for (const [value, expected] of rows) {
      it(`${JSON.stringify(value)} → ${String(expected)}`, () => {
        expect(parseDeltaSecondsMs(value)).to.equal(expected);
      });
    }
  });

  describe('headerValue', () => {
    const headers: HeaderBag = {
      'Retry-After': '7',
      'x-hubspot-ratelimit-interval-milliseconds': '10000',
      'X-RateLimit-Reset': '2',
      'set-cookie': ['a=1', 'b=2'],
      'x-empty-list': [],
      'x-absent': undefined,
    };
    const rows: [string, string | undefined][] = [
      ['retry-after', '7'],
      ['RETRY-AFTER', '7'],
      ['Retry-After', '7'],
      ['X-HubSpot-RateLimit-Interval-Milliseconds', '10000'],
      ['x-ratelimit-reset', '2'],
      ['Set-Cookie', 'a=1'],
      ['x-empty-list', undefined],
      ['x-absent', undefined],
      ['x-missing', undefined],
    ];
    for (const [name, expected] of rows) {
      it(`${name} → ${String(expected)}`, () => {
        expect(headerValue(headers, name)).to.equal(expected);
      });
    }

    it('takes no headers at all', () => {
      expect(headerValue(undefined, 'retry-after')).to.equal(undefined);
    });

    it('skips an absent value under one casing and finds another', () => {
      expect(headerValue({ 'retry-after': undefined, 'Retry-After': '3' }, 'retry-after')).to.equal('3');
    });
  });

  describe('reasons', () => {
    const rows: [(string | number)[], string][] = [
      [['status_code', 503], 'status_code_503'],
      [['network', 'ECONNRESET'], 'network_econnreset'],
      [['network', 'ERR tls/cert'], 'network_err_tls_cert'],
      [['salesforce', 'UNABLE_TO_LOCK_ROW'], 'salesforce_unable_to_lock_row'],
      [['salesforce_unknown', 'WEIRD CODE/<x>'], 'salesforce_unknown_weird_code_x'],
      [['hubspot', 'PROPERTY_DOESNT_EXIST'], 'hubspot_property_doesnt_exist'],
      [['graph_code', 190, 460], 'graph_code_190_460'],
      [['graph_code', 100, 'appsecret_proof'], 'graph_code_100_appsecret_proof'],
      [['network', ''], 'network_unknown'],
      [['network', '///'], 'network_unknown'],
      [['x', 'a'.repeat(100)], `x_${'a'.repeat(64)}`],
    ];
    for (const [parts, expected] of rows) {
      it(`${JSON.stringify(parts)} → ${expected}`, () => {
        expect(buildReason(...parts)).to.equal(expected);
      });
    }

    it('is always lower snake case, whatever comes off the wire', () => {
      for (const part of ['ZOE@EXAMPLE.COM', 'Ångström', '  __a__b__  ', '💥', `${'x'.repeat(200)}_`]) {
        expect(buildReason('crm', part)).to.match(/^[a-z0-9]+(_[a-z0-9]+)*$/);
      }
    });

    it('statusReason', () => {
      expect(statusReason(503)).to.equal('status_code_503');
      expect(statusReason(429)).to.equal('status_code_429');
    });
  });

  describe('failures without a response', () => {
    const rows: [string | undefined, Classification][] = [
      ['ECONNRESET', { kind: 'retryable', reason: 'network_econnreset' }],
      ['econnreset', { kind: 'retryable', reason: 'network_econnreset' }],
      ['ECONNREFUSED', { kind: 'retryable', reason: 'network_econnrefused' }],
      ['ENOTFOUND', { kind: 'retryable', reason: 'network_enotfound' }],
      ['EAI_AGAIN', { kind: 'retryable', reason: 'network_eai_again' }],
      ['EPIPE', { kind: 'retryable', reason: 'network_epipe' }],
      ['UND_ERR_SOCKET', { kind: 'retryable', reason: 'network_und_err_socket' }],
      ['ERR tls/cert', { kind: 'retryable', reason: 'network_err_tls_cert' }],
      ['ETIMEDOUT', { kind: 'retryable', reason: 'timeout' }],
      ['ESOCKETTIMEDOUT', { kind: 'retryable', reason: 'timeout' }],
      ['ECONNABORTED', { kind: 'retryable', reason: 'timeout' }],
      ['UND_ERR_CONNECT_TIMEOUT', { kind: 'retryable', reason: 'timeout' }],
      ['UND_ERR_HEADERS_TIMEOUT', { kind: 'retryable', reason: 'timeout' }],
      ['UND_ERR_BODY_TIMEOUT', { kind: 'retryable', reason: 'timeout' }],
      ['', { kind: 'retryable', reason: 'network_error' }],
      [undefined, { kind: 'retryable', reason: 'network_error' }],
    ];
    for (const [code, expected] of rows) {
      it(`code ${JSON.stringify(code)} → ${expected.reason}`, () => {
        expect(classifyNetworkCode(code)).to.deep.equal(expected);
      });
    }

    it('networkCodeOf reads the code on the error or down its causes, skipping axios wrappers', () => {
      expect(networkCodeOf(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).to.equal('ECONNRESET');
      const undici = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
      expect(networkCodeOf(undici)).to.equal('ECONNREFUSED');
      const axiosLike = Object.assign(new Error('Network Error'), { code: 'ERR_NETWORK', cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) });
      expect(networkCodeOf(axiosLike)).to.equal('ECONNRESET');
      expect(networkCodeOf(Object.assign(new Error('Network Error'), { code: 'ERR_NETWORK' }))).to.equal(undefined);
      expect(networkCodeOf(new Error('plain'))).to.equal(undefined);
      expect(networkCodeOf('a string')).to.equal(undefined);
      expect(networkCodeOf(undefined)).to.equal(undefined);
      const loop: { code?: string; cause?: unknown } = {};
      loop.cause = loop;
      expect(networkCodeOf(loop)).to.equal(undefined);
    });

    const errors: [string, unknown, Classification | undefined][] = [
      ['a reset socket', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), { kind: 'retryable', reason: 'network_econnreset' }],
      ['a timed-out connect', Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }), { kind: 'retryable', reason: 'timeout' }],
      [
        'AbortSignal.timeout',
        Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }),
        { kind: 'retryable', reason: 'timeout' },
      ],
      [
        "node-fetch's AbortError",
        Object.assign(new Error('The user aborted a request.'), { name: 'AbortError', type: 'aborted' }),
        { kind: 'retryable', reason: 'timeout' },
      ],
      [
        "undici's fetch failed with its cause",
        Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('x'), { code: 'ENOTFOUND' }) }),
        { kind: 'retryable', reason: 'network_enotfound' },
      ],
      ["undici's fetch failed without a code", new TypeError('fetch failed'), { kind: 'retryable', reason: 'network_error' }],
      ['socket hang up without a code', new Error('socket hang up'), { kind: 'retryable', reason: 'network_econnreset' }],
      [
        "node-fetch's system FetchError with an unlisted code",
        Object.assign(new Error('request failed'), { name: 'FetchError', type: 'system', code: 'ESOMETHING' }),
        { kind: 'retryable', reason: 'network_esomething' },
      ],
      ['an API error with a code of its own', Object.assign(new Error('bad'), { code: 'INVALID_FIELD' }), undefined],
      ['a plain error', new Error('Something odd'), undefined],
      ['not an object', 'boom', undefined],
      ['null', null, undefined],
    ];
    for (const [name, err, expected] of errors) {
      it(`classifyNetworkFailure: ${name}`, () => {
        expect(classifyNetworkFailure(err)).to.deep.equal(expected);
      });
    }
  });
});
