// Static facts about Pipedrive: identity, auth modes, URLs and the shapes of a destination's
// config and credentials. Behaviour lives in client.ts / record.ts / index.ts.
import { z } from 'zod';
import type { ConnectorAuth } from '../types.js';

export const PIPEDRIVE_ID = 'pipedrive';
export const PIPEDRIVE_LABEL = 'Pipedrive';

/** The public API host. When settings.pipedrive.apiUrl differs from it, the operator (or a test) points us elsewhere. */
export const PIPEDRIVE_DEFAULT_API_URL = 'https://api.pipedrive.com';
export const PIPEDRIVE_DEFAULT_OAUTH_URL = 'https://oauth.pipedrive.com';

/**
 * Scopes are chosen on the app in Pipedrive's Developer Hub, not in the authorize URL; this list
 * documents what the app must be given: contacts:full (search/create persons, notes),
 * leads:full (create/update leads, leadFields), base (always).
 * https://pipedrive.readme.io/docs/marketplace-scopes-and-permissions-explanations
 */
export const PIPEDRIVE_SCOPES = ['base', 'contacts:full', 'leads:full'];

/** OAuth access tokens last 60 minutes; refresh when less than this is left. */
export const PIPEDRIVE_REFRESH_MARGIN_MS = 5 * 60 * 1000;

/** describeFields results are cached per destination for this long. */
export const PIPEDRIVE_FIELD_CACHE_TTL_MS = 5 * 60 * 1000;

export const pipedriveAuth: ConnectorAuth[] = [
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
  const trimmed = value.trim().toLowerCase().replace(/^https?:\/\//, '').replace(/\/.*$/, '').replace(/\.pipedrive\.com$/, '');
  return trimmed === '' ? undefined : trimmed;
}

export const pipedriveApiTokenCredentialsSchema = z.object({
  type: z.literal('api_token'),
  apiToken: z.string().min(1, 'apiToken is required'),
  /** The company's subdomain: only used for links, and as the API host when settings.pipedrive.apiUrl is the default. */
  companyDomain: z.preprocess(
    normalizeCompanyDomain,
    z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'companyDomain must be the part before .pipedrive.com, e.g. acme')
      .optional(),
  ),
});
export type PipedriveApiTokenCredentials = z.infer<typeof pipedriveApiTokenCredentialsSchema>;

export const pipedriveOAuthCredentialsSchema = z.object({
  type: z.literal('oauth'),
  accessToken: z.string().min(1, 'accessToken is required'),
  refreshToken: z.string().min(1, 'refreshToken is required'),
  /** When the access token expires, epoch milliseconds. */
  expiresAt: z.number().int().nonnegative(),
  /** The company's API host returned by the token endpoint, e.g. https://acme.pipedrive.com. */
  apiDomain: z.string().url('apiDomain must be a URL such as https://acme.pipedrive.com'),
});
export type PipedriveOAuthCredentials = z.infer<typeof pipedriveOAuthCredentialsSchema>;

export const pipedriveCredentialsSchema = z.discriminatedUnion('type', [pipedriveApiTokenCredentialsSchema, pipedriveOAuthCredentialsSchema]);
export type PipedriveCredentials = z.infer<typeof pipedriveCredentialsSchema>;

export const pipedriveConfigSchema = z.object({
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
