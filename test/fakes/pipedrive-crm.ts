// A loopback fake of Pipedrive for end-to-end tests of the real program: the API (v1 + v2 routes
// the connector uses) and the OAuth server on one port, on 127.0.0.1. Shapes, status codes and
// query parameters follow Pipedrive's published OpenAPI documents (v1 and v2), and the changelog
// where those are silent (archived leads, 2025-07-15); state lives in plain maps the test can
// read and seed. What the documents do not say is marked as the fake's own guess.
//   - GET /v1/leads lists only leads that are not archived; GET /v1/leads/archived the others.
//     Both page with additional_data { start, limit, more_items_in_collection } (no next_start).
//   - PATCH /v1/leads/{id} refuses an archived lead ("archived deals and leads will not be
//     editable through the API"), except to unarchive it (is_archived: false).
//   - GET /api/v2/personFields returns required_fields, ui_visibility and important_fields
//     only when include_fields asks for them.
//   - GET /v1/leadFields pages with additional_data { start, limit, more_items_in_collection }
//     (the schema; the document's example nests it under `pagination`).
//   - POST /v1/leads answers 201, POST /v1/notes 200, POST /api/v2/persons 200.
//   - POST /oauth/revoke (Basic client auth, form token): 200 `{success:true}`; an unknown token
//     400 invalid_token (the body is the fake's guess).
//
//   const pd = await startFakePipedrive();
//   settings.pipedrive = { apiUrl: pd.url, oauthUrl: pd.url, clientId: pd.oauth.clientId, clientSecret: pd.oauth.clientSecret };
//   credentials = { type: 'api_token', apiToken: [...pd.apiTokens][0] }
import { randomUUID, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface FakePersonField {
  field_code: string;
  field_name: string;
  field_type: string;
  is_custom_field: boolean;
  options?: { id: number; label: string }[] | null;
  /** Answered only when GET /api/v2/personFields asks with include_fields=required_fields. */
  required_fields?: { enabled: boolean };
}

interface FakeLeadField {
  key: string;
  name: string;
  field_type: string;
  options?: { id: number; label: string }[] | null;
  mandatory_flag: boolean;
  edit_flag: boolean;
  active_flag: boolean;
}

interface FakePerson {
  id: number;
  name: string;
  emails: { value: string; primary: boolean; label: string }[];
  phones: { value: string; primary: boolean; label: string }[];
  owner_id: number;
  visible_to: number;
  custom_fields: Record<string, unknown>;
  add_time: string;
}

interface FakeLead {
  id: string;
  title: string;
  person_id: number | null;
  owner_id: number;
  label_ids: string[];
  value: { amount: number; currency: string } | null;
  expected_close_date: string | null;
  origin_id: string | null;
  channel: number | null;
  channel_id: string | null;
  visible_to: string;
  is_archived: boolean;
  /** Deal custom fields the lead carries, by 40-char hash. */
  custom: Record<string, unknown>;
  add_time: string;
  update_time: string;
}

interface FakeNote {
  id: number;
  content: string;
  lead_id: string | null;
  pinned_to_lead_flag: boolean;
}

interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** How the call authenticated. */
  auth: 'api_token' | 'oauth' | 'basic' | 'none';
  status: number;
}

interface FailRule {
  method: string;
  /** Exact path, e.g. /v1/leads. */
  path: string;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many matching requests fail (default 1). */
  times?: number;
}

export interface FakePipedriveOptions {
  /** API tokens accepted in the x-api-token header (default ['fake-pipedrive-api-token']). */
  apiTokens?: string[];
  clientId?: string;
  clientSecret?: string;
  /** OAuth access-token lifetime (default 3600 s, as Pipedrive's). */
  accessTokenTtlSec?: number;
  /** Requests per token per 2-second window (default 80). */
  burstLimit?: number;
  /** Search requests per token per 2-second window (Pipedrive: 10 on every plan). */
  searchLimit?: number;
  /** Page size of the field lists when the caller asks for more (default 100); small values exercise paging. */
  fieldPageSize?: number;
  /** Extra person custom fields (added after the standard ones). */
  personFields?: FakePersonField[];
  /** Extra lead (deal) custom fields (added after the standard ones). */
  leadFields?: FakeLeadField[];
  /** Returned by GET /v1/users/me. */
  companyDomain?: string;
  /** The user id owning records created without owner_id. */
  userId?: number;
  /**
   * Time each API call takes, in ms, drawn between min and max (default 0): half before the
   * fake acts on the request, half before the answer leaves, as over a real network.
   */
  latencyMs?: { min: number; max: number };
  /**
   * A new person shows in search this long after the create answered (default 0). Whether
   * Pipedrive's search lags behind creates is undocumented (HubSpot's does); this models the
   * pessimistic case.
   */
  searchIndexLagMs?: number;
}

export interface FakePipedrive {
  url: string;
  close(): Promise<void>;
  persons: Map<number, FakePerson>;
  leads: Map<string, FakeLead>;
  notes: FakeNote[];
  apiTokens: Set<string>;
  personFields: FakePersonField[];
  leadFields: FakeLeadField[];
  oauth: {
    clientId: string;
    clientSecret: string;
    /** Access token → expiry (epoch ms). */
    accessTokens: Map<string, number>;
    refreshTokens: Set<string>;
    /** Issues an authorization code as the consent page would, for this redirect URI. */
    issueCode(redirectUri: string): string;
    /** Makes every access token expired (the next API call gets 401). */
    expireAccessTokens(): void;
    /** Revokes every refresh token (the next refresh gets 400 invalid_grant). */
    revokeRefreshTokens(): void;
    /** How many token requests were answered, by grant type. */
    grants: { authorization_code: number; refresh_token: number };
    /** Refresh tokens revoked through POST /oauth/revoke, in order. */
    revokedTokens: string[];
  };
  /** Answers every API call with 429 for this long; `daily` also reports the daily budget spent. */
  rateLimitFor(ms: number, opts?: { daily?: boolean }): void;
  /** Makes the next matching request(s) fail with the given status and body. */
  failNext(rule: FailRule): void;
  /** Archives a lead, as a salesperson does in the Leads Inbox. */
  archiveLead(id: string): void;
  requests: FakeRequest[];
}

const WINDOW_MS = 2_000;
const DAILY_BUDGET = 10_000;

const STANDARD_PERSON_FIELDS: FakePersonField[] = [
  { field_code: 'name', field_name: 'Name', field_type: 'varchar', is_custom_field: false, required_fields: { enabled: true } },
  { field_code: 'first_name', field_name: 'First name', field_type: 'varchar', is_custom_field: false },
  { field_code: 'last_name', field_name: 'Last name', field_type: 'varchar', is_custom_field: false },
  { field_code: 'email', field_name: 'Email', field_type: 'varchar', is_custom_field: false },
  { field_code: 'phone', field_name: 'Phone', field_type: 'phone', is_custom_field: false },
  { field_code: 'owner_id', field_name: 'Owner', field_type: 'user', is_custom_field: false },
  { field_code: 'org_id', field_name: 'Organization', field_type: 'org', is_custom_field: false },
];

const STANDARD_LEAD_FIELDS: FakeLeadField[] = [
  { key: 'title', name: 'Title', field_type: 'varchar', mandatory_flag: true, edit_flag: false, active_flag: true },
  { key: 'person_id', name: 'Person', field_type: 'people', mandatory_flag: false, edit_flag: false, active_flag: true },
  { key: 'organization_id', name: 'Organization', field_type: 'org', mandatory_flag: false, edit_flag: false, active_flag: true },
  { key: 'value', name: 'Value', field_type: 'monetary', mandatory_flag: false, edit_flag: false, active_flag: true },
  { key: 'expected_close_date', name: 'Expected close date', field_type: 'date', mandatory_flag: false, edit_flag: false, active_flag: true },
  { key: 'owner_id', name: 'Owner', field_type: 'user', mandatory_flag: false, edit_flag: false, active_flag: true },
];

/** The body keys of POST /v1/leads (addLead) and PATCH /v1/leads/{id} (updateLead), besides custom fields. */
const LEAD_CREATE_KEYS = new Set([
  'title',
  'owner_id',
  'label_ids',
  'person_id',
  'organization_id',
  'value',
  'expected_close_date',
  'visible_to',
  'was_seen',
  'origin_id',
  'channel',
  'channel_id',
]);
const LEAD_UPDATE_KEYS = new Set([
  'title',
  'owner_id',
  'label_ids',
  'person_id',
  'organization_id',
  'is_archived',
  'value',
  'expected_close_date',
  'visible_to',
  'was_seen',
  'channel',
  'channel_id',
]);
/** The namespaces GET /api/v2/personFields adds on request (include_fields). */
const PERSON_FIELD_NAMESPACES = new Set(['ui_visibility', 'important_fields', 'required_fields']);
const HASH_KEY = /^[a-f0-9]{40}$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`fake pipedrive ${status}`);
  }
}

function fail(status: number, error: string, extra: Record<string, unknown> = {}): never {
  throw new HttpError(status, {
    success: false,
    error,
    error_info: 'Please check developers.pipedrive.com for more information about Pipedrive API.',
    data: null,
    additional_data: null,
    ...extra,
  });
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJsonBody(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  fail(400, 'Request body is not valid JSON');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** v1 notes' times: "2019-12-09 13:59:21". */
function nowV1(): string {
  return new Date().toISOString().replace('T', ' ').slice(0, 19);
}

function token(prefix: string): string {
  return `${prefix}${randomBytes(24).toString('hex')}`;
}

export async function startFakePipedrive(opts: FakePipedriveOptions = {}): Promise<FakePipedrive> {
  const apiTokens = new Set(opts.apiTokens ?? ['fake-pipedrive-api-token']);
  const burstLimit = opts.burstLimit ?? 80;
  const searchLimit = opts.searchLimit ?? 10;
  const fieldPageSize = opts.fieldPageSize ?? 100;
  const ttlSec = opts.accessTokenTtlSec ?? 3600;
  const userId = opts.userId ?? 1;
  const persons = new Map<number, FakePerson>();
  const leads = new Map<string, FakeLead>();
  const notes: FakeNote[] = [];
  const requests: FakeRequest[] = [];
  const personFields = [...STANDARD_PERSON_FIELDS, ...(opts.personFields ?? [])];
  const leadFields = [...STANDARD_LEAD_FIELDS, ...(opts.leadFields ?? [])];
  const failRules: FailRule[] = [];
  const windows = new Map<string, number[]>();
  const codes = new Map<string, { redirectUri: string; expiresAt: number }>();
  /** Person id → when search starts finding them (epoch ms); seeded persons are found at once. */
  const searchableAt = new Map<number, number>();
  const latency = opts.latencyMs ?? { min: 0, max: 0 };
  const halfLatency = () => (latency.min + Math.random() * (latency.max - latency.min)) / 2;
  let nextPersonId = 1;
  let nextNoteId = 1;
  let rateLimitedUntil = 0;
  let isDailyLimited = false;
  let dailyLeft = DAILY_BUDGET;
  let url = '';

  const oauth: FakePipedrive['oauth'] = {
    clientId: opts.clientId ?? 'fake-pipedrive-client-id',
    clientSecret: opts.clientSecret ?? 'fake-pipedrive-client-secret',
    accessTokens: new Map(),
    refreshTokens: new Set(),
    grants: { authorization_code: 0, refresh_token: 0 },
    revokedTokens: [],
    issueCode(redirectUri) {
      const code = token('code-');
      codes.set(code, { redirectUri, expiresAt: Date.now() + 5 * 60_000 });
      return code;
    },
    expireAccessTokens() {
      for (const t of oauth.accessTokens.keys()) oauth.accessTokens.set(t, 0);
    },
    revokeRefreshTokens() {
      oauth.refreshTokens.clear();
    },
  };

  /** Counts a call in a rolling 2-second window; returns [remaining, resetSeconds] or throws 429. */
  function countCall(key: string, limit: number): { remaining: number; resetSec: number } {
    const now = Date.now();
    const hits = (windows.get(key) ?? []).filter((t) => now - t < WINDOW_MS);
    const resetSec = hits.length === 0 ? 2 : Math.max(1, Math.ceil((hits[0] + WINDOW_MS - now) / 1000));
    if (hits.length >= limit) {
      windows.set(key, hits);
      throw new HttpError(429, { success: false, error: 'Request over limit', errorCode: 429, data: null });
    }
    hits.push(now);
    windows.set(key, hits);
    return { remaining: limit - hits.length, resetSec };
  }

  function authenticate(req: http.IncomingMessage): { kind: 'api_token' | 'oauth'; key: string } | undefined {
    const apiToken = req.headers['x-api-token'];
    if (typeof apiToken === 'string' && apiTokens.has(apiToken)) return { kind: 'api_token', key: `t:${apiToken}` };
    const authz = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(authz);
    if (m) {
      const expiresAt = oauth.accessTokens.get(m[1]);
      if (expiresAt !== undefined && expiresAt > Date.now()) return { kind: 'oauth', key: `o:${m[1]}` };
    }
    return undefined;
  }

  function toSearchItem(p: FakePerson) {
    return {
      result_score: 1,
      item: {
        id: p.id,
        type: 'person',
        name: p.name,
        phones: p.phones.map((x) => x.value),
        emails: p.emails.map((x) => x.value),
        visible_to: p.visible_to,
        owner: { id: p.owner_id },
        organization: null,
        custom_fields: [],
        notes: [],
        update_time: null,
      },
    };
  }

  function toV1Lead(l: FakeLead) {
    const { custom, ...rest } = l;
    return {
      ...rest,
      creator_id: userId,
      source_name: 'API',
      origin: 'API',
      organization_id: null,
      source_deal_id: null,
      next_activity_id: null,
      was_seen: false,
      ...custom,
    };
  }

  /** A v1 page: additional_data { start, limit, more_items_in_collection }, as the OpenAPI v1 schemas have it. */
  function paginateStart<T>(items: T[], query: URLSearchParams, defaultLimit: number, maxLimit = defaultLimit) {
    const start = Math.max(0, Number(query.get('start') ?? 0) || 0);
    const limit = Math.min(maxLimit, Math.max(1, Number(query.get('limit') ?? defaultLimit) || defaultLimit));
    const page = items.slice(start, start + limit);
    return { page, additional_data: { start, limit, more_items_in_collection: start + limit < items.length } };
  }

  /** A person field as GET /api/v2/personFields answers it, with the namespaces asked for. */
  function toPersonField(f: FakePersonField, namespaces: Set<string>) {
    return {
      field_code: f.field_code,
      field_name: f.field_name,
      field_type: f.field_type,
      options: f.options ?? null,
      subfields: null,
      is_custom_field: f.is_custom_field,
      is_optional_response_field: false,
      ...(namespaces.has('ui_visibility') ? { ui_visibility: { add_visible_flag: true, details_visible_flag: true } } : {}),
      ...(namespaces.has('important_fields') ? { important_fields: { enabled: false, stage_ids: [] } } : {}),
      ...(namespaces.has('required_fields') ? { required_fields: { enabled: f.required_fields?.enabled === true } } : {}),
    };
  }

  function validateLeadBody(body: Record<string, unknown>, isCreate: boolean): void {
    const known = isCreate ? LEAD_CREATE_KEYS : LEAD_UPDATE_KEYS;
    for (const key of Object.keys(body)) {
      if (known.has(key)) continue;
      if (HASH_KEY.test(key) && leadFields.some((f) => f.key === key)) continue;
      fail(400, `Field "${key}" does not exist`);
    }
    if (isCreate && (typeof body.title !== 'string' || body.title.trim() === '')) fail(400, 'Validation failed: title: Required');
    if ('title' in body && typeof body.title !== 'string') fail(400, 'Validation failed: title: Expected string');
    if (isCreate && body.person_id === undefined && body.organization_id === undefined) fail(400, 'A lead must be linked to a person or an organization');
    if (body.person_id !== undefined && body.person_id !== null && !persons.has(Number(body.person_id)))
      fail(400, 'Validation failed: person_id: Person not found');
    if (body.owner_id !== undefined && typeof body.owner_id !== 'number') fail(400, 'Validation failed: owner_id: Expected number');
    if (body.label_ids !== undefined && !(Array.isArray(body.label_ids) && body.label_ids.every((x) => typeof x === 'string')))
      fail(400, 'Validation failed: label_ids: Expected array of uuids');
    if (body.visible_to !== undefined && typeof body.visible_to !== 'string') fail(400, 'Validation failed: visible_to: Expected string');
    if (body.channel !== undefined && body.channel !== null && typeof body.channel !== 'number') fail(400, 'Validation failed: channel: Expected number');
    if (body.value !== undefined && body.value !== null) {
      const v = body.value as { amount?: unknown; currency?: unknown };
      if (typeof v !== 'object' || typeof v.amount !== 'number' || typeof v.currency !== 'string')
        fail(400, 'Validation failed: value: Expected { amount, currency }');
    }
  }

  function leadCustom(body: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body)) if (HASH_KEY.test(k)) out[k] = v;
    return out;
  }

  async function handleOAuth(req: http.IncomingMessage, u: URL): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    if (req.method === 'GET' && u.pathname === '/oauth/authorize') {
      // The consent page, approved at once: redirect back with a code.
      const redirectUri = u.searchParams.get('redirect_uri') ?? '';
      if (u.searchParams.get('client_id') !== oauth.clientId || redirectUri === '') return { status: 400, body: { error: 'invalid_request' } };
      const back = new URL(redirectUri);
      back.searchParams.set('code', oauth.issueCode(redirectUri));
      const state = u.searchParams.get('state');
      if (state !== null) back.searchParams.set('state', state);
      return { status: 302, body: '', headers: { location: back.toString() } };
    }
    // POST /oauth/token: form body, Basic client_id:client_secret.
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const [id, secret] = basic ? Buffer.from(basic[1], 'base64').toString('utf8').split(':') : [];
    if (id !== oauth.clientId || secret !== oauth.clientSecret)
      return { status: 401, body: { success: false, error: 'invalid_client', message: 'Invalid client credentials' } };
    const form = new URLSearchParams(await readBody(req));
    if (req.method === 'POST' && u.pathname === '/oauth/revoke') {
      // POST /oauth/revoke: the refresh token (token_type_hint optional) stops working.
      const revoked = form.get('token') ?? '';
      if (!oauth.refreshTokens.delete(revoked)) return { status: 400, body: { success: false, error: 'invalid_token', message: 'Token is invalid' } };
      oauth.revokedTokens.push(revoked);
      return { status: 200, body: { success: true } };
    }
    const grant = form.get('grant_type');
    let refreshToken: string;
    if (grant === 'authorization_code') {
      const entry = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      if (!entry || entry.expiresAt < Date.now() || entry.redirectUri !== form.get('redirect_uri')) {
        return { status: 400, body: { success: false, error: 'invalid_grant', message: 'Invalid grant: authorization code is invalid' } };
      }
      refreshToken = token('refresh-');
      oauth.refreshTokens.add(refreshToken);
      oauth.grants.authorization_code++;
    } else if (grant === 'refresh_token') {
      refreshToken = form.get('refresh_token') ?? '';
      if (!oauth.refreshTokens.has(refreshToken)) {
        return { status: 400, body: { success: false, error: 'invalid_grant', message: 'Invalid grant: refresh token is invalid' } };
      }
      oauth.grants.refresh_token++;
    } else {
      return { status: 400, body: { success: false, error: 'unsupported_grant_type' } };
    }
    const accessToken = token('access-');
    oauth.accessTokens.set(accessToken, Date.now() + ttlSec * 1000);
    // Pipedrive returns the same refresh token on a refresh, with its idle window extended.
    return {
      status: 200,
      body: {
        access_token: accessToken,
        token_type: 'Bearer',
        refresh_token: refreshToken,
        scope: 'base,contacts:full,leads:full',
        expires_in: ttlSec,
        api_domain: url,
      },
    };
  }

  async function route(req: http.IncomingMessage, u: URL): Promise<{ status: number; body: unknown }> {
    const method = req.method ?? 'GET';
    const path = u.pathname;
    const q = u.searchParams;

    if (method === 'GET' && path === '/v1/users/me') {
      return { status: 200, body: { success: true, data: { id: userId, name: 'Fake Admin', company_domain: opts.companyDomain ?? 'fake', company_id: 1 } } };
    }

    if (method === 'GET' && path === '/api/v2/persons/search') {
      const term = (q.get('term') ?? '').trim();
      const isExact = q.get('exact_match') === 'true';
      if (term.length < (isExact ? 1 : 2)) fail(400, 'Validation failed: term: Must be at least 2 characters');
      const fields = (q.get('fields') ?? 'email,phone,name').split(',');
      const limit = Math.min(500, Number(q.get('limit') ?? 100) || 100);
      const wanted = term.toLowerCase();
      const matches = (value: string) => (isExact ? value.toLowerCase() === wanted : value.toLowerCase().includes(wanted));
      const found = [...persons.values()].filter(
        (p) =>
          (searchableAt.get(p.id) ?? 0) <= Date.now() &&
          ((fields.includes('email') && p.emails.some((e) => matches(e.value))) ||
            (fields.includes('phone') && p.phones.some((ph) => matches(ph.value))) ||
            (fields.includes('name') && matches(p.name))),
      );
      return { status: 200, body: { success: true, data: { items: found.slice(0, limit).map(toSearchItem) }, additional_data: { next_cursor: null } } };
    }

    if (method === 'POST' && path === '/api/v2/persons') {
      const body = parseJsonBody(await readBody(req));
      if (typeof body.name !== 'string' || body.name.trim() === '') fail(400, 'Validation failed: name: Required', { code: 'ERR_SCHEMA_VALIDATION_FAILED' });
      if (body.owner_id !== undefined && typeof body.owner_id !== 'number') fail(400, 'Validation failed: owner_id: Expected number, received string');
      if (body.visible_to !== undefined && typeof body.visible_to !== 'number') fail(400, 'Validation failed: visible_to: Expected number, received string');
      const list = (key: 'emails' | 'phones') => {
        const v = body[key];
        if (v === undefined) return [];
        if (!Array.isArray(v) || !v.every((x) => x && typeof x === 'object' && typeof (x as { value?: unknown }).value === 'string')) {
          fail(400, `Validation failed: ${key}: Expected array of { value, primary, label }`);
        }
        return (v as { value: string; primary?: boolean; label?: string }[]).map((x) => ({
          value: x.value,
          primary: x.primary === true,
          label: x.label ?? 'work',
        }));
      };
      const custom = (body.custom_fields ?? {}) as Record<string, unknown>;
      for (const key of Object.keys(custom)) {
        const field = personFields.find((f) => f.is_custom_field && f.field_code === key);
        if (!field) fail(400, `Custom field "${key}" does not exist`);
        const v = custom[key];
        if (field.field_type === 'enum' && typeof v !== 'number') fail(400, `Validation failed: custom_fields.${key}: Expected number`);
        if (field.field_type === 'set' && !(Array.isArray(v) && v.every((x) => typeof x === 'number')))
          fail(400, `Validation failed: custom_fields.${key}: Expected array of numbers`);
        if (field.field_type === 'double' && typeof v !== 'number') fail(400, `Validation failed: custom_fields.${key}: Expected number`);
      }
      const person: FakePerson = {
        id: nextPersonId++,
        name: body.name,
        emails: list('emails'),
        phones: list('phones'),
        owner_id: typeof body.owner_id === 'number' ? body.owner_id : userId,
        visible_to: typeof body.visible_to === 'number' ? body.visible_to : 3,
        custom_fields: custom,
        add_time: new Date().toISOString(),
      };
      persons.set(person.id, person);
      if (opts.searchIndexLagMs) searchableAt.set(person.id, Date.now() + opts.searchIndexLagMs);
      return { status: 200, body: { success: true, data: person } };
    }

    if (method === 'GET' && path === '/api/v2/personFields') {
      const namespaces = new Set((q.get('include_fields') ?? '').split(',').filter((n) => n !== ''));
      for (const n of namespaces) if (!PERSON_FIELD_NAMESPACES.has(n)) fail(400, `Validation failed: include_fields: Invalid enum value '${n}'`);
      const offset = q.get('cursor') ? Number(Buffer.from(q.get('cursor') ?? '', 'base64url').toString('utf8')) : 0;
      const limit = Math.min(fieldPageSize, Math.max(1, Number(q.get('limit') ?? fieldPageSize) || fieldPageSize));
      const page = personFields.slice(offset, offset + limit).map((f) => toPersonField(f, namespaces));
      const next = offset + limit < personFields.length ? Buffer.from(String(offset + limit), 'utf8').toString('base64url') : null;
      return { status: 200, body: { success: true, data: page, additional_data: { next_cursor: next } } };
    }

    if (method === 'GET' && path === '/v1/leadFields') {
      const { page, additional_data } = paginateStart(leadFields, q, fieldPageSize);
      return { status: 200, body: { success: true, data: page, additional_data } };
    }

    if (method === 'POST' && path === '/v1/leads') {
      const body = parseJsonBody(await readBody(req));
      validateLeadBody(body, true);
      const now = new Date().toISOString();
      const lead: FakeLead = {
        id: randomUUID(),
        title: body.title as string,
        person_id: body.person_id === undefined ? null : Number(body.person_id),
        owner_id: typeof body.owner_id === 'number' ? body.owner_id : userId,
        label_ids: (body.label_ids as string[] | undefined) ?? [],
        value: (body.value as FakeLead['value'] | undefined) ?? null,
        expected_close_date: (body.expected_close_date as string | undefined) ?? null,
        origin_id: body.origin_id === undefined || body.origin_id === null ? null : String(body.origin_id),
        channel: (body.channel as number | undefined) ?? null,
        channel_id: body.channel_id === undefined || body.channel_id === null ? null : String(body.channel_id),
        visible_to: (body.visible_to as string | undefined) ?? '3',
        is_archived: false,
        custom: leadCustom(body),
        add_time: now,
        update_time: now,
      };
      leads.set(lead.id, lead);
      return { status: 201, body: { success: true, data: toV1Lead(lead) } };
    }

    // GET /v1/leads: "Returns multiple not archived leads"; GET /v1/leads/archived: "Returns
    // multiple archived leads" (OpenAPI v1; the archived_status parameter is gone since 2025).
    // Oldest first; `limit` defaults to 100.
    if (method === 'GET' && (path === '/v1/leads' || path === '/v1/leads/archived')) {
      const isArchivedList = path === '/v1/leads/archived';
      const personId = q.get('person_id');
      const all = [...leads.values()].filter((l) => l.is_archived === isArchivedList && (personId === null || l.person_id === Number(personId)));
      // The maximum of `limit` is not documented for leads; 500 is the fake's guess.
      const { page, additional_data } = paginateStart(all, q, 100, 500);
      return { status: 200, body: { success: true, data: page.map(toV1Lead), additional_data } };
    }

    const leadPath = /^\/v1\/leads\/([^/]+)$/.exec(path);
    if (leadPath && (method === 'PATCH' || method === 'GET')) {
      const lead = leads.get(decodeURIComponent(leadPath[1]));
      if (!lead) fail(404, 'requested lead not found', { error_info: 'Object was not found.' });
      // GET /v1/leads/{id} is not among the endpoints the archiving change hid archived leads from.
      if (method === 'GET') return { status: 200, body: { success: true, data: toV1Lead(lead) } };
      const body = parseJsonBody(await readBody(req));
      validateLeadBody(body, false);
      // "Archived deals and leads will not be editable through the API" (changelog, 2025-07-15).
      // The status and message of the refusal are not documented: 400 is the fake's guess.
      if (lead.is_archived && body.is_archived !== false) fail(400, 'Archived leads cannot be edited');
      for (const [k, v] of Object.entries(body)) {
        if (HASH_KEY.test(k)) lead.custom[k] = v;
        else (lead as unknown as Record<string, unknown>)[k] = v;
      }
      lead.update_time = new Date().toISOString();
      return { status: 200, body: { success: true, data: toV1Lead(lead) } };
    }

    if (method === 'POST' && path === '/v1/notes') {
      const body = parseJsonBody(await readBody(req));
      if (typeof body.content !== 'string' || body.content.trim() === '') fail(400, 'Validation failed: content: Required');
      if (body.lead_id === undefined && body.deal_id === undefined && body.person_id === undefined && body.org_id === undefined) {
        fail(400, 'A note must be linked to a lead, deal, person or organization');
      }
      if (body.lead_id !== undefined && !leads.has(String(body.lead_id))) fail(404, 'Lead not found');
      const note: FakeNote = {
        id: nextNoteId++,
        content: body.content,
        lead_id: body.lead_id === undefined ? null : String(body.lead_id),
        pinned_to_lead_flag: body.pinned_to_lead_flag === 1 || body.pinned_to_lead_flag === true,
      };
      notes.push(note);
      // POST /v1/notes answers 200 (OpenAPI v1), unlike POST /v1/leads (201).
      return { status: 200, body: { success: true, data: { ...note, add_time: nowV1(), update_time: nowV1(), active_flag: true, user_id: userId } } };
    }

    fail(404, `Unknown method ${method} ${path}`);
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      const log: FakeRequest = { method: req.method ?? 'GET', path: u.pathname, query: Object.fromEntries(u.searchParams), auth: 'none', status: 0 };
      requests.push(log);
      const send = async (status: number, body: unknown, headers: Record<string, string> = {}) => {
        log.status = status;
        const isText = typeof body === 'string';
        const text = isText ? body : JSON.stringify(body);
        if (latency.max > 0) await sleep(halfLatency());
        res.writeHead(status, { 'content-type': isText ? 'text/html; charset=utf-8' : 'application/json', ...headers });
        res.end(text);
      };
      if (latency.max > 0) await sleep(halfLatency());
      try {
        if (u.pathname.startsWith('/oauth/')) {
          log.auth = req.headers.authorization?.startsWith('Basic ') ? 'basic' : 'none';
          const out = await handleOAuth(req, u);
          return send(out.status, out.body, out.headers);
        }

        const who = authenticate(req);
        if (!who) {
          return send(
            401,
            {
              success: false,
              error: 'unauthorized access',
              errorCode: 401,
              error_info: 'Please check developers.pipedrive.com for more information about Pipedrive API.',
              data: null,
              additional_data: null,
            },
            { 'x-ratelimit-limit': String(burstLimit), 'x-ratelimit-remaining': String(burstLimit), 'x-ratelimit-reset': '2' },
          );
        }
        log.auth = who.kind;

        const headers: Record<string, string> = {};
        const method = req.method ?? 'GET';
        const isWrite = method === 'POST' || method === 'PUT' || method === 'PATCH';
        if (Date.now() < rateLimitedUntil) {
          const waitSec = Math.max(1, Math.ceil((rateLimitedUntil - Date.now()) / 1000));
          Object.assign(headers, {
            'retry-after': String(waitSec),
            'x-ratelimit-limit': String(burstLimit),
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': String(waitSec),
          });
          if (isDailyLimited) headers['x-daily-requests-left'] = '0';
          return send(429, { success: false, error: 'Request over limit', errorCode: 429, data: null }, headers);
        }

        const ruleIndex = failRules.findIndex((r) => r.method.toUpperCase() === method && r.path === u.pathname);
        if (ruleIndex >= 0) {
          const rule = failRules[ruleIndex];
          rule.times = (rule.times ?? 1) - 1;
          if (rule.times <= 0) failRules.splice(ruleIndex, 1);
          return send(rule.status, rule.body ?? { success: false, error: `Injected failure ${rule.status}`, data: null }, rule.headers);
        }

        const isSearch = u.pathname.endsWith('/search');
        try {
          const burst = countCall(who.key, burstLimit);
          Object.assign(headers, {
            'x-ratelimit-limit': String(burstLimit),
            'x-ratelimit-remaining': String(burst.remaining),
            'x-ratelimit-reset': String(burst.resetSec),
          });
          if (isSearch) {
            const search = countCall(`search:${who.key}`, searchLimit);
            Object.assign(headers, {
              'x-ratelimit-limit': String(searchLimit),
              'x-ratelimit-remaining': String(search.remaining),
              'x-ratelimit-reset': String(search.resetSec),
            });
          }
        } catch (err) {
          if (err instanceof HttpError) {
            const limit = isSearch ? searchLimit : burstLimit;
            return send(429, err.body, { 'retry-after': '2', 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '2' });
          }
          throw err;
        }
        if (who.kind === 'api_token' && isWrite) headers['x-daily-requests-left'] = String(Math.max(0, --dailyLeft));

        try {
          const out = await route(req, u);
          return send(out.status, out.body, headers);
        } catch (err) {
          if (err instanceof HttpError) return send(err.status, err.body, headers);
          throw err;
        }
      } catch {
        if (!res.headersSent) await send(500, { success: false, error: 'Internal Server Error occurred.', data: null });
      }
    })();
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
    persons,
    leads,
    notes,
    apiTokens,
    personFields,
    leadFields,
    oauth,
    rateLimitFor(ms, rateOpts) {
      rateLimitedUntil = Date.now() + ms;
      isDailyLimited = rateOpts?.daily === true;
    },
    failNext(rule) {
      failRules.push({ ...rule, times: rule.times ?? 1 });
    },
    archiveLead(id) {
      const lead = leads.get(id);
      if (!lead) throw new Error(`fake pipedrive: no lead ${id}`);
      lead.is_archived = true;
      lead.update_time = new Date().toISOString();
    },
    requests,
  };
}
