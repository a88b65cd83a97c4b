// classifySalesforceError, case by case, from the errors Salesforce documents
// (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm) in
// the shapes jsforce 3.10.16 hands them over: HttpApiError (name = errorCode, `data` = the
// first error object or, for MULTIPLE_API_ERRORS, the array; no HTTP status), the plain
// "Unable to refresh session" Error, network errors, and our SalesforceTokenError.
import { expect } from 'chai';
import {
  classifySalesforceError,
  CONCURRENT_REQUESTS_WAIT_MS,
  DEFAULT_RATE_LIMIT_WAIT_MS,
  TOTAL_REQUESTS_WAIT_MS,
  type SalesforceHttpFacts,
} from '../../connectors/salesforce/classify-error.js';
import type { Classification } from '../../src/util/classify.js';
import { SalesforceTokenError } from '../../connectors/salesforce/oauth.js';

/** What jsforce's HttpApiError looks like for one Salesforce error object. */
function apiError(errorCode: string, message: string, fields: string[] = []): Error {
  const data = { message, errorCode, fields };
  return Object.assign(new Error(message), { name: errorCode, errorCode, data });
}

/** jsforce's MULTIPLE_API_ERRORS: the whole array in `data`. */
function multipleErrors(items: { errorCode: string; message: string; fields?: string[] }[]): Error {
  return Object.assign(new Error('Multiple errors returned.'), { name: 'MULTIPLE_API_ERRORS', errorCode: 'MULTIPLE_API_ERRORS', data: items });
}

/** A non-JSON body: jsforce makes the code ERROR_HTTP_<status> and the body the message. */
function httpError(status: number, body: string): Error {
  const code = `ERROR_HTTP_${status}`;
  return Object.assign(new Error(body), { name: code, errorCode: code, data: { errorCode: code, message: body } });
}

function networkError(code: string, message = 'socket hang up'): Error {
  return Object.assign(new Error(`request to https://acme.my.salesforce.com/services/data/v62.0/sobjects/Lead failed, reason: ${message}`), {
    name: 'FetchError',
    type: 'system',
    code,
    errno: code,
  });
}

interface Case {
  name: string;
  err: unknown;
  http?: SalesforceHttpFacts;
  expected: Classification;
}

const NOW = Date.parse('2026-11-20T10:15:00.000Z');

const cases: Case[] = [
  // --- auth ---
  {
    name: "INVALID_SESSION_ID after jsforce's one refresh",
    err: apiError('INVALID_SESSION_ID', 'Session expired or invalid'),
    http: { status: 401, nowMs: NOW },
    expected: { kind: 'auth', reason: 'salesforce_invalid_session', crmMessage: 'Session expired or invalid', httpStatus: 401 },
  },
  {
    name: 'refresh failed with invalid_grant (our refresh function names the OAuth code)',
    err: new Error('Unable to refresh session due to: invalid_grant'),
    expected: { kind: 'auth', reason: 'salesforce_refresh_revoked', crmMessage: 'invalid_grant' },
  },
  {
    name: "refresh failed through jsforce's own refresh function (description only)",
    err: new Error('Unable to refresh session due to: expired access/refresh token'),
    expected: { kind: 'auth', reason: 'salesforce_refresh_revoked', crmMessage: 'expired access/refresh token' },
  },
  {
    name: 'refresh refused for a wrong client id',
    err: new Error('Unable to refresh session due to: invalid_client_id'),
    expected: { kind: 'auth', reason: 'salesforce_oauth_invalid_client_id' },
  },
  {
    name: 'refresh without a refresh token',
    err: new Error('Unable to refresh session due to: No refresh token found in the connection'),
    expected: { kind: 'auth', reason: 'salesforce_no_refresh_token' },
  },
  {
    name: 'a replayed request refused again after the refresh',
    err: new Error('Unable to refresh session due to: session_rejected_after_refresh'),
    expected: { kind: 'auth', reason: 'salesforce_session_rejected' },
  },
  {
    name: 'refresh failed for another reason (login host down) is retryable',
    err: new Error('Unable to refresh session due to: refresh_request_failed'),
    expected: { kind: 'retryable', reason: 'salesforce_refresh_failed' },
  },
  {
    name: 'API_DISABLED_FOR_ORG (edition without API access)',
    err: apiError('API_DISABLED_FOR_ORG', 'API is not enabled for this Organization or Partner'),
    http: { status: 403, nowMs: NOW },
    expected: { kind: 'auth', reason: 'salesforce_api_disabled_for_org', crmMessage: 'API is not enabled for this Organization or Partner', httpStatus: 403 },
  },
  {
    name: 'INSUFFICIENT_ACCESS_OR_READONLY (integration user lacks create on Lead)',
    err: apiError('INSUFFICIENT_ACCESS_OR_READONLY', 'insufficient access rights on object id'),
    http: { status: 400, nowMs: NOW },
    expected: { kind: 'auth', reason: 'salesforce_insufficient_access_or_readonly', crmMessage: 'insufficient access rights on object id', httpStatus: 400 },
  },
  {
    name: 'INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY',
    err: apiError('INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY', 'insufficient access rights on cross-reference id', ['OwnerId']),
    expected: {
      kind: 'auth',
      reason: 'salesforce_insufficient_access_on_cross_reference_entity',
      crmMessage: 'insufficient access rights on cross-reference id',
      field: 'OwnerId',
    },
  },
  // --- rate limits ---
  {
    name: 'REQUEST_LIMIT_EXCEEDED TotalRequests (403, no Retry-After): an hour',
    err: apiError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'),
    http: { status: 403, nowMs: NOW, headers: { 'sforce-limit-info': 'api-usage=15000/15000' } },
    expected: {
      kind: 'rate_limited',
      reason: 'salesforce_daily_request_limit',
      retryAfterMs: TOTAL_REQUESTS_WAIT_MS,
      crmMessage: 'TotalRequests Limit exceeded.',
      httpStatus: 403,
    },
  },
  {
    name: 'REQUEST_LIMIT_EXCEEDED ConcurrentRequests: 30 s',
    err: apiError('REQUEST_LIMIT_EXCEEDED', 'ConcurrentRequests (Concurrent API Requests) Limit exceeded.'),
    http: { status: 403, nowMs: NOW },
    expected: {
      kind: 'rate_limited',
      reason: 'salesforce_concurrent_requests_limit',
      retryAfterMs: CONCURRENT_REQUESTS_WAIT_MS,
      crmMessage: 'ConcurrentRequests (Concurrent API Requests) Limit exceeded.',
      httpStatus: 403,
    },
  },
  {
    name: 'REQUEST_LIMIT_EXCEEDED without any HTTP facts still waits an hour',
    err: apiError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'),
    expected: {
      kind: 'rate_limited',
      reason: 'salesforce_daily_request_limit',
      retryAfterMs: TOTAL_REQUESTS_WAIT_MS,
      crmMessage: 'TotalRequests Limit exceeded.',
    },
  },
  {
    name: 'a Retry-After header wins over the documented defaults',
    err: apiError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'),
    http: { status: 429, nowMs: NOW, headers: { 'Retry-After': '7' } },
    expected: {
      kind: 'rate_limited',
      reason: 'salesforce_daily_request_limit',
      retryAfterMs: 7000,
      crmMessage: 'TotalRequests Limit exceeded.',
      httpStatus: 429,
    },
  },
  {
    name: 'a 429 (a proxy in front of Salesforce) with an HTTP-date Retry-After',
    err: httpError(429, 'Too Many Requests'),
    http: { status: 429, headers: { 'retry-after': 'Fri, 20 Nov 2026 10:15:20 GMT' }, nowMs: NOW },
    expected: { kind: 'rate_limited', reason: 'status_code_429', retryAfterMs: 20_000, crmMessage: 'Too Many Requests', httpStatus: 429 },
  },
  {
    name: 'a 429 without Retry-After',
    err: httpError(429, 'Too Many Requests'),
    http: { status: 429, nowMs: NOW },
    expected: { kind: 'rate_limited', reason: 'status_code_429', retryAfterMs: DEFAULT_RATE_LIMIT_WAIT_MS, crmMessage: 'Too Many Requests', httpStatus: 429 },
  },
  // --- invalid data: Salesforce's message and the field it names ---
  ...(
    [
      ['REQUIRED_FIELD_MISSING', 'Required fields are missing: [Company]', 'Company'],
      ['INVALID_EMAIL_ADDRESS', 'Email: invalid email address: zoe@', 'Email'],
      ['STRING_TOO_LONG', 'Last Name: data value too large: Ångström… (max length=80)', 'LastName'],
      ['FIELD_CUSTOM_VALIDATION_EXCEPTION', 'Phone must start with +', 'Phone'],
      ['INVALID_FIELD', "No such column 'favorite_color' on sobject of type Lead", 'favorite_color'],
      ['INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', 'Lead Source: bad value for restricted picklist field: Facebook Lead Ads', 'LeadSource'],
      ['INVALID_TYPE_ON_FIELD_IN_RECORD', 'Annual Revenue: value not of required type: lots', 'AnnualRevenue'],
      ['DUPLICATE_VALUE', 'duplicate value found: FB_Lead_Id__c duplicates value on record with id: 00Q5g00000AbCdE', 'FB_Lead_Id__c'],
    ] as const
  ).map(
    ([code, message, field]): Case => ({
      name: `${code} is invalid`,
      err: apiError(code, message, [field]),
      http: { status: 400, nowMs: NOW },
      expected: { kind: 'invalid', reason: `salesforce_${code.toLowerCase()}`, crmMessage: message, field, httpStatus: 400 },
    }),
  ),
  {
    name: 'DUPLICATES_DETECTED that could not be resolved is invalid',
    err: Object.assign(new Error('Use one of these records?'), {
      name: 'DUPLICATES_DETECTED',
      errorCode: 'DUPLICATES_DETECTED',
      data: { errorCode: 'DUPLICATES_DETECTED', message: 'Use one of these records?', duplicateResult: { matchResults: [] } },
    }),
    http: { status: 400, nowMs: NOW },
    expected: { kind: 'invalid', reason: 'salesforce_duplicates_detected', crmMessage: 'Use one of these records?', httpStatus: 400 },
  },
  {
    name: 'MULTIPLE_CHOICES (the external id matches several records)',
    err: Object.assign(new Error('Multiple records found'), {
      name: 'MULTIPLE_CHOICES',
      errorCode: 'MULTIPLE_CHOICES',
      data: ['/services/data/v62.0/sobjects/Lead/00Q1', '/services/data/v62.0/sobjects/Lead/00Q2'],
    }),
    http: { status: 300, nowMs: NOW },
    expected: { kind: 'invalid', reason: 'salesforce_multiple_choices', crmMessage: 'Multiple records found', httpStatus: 300 },
  },
  {
    name: 'MULTIPLE_API_ERRORS: the first decides',
    err: multipleErrors([
      { errorCode: 'REQUIRED_FIELD_MISSING', message: 'Required fields are missing: [LastName]', fields: ['LastName'] },
      { errorCode: 'INVALID_EMAIL_ADDRESS', message: 'Email: invalid email address: x', fields: ['Email'] },
    ]),
    http: { status: 400, nowMs: NOW },
    expected: {
      kind: 'invalid',
      reason: 'salesforce_required_field_missing',
      crmMessage: 'Required fields are missing: [LastName]',
      field: 'LastName',
      httpStatus: 400,
    },
  },
  {
    name: 'a save-result item (statusCode instead of errorCode)',
    err: { statusCode: 'STRING_TOO_LONG', message: 'City: data value too large', fields: ['City'] },
    expected: { kind: 'invalid', reason: 'salesforce_string_too_long', crmMessage: 'City: data value too large', field: 'City' },
  },
  {
    name: 'a 404 HTML page (wrong instance URL) is invalid without the page as message',
    err: httpError(404, '<html><head><title>Not Found</title></head></html>'),
    http: { status: 404, nowMs: NOW },
    expected: { kind: 'invalid', reason: 'status_code_404', httpStatus: 404 },
  },
  // --- retryable ---
  {
    name: 'SERVER_UNAVAILABLE with its 503',
    err: apiError('SERVER_UNAVAILABLE', 'Server temporarily unavailable'),
    http: { status: 503, nowMs: NOW },
    expected: { kind: 'retryable', reason: 'status_code_503', crmMessage: 'Server temporarily unavailable', httpStatus: 503 },
  },
  {
    name: 'SERVER_UNAVAILABLE without a status',
    err: apiError('SERVER_UNAVAILABLE', 'Server temporarily unavailable'),
    expected: { kind: 'retryable', reason: 'salesforce_server_unavailable', crmMessage: 'Server temporarily unavailable' },
  },
  {
    name: 'UNABLE_TO_LOCK_ROW',
    err: apiError('UNABLE_TO_LOCK_ROW', 'unable to obtain exclusive access to this record'),
    http: { status: 400, nowMs: NOW },
    expected: { kind: 'retryable', reason: 'salesforce_unable_to_lock_row', crmMessage: 'unable to obtain exclusive access to this record', httpStatus: 400 },
  },
  {
    name: 'ERROR_HTTP_502 from a non-JSON body (the status read from the code)',
    err: httpError(502, 'Bad Gateway'),
    expected: { kind: 'retryable', reason: 'status_code_502', crmMessage: 'Bad Gateway', httpStatus: 502 },
  },
  {
    name: 'ECONNRESET from node-fetch',
    err: networkError('ECONNRESET'),
    expected: { kind: 'retryable', reason: 'network_econnreset' },
  },
  {
    name: 'ETIMEDOUT is a timeout, like every connector names it',
    err: networkError('ETIMEDOUT', 'connect ETIMEDOUT'),
    expected: { kind: 'retryable', reason: 'timeout' },
  },
  {
    name: 'socket hang up without a code',
    err: new Error('socket hang up'),
    expected: { kind: 'retryable', reason: 'network_econnreset' },
  },
  {
    name: "undici's fetch failed with the code in its cause",
    err: Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) }),
    expected: { kind: 'retryable', reason: 'network_econnrefused' },
  },
  {
    name: "jsforce's timeout (node-fetch AbortError)",
    err: Object.assign(new Error('The user aborted a request. Request was aborted due to timeout of 10 minutes.'), { name: 'AbortError', type: 'aborted' }),
    expected: { kind: 'retryable', reason: 'timeout' },
  },
  {
    name: 'AbortSignal.timeout on the token request',
    err: Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }),
    expected: { kind: 'retryable', reason: 'timeout' },
  },
  {
    name: 'an unknown code is retryable with a reason naming it',
    err: apiError('SOME_NEW_CODE', 'Something new'),
    http: { status: 400, nowMs: NOW },
    expected: { kind: 'retryable', reason: 'salesforce_unknown_some_new_code', crmMessage: 'Something new', httpStatus: 400 },
  },
  {
    name: 'an unknown code on a 5xx is retryable by its status',
    err: apiError('UNKNOWN_EXCEPTION', 'An unexpected error occurred. Please include this ErrorId: 1234'),
    http: { status: 500, nowMs: NOW },
    expected: { kind: 'retryable', reason: 'status_code_500', crmMessage: 'An unexpected error occurred. Please include this ErrorId: 1234', httpStatus: 500 },
  },
  {
    name: 'a code that is not an identifier is sanitised in the reason',
    err: apiError('WEIRD CODE/<x>', 'odd'),
    expected: { kind: 'retryable', reason: 'salesforce_unknown_weird_code_x', crmMessage: 'odd' },
  },
  { name: 'a thrown string', err: 'boom', expected: { kind: 'retryable', reason: 'salesforce_unknown_error' } },
  { name: 'a plain Error with nothing to go on', err: new Error('Something odd'), expected: { kind: 'retryable', reason: 'salesforce_unknown_error' } },
  // --- the token endpoint (our SalesforceTokenError) ---
  {
    name: 'refresh grant refused: invalid_grant',
    err: new SalesforceTokenError({ oauthError: 'invalid_grant', description: 'expired access/refresh token', httpStatus: 400, grantType: 'refresh_token' }),
    expected: { kind: 'auth', reason: 'salesforce_refresh_revoked', crmMessage: 'expired access/refresh token', httpStatus: 400 },
  },
  {
    name: 'code exchange refused: invalid_grant',
    err: new SalesforceTokenError({ oauthError: 'invalid_grant', description: 'invalid authorization code', httpStatus: 400, grantType: 'authorization_code' }),
    expected: { kind: 'auth', reason: 'salesforce_oauth_invalid_grant', crmMessage: 'invalid authorization code', httpStatus: 400 },
  },
  {
    name: 'token endpoint: invalid_client',
    err: new SalesforceTokenError({ oauthError: 'invalid_client', description: 'invalid client credentials', httpStatus: 400, grantType: 'refresh_token' }),
    expected: { kind: 'auth', reason: 'salesforce_oauth_invalid_client', crmMessage: 'invalid client credentials', httpStatus: 400 },
  },
  {
    name: 'token endpoint: no client configured here',
    err: new SalesforceTokenError({ oauthError: 'client_not_configured', grantType: 'refresh_token' }),
    expected: { kind: 'auth', reason: 'salesforce_oauth_client_not_configured' },
  },
  {
    name: 'token endpoint: too many logins',
    err: new SalesforceTokenError({ oauthError: 'rate_limit_exceeded', description: 'ip rate limit exceeded', httpStatus: 400, grantType: 'refresh_token' }),
    expected: {
      kind: 'rate_limited',
      reason: 'salesforce_oauth_rate_limited',
      retryAfterMs: 15 * 60_000,
      crmMessage: 'ip rate limit exceeded',
      httpStatus: 400,
    },
  },
  {
    name: 'token endpoint: 503',
    err: new SalesforceTokenError({ oauthError: 'http_503', httpStatus: 503, grantType: 'refresh_token' }),
    expected: { kind: 'retryable', reason: 'salesforce_oauth_status_code_503', httpStatus: 503 },
  },
];

describe('classifySalesforceError', () => {
  for (const c of cases) {
    it(c.name, () => {
      expect(classifySalesforceError(c.err, c.http)).to.deep.equal(c.expected);
    });
  }

  it('takes HTTP facts only with the clock (an HTTP-date Retry-After is never silently dropped)', () => {
    // @ts-expect-error nowMs is required beside the status and headers
    const withoutClock: SalesforceHttpFacts = { status: 429, headers: { 'retry-after': 'Fri, 20 Nov 2026 10:15:20 GMT' } };
    expect(withoutClock.nowMs).to.equal(undefined);
    const err = apiError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.');
    expect(classifySalesforceError(err, { status: 403, headers: { 'Retry-After': 'Fri, 20 Nov 2026 10:15:20 GMT' }, nowMs: NOW }).retryAfterMs).to.equal(
      20_000,
    );
  });

  it('clips a long Salesforce message', () => {
    const result = classifySalesforceError(apiError('FIELD_CUSTOM_VALIDATION_EXCEPTION', 'x'.repeat(5000), ['Phone']));
    expect(result.crmMessage).to.have.length(1001);
  });

  it("never puts Salesforce's message into the reason", () => {
    const echoed = 'zoe.angstrom@example.com';
    for (const code of ['INVALID_EMAIL_ADDRESS', 'SOME_NEW_CODE', 'ERROR_HTTP_400', 'SERVER_UNAVAILABLE']) {
      const result = classifySalesforceError(apiError(code, `Email: invalid email address: ${echoed}`, ['Email']));
      expect(result.reason).to.not.contain(echoed);
      expect(result.reason).to.match(/^[a-z0-9_]+$/);
    }
  });

  it('keeps the token error message to the code', () => {
    const err = new SalesforceTokenError({
      oauthError: 'invalid_grant',
      description: 'user 005xx0000012345 is inactive',
      httpStatus: 400,
      grantType: 'refresh_token',
    });
    expect(err.message).to.equal('Salesforce token endpoint refused the refresh_token grant: invalid_grant');
  });
});
