// The transport of the generic HTTPS destination: builds the signed request and sends it
// through the outbound guard. Every outcome is a value (`WebhookExchange`); nothing here throws
// for a refused URL, a network failure or an unhappy status — index.ts decides what that means.
import { createHmac } from 'node:crypto';
import type { Readable } from 'node:stream';
import axios from 'axios';
import type { CanonicalLead } from '../../src/lead/canonical.js';
import { guardOutboundUrl, sharedPinnedAgent, type GuardRefusal, type ResolveHost } from '../../src/util/outbound-guard.js';
import { networkCodeOf } from '../../src/util/classify.js';
import { WEBHOOK_HEADERS, WEBHOOK_USER_AGENT } from './manifest.js';

export interface WebhookRequest {
  /** Exactly the bytes that are sent and signed. */
  rawBody: string;
  headers: Record<string, string>;
}

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<rawBody>")>` */
function signWebhookBody(secret: string, timestampSeconds: number, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampSeconds}.${rawBody}`, 'utf8').digest('hex')}`;
}

/**
 * The JSON body: the canonical record, plus `fields` beside its own keys when a mapping
 * produced them (see manifest.ts). Without a mapping, the canonical record alone.
 */
export function buildWebhookBody(lead: CanonicalLead, fields?: Record<string, string | number | boolean | null>): Record<string, unknown> {
  return fields === undefined ? { ...lead } : { ...lead, fields: { ...fields } };
}

export function buildWebhookRequest(input: {
  lead: CanonicalLead;
  /** The mapped fields; undefined when the route has no mapping (the body is then the canonical record alone). */
  fields?: Record<string, string | number | boolean | null>;
  idempotencyKey: string;
  nowMs: number;
  secret?: string;
  extraHeaders?: Record<string, string>;
}): WebhookRequest {
  const rawBody = JSON.stringify(input.fields === undefined ? input.lead : buildWebhookBody(input.lead, input.fields));
  const timestampSeconds = Math.floor(input.nowMs / 1000);
  const headers: Record<string, string> = {};
  // The config schema refuses reserved names; dropping them here again (any case) means ours
  // always win even for a config row written before a rule existed.
  const ours = new Set(['content-type', 'user-agent', ...Object.values(WEBHOOK_HEADERS).map((h) => h.toLowerCase())]);
  for (const [name, value] of Object.entries(input.extraHeaders ?? {})) {
    if (!ours.has(name.toLowerCase()) && !name.toLowerCase().startsWith('x-leadrelay-')) headers[name] = value;
  }
  headers['Content-Type'] = 'application/json';
  headers['User-Agent'] = WEBHOOK_USER_AGENT;
  headers[WEBHOOK_HEADERS.idempotencyKey] = input.idempotencyKey;
  headers[WEBHOOK_HEADERS.delivery] = input.idempotencyKey;
  headers[WEBHOOK_HEADERS.timestamp] = String(timestampSeconds);
  if (input.secret) headers[WEBHOOK_HEADERS.signature] = signWebhookBody(input.secret, timestampSeconds, rawBody);
  return { rawBody, headers };
}

export interface WebhookAnswer {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** At most `responseBodyMaxBytes` bytes of the body, decoded as UTF-8. */
  body: string;
  isBodyTruncated: boolean;
}

export type WebhookExchange =
  | { outcome: 'answered'; answer: WebhookAnswer }
  /** The guard refused the URL before any connection was made. */
  | { outcome: 'refused'; refusal: GuardRefusal }
  /** No answer: connection failed, was reset, or the fixed timeout ran out. */
  | { outcome: 'failed'; networkCode?: string };

export interface SendOptions {
  timeoutMs: number;
  responseBodyMaxBytes: number;
  allowPrivateDestinations: boolean;
  /** The DNS step; tests inject one. */
  resolveHost?: ResolveHost;
}

/** Node's own code for a timed-out operation; it is classified as reason `timeout`. */
const TIMEOUT_CODE = 'ETIMEDOUT';

/**
 * Guards the URL, then POSTs the request to the checked address. One fixed deadline covers DNS,
 * connect, the wait for headers and reading the (capped) body. Redirects are not followed.
 */
export async function sendWebhookRequest(rawUrl: string, request: WebhookRequest, options: SendOptions): Promise<WebhookExchange> {
  const deadline = new AbortController();
  let isTimedOut = false;
  const timer = setTimeout(() => {
    isTimedOut = true;
    deadline.abort();
  }, options.timeoutMs);
  try {
    const guarded = await raceDeadline(
      guardOutboundUrl(rawUrl, { allowPrivateDestinations: options.allowPrivateDestinations, resolveHost: options.resolveHost }),
      deadline.signal,
    );
    if (guarded === 'timed_out') return { outcome: 'failed', networkCode: TIMEOUT_CODE };
    if (!guarded.isAllowed) {
      // A resolver failure is a network problem (maybe passing), not a refusal.
      if (guarded.refusal.reason === 'dns_lookup_failed') return { outcome: 'failed', networkCode: guarded.refusal.networkCode ?? 'ENOTFOUND' };
      return { outcome: 'refused', refusal: guarded.refusal };
    }
    // Kept-alive connections to this checked destination (same host and addresses only).
    const agent = sharedPinnedAgent(guarded.destination);
    const response = await axios.request<Readable>({
      method: 'POST',
      url: guarded.destination.url.href,
      data: Buffer.from(request.rawBody, 'utf8'),
      headers: request.headers,
      // Send the bytes we signed, untouched.
      transformRequest: [(data: unknown) => data],
      adapter: 'http',
      httpAgent: agent,
      httpsAgent: agent,
      // An HTTP(S)_PROXY from the environment would connect to the proxy instead of the
      // pinned address, so the guard's check would mean nothing.
      proxy: false,
      maxRedirects: 0,
      validateStatus: () => true,
      responseType: 'stream',
      signal: deadline.signal,
    });
    const { text, isTruncated } = await readCappedBody(response.data, options.responseBodyMaxBytes);
    return {
      outcome: 'answered',
      answer: { status: response.status, headers: flattenHeaders(response.headers), body: text, isBodyTruncated: isTruncated },
    };
  } catch (err) {
    // The error object is dropped on purpose: axios errors carry the request config, whose
    // body holds the lead's answers.
    return { outcome: 'failed', networkCode: isTimedOut ? TIMEOUT_CODE : networkCodeOf(err) };
  } finally {
    clearTimeout(timer);
  }
}

async function raceDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<T | 'timed_out'> {
  if (signal.aborted) return 'timed_out';
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<'timed_out'>((resolve) => {
    onAbort = () => resolve('timed_out');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** Reads at most `maxBytes`, then stops reading (and drops the connection) so a huge body costs nothing. */
async function readCappedBody(stream: Readable, maxBytes: number): Promise<{ text: string; isTruncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let isTruncated = false;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    const room = maxBytes - size;
    if (buf.length > room) {
      chunks.push(buf.subarray(0, room));
      size += room;
      isTruncated = true;
      break; // leaving the loop destroys the stream
    }
    chunks.push(buf);
    size += buf.length;
  }
  return { text: Buffer.concat(chunks, size).toString('utf8'), isTruncated };
}

function flattenHeaders(headers: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const source = headers && typeof (headers as { toJSON?: unknown }).toJSON === 'function' ? (headers as { toJSON(): unknown }).toJSON() : headers;
  for (const [name, value] of Object.entries((source ?? {}) as Record<string, unknown>)) {
    if (value === undefined || value === null) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}
