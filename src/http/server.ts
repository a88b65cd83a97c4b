// The HTTP role: Meta webhooks, health, metrics.
import http from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { App } from '../app.js';
import { IntakeBatcher } from './intake-batcher.js';
import { createMetaWebhookRouter, errorSummary } from './meta-webhook.js';
import { createOAuthRouter } from './oauth-routes.js';
import type { Metrics } from './metrics.js';

export interface HttpServer {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

export function createHttpApp(app: App, metrics: Metrics): express.Express {
  const batcher = new IntakeBatcher(app.db, {
    maxRows: app.config.intake.batchMaxRows,
    onRecorded: (ids) => {
      // The rows are durable; a lost enqueue is rebuilt by the outbox sweep.
      app.queues.enqueueFetch(ids).catch((err) => app.logger.warn({ err: errorSummary(err), count: ids.length }, 'enqueue after intake failed; the sweep will retry'));
    },
  });
  const web = express();
  web.disable('x-powered-by');
  web.set('etag', false);

  web.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  web.get('/readyz', async (_req, res) => {
    const [postgres, redis] = await Promise.all([app.dbh.ping(), app.queues.ping()]);
    res.status(postgres && redis ? 200 : 503).json({ status: postgres && redis ? 'ready' : 'not_ready', postgres, redis, database: app.dbh.kind });
  });
  web.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  web.use(
    createMetaWebhookRouter({
      appSecrets: [app.config.meta.appSecret].filter(Boolean),
      verifyToken: app.config.meta.verifyToken,
      maxBodyBytes: app.config.intake.maxBodyBytes,
      batcher,
      logger: app.logger,
      metrics,
    }),
  );

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
  const web = createHttpApp(app, metrics);
  const server = http.createServer(web);
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
