import { expect } from 'chai';
import { DEFAULT_RATE_LIMIT_WAIT_MS, MAX_RETRY_AFTER_MS, classifyWebhookResponse, type WebhookResponseFacts } from '../../connectors/webhook/classify-error.js';
import type { Classification, HeaderBag } from '../../src/util/classify.js';

const NOW_MS = Date.parse('2026-11-20T10:00:00.000Z');

/** A row's facts; an answer gets the clock (NOW_MS unless the row sets one). */
interface RowFacts {
  status?: number;
  headers?: HeaderBag;
  body?: string;
  networkCode?: string;
  nowMs?: number;
}

function factsOf(row: RowFacts): WebhookResponseFacts {
  if (row.status === undefined) return { networkCode: row.networkCode };
  return { status: row.status, headers: row.headers, body: row.body, nowMs: row.nowMs ?? NOW_MS };
}

describe('classifyWebhookResponse', () => {
  // Every failure with a status also carries it as httpStatus (added in the loop below).
  const table: Array<{ name: string; facts: RowFacts; expected: Omit<Classification, 'httpStatus'> | null }> = [
    { name: '200 is success', facts: { status: 200 }, expected: null },
    { name: '201 is success', facts: { status: 201 }, expected: null },
    { name: '204 is success', facts: { status: 204 }, expected: null },
    { name: '208 is success (already reported)', facts: { status: 208 }, expected: null },

    { name: 'ECONNRESET', facts: { networkCode: 'ECONNRESET' }, expected: { kind: 'retryable', reason: 'network_econnreset' } },
    { name: 'ECONNREFUSED', facts: { networkCode: 'ECONNREFUSED' }, expected: { kind: 'retryable', reason: 'network_econnrefused' } },
    { name: 'ENOTFOUND', facts: { networkCode: 'ENOTFOUND' }, expected: { kind: 'retryable', reason: 'network_enotfound' } },
    { name: 'ETIMEDOUT is a timeout', facts: { networkCode: 'ETIMEDOUT' }, expected: { kind: 'retryable', reason: 'timeout' } },
    { name: 'ECONNABORTED is a timeout', facts: { networkCode: 'ECONNABORTED' }, expected: { kind: 'retryable', reason: 'timeout' } },
    {
      name: 'a code with odd characters is made safe',
      facts: { networkCode: 'ERR tls/cert' },
      expected: { kind: 'retryable', reason: 'network_err_tls_cert' },
    },
    { name: 'no status and no code', facts: {}, expected: { kind: 'retryable', reason: 'network_error' } },

    { name: '408', facts: { status: 408 }, expected: { kind: 'retryable', reason: 'status_code_408' } },
    { name: '409 (key still in flight)', facts: { status: 409 }, expected: { kind: 'retryable', reason: 'status_code_409' } },
    { name: '425', facts: { status: 425 }, expected: { kind: 'retryable', reason: 'status_code_425' } },
    { name: '500', facts: { status: 500 }, expected: { kind: 'retryable', reason: 'status_code_500' } },
    { name: '502', facts: { status: 502 }, expected: { kind: 'retryable', reason: 'status_code_502' } },
    { name: '503 without Retry-After', facts: { status: 503 }, expected: { kind: 'retryable', reason: 'status_code_503' } },
    { name: '504', facts: { status: 504 }, expected: { kind: 'retryable', reason: 'status_code_504' } },

    {
      name: '429 with Retry-After seconds',
      facts: { status: 429, headers: { 'Retry-After': '7' } },
      expected: { kind: 'rate_limited', reason: 'status_code_429', retryAfterMs: 7000 },
    },
    {
      name: '429 with Retry-After HTTP-date',
      facts: { status: 429, headers: { 'retry-after': 'Fri, 20 Nov 2026 10:00:30 GMT' }, nowMs: NOW_MS },
      expected: { kind: 'rate_limited', reason: 'status_code_429', retryAfterMs: 30_000 },
    },
    {
      name: '429 with a Retry-After date in the past waits 0',
      facts: { status: 429, headers: { 'retry-after': 'Fri, 20 Nov 2026 09:59:00 GMT' }, nowMs: NOW_MS },
      expected: { kind: 'rate_limited', reason: 'status_code_429', retryAfterMs: 0 },
    },
    {
      name: '429 without Retry-After uses the default wait',
      facts: { status: 429 },
      expected: { kind: 'rate_limited', reason: 'status_code_429', retryAfterMs: DEFAULT_RATE_LIMIT_WAIT_MS },
    },
    {
      name: '429 with garbage Retry-After uses the default wait',
      facts: { status: 429, headers: { 'retry-after': 'soon' } },
      expected: { kind: 'rate_limited', reason: 'status_code_429', retryAfterMs: DEFAULT_RATE_LIMIT_WAIT_MS },
    },
    {
      name: '429 with an enormous Retry-After is capped',
      facts: { status: 429, headers: { 'retry-after': '99999999' } },
      expected: { kind: 'rate_limited', reason: 'status_code_429', retryAfterMs: MAX_RETRY_AFTER_MS },
    },
    {
      name: '503 with Retry-After seconds',
      facts: { status: 503, headers: { 'Retry-After': ['120'] } },
      expected: { kind: 'rate_limited', reason: 'status_code_503', retryAfterMs: 120_000 },
    },
    {
      name: '503 with Retry-After HTTP-date',
      facts: { status: 503, headers: { 'retry-after': 'Fri, 20 Nov 2026 10:01:00 GMT' }, nowMs: NOW_MS },
      expected: { kind: 'rate_limited', reason: 'status_code_503', retryAfterMs: 60_000 },
    },

    { name: '401', facts: { status: 401 }, expected: { kind: 'auth', reason: 'status_code_401' } },
    {
      name: '403 keeps the receiver words',
      facts: { status: 403, body: '{"error":"bad signature"}' },
      expected: { kind: 'auth', reason: 'status_code_403', crmMessage: 'bad signature' },
    },

    {
      name: '301 is refused',
      facts: { status: 301, headers: { location: 'http://169.254.169.254/' } },
      expected: {
        kind: 'invalid',
        reason: 'redirect_refused',
        crmMessage: 'the receiver answered 301 (a redirect); redirects are not followed, so set the destination to the final URL',
      },
    },
    {
      name: '302 is refused',
      facts: { status: 302 },
      expected: {
        kind: 'invalid',
        reason: 'redirect_refused',
        crmMessage: 'the receiver answered 302 (a redirect); redirects are not followed, so set the destination to the final URL',
      },
    },

    {
      name: '400 with a JSON message and field',
      facts: { status: 400, body: '{"message":"Property \\"favorite_color\\" does not exist","field":"favorite_color"}' },
      expected: { kind: 'invalid', reason: 'status_code_400', crmMessage: 'Property "favorite_color" does not exist', field: 'favorite_color' },
    },
    {
      name: '422 with a nested error message',
      facts: { status: 422, body: '{"error":{"message":"email is required"}}' },
      expected: { kind: 'invalid', reason: 'status_code_422', crmMessage: 'email is required' },
    },
    {
      name: '404 with a plain-text body',
      facts: { status: 404, body: '  Not\n  Found  ' },
      expected: { kind: 'invalid', reason: 'status_code_404', crmMessage: 'Not Found' },
    },
    { name: '400 with an empty body', facts: { status: 400, body: '' }, expected: { kind: 'invalid', reason: 'status_code_400' } },
    { name: '413', facts: { status: 413 }, expected: { kind: 'invalid', reason: 'status_code_413' } },

    { name: 'an unknown status is retried', facts: { status: 599 }, expected: { kind: 'retryable', reason: 'status_code_599' } },
    { name: 'a 1xx is retried', facts: { status: 102 }, expected: { kind: 'retryable', reason: 'status_code_102' } },
  ];

  for (const row of table) {
    it(row.name, () => {
      const expected = row.expected === null ? null : { ...row.expected, ...(row.facts.status === undefined ? {} : { httpStatus: row.facts.status }) };
      expect(classifyWebhookResponse(factsOf(row.facts))).to.deep.equal(expected);
    });
  }

  it('shortens a long body to a short excerpt', () => {
    const failure = classifyWebhookResponse({ status: 400, body: 'x'.repeat(5000), nowMs: NOW_MS });
    expect(failure?.crmMessage?.length).to.be.at.most(300);
    expect(failure?.crmMessage?.endsWith('…')).to.equal(true);
  });

  it('reads an HTTP-date Retry-After against the clock it is given', () => {
    const headers = { 'retry-after': 'Fri, 20 Nov 2026 10:01:00 GMT' };
    expect(classifyWebhookResponse({ status: 503, headers, nowMs: NOW_MS })?.retryAfterMs).to.equal(60_000);
    expect(classifyWebhookResponse({ status: 503, headers, nowMs: NOW_MS + 45_000 })?.retryAfterMs).to.equal(15_000);
  });
});
