// Static facts about HubSpot: auth modes, URLs, scopes, the custom properties LeadRelay
// owns, the schemas of a destination's config and credentials, the settings and command-line
// flags it takes, and how it is connected by OAuth (hubspotManifest, what the rest of the program
// reads). Behaviour lives in the other files of this folder, loaded only when used.
import { z } from 'zod';
import type { ConnectorAuth, ConnectorManifest, ConnectorSettingsDeclaration, FieldMappingSupport, SettingsOf } from '../types.js';

export const HUBSPOT_CONNECTOR_ID = 'hubspot';
export const HUBSPOT_LABEL = 'HubSpot';

/** The SDK's getAuthorizationUrl hardcodes this host too (it is not the API host). */
export const HUBSPOT_AUTHORIZE_PATH = '/oauth/authorize';
export const HUBSPOT_AUTHORIZE_URL = `https://app.hubspot.com${HUBSPOT_AUTHORIZE_PATH}`;
/**
 * The dated token endpoint, relative to the `apiUrl` setting (HUBSPOT_API_URL). The SDK still posts to
 * `/oauth/v1/token`, which HubSpot sunsets on 2027-02-16; the dated one wants every
 * parameter in the form body.
 * https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/migration-guide
 */
export const HUBSPOT_TOKEN_PATH = '/oauth/2026-03/token';
/** Token metadata (hub_id, scopes) for the dated API; replaces GET /oauth/v1/access-tokens/{token}. */
export const HUBSPOT_INTROSPECT_PATH = '/oauth/2026-03/token/introspect';
/**
 * Revokes (deletes) a refresh token; replaces the v1 `DELETE /oauth/v1/refresh-tokens/{token}`.
 * Access tokens already issued stay valid until they expire (30 minutes), and the app stays
 * installed in the account.
 * https://developers.hubspot.com/docs/api-reference/latest/authentication/oauth-tokens/revoke-token
 */
export const HUBSPOT_REVOKE_PATH = '/oauth/2026-03/token/revoke';
/** Where a person opens a contact; `0-1` is the contact object type id. */
export const HUBSPOT_APP_URL = 'https://app.hubspot.com';

/**
 * Scopes LeadRelay asks for. `crm.schemas.contacts.write` lets us create the `lr_` properties;
 * `oauth` is required of every public app.
 */
export const HUBSPOT_SCOPES = [
  'crm.objects.contacts.write',
  'crm.objects.contacts.read',
  'crm.schemas.contacts.read',
  'crm.schemas.contacts.write',
  'oauth',
] as const;

/** Refresh an OAuth access token when it has less than this left (HubSpot: 30 min tokens). */
export const ACCESS_TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;
/** How long describeFields() results (and the property list) are reused per destination. */
export const FIELD_CACHE_TTL_MS = 5 * 60_000;

/**
 * Contacts per batch upsert call: HubSpot's documented limit for CRM batch endpoints. A burst of
 * leads costs one call per 100 instead of one each, against accounts limited to ~100–190 calls
 * per 10 s. The worker waits at most BATCH_MAX_WAIT_MS for more leads when it found fewer.
 * https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
 */
export const CONTACT_BATCH_LIMIT = 100;
export const BATCH_MAX_WAIT_MS = 5;
/**
 * Calls that were not full go at most every BATCH_MIN_INTERVAL_MS per destination and process:
 * a steady stream of leads (a backlog being fetched) then goes in batches of what came in half
 * a second, not in many calls of a few leads each. At most 20 such calls per 10 s, about a tenth
 * of what a HubSpot private app may make (190 per 10 s), leaving the rest to the account's other
 * integrations.
 */
export const BATCH_MIN_INTERVAL_MS = 500;

/** The property group LeadRelay creates for its own properties. */
export const LEADRELAY_PROPERTY_GROUP = { name: 'leadrelay', label: 'LeadRelay', displayOrder: -1 } as const;

/** The Meta leadgen id; unique-valued, so it can key an upsert for a lead without an email. */
export const LEAD_ID_PROPERTY = 'lr_fb_lead_id';

export interface LeadRelayPropertyDefinition {
  name: string;
  label: string;
  description: string;
  hasUniqueValue: boolean;
}

/** Custom contact properties LeadRelay fills with attribution (unless the route maps them). */
export const LEADRELAY_PROPERTIES: readonly LeadRelayPropertyDefinition[] = [
  { name: LEAD_ID_PROPERTY, label: 'Facebook lead id', description: 'Meta Lead Ads leadgen id of the latest lead (set by LeadRelay).', hasUniqueValue: true },
  { name: 'lr_form_id', label: 'Lead form id', description: 'Meta lead form id (set by LeadRelay).', hasUniqueValue: false },
  { name: 'lr_form_name', label: 'Lead form name', description: 'Meta lead form name (set by LeadRelay).', hasUniqueValue: false },
  { name: 'lr_ad_id', label: 'Lead ad id', description: 'Meta ad id the lead came from (set by LeadRelay).', hasUniqueValue: false },
  { name: 'lr_ad_name', label: 'Lead ad name', description: 'Meta ad name the lead came from (set by LeadRelay).', hasUniqueValue: false },
  { name: 'lr_adset_name', label: 'Lead ad set name', description: 'Meta ad set name the lead came from (set by LeadRelay).', hasUniqueValue: false },
  { name: 'lr_campaign_id', label: 'Lead campaign id', description: 'Meta campaign id the lead came from (set by LeadRelay).', hasUniqueValue: false },
  { name: 'lr_campaign_name', label: 'Lead campaign name', description: 'Meta campaign name the lead came from (set by LeadRelay).', hasUniqueValue: false },
  { name: 'lr_platform', label: 'Lead platform', description: 'Where the lead form was shown: fb, ig, ... (set by LeadRelay).', hasUniqueValue: false },
  {
    name: 'lr_lead_source',
    label: 'Lead source (LeadRelay)',
    description: 'Facebook Lead Ads or Instagram Lead Ads (set by LeadRelay).',
    hasUniqueValue: false,
  },
];

export const hubspotConfigSchema = z.object({
  /** The HubSpot account (portal / hub) id; only used to build links to created contacts. */
  portalId: z.string().regex(/^\d+$/, 'portalId must be the numeric HubSpot account id').optional(),
});
export type HubspotConfig = z.infer<typeof hubspotConfigSchema>;

/** A private-app access token (`pat-…`) or a Service Key, sent as a Bearer token; never expires. */
export const hubspotPrivateAppCredentialsSchema = z.object({
  type: z.literal('private_app'),
  accessToken: z.string().min(1, 'accessToken is empty'),
});
export type HubspotPrivateAppCredentials = z.infer<typeof hubspotPrivateAppCredentialsSchema>;

export const hubspotOAuthCredentialsSchema = z.object({
  type: z.literal('oauth'),
  accessToken: z.string().min(1, 'accessToken is empty'),
  refreshToken: z.string().min(1, 'refreshToken is empty'),
  /** When the access token expires, epoch ms. */
  expiresAt: z.number().int().nonnegative(),
  /** The account the tokens belong to, when the token metadata told us. */
  hubId: z.string().regex(/^\d+$/).optional(),
});
export type HubspotOAuthCredentials = z.infer<typeof hubspotOAuthCredentialsSchema>;

export const hubspotCredentialsSchema = z.discriminatedUnion('type', [hubspotPrivateAppCredentialsSchema, hubspotOAuthCredentialsSchema]);
export type HubspotCredentials = z.infer<typeof hubspotCredentialsSchema>;

export const hubspotAuthModes: ConnectorAuth[] = [
  {
    type: 'oauth2',
    authorizeUrl: HUBSPOT_AUTHORIZE_URL,
    tokenUrl: `https://api.hubapi.com${HUBSPOT_TOKEN_PATH}`,
    scopes: [...HUBSPOT_SCOPES],
  },
  {
    type: 'apiKey',
    description:
      'A HubSpot private-app access token (pat-…) or Service Key with the scopes crm.objects.contacts.read/write and crm.schemas.contacts.read/write.',
  },
];

/**
 * Field mapping: targets are the contact properties describeFields() lists; a route without a mapping of
 * its own uses config/mappings/hubspot.json fitted to them.
 */
export const HUBSPOT_FIELD_MAPPING: FieldMappingSupport = { targets: 'fixed', withoutRouteMapping: 'preset' };

/** The environment variables HubSpot reads (README: Configuration). */
export const hubspotSettings = {
  apiUrl: { env: 'HUBSPOT_API_URL', type: 'url', default: 'https://api.hubapi.com' },
  /** HubSpot's web app: its consent screen (`/oauth/authorize`) and the record links (tests point it at a fake). */
  appUrl: { env: 'HUBSPOT_APP_URL', type: 'url', default: HUBSPOT_APP_URL },
  clientId: { env: 'HUBSPOT_CLIENT_ID', type: 'text', default: '' },
  clientSecret: { env: 'HUBSPOT_CLIENT_SECRET', type: 'text', default: '' },
} satisfies ConnectorSettingsDeclaration;
export type HubspotSettings = SettingsOf<typeof hubspotSettings>;

export const hubspotManifest: ConnectorManifest<HubspotConfig, HubspotCredentials, HubspotSettings> = {
  id: HUBSPOT_CONNECTOR_ID,
  label: HUBSPOT_LABEL,
  auth: hubspotAuthModes,
  configSchema: hubspotConfigSchema,
  credentialsSchema: hubspotCredentialsSchema,
  fieldMapping: HUBSPOT_FIELD_MAPPING,
  mappingPreset: 'config/mappings/hubspot.json',
  settings: hubspotSettings,
  batch: { maxRecords: CONTACT_BATCH_LIMIT, maxWaitMs: BATCH_MAX_WAIT_MS, minIntervalMs: BATCH_MIN_INTERVAL_MS },
  cli: {
    inputs: [{ flag: 'token', description: 'private-app token', target: 'credentials', key: 'accessToken', required: true, secret: true }],
    fixedCredentials: { type: 'private_app' },
  },
  oauth: {
    requiredSettings: ['clientId', 'clientSecret'],
    scopes: HUBSPOT_SCOPES,
    pkce: false,
    async authorizeUrl({ settings, redirectUri, state }) {
      const { buildAuthorizeUrl } = await import('./oauth.js');
      return buildAuthorizeUrl({ appUrl: settings.connector.appUrl, clientId: settings.connector.clientId, redirectUri, state });
    },
    async exchangeCode({ settings, code, redirectUri, now }) {
      const { exchangeCode } = await import('./oauth.js');
      return exchangeCode({ settings, code, redirectUri, now });
    },
    // Private-app tokens never expire; OAuth ones keep their account id when HubSpot omits it.
    async refresh({ settings, credentials, now }) {
      if (credentials.type !== 'oauth') return credentials;
      const { refreshAccessToken } = await import('./oauth.js');
      const next = await refreshAccessToken({ settings, refreshToken: credentials.refreshToken, now });
      const hubId = next.hubId ?? credentials.hubId;
      return { ...next, ...(hubId !== undefined ? { hubId } : {}) };
    },
    defaultName: (credentials) => (credentials.type === 'oauth' && typeof credentials.hubId === 'string' ? `HubSpot ${credentials.hubId}` : 'HubSpot'),
    async forgetCaches(memory) {
      const { forgetRefreshedTokens, clearFieldCache } = await import('./index.js');
      forgetRefreshedTokens(memory);
      clearFieldCache(memory);
    },
  },
  load: async () => (await import('./index.js')).hubspotConnector,
  async erasePerson(ctx, person) {
    const { erasePerson } = await import('./gdpr.js');
    return erasePerson(ctx, person);
  },
};
