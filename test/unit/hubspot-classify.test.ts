// Table tests for classifyHubspotError, from the error bodies HubSpot documents
// (https://developers.hubspot.com/docs/api-reference/error-handling, usage-guidelines).
import { expect } from 'chai';
import { classifyHubspotError, type HubspotErrorInput } from '../../connectors/hubspot/classify-error.js';
import type { Classification } from '../../src/util/classify.js';

const NOW = Date.parse('2026-11-20T10:15:00.000Z');

interface Case {
  name: string;
  input: HubspotErrorInput;
  expected: Partial<Classification>;
  /** crmMessage must contain each of these. */
  messageIncludes?: string[];
}

const tenSecondly = {
  status: 'error',
  message: 'You have reached your ten_secondly_rolling limit.',
  errorType: 'RATE_LIMIT',
  correlationId: 'c0a8e2a4-0000-4000-8000-000000000001',
  policyName: 'TEN_SECONDLY_ROLLING',
};

/** What HubSpot sends with a 429 (usage guidelines): the limit, what is left, and the window. */
const rateLimitHeaders = {
  'X-HubSpot-RateLimit-Max': '190',
  'X-HubSpot-RateLimit-Remaining': '0',
  'X-HubSpot-RateLimit-Interval-Milliseconds': '10000',
};

const legacyValidation = (results: { message: string; error: string; name: string }[]) => ({
  status: 'error',
  message: `Property values were not valid: ${JSON.stringify(results.map((r) => ({ isValid: false, ...r, localizedErrorMessage: r.message })))}`,
  correlationId: 'c0a8e2a4-0000-4000-8000-000000000002',
  category: 'VALIDATION_ERROR',
});

const cases: Case[] = [
  // HubSpot's 429 carries no Retry-After: policyName says which limit, the headers give the window.
  {
    name: '429 TEN_SECONDLY_ROLLING waits the window from X-HubSpot-RateLimit-Interval-Milliseconds',
    input: { status: 429, body: tenSecondly, headers: rateLimitHeaders, now: NOW },
    expected: {
      kind: 'rate_limited',
      reason: 'hubspot_rate_limit_ten_secondly',
      retryAfterMs: 10_000,
      httpStatus: 429,
      crmMessage: 'You have reached your ten_secondly_rolling limit.',
    },
  },
  {
    name: '429 reads the interval header in any case',
    input: { status: 429, body: tenSecondly, headers: { 'x-hubspot-ratelimit-interval-milliseconds': '5000' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'hubspot_rate_limit_ten_secondly', retryAfterMs: 5_000 },
  },
  {
    name: '429 with a body given as raw JSON text and no headers waits the documented 10 s window',
    input: { status: 429, body: JSON.stringify(tenSecondly), now: NOW },
    expected: { kind: 'rate_limited', reason: 'hubspot_rate_limit_ten_secondly', retryAfterMs: 10_000 },
  },
  {
    name: '429 with an unreadable interval header waits the documented 10 s window',
    input: { status: 429, body: tenSecondly, headers: { 'X-HubSpot-RateLimit-Interval-Milliseconds': 'ten seconds' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'hubspot_rate_limit_ten_secondly', retryAfterMs: 10_000 },
  },
  {
    name: '429 never asks for less than a second',
    input: { status: 429, body: tenSecondly, headers: { 'X-HubSpot-RateLimit-Interval-Milliseconds': '10' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'hubspot_rate_limit_ten_secondly', retryAfterMs: 1_000 },
  },
  {
    name: 'a Retry-After (from a proxy; HubSpot sends none) wins over the window',
    input: { status: 429, body: tenSecondly, headers: { ...rateLimitHeaders, 'retry-after': '7' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'hubspot_rate_limit_ten_secondly', retryAfterMs: 7000 },
  },
  {
    name: 'a Retry-After as an HTTP date is read against the clock passed in',
    input: { status: 429, body: tenSecondly, headers: { 'retry-after': new Date(NOW + 30_000).toUTCString() }, now: NOW },
    expected: { kind: 'rate_limited', retryAfterMs: 30_000 },
  },
  {
    name: '429 DAILY waits for the next top of the UTC hour (account time zone unknown)',
    input: { status: 429, body: { ...tenSecondly, message: 'You have reached your daily limit.', policyName: 'DAILY' }, headers: rateLimitHeaders, now: NOW },
    // 10:15:00 → 11:00:00
    expected: { kind: 'rate_limited', reason: 'hubspot_rate_limit_daily', retryAfterMs: 45 * 60_000 },
  },
  {
    name: '429 DAILY one second before the hour still waits at least a minute',
    input: { status: 429, body: { policyName: 'DAILY' }, now: Date.parse('2026-11-20T23:59:59.000Z') },
    expected: { kind: 'rate_limited', reason: 'hubspot_rate_limit_daily', retryAfterMs: 60_000 },
  },
  {
    name: '429 without a policy but X-HubSpot-RateLimit-Daily-Remaining: 0 is the daily limit',
    input: {
      status: 429,
      body: { status: 'error', message: 'You have reached your daily limit.' },
      headers: { ...rateLimitHeaders, 'X-HubSpot-RateLimit-Daily': '250000', 'X-HubSpot-RateLimit-Daily-Remaining': '0' },
      now: NOW,
    },
    expected: { kind: 'rate_limited', reason: 'hubspot_rate_limit_daily', retryAfterMs: 45 * 60_000 },
  },
  {
    name: '429 search secondly limit',
    input: { status: 429, body: { status: 'error', message: 'You have reached your secondly limit.', category: 'RATE_LIMITS' }, now: NOW },
    expected: { kind: 'rate_limited', reason: 'hubspot_rate_limit_secondly', retryAfterMs: 10_000 },
  },
  {
    name: '429 without a body or headers',
    input: { status: 429, now: NOW },
    expected: { kind: 'rate_limited', reason: 'status_code_429', retryAfterMs: 10_000 },
  },
  {
    name: '401 EXPIRED_AUTHENTICATION',
    input: {
      status: 401,
      body: { status: 'error', message: 'The OAuth token used to make this call expired 7 second(s) ago.', category: 'EXPIRED_AUTHENTICATION' },
      now: NOW,
    },
    expected: { kind: 'auth', reason: 'hubspot_token_expired' },
    messageIncludes: ['expired 7 second(s) ago'],
  },
  {
    name: '401 INVALID_AUTHENTICATION (private-app token revoked)',
    input: { status: 401, body: { status: 'error', message: 'Authentication credentials not found.', category: 'INVALID_AUTHENTICATION' }, now: NOW },
    expected: { kind: 'auth', reason: 'hubspot_invalid_authentication' },
  },
  {
    name: '401 with an HTML body',
    input: { status: 401, body: '<html>Unauthorized</html>', now: NOW },
    expected: { kind: 'auth', reason: 'status_code_401' },
  },
  {
    name: '403 MISSING_SCOPES names the scopes to grant',
    input: {
      status: 403,
      body: {
        status: 'error',
        message: "This app hasn't been granted all required scopes to make this call.",
        category: 'MISSING_SCOPES',
        errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: ['crm.schemas.contacts.write'] } }],
      },
      now: NOW,
    },
    expected: { kind: 'auth', reason: 'hubspot_missing_scopes' },
    messageIncludes: ['crm.schemas.contacts.write', 'required scopes'],
  },
  {
    name: '403 with context.missingScopes',
    input: { status: 403, body: { status: 'error', message: 'Forbidden', context: { missingScopes: ['crm.objects.contacts.write'] } }, now: NOW },
    expected: { kind: 'auth', reason: 'hubspot_missing_scopes' },
    messageIncludes: ['crm.objects.contacts.write'],
  },
  {
    name: '400 PROPERTY_DOESNT_EXIST (legacy body) names the property and shows the inner message',
    input: {
      status: 400,
      body: legacyValidation([{ message: 'Property "favorite_color" does not exist', error: 'PROPERTY_DOESNT_EXIST', name: 'favorite_color' }]),
      now: NOW,
    },
    expected: { kind: 'invalid', reason: 'hubspot_property_doesnt_exist', field: 'favorite_color', crmMessage: 'Property "favorite_color" does not exist' },
  },
  {
    name: '400 INVALID_EMAIL (legacy body) names the email property',
    input: { status: 400, body: legacyValidation([{ message: 'Email address zoe@@example is invalid', error: 'INVALID_EMAIL', name: 'email' }]), now: NOW },
    expected: { kind: 'invalid', reason: 'hubspot_invalid_email', field: 'email' },
    messageIncludes: ['is invalid'],
  },
  {
    name: '400 INVALID_OPTION with errors[].context.propertyName',
    input: {
      status: 400,
      body: {
        status: 'error',
        message: 'Validation failed',
        category: 'VALIDATION_ERROR',
        errors: [{ message: 'purple was not one of the allowed options', code: 'INVALID_OPTION', context: { propertyName: ['hs_lead_status'] } }],
      },
      now: NOW,
    },
    expected: { kind: 'invalid', reason: 'hubspot_invalid_option', field: 'hs_lead_status' },
    messageIncludes: ['Validation failed', 'purple was not one of the allowed options'],
  },
  {
    name: '400 message-only body: the property is parsed from Property "x"',
    input: { status: 400, body: { status: 'error', message: 'Property "favorite_color" does not exist', category: 'VALIDATION_ERROR' }, now: NOW },
    expected: { kind: 'invalid', reason: 'hubspot_validation_error', field: 'favorite_color', crmMessage: 'Property "favorite_color" does not exist' },
  },
  {
    name: '400 upsert by a non-unique property',
    input: {
      status: 400,
      body: { status: 'error', message: 'Unable to perform update/upsert by non-unique 0-1 property', category: 'VALIDATION_ERROR' },
      now: NOW,
    },
    expected: { kind: 'invalid', reason: 'hubspot_validation_error', crmMessage: 'Unable to perform update/upsert by non-unique 0-1 property' },
  },
  {
    name: '400 without a body',
    input: { status: 400, now: NOW },
    expected: { kind: 'invalid', reason: 'status_code_400' },
  },
  {
    name: '404 is invalid',
    input: { status: 404, body: { status: 'error', message: 'Not found', category: 'OBJECT_NOT_FOUND' }, now: NOW },
    expected: { kind: 'invalid', reason: 'status_code_404' },
  },
  {
    name: "409 CONFLICT (a create raced another writer) retries, with HubSpot's words",
    input: {
      status: 409,
      body: { status: 'error', message: 'Contact already exists. Existing ID: 377001', correlationId: 'x', category: 'CONFLICT' },
      now: NOW,
    },
    expected: { kind: 'retryable', reason: 'hubspot_conflict', crmMessage: 'Contact already exists. Existing ID: 377001' },
  },
  {
    name: '423 LOCKED retries',
    input: { status: 423, now: NOW },
    expected: { kind: 'retryable', reason: 'status_code_423' },
  },
  {
    name: '500 retries',
    input: { status: 500, body: { status: 'error', message: 'internal error' }, now: NOW },
    expected: { kind: 'retryable', reason: 'status_code_500', httpStatus: 500 },
  },
  {
    name: '502 with an HTML body retries',
    input: { status: 502, body: '<html>Bad gateway</html>', now: NOW },
    expected: { kind: 'retryable', reason: 'status_code_502' },
  },
  { name: '503 retries', input: { status: 503, now: NOW }, expected: { kind: 'retryable', reason: 'status_code_503', httpStatus: 503 } },
  { name: 'ECONNRESET retries', input: { networkCode: 'ECONNRESET' }, expected: { kind: 'retryable', reason: 'network_econnreset' } },
  { name: 'ECONNREFUSED retries', input: { networkCode: 'ECONNREFUSED' }, expected: { kind: 'retryable', reason: 'network_econnrefused' } },
  { name: 'ETIMEDOUT is a timeout', input: { networkCode: 'ETIMEDOUT' }, expected: { kind: 'retryable', reason: 'timeout' } },
  { name: 'a code in lower case is the same reason', input: { networkCode: 'econnreset' }, expected: { kind: 'retryable', reason: 'network_econnreset' } },
  { name: 'no status and no code retries', input: {}, expected: { kind: 'retryable', reason: 'network_error' } },
  {
    name: '207 per-input VALIDATION_ERROR (whole response) is invalid with the property',
    input: {
      status: 207,
      body: {
        status: 'COMPLETE',
        results: [],
        numErrors: 1,
        errors: [
          {
            status: 'error',
            category: 'VALIDATION_ERROR',
            message: 'Property values were not valid',
            context: { objectWriteTraceId: ['t-1'], propertyName: ['phone'] },
            errors: [{ message: '"abc" is not a valid phone number', code: 'INVALID_PHONE_NUMBER', context: { propertyName: ['phone'] } }],
          },
        ],
      },
      now: NOW,
    },
    expected: { kind: 'invalid', reason: 'hubspot_invalid_phone_number', field: 'phone', httpStatus: 207 },
    messageIncludes: ['not a valid phone number'],
  },
  {
    name: '207 per-input error passed on its own',
    input: {
      status: 207,
      body: { status: 'error', category: 'VALIDATION_ERROR', message: 'Property "x_y" does not exist', context: {}, errors: [] },
      now: NOW,
    },
    expected: { kind: 'invalid', field: 'x_y' },
  },
  {
    name: '207 per-input RATE_LIMITS waits',
    input: { status: 207, body: { errors: [{ status: 'error', category: 'RATE_LIMITS', message: 'slow down' }] }, now: NOW },
    expected: { kind: 'rate_limited', retryAfterMs: 10_000 },
  },
  {
    name: '207 per-input unknown category retries',
    input: { status: 207, body: { errors: [{ status: 'error', category: 'SOMETHING_NEW', message: 'hm' }] }, now: NOW },
    expected: { kind: 'retryable', reason: 'status_code_500' },
  },
];

describe('classifyHubspotError', () => {
  for (const c of cases) {
    it(c.name, () => {
      const result = classifyHubspotError(c.input);
      for (const [key, value] of Object.entries(c.expected)) {
        expect(result[key as keyof Classification], key).to.deep.equal(value);
      }
      for (const part of c.messageIncludes ?? []) expect(result.crmMessage ?? '').to.contain(part);
    });
  }

  it('carries the HTTP status of every answer (207 for a per-input error), and none without one', () => {
    for (const c of cases) expect(classifyHubspotError(c.input).httpStatus, c.name).to.equal(c.input.status);
  });

  it('never puts HubSpot text (which echoes lead data) into the reason', () => {
    const email = 'zoe.angstrom@example.com';
    const bodies = [
      legacyValidation([{ message: `Email address ${email} is invalid`, error: 'INVALID_EMAIL', name: 'email' }]),
      { status: 'error', message: `Contact already exists: ${email}. Existing ID: 1`, category: 'CONFLICT' },
      { status: 'error', message: email, category: email, errors: [{ code: email, message: email }] },
    ];
    for (const status of [400, 401, 403, 409, 429, 500, 207]) {
      for (const body of bodies) {
        const result = classifyHubspotError({ status, body, now: NOW });
        expect(result.reason).to.match(/^[a-z0-9_]+$/);
        expect(result.reason).to.not.contain('zoe');
      }
    }
  });

  it('keeps crmMessage bounded', () => {
    const result = classifyHubspotError({ status: 400, body: { message: 'x'.repeat(5000), category: 'VALIDATION_ERROR' }, now: NOW });
    expect((result.crmMessage ?? '').length).to.be.at.most(1001);
  });
});
