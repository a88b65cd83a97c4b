// A readable page for the OpenAPI document at /api/docs: Swagger UI from the swagger-ui-dist
// package, served from this server (no CDN: self-hosted installs may have no internet).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { type Router } from 'express';

const require = createRequire(import.meta.url);

export function createDocsRouter(): Router {
  const assets = dirname(require.resolve('swagger-ui-dist/package.json'));
  const router = express.Router();
  const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>LeadRelay API</title><link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="docs"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/start.js"></script>
</body></html>`;
  const start = `window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#docs', deepLinking: true });`;
  router.get('/api/docs', (_req, res) => {
    res.type('html').send(page);
  });
  router.get('/api/docs/start.js', (_req, res) => {
    res.type('application/javascript').send(start);
  });
  router.use('/api/docs/assets', express.static(assets, { index: false, maxAge: '1h' }));
  // Fail at start, not on first visit, if the package went missing.
  if (!existsSync(`${assets}/swagger-ui-bundle.js`)) throw new Error(`swagger-ui-dist has no swagger-ui-bundle.js under ${assets}`);
  return router;
}
