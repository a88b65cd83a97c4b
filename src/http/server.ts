// The HTTP role: Meta webhooks, health, metrics, the REST API and the web app.
import http from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { App } from '../app.js';
import { IntakeBatcher } from './intake-batcher.js';
import { FetchCoalescer } from '../pipeline/fetch-coalescer.js';
import { createWebhookBodyParser } from './webhook-body-parser.js';
import { createLeadgenPostHandler, createMetaWebhookRouter, type MetaWebhookOptions } from './meta-webhook.js';
import { errorSummary } from '../util/error-summary.js';
import type { Metrics } from '../util/metrics.js';
import type { EventForFetch } from '../store/repos.js';
import { createOAuthRouter } from './oauth-routes.js';
import { createFacebookLoginRouter } from './facebook-login-routes.js';
import { createMetaCallbackRouter } from './meta-callbacks.js';
import { createApiRouter } from '../api/index.js';
import { safeEqual } from '../accounts/tokens.js';
import { createWebAppRouter } from './web-app.js';

export interface HttpServer {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

/** Most events one intake fetch job carries: two Graph batch requests' worth. */
const FETCH_JOB_MAX_EVENTS = 100;

/**
 * Hands new events straight to a worker process (true), or not (false: they get a fetch job).
 * `start` gives its supervised worker process's (src/cli/worker-supervisor.ts).
 */
export type FetchHandOff = (eventIds: number[], events: EventForFetch[]) => boolean;

function webhookOptions(app: App, metrics: Metrics, handFetch?: FetchHandOff): MetaWebhookOptions & { fetchJobs: FetchCoalescer } {
  // The rows as the intake insert returned them, from then until their ids are queued or handed
  // over (every id given to the coalescer is, once): a worker process handed them need not read
  // them again.
  const inserted = new Map<number, EventForFetch>();
  const takeInserted = (ids: number[]) =>
    ids.flatMap((id) => {
      const event = inserted.get(id);
      inserted.delete(id);
      return event ? [event] : [];
    });
  // The rows are durable before their ids get here; a lost enqueue is rebuilt by the outbox sweep.
  const fetchJobs = new FetchCoalescer({
    maxWaitMs: app.config.intake.fetchJobWaitMs,
    maxEvents: FETCH_JOB_MAX_EVENTS,
    enqueue: (ids) => {
      const events = takeInserted(ids);
      if (handFetch?.(ids, events)) {
        metrics.fetchDispatch.inc({ path: 'worker_process' }, ids.length);
        return Promise.resolve();
      }
      metrics.fetchDispatch.inc({ path: 'queue' }, ids.length);
      return app.queues.enqueueFetchBatch(ids);
    },
    onError: (err, count) => app.logger.warn({ err: errorSummary(err), count }, 'enqueue after intake failed; the sweep will retry'),
  });
  const batcher = new IntakeBatcher(app.db, {
    maxRows: app.config.intake.batchMaxRows,
    onRecorded: (ids, events) => {
      if (handFetch) for (const event of events) inserted.set(event.id, event);
      fetchJobs.add(ids);
    },
  });
  return {
    fetchJobs,
    appSecrets: [app.config.meta.appSecret].filter(Boolean),
    verifyToken: app.config.meta.verifyToken,
    maxBodyBytes: app.config.intake.maxBodyBytes,
    batcher,
    parser: createWebhookBodyParser(),
    logger: app.logger,
    metrics,
  };
}

/** Everything but the webhook POST (which runs on plain node:http, see startHttpServer). */
export function createHttpApp(app: App, metrics: Metrics, hooks: MetaWebhookOptions = webhookOptions(app, metrics)): express.Express {
  const web = express();
  web.disable('x-powered-by');
  if (app.config.api.trustProxy) web.set('trust proxy', trustProxyValue(app.config.api.trustProxy));
  web.set('etag', false);

  web.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  web.get('/readyz', async (_req, res) => {
    const [postgres, queue] = await Promise.all([app.dbh.ping(), app.queues.ping()]);
    const isReady = postgres && queue;
    res
      .status(isReady ? 200 : 503)
      .json({ status: isReady ? 'ready' : 'not_ready', postgres, queue, database: app.dbh.kind, queue_backend: app.queues.backend.kind });
  });
  // Not for the world: only to METRICS_TOKEN as a bearer token (METRICS_LISTEN serves it on its own address instead).
  web.get('/metrics', async (req, res) => {
    const token = app.config.metrics.token;
    if (!token) {
      res.status(404).json({ error: 'not found: /metrics is served only with METRICS_TOKEN set, or on METRICS_LISTEN' });
      return;
    }
    const sent = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (!sent || !safeEqual(sent, token)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').json({ error: 'send "Authorization: Bearer <METRICS_TOKEN>"' });
      return;
    }
    res.type(metrics.registry.contentType).send(await metrics.text());
  });

  web.use(createMetaWebhookRouter(hooks));
  // The same POST handler as the node:http fast path in startHttpServer, for an embedded app.
  const acceptPost = createLeadgenPostHandler(hooks);
  web.post('/webhooks/meta', (req, res) => acceptPost(req, res));
  web.use(createMetaCallbackRouter(app));

  // Before the CRM OAuth routes: their /oauth/:type/callback would take /oauth/facebook/callback.
  web.use(createFacebookLoginRouter(app));
  web.use(createOAuthRouter(app, { stateSecret: app.keyRing.deriveKey('oauth-state') }));
  web.use(createApiRouter(app));
  // Last: the web app's pages and assets (SPA fallback for every other GET).
  web.use(createWebAppRouter(app.logger));

  web.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  // Body-parser errors carry a status (413 too large, 400 bad encoding).
  web.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number; statusCode?: number }).status ?? (err as { statusCode?: number }).statusCode ?? 500;
    if (status === 413) {
      metrics.webhookRejected.inc({ reason: 'too_large' });
      res.status(413).json({ error: `body larger than ${app.config.intake.maxBodyBytes} bytes` });
      return;
    }
    if (status >= 500) app.logger.error({ err: errorSummary(err) }, 'request failed');
    res.status(status).json({ error: status >= 500 ? 'internal error' : (err as Error).message });
  });
  return web;
}

/** TRUST_PROXY as Express takes it: a hop count, true/false, or a list of addresses/subnets. */
function trustProxyValue(value: string): boolean | number | string {
  if (/^\d+$/.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  return value;
}

/** /metrics alone on METRICS_LISTEN (e.g. 127.0.0.1:9464), for a scraper on a private address. */
export async function startMetricsServer(app: App, metrics: Metrics): Promise<HttpServer | null> {
  const listen = app.config.metrics.listen;
  if (!listen) return null;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
      metrics.text().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address ? address.port : listen.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function startHttpServer(app: App, metrics: Metrics, handFetch?: FetchHandOff): Promise<HttpServer> {
  const hooks = webhookOptions(app, metrics, handFetch);
  const web = createHttpApp(app, metrics, hooks);
  const acceptPost = createLeadgenPostHandler(hooks);
  // Meta's POSTs take the hot path on node:http; everything else goes through express.
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && (req.url === '/webhooks/meta' || req.url?.startsWith('/webhooks/meta?'))) acceptPost(req, res);
    else web(req, res);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(app.config.port, app.config.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : app.config.port;
  return {
    server,
    port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await hooks.parser.close();
      await hooks.fetchJobs.close();
    },
  };
}
