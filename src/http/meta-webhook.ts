// GET/POST /webhooks/meta: Meta's verification handshake and signed leadgen notifications.
// Facts: Meta Webhooks docs (verification requests, X-Hub-Signature-256 payload signing) and the
// Lead Ads webhook reference. The signature is checked on the raw bytes;
// each leadgen id is recorded in PostgreSQL before the 200, duplicates are no-ops.
import type http from 'node:http';
import express, { type Request, type Response, type Router } from 'express';
import { verifySignature256, verifyToken } from '../meta/signature.js';
import type { WebhookBodyResult } from '../meta/webhook-payload.js';
import type { Logger } from '../util/logger.js';
import { errorSummary } from '../util/error-summary.js';
import type { Metrics } from '../util/metrics.js';
import type { IntakeBatcher } from './intake-batcher.js';
import type { WebhookBodyParser } from './webhook-body-parser.js';

export interface MetaWebhookOptions {
  appSecrets: string[];
  verifyToken: string;
  maxBodyBytes: number;
  batcher: IntakeBatcher;
  /** Parses bodies (large ones off the event loop). */
  parser: WebhookBodyParser;
  logger: Logger;
  metrics?: Metrics;
}

interface WebhookAnswer {
  status: number;
  json?: Record<string, unknown>;
  text?: string;
}

/**
 * One signed leadgen POST, as raw bytes: checked, parsed, recorded, answered. Pure of HTTP
 * framing so the hot path can run on plain node:http (express's per-request work cost more than
 * the rest of intake together).
 */
async function acceptLeadgenPost(opts: MetaWebhookOptions, raw: Buffer, signatureHeader: string | undefined): Promise<WebhookAnswer> {
  const check = verifySignature256(raw, signatureHeader, opts.appSecrets);
  if (!check.ok) {
    opts.metrics?.webhookRejected.inc({ reason: check.reason });
    if (check.reason === 'no_secret') {
      // Not the sender's fault: Meta retries for 36 h, so nothing is lost while we are fixed.
      opts.logger.error('META_APP_SECRET is not set: cannot verify webhook signatures');
      return { status: 503, json: { error: 'signature cannot be checked: META_APP_SECRET is not configured' } };
    }
    opts.logger.warn({ reason: check.reason, bytes: raw.length }, 'webhook signature refused');
    return { status: check.reason === 'mismatch' ? 403 : 401, json: { error: `invalid X-Hub-Signature-256 (${check.reason})` } };
  }
  let parsed: WebhookBodyResult;
  try {
    parsed = await opts.parser.parse(raw);
  } catch (err) {
    // The parse worker failed, not the body: not acknowledged, so Meta delivers it again.
    opts.logger.error({ err: errorSummary(err), bytes: raw.length }, 'could not parse webhook body');
    return { status: 503, json: { error: 'temporarily unable to read the notification; retry' } };
  }
  if (!parsed.ok) {
    opts.metrics?.webhookRejected.inc({ reason: parsed.reason });
    if (parsed.reason === 'too_deep') opts.logger.warn({ bytes: raw.length }, 'signed webhook body refused: nested too deep');
    return { status: 400, json: { error: parsed.error } };
  }
  try {
    await opts.batcher.record(
      parsed.changes.map((c) => ({
        pageId: c.pageId,
        leadgenId: c.leadgenId,
        formId: c.formId,
        adId: c.adId,
        adgroupId: c.adgroupId,
        createdTime: c.createdTime,
        isTest: c.isDashboardTest,
      })),
    );
  } catch (err) {
    // Not recorded, so not acknowledged: Meta will deliver it again.
    opts.logger.error({ err: errorSummary(err) }, 'could not record webhook events');
    return { status: 503, json: { error: 'temporarily unable to record the notification; retry' } };
  }
  opts.metrics?.webhookChanges.inc(parsed.changes.length);
  return RECEIVED;
}

const RECEIVED: WebhookAnswer = { status: 200, text: 'EVENT_RECEIVED' };
/** The acknowledgement's headers, built once (a flat list is the cheapest form writeHead takes). */
const RECEIVED_HEADERS = ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(RECEIVED.text!))];

function writeAnswer(res: http.ServerResponse, answer: WebhookAnswer): void {
  if (answer === RECEIVED) {
    res.writeHead(200, RECEIVED_HEADERS);
    res.end(RECEIVED.text);
    return;
  }
  const body = answer.json ? JSON.stringify(answer.json) : (answer.text ?? '');
  res.writeHead(answer.status, {
    'Content-Type': answer.json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The POST handler on plain node:http: reads the body up to the limit (413 past it), then answers. */
export function createLeadgenPostHandler(opts: MetaWebhookOptions): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const tooLarge = (): WebhookAnswer => {
    opts.metrics?.webhookRejected.inc({ reason: 'too_large' });
    return { status: 413, json: { error: `body larger than ${opts.maxBodyBytes} bytes` } };
  };
  return (req, res) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > opts.maxBodyBytes) {
      res.setHeader('Connection', 'close');
      writeAnswer(res, tooLarge());
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let isAborted = false;
    req.on('data', (chunk: Buffer) => {
      if (isAborted) return;
      size += chunk.length;
      if (size > opts.maxBodyBytes) {
        isAborted = true;
        res.setHeader('Connection', 'close');
        writeAnswer(res, tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {
      isAborted = true;
    });
    req.on('end', () => {
      if (isAborted) return;
      acceptLeadgenPost(opts, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size), req.headers['x-hub-signature-256'] as string | undefined).then(
        (answer) => writeAnswer(res, answer),
        () => writeAnswer(res, { status: 500, json: { error: 'internal error' } }),
      );
    });
  };
}

export function createMetaWebhookRouter(opts: MetaWebhookOptions): Router {
  const router = express.Router();

  // https://developers.facebook.com/docs/graph-api/webhooks/getting-started — answer the raw
  // challenge as text/plain; a JSON-quoted reply is rejected by the dashboard.
  router.get('/webhooks/meta', (req: Request, res: Response) => {
    const mode = stringParam(req.query['hub.mode']);
    const token = stringParam(req.query['hub.verify_token']);
    const challenge = stringParam(req.query['hub.challenge']);
    if (mode !== 'subscribe' || challenge === undefined) {
      res.status(400).type('text/plain').send('expected hub.mode=subscribe and hub.challenge');
      return;
    }
    if (!verifyToken(token, opts.verifyToken)) {
      opts.logger.warn({ reason: opts.verifyToken ? 'token_mismatch' : 'no_verify_token_configured' }, 'webhook verification refused');
      res.status(403).type('text/plain').send('verify token does not match');
      return;
    }
    res.status(200).type('text/plain').send(challenge);
  });

  return router;
}

function stringParam(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
