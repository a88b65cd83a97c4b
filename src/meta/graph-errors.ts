// What a failed Graph API call means, as one pure function. Meta answers almost every error
// with HTTP 400, so the decision is made on the Graph error `code`/`error_subcode`, not the
// status. Error codes: https://developers.facebook.com/docs/graph-api/guides/error-handling
// Throttling: https://developers.facebook.com/docs/graph-api/overview/rate-limiting/
// Header lookup, Retry-After, reasons and failures without a response are the shared ones
// (src/util/classify.ts); the Graph codes, usage headers and categories are Meta's own.
import { buildReason, classifyNetworkCode, headerValue, readRetryAfterMs, statusReason, type HeaderBag } from '../util/classify.js';
import { graphErrorBodySchema, parseGraphJson } from './graph-types.js';

export type GraphErrorCategory =
  | 'transient'
  | 'throttled'
  | 'token_dead'
  | 'page_role_missing'
  | 'permission_missing'
  | 'not_found'
  | 'blocked'
  | 'invalid_request'
  | 'unknown';

export interface GraphErrorInfo {
  category: GraphErrorCategory;
  /** Stable and machine-readable: `graph_code_190_460`, `status_code_503`, `network_econnreset`, `timeout`. */
  reason: string;
  code?: number;
  subcode?: number;
  /** Meta's trace id for support requests; log it. */
  fbtraceId?: string;
  httpStatus?: number;
  /** How long to stop calling, for `throttled`. */
  retryAfterMs?: number;
  /** Meta's own message, with anything that looks like a token or secret removed. */
  message: string;
}

/** A Graph answer. The clock comes with it: a Retry-After (from a proxy) may be an HTTP-date. */
interface GraphResponseFacts {
  httpStatus: number;
  /** The parsed JSON body, or the raw text. */
  body?: unknown;
  headers?: HeaderBag;
  /** Epoch ms. */
  nowMs: number;
}

/**
 * No answer arrived: `networkCode` is the Node/axios code (`ECONNRESET`, `ETIMEDOUT`, ...; empty
 * when none was given). Without it, nothing is known (`no_response`).
 */
interface GraphNoResponseFacts {
  httpStatus?: undefined;
  networkCode?: string;
}

export type ClassifyGraphErrorInput = GraphResponseFacts | GraphNoResponseFacts;

/**
 * Wait used for a throttle when the headers give no estimate. Meta: "stop calling once
 * limited; retrying extends the block". Platform windows are a rolling hour, so a few
 * minutes lets usage drop without hammering.
 */
export const DEFAULT_THROTTLE_WAIT_MS = 5 * 60_000;
/** Wait used when `X-App-Usage` shows a budget at or above 100 %. */
export const APP_USAGE_EXHAUSTED_WAIT_MS = 15 * 60_000;

/** Platform throttling: 4 app, 17 user, 32 Pages (user token), 613 custom. */
const PLATFORM_THROTTLE_CODES = new Set([4, 17, 32, 613]);

/**
 * Business Use Case throttling codes, with the `type` they report in
 * `X-Business-Use-Case-Usage`. 80000/80001/80004/80005 are the ones the lead path meets;
 * the rest are the same mechanism for other products and are classified the same way.
 */
const BUC_TYPE_BY_CODE = new Map<number, string>([
  [80000, 'ads_insights'],
  [80001, 'pages'],
  [80002, 'instagram'],
  [80003, 'custom_audience'],
  [80004, 'ads_management'],
  [80005, 'leadgen'],
  [80006, 'messenger'],
  [80008, 'whatsapp_business_management'],
  [80009, 'catalog_management'],
  [80014, 'catalog_batch'],
]);

const MAX_MESSAGE_CHARS = 500;

/**
 * Removes anything that looks like a credential from text that may be logged or shown:
 * `access_token=...` style parameters, Meta user/page tokens (`EAA...`), app tokens
 * (`appid|secret`) and long opaque strings (app secrets, appsecret_proof hex digests).
 */
export function scrubSecrets(text: string): string {
  return text
    .replace(/\b(access_token|appsecret_proof|input_token|client_secret|fb_exchange_token)(["']?\s*[=:]\s*["']?)[^&\s"',}]+/gi, '$1$2[redacted]')
    .replace(/\bEAA[A-Za-z0-9]{8,}/g, '[redacted]')
    .replace(/\b\d{5,}\|[A-Za-z0-9_-]{8,}/g, '[redacted]')
    .replace(/[A-Za-z0-9_-]{32,}/g, '[redacted]');
}

function cleanMessage(text: string): string {
  const scrubbed = scrubSecrets(text).replace(/\s+/g, ' ').trim();
  return scrubbed.length > MAX_MESSAGE_CHARS ? `${scrubbed.slice(0, MAX_MESSAGE_CHARS)}…` : scrubbed;
}

/** Parses a JSON header; a malformed one is ignored, never thrown. */
function parseJsonHeader(value: string | undefined): unknown {
  if (value === undefined || value.trim() === '') return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function toFiniteNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

export interface BucUsageEntry {
  objectId: string;
  type: string | undefined;
  /** Highest of call_count / total_cputime / total_time, in percent. */
  maxUsagePercent: number | undefined;
  /** Minutes until calls are allowed again (0 when not throttled). */
  estimatedMinutesToRegainAccess: number | undefined;
}

/**
 * Reads `X-Business-Use-Case-Usage`: `{<object-id>: [{type, call_count, total_cputime,
 * total_time, estimated_time_to_regain_access}]}` (up to 32 objects). Malformed input → [].
 */
export function parseBusinessUseCaseUsage(value: string | undefined): BucUsageEntry[] {
  const parsed = parseJsonHeader(value);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return [];
  const entries: BucUsageEntry[] = [];
  for (const [objectId, list] of Object.entries(parsed as Record<string, unknown>)) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (!item || typeof item !== 'object') continue;
      const record = item as Record<string, unknown>;
      const usages = [record.call_count, record.total_cputime, record.total_time].map(toFiniteNumber).filter((n): n is number => n !== undefined);
      entries.push({
        objectId,
        type: typeof record.type === 'string' ? record.type : undefined,
        maxUsagePercent: usages.length > 0 ? Math.max(...usages) : undefined,
        estimatedMinutesToRegainAccess: toFiniteNumber(record.estimated_time_to_regain_access),
      });
    }
  }
  return entries;
}

/** Reads `X-App-Usage`: `{call_count, total_cputime, total_time}` in percent. Malformed → undefined. */
export function parseAppUsagePercent(value: string | undefined): number | undefined {
  const parsed = parseJsonHeader(value);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  const usages = [record.call_count, record.total_cputime, record.total_time].map(toFiniteNumber).filter((n): n is number => n !== undefined);
  return usages.length > 0 ? Math.max(...usages) : undefined;
}

/**
 * How long to stay away after a throttle. BUC throttles carry
 * `estimated_time_to_regain_access` in MINUTES; when both limits apply Meta enforces BUC, so
 * the BUC estimate wins. Otherwise `X-App-Usage` at 100 % means the rolling hour is spent.
 */
function computeThrottleWaitMs(code: number | undefined, headers: HeaderBag | undefined, nowMs: number): number {
  const buc = parseBusinessUseCaseUsage(headerValue(headers, 'x-business-use-case-usage'));
  const wantedType = code === undefined ? undefined : BUC_TYPE_BY_CODE.get(code);
  const sameType = wantedType === undefined ? [] : buc.filter((e) => e.type === wantedType);
  const candidates = sameType.length > 0 ? sameType : buc;
  const minutes = Math.max(0, ...candidates.map((e) => e.estimatedMinutesToRegainAccess ?? 0));
  if (minutes > 0) return Math.round(minutes * 60_000);

  // Graph itself sends no Retry-After; a proxy in front of it might.
  const retryAfter = readRetryAfterMs(headers, nowMs);
  if (retryAfter !== undefined && retryAfter > 0) return retryAfter;

  const appUsage = parseAppUsagePercent(headerValue(headers, 'x-app-usage'));
  if (appUsage !== undefined && appUsage >= 100) return APP_USAGE_EXHAUSTED_WAIT_MS;
  return DEFAULT_THROTTLE_WAIT_MS;
}

interface GraphErrorFields {
  code?: number;
  subcode?: number;
  message?: string;
  fbtraceId?: string;
  isTransient?: boolean;
}

/** Pulls Graph's error object out of a parsed body or raw text; undefined when there is none. */
function readGraphError(body: unknown): GraphErrorFields | undefined {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = parseGraphJson(value);
    } catch {
      return undefined;
    }
  } else if (Buffer.isBuffer(value)) {
    try {
      value = parseGraphJson(value.toString('utf8'));
    } catch {
      return undefined;
    }
  }
  const parsed = graphErrorBodySchema.safeParse(value);
  if (!parsed.success) return undefined;
  const e = parsed.data.error;
  if (e.code === undefined && e.message === undefined) return undefined;
  return {
    code: e.code,
    subcode: e.error_subcode,
    message: e.message ?? e.error_user_msg,
    fbtraceId: e.fbtrace_id,
    isTransient: e.is_transient,
  };
}

function formatGraphReason(code: number | undefined, subcode: number | undefined, suffix?: string): string {
  const parts: (string | number)[] = ['graph_code', code ?? 'none'];
  if (subcode !== undefined) parts.push(subcode);
  if (suffix) parts.push(suffix);
  return buildReason(...parts);
}

interface Decision {
  category: GraphErrorCategory;
  reasonSuffix?: string;
}

/** The §9 table (docs/reference): code and subcode → category. */
function decideByGraphCode(error: GraphErrorFields, httpStatus: number | undefined): Decision {
  const { code, subcode } = error;
  const message = error.message ?? '';
  if (code === 1 || code === 2) return { category: 'transient' };
  if (code !== undefined && PLATFORM_THROTTLE_CODES.has(code)) return { category: 'throttled' };
  if (code !== undefined && BUC_TYPE_BY_CODE.has(code)) return { category: 'throttled' };
  if (code === 10 || (code !== undefined && code >= 200 && code <= 299)) return { category: 'permission_missing' };
  if (code === 190) return { category: subcode === 492 ? 'page_role_missing' : 'token_dead' };
  // 102: "API Session" — the login status or token is expired, revoked or invalid.
  if (code === 102) return { category: 'token_dead' };
  if (code === 368) return { category: 'blocked' };
  if (code === 100) {
    if (subcode === 33) return { category: 'not_found' };
    // Code 100 is Graph's catch-all "invalid parameter". Subcode 33 and bare 100 are what a
    // missing, deleted or inaccessible object gives, but a few messages are our own fault and
    // must not look like a missing lead: a wrong app secret (appsecret_proof), a field that
    // does not exist, or a permission named in the message (pages_read_engagement).
    if (/appsecret_proof/i.test(message)) return { category: 'invalid_request', reasonSuffix: 'appsecret_proof' };
    if (/nonexisting field/i.test(message)) return { category: 'invalid_request', reasonSuffix: 'nonexisting_field' };
    if (/requires? (the )?'?[a-z_]+'? permission/i.test(message)) return { category: 'permission_missing', reasonSuffix: 'permission' };
    return { category: 'not_found' };
  }
  // 803: "Some of the aliases you requested do not exist".
  if (code === 803) return { category: 'not_found' };
  // 104: no access token sent; 2500: unknown path / bad request syntax. Both are our bug.
  if (code === 104 || code === 2500) return { category: 'invalid_request' };
  if (error.isTransient === true) return { category: 'transient' };
  if (httpStatus !== undefined && httpStatus >= 500) return { category: 'transient' };
  return { category: 'unknown' };
}

/** Decides what a failed Graph call means. Pure: same input (clock included), same answer. */
export function classifyGraphError(input: ClassifyGraphErrorInput): GraphErrorInfo {
  if (input.httpStatus === undefined) {
    if (input.networkCode === undefined) return { category: 'unknown', reason: 'no_response', message: 'the Graph API call failed without a response' };
    const { reason } = classifyNetworkCode(input.networkCode);
    const shown = input.networkCode.trim() === '' ? 'no error code' : codeForMessage(input.networkCode);
    return { category: 'transient', reason, message: `no response from the Graph API (${shown})` };
  }

  const { httpStatus, headers, nowMs } = input;
  const graph = readGraphError(input.body);
  const fbtraceId = graph?.fbtraceId ?? headerValue(headers, 'x-fb-trace-id');
  const base = { httpStatus, ...(fbtraceId === undefined ? {} : { fbtraceId }) };

  if (graph) {
    const decision = decideByGraphCode(graph, httpStatus);
    const info: GraphErrorInfo = {
      category: decision.category,
      reason: formatGraphReason(graph.code, graph.subcode, decision.reasonSuffix),
      ...(graph.code === undefined ? {} : { code: graph.code }),
      ...(graph.subcode === undefined ? {} : { subcode: graph.subcode }),
      ...base,
      message: cleanMessage(graph.message ?? `Graph error ${graph.code ?? 'without a code'}`),
    };
    if (decision.category === 'throttled') info.retryAfterMs = computeThrottleWaitMs(graph.code, headers, nowMs);
    return info;
  }

  const reason = statusReason(httpStatus);
  const message = `HTTP ${httpStatus} without a Graph error body`;
  if (httpStatus >= 500) return { category: 'transient', reason, ...base, message };
  if (httpStatus === 429) {
    return { category: 'throttled', reason, ...base, retryAfterMs: computeThrottleWaitMs(undefined, headers, nowMs), message };
  }
  if (httpStatus >= 400) return { category: 'invalid_request', reason, ...base, message };
  return { category: 'unknown', reason, ...base, message };
}

/** A transport code as shown in a message: upper case, identifier characters only. */
function codeForMessage(code: string): string {
  return code
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_')
    .slice(0, 40);
}

/** The error the Graph client throws. Its message never holds a token or appsecret_proof. */
export class GraphError extends Error {
  readonly info: GraphErrorInfo;

  constructor(info: GraphErrorInfo) {
    const safe: GraphErrorInfo = { ...info, message: cleanMessage(info.message) };
    super(`${safe.category}: ${safe.reason}${safe.message ? ` (${safe.message})` : ''}`);
    this.name = 'GraphError';
    this.info = safe;
  }

  get category(): GraphErrorCategory {
    return this.info.category;
  }
}

export function isGraphError(err: unknown): err is GraphError {
  return err instanceof GraphError;
}

/** True for the only failures worth retrying right away (codes 1 and 2, 5xx, network). */
export function isTransientGraphError(err: unknown): boolean {
  return isGraphError(err) && err.info.category === 'transient';
}
