// HubSpot OAuth 2.0: the authorize URL, code exchange and refresh against the dated token
// endpoint (our own axios call: the SDK's oauth API still posts to the v1 endpoint, which
// sunsets 2027-02-16), and the access-token handling every API call goes through.
// https://developers.hubspot.com/docs/api-reference/latest/authentication/manage-oauth-tokens
import axios from 'axios';
import { z } from 'zod';
import { ConnectorError, isConnectorError, memoryKey, type ConnectorMemory, type ConnectorSettings, type InFlight } from '../types.js';
import { classifyHubspotError } from './classify-error.js';
import { networkCodeOf, normaliseBaseUrl, redactSecrets, truncateBody, type HubspotContext } from './client.js';
import {
  ACCESS_TOKEN_REFRESH_MARGIN_MS,
  HUBSPOT_AUTHORIZE_PATH,
  HUBSPOT_AUTHORIZE_URL,
  HUBSPOT_INTROSPECT_PATH,
  HUBSPOT_REVOKE_PATH,
  HUBSPOT_SCOPES,
  HUBSPOT_TOKEN_PATH,
  type HubspotOAuthCredentials,
  type HubspotSettings,
} from './manifest.js';

type HubspotConnectorSettings = ConnectorSettings<HubspotSettings>;

export interface AuthorizeUrlInput {
  /** HubSpot's web app (the HUBSPOT_APP_URL setting); default https://app.hubspot.com. */
  appUrl?: string;
  clientId: string;
  redirectUri: string;
  /** Defaults to every scope LeadRelay needs. */
  scopes?: readonly string[];
  optionalScopes?: readonly string[];
  /** An unguessable value bound to the user's session (CSRF protection). */
  state: string;
}

/** The URL to send a person to so they install the app and grant the scopes. */
export function buildAuthorizeUrl(input: AuthorizeUrlInput): string {
  const url = new URL(input.appUrl ? `${input.appUrl}${HUBSPOT_AUTHORIZE_PATH}` : HUBSPOT_AUTHORIZE_URL);
  url.searchParams.set('client_id', input.clientId);
  url.searchParams.set('redirect_uri', input.redirectUri);
  // HubSpot wants the scopes space-separated.
  url.searchParams.set('scope', (input.scopes ?? HUBSPOT_SCOPES).join(' '));
  if (input.optionalScopes && input.optionalScopes.length > 0) url.searchParams.set('optional_scope', input.optionalScopes.join(' '));
  url.searchParams.set('state', input.state);
  return url.toString();
}

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.coerce.number().positive(),
  token_type: z.string().optional(),
  hub_id: z.union([z.number(), z.string()]).optional(),
});

const introspectResponseSchema = z.object({
  active: z.boolean().optional(),
  hub_id: z.union([z.number(), z.string()]).optional(),
  scopes: z.array(z.string()).optional(),
});

interface FormResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

type Grant = 'authorization_code' | 'refresh_token';

export interface ExchangeCodeInput {
  settings: HubspotConnectorSettings;
  code: string;
  redirectUri: string;
  /** PKCE verifier, when the authorize URL carried a challenge. */
  codeVerifier?: string;
  /** Epoch ms (the caller's clock), to turn `expires_in` into `expiresAt`. */
  now: number;
}

/**
 * Exchanges an authorization code for tokens. The account id comes from the token response
 * when HubSpot includes it, else from the introspection endpoint (best effort: a link to the
 * contact is all it is used for).
 */
export async function exchangeCode(input: ExchangeCodeInput): Promise<HubspotOAuthCredentials> {
  const params: Record<string, string> = {
    grant_type: 'authorization_code',
    client_id: input.settings.connector.clientId,
    client_secret: input.settings.connector.clientSecret,
    redirect_uri: input.redirectUri,
    code: input.code,
  };
  if (input.codeVerifier) params.code_verifier = input.codeVerifier;
  const secrets = [input.code, input.settings.connector.clientSecret, input.codeVerifier];
  const credentials = await requestTokens(input.settings, params, 'authorization_code', secrets, input.now);
  if (credentials.hubId === undefined) {
    const hubId = await introspectHubId(input.settings, credentials.accessToken);
    if (hubId !== undefined) return { ...credentials, hubId };
  }
  return credentials;
}

export interface RefreshAccessTokenInput {
  settings: HubspotConnectorSettings;
  refreshToken: string;
  now: number;
}

/**
 * Trades a refresh token for a new access token. HubSpot does not document refresh-token
 * rotation; when it sends a new one we keep it, otherwise the old one stays.
 * Throws ConnectorError `auth`/`hubspot_refresh_revoked` when HubSpot refuses for good.
 */
export async function refreshAccessToken(input: RefreshAccessTokenInput): Promise<HubspotOAuthCredentials> {
  const params = {
    grant_type: 'refresh_token',
    client_id: input.settings.connector.clientId,
    client_secret: input.settings.connector.clientSecret,
    refresh_token: input.refreshToken,
  };
  const secrets = [input.refreshToken, input.settings.connector.clientSecret];
  const next = await requestTokens(input.settings, params, 'refresh_token', secrets, input.now);
  return { ...next, refreshToken: next.refreshToken || input.refreshToken };
}

async function requestTokens(
  settings: HubspotConnectorSettings,
  params: Record<string, string>,
  grant: Grant,
  secrets: (string | undefined)[],
  now: number,
): Promise<HubspotOAuthCredentials> {
  const response = await postForm(settings, HUBSPOT_TOKEN_PATH, params);
  if (response.status < 200 || response.status >= 300) throw tokenEndpointError(settings, response, grant, secrets, now);
  const parsed = tokenResponseSchema.safeParse(parseJson(response.text));
  if (!parsed.success) {
    throw new ConnectorError({ kind: 'retryable', reason: 'hubspot_token_response_unreadable', httpStatus: response.status });
  }
  const body = parsed.data;
  return {
    type: 'oauth',
    accessToken: body.access_token,
    // Filled in by refreshAccessToken() when HubSpot does not send a new one.
    refreshToken: body.refresh_token ?? '',
    expiresAt: Math.floor(now + body.expires_in * 1000),
    ...(body.hub_id !== undefined && /^\d+$/.test(String(body.hub_id)) ? { hubId: String(body.hub_id) } : {}),
  };
}

/** POST /oauth/2026-03/token/introspect → the token's hub_id; undefined when it cannot tell. */
async function introspectHubId(settings: HubspotConnectorSettings, accessToken: string): Promise<string | undefined> {
  try {
    const response = await postForm(settings, HUBSPOT_INTROSPECT_PATH, {
      client_id: settings.connector.clientId,
      client_secret: settings.connector.clientSecret,
      token: accessToken,
      token_type_hint: 'access_token',
    });
    if (response.status !== 200) return undefined;
    const parsed = introspectResponseSchema.safeParse(parseJson(response.text));
    const hubId = parsed.success ? parsed.data.hub_id : undefined;
    return hubId !== undefined && /^\d+$/.test(String(hubId)) ? String(hubId) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Revokes a refresh token (POST /oauth/2026-03/token/revoke, every parameter in the form body).
 * A refresh token HubSpot no longer knows (revoked before, or the app uninstalled) is already
 * what this wants. Throws ConnectorError: `auth` when HubSpot refuses the app's client
 * credentials or they are not configured, otherwise as HubSpot's answer classifies.
 */
export async function revokeRefreshToken(settings: HubspotConnectorSettings, refreshToken: string): Promise<void> {
  const { clientId, clientSecret } = settings.connector;
  if (!clientId || !clientSecret) throw new ConnectorError({ kind: 'auth', reason: 'hubspot_oauth_not_configured' });
  const response = await postForm(settings, HUBSPOT_REVOKE_PATH, {
    client_id: clientId,
    client_secret: clientSecret,
    token: refreshToken,
    token_type_hint: 'refresh_token',
  });
  if (response.status >= 200 && response.status < 300) return;
  const body = parseJson(response.text) as { error?: unknown; status?: unknown } | undefined;
  if (response.status === 400 && (body?.error === 'invalid_grant' || body?.error === 'invalid_token' || body?.status === 'BAD_REFRESH_TOKEN')) return;
  throw tokenEndpointError(settings, response, 'refresh_token', [refreshToken, clientSecret], Date.now());
}

/** A form-encoded POST with every parameter in the body (the dated endpoints refuse query parameters). */
async function postForm(settings: HubspotConnectorSettings, path: string, params: Record<string, string>): Promise<FormResponse> {
  try {
    const response = await axios.post<string>(`${normaliseBaseUrl(settings.connector.apiUrl)}${path}`, new URLSearchParams(params).toString(), {
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      timeout: settings.timeoutMs,
      maxRedirects: 0,
      proxy: false,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(response.headers ?? {})) if (v !== undefined && v !== null) headers[k.toLowerCase()] = String(v);
    return { status: response.status, headers, text: typeof response.data === 'string' ? response.data : '' };
  } catch (err) {
    // An AxiosError carries the request config (client secret, refresh token): keep only its code.
    const code = networkCodeOf(err);
    const c = classifyHubspotError({ networkCode: code });
    throw new ConnectorError({ kind: c.kind, reason: c.reason });
  }
}

function tokenEndpointError(
  settings: HubspotConnectorSettings,
  response: FormResponse,
  grant: Grant,
  secrets: (string | undefined)[],
  now: number,
): ConnectorError {
  const body = parseJson(response.text) as { error?: unknown; status?: unknown; error_description?: unknown; message?: unknown } | undefined;
  const oauthError = typeof body?.error === 'string' ? body.error : undefined;
  const legacyStatus = typeof body?.status === 'string' ? body.status : undefined;
  const description = typeof body?.error_description === 'string' ? body.error_description : typeof body?.message === 'string' ? body.message : undefined;
  const common = {
    httpStatus: response.status,
    crmMessage: redactSecrets(description, secrets),
    responseBody: redactSecrets(truncateBody(response.text, settings.responseBodyMaxBytes), secrets),
  };

  if (response.status === 400 || response.status === 401) {
    // RFC 6749 §5.2 `invalid_grant`; the v1-style body says BAD_REFRESH_TOKEN / BAD_AUTH_CODE.
    const isGrantRefused =
      response.status === 401 || oauthError === 'invalid_grant' || legacyStatus === 'BAD_REFRESH_TOKEN' || legacyStatus === 'BAD_AUTH_CODE';
    const isClientRefused = oauthError === 'invalid_client' || legacyStatus === 'BAD_CLIENT_ID' || legacyStatus === 'BAD_CLIENT_SECRET';
    const reason = isGrantRefused
      ? grant === 'refresh_token'
        ? 'hubspot_refresh_revoked'
        : 'hubspot_code_rejected'
      : isClientRefused
        ? 'hubspot_oauth_client_rejected'
        : 'hubspot_token_request_rejected';
    return new ConnectorError({ kind: 'auth', reason, ...common });
  }
  const c = classifyHubspotError({ status: response.status, body: response.text, headers: response.headers, now });
  return new ConnectorError({ kind: c.kind, reason: c.reason, retryAfterMs: c.retryAfterMs, ...common });
}

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// ---- access tokens for API calls ------------------------------------------------------------

/** Refreshes of the destination's refresh tokens that are under way, by refresh token (concurrent deliveries share one). */
const REFRESHES_IN_FLIGHT = memoryKey<InFlight<HubspotOAuthCredentials>>('hubspot.refreshesInFlight');
/**
 * The latest credentials this App refreshed for the destination, with the access token they
 * replaced: a delivery that loaded the old credentials before they were saved uses these
 * instead of refreshing again.
 */
const LATEST_REFRESHED = memoryKey<{ replacedAccessToken: string; next: HubspotOAuthCredentials }>('hubspot.latestRefreshed');

/** Forgets a destination's in-memory token state (after it is re-authorised). */
export function forgetRefreshedTokens(memory: ConnectorMemory): void {
  memory.delete(LATEST_REFRESHED);
  memory.delete(REFRESHES_IN_FLIGHT);
}

function isNearExpiry(credentials: HubspotOAuthCredentials, now: number): boolean {
  return credentials.expiresAt - now < ACCESS_TOKEN_REFRESH_MARGIN_MS;
}

function currentOAuthCredentials(ctx: HubspotContext): HubspotOAuthCredentials | undefined {
  const creds = ctx.credentials;
  if (creds.type !== 'oauth') return undefined;
  const memo = ctx.memory.get(LATEST_REFRESHED);
  if (memo && memo.replacedAccessToken === creds.accessToken && !isNearExpiry(memo.next, ctx.now())) return memo.next;
  return creds;
}

/**
 * The access token to call HubSpot with. OAuth tokens are refreshed ahead of expiry (HubSpot:
 * "a 401 is not the refresh signal"), and the new tokens are saved at once.
 * https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines
 */
async function getAccessToken(ctx: HubspotContext): Promise<string> {
  const current = currentOAuthCredentials(ctx);
  if (current === undefined) return ctx.credentials.accessToken;
  if (!isNearExpiry(current, ctx.now())) return current.accessToken;
  return (await refreshAndSave(ctx, current)).accessToken;
}

/** After a 401 with `rejectedAccessToken`: a newer token if another delivery got one, else refresh. */
async function getAccessTokenAfterUnauthorized(ctx: HubspotContext, rejectedAccessToken: string): Promise<string> {
  const current = currentOAuthCredentials(ctx);
  if (current === undefined) throw new ConnectorError({ kind: 'auth', reason: 'status_code_401', httpStatus: 401 });
  if (current.accessToken !== rejectedAccessToken) return current.accessToken;
  return (await refreshAndSave(ctx, current)).accessToken;
}

function refreshAndSave(ctx: HubspotContext, current: HubspotOAuthCredentials): Promise<HubspotOAuthCredentials> {
  return ctx.memory.shared(
    REFRESHES_IN_FLIGHT,
    async () => {
      const refreshed = await refreshAccessToken({ settings: ctx.settings, refreshToken: current.refreshToken, now: ctx.now() });
      const hubId = refreshed.hubId ?? current.hubId;
      const next: HubspotOAuthCredentials = { ...refreshed, ...(hubId !== undefined ? { hubId } : {}) };
      ctx.memory.set(LATEST_REFRESHED, { replacedAccessToken: current.accessToken, next });
      try {
        await ctx.saveCredentials(next);
      } catch {
        // Without the save the next process would refresh again; HubSpot keeps the refresh
        // token valid, so this is a retry, not a re-authorisation.
        throw new ConnectorError({ kind: 'retryable', reason: 'hubspot_credentials_save_failed' });
      }
      return next;
    },
    current.refreshToken,
  );
}

/**
 * Runs `operation` with a valid access token. With OAuth credentials, a 401 (a token that died
 * early: revoked and re-installed app, clock skew) is refreshed once and retried once; a
 * second 401 stays `auth`.
 */
export async function withAccessToken<T>(ctx: HubspotContext, operation: (accessToken: string) => Promise<T>): Promise<T> {
  const accessToken = await getAccessToken(ctx);
  try {
    return await operation(accessToken);
  } catch (err) {
    if (ctx.credentials.type !== 'oauth' || !isConnectorError(err) || err.httpStatus !== 401) throw err;
    const nextToken = await getAccessTokenAfterUnauthorized(ctx, accessToken);
    return operation(nextToken);
  }
}
