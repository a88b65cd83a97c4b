// Static facts about Salesforce: auth modes, URLs, scopes, defaults, and the schemas of a
// destination's config and credentials. Behaviour lives in the other files of this folder.
import { z } from 'zod';
import type { ConnectorAuth, FieldMappingSupport } from '../types.js';

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
 * `api` for REST calls; `refresh_token` (alias `offline_access`) or Salesforce issues no refresh
 * token at all, and the destination would die with the first expired session.
 */
export const SALESFORCE_SCOPES = ['api', 'refresh_token'] as const;

/** Value written to a required field (LastName, Company) the mapping left empty. */
export const NOT_PROVIDED_PLACEHOLDER = '[not provided]';

/** How long a describe result (fields, picklists, external id fields) is reused per destination. */
export const FIELD_CACHE_TTL_MS = 5 * 60_000;

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
  /** Login URL for this destination's token refreshes; defaults to settings.salesforce.loginUrl. */
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
