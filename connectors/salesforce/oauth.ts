// Salesforce OAuth 2.0 web-server flow: the authorize URL, the code exchange and the refresh
// grant, all against `{loginUrl}/services/oauth2/token` (production, sandbox or My Domain).
// https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm
// https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm
//
// The token calls are our own fetch, not jsforce's OAuth2 class: jsforce posts without a
// timeout (a hung login host would hold a worker for 30 minutes) and, when a refresh fails,
// keeps only `error_description`, dropping the `error` code (`invalid_grant`) that tells a
// revoked grant from an outage. jsforce still decides WHEN to refresh (on a 401) and replays
// the request; see client.ts.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ConnectorError, memoryKey, type ConnectorMemory } from '../types.js';
import { classifySalesforceError } from './classify-error.js';
import { SALESFORCE_AUTHORIZE_PATH, SALESFORCE_REVOKE_PATH, SALESFORCE_SCOPES, SALESFORCE_TOKEN_PATH, type SalesforceCredentials } from './manifest.js';

const DEFAULT_TOKEN_TIMEOUT_MS = 10_000;
/**
 * A refresh response is reused for this long by other deliveries of the same destination that
 * present the same refresh token. Deliveries that loaded the credentials before a refresh would
 * otherwise refresh again with a token that, under Salesforce's refresh-token rotation, is
 * already spent (invalid_grant → the destination would be parked for re-authorisation).
 */
const REFRESH_REUSE_MS = 120_000;

export interface AuthorizeUrlInput {
  /** https://login.salesforce.com, https://test.salesforce.com (sandbox) or the org's My Domain. */
  loginUrl: string;
  clientId: string;
  redirectUri: string;
  /** An unguessable value bound to the user's session (CSRF protection). */
  state: string;
  /** Defaults to `api refresh_token`. */
  scopes?: readonly string[];
  /** PKCE S256 challenge, when the caller keeps a verifier for the exchange. */
  codeChallenge?: string;
}

/** The URL to send a person to so they log in to Salesforce and grant access. */
export function buildAuthorizeUrl(input: AuthorizeUrlInput): string {
  const url = new URL(`${trimSlash(input.loginUrl)}${SALESFORCE_AUTHORIZE_PATH}`);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', input.clientId);
  url.searchParams.set('redirect_uri', input.redirectUri);
  // Space-separated, as Salesforce documents the scope parameter.
  url.searchParams.set('scope', (input.scopes ?? SALESFORCE_SCOPES).join(' '));
  url.searchParams.set('state', input.state);
  if (input.codeChallenge) {
    url.searchParams.set('code_challenge', input.codeChallenge);
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return url.toString();
}

/**
 * The token response. Salesforce sends no `expires_in` (the org's session policy decides), so
 * an expired access token shows up as a 401 that jsforce answers with a refresh.
 */
const salesforceTokenResponseSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  instance_url: z.string().url(),
  /** `https://login.salesforce.com/id/<orgId>/<userId>` */
  id: z.string().optional(),
  token_type: z.string().optional(),
  issued_at: z.string().optional(),
  signature: z.string().optional(),
  scope: z.string().optional(),
});
export type SalesforceTokenResponse = z.infer<typeof salesforceTokenResponseSchema>;

type Grant = 'authorization_code' | 'refresh_token';

/**
 * The token endpoint said no (or answered something unusable). `oauthError` is Salesforce's
 * `error` code (`invalid_grant`, `invalid_client_id`, ...) or `http_<status>`; the message holds
 * only that code, never the description (kept in `description` for crmMessage).
 */
export class SalesforceTokenError extends Error {
  readonly oauthError: string;
  readonly description?: string;
  readonly httpStatus?: number;
  readonly grantType: Grant;

  constructor(init: { oauthError: string; description?: string; httpStatus?: number; grantType: Grant }) {
    const code = init.oauthError.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 64);
    super(`Salesforce token endpoint refused the ${init.grantType} grant: ${code}`);
    this.name = 'SalesforceTokenError';
    this.oauthError = code;
    this.description = init.description;
    this.httpStatus = init.httpStatus;
    this.grantType = init.grantType;
  }
}

interface TokenRequest {
  loginUrl: string;
  grantType: Grant;
  params: Record<string, string>;
  timeoutMs?: number;
}

/** POSTs one grant to the token endpoint. Throws SalesforceTokenError, or the network error as is. */
async function requestToken(req: TokenRequest): Promise<SalesforceTokenResponse> {
  const res = await fetch(`${trimSlash(req.loginUrl)}${SALESFORCE_TOKEN_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: req.grantType, ...req.params }).toString(),
    redirect: 'manual',
    signal: AbortSignal.timeout(req.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS),
  });
  const text = await res.text();
  const body = parseJsonObject(text);
  if (res.status < 200 || res.status >= 300) {
    throw new SalesforceTokenError({
      oauthError: typeof body?.error === 'string' && body.error !== '' ? body.error : `http_${res.status}`,
      description: typeof body?.error_description === 'string' ? body.error_description : undefined,
      httpStatus: res.status,
      grantType: req.grantType,
    });
  }
  const parsed = salesforceTokenResponseSchema.safeParse(body);
  if (!parsed.success) {
    throw new SalesforceTokenError({ oauthError: 'malformed_token_response', httpStatus: res.status, grantType: req.grantType });
  }
  return parsed.data;
}

export interface ExchangeCodeInput {
  loginUrl: string;
  clientId: string;
  clientSecret: string;
  /** Exactly the redirect URI the authorize URL carried. */
  redirectUri: string;
  code: string;
  /** PKCE verifier, when the authorize URL carried a challenge. */
  codeVerifier?: string;
  timeoutMs?: number;
}

/**
 * Exchanges an authorization code for a destination's credentials. Throws ConnectorError:
 * `auth` when Salesforce refuses (expired code, wrong client, no refresh token granted),
 * `retryable` when the login host is unreachable.
 */
export async function exchangeCode(input: ExchangeCodeInput): Promise<SalesforceCredentials> {
  const params: Record<string, string> = {
    code: input.code,
    client_id: input.clientId,
    client_secret: input.clientSecret,
    redirect_uri: input.redirectUri,
  };
  if (input.codeVerifier) params.code_verifier = input.codeVerifier;
  let res: SalesforceTokenResponse;
  try {
    res = await requestToken({ loginUrl: input.loginUrl, grantType: 'authorization_code', params, timeoutMs: input.timeoutMs });
  } catch (err) {
    throw new ConnectorError(classifySalesforceError(err));
  }
  if (!res.refresh_token) {
    // The connected app lacks the refresh_token (offline_access) scope, or the user's grant
    // excluded it: the first expired session would kill the destination, so refuse now.
    throw new ConnectorError({
      kind: 'auth',
      reason: 'salesforce_no_refresh_token',
      crmMessage:
        'Salesforce issued no refresh token: add the "Perform requests at any time (refresh_token, offline_access)" scope to the connected app and connect again.',
    });
  }
  return { accessToken: res.access_token, refreshToken: res.refresh_token, instanceUrl: trimSlash(res.instance_url) };
}

export interface RefreshAccessTokenInput {
  loginUrl: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  timeoutMs?: number;
}

/**
 * One refresh grant. The response carries a new `refresh_token` only when the connected app
 * rotates refresh tokens; the caller must then store it (the old one stops working).
 * Throws SalesforceTokenError or the network error.
 */
export async function refreshAccessToken(input: RefreshAccessTokenInput): Promise<SalesforceTokenResponse> {
  if (!input.clientId) {
    throw new SalesforceTokenError({ oauthError: 'client_not_configured', grantType: 'refresh_token' });
  }
  return requestToken({
    loginUrl: input.loginUrl,
    grantType: 'refresh_token',
    params: { refresh_token: input.refreshToken, client_id: input.clientId, client_secret: input.clientSecret },
    timeoutMs: input.timeoutMs,
  });
}

/**
 * Revokes a token at `{loginUrl}/services/oauth2/revoke` (form body `token`). Salesforce answers a
 * token it does not know (revoked before, expired) with 400 `unsupported_token_type` or
 * `invalid_token`: already what this wants. Throws SalesforceTokenError for any other refusal,
 * or the network error as is.
 */
export async function revokeToken(input: { loginUrl: string; token: string; timeoutMs?: number }): Promise<void> {
  const res = await fetch(`${trimSlash(input.loginUrl)}${SALESFORCE_REVOKE_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ token: input.token }).toString(),
    redirect: 'manual',
    signal: AbortSignal.timeout(input.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS),
  });
  if (res.status >= 200 && res.status < 300) return;
  const body = parseJsonObject(await res.text());
  const error = typeof body?.error === 'string' && body.error !== '' ? body.error : `http_${res.status}`;
  if (res.status === 400 && (error === 'unsupported_token_type' || error === 'invalid_token')) return;
  throw new SalesforceTokenError({
    oauthError: error,
    description: typeof body?.error_description === 'string' ? body.error_description : undefined,
    httpStatus: res.status,
    grantType: 'refresh_token',
  });
}

interface SharedRefresh {
  promise: Promise<SalesforceTokenResponse>;
  settledAtMs?: number;
}

/** The destination's refreshes, by a hash of the refresh token they used (the map holds no second copy of the secret). */
const SHARED_REFRESHES = memoryKey<Map<string, SharedRefresh>>('salesforce.sharedRefreshes');

/**
 * refreshAccessToken, but at most one call per destination (whose ctx.memory this is) and
 * refresh token at a time, and a successful answer is handed to later callers with the same
 * (now possibly spent) refresh token for REFRESH_REUSE_MS. Failures are not remembered.
 */
export function refreshAccessTokenShared(memory: ConnectorMemory, input: RefreshAccessTokenInput & { nowMs: number }): Promise<SalesforceTokenResponse> {
  let sharedRefreshes = memory.get(SHARED_REFRESHES);
  if (!sharedRefreshes) {
    sharedRefreshes = new Map();
    memory.set(SHARED_REFRESHES, sharedRefreshes);
  }
  for (const [key, entry] of sharedRefreshes) {
    if (entry.settledAtMs !== undefined && input.nowMs - entry.settledAtMs > REFRESH_REUSE_MS) sharedRefreshes.delete(key);
  }
  const key = createHash('sha256').update(input.refreshToken).digest('hex');
  const existing = sharedRefreshes.get(key);
  if (existing) return existing.promise;
  const refreshes = sharedRefreshes;
  const entry: SharedRefresh = {
    promise: refreshAccessToken(input).then(
      (res) => {
        entry.settledAtMs = input.nowMs;
        return res;
      },
      (err: unknown) => {
        if (refreshes.get(key) === entry) refreshes.delete(key);
        throw err;
      },
    ),
  };
  sharedRefreshes.set(key, entry);
  return entry.promise;
}

/** Forgets a destination's shared refresh answers (after it is re-authorised). */
export function forgetSharedRefreshes(memory: ConnectorMemory): void {
  memory.delete(SHARED_REFRESHES);
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
