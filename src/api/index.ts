// The REST API under /api/v1: every operation, the OpenAPI document generated from them, and the
// docs page. To add an operation, add it to an operations module and its list below; it is then
// routed, validated, authorised, audited and documented like every other, and the isolation test
// (test/e2e/api-isolation.test.ts) walks it.
import express, { type Router } from 'express';
import type { App } from '../app.js';
import { createDocsRouter } from './docs-page.js';
import { mountOperations, problemHandlers } from './mount.js';
import type { Operation } from './operation.js';
import { alertOperations } from './operations/alerts.js';
import { apiKeyOperations } from './operations/api-keys.js';
import { auditOperations } from './operations/audit.js';
import { dataRequestOperations } from './operations/data-requests.js';
import { exportOperations } from './operations/exports.js';
import { authOperations } from './operations/auth.js';
import { installationOperations } from './operations/installation.js';
import { invitationOperations } from './operations/invitations.js';
import { meOperations } from './operations/me.js';
import { memberOperations } from './operations/members.js';
import { destinationOperations } from './operations/destinations.js';
import { disconnectOperations } from './operations/disconnect.js';
import { facebookOperations } from './operations/facebook.js';
import { healthOperations } from './operations/health.js';
import { leadOperations } from './operations/leads.js';
import { mappingOperations } from './operations/mappings.js';
import { monitorOperations } from './operations/monitors.js';
import { pageOperations } from './operations/pages.js';
import { reconciliationOperations } from './operations/reconciliation.js';
import { routeOperations } from './operations/routes.js';
import { statsOperations } from './operations/stats.js';
import { workspaceLifecycleOperations } from './operations/workspace-lifecycle.js';
import { workspaceOperations } from './operations/workspaces.js';
import { createRateLimits } from './rate-limit.js';
import { LEADRELAY_VERSION } from '../util/version.js';

const API_PREFIX = '/api/v1';

/** Every operation of the API, in the order the docs list them. */
export function allOperations(): Operation[] {
  return [
    ...authOperations,
    ...meOperations,
    ...workspaceOperations,
    ...memberOperations,
    ...invitationOperations,
    ...pageOperations,
    ...facebookOperations,
    ...destinationOperations,
    ...routeOperations,
    ...disconnectOperations,
    ...workspaceLifecycleOperations,
    ...mappingOperations,
    ...leadOperations,
    ...reconciliationOperations,
    ...healthOperations,
    ...monitorOperations,
    ...alertOperations,
    ...statsOperations,
    ...apiKeyOperations,
    ...auditOperations,
    ...dataRequestOperations,
    ...exportOperations,
    ...installationOperations,
  ] as Operation[];
}

export function createApiRouter(app: App): Router {
  const operations = allOperations();
  // Built on first request (zod-openapi and the document are a few MB nobody else needs).
  let document: Promise<unknown> | null = null;
  const api = express.Router();
  api.get('/openapi.json', async (_req, res) => {
    document ??= import('./openapi.js').then((m) => m.buildOpenApiDocument(operations, LEADRELAY_VERSION));
    res.json(await document);
  });
  mountOperations(app, api, operations, { rateLimits: createRateLimits(app) });
  api.use(...problemHandlers(app));

  const outer = express.Router();
  outer.use(createDocsRouter());
  outer.use(API_PREFIX, api);
  return outer;
}
