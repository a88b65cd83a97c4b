// Static facts about Pipedrive: identity, auth modes, URLs, the shapes of a destination's
// config and credentials, the settings and command-line flags it takes, and how it is connected
// by OAuth (pipedriveManifest, what the rest of the program reads). Behaviour lives in
// client.ts / record.ts / index.ts / oauth.ts, loaded only when used.
import { z } from 'zod';
import type { ConnectorAuth, ConnectorManifest, ConnectorSettingsDeclaration, SettingsOf } from '../types.js';

const PIPEDRIVE_ID = 'pipedrive';
const PIPEDRIVE_LABEL = 'Pipedrive';

/** The public API host. When the apiUrl setting (PIPEDRIVE_API_URL) differs from it, the operator (or a test) points us elsewhere. */
export const PIPEDRIVE_DEFAULT_API_URL = 'https://api.pipedrive.com';
export const PIPEDRIVE_DEFAULT_OAUTH_URL = 'https://oauth.pipedrive.com';

/**
 * Scopes are chosen on the app in Pipedrive's Developer Hub, not in the authorize URL; this list
 * documents what the app must be given: contacts:full (search/create persons, notes),
 * leads:full (create/update leads, leadFields), base (always).
 * https://pipedrive.readme.io/docs/marketplace-scopes-and-permissions-explanations
 */
const PIPEDRIVE_SCOPES = ['base', 'contacts:full', 'leads:full'];

/** OAuth access tokens last 60 minutes; refresh when less than this is left. */
export const PIPEDRIVE_REFRESH_MARGIN_MS = 5 * 60 * 1000;

/** describeFields results are cached per destination for this long. */
export const PIPEDRIVE_FIELD_CACHE_TTL_MS = 5 * 60 * 1000;

const pipedriveAuth: ConnectorAuth[] = [
  {
    type: 'oauth2',
    authorizeUrl: `${PIPEDRIVE_DEFAULT_OAUTH_URL}/oauth/authorize`,
    tokenUrl: `${PIPEDRIVE_DEFAULT_OAUTH_URL}/oauth/token`,
    scopes: PIPEDRIVE_SCOPES,
  },
  {
    type: 'apiKey',
    description:
      'Personal API token (Pipedrive: Settings > Personal preferences > API) and, optionally, your company domain (the "acme" in acme.pipedrive.com).',
  },
];

/** Accepts "acme", "acme.pipedrive.com" or "https://acme.pipedrive.com/" and keeps "acme". */
function normalizeCompanyDomain(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const trimmed = value
    .trim()
    .toLowerCase()
    .replace(/^https?:\/\//, '')
    .replace(/\/.*$/, '')
    .replace(/\.pipedrive\.com$/, '');
  return trimmed === '' ? undefined : trimmed;
}

const pipedriveApiTokenCredentialsSchema = z.object({
  type: z.literal('api_token'),
  apiToken: z.string().min(1, 'apiToken is required'),
  /** The company's subdomain: only used for links, and as the API host when the apiUrl setting is the default. */
  companyDomain: z.preprocess(
    normalizeCompanyDomain,
    z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'companyDomain must be the part before .pipedrive.com, e.g. acme')
      .optional(),
  ),
});

const pipedriveOAuthCredentialsSchema = z.object({
  type: z.literal('oauth'),
  accessToken: z.string().min(1, 'accessToken is required'),
  refreshToken: z.string().min(1, 'refreshToken is required'),
  /** When the access token expires, epoch milliseconds. */
  expiresAt: z.number().int().nonnegative(),
  /** The company's API host returned by the token endpoint, e.g. https://acme.pipedrive.com. */
  apiDomain: z.string().url('apiDomain must be a URL such as https://acme.pipedrive.com'),
});
export type PipedriveOAuthCredentials = z.infer<typeof pipedriveOAuthCredentialsSchema>;

const pipedriveCredentialsSchema = z.discriminatedUnion('type', [pipedriveApiTokenCredentialsSchema, pipedriveOAuthCredentialsSchema]);
export type PipedriveCredentials = z.infer<typeof pipedriveCredentialsSchema>;

const pipedriveConfigSchema = z.object({
  /** Pipedrive user id that owns new persons and leads; Pipedrive picks the token's user when unset. */
  ownerId: z.number().int().positive().optional(),
  /** Lead label uuids attached to every new lead. */
  labelIds: z.array(z.string().min(1)).optional(),
  /** A marketing channel id (Company settings > Marketing channels, e.g. "Facebook Ads"). */
  channelId: z.number().int().positive().optional(),
  /** Pipedrive visibility group: 1 owner only, 3 owner's group, 5 owner's group and sub-groups, 7 entire company. */
  visibleTo: z.enum(['1', '3', '5', '7']).optional(),
});
export type PipedriveConfig = z.infer<typeof pipedriveConfigSchema>;

/** What we remember per lead × destination, because Pipedrive has no upsert (see index.ts). */
export const pipedriveLedgerSchema = z.object({
  personId: z.number().int().optional(),
  leadId: z.string().optional(),
  noteId: z.number().int().optional(),
  /** Every step of the delivery finished: a later delivery of the same lead is an update. */
  completed: z.boolean().optional(),
});
export type PipedriveLedger = z.infer<typeof pipedriveLedgerSchema>;

/** The environment variables Pipedrive reads (README: Configuration). */
const pipedriveSettings = {
  apiUrl: { env: 'PIPEDRIVE_API_URL', type: 'url', default: PIPEDRIVE_DEFAULT_API_URL },
  oauthUrl: { env: 'PIPEDRIVE_OAUTH_URL', type: 'url', default: PIPEDRIVE_DEFAULT_OAUTH_URL },
  clientId: { env: 'PIPEDRIVE_CLIENT_ID', type: 'text', default: '' },
  clientSecret: { env: 'PIPEDRIVE_CLIENT_SECRET', type: 'text', default: '' },
} satisfies ConnectorSettingsDeclaration;
export type PipedriveSettings = SettingsOf<typeof pipedriveSettings>;

export const pipedriveManifest: ConnectorManifest<PipedriveConfig, PipedriveCredentials, PipedriveSettings> = {
  id: PIPEDRIVE_ID,
  label: PIPEDRIVE_LABEL,
  auth: pipedriveAuth,
  configSchema: pipedriveConfigSchema,
  credentialsSchema: pipedriveCredentialsSchema,
  // No fieldMapping: the default (the fields describeFields lists, and the preset).
  mappingPreset: 'config/mappings/pipedrive.json',
  settings: pipedriveSettings,
  cli: {
    inputs: [
      { flag: 'api-token', description: 'personal API token', target: 'credentials', key: 'apiToken', required: true, secret: true },
      { flag: 'company-domain', description: 'company subdomain', target: 'credentials', key: 'companyDomain', required: false, secret: false },
    ],
    fixedCredentials: { type: 'api_token' },
  },
  oauth: {
    requiredSettings: ['clientId', 'clientSecret'],
    scopes: PIPEDRIVE_SCOPES,
    pkce: false,
    // Pipedrive takes no scopes in the URL: they are set on the app in the Developer Hub.
    async authorizeUrl({ settings, redirectUri, state }) {
      const { buildAuthorizeUrl } = await import('./oauth.js');
      return buildAuthorizeUrl(settings.connector, { redirectUri, state });
    },
    // The credentials carry the company's `api_domain`, where every API call then goes.
    async exchangeCode({ settings, code, redirectUri, now }) {
      const { exchangeCode } = await import('./oauth.js');
      return exchangeCode(settings.connector, { code, redirectUri }, { timeoutMs: settings.timeoutMs, now });
    },
    async refresh({ settings, credentials, now }) {
      if (credentials.type !== 'oauth') return credentials;
      const { refreshAccessToken } = await import('./oauth.js');
      return refreshAccessToken(settings.connector, { refreshToken: credentials.refreshToken }, { timeoutMs: settings.timeoutMs, now });
    },
    defaultName(credentials) {
      const company = credentials.type === 'oauth' ? /^https:\/\/([a-z0-9-]+)\.pipedrive\.com$/i.exec(credentials.apiDomain)?.[1] : undefined;
      return company ? `Pipedrive (${company})` : 'Pipedrive';
    },
    async forgetCaches(memory) {
      (await import('./index.js')).clearFieldCache(memory);
    },
  },
  load: async () => (await import('./index.js')).pipedriveConnector,
};
