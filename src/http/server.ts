// The HTTP role: Meta webhooks, health, metrics.
import http from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { App } from '../app.js';
import { IntakeBatcher } from './intake-batcher.js';
import { createLeadgenPostHandler, createMetaWebhookRouter, type MetaWebhookOptions } from './meta-webhook.js';
import { errorSummary } from '../util/error-summary.js';
import type { Metrics } from '../util/metrics.js';
import { createOAuthRouter } from './oauth-routes.js';

export interface HttpServer {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

function webhookOptions(app: App, metrics: Metrics): MetaWebhookOptions {
  const batcher = new IntakeBatcher(app.db, {
    maxRows: app.config.intake.batchMaxRows,
    onRecorded: (ids) => {
      // The rows are durable; a lost enqueue is rebuilt by the outbox sweep.
      app.queues
        .enqueueFetchBatch(ids)
        .catch((err) => app.logger.warn({ err: errorSummary(err), count: ids.length }, 'enqueue after intake failed; the sweep will retry'));
    },
  });
  return {
    appSecrets: [app.config.meta.appSecret].filter(Boolean),
    verifyToken: app.config.meta.verifyToken,
    maxBodyBytes: app.config.intake.maxBodyBytes,
    batcher,
    logger: app.logger,
    metrics,
  };
}

/** Everything but the webhook POST (which runs on plain node:http, see startHttpServer). */
export function createHttpApp(app: App, metrics: Metrics, hooks: MetaWebhookOptions = webhookOptions(app, metrics)): express.Express {
  const web = express();
  web.disable('x-powered-by');
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
  web.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  web.use(createMetaWebhookRouter(hooks));
  // The same POST handler as the node:http fast path in startHttpServer, for an embedded app.
  const acceptPost = createLeadgenPostHandler(hooks);
  web.post('/webhooks/meta', (req, res) => acceptPost(req, res));

  web.use(createOAuthRouter(app, { stateSecret: app.keyRing.deriveKey('oauth-state') }));

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

export async function startHttpServer(app: App, metrics: Metrics): Promise<HttpServer> {
  const hooks = webhookOptions(app, metrics);
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
