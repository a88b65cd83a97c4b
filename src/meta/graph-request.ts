// The request plumbing every Graph call shares (graph-client.ts puts the calls together):
// - `appsecret_proof` and `appsecret_time` computed afresh for each request;
// - object id and token checks made before Meta is called;
// - response bodies parsed (big integer ids kept exact) and checked against their schema;
// - error bodies, statuses and network failures turned into GraphErrors (graph-errors.ts);
// - in-call retries of transient failures (reads only) and cursor paging.
import { createHmac } from 'node:crypto';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import pRetry from 'p-retry';
import type { z } from 'zod';
import { networkCodeOf } from '../util/classify.js';
import { graphHttpAgent, graphHttpsAgent } from '../util/keep-alive-agents.js';
import type { GraphClientOptions } from './graph-client.js';
import { classifyGraphError, GraphError, isTransientGraphError } from './graph-errors.js';
import { graphSuccessSchema, parseGraphJson, type GraphPaging } from './graph-types.js';

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
export const DEFAULT_PAGE_SIZE = 100;

export type Params = Record<string, string>;
type Method = 'GET' | 'POST' | 'DELETE';

export function assertGraphId(kind: string, id: string): void {
  if (typeof id !== 'string' || !GRAPH_ID_PATTERN.test(id)) {
    throw new GraphError({ category: 'invalid_request', reason: `invalid_${kind}`, message: `${kind} is not a Graph object id` });
  }
}

export function assertToken(token: string): void {
  if (typeof token !== 'string' || token.trim() === '') {
    throw new GraphError({ category: 'token_dead', reason: 'access_token_missing', message: 'no access token was given for the Graph call' });
  }
}

export function parseOrThrow<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
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

/** A Graph answer's body as JSON (undefined when empty), and whether it was JSON at all. */
export function readGraphBody(text: string): { body: unknown; isJson: boolean } {
  try {
    return { body: text === '' ? undefined : parseGraphJson(text), isJson: true };
  } catch {
    return { body: undefined, isJson: false };
  }
}

export function hasErrorMember(body: unknown): boolean {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && 'error' in body;
}

export function expectSuccess(body: unknown, what: string): void {
  const result = parseOrThrow(graphSuccessSchema, body, what);
  if (!result.success) throw new GraphError({ category: 'unknown', reason: 'graph_success_false', message: `Graph did not confirm the ${what}` });
}

/** The calls of one client's connection to Graph, for the lead reads and the page calls. */
export interface GraphRequester {
  /** Clock for `appsecret_time` and throttle waits (`opts.now`, else `Date.now`). */
  now: () => number;
  /** One call; `token` null: a call that carries no access token (the OAuth token exchange authenticates with the app secret). */
  sendOnce(method: Method, path: string, token: string | null, params: Params): Promise<unknown>;
  /** One call with the token and proof; GETs retry transient failures, writes are sent once. */
  request(method: Method, path: string, token: string, params?: Params): Promise<unknown>;
  /** Follows `paging.cursors.after` until Graph stops sending `paging.next`. */
  paginate<T>(path: string, token: string, params: Params, readPage: (body: unknown) => { data: T[]; paging?: GraphPaging }): AsyncGenerator<T>;
}

export function createGraphRequester(opts: GraphClientOptions): GraphRequester {
  const now = opts.now ?? Date.now;
  const http: AxiosInstance = axios.create({
    baseURL: opts.graphUrl.replace(/\/+$/, ''),
    timeout: opts.timeoutMs,
    adapter: 'http',
    httpAgent: graphHttpAgent,
    httpsAgent: graphHttpsAgent,
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
    const { body, isJson } = readGraphBody(text);
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

  return { now, sendOnce, request, paginate };
}
