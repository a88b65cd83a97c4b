// Routes: which page (and form) goes to which destination, with the flag the form-change check
// sets when a routed form changed since its mapping was set.
import { z } from 'zod';
import { describeRouteDrift, parseRouteDrift } from '../../pipeline/form-drift.js';
import { mappingSchema } from '../../mapping/schema.js';
import { apiFieldNamer } from '../../services/errors.js';
import { addRoute, getRoute, listRoutesWithDrift, setRouteEnabled } from '../../services/routes.js';
import type { Route } from '../../store/schema.js';
import { defineOperation, Reply } from '../operation.js';
import { workspaceIdParams } from './workspaces.js';

/** The mapping format (src/mapping/schema.ts), documented: requests take it as `unknown` and the service reports each wrong path. */
export const mappingDocSchema = mappingSchema.meta({
  id: 'Mapping',
  description: 'Ordered rules `CRM field ← source → transforms`, and where the answers no rule took go (README: Field mapping and routing).',
});

export const routeSchema = z
  .object({
    id: z.uuid(),
    page_id: z.string(),
    form_id: z.string().nullable().meta({ description: 'null: every form of the page' }),
    destination_id: z.uuid(),
    is_enabled: z.boolean(),
    mapping: mappingDocSchema.nullable().meta({ description: "the route's field mapping, or null (the destination type's default)" }),
    filter: z.unknown(),
    drift: z
      .object({ detected_at: z.string(), summary: z.string(), details: z.unknown() })
      .nullable()
      .meta({ description: 'set when the form changed since the mapping was set: check the mapping' }),
    created_at: z.iso.datetime(),
  })
  .meta({ id: 'Route' });

export const routeView = (r: Route) => {
  const drift = parseRouteDrift(r.drift);
  return {
    id: r.id,
    page_id: r.page_id,
    form_id: r.form_id,
    destination_id: r.destination_id,
    is_enabled: r.is_enabled,
    mapping: r.mapping,
    filter: r.filter,
    drift: drift ? { detected_at: drift.detected_at, summary: describeRouteDrift(drift), details: drift } : null,
    created_at: new Date(r.created_at).toISOString(),
  };
};

export const routeParams = workspaceIdParams.extend({ routeId: z.string().max(64).meta({ description: 'route id (uuid)' }) });

export const routeOperations = [
  defineOperation({
    operationId: 'listRoutes',
    method: 'get',
    path: '/workspaces/{workspaceId}/routes',
    summary: "The workspace's routes, each flagged when its form changed since its mapping was set",
    tag: 'Routes',
    access: { kind: 'workspace', permission: 'config.read' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the routes', schema: z.object({ items: z.array(routeSchema) }) },
    async handler({ app, workspaceId }) {
      return { items: (await listRoutesWithDrift(app, workspaceId)).map(routeView) };
    },
  }),
  defineOperation({
    operationId: 'getRoute',
    method: 'get',
    path: '/workspaces/{workspaceId}/routes/{routeId}',
    summary: 'One route',
    tag: 'Routes',
    access: { kind: 'workspace', permission: 'config.read' },
    params: routeParams,
    response: { status: 200, description: 'the route', schema: routeSchema },
    async handler({ app, workspaceId, params }) {
      return routeView(await getRoute(app, workspaceId, params.routeId));
    },
  }),
  defineOperation({
    operationId: 'addRoute',
    method: 'post',
    path: '/workspaces/{workspaceId}/routes',
    summary: 'Route a page (optionally one of its forms) to a destination',
    tag: 'Routes',
    access: { kind: 'workspace', permission: 'config.write' },
    params: workspaceIdParams,
    body: z.object({
      page_id: z.string().max(40),
      form_id: z.string().max(40).optional().meta({ description: 'only this lead form (default: every form of the page)' }),
      destination_id: z.string().max(64),
      filter: z.unknown().optional().meta({ description: 'a route filter (see README: Routing)' }),
    }),
    response: {
      status: 201,
      description: 'the new route',
      schema: z.object({
        route: routeSchema,
        unrouted_leads_waiting: z.number().int().meta({ description: 'unrouted leads a replay (POST …/leads/replay-unrouted) would now deliver' }),
        is_page_registered: z.boolean(),
      }),
    },
    async handler({ app, workspaceId, body, audit }) {
      const added = await addRoute(
        app,
        { workspaceId, pageId: body.page_id, formId: body.form_id, destinationId: body.destination_id, filter: body.filter },
        apiFieldNamer('body'),
      );
      audit.target = { type: 'route', id: added.route.id };
      return new Reply(201, { route: routeView(added.route), unrouted_leads_waiting: added.waitingUnrouted, is_page_registered: added.isPageRegistered });
    },
  }),
  defineOperation({
    operationId: 'updateRoute',
    method: 'patch',
    path: '/workspaces/{workspaceId}/routes/{routeId}',
    summary: 'Enable or disable a route',
    tag: 'Routes',
    access: { kind: 'workspace', permission: 'config.write' },
    params: routeParams,
    body: z.object({ is_enabled: z.boolean() }).strict(),
    response: { status: 200, description: 'the route as changed', schema: routeSchema },
    async handler({ app, workspaceId, params, body, audit }) {
      audit.details = { is_enabled: body.is_enabled };
      return routeView(await setRouteEnabled(app, workspaceId, params.routeId, body.is_enabled));
    },
  }),
];
