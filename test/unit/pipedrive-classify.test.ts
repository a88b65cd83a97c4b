// Table tests for classifyPipedriveError: one row per case Pipedrive documents (or we have seen).
import { expect } from 'chai';
import {
  BLOCKED_WAIT_MS,
  DEFAULT_BURST_WAIT_MS,
  DEFAULT_DAILY_WAIT_MS,
  classifyPipedriveError,
  findFieldInMessage,
  type PipedriveErrorInput,
} from '../../connectors/pipedrive/classify-error.js';
import type { Classification } from '../../src/util/classify.js';

const NOW = Date.parse('2026-11-20T10:00:00.000Z');

const cloudflareHtml = '<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>Sorry, you have been blocked</body></html>';

interface Row {
  name: string;
  input: PipedriveErrorInput;
  expected: Partial<Classification> & Pick<Classification, 'kind' | 'reason'>;
}

const rows: Row[] = [
  {
    name: '429 with Retry-After seconds',
    input: { status: 429, headers: { 'Retry-After': '7', 'x-ratelimit-reset': '2' }, body: { success: false, error: 'Request over limit' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'pipedrive_rate_limit', retryAfterMs: 7000, crmMessage: 'Request over limit' },
  },
  {
    name: '429 with Retry-After as an HTTP date',
    input: { status: 429, headers: { 'retry-after': new Date(NOW + 30_000).toUTCString() }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'pipedrive_rate_limit', retryAfterMs: 30_000 },
  },
  {
    name: '429 with only x-ratelimit-reset',
    input: { status: 429, headers: { 'x-ratelimit-limit': '80', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '3' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'pipedrive_rate_limit', retryAfterMs: 3000 },
  },
  {
    name: '429 with an unreadable Retry-After falls back to x-ratelimit-reset',
    input: { status: 429, headers: { 'retry-after': 'soon', 'x-ratelimit-reset': '2' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'pipedrive_rate_limit', retryAfterMs: 2000 },
  },
  {
    name: '429 without headers waits one 2-second window',
    input: { status: 429, now: NOW },
    expected: { kind: 'rate_limited', reason: 'pipedrive_rate_limit', retryAfterMs: DEFAULT_BURST_WAIT_MS },
  },
  {
    name: '429 with the daily budget spent waits for the reset',
    input: { status: 429, headers: { 'x-daily-requests-left': '0', 'x-ratelimit-reset': '5400' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'pipedrive_daily_limit', retryAfterMs: 5_400_000 },
  },
  {
    name: '429 with the daily budget spent and no reset header',
    input: { status: 429, headers: { 'x-daily-requests-left': '0' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'pipedrive_daily_limit', retryAfterMs: DEFAULT_DAILY_WAIT_MS },
  },
  {
    name: '403 Cloudflare HTML after ignoring 429s',
    input: { status: 403, body: cloudflareHtml, headers: { 'content-type': 'text/html; charset=UTF-8' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'pipedrive_blocked', retryAfterMs: BLOCKED_WAIT_MS },
  },
  {
    name: '403 Cloudflare HTML without a content type',
    input: { status: 403, body: cloudflareHtml, now: NOW },
    expected: { kind: 'rate_limited', reason: 'pipedrive_blocked', retryAfterMs: BLOCKED_WAIT_MS },
  },
  {
    name: '403 feature capping (plan limit)',
    input: { status: 403, body: { success: false, error: 'You have reached the limit of leads on your plan', code: 'feature_capping_leads_limit' }, now: NOW },
    expected: { kind: 'invalid', reason: 'pipedrive_feature_capping', crmMessage: 'You have reached the limit of leads on your plan' },
  },
  {
    name: '403 missing scope or permission',
    input: { status: 403, body: { success: false, error: 'Scope and URL mismatch', errorCode: 403 }, now: NOW },
    expected: { kind: 'auth', reason: 'pipedrive_forbidden', crmMessage: 'Scope and URL mismatch' },
  },
  {
    name: '401',
    input: {
      status: 401,
      body: { success: false, error: 'unauthorized access', errorCode: 401, error_info: 'Please check developers.pipedrive.com' },
      now: NOW,
    },
    expected: { kind: 'auth', reason: 'pipedrive_unauthorized', crmMessage: 'unauthorized access — Please check developers.pipedrive.com' },
  },
  {
    name: '402 subscription lapsed',
    input: { status: 402, body: { success: false, error: 'Payment required' }, now: NOW },
    expected: { kind: 'auth', reason: 'pipedrive_payment_required' },
  },
  {
    name: '400 naming a field in quotes',
    input: {
      status: 400,
      body: { success: false, error: 'Property "favorite_color" does not exist', error_info: 'Please check developers.pipedrive.com', data: null },
      now: NOW,
    },
    expected: {
      kind: 'invalid',
      reason: 'status_code_400',
      crmMessage: 'Property "favorite_color" does not exist — Please check developers.pipedrive.com',
      field: 'favorite_color',
    },
  },
  {
    name: '400 v2 validation message',
    input: { status: 400, body: { success: false, error: 'Validation failed: owner_id: Expected number, received string' }, now: NOW },
    expected: { kind: 'invalid', reason: 'status_code_400', field: 'owner_id' },
  },
  {
    name: '400 naming a custom field hash',
    input: { status: 400, body: { success: false, error: 'Invalid value for field 0123456789abcdef0123456789abcdef01234567' }, now: NOW },
    expected: { kind: 'invalid', reason: 'status_code_400', field: '0123456789abcdef0123456789abcdef01234567' },
  },
  {
    name: '404 without a field',
    input: { status: 404, body: { success: false, error: 'Lead not found' }, now: NOW },
    expected: { kind: 'invalid', reason: 'status_code_404', crmMessage: 'Lead not found' },
  },
  {
    name: '422',
    input: { status: 422, body: { success: false, error: 'Unprocessable entity' }, now: NOW },
    expected: { kind: 'invalid', reason: 'status_code_422', crmMessage: 'Unprocessable entity' },
  },
  {
    name: '503',
    input: { status: 503, body: '<html>Service Unavailable</html>', now: NOW },
    expected: { kind: 'retryable', reason: 'status_code_503' },
  },
  {
    name: '500 with a JSON body',
    input: { status: 500, body: { success: false, error: 'Internal Server Error occurred.' }, now: NOW },
    expected: { kind: 'retryable', reason: 'status_code_500', crmMessage: 'Internal Server Error occurred.' },
  },
  {
    name: '408',
    input: { status: 408, now: NOW },
    expected: { kind: 'retryable', reason: 'status_code_408' },
  },
  {
    name: 'a redirect we did not follow',
    input: { status: 302, now: NOW },
    expected: { kind: 'retryable', reason: 'status_code_302' },
  },
  {
    name: 'connection reset',
    input: { networkCode: 'ECONNRESET' },
    expected: { kind: 'retryable', reason: 'network_econnreset' },
  },
  {
    name: 'timeout',
    input: { networkCode: 'ECONNABORTED' },
    expected: { kind: 'retryable', reason: 'timeout' },
  },
  {
    name: 'no status, no code',
    input: {},
    expected: { kind: 'retryable', reason: 'network_error' },
  },
];

describe('classifyPipedriveError', () => {
  for (const row of rows) {
    it(row.name, () => {
      const got = classifyPipedriveError(row.input);
      expect(got.kind).to.equal(row.expected.kind);
      expect(got.reason).to.equal(row.expected.reason);
      for (const key of ['retryAfterMs', 'crmMessage', 'field'] as const) {
        if (key in row.expected) expect(got[key], key).to.equal(row.expected[key]);
      }
    });
  }

  it('never reports a wait for errors that are not rate limits', () => {
    for (const row of rows) {
      const got = classifyPipedriveError(row.input);
      if (got.kind !== 'rate_limited') expect(got.retryAfterMs, row.name).to.equal(undefined);
      else expect(got.retryAfterMs, row.name).to.be.a('number').and.at.least(0);
    }
  });

  it('carries the HTTP status of every answer, and none without one', () => {
    for (const row of rows) {
      const got = classifyPipedriveError(row.input);
      expect(got.httpStatus, row.name).to.equal(row.input.status);
    }
  });

  it('reads header names in any case', () => {
    const got = classifyPipedriveError({ status: 429, headers: { 'X-RateLimit-Reset': '4' }, now: NOW });
    expect(got.retryAfterMs).to.equal(4000);
  });

  it('keeps Pipedrive words out of the reason', () => {
    const got = classifyPipedriveError({ status: 400, body: { success: false, error: 'Email zoe@example.com is not valid' }, now: NOW });
    expect(got.reason).to.equal('status_code_400');
    expect(got.crmMessage).to.contain('zoe@example.com');
  });
});

describe('findFieldInMessage', () => {
  const cases: [string, string | undefined][] = [
    ['Property "favorite_color" does not exist', 'favorite_color'],
    ["Field 'title' is required", 'title'],
    ['title is required', 'title'],
    ['Validation failed: person_id: must be integer', 'person_id'],
    ['Invalid field label_ids', 'label_ids'],
    ['Something went wrong.', undefined],
  ];
  for (const [message, field] of cases) {
    it(`${JSON.stringify(message)} → ${String(field)}`, () => {
      expect(findFieldInMessage(message)).to.equal(field);
    });
  }
});
