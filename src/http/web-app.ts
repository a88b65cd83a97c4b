// The web app (src/web, built by Vite into dist/web) served by this program at `/`: hashed assets
// cached for a year, index.html never cached, and every other GET that is not the API, a webhook,
// OAuth, health or metrics answered with index.html so a deep link (/setup?token=…,
// /w/…/settings/members) opens the app at that page. The pages get a strict Content-Security-Policy:
// scripts, styles and connections from this origin only, no inline script, no framing.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from '../util/logger.js';

/** dist/web, from dist/src/http. */
const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../web');

/** Paths that belong to the server, never to the app (a miss there is the server's own 404). */
const SERVER_PREFIXES = ['/api', '/webhooks', '/oauth', '/healthz', '/readyz', '/metrics'];

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // Plus the one rule React Aria injects as a <style> element (touch-action for pressable elements,
  // react-aria/…/interactions/usePress): allowed by its hash, so no other inline style runs. The
  // browser tests fail on any CSP violation, so an upgrade that changes the rule is caught.
  "style-src 'self' 'sha256-38RhXrc7EdReTKsOm23ZPOCUgniTUUcjky8QOOrQx6o='",
  // The TOTP enrolment QR code is a data: URL.
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const isServerPath = (path: string) => SERVER_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));

function setPageHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // Links carry one-time tokens in their query (/setup?token=…): never send them on as a referrer.
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
}

export function createWebAppRouter(logger: Logger, webDir = WEB_DIR): Router {
  const router = express.Router();
  const index = join(webDir, 'index.html');
  if (!existsSync(index)) {
    logger.warn({ webDir }, 'the web app is not built (run: npm run build); its pages answer 503');
    router.use((req: Request, res: Response, next: NextFunction) => {
      if ((req.method !== 'GET' && req.method !== 'HEAD') || isServerPath(req.path)) return next();
      res.status(503).type('text/plain').send('The web app is not built: run `npm run build`.\n');
    });
    return router;
  }
  router.use(
    '/assets',
    express.static(join(webDir, 'assets'), {
      index: false,
      fallthrough: false,
      setHeaders: (res) => {
        res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
        res.setHeader('X-Content-Type-Options', 'nosniff');
      },
    }),
  );
  router.use(
    express.static(webDir, {
      index: false,
      setHeaders: (res, path) => {
        if (path === index) {
          setPageHeaders(res);
          res.setHeader('Cache-Control', 'no-cache');
        } else {
          res.setHeader('Cache-Control', 'public, max-age=3600');
          res.setHeader('X-Content-Type-Options', 'nosniff');
        }
      },
    }),
  );
  router.use((req: Request, res: Response, next: NextFunction) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || isServerPath(req.path)) return next();
    setPageHeaders(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return router;
}
