// The Meta Graph API client: leads, forms, test leads, Pages and token checks.
// - Every call is pinned to one version (`/{version}/...`) and carries `access_token`,
//   `appsecret_proof` and `appsecret_time`.
// - Only transient failures are retried here (codes 1/2, HTTP 5xx, network); throttles are
//   surfaced with a wait, because Meta says retrying a throttled call extends the block.
// - Every failure is a GraphError whose message never contains the token or the proof.
// Lead retrieval: https://developers.facebook.com/documentation/ads-commerce/marketing-api/guides/lead-ads/retrieving
import { createHmac } from 'node:crypto';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import pRetry from 'p-retry';
import type { z } from 'zod';
import { networkCodeOf } from '../util/classify.js';
import { classifyGraphError, GraphError, isTransientGraphError } from './graph-errors.js';
import {
  GRAPH_ACCOUNT_FIELDS,
  GRAPH_FORM_FIELDS,
  GRAPH_FORM_LIST_FIELDS,
  GRAPH_FORM_SUMMARY_FIELDS,
  GRAPH_LEAD_FIELDS,
  GRAPH_PAGE_FIELDS,
  graphAccessTokenSchema,
  graphAccountPageSchema,
  graphAppSubscriptionPageSchema,
  graphCreatedSchema,
  graphDebugTokenSchema,
  graphFormSchema,
  graphFormSummaryPageSchema,
  graphLeadPageSchema,
  graphLeadAccessSchema,
  graphLeadSchema,
  graphMeSchema,
  graphPageSchema,
  graphPermissionPageSchema,
  graphSubscribedAppPageSchema,
  graphSuccessSchema,
  parseGraphJson,
  type GraphAccessToken,
  type GraphAccount,
  type GraphAppSubscription,
  type GraphForm,
  type GraphFormSummary,
  type GraphLead,
  type GraphLeadAccess,
  type GraphMe,
  type GraphPage,
  type GraphPermission,
  type GraphPaging,
  type GraphSubscribedApp,
  type GraphTokenDebug,
} from './graph-types.js';

export interface GraphClientOptions {
  /** Base URL, e.g. `https://graph.facebook.com` (a loopback fake in tests). */
  graphUrl: string;
  /** Pinned Graph version, e.g. `v25.0`. */
  version: string;
  appSecret: string;
  /** Needed only for `debugToken` (the app token is `${appId}|${appSecret}`). */
  appId?: string;
  /** Per-request timeout. */
  timeoutMs: number;
  /** How many times a transient failure is retried (0 = try once). */
  retries: number;
  /** Delay before the first retry; doubles each time, with jitter. */
  retryMinDelayMs: number;
  /** Clock for `appsecret_time`; defaults to `Date.now`. */
  now?: () => number;
}

interface ListFormLeadsOptions {
  /** Only leads created strictly after this Unix time (seconds). */
  sinceUnixSeconds?: number;
  /** Only leads created strictly before this Unix time (seconds). */
  untilUnixSeconds?: number;
  /** Page size (`limit`); default 100. */
  pageSize?: number;
  /** The lead fields to ask for; default every field (GRAPH_LEAD_FIELDS). Fields left out come back empty. */
  fields?: readonly string[];
}

interface TestLeadInput {
  /** Answers; Meta fills dummy values for questions left out. */
  fieldData?: { name: string; values: string[] }[];
  consents?: { key: string; checked: boolean }[];
}

export interface GraphClient {
  /** `GET /{leadgen_id}` with every lead field requested explicitly. */
  getLead(leadgenId: string, pageToken: string): Promise<GraphLead>;
  /**
   * Up to GRAPH_BATCH_MAX leads of one Page token in one Graph batch (`POST /` with `batch=[…]`),
   * each asked for the same fields as `getLead`. Never rejects for a Graph failure: every lead gets
   * its own result, in the order asked, and a failed item (or a whole batch refused) is a GraphError
   * of that lead. Transient item failures (code 1/2, 5xx, a `null` item that timed out) are sent
   * again, only they, like a single read's retries.
   */
  getLeads(leadgenIds: readonly string[], pageToken: string): Promise<GraphLeadRead[]>;
  /** `GET /{form_id}` with its questions. */
  getForm(formId: string, token: string): Promise<GraphForm>;
  /** `GET /{form_id}/leads`, newest first, following `paging.cursors.after` until `paging.next` is absent. */
  listFormLeads(formId: string, token: string, opts?: ListFormLeadsOptions): AsyncGenerator<GraphLead>;
  /** `GET /{page_id}/leadgen_forms`, every page of results. */
  listPageForms(pageId: string, pageToken: string): AsyncGenerator<GraphFormSummary>;
  /** `GET /debug_token` with the app token. Requires `appId`. */
  debugToken(inputToken: string): Promise<GraphTokenDebug>;
  /** `GET /{page_id}?fields=id,name` with the Page token. */
  getPage(pageId: string, pageToken: string): Promise<GraphPage>;
  /** `GET /{page_id}/subscribed_apps`: the apps installed on the Page (every page of results). */
  listSubscribedApps(pageId: string, pageToken: string): Promise<GraphSubscribedApp[]>;
  /** `POST /{form_id}/test_leads` (one test lead per form; delete the old one first). Not retried. */
  createTestLead(formId: string, pageToken: string, input?: TestLeadInput): Promise<{ id: string }>;
  /** `GET /{form_id}/test_leads`. */
  listTestLeads(formId: string, pageToken: string): Promise<GraphLead[]>;
  /** `DELETE /{lead_id}`: removes a test lead (only its creator can). Not retried. */
  deleteTestLead(leadId: string, pageToken: string): Promise<void>;
  /** `GET /{page_id}/leadgen_forms` with each form's questions, every page of results. */
  listPageFormsWithQuestions(pageId: string, pageToken: string): AsyncGenerator<GraphFormSummary>;
  /**
   * `GET /oauth/access_token`: a Facebook Login code for a user token (`redirectUri` exactly as in
   * the dialog). Sent once, never retried: a code works once. Requires `appId`.
   */
  exchangeLoginCode(input: { code: string; redirectUri: string }): Promise<GraphAccessToken>;
  /** `GET /oauth/access_token?grant_type=fb_exchange_token`: a long-lived (~60 days) user token for a short-lived one. Requires `appId`. */
  exchangeForLongLivedToken(userToken: string): Promise<GraphAccessToken>;
  /** `GET /me?fields=id,name` with a user token. */
  getMe(userToken: string): Promise<GraphMe>;
  /** `GET /me/permissions`: what the person granted, declined, or let expire. */
  listPermissions(userToken: string): Promise<GraphPermission[]>;
  /** `GET /me/accounts`: the Pages the person manages, with their Page tokens and tasks, following the cursors. */
  listAccounts(userToken: string, opts?: { pageSize?: number }): AsyncGenerator<GraphAccount>;
  /** `POST /{page_id}/subscribed_apps?subscribed_fields=…` with the Page token: installs our app on the Page. Not retried. */
  subscribePageToApp(pageId: string, pageToken: string, fields: string[]): Promise<void>;
  /** `DELETE /{page_id}/subscribed_apps` with the Page token: uninstalls our app from the Page (no more webhooks for it). */
  unsubscribePageFromApp(pageId: string, pageToken: string): Promise<void>;
  /** `GET /{page_id}?fields=has_lead_access.user_id(U).app_id(A)` with the Page token (needs leads_retrieval). Requires `appId`. */
  getLeadAccess(pageId: string, pageToken: string, userId: string): Promise<GraphLeadAccess>;
  /** `GET /{app_id}/subscriptions` with the app token. Requires `appId`. */
  listAppSubscriptions(): Promise<GraphAppSubscription[]>;
  /**
   * `POST /{app_id}/subscriptions` with the app token: Meta then calls `callbackUrl` with the
   * verification handshake before it answers. Not retried. Requires `appId`.
   */
  subscribeApp(input: { object: string; callbackUrl: string; fields: string[]; verifyToken: string; includeValues: boolean }): Promise<void>;
}

/** One lead of a batch read: the lead, or why it could not be read. */
export type GraphLeadRead = { leadgenId: string; lead: GraphLead; error?: undefined } | { leadgenId: string; lead?: undefined; error: GraphError };

/**
 * Graph runs at most 50 requests per batch; each still counts against the rate limits.
 * https://developers.facebook.com/docs/graph-api/batch-requests
 */
export const GRAPH_BATCH_MAX = 50;

/**
 * `appsecret_proof` in its current, time-stamped form: lowercase hex
 * HMAC-SHA256(key = app secret, message = `${accessToken}|${unixSeconds}`), sent together with
 * `appsecret_time=unixSeconds`. We use this form rather than the classic HMAC of the token
 * alone because a time-stamped proof is only accepted for 5 minutes, so a leaked URL is not a
 * lasting credential; it is therefore computed afresh for every request.
 * https://developers.facebook.com/docs/facebook-login/security#proof
 */
function computeAppsecretProof(accessToken: string, appSecret: string, unixSeconds: number): string {
  return createHmac('sha256', appSecret).update(`${accessToken}|${unixSeconds}`).digest('hex');
}

// Graph ids are digits; test and sample ids too. Rejecting anything else keeps a bad id from
// turning into a different path (`../`, `?`), and is reported without calling Meta.
const GRAPH_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const DEFAULT_PAGE_SIZE = 100;

type Params = Record<string, string>;
type Method = 'GET' | 'POST' | 'DELETE';

function assertGraphId(kind: string, id: string): void {
  if (typeof id !== 'string' || !GRAPH_ID_PATTERN.test(id)) {
    throw new GraphError({ category: 'invalid_request', reason: `invalid_${kind}`, message: `${kind} is not a Graph object id` });
  }
}

function assertToken(token: string): void {
  if (typeof token !== 'string' || token.trim() === '') {
    throw new GraphError({ category: 'token_dead', reason: 'access_token_missing', message: 'no access token was given for the Graph call' });
  }
}

function parseOrThrow<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  // Only paths of the failing members: values may be lead answers (personal data).
  const where = parsed.error.issues
    .slice(0, 3)
    .map((issue) => issue.path.join('.') || '(root)')
    .join(', ');
  throw new GraphError({ category: 'unknown', reason: 'graph_response_invalid', message: `the ${what} response did not have the expected shape at ${where}` });
}

function headersToRecord(response: AxiosResponse): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  const raw = response.headers as unknown as { toJSON?: () => Record<string, unknown> } & Record<string, unknown>;
  const source = typeof raw.toJSON === 'function' ? raw.toJSON() : raw;
  for (const [name, value] of Object.entries(source)) {
    if (typeof value === 'string' || Array.isArray(value)) out[name] = value as string | string[];
    else if (typeof value === 'number') out[name] = String(value);
  }
  return out;
}

function hasErrorMember(body: unknown): boolean {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && 'error' in body;
}

export function createGraphClient(opts: GraphClientOptions): GraphClient {
  if (!/^v\d+\.\d+$/.test(opts.version)) throw new Error(`Graph version "${opts.version}" must look like v25.0`);
  // Without an app secret no call can carry appsecret_proof. The program still starts (a
  // newcomer's first `npm start`; the webhook refuses unsigned traffic anyway), and each call
  // fails with a clear reason instead.
  const now = opts.now ?? Date.now;
  const http: AxiosInstance = axios.create({
    baseURL: opts.graphUrl.replace(/\/+$/, ''),
    timeout: opts.timeoutMs,
    adapter: 'http',
    // Bodies are parsed by parseGraphJson (keeps big integer ids exact); statuses are judged here.
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    validateStatus: () => true,
    maxRedirects: 0,
    // Timeouts surface as ETIMEDOUT instead of the ambiguous ECONNABORTED.
    transitional: { clarifyTimeoutError: true },
    headers: { Accept: 'application/json' },
  });

  /** One call; `token` null: a call that carries no access token (the OAuth token exchange authenticates with the app secret). */
  async function sendOnce(method: Method, path: string, token: string | null, params: Params): Promise<unknown> {
    const unixSeconds = Math.floor(now() / 1000);
    const all: Params =
      token === null
        ? params
        : {
            ...params,
            access_token: token,
            appsecret_proof: computeAppsecretProof(token, opts.appSecret, unixSeconds),
            appsecret_time: String(unixSeconds),
          };
    const url = `/${opts.version}/${path}`;
    let response: AxiosResponse<string>;
    try {
      response =
        method === 'POST'
          ? await http.request({
              method,
              url,
              data: new URLSearchParams(all).toString(),
              headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            })
          : await http.request({ method, url, params: all });
    } catch (err) {
      // No response (reset, refused, DNS, timeout). The axios error holds the URL with the
      // token, so it is deliberately not attached as the cause.
      throw new GraphError(classifyGraphError({ networkCode: networkCodeOf(err) ?? '' }));
    }

    const text = typeof response.data === 'string' ? response.data : '';
    let body: unknown;
    let isJson = true;
    try {
      body = text === '' ? undefined : parseGraphJson(text);
    } catch {
      isJson = false;
    }
    const isOk = response.status >= 200 && response.status < 300;
    if (isOk && isJson && body !== undefined && !hasErrorMember(body)) return body;
    if (isOk && !hasErrorMember(body)) {
      throw new GraphError({
        category: 'unknown',
        reason: 'graph_response_not_json',
        httpStatus: response.status,
        message: 'the Graph API answered with a body that is not JSON',
      });
    }
    throw new GraphError(classifyGraphError({ httpStatus: response.status, body: isJson ? body : text, headers: headersToRecord(response), nowMs: now() }));
  }

  function request(method: Method, path: string, token: string, params: Params = {}): Promise<unknown> {
    if (!opts.appSecret) {
      return Promise.reject(
        new GraphError({
          category: 'unknown',
          reason: 'meta_app_secret_missing',
          message: 'META_APP_SECRET is not set, so no Graph call can carry appsecret_proof',
        }),
      );
    }
    assertToken(token);
    // Writes are not retried: a timeout after Meta accepted a POST would otherwise repeat it.
    const retries = method === 'GET' ? Math.max(0, opts.retries) : 0;
    return pRetry(() => sendOnce(method, path, token, params), {
      retries,
      minTimeout: opts.retryMinDelayMs,
      factor: 2,
      randomize: opts.retryMinDelayMs > 0,
      shouldRetry: ({ error }) => isTransientGraphError(error),
    });
  }

  function requireAppId(what: string): string {
    if (!opts.appId)
      throw new GraphError({ category: 'invalid_request', reason: 'meta_app_id_missing', message: `${what} needs the Meta app id (META_APP_ID)` });
    if (!opts.appSecret)
      throw new GraphError({ category: 'invalid_request', reason: 'meta_app_secret_missing', message: `${what} needs the Meta app secret (META_APP_SECRET)` });
    return opts.appId;
  }

  const appToken = () => `${opts.appId}|${opts.appSecret}`;

  /** `GET /oauth/access_token`: authenticated by client_id and client_secret, sent once. */
  async function requestAccessToken(params: Params): Promise<GraphAccessToken> {
    const appId = requireAppId('the token exchange');
    const body = await sendOnce('GET', 'oauth/access_token', null, { client_id: appId, client_secret: opts.appSecret, ...params });
    return parseOrThrow(graphAccessTokenSchema, body, 'access token');
  }

  function expectSuccess(body: unknown, what: string): void {
    const result = parseOrThrow(graphSuccessSchema, body, what);
    if (!result.success) throw new GraphError({ category: 'unknown', reason: 'graph_success_false', message: `Graph did not confirm the ${what}` });
  }

  /** Follows `paging.cursors.after` until Graph stops sending `paging.next`. */
  async function* paginate<T>(
    path: string,
    token: string,
    params: Params,
    readPage: (body: unknown) => { data: T[]; paging?: GraphPaging },
  ): AsyncGenerator<T> {
    const seenCursors = new Set<string>();
    let after: string | undefined;
    for (;;) {
      const body = await request('GET', path, token, after === undefined ? params : { ...params, after });
      const page = readPage(body);
      for (const item of page.data) yield item;
      if (!page.paging?.next) return;
      const cursor = page.paging.cursors?.after;
      if (!cursor) {
        throw new GraphError({ category: 'unknown', reason: 'graph_paging_cursor_missing', message: 'Graph sent paging.next without paging.cursors.after' });
      }
      if (seenCursors.has(cursor)) {
        throw new GraphError({ category: 'unknown', reason: 'graph_paging_cursor_repeated', message: 'Graph sent the same paging cursor twice' });
      }
      seenCursors.add(cursor);
      after = cursor;
    }
  }

  /**
   * One answer of a batch: `{code, headers: [{name, value}], body: "<JSON as a string>"}`, or
   * `null` when Graph gave up on that request (it timed out); read like a single call's answer.
   */
  function readBatchItem(item: unknown, leadgenId: string): GraphLeadRead {
    const fail = (info: ConstructorParameters<typeof GraphError>[0]): GraphLeadRead => ({ leadgenId, error: new GraphError(info) });
    if (item === null) {
      return fail({ category: 'transient', reason: 'graph_batch_item_timeout', message: 'Graph gave no answer to this request of the batch (it timed out)' });
    }
    const answer = item as { code?: unknown; headers?: unknown; body?: unknown };
    if (typeof item !== 'object' || typeof answer.code !== 'number') {
      return fail({ category: 'unknown', reason: 'graph_batch_item_invalid', message: 'an answer of the Graph batch had no status code' });
    }
    const headers: Record<string, string> = {};
    if (Array.isArray(answer.headers)) {
      for (const h of answer.headers as { name?: unknown; value?: unknown }[]) {
        if (typeof h?.name === 'string' && typeof h.value === 'string') headers[h.name.toLowerCase()] = h.value;
      }
    }
    const text = typeof answer.body === 'string' ? answer.body : '';
    let body: unknown;
    let isJson = true;
    try {
      body = text === '' ? undefined : parseGraphJson(text);
    } catch {
      isJson = false;
    }
    const isOk = answer.code >= 200 && answer.code < 300;
    if (isOk && isJson && body !== undefined && !hasErrorMember(body)) {
      try {
        const lead = parseOrThrow(graphLeadSchema, body, 'lead');
        if (lead.id !== leadgenId) {
          return fail({ category: 'unknown', reason: 'graph_batch_item_mismatch', message: 'an answer of the Graph batch was for another lead than asked' });
        }
        return { leadgenId, lead };
      } catch (err) {
        if (err instanceof GraphError) return { leadgenId, error: err };
        throw err;
      }
    }
    if (isOk && !hasErrorMember(body)) {
      return fail({
        category: 'unknown',
        reason: 'graph_response_not_json',
        httpStatus: answer.code,
        message: 'the Graph API answered with a body that is not JSON',
      });
    }
    return { leadgenId, error: new GraphError(classifyGraphError({ httpStatus: answer.code, body: isJson ? body : text, headers, nowMs: now() })) };
  }

  /**
   * One `POST /` carrying a GET per lead. The batch only reads, so a transient failure of the
   * whole call is retried like a GET. The access token and proof are the call's own (top level).
   */
  async function sendLeadBatch(leadgenIds: readonly string[], token: string): Promise<unknown[]> {
    const fields = GRAPH_LEAD_FIELDS.join(',');
    const batch = JSON.stringify(leadgenIds.map((id) => ({ method: 'GET', relative_url: `${id}?fields=${fields}` })));
    const params: Params = { batch, include_headers: 'true' };
    const body = await pRetry(() => sendOnce('POST', '', token, params), {
      retries: Math.max(0, opts.retries),
      minTimeout: opts.retryMinDelayMs,
      factor: 2,
      randomize: opts.retryMinDelayMs > 0,
      shouldRetry: ({ error }) => isTransientGraphError(error),
    });
    if (!Array.isArray(body) || body.length !== leadgenIds.length) {
      throw new GraphError({
        category: 'unknown',
        reason: 'graph_batch_response_invalid',
        message: `the Graph batch answer was not a list of ${leadgenIds.length} answers`,
      });
    }
    return body;
  }

  function waitBeforeRetry(round: number): Promise<void> {
    const base = opts.retryMinDelayMs * 2 ** round;
    const ms = opts.retryMinDelayMs > 0 ? base * (1 + Math.random()) : 0;
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  return {
    async getLead(leadgenId, pageToken) {
      assertGraphId('leadgen_id', leadgenId);
      const body = await request('GET', leadgenId, pageToken, { fields: GRAPH_LEAD_FIELDS.join(',') });
      return parseOrThrow(graphLeadSchema, body, 'lead');
    },

    async getLeads(leadgenIds, pageToken) {
      if (leadgenIds.length > GRAPH_BATCH_MAX) {
        throw new GraphError({
          category: 'invalid_request',
          reason: 'graph_batch_too_large',
          message: `a Graph batch takes at most ${GRAPH_BATCH_MAX} requests, not ${leadgenIds.length}`,
        });
      }
      const results: (GraphLeadRead | undefined)[] = leadgenIds.map((leadgenId) => {
        try {
          assertGraphId('leadgen_id', leadgenId);
          return undefined;
        } catch (err) {
          return { leadgenId, error: err as GraphError };
        }
      });
      let todo = leadgenIds.flatMap((_, i) => (results[i] === undefined ? [i] : []));
      for (let round = 0; todo.length > 0; round++) {
        let answers: unknown[];
        try {
          if (!opts.appSecret) {
            throw new GraphError({
              category: 'unknown',
              reason: 'meta_app_secret_missing',
              message: 'META_APP_SECRET is not set, so no Graph call can carry appsecret_proof',
            });
          }
          assertToken(pageToken);
          answers = await sendLeadBatch(
            todo.map((i) => leadgenIds[i]),
            pageToken,
          );
        } catch (err) {
          // The whole call failed (token, throttle, outage past the retries): each lead has that error.
          if (!(err instanceof GraphError)) throw err;
          for (const i of todo) results[i] = { leadgenId: leadgenIds[i], error: err };
          break;
        }
        const again: number[] = [];
        todo.forEach((i, k) => {
          const read = readBatchItem(answers[k], leadgenIds[i]);
          // As for a single read: only transient failures are asked again, and only those items.
          if (read.error && isTransientGraphError(read.error) && round < opts.retries) again.push(i);
          else results[i] = read;
        });
        if (again.length > 0) await waitBeforeRetry(round);
        todo = again;
      }
      return results as GraphLeadRead[];
    },

    async getForm(formId, token) {
      assertGraphId('form_id', formId);
      const body = await request('GET', formId, token, { fields: GRAPH_FORM_FIELDS.join(',') });
      return parseOrThrow(graphFormSchema, body, 'form');
    },

    listFormLeads(formId, token, listOpts = {}) {
      assertGraphId('form_id', formId);
      const pageSize = Math.max(1, Math.floor(listOpts.pageSize ?? DEFAULT_PAGE_SIZE));
      const params: Params = { fields: (listOpts.fields ?? GRAPH_LEAD_FIELDS).join(','), limit: String(pageSize) };
      // Values must be Unix seconds: Graph silently ignores ISO dates here.
      const filtering: { field: 'time_created'; operator: 'GREATER_THAN' | 'LESS_THAN'; value: number }[] = [];
      if (listOpts.sinceUnixSeconds !== undefined)
        filtering.push({ field: 'time_created', operator: 'GREATER_THAN', value: Math.floor(listOpts.sinceUnixSeconds) });
      if (listOpts.untilUnixSeconds !== undefined)
        filtering.push({ field: 'time_created', operator: 'LESS_THAN', value: Math.ceil(listOpts.untilUnixSeconds) });
      if (filtering.length > 0) params.filtering = JSON.stringify(filtering);
      return paginate(`${formId}/leads`, token, params, (body) => parseOrThrow(graphLeadPageSchema, body, 'form leads'));
    },

    listPageForms(pageId, pageToken) {
      assertGraphId('page_id', pageId);
      const params: Params = { fields: GRAPH_FORM_SUMMARY_FIELDS.join(','), limit: String(DEFAULT_PAGE_SIZE) };
      return paginate(`${pageId}/leadgen_forms`, pageToken, params, (body) => parseOrThrow(graphFormSummaryPageSchema, body, 'page forms'));
    },

    async debugToken(inputToken) {
      if (!opts.appId) {
        throw new GraphError({ category: 'invalid_request', reason: 'meta_app_id_missing', message: 'debug_token needs the Meta app id (META_APP_ID)' });
      }
      assertToken(inputToken);
      const body = await request('GET', 'debug_token', `${opts.appId}|${opts.appSecret}`, { input_token: inputToken });
      return parseOrThrow(graphDebugTokenSchema, body, 'debug_token');
    },

    async getPage(pageId, pageToken) {
      assertGraphId('page_id', pageId);
      const body = await request('GET', pageId, pageToken, { fields: GRAPH_PAGE_FIELDS.join(',') });
      return parseOrThrow(graphPageSchema, body, 'page');
    },

    async listSubscribedApps(pageId, pageToken) {
      assertGraphId('page_id', pageId);
      const apps: GraphSubscribedApp[] = [];
      for await (const app of paginate(`${pageId}/subscribed_apps`, pageToken, {}, (body) =>
        parseOrThrow(graphSubscribedAppPageSchema, body, 'subscribed apps'),
      )) {
        apps.push(app);
      }
      return apps;
    },

    async createTestLead(formId, pageToken, input = {}) {
      assertGraphId('form_id', formId);
      const params: Params = {};
      if (input.fieldData) params.field_data = JSON.stringify(input.fieldData.map((f) => ({ name: f.name, values: f.values })));
      if (input.consents) {
        params.custom_disclaimer_responses = JSON.stringify(input.consents.map((c) => ({ checkbox_key: c.key, is_checked: c.checked })));
      }
      const body = await request('POST', `${formId}/test_leads`, pageToken, params);
      return parseOrThrow(graphCreatedSchema, body, 'test lead');
    },

    async listTestLeads(formId, pageToken) {
      assertGraphId('form_id', formId);
      const leads: GraphLead[] = [];
      const params: Params = { fields: GRAPH_LEAD_FIELDS.join(',') };
      for await (const lead of paginate(`${formId}/test_leads`, pageToken, params, (body) => parseOrThrow(graphLeadPageSchema, body, 'test leads'))) {
        leads.push(lead);
      }
      return leads;
    },

    async deleteTestLead(leadId, pageToken) {
      assertGraphId('lead_id', leadId);
      const body = await request('DELETE', leadId, pageToken);
      const result = parseOrThrow(graphSuccessSchema, body, 'delete');
      if (!result.success) {
        throw new GraphError({ category: 'unknown', reason: 'graph_delete_not_confirmed', message: 'Graph did not confirm the deletion' });
      }
    },

    listPageFormsWithQuestions(pageId, pageToken) {
      assertGraphId('page_id', pageId);
      const params: Params = { fields: GRAPH_FORM_LIST_FIELDS.join(','), limit: String(DEFAULT_PAGE_SIZE) };
      return paginate(`${pageId}/leadgen_forms`, pageToken, params, (body) => parseOrThrow(graphFormSummaryPageSchema, body, 'page forms'));
    },

    exchangeLoginCode({ code, redirectUri }) {
      if (typeof code !== 'string' || code === '' || code.length > 2048) {
        return Promise.reject(
          new GraphError({ category: 'invalid_request', reason: 'invalid_code', message: 'the authorization code is missing or too long' }),
        );
      }
      return requestAccessToken({ redirect_uri: redirectUri, code });
    },

    exchangeForLongLivedToken(userToken) {
      assertToken(userToken);
      return requestAccessToken({ grant_type: 'fb_exchange_token', fb_exchange_token: userToken });
    },

    async getMe(userToken) {
      const body = await request('GET', 'me', userToken, { fields: 'id,name' });
      return parseOrThrow(graphMeSchema, body, 'me');
    },

    async listPermissions(userToken) {
      const permissions: GraphPermission[] = [];
      for await (const p of paginate('me/permissions', userToken, {}, (body) => parseOrThrow(graphPermissionPageSchema, body, 'permissions'))) {
        permissions.push(p);
      }
      return permissions;
    },

    listAccounts(userToken, listOpts = {}) {
      const pageSize = Math.max(1, Math.floor(listOpts.pageSize ?? DEFAULT_PAGE_SIZE));
      const params: Params = { fields: GRAPH_ACCOUNT_FIELDS.join(','), limit: String(pageSize) };
      return paginate('me/accounts', userToken, params, (body) => parseOrThrow(graphAccountPageSchema, body, 'accounts'));
    },

    async subscribePageToApp(pageId, pageToken, fields) {
      assertGraphId('page_id', pageId);
      const body = await request('POST', `${pageId}/subscribed_apps`, pageToken, { subscribed_fields: fields.join(',') });
      expectSuccess(body, 'page subscription');
    },

    async unsubscribePageFromApp(pageId, pageToken) {
      assertGraphId('page_id', pageId);
      const body = await request('DELETE', `${pageId}/subscribed_apps`, pageToken);
      expectSuccess(body, 'page unsubscription');
    },

    async getLeadAccess(pageId, pageToken, userId) {
      assertGraphId('page_id', pageId);
      assertGraphId('user_id', userId);
      const appId = requireAppId('the lead access check');
      assertGraphId('app_id', appId);
      const body = await request('GET', pageId, pageToken, { fields: `has_lead_access.user_id(${userId}).app_id(${appId})` });
      return parseOrThrow(graphLeadAccessSchema, body, 'lead access');
    },

    async listAppSubscriptions() {
      const appId = requireAppId('reading the app subscriptions');
      assertGraphId('app_id', appId);
      const subscriptions: GraphAppSubscription[] = [];
      for await (const s of paginate(`${appId}/subscriptions`, appToken(), {}, (body) =>
        parseOrThrow(graphAppSubscriptionPageSchema, body, 'app subscriptions'),
      )) {
        subscriptions.push(s);
      }
      return subscriptions;
    },

    async subscribeApp(input) {
      const appId = requireAppId('the app subscription');
      assertGraphId('app_id', appId);
      const body = await request('POST', `${appId}/subscriptions`, appToken(), {
        object: input.object,
        callback_url: input.callbackUrl,
        fields: input.fields.join(','),
        verify_token: input.verifyToken,
        include_values: String(input.includeValues),
      });
      expectSuccess(body, 'app subscription');
    },
  };
}
