// A loopback fake of the HubSpot API, good enough for end-to-end tests of the real program.
// It speaks the shapes of HubSpot's CRM API docs:
// contacts batch upsert (by email or any unique-valued property; 207 per-input errors when the
// input carries an objectWriteTraceId), contacts create / get / search / GDPR delete, contact properties and
// property groups, the OAuth token endpoints (dated and v1), token introspection and token
// revocation (`POST /oauth/2026-03/token/revoke`, every parameter in the form body).
// Every response carries X-HubSpot-RateLimit-* headers; dates are ISO strings (the SDK runs
// them through `new Date()`). Listens on 127.0.0.1, port 0.
// Bodies carry what HubSpot's OpenAPI documents require: a 207's per-input errors are
// StandardErrors (status, category, message, context, errors, links); token answers are
// AccessTokenResponses (token_use, plus hub_id, scopes and user_id, which HubSpot sends since
// 2025-08-18); introspection answers Public{Access,Refresh}TokenInfoResponses; error bodies have
// category, correlationId and message.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { RecordIndex } from './record-index.js';

export interface FakeHubspotOptions {
  /** The account id (hub id / portal id). Default 4242. */
  portalId?: number;
  /** The OAuth app; default matches test/helpers/sample-lead.ts testConnectorSettings. */
  clientId?: string;
  clientSecret?: string;
  /** Access tokens valid from the start that never expire (private-app tokens). */
  accessTokens?: string[];
  /** Refresh tokens known from the start. */
  refreshTokens?: string[];
  /** Lifetime of access tokens the token endpoint issues. Default 1800 (HubSpot's). */
  accessTokenTtlSeconds?: number;
  /** Issue a new refresh token on every refresh (HubSpot does not document rotation). Default false. */
  rotateRefreshTokens?: boolean;
  /** Requests per token per interval before a natural 429 TEN_SECONDLY_ROLLING; 0 = unlimited. Default 190. */
  maxRequestsPerInterval?: number;
  /** The rolling window. Default 10 000 ms. */
  intervalMs?: number;
  /** Daily quota reported for private-app tokens. Default 1 000 000. */
  dailyLimit?: number;
  /** The fake's clock (token expiry, dates). Default Date.now. */
  now?: () => number;
  /** Time before each answer, drawn from [min, max] ms. Default none. */
  latencyMs?: { min: number; max: number };
  /** Extra time per input of a batch call (HubSpot takes longer to write 100 contacts than one), ms. Default 0. */
  latencyPerBatchInputMs?: number;
}

interface FakeContact {
  id: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  archived: boolean;
}

interface FakeProperty {
  name: string;
  label: string;
  type: 'string' | 'number' | 'date' | 'datetime' | 'enumeration' | 'bool';
  fieldType: string;
  groupName: string;
  description: string;
  options: { label: string; value: string; displayOrder: number; hidden: boolean }[];
  hasUniqueValue: boolean;
  hidden: boolean;
  calculated: boolean;
  formField: boolean;
  hubspotDefined: boolean;
  readOnlyValue: boolean;
  createdAt: string;
  updatedAt: string;
}

interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON or form body (undefined when empty). */
  body: unknown;
  rawBody: string;
  at: number;
}

interface FakeRefreshGrant {
  hubId: number;
  scopes: string[];
}

interface FakeFailure {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Only requests whose path starts with this (default: every API request, not /oauth). */
  pathPrefix?: string;
  /** How many requests get this answer. Default 1. */
  times?: number;
}

export interface FakeHubspot {
  url: string;
  portalId: number;
  close(): Promise<void>;
  /** Read it; change contacts through the API (lookups by property go through indexes of the fake's own writes). */
  contacts: Map<string, FakeContact>;
  properties: Map<string, FakeProperty>;
  propertyGroups: Map<string, { name: string; label: string; displayOrder: number }>;
  byEmail(email: string): FakeContact | undefined;
  byProperty(name: string, value: string): FakeContact | undefined;
  tokens: {
    /** Access tokens accepted now. */
    valid: Set<string>;
    /** Expiry (epoch ms) of access tokens that expire; tokens not listed never expire. */
    expiresAt: Map<string, number>;
    /** Refresh token → what it grants. */
    refresh: Map<string, FakeRefreshGrant>;
    /** Authorization codes not yet used → the redirect URI they were issued for. */
    codes: Map<string, { redirectUri: string }>;
    /** Scopes per access token; a token without an entry may do everything. */
    scopes: Map<string, string[]>;
  };
  /** A one-time authorization code, as the authorize redirect would carry. */
  issueAuthorizationCode(redirectUri: string): string;
  /** Makes an access token expired (the next call with it answers 401 EXPIRED_AUTHENTICATION). */
  expireAccessToken(token: string): void;
  /** Answer API calls with 429 (TEN_SECONDLY_ROLLING by default) for the next `ms`. */
  rateLimitFor(ms: number, policy?: 'TEN_SECONDLY_ROLLING' | 'DAILY'): void;
  /** Answer the next matching API request(s) with this status/body (e.g. a 503). */
  failNext(failure: FakeFailure): void;
  requests: FakeRequest[];
  /** Refresh tokens revoked through the revoke endpoint, in order. */
  revokedTokens: string[];
}

/** The app and the installing user behind every OAuth token the fake issues. */
const FAKE_APP_ID = 1;
const FAKE_USER_ID = 1;

const API_SCOPES: { method: string; prefix: string; scope: string }[] = [
  { method: 'GET', prefix: '/crm/v3/properties/contacts', scope: 'crm.schemas.contacts.read' },
  { method: 'POST', prefix: '/crm/v3/properties/contacts', scope: 'crm.schemas.contacts.write' },
  { method: 'POST', prefix: '/crm/v3/objects/contacts/search', scope: 'crm.objects.contacts.read' },
  { method: 'GET', prefix: '/crm/v3/objects/contacts', scope: 'crm.objects.contacts.read' },
  { method: 'POST', prefix: '/crm/v3/objects/contacts', scope: 'crm.objects.contacts.write' },
];

export async function startFakeHubspot(opts: FakeHubspotOptions = {}): Promise<FakeHubspot> {
  const now = opts.now ?? (() => Date.now());
  const iso = () => new Date(now()).toISOString();
  const portalId = opts.portalId ?? 4242;
  const clientId = opts.clientId ?? 'hs-client';
  const clientSecret = opts.clientSecret ?? 'hs-secret';
  const ttlSeconds = opts.accessTokenTtlSeconds ?? 1800;
  const maxPerInterval = opts.maxRequestsPerInterval ?? 190;
  const intervalMs = opts.intervalMs ?? 10_000;
  const dailyLimit = opts.dailyLimit ?? 1_000_000;

  const contacts = new Map<string, FakeContact>();
  const properties = new Map<string, FakeProperty>();
  const propertyGroups = new Map<string, { name: string; label: string; displayOrder: number }>();
  const requests: FakeRequest[] = [];
  const revokedTokens: string[] = [];
  const tokens: FakeHubspot['tokens'] = {
    valid: new Set(opts.accessTokens ?? []),
    expiresAt: new Map(),
    refresh: new Map((opts.refreshTokens ?? []).map((t) => [t, { hubId: portalId, scopes: [] }])),
    codes: new Map(),
    scopes: new Map(),
  };
  /** OAuth-issued access tokens (no daily headers for them, as in HubSpot). */
  const oauthIssued = new Set<string>();
  const windows = new Map<string, { startedAt: number; count: number }>();
  const dailyCounts = new Map<string, number>();
  const failures: FakeFailure[] = [];
  let rateLimited: { until: number; policy: 'TEN_SECONDLY_ROLLING' | 'DAILY' } | undefined;
  let nextContactId = 1001;

  for (const group of [
    { name: 'contactinformation', label: 'Contact information', displayOrder: 0 },
    { name: 'conversioninformation', label: 'Conversion information', displayOrder: 1 },
    { name: 'emailinformation', label: 'Email information', displayOrder: 2 },
  ]) {
    propertyGroups.set(group.name, group);
  }
  const defineProperty = (p: Partial<FakeProperty> & Pick<FakeProperty, 'name' | 'label' | 'type' | 'fieldType'>) => {
    properties.set(p.name, {
      groupName: 'contactinformation',
      description: '',
      options: [],
      hasUniqueValue: false,
      hidden: false,
      calculated: false,
      formField: true,
      hubspotDefined: true,
      readOnlyValue: false,
      createdAt: '2020-01-01T00:00:00.000Z',
      updatedAt: '2020-01-01T00:00:00.000Z',
      ...p,
    });
  };
  defineProperty({ name: 'email', label: 'Email', type: 'string', fieldType: 'text' });
  defineProperty({ name: 'firstname', label: 'First Name', type: 'string', fieldType: 'text' });
  defineProperty({ name: 'lastname', label: 'Last Name', type: 'string', fieldType: 'text' });
  defineProperty({ name: 'phone', label: 'Phone Number', type: 'string', fieldType: 'phonenumber' });
  defineProperty({ name: 'mobilephone', label: 'Mobile Phone Number', type: 'string', fieldType: 'phonenumber' });
  defineProperty({ name: 'company', label: 'Company Name', type: 'string', fieldType: 'text' });
  defineProperty({ name: 'city', label: 'City', type: 'string', fieldType: 'text' });
  defineProperty({ name: 'message', label: 'Message', type: 'string', fieldType: 'textarea' });
  defineProperty({ name: 'date_of_birth', label: 'Date of birth', type: 'date', fieldType: 'date' });
  defineProperty({ name: 'annualrevenue', label: 'Annual Revenue', type: 'number', fieldType: 'number' });
  defineProperty({
    name: 'lifecyclestage',
    label: 'Lifecycle Stage',
    type: 'enumeration',
    fieldType: 'radio',
    options: ['subscriber', 'lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer'].map((value, i) => ({
      label: value,
      value,
      displayOrder: i,
      hidden: false,
    })),
  });
  defineProperty({
    name: 'hs_lead_status',
    label: 'Lead Status',
    type: 'enumeration',
    fieldType: 'select',
    options: ['NEW', 'OPEN', 'IN_PROGRESS', 'UNQUALIFIED'].map((value, i) => ({ label: value, value, displayOrder: i, hidden: false })),
  });
  defineProperty({ name: 'hs_email_optout', label: 'Unsubscribed from all email', type: 'bool', fieldType: 'booleancheckbox', readOnlyValue: true });
  defineProperty({ name: 'hs_object_id', label: 'Record ID', type: 'number', fieldType: 'number', readOnlyValue: true });
  defineProperty({ name: 'createdate', label: 'Create Date', type: 'datetime', fieldType: 'date', readOnlyValue: true });
  defineProperty({ name: 'lastmodifieddate', label: 'Last Modified Date', type: 'datetime', fieldType: 'date', readOnlyValue: true });
  defineProperty({ name: 'num_notes', label: 'Number of Sales Activities', type: 'number', fieldType: 'number', calculated: true, readOnlyValue: true });

  // Contacts by the value of a property (email lower-cased: HubSpot matches it in any case), one
  // index per property name, built on the first lookup by that name. createContactRecord,
  // setContactProperty and deleteContact are the only writes to `contacts` and to a contact's
  // properties, and keep every built index in step.
  const contactRank = new WeakMap<FakeContact, number>();
  let contactsStored = 0;
  const propertyIndexes = new Map<string, RecordIndex<FakeContact>>();
  const indexValue = (name: string, value: string) => (name === 'email' ? value.toLowerCase() : value);
  const propertyOf = (contact: FakeContact, name: string): string | undefined =>
    Object.hasOwn(contact.properties, name) ? contact.properties[name] : undefined;

  const propertyIndex = (name: string): RecordIndex<FakeContact> => {
    let index = propertyIndexes.get(name);
    if (!index) {
      index = new RecordIndex((contact) => contactRank.get(contact) ?? 0);
      for (const contact of contacts.values()) {
        const have = propertyOf(contact, name);
        if (have !== undefined) index.add(indexValue(name, have), contact);
      }
      propertyIndexes.set(name, index);
    }
    return index;
  };

  /** The first contact (in creation order, archived or not) whose property `name` is `value`. */
  const byProperty = (name: string, value: string): FakeContact | undefined => {
    const wanted = indexValue(name, value);
    return propertyIndex(name).holders(wanted)[0];
  };

  const setContactProperty = (contact: FakeContact, name: string, value: string): void => {
    const index = propertyIndexes.get(name);
    const had = propertyOf(contact, name);
    if (index && had !== undefined) index.remove(indexValue(name, had), contact);
    contact.properties[name] = value;
    const has = propertyOf(contact, name);
    if (index && has !== undefined) index.add(indexValue(name, has), contact);
  };

  const deleteContact = (contact: FakeContact): void => {
    contacts.delete(contact.id);
    for (const [name, index] of propertyIndexes) {
      const had = propertyOf(contact, name);
      if (had !== undefined) index.remove(indexValue(name, had), contact);
    }
  };

  // ---- responses -----------------------------------------------------------------------

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { 'content-type': 'application/json;charset=utf-8' } : {}), ...headers });
    res.end(text);
  };
  const errorBody = (message: string, category: string, extra: Record<string, unknown> = {}) => ({
    status: 'error',
    message,
    correlationId: randomUUID(),
    category,
    ...extra,
  });

  // ---- auth ----------------------------------------------------------------------------------

  const bearerOf = (req: IncomingMessage) => /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];

  /** Undefined when the token may call; otherwise the 401 answer. */
  const checkToken = (token: string | undefined): { status: number; body: unknown } | undefined => {
    const expiry = token === undefined ? undefined : tokens.expiresAt.get(token);
    if (token !== undefined && tokens.valid.has(token) && (expiry === undefined || expiry > now())) return undefined;
    // HubSpot cannot tell an unknown token from a long-expired one; the fake says expired for both.
    const agoSeconds = expiry !== undefined ? Math.max(0, Math.floor((now() - expiry) / 1000)) : 0;
    return {
      status: 401,
      body: errorBody(`The OAuth token used to make this call expired ${agoSeconds} second(s) ago.`, 'EXPIRED_AUTHENTICATION'),
    };
  };

  const rateLimitHeaders = (token: string): Record<string, string> => {
    const window = windows.get(token);
    const used = window && now() - window.startedAt < intervalMs ? window.count : 0;
    const headers: Record<string, string> = {
      'X-HubSpot-RateLimit-Max': String(maxPerInterval || 190),
      'X-HubSpot-RateLimit-Remaining': String(Math.max(0, (maxPerInterval || 190) - used)),
      'X-HubSpot-RateLimit-Interval-Milliseconds': String(intervalMs),
    };
    // HubSpot sends the daily headers to private apps only, not to OAuth apps.
    if (!oauthIssued.has(token)) {
      headers['X-HubSpot-RateLimit-Daily'] = String(dailyLimit);
      headers['X-HubSpot-RateLimit-Daily-Remaining'] = String(Math.max(0, dailyLimit - (dailyCounts.get(token) ?? 0)));
    }
    return headers;
  };

  const idleRateLimitHeaders = (): Record<string, string> => ({
    'X-HubSpot-RateLimit-Max': String(maxPerInterval || 190),
    'X-HubSpot-RateLimit-Remaining': String(maxPerInterval || 190),
    'X-HubSpot-RateLimit-Interval-Milliseconds': String(intervalMs),
  });

  const countRequest = (token: string): boolean => {
    const current = windows.get(token);
    const window = current && now() - current.startedAt < intervalMs ? current : { startedAt: now(), count: 0 };
    window.count += 1;
    windows.set(token, window);
    dailyCounts.set(token, (dailyCounts.get(token) ?? 0) + 1);
    return maxPerInterval > 0 && window.count > maxPerInterval;
  };

  const rateLimitAnswer = (policy: 'TEN_SECONDLY_ROLLING' | 'DAILY') =>
    errorBody(policy === 'DAILY' ? 'You have reached your daily limit.' : 'You have reached your ten_secondly_rolling limit.', 'RATE_LIMITS', {
      errorType: 'RATE_LIMIT',
      policyName: policy,
    });

  // ---- contacts --------------------------------------------------------------------------------

  interface PropertyProblem {
    name: string;
    error: string;
    message: string;
  }

  const validateProperties = (input: Record<string, unknown>): PropertyProblem[] => {
    const problems: PropertyProblem[] = [];
    for (const [name, raw] of Object.entries(input)) {
      const definition = properties.get(name);
      if (!definition) {
        problems.push({ name, error: 'PROPERTY_DOESNT_EXIST', message: `Property "${name}" does not exist` });
        continue;
      }
      if (definition.readOnlyValue || definition.calculated) {
        problems.push({ name, error: 'READ_ONLY_VALUE', message: `Property "${name}" is a read only property; its value cannot be set.` });
        continue;
      }
      if (typeof raw !== 'string') {
        problems.push({ name, error: 'INVALID_OPTION', message: `Property "${name}" needs a string value` });
        continue;
      }
      if (raw === '') continue;
      if (name === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(raw)) {
        problems.push({ name, error: 'INVALID_EMAIL', message: `Email address ${raw} is invalid` });
      } else if (definition.type === 'number' && Number.isNaN(Number(raw))) {
        problems.push({ name, error: 'INVALID_FLOAT', message: `${JSON.stringify(raw)} is not a valid number for property "${name}"` });
      } else if (definition.type === 'bool' && raw !== 'true' && raw !== 'false') {
        problems.push({ name, error: 'INVALID_BOOLEAN', message: `${JSON.stringify(raw)} is not a valid boolean for property "${name}"` });
      } else if (definition.type === 'enumeration') {
        const allowed = definition.options.map((o) => o.value);
        const values = definition.fieldType === 'checkbox' ? raw.split(';') : [raw];
        const bad = values.find((v) => !allowed.includes(v));
        if (bad !== undefined) {
          problems.push({ name, error: 'INVALID_OPTION', message: `${bad} was not one of the allowed options: [${allowed.join(', ')}]` });
        }
      } else if ((definition.type === 'date' || definition.type === 'datetime') && Number.isNaN(Date.parse(raw)) && !/^\d+$/.test(raw)) {
        problems.push({ name, error: 'INVALID_DATE', message: `${JSON.stringify(raw)} is not a valid date for property "${name}"` });
      }
    }
    return problems;
  };

  /** HubSpot's legacy validation body: the per-property results JSON-encoded in `message`. */
  const validationBody = (problems: PropertyProblem[]) =>
    errorBody(
      `Property values were not valid: ${JSON.stringify(problems.map((p) => ({ isValid: false, message: p.message, error: p.error, name: p.name, localizedErrorMessage: p.message })))}`,
      'VALIDATION_ERROR',
    );

  const contactJson = (c: FakeContact, extra: Record<string, unknown> = {}) => ({
    id: c.id,
    properties: { ...c.properties },
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    archived: c.archived,
    ...extra,
  });

  const createContactRecord = (props: Record<string, string>): FakeContact => {
    const id = String(nextContactId++);
    const at = iso();
    const contact: FakeContact = {
      id,
      properties: { ...props, hs_object_id: id, createdate: at, lastmodifieddate: at },
      createdAt: at,
      updatedAt: at,
      archived: false,
    };
    contacts.set(id, contact);
    contactRank.set(contact, contactsStored++);
    for (const [name, index] of propertyIndexes) {
      const has = propertyOf(contact, name);
      if (has !== undefined) index.add(indexValue(name, has), contact);
    }
    return contact;
  };

  const uniqueConflict = (props: Record<string, string>, selfId: string | undefined): PropertyProblem | undefined => {
    for (const [name, value] of Object.entries(props)) {
      const definition = properties.get(name);
      if (!definition?.hasUniqueValue || value === '') continue;
      const holder = byProperty(name, value);
      if (holder && holder.id !== selfId) {
        return { name, error: 'INVALID_VALUE', message: `Property "${name}" must be unique; value already used by contact ${holder.id}` };
      }
    }
    return undefined;
  };

  const handleBatchUpsert = (body: unknown): { status: number; body: unknown } => {
    const inputs = (body as { inputs?: unknown })?.inputs;
    if (!Array.isArray(inputs) || inputs.length === 0) return { status: 400, body: errorBody('Invalid input JSON: inputs is required', 'VALIDATION_ERROR') };
    if (inputs.length > 100) return { status: 400, body: errorBody('Batch size of 100 exceeded', 'VALIDATION_ERROR') };
    const startedAt = iso();

    // First check every input, then write: a batch that fails as a whole writes nothing.
    interface Planned {
      traceId?: string;
      idProperty: string;
      id: string;
      merged: Record<string, string>;
      existing?: FakeContact;
      problems: PropertyProblem[];
    }
    const planned: Planned[] = [];
    const seen = new Set<string>();
    for (const raw of inputs as Record<string, unknown>[]) {
      const idProperty = typeof raw.idProperty === 'string' ? raw.idProperty : 'hs_object_id';
      const id = typeof raw.id === 'string' ? raw.id : '';
      const traceId = typeof raw.objectWriteTraceId === 'string' ? raw.objectWriteTraceId : undefined;
      const props = (raw.properties ?? {}) as Record<string, string>;
      const idDefinition = properties.get(idProperty);
      if (!idDefinition) {
        return {
          status: 400,
          body: validationBody([{ name: idProperty, error: 'PROPERTY_DOESNT_EXIST', message: `Property "${idProperty}" does not exist` }]),
        };
      }
      if (idProperty !== 'email' && idProperty !== 'hs_object_id' && !idDefinition.hasUniqueValue) {
        return { status: 400, body: errorBody('Unable to perform update/upsert by non-unique 0-1 property', 'VALIDATION_ERROR') };
      }
      const key = `${idProperty}\u0000${idProperty === 'email' ? id.toLowerCase() : id}`;
      if (seen.has(key)) return { status: 400, body: errorBody(`Duplicate IDs found in batch input: [${id}]`, 'VALIDATION_ERROR') };
      seen.add(key);

      const merged = { ...props, ...(idProperty === 'hs_object_id' ? {} : { [idProperty]: id }) };
      const problems = validateProperties(merged);
      const existing = idProperty === 'hs_object_id' ? contacts.get(id) : byProperty(idProperty, id);
      const conflict = uniqueConflict(merged, existing?.id);
      if (conflict) problems.push(conflict);
      if (!existing && idProperty === 'hs_object_id') problems.push({ name: 'hs_object_id', error: 'OBJECT_NOT_FOUND', message: `No contact with id ${id}` });
      // Without an objectWriteTraceId one bad input fails the whole batch (HubSpot error-handling guide).
      if (problems.length > 0 && traceId === undefined) return { status: 400, body: validationBody(problems) };
      planned.push({ traceId, idProperty, id, merged, existing, problems });
    }

    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const plan of planned) {
      const trace = plan.traceId ? { objectWriteTraceId: plan.traceId } : {};
      if (plan.problems.length > 0) {
        // A StandardError: status, category, message, context, errors and links are all required.
        errors.push({
          status: 'error',
          category: 'VALIDATION_ERROR',
          message: validationBody(plan.problems).message,
          context: { objectWriteTraceId: [plan.traceId], propertyName: plan.problems.map((p) => p.name) },
          errors: plan.problems.map((p) => ({ message: p.message, code: p.error, context: { propertyName: [p.name] } })),
          links: {},
        });
      } else if (plan.existing) {
        const at = iso();
        for (const [k, v] of Object.entries(plan.merged)) setContactProperty(plan.existing, k, v);
        setContactProperty(plan.existing, 'lastmodifieddate', at);
        plan.existing.updatedAt = at;
        results.push(contactJson(plan.existing, { new: false, ...trace }));
      } else {
        results.push(contactJson(createContactRecord(plan.merged), { new: true, ...trace }));
      }
    }
    const base = { status: 'COMPLETE', results, startedAt, completedAt: iso() };
    if (errors.length > 0) return { status: 207, body: { ...base, numErrors: errors.length, errors } };
    return { status: 200, body: base };
  };

  const handleCreateContact = (body: unknown): { status: number; body: unknown } => {
    const props = ((body as { properties?: unknown })?.properties ?? {}) as Record<string, string>;
    if (!props.email && !props.firstname && !props.lastname) {
      return { status: 400, body: errorBody('A contact needs at least one of email, firstname or lastname', 'VALIDATION_ERROR') };
    }
    const problems = validateProperties(props);
    if (problems.length > 0) return { status: 400, body: validationBody(problems) };
    if (props.email) {
      const existing = byProperty('email', props.email);
      if (existing) return { status: 409, body: errorBody(`Contact already exists. Existing ID: ${existing.id}`, 'CONFLICT') };
    }
    const conflict = uniqueConflict(props, undefined);
    if (conflict) return { status: 400, body: validationBody([conflict]) };
    return { status: 201, body: contactJson(createContactRecord(props)) };
  };

  const handleSearch = (body: unknown): { status: number; body: unknown } => {
    const request = (body ?? {}) as {
      filterGroups?: { filters?: { propertyName: string; operator: string; value?: string }[] }[];
      properties?: string[];
      limit?: number;
      after?: string;
    };
    const matches = (c: FakeContact, f: { propertyName: string; operator: string; value?: string }) => {
      const have = c.properties[f.propertyName];
      const want = f.value ?? '';
      const eq = (a: string | undefined) => a !== undefined && (f.propertyName === 'email' ? a.toLowerCase() === want.toLowerCase() : a === want);
      switch (f.operator) {
        case 'EQ':
          return eq(have);
        case 'NEQ':
          return !eq(have);
        case 'HAS_PROPERTY':
          return have !== undefined && have !== '';
        case 'NOT_HAS_PROPERTY':
          return have === undefined || have === '';
        case 'CONTAINS_TOKEN':
          return have?.toLowerCase().includes(want.replace(/\*/g, '').toLowerCase());
        default:
          return false;
      }
    };
    const groups = request.filterGroups ?? [];
    const all = [...contacts.values()].filter((c) => !c.archived && (groups.length === 0 || groups.some((g) => (g.filters ?? []).every((f) => matches(c, f)))));
    const offset = Number(request.after ?? 0) || 0;
    const limit = Math.min(Math.max(request.limit ?? 10, 1), 200);
    const page = all.slice(offset, offset + limit);
    const wanted = request.properties && request.properties.length > 0 ? request.properties : ['email', 'firstname', 'lastname'];
    const results = page.map((c) => ({
      ...contactJson(c),
      properties: Object.fromEntries(
        [...wanted, 'hs_object_id', 'createdate', 'lastmodifieddate'].filter((k) => c.properties[k] !== undefined).map((k) => [k, c.properties[k]]),
      ),
    }));
    return {
      status: 200,
      body: { total: all.length, results, ...(offset + limit < all.length ? { paging: { next: { after: String(offset + limit) } } } : {}) },
    };
  };

  // ---- properties --------------------------------------------------------------------------------

  const propertyJson = (p: FakeProperty) => ({
    name: p.name,
    label: p.label,
    type: p.type,
    fieldType: p.fieldType,
    description: p.description,
    groupName: p.groupName,
    options: p.options,
    displayOrder: -1,
    hasUniqueValue: p.hasUniqueValue,
    hidden: p.hidden,
    calculated: p.calculated,
    externalOptions: false,
    formField: p.formField,
    hubspotDefined: p.hubspotDefined,
    archived: false,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    modificationMetadata: { archivable: !p.hubspotDefined, readOnlyDefinition: p.hubspotDefined, readOnlyValue: p.readOnlyValue },
  });

  const handleCreateProperty = (body: unknown): { status: number; body: unknown } => {
    const input = (body ?? {}) as Record<string, unknown>;
    const name = typeof input.name === 'string' ? input.name : '';
    const type = input.type as FakeProperty['type'];
    if (!/^[a-z][a-z0-9_]*$/.test(name) || typeof input.label !== 'string' || typeof input.fieldType !== 'string' || typeof input.groupName !== 'string') {
      return { status: 400, body: errorBody('Invalid input JSON: name, label, type, fieldType and groupName are required', 'VALIDATION_ERROR') };
    }
    if (!['string', 'number', 'date', 'datetime', 'enumeration', 'bool'].includes(type)) {
      return { status: 400, body: errorBody(`Invalid property type ${String(type)}`, 'VALIDATION_ERROR') };
    }
    if (!propertyGroups.has(input.groupName)) {
      return { status: 400, body: errorBody(`Property group ${input.groupName} does not exist`, 'VALIDATION_ERROR') };
    }
    if (properties.has(name)) return { status: 409, body: errorBody(`Property named '${name}' already exists.`, 'OBJECT_ALREADY_EXISTS') };
    const at = iso();
    const options = Array.isArray(input.options)
      ? (input.options as { label: string; value: string; displayOrder?: number; hidden?: boolean }[]).map((o, i) => ({
          label: o.label,
          value: o.value,
          displayOrder: o.displayOrder ?? i,
          hidden: o.hidden ?? false,
        }))
      : [];
    const property: FakeProperty = {
      name,
      label: input.label,
      type,
      fieldType: input.fieldType,
      groupName: input.groupName,
      description: typeof input.description === 'string' ? input.description : '',
      options,
      hasUniqueValue: input.hasUniqueValue === true,
      hidden: input.hidden === true,
      calculated: false,
      formField: input.formField === true,
      hubspotDefined: false,
      readOnlyValue: false,
      createdAt: at,
      updatedAt: at,
    };
    properties.set(name, property);
    return { status: 201, body: propertyJson(property) };
  };

  const handleCreateGroup = (body: unknown): { status: number; body: unknown } => {
    const input = (body ?? {}) as Record<string, unknown>;
    if (typeof input.name !== 'string' || typeof input.label !== 'string') {
      return { status: 400, body: errorBody('Invalid input JSON: name and label are required', 'VALIDATION_ERROR') };
    }
    if (propertyGroups.has(input.name)) return { status: 409, body: errorBody(`Group named '${input.name}' already exists.`, 'OBJECT_ALREADY_EXISTS') };
    const group = { name: input.name, label: input.label, displayOrder: typeof input.displayOrder === 'number' ? input.displayOrder : -1 };
    propertyGroups.set(group.name, group);
    return { status: 201, body: { ...group, archived: false } };
  };

  /** GDPR delete: the contact (by id, or by `idProperty` such as email) is gone for good; 204, or 404 when there is none. */
  const handleGdprDelete = (body: unknown): { status: number; body: unknown } => {
    const input = (body ?? {}) as { objectId?: unknown; idProperty?: unknown };
    if (typeof input.objectId !== 'string' || input.objectId === '') {
      return { status: 400, body: errorBody('Invalid input JSON: objectId is required', 'VALIDATION_ERROR') };
    }
    const contact = typeof input.idProperty === 'string' ? byProperty(input.idProperty, input.objectId) : contacts.get(input.objectId);
    if (!contact) return { status: 404, body: errorBody('Object not found.', 'OBJECT_NOT_FOUND') };
    deleteContact(contact);
    return { status: 204, body: undefined };
  };

  // ---- OAuth ---------------------------------------------------------------------------------------

  // The Error schema requires category, correlationId and message; which category HubSpot gives
  // a refused token request is not documented (VALIDATION_ERROR is the fake's guess).
  const oauthError = (error: string, description: string, legacyStatus: string) => ({
    status: legacyStatus,
    message: description,
    category: 'VALIDATION_ERROR',
    error,
    error_description: description,
    correlationId: randomUUID(),
  });

  /** An AccessTokenResponse at the dated endpoints (token_use is required there); v1 answers without it. */
  const issueTokens = (grant: FakeRefreshGrant, refreshToken: string, isDated: boolean) => {
    const accessToken = `fake-at-${randomUUID()}`;
    tokens.valid.add(accessToken);
    tokens.expiresAt.set(accessToken, now() + ttlSeconds * 1000);
    if (grant.scopes.length > 0) tokens.scopes.set(accessToken, grant.scopes);
    oauthIssued.add(accessToken);
    return {
      token_type: 'bearer',
      access_token: accessToken,
      refresh_token: refreshToken,
      expires_in: ttlSeconds,
      ...(isDated ? { token_use: 'access_token' } : {}),
      hub_id: grant.hubId,
      scopes: grant.scopes,
      user_id: FAKE_USER_ID,
    };
  };

  const handleToken = (form: Record<string, string>, query: Record<string, string>, isDated: boolean): { status: number; body: unknown } => {
    if (isDated && Object.keys(query).length > 0) {
      return { status: 400, body: oauthError('invalid_request', 'Parameters must be sent in the request body', 'BAD_REQUEST') };
    }
    if (form.client_id !== clientId || form.client_secret !== clientSecret) {
      return { status: 400, body: oauthError('invalid_client', 'missing or invalid client credentials', 'BAD_CLIENT_ID') };
    }
    if (form.grant_type === 'authorization_code') {
      const code = tokens.codes.get(form.code ?? '');
      if (!code) return { status: 400, body: oauthError('invalid_grant', 'missing or unknown auth code', 'BAD_AUTH_CODE') };
      if (code.redirectUri !== form.redirect_uri) return { status: 400, body: oauthError('invalid_grant', 'redirect_uri does not match', 'BAD_REDIRECT_URI') };
      tokens.codes.delete(form.code ?? '');
      const refreshToken = `fake-rt-${randomUUID()}`;
      const grant = { hubId: portalId, scopes: [] };
      tokens.refresh.set(refreshToken, grant);
      return { status: 200, body: issueTokens(grant, refreshToken, isDated) };
    }
    if (form.grant_type === 'refresh_token') {
      const grant = tokens.refresh.get(form.refresh_token ?? '');
      if (!grant) return { status: 400, body: oauthError('invalid_grant', 'missing or unknown refresh token', 'BAD_REFRESH_TOKEN') };
      let refreshToken = form.refresh_token ?? '';
      if (opts.rotateRefreshTokens) {
        tokens.refresh.delete(refreshToken);
        refreshToken = `fake-rt-${randomUUID()}`;
        tokens.refresh.set(refreshToken, grant);
      }
      return { status: 200, body: issueTokens(grant, refreshToken, isDated) };
    }
    return { status: 400, body: oauthError('unsupported_grant_type', `unsupported grant_type ${form.grant_type ?? ''}`, 'BAD_GRANT_TYPE') };
  };

  /**
   * Deletes a refresh token: its access tokens stay valid until they expire, as HubSpot says.
   * One it does not know is refused like the token endpoint refuses it (invalid_grant).
   */
  const handleRevoke = (form: Record<string, string>, query: Record<string, string>): { status: number; body: unknown } => {
    if (Object.keys(query).length > 0)
      return { status: 400, body: oauthError('invalid_request', 'Parameters must be sent in the request body', 'BAD_REQUEST') };
    if (form.client_id !== clientId || form.client_secret !== clientSecret) {
      return { status: 400, body: oauthError('invalid_client', 'missing or invalid client credentials', 'BAD_CLIENT_ID') };
    }
    const token = form.token ?? '';
    if (!tokens.refresh.delete(token)) return { status: 400, body: oauthError('invalid_grant', 'missing or unknown refresh token', 'BAD_REFRESH_TOKEN') };
    revokedTokens.push(token);
    return { status: 204, body: undefined };
  };

  // PublicRefreshTokenInfoResponse / PublicAccessTokenInfoResponse, with every required field.
  // token_type's values are not documented ('refresh' and 'access' are the fake's guess).
  const introspect = (token: string): { status: number; body: unknown } => {
    const refresh = tokens.refresh.get(token);
    if (refresh) {
      return {
        status: 200,
        body: {
          active: true,
          token_use: 'refresh_token',
          token,
          token_type: 'refresh',
          hub_id: refresh.hubId,
          user_id: FAKE_USER_ID,
          client_id: clientId,
          app_id: FAKE_APP_ID,
          scopes: refresh.scopes,
        },
      };
    }
    const expiry = tokens.expiresAt.get(token);
    if (tokens.valid.has(token) && (expiry === undefined || expiry > now())) {
      const scopes = tokens.scopes.get(token) ?? [];
      return {
        status: 200,
        body: {
          active: true,
          token_use: 'access_token',
          token,
          hub_id: portalId,
          user_id: FAKE_USER_ID,
          client_id: clientId,
          app_id: FAKE_APP_ID,
          scopes,
          expires_in: expiry === undefined ? 0 : Math.floor((expiry - now()) / 1000),
          token_type: 'access',
          is_private_distribution: false,
          signed_access_token: {
            appId: FAKE_APP_ID,
            appInstallId: `fake-install-${portalId}`,
            audience: 'api',
            expiresAt: expiry ?? 0,
            hubId: portalId,
            hublet: 'na1',
            installingUserId: FAKE_USER_ID,
            isPrivateDistribution: false,
            isServiceAccount: false,
            isUserLevel: false,
            newSignature: 'fake-signature',
            scopeToScopeGroupPks: '',
            scopes: scopes.join(' '),
            signature: 'fake-signature',
            trialScopeToScopeGroupPks: '',
            trialScopes: '',
            userId: FAKE_USER_ID,
          },
        },
      };
    }
    return {
      status: 400,
      body: errorBody('An error occurred', 'VALIDATION_ERROR', {
        context: { token: ['Token is invalid'] },
        errors: [{ message: 'Token is invalid', in: 'token' }],
      }),
    };
  };

  // ---- routing ---------------------------------------------------------------------------------------

  const route = (
    req: IncomingMessage,
    path: string,
    query: Record<string, string>,
    body: unknown,
  ): { status: number; body: unknown; headers?: Record<string, string> } => {
    const method = req.method ?? 'GET';

    if (method === 'POST' && (path === '/oauth/2026-03/token' || path === '/oauth/v3/token' || path === '/oauth/v1/token')) {
      return handleToken((body ?? {}) as Record<string, string>, query, path !== '/oauth/v1/token');
    }
    if (method === 'POST' && (path === '/oauth/2026-03/token/introspect' || path === '/oauth/v3/token/introspect')) {
      const form = (body ?? {}) as Record<string, string>;
      if (form.client_id !== clientId || form.client_secret !== clientSecret) {
        return { status: 400, body: oauthError('invalid_client', 'missing or invalid client credentials', 'BAD_CLIENT_ID') };
      }
      return introspect(form.token ?? '');
    }
    if (method === 'POST' && path === '/oauth/2026-03/token/revoke') return handleRevoke((body ?? {}) as Record<string, string>, query);
    const legacyMeta = /^\/oauth\/v1\/access-tokens\/(.+)$/.exec(path);
    if (method === 'GET' && legacyMeta) {
      const answer = introspect(decodeURIComponent(legacyMeta[1]));
      return answer.status === 200 ? answer : { status: 404, body: errorBody('Token not found', 'OBJECT_NOT_FOUND') };
    }

    // Everything below is the API proper: auth, scopes, rate limits, injected failures.
    const token = bearerOf(req);
    const denied = checkToken(token);
    if (denied) return denied;
    const bearer = token as string;
    // HubSpot counts every authenticated call against the window, refused ones included.
    const isOverLimit = countRequest(bearer);
    const headers = rateLimitHeaders(bearer);

    const scopes = tokens.scopes.get(bearer);
    const needed = API_SCOPES.find((s) => s.method === method && path.startsWith(s.prefix));
    if (scopes && needed && !scopes.includes(needed.scope)) {
      return {
        status: 403,
        headers,
        body: errorBody("This app hasn't been granted all required scopes to make this call.", 'MISSING_SCOPES', {
          errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: [needed.scope] } }],
        }),
      };
    }

    if (rateLimited && now() < rateLimited.until) {
      const retryAfterSeconds = Math.max(1, Math.ceil((rateLimited.until - now()) / 1000));
      return {
        status: 429,
        headers: { ...headers, 'X-HubSpot-RateLimit-Remaining': '0', 'Retry-After': String(retryAfterSeconds) },
        body: rateLimitAnswer(rateLimited.policy),
      };
    }
    if (isOverLimit) {
      return { status: 429, headers: { ...headers, 'X-HubSpot-RateLimit-Remaining': '0' }, body: rateLimitAnswer('TEN_SECONDLY_ROLLING') };
    }
    const failureIndex = failures.findIndex((f) => path.startsWith(f.pathPrefix ?? '/'));
    if (failureIndex >= 0) {
      const failure = failures[failureIndex];
      failure.times = (failure.times ?? 1) - 1;
      if (failure.times <= 0) failures.splice(failureIndex, 1);
      return {
        status: failure.status,
        headers: { ...headers, ...(failure.headers ?? {}) },
        body: failure.body ?? errorBody('Internal error', 'INTERNAL_ERROR'),
      };
    }

    const answer = ((): { status: number; body: unknown } => {
      if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/upsert') return handleBatchUpsert(body);
      if (method === 'POST' && path === '/crm/v3/objects/contacts/search') return handleSearch(body);
      if (method === 'POST' && path === '/crm/v3/objects/contacts/gdpr-delete') return handleGdprDelete(body);
      if (method === 'POST' && path === '/crm/v3/objects/contacts') return handleCreateContact(body);
      const one = /^\/crm\/v3\/objects\/contacts\/([^/]+)$/.exec(path);
      if (method === 'GET' && one) {
        const idProperty = query.idProperty;
        const id = decodeURIComponent(one[1]);
        const contact = idProperty ? byProperty(idProperty, id) : contacts.get(id);
        return contact ? { status: 200, body: contactJson(contact) } : { status: 404, body: errorBody('Object not found.', 'OBJECT_NOT_FOUND') };
      }
      if (method === 'GET' && path === '/crm/v3/properties/contacts') {
        return { status: 200, body: { results: [...properties.values()].map(propertyJson) } };
      }
      if (method === 'POST' && path === '/crm/v3/properties/contacts') return handleCreateProperty(body);
      if (method === 'GET' && path === '/crm/v3/properties/contacts/groups') {
        return { status: 200, body: { results: [...propertyGroups.values()].map((g) => ({ ...g, archived: false })) } };
      }
      if (method === 'POST' && path === '/crm/v3/properties/contacts/groups') return handleCreateGroup(body);
      return { status: 404, body: errorBody(`No route for ${method} ${path}`, 'OBJECT_NOT_FOUND') };
    })();
    return { ...answer, headers };
  };

  const escapeHtml = (v: string) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const sendConsentPage = (res: ServerResponse, query: Record<string, string>) => {
    const redirectUri = query.redirect_uri ?? '';
    if (!query.client_id || !redirectUri || !query.state) {
      res.writeHead(400, { 'content-type': 'text/html' }).end('<!doctype html><title>HubSpot</title><p>Missing client_id, redirect_uri or state.</p>');
      return;
    }
    const code = `fake-code-${randomUUID()}`;
    tokens.codes.set(code, { redirectUri });
    const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end(
        '<!doctype html><html lang="en"><head><title>HubSpot</title></head><body><main><h1>Connect LeadRelay to your HubSpot account</h1>' +
          `<p>Scopes: ${escapeHtml(query.scope ?? '')}</p>` +
          `<form method="get" action="${escapeHtml(redirectUri)}">${hidden('code', code)}${hidden('state', query.state)}<button type="submit">Connect app</button></form>` +
          '</main></body></html>',
      );
  };

  // ---- latency (a real account answers in tens to hundreds of ms; a batch takes longer) ----------
  const answerAfterLatency = (body: unknown, answer: () => void) => {
    const range = opts.latencyMs ?? { min: 0, max: 0 };
    const inputs = (body as { inputs?: unknown } | undefined)?.inputs;
    const perInput = Array.isArray(inputs) ? inputs.length * (opts.latencyPerBatchInputMs ?? 0) : 0;
    const ms = range.min + Math.random() * Math.max(0, range.max - range.min) + perInput;
    if (ms > 0) setTimeout(answer, ms);
    else answer();
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const query = Object.fromEntries(url.searchParams.entries());
      const contentType = String(req.headers['content-type'] ?? '');
      let body: unknown;
      try {
        if (rawBody === '') body = undefined;
        else if (contentType.includes('application/x-www-form-urlencoded')) body = Object.fromEntries(new URLSearchParams(rawBody).entries());
        else body = JSON.parse(rawBody);
      } catch {
        requests.push({ method: req.method ?? 'GET', path: url.pathname, query, headers: req.headers, body: undefined, rawBody, at: now() });
        send(res, 400, errorBody('Invalid input JSON', 'VALIDATION_ERROR'));
        return;
      }
      requests.push({ method: req.method ?? 'GET', path: url.pathname, query, headers: req.headers, body, rawBody, at: now() });
      // HubSpot's consent screen (on app.hubspot.com, the HUBSPOT_APP_URL setting): "Connect app"
      // sends the browser back to redirect_uri with a one-time code and the state.
      if (req.method === 'GET' && url.pathname === '/oauth/authorize') {
        sendConsentPage(res, query);
        return;
      }
      const answer = route(req, url.pathname, query, body);
      // Calls without a usable token (401s, the OAuth endpoints) count against no window, but
      // still carry the headers, so clients can always read them.
      const headers = 'headers' in answer && answer.headers ? answer.headers : idleRateLimitHeaders();
      answerAfterLatency(body, () => send(res, answer.status, answer.body, headers));
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    portalId,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    contacts,
    properties,
    propertyGroups,
    byEmail: (email: string) => byProperty('email', email),
    byProperty,
    tokens,
    issueAuthorizationCode(redirectUri: string) {
      const code = `fake-code-${randomUUID()}`;
      tokens.codes.set(code, { redirectUri });
      return code;
    },
    expireAccessToken(token: string) {
      tokens.expiresAt.set(token, now() - 1000);
    },
    rateLimitFor(ms: number, policy: 'TEN_SECONDLY_ROLLING' | 'DAILY' = 'TEN_SECONDLY_ROLLING') {
      rateLimited = { until: now() + ms, policy };
    },
    failNext(failure: FakeFailure) {
      failures.push({ ...failure, times: failure.times ?? 1 });
    },
    requests,
    revokedTokens,
  };
}
