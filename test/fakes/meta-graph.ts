// A loopback fake of the Meta Graph API, faithful enough for end-to-end tests of the real
// program: version-pinned paths, appsecret_proof checks (classic and time-stamped), Page
// tokens, Graph's real error shapes (HTTP 400 + {error:{message,type,code,error_subcode,
// fbtrace_id}}), `fields` selection, cursor paging with `filtering`, debug_token, the Page node,
// the Page's subscribed_apps edge and test leads.
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
}

interface FakeCall {
  method: string;
  /** Path with the version, without the query, e.g. `/v25.0/1234`. */
  path: string;
  /** Query parameters, plus form-body parameters for POSTs. Tokens appear here: it is a test fake. */
  query: Record<string, string>;
}

interface FakeRouteRequest {
  method: string;
  /** Path after the version, e.g. `/oauth/access_token`. */
  path: string;
  query: Record<string, string>;
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
  /** Kills a token: later calls get `{error:{code:190,error_subcode,...}}` with HTTP 400. Default subcode 460. */
  revokeToken(token: string, subcode?: number): void;
  /** The next requests touching this id (as the first path segment) get these responses, in order; then normal service. */
  failNext(leadgenId: string, responses: FakeResponse[]): void;
  /**
   * Adds a route the fake does not know (e.g. `/oauth/access_token`, `/me/accounts`).
   * Custom routes run after the version check and before token/proof checks.
   */
  addRoute(method: string, path: string | RegExp, handler: (req: FakeRouteRequest) => FakeResponse): void;
  /** Every request received, in order. */
  calls: FakeCall[];
  /** The stored lead (Graph shape), e.g. to read a test lead the program created. */
  getLead(id: string): Record<string, unknown> | undefined;
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
}

// ---------------------------------------------------------------------------------------------
// Real error shapes, for failNext and for the fake's own answers

const PROOF_MAX_AGE_SECONDS = 300;

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
  const scripted = new Map<string, FakeResponse[]>();
  const routes: { method: string; path: string | RegExp; handler: (req: FakeRouteRequest) => FakeResponse }[] = [];
  const calls: FakeCall[] = [];
  let nextGeneratedId = 900_000_000_000_001n;
  let baseUrl = '';

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
    const subcode = revoked.get(token);
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
    const subcode = revoked.get(input);
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
            expires_at: 0,
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
            expires_at: 0,
            is_valid: true,
            issued_at: issued,
            profile_id: pageId,
            scopes: granted,
            granular_scopes: granted.map((scope) => ({ scope, target_ids: [pageId] })),
            user_id: '10000000000001',
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

  function listFormsReply(pageId: string, query: Record<string, string>): Reply {
    const fields = parseFieldsParam(query.fields) ?? FORM_DEFAULT_FIELDS;
    for (const f of fields) if (!FORM_NODE_FIELDS.has(f)) return nodeFieldError(f, 'LeadgenForm');
    const data = [...forms.values()].filter((f) => f.pageId === pageId).map((f) => pick(formJson(f), fields));
    // Small fake: one page of results.
    return { status: 200, body: data.length === 0 ? { data: [] } : { data, paging: { cursors: { before: 'QVFIUmJlZm9yZQ', after: 'QVFIUmFmdGVy' } } } };
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

    const [id, edge] = segments;
    const lowerMethod = method.toLowerCase();
    const notFound = (): Reply => ({ status: 400, body: unsupportedRequestBody(lowerMethod, id ?? '') });
    if (id === undefined || segments.length > 2) return errorReply({ message: `Unknown path components: ${rest}`, type: 'OAuthException', code: 2500 });

    if (edge === undefined) {
      if (method === 'GET') {
        const lead = leads.get(id);
        if (lead) {
          if (!canRead(token, lead.pageId)) return notFound();
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
      if (!owner.exists || !canRead(token, owner.pageId)) return notFound();
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
      return listFormsReply(id, query);
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
    const firstSegment = rest.split('/').filter((s) => s !== '')[0];
    const queue = firstSegment === undefined ? undefined : scripted.get(firstSegment);
    if (queue && queue.length > 0) {
      const next = queue.shift() as FakeResponse;
      if (queue.length === 0) scripted.delete(firstSegment as string);
      send(res, next);
      return;
    }
    send(res, await route(method, rest, url.pathname, query));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A bug in the fake: answer like Meta's own internal error so the test sees something.
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(makeGraphErrorBody({ message: `fake Graph failure: ${(err as Error).message}`, type: 'OAuthException', code: 1 })));
    });
  });
  // Keep-alive sockets would hold close() open; the fake is short-lived.
  server.keepAliveTimeout = 1;
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
    revokeToken(token, subcode = 460) {
      revoked.set(token, subcode);
    },
    failNext(leadgenId, responses) {
      scripted.set(leadgenId, [...(scripted.get(leadgenId) ?? []), ...responses]);
    },
    addRoute(method, path, handler) {
      routes.push({ method: method.toUpperCase(), path, handler });
    },
    getLead(id) {
      const lead = leads.get(id);
      return lead ? structuredClone(lead.json) : undefined;
    },
  };
}
