// Disconnecting and deleting what a workspace connected (src/services/disconnect.ts): a page (the
// app uninstalled from it at Meta, its token deleted), a destination (its credentials revoked at
// the CRM where the CRM can, then deleted), a route (deleted; its unsent deliveries stopped).
// Enabling and disabling a route is PATCH /workspaces/{workspaceId}/routes/{routeId}.
import { z } from 'zod';
import { disconnectDestination, disconnectPage, deleteRoute } from '../../services/disconnect.js';
import { defineOperation } from '../operation.js';
import { pageSchema, pageView } from './pages.js';
import { routeParams } from './routes.js';
import { workspaceIdParams } from './workspaces.js';

const pageParams = workspaceIdParams.extend({ pageId: z.string().max(40).meta({ description: 'the Facebook page id' }) });
const destinationParams = workspaceIdParams.extend({ destinationId: z.string().max(64).meta({ description: 'destination id (uuid)' }) });

const outcomeSchema = <T extends [string, ...string[]]>(statuses: T, description: string) =>
  z.object({ status: z.enum(statuses), reason: z.string().optional(), message: z.string().optional() }).meta({ description });

export const disconnectOperations = [
  defineOperation({
    operationId: 'disconnectPage',
    method: 'post',
    path: '/workspaces/{workspaceId}/pages/{pageId}/disconnect',
    summary: 'Disconnect a page: uninstall LeadRelay from it at Meta and delete its token',
    description:
      "DELETE /{page-id}/subscribed_apps with the page's token, then the token is deleted at once, even when Meta could not be asked (app_uninstall says so, with what to do). " +
      'The page stays listed as disconnected with its routes and lead history; webhooks that still come for it are kept, not fetched, until it is connected again ' +
      '(Connect Facebook, or POST …/pages with a new token), which fetches them.',
    tag: 'Pages',
    access: { kind: 'workspace', permission: 'config.write' },
    params: pageParams,
    response: {
      status: 200,
      description: 'the page, disconnected',
      schema: z.object({
        page: pageSchema,
        app_uninstall: outcomeSchema(['uninstalled', 'no_token', 'failed'], 'whether Meta confirmed LeadRelay was removed from the page'),
      }),
    },
    async handler({ app, workspaceId, params, audit }) {
      const { page, uninstall } = await disconnectPage(app, workspaceId, params.pageId);
      audit.target = { type: 'page', id: page.page_id };
      audit.details = { app_uninstall: uninstall.status };
      return { page: pageView(page), app_uninstall: uninstall };
    },
  }),
  defineOperation({
    operationId: 'disconnectDestination',
    method: 'post',
    path: '/workspaces/{workspaceId}/destinations/{destinationId}/disconnect',
    summary: 'Disconnect a destination: revoke its credentials at the CRM and delete them',
    description:
      'Where the CRM has a revocation endpoint the credentials are revoked there first (OAuth refresh tokens); tokens a CRM cannot revoke through its API ' +
      '(private-app or personal API tokens) are reported with where to revoke them. The credentials are then deleted at once, whatever the CRM said. ' +
      'The destination stays, disabled (status_reason disconnected); its deliveries waiting to be sent are parked as destination_disconnected, ' +
      'and giving it new credentials (PUT …/credentials, or connecting it again by OAuth) resumes them.',
    tag: 'Destinations',
    access: { kind: 'workspace', permission: 'config.write' },
    params: destinationParams,
    response: {
      status: 200,
      description: 'what was revoked and deleted',
      schema: z.object({
        destination: z.object({
          id: z.uuid(),
          type: z.string(),
          name: z.string(),
          status: z.string(),
          status_reason: z.string().nullable(),
          has_credentials: z.boolean(),
        }),
        revocation: outcomeSchema(['revoked', 'not_revocable', 'no_credentials', 'failed'], 'what the CRM said to revoking the credentials'),
        parked_deliveries: z.number().int().meta({ description: 'deliveries that were waiting to be sent, parked until the destination is connected again' }),
      }),
    },
    async handler({ app, workspaceId, params, audit }) {
      const r = await disconnectDestination(app, workspaceId, params.destinationId);
      audit.details = { revocation: r.revocation.status, parked_deliveries: r.parkedDeliveries };
      const d = r.destination;
      return {
        destination: {
          id: d.id,
          type: d.type,
          name: d.name,
          status: d.status,
          status_reason: d.status_reason,
          has_credentials: d.credentials_envelope !== null,
        },
        revocation: r.revocation,
        parked_deliveries: r.parkedDeliveries,
      };
    },
  }),
  defineOperation({
    operationId: 'deleteRoute',
    method: 'delete',
    path: '/workspaces/{workspaceId}/routes/{routeId}',
    summary: 'Delete a route; its deliveries not sent yet are stopped',
    description:
      'Deliveries the route made that are still waiting (pending or parked) end as dead with reason route_deleted; sent ones keep their history. ' +
      'To stop a route for a while instead, disable it (PATCH with is_enabled false).',
    tag: 'Routes',
    access: { kind: 'workspace', permission: 'config.write' },
    params: routeParams,
    response: {
      status: 200,
      description: 'the route is gone',
      schema: z.object({ deleted: z.literal(true), stopped_deliveries: z.number().int() }),
    },
    async handler({ app, workspaceId, params, audit }) {
      const { stoppedDeliveries } = await deleteRoute(app, workspaceId, params.routeId);
      audit.details = { stopped_deliveries: stoppedDeliveries };
      return { deleted: true as const, stopped_deliveries: stoppedDeliveries };
    },
  }),
];
