// Pipedrive OAuth 2.0: the authorize URL, the code exchange and the refresh.
// https://pipedrive.readme.io/docs/marketplace-oauth-authorization
// - The token endpoint takes a form-encoded body and HTTP Basic client_id:client_secret.
// - Access tokens last 60 minutes; a refresh returns a new access token and (today) the same
//   refresh token with its 60-day idle window extended. We store whatever comes back.
// - API calls must go to the `api_domain` the token endpoint returns (the company's host).
// Plain axios, not the `pipedrive` SDK: the SDK rejects with the bare body, losing the HTTP status
// and headers we classify on (pipedrive/client-nodejs#725).
import axios, { type AxiosResponse } from 'axios';
import { z } from 'zod';
import { ConnectorError } from '../types.js';
import { classifyPipedriveError, readPipedriveMessage } from './classify-error.js';
import { PIPEDRIVE_DEFAULT_OAUTH_URL, type PipedriveOAuthCredentials, type PipedriveSettings } from './manifest.js';

export type { PipedriveSettings };

export interface PipedriveOAuthCallOptions {
  /** Request timeout in ms (settings.timeoutMs). */
  timeoutMs: number;
  /** Epoch ms at the time of the call, to turn expires_in into expiresAt. */
  now: number;
}

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
  api_domain: z.string().url(),
  token_type: z.string().optional(),
  scope: z.string().optional(),
});

/** The consent page a marketer is sent to. Scopes are configured on the app, not passed here. */
export function buildAuthorizeUrl(settings: PipedriveSettings, params: { redirectUri: string; state: string; clientId?: string }): string {
  const url = new URL(`${settings.oauthUrl.replace(/\/$/, '')}/oauth/authorize`);
  url.searchParams.set('client_id', params.clientId ?? settings.clientId);
  url.searchParams.set('redirect_uri', params.redirectUri);
  url.searchParams.set('state', params.state);
  return url.toString();
}

/** Exchanges the authorization code (valid 5 minutes) for credentials. */
export async function exchangeCode(
  settings: PipedriveSettings,
  params: { code: string; redirectUri: string },
  options: PipedriveOAuthCallOptions,
): Promise<PipedriveOAuthCredentials> {
  return requestToken(
    settings,
    { grant_type: 'authorization_code', code: params.code, redirect_uri: params.redirectUri },
    options,
    'pipedrive_oauth_code_rejected',
  );
}

/** Trades the refresh token for a new access token. A refused refresh means the user must reconnect. */
export async function refreshAccessToken(
  settings: PipedriveSettings,
  params: { refreshToken: string },
  options: PipedriveOAuthCallOptions,
): Promise<PipedriveOAuthCredentials> {
  return requestToken(settings, { grant_type: 'refresh_token', refresh_token: params.refreshToken }, options, 'pipedrive_refresh_revoked');
}

async function requestToken(
  settings: PipedriveSettings,
  form: Record<string, string>,
  options: PipedriveOAuthCallOptions,
  refusedReason: string,
): Promise<PipedriveOAuthCredentials> {
  if (settings.clientId === '' || settings.clientSecret === '') {
    // Without the app's client credentials no token can be obtained; park the destination
    // (kind auth) rather than dead-lettering every lead.
    throw new ConnectorError({ kind: 'auth', reason: 'pipedrive_oauth_not_configured' });
  }
  let res: AxiosResponse<string>;
  try {
    res = await axios.request<string>({
      method: 'POST',
      url: `${settings.oauthUrl.replace(/\/$/, '')}/oauth/token`,
      data: new URLSearchParams(form).toString(),
      auth: { username: settings.clientId, password: settings.clientSecret },
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      responseType: 'text',
      timeout: options.timeoutMs,
      maxRedirects: 0,
      validateStatus: () => true,
      adapter: 'http',
    });
  } catch (err) {
    // No cause attached: the axios error carries the request config, which holds the secrets.
    const c = classifyPipedriveError({ networkCode: (err as { code?: string }).code });
    throw new ConnectorError({ kind: c.kind, reason: c.reason });
  }

  const body = parseJson(res.data);
  if (res.status === 400 || res.status === 401) {
    // invalid_grant (revoked, expired after 60 idle days, code reused) or invalid_client.
    // The error body holds no tokens, but we keep only its words, never the raw body.
    throw new ConnectorError({ kind: 'auth', reason: refusedReason, httpStatus: res.status, crmMessage: readPipedriveMessage(body) });
  }
  if (res.status < 200 || res.status >= 300) {
    const c = classifyPipedriveError({ status: res.status, body, headers: flattenHeaders(res.headers), now: options.now });
    throw new ConnectorError({ kind: c.kind, reason: c.reason, retryAfterMs: c.retryAfterMs, crmMessage: c.crmMessage, httpStatus: res.status });
  }

  const parsed = tokenResponseSchema.safeParse(body);
  if (!parsed.success) throw new ConnectorError({ kind: 'retryable', reason: 'pipedrive_oauth_bad_token_response', httpStatus: res.status });
  if (!isTrustedApiDomain(settings, parsed.data.api_domain)) throw new ConnectorError({ kind: 'auth', reason: 'pipedrive_untrusted_api_domain' });
  return {
    type: 'oauth',
    accessToken: parsed.data.access_token,
    refreshToken: parsed.data.refresh_token,
    expiresAt: options.now + Math.floor(parsed.data.expires_in * 1000),
    apiDomain: parsed.data.api_domain.replace(/\/$/, ''),
  };
}

/**
 * Revokes the refresh token (POST {oauthUrl}/oauth/revoke, Basic client_id:client_secret, form
 * `token` and the optional `token_type_hint`), as the token endpoint is called.
 * https://pipedrive.readme.io/docs/marketplace-oauth-authorization
 * A token Pipedrive no longer knows (400 invalid_token / invalid_grant) is already what this wants.
 */
export async function revokeRefreshToken(settings: PipedriveSettings, refreshToken: string, options: PipedriveOAuthCallOptions): Promise<void> {
  if (settings.clientId === '' || settings.clientSecret === '') throw new ConnectorError({ kind: 'auth', reason: 'pipedrive_oauth_not_configured' });
  let res: AxiosResponse<string>;
  try {
    res = await axios.request<string>({
      method: 'POST',
      url: `${settings.oauthUrl.replace(/\/$/, '')}/oauth/revoke`,
      data: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
      auth: { username: settings.clientId, password: settings.clientSecret },
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      responseType: 'text',
      timeout: options.timeoutMs,
      maxRedirects: 0,
      validateStatus: () => true,
      adapter: 'http',
    });
  } catch (err) {
    // No cause attached: the axios error carries the request config, which holds the secrets.
    const c = classifyPipedriveError({ networkCode: (err as { code?: string }).code });
    throw new ConnectorError({ kind: c.kind, reason: c.reason });
  }
  if (res.status >= 200 && res.status < 300) return;
  const body = parseJson(res.data);
  const error = (body as { error?: unknown } | undefined)?.error;
  if (res.status === 400 && (error === 'invalid_token' || error === 'invalid_grant')) return;
  if (res.status === 401)
    throw new ConnectorError({ kind: 'auth', reason: 'pipedrive_oauth_client_rejected', httpStatus: 401, crmMessage: readPipedriveMessage(body) });
  const c = classifyPipedriveError({ status: res.status, body, headers: flattenHeaders(res.headers), now: options.now });
  throw new ConnectorError({ kind: c.kind, reason: c.reason, retryAfterMs: c.retryAfterMs, crmMessage: c.crmMessage, httpStatus: res.status });
}

/**
 * We send the access token to api_domain, so against the real token endpoint it must be a
 * Pipedrive host over https. A non-default oauthUrl (a local fake, a sandbox) is trusted as-is.
 */
export function isTrustedApiDomain(settings: PipedriveSettings, apiDomain: string): boolean {
  if (settings.oauthUrl.replace(/\/$/, '') !== PIPEDRIVE_DEFAULT_OAUTH_URL) return true;
  try {
    const url = new URL(apiDomain);
    return url.protocol === 'https:' && (url.hostname === 'pipedrive.com' || url.hostname.endsWith('.pipedrive.com'));
  } catch {
    return false;
  }
}

export function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function flattenHeaders(headers: unknown): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (headers === null || typeof headers !== 'object') return out;
  // axios hands back an AxiosHeaders instance; toJSON() gives its plain key/value view.
  const withToJson = headers as { toJSON?: () => unknown };
  const plain = typeof withToJson.toJSON === 'function' ? withToJson.toJSON() : headers;
  for (const [k, v] of Object.entries((plain ?? {}) as Record<string, unknown>)) {
    if (typeof v === 'string') out[k.toLowerCase()] = v;
    else if (typeof v === 'number') out[k.toLowerCase()] = String(v);
    else if (Array.isArray(v)) out[k.toLowerCase()] = v.join(', ');
  }
  return out;
}
