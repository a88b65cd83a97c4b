// A loopback fake of the Meta Graph API, faithful enough for end-to-end tests of the real
// program: version-pinned paths, appsecret_proof checks (classic and time-stamped), Page
// tokens, Graph's real error shapes (HTTP 400 + {error:{message,type,code,error_subcode,
// fbtrace_id}}), `fields` selection, cursor paging with `filtering`, debug_token (with token
// expiry), the Page node, the Page's subscribed_apps edge (and the app removed from a Page), test leads and a lasting throttle mode; and Facebook Login:
// the OAuth dialog (a small consent page with real Continue / Cancel buttons), the code and
// long-lived token exchanges
// (with Meta's error bodies for bad, used and expired codes), /me, /me/permissions, /me/accounts
// with paging, Leads Access Manager (`has_lead_access`) and the app-level /{app-id}/subscriptions
// with its callback handshake; and Graph batch requests (`POST /` with `batch=[…]`, at most 50,
// each request answered on its own as `{code, headers, body}` with the body a JSON string, or
// `null` when it timed out; scripted failures and throttles apply to each request of a batch).
// It is independent of src/meta on purpose: a shared bug would otherwise pass its own test.
// Reference: Meta's Graph API docs for leads, forms, tokens (debug_token), subscriptions, errors and test leads.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// ---------------------------------------------------------------------------------------------
// Public shapes

/** A lead in Graph's own JSON shape. Only `id` is required. */
interface FakeLeadInput {
  id: string;
  form_id?: string;
  /** Not a Graph field: the Page that owns the lead (defaults to the form's Page). Decides which token may read it. */
  page_id?: string;
  /** ISO (`2026-11-20T10:15:00+0000`), a Date, or Unix seconds; served as ISO with `+0000`. Default: now. */
  created_time?: string | number | Date;
  field_data?: { name: string; values?: string[] }[];
  custom_disclaimer_responses?: { checkbox_key: string; is_checked: string | boolean }[];
  ad_id?: string;
  ad_name?: string;
  adset_id?: string;
  adset_name?: string;
  campaign_id?: string;
  campaign_name?: string;
  /** Default: true when there is no ad_id. */
  is_organic?: boolean;
  /** Default `fb`. */
  platform?: string;
  partner_name?: string;
  /** Any other Graph field (retailer_item_id, post, ...), served only when requested. */
  extra?: Record<string, unknown>;
}

export interface FakeQuestionInput {
  id?: string;
  key: string;
  label?: string;
  /** Default `CUSTOM`. */
  type?: string;
  options?: { key: string; value: string }[];
}

interface FakeFormInput {
  id: string;
  /** The Page that owns the form. */
  page_id?: string;
  name?: string;
  /** Default `ACTIVE`. */
  status?: string;
  /** Default `en_US`. */
  locale?: string;
  created_time?: string | number | Date;
  questions?: FakeQuestionInput[];
}

export interface FakeResponse {
  status: number;
  /** Sent as JSON; omitted → an empty body (a bare 5xx, as a proxy would send). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Graph gave up on the request: `null` in a batch answer; alone, the `status` with no body. */
  isTimedOut?: boolean;
}

interface FakeCall {
  method: string;
  /** Path with the version, without the query, e.g. `/v25.0/1234`. */
  path: string;
  /** Query parameters, plus form-body parameters for POSTs. Tokens appear here: it is a test fake. */
  query: Record<string, string>;
  /** A request inside a `POST /` batch: listed after the batch call itself, which is the HTTP request. */
  isInBatch?: boolean;
}

interface FakeRouteRequest {
  method: string;
  /** Path after the version, e.g. `/oauth/access_token`. */
  path: string;
  query: Record<string, string>;
}

/** A Page the person logging in manages, as `/me/accounts` lists it. */
interface FakeManagedPage {
  id: string;
  name?: string;
  /** Default: full control (`ADVERTISE, ANALYZE, CREATE_CONTENT, MESSAGING, MODERATE, MANAGE`). */
  tasks?: string[];
  /** Default `Local business`. */
  category?: string;
}

/** The person signed in to Facebook in the dialog's browser: who they are, their Pages, what they will decline. */
interface FakeLoginUser {
  /** App-scoped user id. Default `10000000000042`. */
  id?: string;
  name?: string;
  pages: FakeManagedPage[];
  /** Permissions they untick in the dialog (they get `declined` in /me/permissions). */
  declined?: string[];
}

export interface FakeGraph {
  /** `http://127.0.0.1:<port>` */
  url: string;
  version: string;
  close(): Promise<void>;
  addLead(lead: FakeLeadInput): void;
  addForm(form: FakeFormInput): void;
  /** Makes `token` the Page's valid token (replacing any earlier one for that Page). */
  setPageToken(pageId: string, token: string, pageName?: string): void;
  /** Makes `token` a valid user token: debug_token says `USER`; it reads a Page's id and name, nothing of the Page's own. */
  setUserToken(token: string, userId?: string): void;
  /** The permissions debug_token reports for this token (default: the `scopes` option). */
  setTokenScopes(token: string, scopes: string[]): void;
  /** Installs the app on the Page, as `POST /{page-id}/subscribed_apps` with its Page token does. Default fields: `leadgen`. */
  installApp(pageId: string, subscribedFields?: string[]): void;
  /** The fields the app is subscribed to on the Page, or undefined when it is not installed. */
  installedFields(pageId: string): string[] | undefined;
  /** Removes the app from the Page, as `DELETE /{page-id}/subscribed_apps` (or a Page admin in the Page's Business integrations) does. */
  uninstallApp(pageId: string): void;
  /**
   * When a Page token expires (debug_token's `expires_at`, Unix seconds; null: never, the default).
   * Once the fake's clock passes it, the token is refused with 190/463 ("Session has expired") and
   * debug_token reports it `is_valid: false`, as Meta does.
   */
  setTokenExpiry(token: string, expiresAtUnixSeconds: number | null): void;
  /** Kills a token: later calls get `{error:{code:190,error_subcode,...}}` with HTTP 400. Default subcode 460. */
  revokeToken(token: string, subcode?: number): void;
  /** The next requests touching this id (as the first path segment) get these responses, in order; then normal service. */
  failNext(leadgenId: string, responses: FakeResponse[]): void;
  /**
   * Throttle mode: until cleared with `null`, every request touching this id (a form, a lead or a
   * Page, as the first path segment) gets this answer (e.g. graphFailures.leadgenThrottled), as a
   * limit lasts until Meta's wait is over. Requests still show in `calls`.
   */
  setThrottled(id: string, response: FakeResponse | null): void;
  /**
   * Adds a route the fake does not know (e.g. `/oauth/access_token`, `/me/accounts`).
   * Custom routes run after the version check and before token/proof checks.
   */
  addRoute(method: string, path: string | RegExp, handler: (req: FakeRouteRequest) => FakeResponse): void;
  /** Every request received, in order; the requests of a batch follow the batch call (`isInBatch`). */
  calls: FakeCall[];
  /** How many HTTP requests reached the fake (a batch is one, whatever it carries). */
  httpCallCount(): number;
  /** The stored lead (Graph shape), e.g. to read a test lead the program created. */
  getLead(id: string): Record<string, unknown> | undefined;
  /** The person the login dialog signs in (replaces any earlier one; pages and declined permissions included). */
  setLoginUser(user: FakeLoginUser): void;
  /** Customises the Page's Leads Access Manager: only these people (and apps, default ours) may read its leads. `null` resets it. */
  setLeadAccess(pageId: string, access: { users: string[]; apps?: string[] } | null): void;
  /** The app's webhook subscription for an object (default `page`), as `GET /{app-id}/subscriptions` would show it. */
  appSubscription(object?: string): { callback_url: string; fields: string[]; active: boolean } | undefined;
  /** Sets the app's webhook subscription without the handshake (as if done earlier in the App Dashboard); `null` removes it. */
  setAppSubscription(subscription: { object?: string; callback_url: string; fields?: string[]; active?: boolean } | null): void;
  /** The Page tokens handed out by `/me/accounts` for a Page (every login makes new ones), oldest first. */
  issuedPageTokens(pageId: string): string[];
}

export interface StartFakeGraphOptions {
  appSecret: string;
  /** Default `v25.0`. */
  version?: string;
  /** When set, app tokens must start with it (`${appId}|${appSecret}`). */
  appId?: string;
  /** Reject calls without a valid appsecret_proof ("Require App Secret" on). Default true. */
  requireAppsecretProof?: boolean;
  /** Clock (ms) for appsecret_time expiry and test-lead timestamps. Default Date.now. */
  now?: () => number;
  /** Scopes debug_token reports for Page tokens. */
  scopes?: string[];
  /** Called when a test lead is created through the API (wire it to send the leadgen webhook). */
  onTestLeadCreated?: (event: { leadgenId: string; formId: string; pageId: string | undefined; createdTimeUnixSeconds: number }) => void;
  /** Added to every answer: a random wait between min and max ms, as Meta's servers take. Default none. */
  latencyMs?: { min: number; max: number };
  /** Facebook Login for Business configurations: `config_id` → the permissions it asks for. */
  loginConfigurations?: Record<string, string[]>;
  /** The app's Valid OAuth Redirect URIs (Strict Mode: exact match). Default: any. */
  redirectUris?: string[];
  /** Graph may answer a list with fewer items than `limit` asks: at most this many (Pages, forms). Default: as asked. */
  maxPageSize?: number;
}

// ---------------------------------------------------------------------------------------------
// Real error shapes, for failNext and for the fake's own answers

const PROOF_MAX_AGE_SECONDS = 300;
/** Graph runs at most 50 requests per batch (https://developers.facebook.com/docs/graph-api/batch-requests). */
const BATCH_MAX_REQUESTS = 50;

function makeFbtraceId(): string {
  return randomBytes(17).toString('base64url');
}

interface GraphErrorFields {
  message: string;
  type: string;
  code: number;
  error_subcode?: number;
  error_user_title?: string;
  error_user_msg?: string;
  is_transient?: boolean;
}

function makeGraphErrorBody(fields: GraphErrorFields): { error: GraphErrorFields & { fbtrace_id: string } } {
  return { error: { ...fields, fbtrace_id: makeFbtraceId() } };
}

const TOKEN_SUBCODE_MESSAGES: Record<number, string> = {
  458: 'Error validating access token: The user has not authorized application.',
  459: 'Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given.',
  460: 'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.',
  463: 'Error validating access token: Session has expired.',
  464: 'Error validating access token: Sessions for the user  are not allowed because the user is not a confirmed user.',
  467: 'Error validating access token: The access token is invalid.',
  492: 'Error validating access token: The user is not an admin, editor, or moderator of the page.',
};

/** Prebuilt failures in Meta's real shapes, for `failNext`. */
export const graphFailures = {
  /** A bare 5xx with no Graph body (load balancer / proxy). */
  serverError(status = 503): FakeResponse {
    return { status };
  },
  /** Code 1 or 2: Meta's "temporary, retry" errors. */
  temporary(code: 1 | 2 = 2): FakeResponse {
    const message = code === 1 ? 'An unknown error occurred' : 'An unexpected error has occurred. Please retry your request later.';
    return { status: 500, body: makeGraphErrorBody({ message, type: 'OAuthException', code, is_transient: true }) };
  },
  /** 80005: the LeadGen Business Use Case limit, with the wait in minutes in X-Business-Use-Case-Usage. */
  leadgenThrottled(minutes: number, objectId = '100200300'): FakeResponse {
    const usage = { [objectId]: [{ type: 'leadgen', call_count: 100, total_cputime: 12, total_time: 15, estimated_time_to_regain_access: minutes }] };
    return {
      status: 400,
      headers: { 'x-business-use-case-usage': JSON.stringify(usage) },
      body: makeGraphErrorBody({
        message: 'There have been too many leadgen api calls to this Page. Wait a bit and try again.',
        type: 'OAuthException',
        code: 80005,
        is_transient: true,
      }),
    };
  },
  /** Code 17: user-level platform throttling ("User request limit reached"). */
  userThrottled(): FakeResponse {
    return {
      status: 400,
      body: makeGraphErrorBody({ message: '(#17) User request limit reached', type: 'OAuthException', code: 17, is_transient: true }),
    };
  },
  /** Code 4: app-level platform throttling, with X-App-Usage at 100 %. */
  appThrottled(): FakeResponse {
    return {
      status: 400,
      headers: { 'x-app-usage': JSON.stringify({ call_count: 100, total_cputime: 20, total_time: 25 }) },
      body: makeGraphErrorBody({ message: '(#4) Application request limit reached', type: 'OAuthException', code: 4, is_transient: true }),
    };
  },
  tokenInvalid(subcode = 460): FakeResponse {
    return {
      status: 400,
      body: makeGraphErrorBody({
        message: TOKEN_SUBCODE_MESSAGES[subcode] ?? 'Error validating access token',
        type: 'OAuthException',
        code: 190,
        error_subcode: subcode,
      }),
    };
  },
  permissionMissing(): FakeResponse {
    return {
      status: 400,
      body: makeGraphErrorBody({ message: '(#200) Requires leads_retrieval permission to manage the object', type: 'OAuthException', code: 200 }),
    };
  },
  notFound(id: string): FakeResponse {
    return { status: 400, body: unsupportedRequestBody('get', id) };
  },
  /** Graph gave up on the request: a `null` item in a batch answer; a bare 504 when sent alone. */
  timedOut(): FakeResponse {
    return { status: 504, isTimedOut: true };
  },
  blocked(): FakeResponse {
    return {
      status: 400,
      body: makeGraphErrorBody({
        message: 'It looks like you were misusing this feature by going too fast.',
        type: 'OAuthException',
        code: 368,
        error_subcode: 1390008,
      }),
    };
  },
};

function unsupportedRequestBody(method: string, id: string) {
  return makeGraphErrorBody({
    message: `Unsupported ${method} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
    type: 'GraphMethodException',
    code: 100,
    error_subcode: 33,
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

const LEAD_NODE_FIELDS = new Set([
  'id',
  'created_time',
  'ad_id',
  'ad_name',
  'adset_id',
  'adset_name',
  'campaign_id',
  'campaign_name',
  'form_id',
  'field_data',
  'custom_disclaimer_responses',
  'is_organic',
  'platform',
  'partner_name',
  'retailer_item_id',
  'home_listing',
  'vehicle',
  'post',
  'post_submission_check_result',
]);
// The lead fields Graph returns when `fields` is not given (the RET doc's example answer).
const LEAD_DEFAULT_FIELDS = ['created_time', 'id', 'ad_id', 'form_id', 'field_data'];

const FORM_NODE_FIELDS = new Set([
  'id',
  'name',
  'status',
  'locale',
  'questions',
  'page',
  'page_id',
  'created_time',
  'privacy_policy_url',
  'follow_up_action_url',
  'leads_count',
  'expired_leads_count',
  'organic_leads_count',
]);
const FORM_DEFAULT_FIELDS = ['id', 'locale', 'name', 'status'];

const DEFAULT_SCOPES = ['leads_retrieval', 'pages_manage_metadata', 'pages_show_list', 'pages_read_engagement', 'ads_management'];
const APP_NAME = 'LeadRelay test app';
/** Reading or changing a Page's subscribed_apps needs these on the Page token (LG; /reference/page/subscribed_apps). */
const SUBSCRIBED_APPS_SCOPES = ['pages_manage_metadata', 'pages_show_list'];
const DEFAULT_LEADS_PAGE_SIZE = 25;
const DEFAULT_ACCOUNTS_PAGE_SIZE = 25;
const DEFAULT_FORMS_PAGE_SIZE = 25;
/** What a Page admin with full control may do (`/me/accounts` → `tasks`). */
const FULL_CONTROL_TASKS = ['ADVERTISE', 'ANALYZE', 'CREATE_CONTENT', 'MESSAGING', 'MODERATE', 'MANAGE'];
/** Installing an app on a Page (`subscribed_apps`) needs one of these tasks. */
const INSTALL_TASKS = ['MANAGE', 'CREATE_CONTENT', 'MODERATE'];
/** A login code works once, for about 10 minutes. */
const LOGIN_CODE_TTL_MS = 10 * 60_000;
/** Short-lived user tokens last hours; long-lived ones about 60 days (the reference's example value). */
const SHORT_LIVED_TOKEN_SECONDS = 5_400;
const LONG_LIVED_TOKEN_SECONDS = 5_183_944;
const DEFAULT_LOGIN_USER_ID = '10000000000042';
const HANDSHAKE_TIMEOUT_MS = 5_000;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function encodeIndexCursor(index: number): string {
  return Buffer.from(`i:${index}`, 'utf8').toString('base64url');
}

function decodeIndexCursor(cursor: string): number | undefined {
  const m = /^i:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? Number(m[1]) : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `2026-11-20T10:15:00+0000`, Graph's created_time form. */
function formatGraphTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, '+0000');
}

function toDate(value: string | number | Date | undefined, fallbackMs: number): Date {
  if (value === undefined) return new Date(fallbackMs);
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value * 1000);
  const date = new Date(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  if (Number.isNaN(date.getTime())) throw new Error(`fake Graph: created_time "${value}" is not a date`);
  return date;
}

/** Splits `a,b{c,d},e` at top-level commas and keeps each base field name. */
function parseFieldsParam(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const names: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of value) {
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    if (ch === ',' && depth === 0) {
      names.push(current);
      current = '';
    } else current += ch;
  }
  names.push(current);
  return names.map((n) => n.replace(/[{.(].*$/s, '').trim()).filter((n) => n !== '');
}

function hmacHex(secret: string, message: string): string {
  return createHmac('sha256', secret).update(message).digest('hex');
}

function safeEqualHex(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

function encodeCursor(lead: StoredLead): string {
  return Buffer.from(JSON.stringify([lead.createdMs, lead.json.id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): [number, string] | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && typeof parsed[0] === 'number' && typeof parsed[1] === 'string') return [parsed[0], parsed[1]];
  } catch {
    // fall through
  }
  return undefined;
}

/** Newest first, then by id descending: Graph lists leads in reverse chronological order. */
function compareLeads(a: StoredLead, b: StoredLead): number {
  if (a.createdMs !== b.createdMs) return b.createdMs - a.createdMs;
  return a.json.id < b.json.id ? 1 : a.json.id > b.json.id ? -1 : 0;
}

function isAfterCursor(lead: StoredLead, cursor: [number, string]): boolean {
  const [ms, id] = cursor;
  return lead.createdMs < ms || (lead.createdMs === ms && lead.json.id < id);
}

interface StoredLead {
  json: Record<string, unknown> & { id: string };
  pageId: string | undefined;
  formId: string | undefined;
  createdMs: number;
  isTest: boolean;
}

interface StoredForm {
  json: Record<string, unknown> & { id: string };
  pageId: string | undefined;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Marks a request of a batch that Graph gave up on (answered as `null`). */
const BATCH_ITEM_TIMED_OUT: Record<string, unknown> = Object.freeze({});

function errorReply(fields: GraphErrorFields, status = 400): Reply {
  return { status, body: makeGraphErrorBody(fields) };
}

function nodeFieldError(field: string, nodeType: string): Reply {
  return errorReply({ message: `(#100) Tried accessing nonexisting field (${field}) on node type (${nodeType})`, type: 'OAuthException', code: 100 });
}

function pick(json: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (json[f] !== undefined) out[f] = json[f];
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function bodyParams(contentType: string | undefined, text: string): Record<string, string> {
  if (text === '') return {};
  if (contentType?.includes('application/json')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
      }
    } catch {
      return {};
    }
    return {};
  }
  return Object.fromEntries(new URLSearchParams(text));
}

// ---------------------------------------------------------------------------------------------
// The server

export async function startFakeGraph(opts: StartFakeGraphOptions): Promise<FakeGraph> {
  const version = opts.version ?? 'v25.0';
  const now = opts.now ?? Date.now;
  const requireProof = opts.requireAppsecretProof ?? true;
  const scopes = opts.scopes ?? DEFAULT_SCOPES;

  const leads = new Map<string, StoredLead>();
  const forms = new Map<string, StoredForm>();
  const pageNames = new Map<string, string>();
  const tokenToPage = new Map<string, string>();
  const pageToToken = new Map<string, string>();
  const userTokens = new Map<string, string>();
  const tokenScopes = new Map<string, string[]>();
  const installed = new Map<string, string[]>();
  const revoked = new Map<string, number>();
  const tokenExpiry = new Map<string, number>();
  /** 463 (expired) once the token's expiry has passed, else its revocation subcode, if any. */
  const deadSubcodeOf = (token: string): number | undefined => {
    const expiresAt = tokenExpiry.get(token);
    return revoked.get(token) ?? (expiresAt !== undefined && expiresAt * 1000 <= now() ? 463 : undefined);
  };
  const scripted = new Map<string, FakeResponse[]>();
  const throttled = new Map<string, FakeResponse>();
  const routes: { method: string; path: string | RegExp; handler: (req: FakeRouteRequest) => FakeResponse }[] = [];
  const calls: FakeCall[] = [];
  let nextGeneratedId = 900_000_000_000_001n;
  let baseUrl = '';

  // Facebook Login
  interface LoginPerson {
    id: string;
    name: string;
    pages: Required<FakeManagedPage>[];
    declined: string[];
  }
  /** What a login granted, kept for each user token it led to. */
  interface Grant {
    person: LoginPerson;
    granted: string[];
    declined: string[];
  }
  let loginPerson: LoginPerson | undefined;
  const codes = new Map<string, { grant: Grant; redirectUri: string; issuedMs: number; used: boolean }>();
  const userGrants = new Map<string, Grant>();
  /** Page tokens handed out through /me/accounts: whose they are and what that person may do on the Page. */
  const pageTokenOwners = new Map<string, { userId: string; tasks: string[] }>();
  /** Per user token: its Page tokens by Page id (a user token's Page tokens stay the same). */
  const userPageTokens = new Map<string, Map<string, string>>();
  const issuedByPage = new Map<string, string[]>();
  const leadAccess = new Map<string, { users: Set<string>; apps: Set<string> }>();
  const appSubscriptions = new Map<string, { callback_url: string; fields: string[]; active: boolean }>();
  const latency = opts.latencyMs ?? { min: 0, max: 0 };
  const appIdOf = () => opts.appId ?? '1234567890';

  function generateId(): string {
    return String(nextGeneratedId++);
  }

  function storeLead(input: FakeLeadInput, isTest: boolean): StoredLead {
    if (!input.id) throw new Error('fake Graph: a lead needs an id');
    const created = toDate(input.created_time, now());
    const formId = input.form_id;
    const pageId = input.page_id ?? (formId === undefined ? undefined : forms.get(formId)?.pageId);
    const json: StoredLead['json'] = {
      ...(input.extra ?? {}),
      id: input.id,
      created_time: formatGraphTime(created),
      field_data: (input.field_data ?? []).map((f) => ({ name: f.name, values: f.values ?? [] })),
      is_organic: input.is_organic ?? input.ad_id === undefined,
      platform: input.platform ?? 'fb',
    };
    if (formId !== undefined) json.form_id = formId;
    if (input.custom_disclaimer_responses) json.custom_disclaimer_responses = input.custom_disclaimer_responses;
    for (const key of ['ad_id', 'ad_name', 'adset_id', 'adset_name', 'campaign_id', 'campaign_name', 'partner_name'] as const) {
      if (input[key] !== undefined) json[key] = input[key];
    }
    const stored: StoredLead = { json, pageId, formId, createdMs: created.getTime(), isTest };
    leads.set(input.id, stored);
    return stored;
  }

  function isAppToken(token: string): boolean {
    const i = token.indexOf('|');
    if (i <= 0) return false;
    const appId = token.slice(0, i);
    return token.slice(i + 1) === opts.appSecret && (opts.appId === undefined || appId === opts.appId);
  }

  function checkProof(token: string, query: Record<string, string>): Reply | undefined {
    const proof = query.appsecret_proof;
    if (proof === undefined || proof === '') {
      if (!requireProof) return undefined;
      return errorReply({ message: 'API calls from the server require an appsecret_proof argument', type: 'GraphMethodException', code: 100 });
    }
    const invalid = errorReply({ message: 'Invalid appsecret_proof provided in the API argument', type: 'GraphMethodException', code: 100 });
    const time = query.appsecret_time;
    if (time !== undefined) {
      // Time-stamped form: HMAC(app_secret, `${token}|${time}`), valid for 5 minutes.
      if (!/^\d+$/.test(time)) return invalid;
      const ageSeconds = Math.abs(Math.floor(now() / 1000) - Number(time));
      if (ageSeconds > PROOF_MAX_AGE_SECONDS) return invalid;
      return safeEqualHex(proof, hmacHex(opts.appSecret, `${token}|${time}`)) ? undefined : invalid;
    }
    // Classic form: HMAC(app_secret, token).
    return safeEqualHex(proof, hmacHex(opts.appSecret, token)) ? undefined : invalid;
  }

  /** The 190 answer for a token that is not (or no longer) valid, or undefined when it is fine. */
  function checkToken(token: string): Reply | undefined {
    const subcode = deadSubcodeOf(token);
    if (subcode !== undefined) {
      return errorReply({
        message: TOKEN_SUBCODE_MESSAGES[subcode] ?? 'Error validating access token',
        type: 'OAuthException',
        code: 190,
        error_subcode: subcode,
      });
    }
    if (tokenToPage.has(token) || userTokens.has(token) || isAppToken(token)) return undefined;
    return errorReply({ message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190 });
  }

  /** Whether a Page token may read an object owned by `ownerPageId` (unowned objects are readable by any valid token). */
  function canRead(token: string, ownerPageId: string | undefined): boolean {
    if (isAppToken(token)) return false;
    return ownerPageId === undefined || tokenToPage.get(token) === ownerPageId;
  }

  function ownerOfForm(formId: string): { exists: boolean; pageId: string | undefined } {
    const form = forms.get(formId);
    if (form) return { exists: true, pageId: form.pageId };
    // A form nobody added explicitly still exists if leads point at it.
    for (const lead of leads.values()) if (lead.formId === formId) return { exists: true, pageId: lead.pageId };
    return { exists: false, pageId: undefined };
  }

  /** The lead's requested fields, or the error Graph gives for a field a lead does not have. */
  function selectLeadFields(lead: StoredLead, requested: string[] | undefined): { fields: Record<string, unknown> } | { error: Reply } {
    const fields = requested ?? LEAD_DEFAULT_FIELDS;
    for (const f of fields) if (!LEAD_NODE_FIELDS.has(f)) return { error: nodeFieldError(f, 'UserLeadGenInfo') };
    return { fields: pick(lead.json, fields) };
  }

  function debugTokenReply(query: Record<string, string>): Reply {
    const input = query.input_token;
    if (!input) return errorReply({ message: '(#100) The parameter input_token is required', type: 'OAuthException', code: 100 });
    const subcode = deadSubcodeOf(input);
    const pageId = tokenToPage.get(input);
    const appId = opts.appId ?? '1234567890';
    const granted = tokenScopes.get(input) ?? scopes;
    if (subcode !== undefined) {
      return {
        status: 200,
        body: {
          data: {
            app_id: appId,
            type: 'PAGE',
            application: APP_NAME,
            is_valid: false,
            expires_at: tokenExpiry.get(input) ?? 0,
            error: { code: 190, subcode, message: TOKEN_SUBCODE_MESSAGES[subcode] ?? 'Error validating access token' },
            scopes: [],
            ...(pageId === undefined ? {} : { profile_id: pageId }),
          },
        },
      };
    }
    if (pageId !== undefined) {
      const issued = Math.floor(now() / 1000) - 3600;
      return {
        status: 200,
        body: {
          data: {
            app_id: appId,
            type: 'PAGE',
            application: APP_NAME,
            data_access_expires_at: issued + 90 * 86_400,
            expires_at: tokenExpiry.get(input) ?? 0,
            is_valid: true,
            issued_at: issued,
            profile_id: pageId,
            scopes: granted,
            granular_scopes: granted.map((scope) => ({ scope, target_ids: [pageId] })),
            user_id: pageTokenOwners.get(input)?.userId ?? '10000000000001',
          },
        },
      };
    }
    const userId = userTokens.get(input);
    if (userId !== undefined) {
      // A long-lived user token: about 60 days.
      const issued = Math.floor(now() / 1000) - 3600;
      return {
        status: 200,
        body: {
          data: {
            app_id: appId,
            type: 'USER',
            application: APP_NAME,
            data_access_expires_at: issued + 90 * 86_400,
            expires_at: issued + 5_183_944,
            is_valid: true,
            issued_at: issued,
            scopes: granted,
            user_id: userId,
          },
        },
      };
    }
    return {
      status: 200,
      body: { data: { error: { code: 190, message: 'Invalid OAuth access token - Cannot parse access token' }, is_valid: false, scopes: [] } },
    };
  }

  function listLeadsReply(formId: string, query: Record<string, string>, onlyTest: boolean, path: string): Reply {
    let filtered = [...leads.values()].filter((l) => l.formId === formId && (!onlyTest || l.isTest));
    if (query.filtering !== undefined) {
      let filters: unknown;
      try {
        filters = JSON.parse(query.filtering);
      } catch {
        filters = undefined;
      }
      if (!Array.isArray(filters)) return errorReply({ message: '(#100) param filtering must be an array.', type: 'OAuthException', code: 100 });
      for (const f of filters as Record<string, unknown>[]) {
        if (f?.field !== 'time_created') continue;
        // Only Unix timestamps work; an ISO date is silently ignored by Graph.
        const raw = f.value;
        const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : undefined;
        if (value === undefined) continue;
        const op = f.operator;
        filtered = filtered.filter((l) => {
          const seconds = Math.floor(l.createdMs / 1000);
          if (op === 'GREATER_THAN') return seconds > value;
          if (op === 'GREATER_THAN_OR_EQUAL') return seconds >= value;
          if (op === 'LESS_THAN') return seconds < value;
          return true;
        });
      }
    }
    filtered.sort(compareLeads);
    if (query.after !== undefined) {
      const cursor = decodeCursor(query.after);
      if (!cursor) return errorReply({ message: '(#100) The after cursor is not valid', type: 'OAuthException', code: 100 });
      filtered = filtered.filter((l) => isAfterCursor(l, cursor));
    }
    const limitRaw = Number(query.limit);
    const limit = Number.isInteger(limitRaw) && limitRaw > 0 ? limitRaw : DEFAULT_LEADS_PAGE_SIZE;
    const pageItems = filtered.slice(0, limit);
    const data: Record<string, unknown>[] = [];
    for (const lead of pageItems) {
      const selected = selectLeadFields(lead, parseFieldsParam(query.fields));
      if ('error' in selected) return selected.error;
      data.push(selected.fields);
    }
    if (pageItems.length === 0) return { status: 200, body: { data: [] } };
    const first = pageItems[0];
    const last = pageItems[pageItems.length - 1];
    const paging: Record<string, unknown> = { cursors: { before: encodeCursor(first), after: encodeCursor(last) } };
    if (filtered.length > limit) {
      const next = new URLSearchParams(query);
      next.delete('appsecret_proof');
      next.delete('appsecret_time');
      next.delete('before');
      next.set('after', encodeCursor(last));
      paging.next = `${baseUrl}${path}?${next.toString()}`;
    }
    if (query.after !== undefined) {
      const previous = new URLSearchParams(query);
      previous.delete('appsecret_proof');
      previous.delete('appsecret_time');
      previous.delete('after');
      previous.set('before', encodeCursor(first));
      paging.previous = `${baseUrl}${path}?${previous.toString()}`;
    }
    return { status: 200, body: { data, paging } };
  }

  function listFormsReply(pageId: string, query: Record<string, string>, path: string): Reply {
    const fields = parseFieldsParam(query.fields) ?? FORM_DEFAULT_FIELDS;
    for (const f of fields) if (!FORM_NODE_FIELDS.has(f)) return nodeFieldError(f, 'LeadgenForm');
    const all = [...forms.values()].filter((f) => f.pageId === pageId).map((f) => pick(formJson(f), fields));
    return pagedReply(all, query, path, DEFAULT_FORMS_PAGE_SIZE);
  }

  /** One page of `items` after the `after` cursor, with Graph's `paging` (cursors, and `next` while more remain). */
  function pagedReply(items: unknown[], query: Record<string, string>, path: string, defaultLimit: number): Reply {
    let start = 0;
    if (query.after !== undefined) {
      const index = decodeIndexCursor(query.after);
      if (index === undefined) return errorReply({ message: '(#100) The after cursor is not valid', type: 'OAuthException', code: 100 });
      start = index + 1;
    }
    const limitRaw = Number(query.limit);
    const limit = Math.min(Number.isInteger(limitRaw) && limitRaw > 0 ? limitRaw : defaultLimit, opts.maxPageSize ?? Number.POSITIVE_INFINITY);
    const data = items.slice(start, start + limit);
    if (data.length === 0) return { status: 200, body: { data: [] } };
    const last = start + data.length - 1;
    const paging: Record<string, unknown> = { cursors: { before: encodeIndexCursor(start), after: encodeIndexCursor(last) } };
    const link = (cursor: [string, string]) => {
      const q = new URLSearchParams(query);
      for (const k of ['appsecret_proof', 'appsecret_time', 'before', 'after']) q.delete(k);
      q.set(...cursor);
      return `${baseUrl}${path}?${q.toString()}`;
    };
    if (last < items.length - 1) paging.next = link(['after', encodeIndexCursor(last)]);
    if (start > 0) paging.previous = link(['before', encodeIndexCursor(start)]);
    return { status: 200, body: { data, paging } };
  }

  // ---- Facebook Login -------------------------------------------------------------------------

  function htmlPage(title: string, body: string): string {
    return (
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
      `<title>${escapeHtml(title)}</title></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`
    );
  }

  function dialogError(message: string): { status: number; html: string } {
    return { status: 400, html: htmlPage('Facebook', `<p role="alert">${escapeHtml(message)}</p>`) };
  }

  /** The permissions a dialog request asks for: its configuration's, or its `scope`. */
  function requestedScopes(query: Record<string, string>): string[] | { error: string } {
    if (query.config_id !== undefined) {
      const configured = opts.loginConfigurations?.[query.config_id];
      if (!configured) return { error: 'This configuration is not available: the config_id does not belong to this app.' };
      return configured;
    }
    return (query.scope ?? '')
      .split(/[,\s]+/)
      .map((p) => p.trim())
      .filter((p) => p !== '');
  }

  /** What the dialog checks before it shows anything (Meta shows an error page instead of redirecting). */
  function checkDialogRequest(query: Record<string, string>): string | undefined {
    if (query.client_id !== appIdOf()) return 'Invalid App ID: the client_id is not a valid app.';
    if (!query.redirect_uri) return 'The parameter redirect_uri is required.';
    if (opts.redirectUris && !opts.redirectUris.includes(query.redirect_uri))
      return "URL blocked: This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.";
    if ((query.response_type ?? 'code') !== 'code') return 'This fake dialog supports response_type=code only.';
    if (!loginPerson) return 'Nobody is logged in to Facebook in this browser (fake: call setLoginUser first).';
    return undefined;
  }

  /** `GET /{version}/dialog/oauth`: the consent page, with Continue and Cancel as real buttons of a form. */
  function dialogPage(query: Record<string, string>): { status: number; html: string } {
    const problem = checkDialogRequest(query);
    if (problem) return dialogError(problem);
    const scopes = requestedScopes(query);
    if ('error' in scopes) return dialogError(scopes.error);
    const person = loginPerson as LoginPerson;
    const hidden = ['client_id', 'redirect_uri', 'state', 'scope', 'config_id', 'auth_type', 'response_type']
      .filter((k) => query[k] !== undefined)
      .map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(query[k] as string)}">`)
      .join('');
    const permissions = scopes.map((p) => `<li>${escapeHtml(p)}${person.declined.includes(p) ? ' <em>(you will not allow this)</em>' : ''}</li>`).join('');
    const pages = person.pages.map((p) => `<li>${escapeHtml(p.name)}</li>`).join('');
    const again = query.auth_type === 'rerequest' ? '<p>LeadRelay asks again for permissions you did not allow before.</p>' : '';
    const body =
      `<p>Logged in as ${escapeHtml(person.name)}.</p><p>${escapeHtml(APP_NAME)} would like to:</p><ul aria-label="Permissions">${permissions}</ul>` +
      `<p>On these Pages:</p><ul aria-label="Pages">${pages || '<li>(none)</li>'}</ul>${again}` +
      `<form method="post">${hidden}<button type="submit" name="decision" value="continue">Continue</button> ` +
      `<button type="submit" name="decision" value="cancel">Cancel</button></form>`;
    return { status: 200, html: htmlPage(`Connect ${APP_NAME} with Facebook`, body) };
  }

  /** `POST /{version}/dialog/oauth` (the form): back to redirect_uri with a code, or with Meta's denial parameters. */
  function dialogDecision(query: Record<string, string>): { location: string } | { status: number; html: string } {
    const problem = checkDialogRequest(query);
    if (problem) return dialogError(problem);
    const scopes = requestedScopes(query);
    if ('error' in scopes) return dialogError(scopes.error);
    const back = new URL(query.redirect_uri as string);
    if (query.decision !== 'continue') {
      back.searchParams.set('error', 'access_denied');
      back.searchParams.set('error_code', '200');
      back.searchParams.set('error_description', 'Permissions error');
      back.searchParams.set('error_reason', 'user_denied');
    } else {
      const person = loginPerson as LoginPerson;
      const declined = scopes.filter((p) => person.declined.includes(p));
      const granted = ['public_profile', ...scopes.filter((p) => !person.declined.includes(p) && p !== 'public_profile')];
      const code = `AQ${randomBytes(48).toString('base64url')}`;
      codes.set(code, { grant: { person, granted, declined }, redirectUri: query.redirect_uri as string, issuedMs: now(), used: false });
      back.searchParams.set('code', code);
    }
    if (query.state !== undefined) back.searchParams.set('state', query.state);
    return { location: back.toString() };
  }

  const oauthError = (message: string, code: number, subcode?: number): Reply =>
    errorReply({ message, type: 'OAuthException', code, ...(subcode === undefined ? {} : { error_subcode: subcode }) });

  /** A new user token for a grant: valid for the Graph calls below, with its own Page tokens. */
  function issueUserToken(grant: Grant): string {
    const token = `EAAU${randomBytes(24).toString('hex')}`;
    userTokens.set(token, grant.person.id);
    tokenScopes.set(token, grant.granted);
    userGrants.set(token, grant);
    const pageTokens = new Map<string, string>();
    for (const page of grant.person.pages) {
      const pageToken = `EAAP${randomBytes(24).toString('hex')}`;
      // Older Page tokens keep working: Meta does not revoke them when it hands out new ones.
      tokenToPage.set(pageToken, page.id);
      pageToToken.set(page.id, pageToken);
      pageNames.set(page.id, page.name);
      tokenScopes.set(pageToken, grant.granted);
      pageTokenOwners.set(pageToken, { userId: grant.person.id, tasks: page.tasks });
      issuedByPage.set(page.id, [...(issuedByPage.get(page.id) ?? []), pageToken]);
      pageTokens.set(page.id, pageToken);
    }
    userPageTokens.set(token, pageTokens);
    return token;
  }

  /** `GET /oauth/access_token`: a login code, or (fb_exchange_token) a short-lived user token, for a user token. */
  function accessTokenReply(query: Record<string, string>): Reply {
    if (query.client_id !== appIdOf()) return oauthError('Error validating application. Invalid application ID.', 101);
    if (query.client_secret !== opts.appSecret) return oauthError('Error validating client secret.', 1);
    if (query.grant_type === 'fb_exchange_token') {
      const grant = userGrants.get(query.fb_exchange_token ?? '');
      if (!grant || revoked.has(query.fb_exchange_token ?? '')) return oauthError('Invalid OAuth access token - Cannot parse access token', 190);
      return { status: 200, body: { access_token: issueUserToken(grant), token_type: 'bearer', expires_in: LONG_LIVED_TOKEN_SECONDS } };
    }
    if (!query.code) return oauthError('Missing authorization code', 100);
    const entry = codes.get(query.code);
    if (!entry) return oauthError('Invalid verification code format.', 100);
    if (entry.used) return oauthError('This authorization code has been used.', 100, 36009);
    if (now() - entry.issuedMs > LOGIN_CODE_TTL_MS) return oauthError('This authorization code has expired.', 100, 36007);
    if (query.redirect_uri !== entry.redirectUri)
      return oauthError(
        'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request',
        100,
        36008,
      );
    entry.used = true;
    return { status: 200, body: { access_token: issueUserToken(entry.grant), token_type: 'bearer', expires_in: SHORT_LIVED_TOKEN_SECONDS } };
  }

  /** `/me`, `/me/permissions` and `/me/accounts`. */
  function meReply(method: string, segments: string[], token: string, query: Record<string, string>, path: string): Reply {
    if (method !== 'GET' || segments.length > 2) return { status: 400, body: unsupportedRequestBody(method.toLowerCase(), 'me') };
    const pageId = tokenToPage.get(token);
    const userId = userTokens.get(token);
    const grant = userGrants.get(token);
    const edge = segments[1];
    if (edge === undefined) {
      const fields = parseFieldsParam(query.fields) ?? ['name', 'id'];
      if (pageId !== undefined) return { status: 200, body: pick({ id: pageId, name: pageNames.get(pageId) ?? `Page ${pageId}` }, fields) };
      if (userId !== undefined) return { status: 200, body: pick({ id: userId, name: grant?.person.name ?? 'Test User' }, fields) };
      return errorReply({ message: 'An active access token must be used to query information about the current user.', type: 'OAuthException', code: 2500 });
    }
    if (userId === undefined) {
      return errorReply({ message: `(#100) Tried accessing nonexisting field (${edge}) on node type (Page)`, type: 'OAuthException', code: 100 });
    }
    if (edge === 'permissions') {
      const granted = grant?.granted ?? tokenScopes.get(token) ?? ['public_profile'];
      const data = [
        ...granted.map((permission) => ({ permission, status: 'granted' })),
        ...(grant?.declined ?? []).map((permission) => ({ permission, status: 'declined' })),
      ];
      return { status: 200, body: { data } };
    }
    if (edge === 'accounts') {
      // Without pages_show_list the person's Pages cannot be listed.
      if (!grant?.granted.includes('pages_show_list')) return { status: 200, body: { data: [] } };
      const pageTokens = userPageTokens.get(token) ?? new Map<string, string>();
      const fields = parseFieldsParam(query.fields) ?? ['name', 'access_token', 'category', 'category_list', 'tasks', 'id'];
      const items = grant.person.pages.map((p) =>
        pick(
          {
            id: p.id,
            name: p.name,
            access_token: pageTokens.get(p.id),
            category: p.category,
            category_list: [{ id: '2500', name: p.category }],
            tasks: p.tasks,
          },
          fields,
        ),
      );
      return pagedReply(items, query, path, DEFAULT_ACCOUNTS_PAGE_SIZE);
    }
    return errorReply({ message: `(#100) Tried accessing nonexisting field (${edge}) on node type (User)`, type: 'OAuthException', code: 100 });
  }

  /** Whether the Page token's person may read the Page's leads under its Leads Access Manager (uncustomised: every admin). */
  function mayReadLeads(token: string, pageId: string | undefined): boolean {
    const custom = pageId === undefined ? undefined : leadAccess.get(pageId);
    const owner = pageTokenOwners.get(token);
    if (!custom || !owner) return true;
    return custom.users.has(owner.userId) && custom.apps.has(appIdOf());
  }

  /** `GET /{page-id}?fields=has_lead_access.user_id(U).app_id(A)`: needs leads_retrieval. */
  function leadAccessReply(pageId: string, token: string, rawFields: string): Reply {
    if (!canRead(token, pageId) && !userTokens.has(token)) return { status: 400, body: unsupportedRequestBody('get', pageId) };
    const granted = tokenScopes.get(token) ?? scopes;
    if (!granted.includes('leads_retrieval'))
      return errorReply({ message: '(#200) Requires leads_retrieval permission to manage the object', type: 'OAuthException', code: 200 });
    const userId = /user_id\((\d+)\)/.exec(rawFields)?.[1];
    if (!userId) return errorReply({ message: '(#100) The parameter user_id is required', type: 'OAuthException', code: 100 });
    const appId = /app_id\((\d+)\)/.exec(rawFields)?.[1];
    const custom = leadAccess.get(pageId);
    const userAllowed = !custom || custom.users.has(userId);
    const appAllowed = !custom || appId === undefined || custom.apps.has(appId);
    const admin = loginPerson?.id === userId && loginPerson.pages.some((p) => p.id === pageId && p.tasks.includes('MANAGE'));
    const canAccess = userAllowed && appAllowed;
    const hasLeadAccess: Record<string, unknown> = {
      app_has_leads_permission: appAllowed,
      can_access_lead: canAccess,
      enabled_lead_access_manager: custom !== undefined,
      is_page_admin: admin,
      page_id: pageId,
      user_has_leads_permission: userAllowed,
      user_id: userId,
    };
    if (!canAccess) {
      hasLeadAccess.failure_reason = userAllowed
        ? 'The app has not been assigned lead access for this Page.'
        : 'The user has not been assigned lead access for this Page.';
      hasLeadAccess.failure_resolution = 'Assign lead access in Business Settings > Integrations > Leads Access.';
    }
    return { status: 200, body: { has_lead_access: hasLeadAccess, id: pageId } };
  }

  /** `GET|POST|DELETE /{app-id}/subscriptions` with the app token; POST first verifies the callback like Meta does. */
  async function appSubscriptionsReply(method: string, token: string, query: Record<string, string>): Promise<Reply> {
    if (!isAppToken(token)) return errorReply({ message: '(#15) This method must be called with an app access_token.', type: 'OAuthException', code: 15 });
    if (method === 'GET') {
      const data = [...appSubscriptions.entries()].map(([object, s]) => ({
        object,
        callback_url: s.callback_url,
        active: s.active,
        fields: s.fields.map((name) => ({ name, version })),
      }));
      return { status: 200, body: { data } };
    }
    if (method === 'DELETE') {
      if (query.object) appSubscriptions.delete(query.object);
      else appSubscriptions.clear();
      return { status: 200, body: { success: true } };
    }
    if (method !== 'POST') return { status: 400, body: unsupportedRequestBody(method.toLowerCase(), appIdOf()) };
    for (const required of ['object', 'callback_url', 'fields']) {
      if (!query[required]) return errorReply({ message: `(#100) The parameter ${required} is required`, type: 'OAuthException', code: 100 });
    }
    const problem = await verifyCallback(query.callback_url as string, query.verify_token ?? '');
    if (problem) return errorReply({ message: `(#2200) callback verification failed: ${problem}`, type: 'OAuthException', code: 2200 });
    const fields = (query.fields as string)
      .replace(/^\[|\]$/g, '')
      .split(',')
      .map((f) => f.trim().replace(/^"|"$/g, ''))
      .filter((f) => f !== '');
    const existing = appSubscriptions.get(query.object as string);
    appSubscriptions.set(query.object as string, {
      callback_url: query.callback_url as string,
      fields: [...new Set([...(existing?.callback_url === query.callback_url ? existing.fields : []), ...fields])],
      active: true,
    });
    return { status: 200, body: { success: true } };
  }

  /** Meta's GET handshake: the callback must answer 200 with the challenge as its body. Returns what went wrong, if anything. */
  async function verifyCallback(callbackUrl: string, verifyToken: string): Promise<string | undefined> {
    const challenge = String(1_000_000_000 + Math.floor(Math.random() * 1_000_000_000));
    let url: URL;
    try {
      url = new URL(callbackUrl);
    } catch {
      return 'The URL could not be validated: it is not a valid URL.';
    }
    url.searchParams.set('hub.mode', 'subscribe');
    url.searchParams.set('hub.challenge', challenge);
    url.searchParams.set('hub.verify_token', verifyToken);
    try {
      const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS) });
      const text = (await res.text()).trim();
      if (res.status !== 200) return `Received HTTP code ${res.status} from ${callbackUrl}.`;
      if (text !== challenge)
        return `The URL couldn't be validated. Response does not match challenge, expected value="${challenge}", received="${text.slice(0, 40)}"`;
      return undefined;
    } catch {
      return `Couldn't connect to ${callbackUrl}.`;
    }
  }

  function formJson(form: StoredForm): Record<string, unknown> {
    const own = [...leads.values()].filter((l) => l.formId === form.json.id);
    return {
      ...form.json,
      leads_count: own.length,
      organic_leads_count: own.filter((l) => l.json.is_organic === true).length,
      expired_leads_count: 0,
      ...(form.pageId === undefined ? {} : { page: { id: form.pageId, name: pageNames.get(form.pageId) ?? `Page ${form.pageId}` } }),
    };
  }

  /** `GET|POST|DELETE /{page-id}/subscribed_apps`: only with that Page's token. */
  function subscribedAppsReply(method: string, pageId: string, token: string, params: Record<string, string>): Reply {
    if (isAppToken(token) || userTokens.has(token)) {
      return errorReply({ message: '(#210) A page access token is required to request this resource.', type: 'OAuthException', code: 210 });
    }
    if (!pageToToken.has(pageId) || !canRead(token, pageId)) return { status: 400, body: unsupportedRequestBody(method.toLowerCase(), pageId) };
    const granted = tokenScopes.get(token) ?? scopes;
    const lacking = SUBSCRIBED_APPS_SCOPES.find((scope) => !granted.includes(scope));
    if (lacking) return errorReply({ message: `(#200) Requires ${lacking} permission to manage the object`, type: 'OAuthException', code: 200 });
    const owner = pageTokenOwners.get(token);
    if (owner && !owner.tasks.some((t) => INSTALL_TASKS.includes(t))) {
      return errorReply({
        message: '(#200) The user needs the MANAGE, CREATE_CONTENT or MODERATE task on the Page to manage its apps',
        type: 'OAuthException',
        code: 200,
      });
    }
    const appId = opts.appId ?? '1234567890';
    if (method === 'GET') {
      const fields = installed.get(pageId);
      if (fields === undefined) return { status: 200, body: { data: [] } };
      return {
        status: 200,
        body: {
          data: [{ category: 'Business', link: `https://www.facebook.com/games/?app_id=${appId}`, name: APP_NAME, id: appId, subscribed_fields: fields }],
        },
      };
    }
    if (method === 'POST') {
      const raw = params.subscribed_fields;
      if (raw === undefined || raw.trim() === '')
        return errorReply({ message: '(#100) The parameter subscribed_fields is required.', type: 'OAuthException', code: 100 });
      let fields: string[];
      try {
        const parsed: unknown = JSON.parse(raw);
        fields = Array.isArray(parsed) ? parsed.map(String) : raw.split(',');
      } catch {
        fields = raw.split(',');
      }
      installed.set(pageId, [...new Set(fields.map((f) => f.trim()).filter((f) => f !== ''))]);
      return { status: 200, body: { success: true } };
    }
    if (method === 'DELETE') {
      installed.delete(pageId);
      return { status: 200, body: { success: true } };
    }
    return { status: 400, body: unsupportedRequestBody(method.toLowerCase(), pageId) };
  }

  function createTestLeadReply(formId: string, token: string, params: Record<string, string>): Reply {
    const owner = ownerOfForm(formId);
    if (!owner.exists || !canRead(token, owner.pageId)) return { status: 400, body: unsupportedRequestBody('post', formId) };
    if ([...leads.values()].some((l) => l.formId === formId && l.isTest)) {
      return errorReply({
        message: '(#100) A test lead already exists for this form. Delete it before creating another one.',
        type: 'OAuthException',
        code: 100,
      });
    }
    let fieldData: { name: string; values: string[] }[] | undefined;
    let consents: { checkbox_key: string; is_checked: string | boolean }[] | undefined;
    try {
      if (params.field_data !== undefined) fieldData = JSON.parse(params.field_data) as typeof fieldData;
      if (params.custom_disclaimer_responses !== undefined) consents = JSON.parse(params.custom_disclaimer_responses) as typeof consents;
    } catch {
      return errorReply({ message: '(#100) Invalid parameter', type: 'OAuthException', code: 100 });
    }
    // Questions left out get Meta's dummy answers.
    const questions = (forms.get(formId)?.json.questions as { key: string }[] | undefined) ?? [];
    const given = new Set((fieldData ?? []).map((f) => f.name));
    const answers = [
      ...(fieldData ?? []),
      ...questions.filter((q) => !given.has(q.key)).map((q) => ({ name: q.key, values: [`<test lead: dummy data for ${q.key}>`] })),
    ];
    const id = generateId();
    const created = storeLead(
      { id, form_id: formId, page_id: owner.pageId, field_data: answers, custom_disclaimer_responses: consents, is_organic: true },
      true,
    );
    opts.onTestLeadCreated?.({ leadgenId: id, formId, pageId: owner.pageId, createdTimeUnixSeconds: Math.floor(created.createdMs / 1000) });
    return { status: 200, body: { id } };
  }

  async function route(method: string, rest: string, path: string, query: Record<string, string>): Promise<Reply> {
    // Custom routes first: they model endpoints that do not take a Page token (OAuth...).
    for (const r of routes) {
      const matches = r.method === method && (typeof r.path === 'string' ? r.path === rest : r.path.test(rest));
      if (matches) return r.handler({ method, path: rest, query });
    }

    if (rest === '/oauth/access_token' && (method === 'GET' || method === 'POST')) return accessTokenReply(query);

    const token = query.access_token;
    if (token === undefined || token === '') {
      return errorReply({ message: 'An access token is required to request this resource.', type: 'OAuthException', code: 104 });
    }
    const tokenProblem = checkToken(token);
    if (tokenProblem) return tokenProblem;
    const proofProblem = checkProof(token, query);
    if (proofProblem) return proofProblem;

    const segments = rest.split('/').filter((s) => s !== '');
    if (method === 'GET' && segments.length === 1 && segments[0] === 'debug_token') return debugTokenReply(query);

    if (segments[0] === 'me') return meReply(method, segments, token, query, path);
    if (segments[0] === appIdOf() && segments[1] === 'subscriptions') return appSubscriptionsReply(method, token, query);

    const [id, edge] = segments;
    const lowerMethod = method.toLowerCase();
    const notFound = (): Reply => ({ status: 400, body: unsupportedRequestBody(lowerMethod, id ?? '') });
    if (id === undefined || segments.length > 2) return errorReply({ message: `Unknown path components: ${rest}`, type: 'OAuthException', code: 2500 });

    if (edge === undefined) {
      if (method === 'GET') {
        const lead = leads.get(id);
        if (lead) {
          if (!canRead(token, lead.pageId) || !mayReadLeads(token, lead.pageId)) return notFound();
          const selected = selectLeadFields(lead, parseFieldsParam(query.fields));
          return 'error' in selected ? selected.error : { status: 200, body: selected.fields };
        }
        const form = forms.get(id);
        if (form) {
          if (!canRead(token, form.pageId)) return notFound();
          const fields = parseFieldsParam(query.fields) ?? FORM_DEFAULT_FIELDS;
          for (const f of fields) if (!FORM_NODE_FIELDS.has(f)) return nodeFieldError(f, 'LeadgenForm');
          return { status: 200, body: pick(formJson(form), fields) };
        }
        if (pageToToken.has(id) && parseFieldsParam(query.fields)?.includes('has_lead_access')) return leadAccessReply(id, token, query.fields ?? '');
        // A Page's public fields: its own token, or any user token.
        if (pageToToken.has(id) && (canRead(token, id) || userTokens.has(token))) {
          const page = { id, name: pageNames.get(id) ?? `Page ${id}` };
          const fields = parseFieldsParam(query.fields) ?? ['name', 'id'];
          return { status: 200, body: pick(page, fields) };
        }
        return notFound();
      }
      if (method === 'DELETE') {
        const lead = leads.get(id);
        if (!lead?.isTest || !canRead(token, lead.pageId)) return notFound();
        leads.delete(id);
        return { status: 200, body: { success: true } };
      }
      return notFound();
    }

    if (edge === 'leads' && method === 'GET') {
      const owner = ownerOfForm(id);
      if (!owner.exists || !canRead(token, owner.pageId) || !mayReadLeads(token, owner.pageId)) return notFound();
      return listLeadsReply(id, query, false, path);
    }
    if (edge === 'test_leads') {
      if (method === 'GET') {
        const owner = ownerOfForm(id);
        if (!owner.exists || !canRead(token, owner.pageId)) return notFound();
        return listLeadsReply(id, query, true, path);
      }
      if (method === 'POST') return createTestLeadReply(id, token, query);
    }
    if (edge === 'subscribed_apps') return subscribedAppsReply(method, id, token, query);
    if (edge === 'leadgen_forms' && method === 'GET') {
      if (!pageToToken.has(id) || !canRead(token, id)) return notFound();
      return listFormsReply(id, query, path);
    }
    return errorReply({ message: `(#100) Tried accessing nonexisting field (${edge})`, type: 'OAuthException', code: 100 });
  }

  function send(res: ServerResponse, reply: Reply): void {
    const traceId = makeFbtraceId();
    const headers: Record<string, string> = {
      'x-fb-trace-id': traceId,
      'x-fb-rev': '1000000001',
      'facebook-api-version': version,
      ...(reply.headers ?? {}),
    };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    headers['content-type'] = 'application/json; charset=UTF-8';
    if (reply.status >= 400 && typeof reply.body === 'object' && reply.body !== null && 'error' in reply.body) {
      const error = (reply.body as { error: { code?: number } }).error;
      if (error.code === 190 || error.code === 104) headers['www-authenticate'] = 'OAuth "Facebook Platform" "invalid_token" "Error validating access token"';
    }
    res.writeHead(reply.status, headers);
    res.end(JSON.stringify(reply.body));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const text = await readBody(req);
    const query: Record<string, string> = { ...Object.fromEntries(url.searchParams), ...bodyParams(req.headers['content-type'], text) };
    calls.push({ method, path: url.pathname, query });

    const prefix = `/${version}/`;
    if (!url.pathname.startsWith(prefix)) {
      send(
        res,
        errorReply({ message: `Unknown path components: ${url.pathname} (this fake Graph API serves only ${version})`, type: 'OAuthException', code: 2500 }),
      );
      return;
    }
    const rest = url.pathname.slice(prefix.length - 1);
    if (latency.max > 0) await sleep(latency.min + Math.random() * (latency.max - latency.min));
    if (rest === '/dialog/oauth') {
      const page = method === 'POST' ? dialogDecision(query) : dialogPage(query);
      if ('location' in page) {
        res.writeHead(302, { location: page.location, 'cache-control': 'no-store' });
        res.end();
      } else {
        res.writeHead(page.status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(page.html);
      }
      return;
    }
    if (rest === '/' && method === 'POST') {
      send(res, await batchReply(query));
      return;
    }
    const override = scriptedReply(rest);
    if (override) {
      send(res, override.isTimedOut ? { status: override.status } : override);
      return;
    }
    send(res, await route(method, rest, url.pathname, query));
  }

  /** A scripted failure (`failNext`) or a lasting throttle for the request's first path segment. */
  function scriptedReply(rest: string): FakeResponse | undefined {
    const firstSegment = rest.split('/').filter((s) => s !== '')[0];
    if (firstSegment === undefined) return undefined;
    const queue = scripted.get(firstSegment);
    if (queue && queue.length > 0) {
      const next = queue.shift() as FakeResponse;
      if (queue.length === 0) scripted.delete(firstSegment);
      return next;
    }
    return throttled.get(firstSegment);
  }

  /**
   * `POST /` with `batch=[{method, relative_url, body?}, …]`: each request runs as if sent alone
   * (scripted failures and throttles included, each counted in `calls`), with the top-level
   * access_token and proof unless it names its own `access_token`. The answer lists
   * `{code, headers: [{name, value}], body: "<JSON text>"}` in request order (`null` for a request
   * that timed out); `include_headers=false` leaves the headers out.
   */
  async function batchReply(query: Record<string, string>): Promise<Reply> {
    const raw = query.batch;
    if (raw === undefined || raw.trim() === '') {
      return errorReply({ message: '(#100) The parameter batch is required', type: 'GraphBatchException', code: 100 });
    }
    let requests: unknown;
    try {
      requests = JSON.parse(raw);
    } catch {
      requests = undefined;
    }
    if (!Array.isArray(requests) || requests.length === 0) {
      return errorReply({ message: '(#100) The parameter batch must be a non-empty JSON array of requests', type: 'GraphBatchException', code: 100 });
    }
    if (requests.length > BATCH_MAX_REQUESTS) {
      // Meta's own answer: no error code, only the exception type.
      return {
        status: 400,
        body: { error: { message: 'Too many requests in batch message. Maximum batch size is 50', type: 'GraphBatchException', fbtrace_id: makeFbtraceId() } },
      };
    }
    const auth: Record<string, string> = {};
    for (const k of ['access_token', 'appsecret_proof', 'appsecret_time']) if (query[k] !== undefined) auth[k] = query[k] as string;
    // A top-level token is checked once for the whole batch: a dead one fails the call itself.
    if (auth.access_token !== undefined) {
      const problem = checkToken(auth.access_token) ?? checkProof(auth.access_token, auth);
      if (problem) return problem;
    }
    const items: Record<string, unknown>[] = [];
    for (const r of requests as unknown[]) {
      const request = r as { method?: unknown; relative_url?: unknown; body?: unknown } | null;
      if (typeof request?.method !== 'string' || typeof request.relative_url !== 'string') {
        return errorReply({ message: '(#100) Each request of the batch needs a method and a relative_url', type: 'GraphBatchException', code: 100 });
      }
      items.push(await batchItemReply(request.method.toUpperCase(), request.relative_url, request.body, auth));
    }
    const includeHeaders = query.include_headers !== 'false';
    return {
      status: 200,
      body: items.map((item) => (item === BATCH_ITEM_TIMED_OUT ? null : includeHeaders ? item : { code: item.code, body: item.body })),
    };
  }

  async function batchItemReply(method: string, relativeUrl: string, body: unknown, auth: Record<string, string>): Promise<Record<string, unknown>> {
    const [rawPath = '', search = ''] = relativeUrl.replace(/^\/+/, '').split('?', 2);
    // A relative_url may name the version again; the batch's own applies.
    const path = rawPath.replace(/^v\d+\.\d+\//, '');
    const own = Object.fromEntries(new URLSearchParams(search));
    const fromBody = typeof body === 'string' ? Object.fromEntries(new URLSearchParams(body)) : {};
    const params = { ...(own.access_token === undefined ? auth : {}), ...own, ...fromBody };
    const fullPath = `/${version}/${path}`;
    calls.push({ method, path: fullPath, query: params, isInBatch: true });
    const override = scriptedReply(`/${path}`);
    if (override?.isTimedOut) return BATCH_ITEM_TIMED_OUT;
    const reply = override ?? (await route(method, `/${path}`, fullPath, params));
    const headers = [
      { name: 'Content-Type', value: 'text/javascript; charset=UTF-8' },
      { name: 'Facebook-API-Version', value: version },
      ...Object.entries(reply.headers ?? {}).map(([name, value]) => ({ name, value })),
    ];
    return { code: reply.status, headers, body: reply.body === undefined ? '' : JSON.stringify(reply.body) };
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A bug in the fake: answer like Meta's own internal error so the test sees something.
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(makeGraphErrorBody({ message: `fake Graph failure: ${(err as Error).message}`, type: 'OAuthException', code: 1 })));
    });
  });
  // Connections are kept alive as graph.facebook.com keeps them (close() ends them all); a
  // connection per call would charge the program for TCP set-up Meta never asks of it.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    version,
    calls,
    httpCallCount() {
      return calls.filter((c) => !c.isInBatch).length;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
    addLead(lead) {
      storeLead(lead, false);
    },
    addForm(form) {
      if (!form.id) throw new Error('fake Graph: a form needs an id');
      const json: StoredForm['json'] = {
        id: form.id,
        name: form.name ?? `Form ${form.id}`,
        status: form.status ?? 'ACTIVE',
        locale: form.locale ?? 'en_US',
        created_time: formatGraphTime(toDate(form.created_time, now())),
        questions: (form.questions ?? []).map((q, i) => ({
          id: q.id ?? `${form.id}${String(i + 1).padStart(3, '0')}`,
          key: q.key,
          label: q.label ?? q.key,
          type: q.type ?? 'CUSTOM',
          ...(q.options ? { options: q.options } : {}),
        })),
      };
      if (form.page_id !== undefined) json.page_id = form.page_id;
      forms.set(form.id, { json, pageId: form.page_id });
    },
    setPageToken(pageId, token, pageName) {
      const old = pageToToken.get(pageId);
      if (old !== undefined) tokenToPage.delete(old);
      pageToToken.set(pageId, token);
      tokenToPage.set(token, pageId);
      revoked.delete(token);
      if (pageName !== undefined) pageNames.set(pageId, pageName);
    },
    setUserToken(token, userId = '10000000000002') {
      userTokens.set(token, userId);
      revoked.delete(token);
    },
    setTokenScopes(token, granted) {
      tokenScopes.set(token, [...granted]);
    },
    installApp(pageId, subscribedFields = ['leadgen']) {
      installed.set(pageId, [...subscribedFields]);
    },
    installedFields(pageId) {
      const fields = installed.get(pageId);
      return fields === undefined ? undefined : [...fields];
    },
    uninstallApp(pageId) {
      installed.delete(pageId);
    },
    setTokenExpiry(token, expiresAtUnixSeconds) {
      if (expiresAtUnixSeconds === null) tokenExpiry.delete(token);
      else tokenExpiry.set(token, expiresAtUnixSeconds);
    },
    revokeToken(token, subcode = 460) {
      revoked.set(token, subcode);
    },
    failNext(leadgenId, responses) {
      scripted.set(leadgenId, [...(scripted.get(leadgenId) ?? []), ...responses]);
    },
    setThrottled(id, response) {
      if (response === null) throttled.delete(id);
      else throttled.set(id, response);
    },
    addRoute(method, path, handler) {
      routes.push({ method: method.toUpperCase(), path, handler });
    },
    setLoginUser(user) {
      loginPerson = {
        id: user.id ?? DEFAULT_LOGIN_USER_ID,
        name: user.name ?? 'Test User',
        pages: user.pages.map((p) => ({
          id: p.id,
          name: p.name ?? `Page ${p.id}`,
          tasks: p.tasks ?? [...FULL_CONTROL_TASKS],
          category: p.category ?? 'Local business',
        })),
        declined: [...(user.declined ?? [])],
      };
    },
    setLeadAccess(pageId, access) {
      if (access === null) leadAccess.delete(pageId);
      else leadAccess.set(pageId, { users: new Set(access.users), apps: new Set(access.apps ?? [appIdOf()]) });
    },
    appSubscription(object = 'page') {
      const s = appSubscriptions.get(object);
      return s ? structuredClone(s) : undefined;
    },
    setAppSubscription(subscription) {
      if (subscription === null) appSubscriptions.clear();
      else
        appSubscriptions.set(subscription.object ?? 'page', {
          callback_url: subscription.callback_url,
          fields: subscription.fields ?? ['leadgen'],
          active: subscription.active ?? true,
        });
    },
    issuedPageTokens(pageId) {
      return [...(issuedByPage.get(pageId) ?? [])];
    },
    getLead(id) {
      const lead = leads.get(id);
      return lead ? structuredClone(lead.json) : undefined;
    },
  };
}
