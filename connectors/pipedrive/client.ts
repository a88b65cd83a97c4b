// A small Pipedrive HTTP client over plain axios. We do not use the `pipedrive` SDK: it rejects
// with the bare response body, losing the HTTP status and the rate-limit headers that
// classify-error.ts needs (pipedrive/client-nodejs#725).
//
// It knows: where to send calls (resolveApiBaseUrl), how to authenticate (x-api-token or Bearer),
// when to refresh an OAuth token (before expiry, and once after a 401), and how to turn any
// failure into a ConnectorError. It never attaches axios errors as causes: they carry the
// request config, which holds the token.
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { crmHttpAgent, crmHttpsAgent } from '../../src/util/keep-alive-agents.js';
import { ConnectorError, memoryKey, type ConnectorContext, type InFlight } from '../types.js';
import { networkCodeOf } from '../../src/util/classify.js';
import { classifyPipedriveError, readPipedriveMessage } from './classify-error.js';
import {
  PIPEDRIVE_DEFAULT_API_URL,
  PIPEDRIVE_REFRESH_MARGIN_MS,
  type PipedriveConfig,
  type PipedriveCredentials,
  type PipedriveOAuthCredentials,
  type PipedriveSettings,
} from './manifest.js';
import { flattenHeaders, parseJson, refreshAccessToken } from './oauth.js';

export type PipedriveContext = ConnectorContext<PipedriveConfig, PipedriveCredentials, PipedriveSettings>;

type QueryValue = string | number | boolean | undefined;

interface PipedriveRequest {
  method: 'GET' | 'POST' | 'PATCH';
  /** Starts with /v1/ or /api/v2/. */
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
}

export interface PipedriveResponse {
  status: number;
  body: unknown;
  headers: Record<string, string | undefined>;
  /** The raw body, truncated to settings.responseBodyMaxBytes, for the delivery attempt. */
  rawBody: string;
}

export interface PipedriveClient {
  /** Sends one call; resolves on 2xx, throws ConnectorError otherwise. */
  request(req: PipedriveRequest): Promise<PipedriveResponse>;
  /** The company subdomain ("acme"), when known, for links a person can open. */
  companyDomain(): string | undefined;
}

/**
 * Where API calls go:
 * - OAuth: always the `api_domain` the token endpoint returned (Pipedrive requires it).
 * - API token: the apiUrl setting (PIPEDRIVE_API_URL) when the operator changed it from the default
 *   (a proxy, a sandbox, the loopback fake in tests) — that setting wins; otherwise
 *   https://<companyDomain>.pipedrive.com when the company domain is known; otherwise
 *   https://api.pipedrive.com.
 */
export function resolveApiBaseUrl(settings: PipedriveSettings, credentials: PipedriveCredentials): string {
  if (credentials.type === 'oauth') return credentials.apiDomain.replace(/\/$/, '');
  const apiUrl = settings.apiUrl.replace(/\/$/, '');
  if (apiUrl !== PIPEDRIVE_DEFAULT_API_URL) return apiUrl;
  if (credentials.companyDomain) return `https://${credentials.companyDomain}.pipedrive.com`;
  return apiUrl;
}

/** "acme" from the credentials, or from an OAuth api_domain such as https://acme.pipedrive.com. */
function findCompanyDomain(credentials: PipedriveCredentials): string | undefined {
  if (credentials.type === 'api_token') return credentials.companyDomain;
  try {
    const m = /^([a-z0-9][a-z0-9-]*)\.pipedrive\.com$/i.exec(new URL(credentials.apiDomain).hostname);
    return m && m[1].toLowerCase() !== 'api' ? m[1].toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

function truncateText(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  return buf.length <= maxBytes ? text : buf.subarray(0, Math.max(0, maxBytes)).toString('utf8');
}

function buildUrl(base: string, path: string, query: Record<string, QueryValue> | undefined): string {
  const url = new URL(base + path);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  return url.toString();
}

/**
 * The destination's refresh under way: concurrent deliveries to one destination share one
 * refresh instead of racing to the token endpoint.
 */
const REFRESH_IN_FLIGHT = memoryKey<InFlight<PipedriveOAuthCredentials>>('pipedrive.refreshInFlight');

/** Kept-alive connections, shared by every Pipedrive call of the process. */
const keepAliveHttp = axios.create({ httpAgent: crmHttpAgent, httpsAgent: crmHttpsAgent });

export function createPipedriveClient(ctx: PipedriveContext, http: AxiosInstance = keepAliveHttp): PipedriveClient {
  let credentials: PipedriveCredentials = ctx.credentials;
  let hasRetriedAfter401 = false;

  async function refresh(current: PipedriveOAuthCredentials): Promise<void> {
    credentials = await ctx.memory.shared(REFRESH_IN_FLIGHT, async () => {
      const next = await refreshAccessToken(
        ctx.settings.connector,
        { refreshToken: current.refreshToken },
        { timeoutMs: ctx.settings.timeoutMs, now: ctx.now() },
      );
      // Store at once: the refresh token may have rotated, and the old access token is dead.
      await ctx.saveCredentials(next);
      return next;
    });
  }

  async function send(req: PipedriveRequest): Promise<AxiosResponse<string>> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'LeadRelay' };
    if (credentials.type === 'api_token') headers['x-api-token'] = credentials.apiToken;
    else headers.authorization = `Bearer ${credentials.accessToken}`;
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await http.request<string>({
        method: req.method,
        url: buildUrl(resolveApiBaseUrl(ctx.settings.connector, credentials), req.path, req.query),
        data: req.body === undefined ? undefined : JSON.stringify(req.body),
        headers,
        responseType: 'text',
        // Keep the raw text: we parse it ourselves so an HTML error page stays readable.
        transformResponse: (data: unknown) => data,
        timeout: ctx.settings.timeoutMs,
        maxRedirects: 0,
        validateStatus: () => true,
        adapter: 'http',
      });
    } catch (err) {
      throw new ConnectorError(classifyPipedriveError({ networkCode: networkCodeOf(err) }));
    }
  }

  return {
    companyDomain: () => findCompanyDomain(credentials),

    async request(req) {
      if (credentials.type === 'oauth' && credentials.expiresAt - ctx.now() < PIPEDRIVE_REFRESH_MARGIN_MS) {
        await refresh(credentials);
      }
      let res = await send(req);
      if (res.status === 401 && credentials.type === 'oauth' && !hasRetriedAfter401) {
        // The token may have been revoked or expired early: refresh once, retry once.
        hasRetriedAfter401 = true;
        await refresh(credentials);
        res = await send(req);
      }

      const text = typeof res.data === 'string' ? res.data : '';
      const body = parseJson(text);
      const headers = flattenHeaders(res.headers);
      const rawBody = truncateText(text, ctx.settings.responseBodyMaxBytes);
      const isSuccess = res.status >= 200 && res.status < 300;
      const isRefused = (body as { success?: unknown } | undefined)?.success === false;
      if (isSuccess && !isRefused) return { status: res.status, body, headers, rawBody };

      if (isSuccess) {
        // A 2xx saying success:false: Pipedrive refused the call without an error status.
        throw new ConnectorError({
          kind: 'invalid',
          reason: 'pipedrive_unsuccessful',
          crmMessage: readPipedriveMessage(body),
          httpStatus: res.status,
          responseBody: rawBody,
        });
      }
      throw new ConnectorError({
        ...classifyPipedriveError({ status: res.status, body, headers, now: ctx.now() }),
        responseBody: rawBody,
      });
    },
  };
}

/** A 2xx whose body lacks what the endpoint documents: retry later rather than guess. */
export function unexpectedResponse(res: PipedriveResponse, what: string): ConnectorError {
  return new ConnectorError({ kind: 'retryable', reason: `pipedrive_unexpected_${what}`, httpStatus: res.status, responseBody: res.rawBody });
}
