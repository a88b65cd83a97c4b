// A loopback fake of Salesforce (login host and org instance in one), good enough for
// end-to-end tests of the real program. It speaks the shapes in
// Salesforce's REST API docs:
// - `/services/oauth2/authorize` (consents at once: redirects back with a code) and
//   `/services/oauth2/token` (authorization_code, refresh_token; invalid_grant for unknown ones;
//   optional refresh-token rotation) and `/services/oauth2/revoke` (a refresh token takes its
//   access token with it; an unknown token answers 400 unsupported_token_type);
// - `/services/data/v62.0/sobjects/Lead/describe`, `POST /sobjects/Lead`, `PATCH` upsert by the
//   External ID field `FB_Lead_Id__c`, `PATCH` and `GET` by record id;
// - sObject Collections upsert `PATCH /composite/sobjects/Lead/FB_Lead_Id__c` (≤200 records,
//   allOrNone; 200 with one result per record, in order, item errors under `statusCode`);
// - the daily API allocation: past `dailyApiLimit` calls, 403 REQUEST_LIMIT_EXCEEDED
//   "TotalRequests Limit exceeded." (no Retry-After, as Salesforce);
// - errors as JSON arrays `[{ message, errorCode, fields }]`: 401 INVALID_SESSION_ID for unknown
//   tokens, REQUIRED_FIELD_MISSING, INVALID_FIELD, STRING_TOO_LONG, INVALID_EMAIL_ADDRESS, restricted
//   picklists, DUPLICATE_VALUE, DUPLICATES_DETECTED (optional duplicate rule on Email), 403
//   REQUEST_LIMIT_EXCEEDED while rate limited;
// - a `Sforce-Limit-Info: api-usage=N/M` header on every data response, 18-character record ids
//   (prefix 00Q) with the real case-checksum suffix.
// Listens on 127.0.0.1, port 0.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { RecordIndex } from './record-index.js';

export interface FakeSalesforceOptions {
  /** API version served under /services/data/v{version}. Default '62.0'. */
  apiVersion?: string;
  /** When set, token requests must carry this client_id (and clientSecret, when set). */
  clientId?: string;
  clientSecret?: string;
  /** Issue a new refresh token on every refresh and retire the old one. Default false. */
  rotateRefreshTokens?: boolean;
  /** LeadSource is a restricted picklist (values outside it are refused). Default true. */
  leadSourceRestricted?: boolean;
  /** A duplicate rule matching Leads on Email: 'block' refuses, 'alert' refuses unless allowSave=true. Default none. */
  duplicateRuleOnEmail?: 'block' | 'alert';
  /** Daily API allocation reported in Sforce-Limit-Info, and enforced. Default 15000. */
  dailyApiLimit?: number;
  /** Time before each data answer, drawn from [min, max] ms. Default none. */
  latencyMs?: { min: number; max: number };
  /** Extra time per record of a collection call, ms. Default 0. */
  latencyPerCollectionRecordMs?: number;
}

interface FakeSalesforceRequest {
  method: string;
  /** Path with query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON or form body; undefined when empty. */
  body: unknown;
}

/** A stored Lead: `Id` plus fields by their API names. */
type FakeLead = Record<string, string | number | boolean | null> & { Id: string };

interface FakeFailure {
  status: number;
  /** Default `[{"errorCode":"SERVER_UNAVAILABLE","message":"Server temporarily unavailable"}]`. */
  body?: unknown;
  headers?: Record<string, string>;
  /** How many data requests get this answer. Default 1. */
  times?: number;
}

export interface FakeSalesforce {
  /** Serves as both loginUrl and instanceUrl. */
  url: string;
  close(): Promise<void>;
  /** Read it; change leads through the API (lookups by field value go through indexes of the fake's own writes). */
  leads: Map<string, FakeLead>;
  /** Access tokens accepted now. */
  validAccessTokens: Set<string>;
  /** Refresh tokens accepted now → the latest access token issued for each. */
  refreshTokens: Map<string, { accessToken?: string }>;
  /** Unused authorization codes. */
  authorizationCodes: Set<string>;
  /** A valid access/refresh token pair, as a finished OAuth flow would leave. */
  issueTokens(): { accessToken: string; refreshToken: string; instanceUrl: string };
  /** A one-time authorization code, as the authorize redirect carries. */
  issueAuthorizationCode(): string;
  /** Every access token stops working (the next data call answers 401 INVALID_SESSION_ID). */
  expireAccessTokens(): void;
  /** Data calls answer 403 REQUEST_LIMIT_EXCEEDED (TotalRequests) for the next `ms`. */
  rateLimitFor(ms: number): void;
  /** Answer the next data request(s) with this status and body (e.g. a 503). */
  failNext(failure: FakeFailure): void;
  /** The Lead whose FB_Lead_Id__c is `value`. */
  leadByExternalId(value: string): FakeLead | undefined;
  requests: FakeSalesforceRequest[];
  /** Tokens revoked through /services/oauth2/revoke, in order. */
  revokedTokens: string[];
}

interface FakeField {
  name: string;
  label: string;
  type: string;
  length: number;
  nillable: boolean;
  createable: boolean;
  updateable: boolean;
  defaultedOnCreate: boolean;
  externalId: boolean;
  idLookup: boolean;
  unique: boolean;
  custom: boolean;
  restrictedPicklist: boolean;
  picklistValues: { active: boolean; defaultValue: boolean; label: string; value: string; validFor: null }[];
  referenceTo: string[];
  calculated: boolean;
}

const EXTERNAL_ID_FIELD = 'FB_Lead_Id__c';
const LEAD_SOURCES = ['Web', 'Phone Inquiry', 'Partner Referral', 'Purchased List', 'Other', 'Facebook Lead Ads', 'Instagram Lead Ads'];
const LEAD_STATUSES = ['Open - Not Contacted', 'Working - Contacted', 'Closed - Converted', 'Closed - Not Converted'];
const CHECKSUM_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function field(name: string, label: string, type: string, extra: Partial<FakeField> = {}): FakeField {
  return {
    name,
    label,
    type,
    length: 0,
    nillable: true,
    createable: true,
    updateable: true,
    defaultedOnCreate: false,
    externalId: false,
    idLookup: false,
    unique: false,
    custom: false,
    restrictedPicklist: false,
    picklistValues: [],
    referenceTo: [],
    calculated: false,
    ...extra,
  };
}

function picklist(values: string[], defaultValue?: string): FakeField['picklistValues'] {
  return values.map((v) => ({ active: true, defaultValue: v === defaultValue, label: v, value: v, validFor: null }));
}

function leadFields(opts: FakeSalesforceOptions): FakeField[] {
  return [
    field('Id', 'Lead ID', 'id', { length: 18, nillable: false, createable: false, updateable: false, defaultedOnCreate: true, idLookup: true }),
    field('LastName', 'Last Name', 'string', { length: 80, nillable: false }),
    field('FirstName', 'First Name', 'string', { length: 40 }),
    field('Company', 'Company', 'string', { length: 255, nillable: false }),
    field('Title', 'Title', 'string', { length: 128 }),
    field('Email', 'Email', 'email', { length: 80, idLookup: true }),
    field('Phone', 'Phone', 'phone', { length: 40 }),
    field('City', 'City', 'string', { length: 40 }),
    field('LeadSource', 'Lead Source', 'picklist', {
      length: 255,
      picklistValues: picklist(LEAD_SOURCES),
      restrictedPicklist: opts.leadSourceRestricted ?? true,
    }),
    field('Status', 'Status', 'picklist', {
      length: 255,
      nillable: false,
      defaultedOnCreate: true,
      picklistValues: picklist(LEAD_STATUSES, LEAD_STATUSES[0]),
      restrictedPicklist: true,
    }),
    field('Description', 'Description', 'textarea', { length: 32000 }),
    field('HasOptedOutOfEmail', 'Email Opt Out', 'boolean', { nillable: false, defaultedOnCreate: true }),
    field(EXTERNAL_ID_FIELD, 'FB Lead Id', 'string', { length: 40, externalId: true, idLookup: true, unique: true, custom: true }),
    field('CreatedDate', 'Created Date', 'datetime', { nillable: false, createable: false, updateable: false, defaultedOnCreate: true }),
  ];
}

/** The 3-character suffix that makes a 15-character id case-insensitive. */
function salesforceIdChecksum(id15: string): string {
  let out = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15[chunk * 5 + i];
      if (c >= 'A' && c <= 'Z') bits |= 1 << i;
    }
    out += CHECKSUM_ALPHABET[bits];
  }
  return out;
}

type SfError = { message: string; errorCode: string; fields?: string[] };

class SalesforceHttpError {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** Record errors list the fields (possibly none); session and resource errors have no `fields`. */
function sfError(status: number, errorCode: string, message: string, fields?: string[]): SalesforceHttpError {
  return new SalesforceHttpError(status, [(fields ? { message, errorCode, fields } : { message, errorCode }) satisfies SfError]);
}

export async function startFakeSalesforce(opts: FakeSalesforceOptions = {}): Promise<FakeSalesforce> {
  const version = opts.apiVersion ?? '62.0';
  const dataPrefix = `/services/data/v${version}`;
  const fields = leadFields(opts);
  const byLowerName = new Map(fields.map((f) => [f.name.toLowerCase(), f]));
  const dailyLimit = opts.dailyApiLimit ?? 15_000;

  const leads = new Map<string, FakeLead>();
  const validAccessTokens = new Set<string>();
  const refreshTokens = new Map<string, { accessToken?: string }>();
  const authorizationCodes = new Set<string>();
  const requests: FakeSalesforceRequest[] = [];
  const revokedTokens: string[] = [];
  const failures: FakeFailure[] = [];
  let rateLimitedUntil = 0;
  let apiUsage = 0;
  let idCounter = 0;
  let url = '';

  // Leads by the value of each unique field (as String(value): Salesforce compares text) and by
  // Email lower-cased (the duplicate rule), each in `leads` order. storeLead and dropLead are the
  // only writes to `leads`; a stored lead is never changed in place (an update stores a new object).
  const leadRank = new Map<string, number>();
  let leadsStored = 0;
  const rankOfLead = (lead: FakeLead) => leadRank.get(lead.Id) ?? 0;
  const uniqueIndexes = new Map(fields.filter((f) => f.unique).map((f) => [f.name, new RecordIndex<FakeLead>(rankOfLead)]));
  const emailIndex = new RecordIndex<FakeLead>(rankOfLead);
  const eachIndexedValue = (lead: FakeLead, visit: (index: RecordIndex<FakeLead>, value: string) => void): void => {
    for (const [name, index] of uniqueIndexes) if (lead[name] !== undefined) visit(index, String(lead[name]));
    if (typeof lead.Email === 'string') visit(emailIndex, lead.Email.toLowerCase());
  };
  /** While a collection upsert runs: each lead it wrote → what `leads` held for it before (undefined: none). */
  let writeJournal: Map<string, FakeLead | undefined> | undefined;

  const storeLead = (lead: FakeLead): void => {
    const old = leads.get(lead.Id);
    if (writeJournal && !writeJournal.has(lead.Id)) writeJournal.set(lead.Id, old);
    if (old) eachIndexedValue(old, (index, value) => index.remove(value, old));
    else leadRank.set(lead.Id, leadsStored++);
    leads.set(lead.Id, lead);
    eachIndexedValue(lead, (index, value) => index.add(value, lead));
  };

  const dropLead = (id: string): void => {
    const old = leads.get(id);
    if (!old) return;
    eachIndexedValue(old, (index, value) => index.remove(value, old));
    leads.delete(id);
    leadRank.delete(id);
  };

  const newId = (): string => {
    idCounter += 1;
    let n = idCounter;
    let digits = '';
    for (let i = 0; i < 9; i++) {
      digits = BASE62[n % 62] + digits;
      n = Math.floor(n / 62);
    }
    const id15 = `00Q5g0${digits}`;
    return id15 + salesforceIdChecksum(id15);
  };
  const token = (prefix: string) => `${prefix}${randomBytes(24).toString('base64url')}`;
  const issueTokens = () => {
    const accessToken = token('00D5g000004Fake!AQ');
    const refreshToken = token('5Aep861Fake');
    validAccessTokens.add(accessToken);
    refreshTokens.set(refreshToken, { accessToken });
    return { accessToken, refreshToken, instanceUrl: url };
  };
  const tokenResponse = (accessToken: string, refreshToken?: string) => ({
    access_token: accessToken,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    signature: randomBytes(16).toString('base64'),
    scope: 'api refresh_token',
    instance_url: url,
    id: `${url}/id/00D5g000004FakeEAA/0055g00000FakeUAAQ`,
    token_type: 'Bearer',
    issued_at: String(Date.now()),
  });

  // ---- OAuth --------------------------------------------------------------------------------

  const checkClient = (form: URLSearchParams): SalesforceHttpError | undefined => {
    if (opts.clientId !== undefined && form.get('client_id') !== opts.clientId) {
      return new SalesforceHttpError(400, { error: 'invalid_client_id', error_description: 'client identifier invalid' });
    }
    if (opts.clientSecret !== undefined && form.get('client_secret') !== opts.clientSecret) {
      return new SalesforceHttpError(400, { error: 'invalid_client', error_description: 'invalid client credentials' });
    }
    return undefined;
  };

  const handleToken = (form: URLSearchParams): unknown => {
    const clientError = checkClient(form);
    if (clientError) throw clientError;
    const grant = form.get('grant_type');
    if (grant === 'authorization_code') {
      const code = form.get('code') ?? '';
      if (!authorizationCodes.delete(code)) {
        throw new SalesforceHttpError(400, { error: 'invalid_grant', error_description: 'invalid authorization code' });
      }
      const { accessToken, refreshToken } = issueTokens();
      return tokenResponse(accessToken, refreshToken);
    }
    if (grant === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      if (!refreshTokens.has(presented)) {
        throw new SalesforceHttpError(400, { error: 'invalid_grant', error_description: 'expired access/refresh token' });
      }
      const accessToken = token('00D5g000004Fake!AQ');
      validAccessTokens.add(accessToken);
      if (opts.rotateRefreshTokens) {
        const rotated = token('5Aep861Fake');
        refreshTokens.delete(presented);
        refreshTokens.set(rotated, { accessToken });
        return tokenResponse(accessToken, rotated);
      }
      refreshTokens.set(presented, { accessToken });
      return tokenResponse(accessToken);
    }
    throw new SalesforceHttpError(400, { error: 'unsupported_grant_type', error_description: 'grant type not supported' });
  };

  // ---- Records ------------------------------------------------------------------------------

  /** Canonical field names; throws INVALID_FIELD / INVALID_FIELD_FOR_INSERT_UPDATE. */
  const normaliseInput = (body: unknown, isCreate: boolean): Record<string, string | number | boolean | null> => {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw sfError(400, 'JSON_PARSER_ERROR', 'The request body must be a JSON object', []);
    const out: Record<string, string | number | boolean | null> = {};
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      if (key === 'attributes') continue;
      const f = byLowerName.get(key.toLowerCase());
      if (!f) throw sfError(400, 'INVALID_FIELD', `No such column '${key}' on sobject of type Lead`, [key]);
      if (isCreate ? !f.createable : !f.updateable) {
        throw sfError(
          400,
          'INVALID_FIELD_FOR_INSERT_UPDATE',
          `Unable to create/update fields: ${f.name}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`,
          [f.name],
        );
      }
      if (value !== null && typeof value === 'object')
        throw sfError(400, 'JSON_PARSER_ERROR', `Cannot deserialize instance of ${f.type} from an object value`, [f.name]);
      out[f.name] = value as string | number | boolean | null;
    }
    return out;
  };

  const validate = (record: Record<string, unknown>, selfId?: string): void => {
    for (const f of fields) {
      const value = record[f.name];
      if (value === undefined || value === null || value === '') continue;
      const text = String(value);
      if (f.length > 0 && (f.type === 'string' || f.type === 'textarea' || f.type === 'email' || f.type === 'phone') && text.length > f.length) {
        throw sfError(400, 'STRING_TOO_LONG', `${f.label}: data value too large: ${text} (max length=${f.length})`, [f.name]);
      }
      if (f.type === 'email' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text)) {
        throw sfError(400, 'INVALID_EMAIL_ADDRESS', `${f.label}: invalid email address: ${text}`, [f.name]);
      }
      if (f.type === 'picklist' && f.restrictedPicklist && !f.picklistValues.some((p) => p.active && p.value === text)) {
        throw sfError(400, 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', `${f.label}: bad value for restricted picklist field: ${text}`, [f.name]);
      }
      // Only unique fields have an index: the first other lead (in `leads` order) holding the value.
      const other = uniqueIndexes
        .get(f.name)
        ?.holders(text)
        .find((l) => l.Id !== selfId);
      if (other) {
        throw sfError(400, 'DUPLICATE_VALUE', `duplicate value found: ${f.name} duplicates value on record with id: ${other.Id}`, [f.name]);
      }
    }
    const missing = fields
      .filter((f) => f.createable && !f.nillable && !f.defaultedOnCreate)
      .filter((f) => {
        const v = record[f.name];
        return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
      });
    if (missing.length > 0) {
      throw sfError(
        400,
        'REQUIRED_FIELD_MISSING',
        `Required fields are missing: [${missing.map((f) => f.name).join(', ')}]`,
        missing.map((f) => f.name),
      );
    }
  };

  const checkDuplicateRule = (record: Record<string, unknown>, headers: IncomingMessage['headers']): void => {
    if (!opts.duplicateRuleOnEmail || typeof record.Email !== 'string') return;
    const match = emailIndex.holders(String(record.Email).toLowerCase())[0];
    if (!match) return;
    const header = String(headers['sforce-duplicate-rule-header'] ?? '');
    if (opts.duplicateRuleOnEmail === 'alert' && /allowSave\s*=\s*true/i.test(header)) return;
    throw new SalesforceHttpError(400, [
      {
        duplicateResult: {
          allowSave: opts.duplicateRuleOnEmail === 'alert',
          duplicateRule: 'Standard_Rule_for_Leads_with_Duplicate_Leads',
          duplicateRuleEntityType: 'Lead',
          errorMessage: 'You are creating a duplicate record. We recommend you use an existing record instead.',
          matchResults: [
            {
              entityType: 'Lead',
              errors: [],
              matchEngine: 'FuzzyMatchEngine',
              matchRecords: [
                {
                  additionalInformation: [],
                  fieldDiffs: [],
                  matchConfidence: 100,
                  record: { attributes: { type: 'Lead', url: `${dataPrefix}/sobjects/Lead/${match.Id}` }, Id: match.Id },
                },
              ],
              rule: 'Standard_Lead_Match_Rule_v1_0',
              size: 1,
              success: true,
            },
          ],
        },
        errorCode: 'DUPLICATES_DETECTED',
        message: 'You are creating a duplicate record. We recommend you use an existing record instead.',
      },
    ]);
  };

  const createLead = (input: Record<string, string | number | boolean | null>, headers: IncomingMessage['headers']): FakeLead => {
    const record: Record<string, string | number | boolean | null> = { Status: LEAD_STATUSES[0], HasOptedOutOfEmail: false, ...input };
    validate(record);
    checkDuplicateRule(record, headers);
    const lead = { ...record, Id: newId(), CreatedDate: new Date().toISOString() } as FakeLead;
    storeLead(lead);
    return lead;
  };

  const updateLead = (lead: FakeLead, input: Record<string, string | number | boolean | null>): void => {
    const merged = { ...lead, ...input };
    validate(merged, lead.Id);
    storeLead(merged as FakeLead);
  };

  const findLeadById = (id: string): FakeLead | undefined => {
    if (!/^00Q[a-zA-Z0-9]{12}(?:[a-zA-Z0-9]{3})?$/.test(id)) return undefined;
    return leads.get(id.length === 15 ? id + salesforceIdChecksum(id) : id);
  };

  const leadByExternalId = (value: string): FakeLead | undefined => uniqueIndexes.get(EXTERNAL_ID_FIELD)?.holders(value)[0];

  const describeLead = () => ({
    name: 'Lead',
    label: 'Lead',
    labelPlural: 'Leads',
    keyPrefix: '00Q',
    createable: true,
    updateable: true,
    custom: false,
    fields,
    recordTypeInfos: [{ available: true, defaultRecordTypeMapping: true, master: true, name: 'Master', recordTypeId: '012000000000000AAA' }],
    urls: { sobject: `${dataPrefix}/sobjects/Lead`, describe: `${dataPrefix}/sobjects/Lead/describe`, rowTemplate: `${dataPrefix}/sobjects/Lead/{ID}` },
  });

  // ---- sObject Collections upsert --------------------------------------------------------------
  // https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
  // One result per record, in input order: `{ id, success: true, errors: [], created }` or
  // `{ success: false, errors: [{ statusCode, message, fields }] }`. With allOrNone=true one
  // failure rolls every record back. The item form of a duplicate-rule error keeps its
  // `duplicateResult` beside `statusCode` (the single-record form's shape; [U] for collections).
  const COLLECTION_LIMIT = 200;
  type CollectionItem = { id?: string; success: boolean; errors: unknown[]; created?: boolean };

  const itemErrorOf = (err: unknown): unknown => {
    if (err instanceof SalesforceHttpError && Array.isArray(err.body) && err.body[0]) {
      const { errorCode, ...rest } = err.body[0] as SfError & Record<string, unknown>;
      return { statusCode: errorCode, fields: [], ...rest };
    }
    return { statusCode: 'UNKNOWN_EXCEPTION', message: 'An unexpected error occurred.', fields: [] };
  };

  const upsertCollection = (sobject: string, externalField: string, body: unknown, headers: IncomingMessage['headers']): CollectionItem[] => {
    if (sobject.toLowerCase() !== 'lead') throw sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    const f = byLowerName.get(externalField.toLowerCase());
    if (!f?.externalId) throw sfError(404, 'NOT_FOUND', `Provided external ID field does not exist or is not accessible: ${externalField}`);
    const { allOrNone, records } = (body ?? {}) as { allOrNone?: unknown; records?: unknown };
    if (!Array.isArray(records) || records.length === 0) throw sfError(400, 'JSON_PARSER_ERROR', 'records is required', []);
    if (records.length > COLLECTION_LIMIT) {
      throw sfError(400, 'EXCEEDED_ID_LIMIT', `record limit reached. cannot submit more than ${COLLECTION_LIMIT} records into this call`);
    }
    const journal = new Map<string, FakeLead | undefined>();
    const counts = new Map<string, number>();
    for (const r of records as Record<string, unknown>[]) {
      const v = r?.[f.name];
      if (v !== undefined && v !== null) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
    }
    writeJournal = journal;
    const results: CollectionItem[] = (records as Record<string, unknown>[]).map((raw) => {
      try {
        const type = (raw?.attributes as { type?: unknown } | undefined)?.type;
        if (typeof type !== 'string' || type.toLowerCase() !== 'lead') {
          throw sfError(400, 'INVALID_TYPE', 'Each record must have attributes.type of the collection sObject', []);
        }
        const value = raw[f.name];
        if (value === undefined || value === null || String(value) === '') {
          throw sfError(400, 'MISSING_ARGUMENT', `Id not specified in an upsert call: ${f.name}`, [f.name]);
        }
        if ((counts.get(String(value)) ?? 0) > 1) throw sfError(400, 'DUPLICATE_EXTERNAL_ID', `Duplicate external id specified: ${String(value)}`, [f.name]);
        const input = normaliseInput(raw, true);
        const existing = leadByExternalId(String(value));
        if (existing) {
          updateLead(existing, input);
          return { id: existing.Id, success: true, errors: [], created: false };
        }
        const lead = createLead({ ...input, [f.name]: String(value) }, headers);
        return { id: lead.Id, success: true, errors: [], created: true };
      } catch (err) {
        return { success: false, errors: [itemErrorOf(err)] };
      }
    });
    writeJournal = undefined;
    if (allOrNone === true && results.some((r) => !r.success)) {
      // Each lead written goes back to what it was (an updated one keeps its place in `leads`).
      for (const [id, was] of journal) {
        if (was) storeLead(was);
        else dropLead(id);
      }
      return results.map((r) =>
        r.success
          ? {
              success: false,
              errors: [
                {
                  statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK',
                  message: 'Record rolled back because not all records were valid and the request was using AllOrNone header',
                  fields: [],
                },
              ],
            }
          : r,
      );
    }
    return results;
  };

  /** Answers one data request: [status, body] (body undefined for 204). */
  const handleData = (method: string, path: string, query: URLSearchParams, body: unknown, headers: IncomingMessage['headers']): [number, unknown] => {
    const parts = path.slice(dataPrefix.length).split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] === 'composite' && parts[1] === 'sobjects' && method === 'PATCH' && parts.length === 4) {
      return [200, upsertCollection(parts[2], parts[3], body, headers)];
    }
    if (parts[0] !== 'sobjects' || parts[1]?.toLowerCase() !== 'lead') throw sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    const rest = parts.slice(2);
    if (method === 'GET' && rest.length === 1 && rest[0] === 'describe') return [200, describeLead()];
    if (method === 'POST' && rest.length === 0) {
      const lead = createLead(normaliseInput(body, true), headers);
      return [201, { id: lead.Id, success: true, errors: [] }];
    }
    if (rest.length === 1) {
      const lead = findLeadById(rest[0]);
      if (!lead) throw sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
      if (method === 'GET') {
        const wanted = query
          .get('fields')
          ?.split(',')
          .map((f) => byLowerName.get(f.trim().toLowerCase())?.name ?? f.trim());
        const picked = wanted ? Object.fromEntries(wanted.map((f) => [f, lead[f] ?? null])) : { ...lead };
        return [200, { attributes: { type: 'Lead', url: `${dataPrefix}/sobjects/Lead/${lead.Id}` }, ...picked, Id: lead.Id }];
      }
      if (method === 'PATCH') {
        updateLead(lead, normaliseInput(body, false));
        return [204, undefined];
      }
    }
    if (rest.length === 2 && method === 'PATCH') {
      const f = byLowerName.get(rest[0].toLowerCase());
      if (!f?.externalId) throw sfError(404, 'NOT_FOUND', `Provided external ID field does not exist or is not accessible: ${rest[0]}`);
      const input = normaliseInput(body, true);
      const existing = leadByExternalId(rest[1]);
      if (existing) {
        updateLead(existing, input);
        return [200, { id: existing.Id, success: true, errors: [], created: false }];
      }
      const lead = createLead({ ...input, [f.name]: rest[1] }, headers);
      return [201, { id: lead.Id, success: true, errors: [], created: true }];
    }
    throw sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
  };

  // ---- HTTP ---------------------------------------------------------------------------------

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  // ---- latency (data calls only; a collection of 200 takes longer than one record) -------------
  const waitLatency = async (body: unknown): Promise<void> => {
    const range = opts.latencyMs ?? { min: 0, max: 0 };
    const records = (body as { records?: unknown } | undefined)?.records;
    const perRecord = Array.isArray(records) ? records.length * (opts.latencyPerCollectionRecordMs ?? 0) : 0;
    const ms = range.min + Math.random() * Math.max(0, range.max - range.min) + perRecord;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const parsedUrl = new URL(req.url ?? '/', url);
    const method = req.method ?? 'GET';
    const isForm = String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    let body: unknown;
    if (raw !== '') {
      if (isForm) body = Object.fromEntries(new URLSearchParams(raw));
      else {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
    }
    requests.push({ method, path: parsedUrl.pathname + parsedUrl.search, headers: { ...req.headers }, body });

    try {
      if (parsedUrl.pathname === '/services/oauth2/authorize' && method === 'GET') {
        const redirect = parsedUrl.searchParams.get('redirect_uri');
        if (!redirect || parsedUrl.searchParams.get('response_type') !== 'code') {
          send(res, 400, { error: 'invalid_request', error_description: 'missing redirect_uri or response_type=code' });
          return;
        }
        if (opts.clientId !== undefined && parsedUrl.searchParams.get('client_id') !== opts.clientId) {
          send(res, 400, { error: 'invalid_client_id', error_description: 'client identifier invalid' });
          return;
        }
        const target = new URL(redirect);
        target.searchParams.set('code', issueAuthorizationCode());
        const state = parsedUrl.searchParams.get('state');
        if (state !== null) target.searchParams.set('state', state);
        res.writeHead(302, { location: target.toString() });
        res.end();
        return;
      }
      if (parsedUrl.pathname === '/services/oauth2/revoke' && method === 'POST') {
        const presented = new URLSearchParams(raw).get('token') ?? '';
        const grant = refreshTokens.get(presented);
        if (grant) {
          refreshTokens.delete(presented);
          if (grant.accessToken) validAccessTokens.delete(grant.accessToken);
        } else if (!validAccessTokens.delete(presented)) {
          send(res, 400, { error: 'unsupported_token_type', error_description: 'this token type is not supported' });
          return;
        }
        revokedTokens.push(presented);
        send(res, 200, undefined);
        return;
      }
      if (parsedUrl.pathname === '/services/oauth2/token' && method === 'POST') {
        send(res, 200, handleToken(new URLSearchParams(raw)));
        return;
      }
      if (!parsedUrl.pathname.startsWith(`${dataPrefix}/`)) throw sfError(404, 'NOT_FOUND', 'The requested resource does not exist');

      const auth = String(req.headers.authorization ?? '');
      const presented = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
      if (!validAccessTokens.has(presented)) throw sfError(401, 'INVALID_SESSION_ID', 'Session expired or invalid');

      apiUsage += 1;
      const limitHeader = { 'Sforce-Limit-Info': `api-usage=${apiUsage}/${dailyLimit}` };
      await waitLatency(body);
      if (Date.now() < rateLimitedUntil || apiUsage > dailyLimit) {
        send(res, 403, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }], limitHeader);
        return;
      }
      const failure = failures[0];
      if (failure) {
        failure.times = (failure.times ?? 1) - 1;
        if (failure.times <= 0) failures.shift();
        send(res, failure.status, failure.body ?? [{ errorCode: 'SERVER_UNAVAILABLE', message: 'Server temporarily unavailable' }], {
          ...limitHeader,
          ...(failure.headers ?? {}),
        });
        return;
      }
      const [status, out] = handleData(method, parsedUrl.pathname, parsedUrl.searchParams, body, req.headers);
      send(res, status, out, limitHeader);
    } catch (err) {
      if (err instanceof SalesforceHttpError) send(res, err.status, err.body);
      else send(res, 500, [{ errorCode: 'UNKNOWN_EXCEPTION', message: 'An unexpected error occurred.' }]);
    }
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function issueAuthorizationCode(): string {
    const code = `aPrx${randomBytes(18).toString('base64url')}`;
    authorizationCodes.add(code);
    return code;
  }

  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    leads,
    validAccessTokens,
    refreshTokens,
    authorizationCodes,
    issueTokens,
    issueAuthorizationCode,
    expireAccessTokens: () => validAccessTokens.clear(),
    rateLimitFor: (ms) => {
      rateLimitedUntil = Date.now() + ms;
    },
    failNext: (failure) => {
      failures.push({ ...failure });
    },
    leadByExternalId,
    requests,
    revokedTokens,
  };
}
