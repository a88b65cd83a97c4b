// Static facts about Salesforce: auth modes, URLs, scopes, defaults, the schemas of a
// destination's config and credentials, the settings and command-line flags it takes, and how it
// is connected by OAuth (salesforceManifest, what the rest of the program reads). Behaviour lives
// in the other files of this folder, loaded only when used.
import { z } from 'zod';
import {
  ConnectorError,
  type ConnectorAuth,
  type ConnectorManifest,
  type ConnectorSettingsDeclaration,
  type FieldMappingSupport,
  type LoginUrlCheck,
  type SettingsOf,
} from '../types.js';

export const SALESFORCE_CONNECTOR_ID = 'salesforce';
export const SALESFORCE_LABEL = 'Salesforce';

/** Production login host; sandboxes use https://test.salesforce.com, orgs may use their My Domain. */
export const SALESFORCE_PRODUCTION_LOGIN_URL = 'https://login.salesforce.com';
export const SALESFORCE_SANDBOX_LOGIN_URL = 'https://test.salesforce.com';

/**
 * Web-server flow endpoints, relative to the login URL.
 * https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm
 */
export const SALESFORCE_AUTHORIZE_PATH = '/services/oauth2/authorize';
export const SALESFORCE_TOKEN_PATH = '/services/oauth2/token';
/**
 * Revokes an access or refresh token (a refresh token takes its access tokens with it).
 * https://help.salesforce.com/s/articleView?id=sf.remoteaccess_revoke_token.htm
 */
export const SALESFORCE_REVOKE_PATH = '/services/oauth2/revoke';

/**
 * `api` for REST calls; `refresh_token` (alias `offline_access`) or Salesforce issues no refresh
 * token at all, and the destination would die with the first expired session.
 */
export const SALESFORCE_SCOPES = ['api', 'refresh_token'] as const;

/** Value written to a required field (LastName, Company) the mapping left empty. */
export const NOT_PROVIDED_PLACEHOLDER = '[not provided]';

/** How long a describe result (fields, picklists, external id fields) is reused per destination. */
export const FIELD_CACHE_TTL_MS = 5 * 60_000;

/**
 * Records per sObject Collections upsert (`PATCH /composite/sobjects/{SObject}/{ExternalIdField}`,
 * allOrNone=false): Salesforce's limit of 200. One call per 200 leads spends far less of the org's
 * daily API allocation than one call each. The worker waits at most BATCH_MAX_WAIT_MS for more.
 * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
 */
export const COLLECTION_LIMIT = 200;
export const BATCH_MAX_WAIT_MS = 5;
/**
 * Calls that were not full go at most every BATCH_MIN_INTERVAL_MS per destination and process:
 * a steady stream of leads (a backlog being fetched) then goes in batches of what came in half
 * a second, not in many calls of a few leads each. At most two such calls a second, against a daily API
 * allocation (Sforce-Limit-Info) shared with the org's other integrations.
 */
export const BATCH_MIN_INTERVAL_MS = 500;

/**
 * Field names that mark a field as holding Meta's leadgen id when the destination names no
 * `externalIdField`: an External ID field whose API name matches this (FB_Lead_Id__c,
 * Facebook_Lead_ID__c, fbleadid__c ...) is used for the upsert.
 */
export const AUTO_EXTERNAL_ID_FIELD_PATTERN = /fb.*lead.*id|facebook.*lead.*id/i;

/** Salesforce API names: a letter, then letters, digits and underscores (custom fields end in __c). */
const apiNamePattern = /^[A-Za-z][A-Za-z0-9_]*$/;

const httpUrl = (what: string) =>
  z
    .string()
    .url(`${what} must be a URL`)
    .refine((u) => /^https?:\/\//i.test(u), `${what} must be an http(s) URL`)
    // jsforce joins paths with '/', so a trailing slash would double it.
    .transform((u) => u.replace(/\/+$/, ''));

export const salesforceConfigSchema = z.object({
  /** Which object a lead becomes. Default Lead. */
  sobject: z.enum(['Lead', 'Contact']).default('Lead'),
  /**
   * API name of an External ID field that holds Meta's leadgen id (e.g. FB_Lead_Id__c). With one,
   * deliveries upsert on it and a repeat delivery updates the same record. Without one, a field
   * matching AUTO_EXTERNAL_ID_FIELD_PATTERN is used if the describe shows one; otherwise the
   * record is created (and the per-delivery state remembers its id for retries).
   */
  externalIdField: z.string().regex(apiNamePattern, 'externalIdField must be a Salesforce field API name, e.g. FB_Lead_Id__c').optional(),
  /** Lead.Company when the mapping gives none (Company is required on a standard Lead). */
  defaultCompany: z.string().trim().min(1).default(NOT_PROVIDED_PLACEHOLDER),
  /** LastName when the mapping gives none (required on Lead and Contact). */
  defaultLastName: z.string().trim().min(1).default(NOT_PROVIDED_PLACEHOLDER),
  /** Login URL for this destination's token refreshes; defaults to the loginUrl setting (SALESFORCE_LOGIN_URL). */
  loginUrl: httpUrl('loginUrl').optional(),
  /**
   * Send `Sforce-Duplicate-Rule-Header: allowSave=true`, which saves a duplicate anyway when the
   * org's duplicate rule only alerts (blocking rules still refuse). Default false: a duplicate
   * updates the record Salesforce matched instead.
   */
  allowSaveOnDuplicate: z.boolean().default(false),
});
export type SalesforceConfig = z.infer<typeof salesforceConfigSchema>;

export const salesforceCredentialsSchema = z.object({
  accessToken: z.string().min(1, 'accessToken is empty'),
  refreshToken: z.string().min(1, 'refreshToken is empty'),
  /** Where the org's data API lives (from the token response's instance_url), e.g. https://acme.my.salesforce.com. */
  instanceUrl: httpUrl('instanceUrl').refine(
    // jsforce refuses Lightning hosts; the API is only served on the instance (my.salesforce.com) host.
    (u) => !/\.lightning\.force\.com$/i.test(new URL(u).hostname),
    'instanceUrl must be the API host (…my.salesforce.com), not a lightning.force.com URL',
  ),
});
export type SalesforceCredentials = z.infer<typeof salesforceCredentialsSchema>;

export const salesforceAuthModes: ConnectorAuth[] = [
  {
    type: 'oauth2',
    // The production URLs; a destination's `loginUrl` (sandbox, My Domain) replaces the host.
    authorizeUrl: `${SALESFORCE_PRODUCTION_LOGIN_URL}${SALESFORCE_AUTHORIZE_PATH}`,
    tokenUrl: `${SALESFORCE_PRODUCTION_LOGIN_URL}${SALESFORCE_TOKEN_PATH}`,
    scopes: [...SALESFORCE_SCOPES],
  },
];

/**
 * Field mapping: targets are the Lead fields describeFields() lists; a route without a mapping of
 * its own uses config/mappings/salesforce.json fitted to them.
 */
export const SALESFORCE_FIELD_MAPPING: FieldMappingSupport = { targets: 'fixed', withoutRouteMapping: 'preset' };

/** The environment variables Salesforce reads (README: Configuration). */
export const salesforceSettings = {
  loginUrl: { env: 'SALESFORCE_LOGIN_URL', type: 'url', default: SALESFORCE_PRODUCTION_LOGIN_URL },
  apiVersion: { env: 'SALESFORCE_API_VERSION', type: 'text', default: '62.0', pattern: { regex: /^\d+\.\d$/, message: 'must look like 62.0' } },
  clientId: { env: 'SALESFORCE_CLIENT_ID', type: 'text', default: '' },
  clientSecret: { env: 'SALESFORCE_CLIENT_SECRET', type: 'text', default: '' },
} satisfies ConnectorSettingsDeclaration;
export type SalesforceSettings = SettingsOf<typeof salesforceSettings>;

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
    return {
      ok: false,
      message: `login URL "${value.slice(0, 80)}" is not a URL (use https://login.salesforce.com, https://test.salesforce.com for sandboxes, or your My Domain)`,
    };
  }
  const isConfigured = url.origin === new URL(configuredLoginUrl).origin;
  const isLoopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (isConfigured || isLoopback)))
    return { ok: false, message: 'the Salesforce login URL must use https' };
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    return { ok: false, message: 'the Salesforce login URL must be just the host, e.g. https://test.salesforce.com' };
  }
  return { ok: true, loginUrl: url.origin };
}

// OAuth: the web-server flow with PKCE (External Client Apps may require it), `api refresh_token`
// scopes, and the login host chosen per destination (production, sandbox or My Domain), which
// later refreshes use too.
export const salesforceManifest: ConnectorManifest<SalesforceConfig, SalesforceCredentials, SalesforceSettings> = {
  id: SALESFORCE_CONNECTOR_ID,
  label: SALESFORCE_LABEL,
  auth: salesforceAuthModes,
  configSchema: salesforceConfigSchema,
  credentialsSchema: salesforceCredentialsSchema,
  fieldMapping: SALESFORCE_FIELD_MAPPING,
  mappingPreset: 'config/mappings/salesforce.json',
  settings: salesforceSettings,
  batch: { maxRecords: COLLECTION_LIMIT, maxWaitMs: BATCH_MAX_WAIT_MS, minIntervalMs: BATCH_MIN_INTERVAL_MS },
  cli: {
    inputs: [
      { flag: 'instance-url', description: 'instance URL', target: 'credentials', key: 'instanceUrl', required: true, secret: false },
      { flag: 'access-token', description: 'access token', target: 'credentials', key: 'accessToken', required: true, secret: true },
      { flag: 'refresh-token', description: 'refresh token', target: 'credentials', key: 'refreshToken', required: true, secret: true },
      {
        flag: 'login-url',
        description: 'login URL (https://test.salesforce.com for sandboxes)',
        target: 'config',
        key: 'loginUrl',
        required: false,
        secret: false,
        label: 'login URL',
      },
      { flag: 'sobject', description: 'Lead (default) or Contact', target: 'config', key: 'sobject', required: false, secret: false, label: 'object' },
      {
        flag: 'external-id-field',
        description: 'External ID field holding the Meta lead id',
        target: 'config',
        key: 'externalIdField',
        required: false,
        secret: false,
        label: 'External ID field',
      },
    ],
  },
  oauth: {
    requiredSettings: ['clientId', 'clientSecret'],
    scopes: SALESFORCE_SCOPES,
    pkce: true,
    loginUrl: {
      description: 'login host, e.g. https://test.salesforce.com for a sandbox, or your My Domain ("sandbox" and "production" also work)',
      parse: (raw, settings) => parseSalesforceLoginUrl(raw, settings.loginUrl),
      configKey: 'loginUrl',
    },
    async authorizeUrl({ settings, redirectUri, state, loginUrl, codeChallenge }) {
      const { buildAuthorizeUrl } = await import('./oauth.js');
      const s = settings.connector;
      return buildAuthorizeUrl({ loginUrl: loginUrl ?? s.loginUrl, clientId: s.clientId, redirectUri, state, codeChallenge });
    },
    async exchangeCode({ settings, code, redirectUri, loginUrl, codeVerifier }) {
      const { exchangeCode } = await import('./oauth.js');
      const s = settings.connector;
      return exchangeCode({
        loginUrl: loginUrl ?? s.loginUrl,
        clientId: s.clientId,
        clientSecret: s.clientSecret,
        redirectUri,
        code,
        codeVerifier,
        timeoutMs: settings.timeoutMs,
      });
    },
    // A new refresh token comes back only when the connected app rotates them; the instance may move.
    async refresh({ settings, config, credentials }) {
      const [{ refreshAccessToken }, { classifySalesforceError }] = await Promise.all([import('./oauth.js'), import('./classify-error.js')]);
      const s = settings.connector;
      try {
        const res = await refreshAccessToken({
          loginUrl: config.loginUrl ?? s.loginUrl,
          clientId: s.clientId,
          clientSecret: s.clientSecret,
          refreshToken: credentials.refreshToken,
          timeoutMs: settings.timeoutMs,
        });
        return {
          accessToken: res.access_token,
          refreshToken: res.refresh_token ?? credentials.refreshToken,
          instanceUrl: res.instance_url.replace(/\/+$/, ''),
        };
      } catch (err) {
        throw new ConnectorError(classifySalesforceError(err));
      }
    },
    defaultName(credentials) {
      try {
        return `Salesforce (${new URL(credentials.instanceUrl).hostname})`;
      } catch {
        return 'Salesforce';
      }
    },
    async forgetCaches(memory) {
      const { forgetSharedRefreshes, clearFieldCache } = await import('./index.js');
      forgetSharedRefreshes(memory);
      clearFieldCache(memory);
    },
  },
  load: async () => (await import('./index.js')).salesforceConnector,
};
