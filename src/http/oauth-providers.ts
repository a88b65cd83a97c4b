// The CRMs' OAuth settings as data plus a few functions each: how to build the consent URL,
// exchange a code, name a new destination, and forget cached tokens after re-authorisation.
// Used by the connect routes (oauth-routes.ts) and `leadrelay destinations connect`.
import type { App } from '../app.js';
import type { AppConfig } from '../config/env.js';
import { listConnectors, getConnector } from '../../connectors/index.js';
import { isConnectorError } from '../../connectors/types.js';
import * as hubspotOAuth from '../../connectors/hubspot/oauth.js';
import { clearFieldCache as clearHubspotFieldCache } from '../../connectors/hubspot/index.js';
import * as pipedriveOAuth from '../../connectors/pipedrive/oauth.js';
import { clearFieldCache as clearPipedriveFieldCache } from '../../connectors/pipedrive/index.js';
import * as salesforceOAuth from '../../connectors/salesforce/oauth.js';
import { clearFieldCache as clearSalesforceFieldCache, SALESFORCE_PRODUCTION_LOGIN_URL, SALESFORCE_SANDBOX_LOGIN_URL } from '../../connectors/salesforce/index.js';
import { connectorSettings, encryptCredentials } from '../pipeline/connector-context.js';
import { resumeDestination } from '../pipeline/replay.js';
import * as repo from '../store/repos.js';
import type { Db } from '../store/db.js';
import type { Destination } from '../store/schema.js';
import { computeCodeChallenge, createOAuthStateSigner, type OAuthConnectRequest, type OAuthStatePayload, type OAuthStateSigner } from './oauth-state.js';

export const OAUTH_TYPES = ['hubspot', 'salesforce', 'pipedrive'] as const;
export type OAuthType = (typeof OAUTH_TYPES)[number];

export function isOAuthType(value: string): value is OAuthType {
  return (OAUTH_TYPES as readonly string[]).includes(value);
}

export const MAX_NAME_CHARS = 200;

// ---- the CRMs ---------------------------------------------------------------------------------

interface AuthorizeInput {
  redirectUri: string;
  state: string;
  loginUrl: string | undefined;
  codeVerifier: string;
}

interface ExchangeInput {
  code: string;
  redirectUri: string;
  loginUrl: string | undefined;
  codeVerifier: string;
}

/** What the flow needs to know about one CRM; the OAuth calls themselves live in its connector. */
export interface OAuthProvider {
  label: string;
  /** The variables that must be set (non-empty) for this CRM's OAuth app. */
  requiredSettings(config: AppConfig): { variable: string; value: string }[];
  buildAuthorizeUrl(app: App, input: AuthorizeInput): Promise<string>;
  /** The destination's credentials. Throws ConnectorError (`auth` when the CRM refuses the code). */
  exchangeCode(app: App, input: ExchangeInput): Promise<Record<string, unknown>>;
  /** Non-secret settings of a new destination. */
  configFor(payload: OAuthStatePayload): Record<string, unknown>;
  defaultName(credentials: Record<string, unknown>): string;
  /** Drops this process's cached tokens and fields of a destination after re-authorisation. */
  forgetCaches(destinationId: string): Promise<void>;
}

const hubspotProvider: OAuthProvider = {
  label: 'HubSpot',
  requiredSettings: (c) => [
    { variable: 'HUBSPOT_CLIENT_ID', value: c.hubspot.clientId },
    { variable: 'HUBSPOT_CLIENT_SECRET', value: c.hubspot.clientSecret },
  ],
  async buildAuthorizeUrl(app, input) {
    return hubspotOAuth.buildAuthorizeUrl({ clientId: app.config.hubspot.clientId, redirectUri: input.redirectUri, state: input.state });
  },
  async exchangeCode(app, input) {
    return hubspotOAuth.exchangeCode({ settings: connectorSettings(app), code: input.code, redirectUri: input.redirectUri, now: Date.now() });
  },
  configFor: () => ({}),
  defaultName: (creds) => (typeof creds.hubId === 'string' ? `HubSpot ${creds.hubId}` : 'HubSpot'),
  async forgetCaches(destinationId) {
    hubspotOAuth.forgetRefreshedTokens(destinationId);
    clearHubspotFieldCache(destinationId);
  },
};

const pipedriveProvider: OAuthProvider = {
  label: 'Pipedrive',
  requiredSettings: (c) => [
    { variable: 'PIPEDRIVE_CLIENT_ID', value: c.pipedrive.clientId },
    { variable: 'PIPEDRIVE_CLIENT_SECRET', value: c.pipedrive.clientSecret },
  ],
  // Pipedrive takes no scopes in the URL: they are set on the app in the Developer Hub.
  async buildAuthorizeUrl(app, input) {
    return pipedriveOAuth.buildAuthorizeUrl(app.config.pipedrive, { redirectUri: input.redirectUri, state: input.state });
  },
  // The credentials carry the company's `api_domain`, where every API call then goes.
  async exchangeCode(app, input) {
    return pipedriveOAuth.exchangeCode(app.config.pipedrive, { code: input.code, redirectUri: input.redirectUri }, { timeoutMs: app.config.delivery.timeoutMs, now: Date.now() });
  },
  configFor: () => ({}),
  defaultName(creds) {
    const company = typeof creds.apiDomain === 'string' ? /^https:\/\/([a-z0-9-]+)\.pipedrive\.com$/i.exec(creds.apiDomain)?.[1] : undefined;
    return company ? `Pipedrive (${company})` : 'Pipedrive';
  },
  async forgetCaches(destinationId) {
    clearPipedriveFieldCache(destinationId);
  },
};

// Salesforce: the web-server flow with PKCE (External Client Apps may require it; the verifier is
// derived from the state, so nothing is stored), `api refresh_token` scopes, and the login host
// chosen per destination (production, sandbox or My Domain), which later refreshes use too.
const salesforceProvider: OAuthProvider = {
  label: 'Salesforce',
  requiredSettings: (c) => [
    { variable: 'SALESFORCE_CLIENT_ID', value: c.salesforce.clientId },
    { variable: 'SALESFORCE_CLIENT_SECRET', value: c.salesforce.clientSecret },
  ],
  async buildAuthorizeUrl(app, input) {
    return salesforceOAuth.buildAuthorizeUrl({
      loginUrl: input.loginUrl ?? app.config.salesforce.loginUrl,
      clientId: app.config.salesforce.clientId,
      redirectUri: input.redirectUri,
      state: input.state,
      codeChallenge: computeCodeChallenge(input.codeVerifier),
    });
  },
  async exchangeCode(app, input) {
    return salesforceOAuth.exchangeCode({
      loginUrl: input.loginUrl ?? app.config.salesforce.loginUrl,
      clientId: app.config.salesforce.clientId,
      clientSecret: app.config.salesforce.clientSecret,
      redirectUri: input.redirectUri,
      code: input.code,
      codeVerifier: input.codeVerifier,
      timeoutMs: app.config.delivery.timeoutMs,
    });
  },
  // Refreshes go to the login host the destination was connected through (sandbox, My Domain).
  configFor: (payload) => (payload.loginUrl ? { loginUrl: payload.loginUrl } : {}),
  defaultName(creds) {
    try {
      return typeof creds.instanceUrl === 'string' ? `Salesforce (${new URL(creds.instanceUrl).hostname})` : 'Salesforce';
    } catch {
      return 'Salesforce';
    }
  },
  async forgetCaches(destinationId) {
    salesforceOAuth.forgetSharedRefreshes(destinationId);
    clearSalesforceFieldCache(destinationId);
  },
};

const providers: Record<OAuthType, OAuthProvider> = { hubspot: hubspotProvider, salesforce: salesforceProvider, pipedrive: pipedriveProvider };

export function getOAuthProvider(type: OAuthType): OAuthProvider {
  return providers[type];
}

export function getOAuthLabel(type: OAuthType): string {
  return providers[type].label;
}

/** Whether this build has the connector (a destination of the type can be created and used). */
export function isOAuthTypeAvailable(type: OAuthType): boolean {
  return listConnectors().some((c) => c.id === type);
}

/** "HUBSPOT_CLIENT_ID is not set" (or both names), or undefined when the CRM's OAuth app is configured. */
export function findMissingOAuthSettings(config: AppConfig, type: OAuthType): string | undefined {
  const missing = providers[type].requiredSettings(config).filter((s) => s.value === '').map((s) => s.variable);
  if (missing.length === 0) return undefined;
  return `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set: set ${missing.length === 1 ? 'it' : 'them'} to your ${providers[type].label} app's OAuth client credentials and restart LeadRelay`;
}

export function buildRedirectUri(publicUrl: string, type: OAuthType): string {
  return `${publicUrl.replace(/\/+$/, '')}/oauth/${type}/callback`;
}

export type LoginUrlCheck = { ok: true; loginUrl: string } | { ok: false; message: string };

/**
 * A Salesforce login URL: `production`, `sandbox`, or an https origin (login.salesforce.com,
 * test.salesforce.com, a My Domain). Plain http only for the configured SALESFORCE_LOGIN_URL
 * and loopback hosts (local fakes). The client secret and the code are sent there.
 */
export function parseSalesforceLoginUrl(raw: string, configuredLoginUrl: string): LoginUrlCheck {
  const value = raw.trim();
  if (value === 'production') return { ok: true, loginUrl: SALESFORCE_PRODUCTION_LOGIN_URL };
  if (value === 'sandbox') return { ok: true, loginUrl: SALESFORCE_SANDBOX_LOGIN_URL };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, message: `login URL "${value.slice(0, 80)}" is not a URL (use https://login.salesforce.com, https://test.salesforce.com for sandboxes, or your My Domain)` };
  }
  const isConfigured = url.origin === new URL(configuredLoginUrl).origin;
  const isLoopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (isConfigured || isLoopback))) return { ok: false, message: 'the Salesforce login URL must use https' };
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    return { ok: false, message: 'the Salesforce login URL must be just the host, e.g. https://test.salesforce.com' };
  }
  return { ok: true, loginUrl: url.origin };
}

/**
 * Why the workspace/destination of a connect request cannot be used, or undefined when they
 * can: the workspace exists; a destination to re-authorise exists, belongs to that workspace
 * and is of the same CRM.
 */
export async function findConnectTargetProblem(db: Db, request: OAuthConnectRequest): Promise<string | undefined> {
  if (!(await repo.findWorkspace(db, request.workspaceId))) return `workspace "${request.workspaceId.slice(0, 64)}" not found`;
  if (request.destinationId === undefined) return undefined;
  const dest = await repo.findDestination(db, request.destinationId);
  if (!dest || dest.workspace_id !== request.workspaceId) return `destination "${request.destinationId.slice(0, 64)}" not found in workspace ${request.workspaceId}`;
  if (dest.type !== request.type) return `destination ${dest.id} is a ${dest.type} destination, not ${request.type}`;
  return undefined;
}

/** The link an operator hands to whoever holds the CRM login: our start route, signed. */
export function buildConnectLink(publicUrl: string, signer: OAuthStateSigner, request: OAuthConnectRequest, nowMs: number): string {
  const url = new URL(`${publicUrl.replace(/\/+$/, '')}/oauth/${encodeURIComponent(request.type)}/start`);
  url.searchParams.set('workspace', request.workspaceId);
  if (request.destinationId !== undefined) url.searchParams.set('destination', request.destinationId);
  if (request.name !== undefined) url.searchParams.set('name', request.name);
  if (request.loginUrl !== undefined) url.searchParams.set('login_url', request.loginUrl);
  const signature = signer.signConnectLink(request, nowMs);
  url.searchParams.set('expires', String(signature.expires));
  url.searchParams.set('sig', signature.sig);
  return url.toString();
}
