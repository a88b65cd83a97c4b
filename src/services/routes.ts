// Routes: which page (and form) of a workspace goes to which destination. What
// `leadrelay routes add|list` and the API's route operations both do.
import type { App } from '../app.js';
import { routeFilterSchema } from '../mapping/route-filter.js';
import { parseRouteDrift, type RouteDrift } from '../pipeline/form-drift.js';
import * as repo from '../store/repos.js';
import type { Route } from '../store/schema.js';
import { type FieldNamer, InvalidInputError, NotFoundError } from './errors.js';

/** A route by id; with a workspace, only one of that workspace (else not found). */
export async function getRoute(app: App, workspaceId: string | null, id: string, cliHint?: string): Promise<Route> {
  const route = await repo.findRoute(app.db, id);
  if (!route || (workspaceId !== null && route.workspace_id !== workspaceId)) throw new NotFoundError(`route "${id.slice(0, 64)}"`, cliHint);
  return route;
}

/** A route with its form-change flag read (null when its form has not changed since its mapping was set). */
export async function listRoutesWithDrift(app: App, workspaceId?: string): Promise<(Route & { parsedDrift: RouteDrift | null })[]> {
  return (await repo.listRoutes(app.db, workspaceId)).map((r) => ({ ...r, parsedDrift: parseRouteDrift(r.drift) }));
}

export interface AddRouteInput {
  workspaceId: string;
  pageId: string;
  formId?: string;
  destinationId: string;
  /** A route filter (README: Routing), already parsed from JSON. */
  filter?: unknown;
}

export interface AddedRoute {
  route: Route;
  /** Unrouted leads of the workspace (of the form) that a replay would now deliver. */
  waitingUnrouted: number;
  /** Whether the page is registered (a route of an unregistered page waits for it). */
  isPageRegistered: boolean;
}

export async function addRoute(app: App, input: AddRouteInput, name: FieldNamer): Promise<AddedRoute> {
  if (!/^\d{1,40}$/.test(input.pageId))
    throw new InvalidInputError({
      field: name('page_id'),
      message: `${name('page_id')} must be a numeric Facebook page id, got "${input.pageId.slice(0, 40)}"`,
    });
  if (input.formId !== undefined && !/^\d{1,40}$/.test(input.formId))
    throw new InvalidInputError({ field: name('form_id'), message: `${name('form_id')} must be a numeric lead form id, got "${input.formId.slice(0, 40)}"` });
  const dest = repo.isUuid(input.destinationId) ? await repo.findDestination(app.db, input.destinationId) : undefined;
  if (!dest || dest.workspace_id !== input.workspaceId)
    throw new InvalidInputError({
      field: name('destination_id'),
      message: `destination "${input.destinationId.slice(0, 64)}" not found in workspace ${input.workspaceId}`,
    });
  const page = await repo.findPageByPageId(app.db, input.pageId);
  if (page && page.workspace_id !== input.workspaceId)
    throw new InvalidInputError({ field: name('page_id'), message: `page ${input.pageId} belongs to another workspace` });
  let filter: unknown;
  if (input.filter !== undefined) {
    const parsed = routeFilterSchema.safeParse(input.filter);
    if (!parsed.success)
      throw new InvalidInputError({
        field: name('filter'),
        message: `invalid ${name('filter')}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      });
    filter = parsed.data;
  }
  const route = await repo.createRoute(app.db, {
    workspaceId: input.workspaceId,
    pageId: input.pageId,
    formId: input.formId ?? null,
    destinationId: dest.id,
    filter,
  });
  const waiting = await repo.listUnroutedLeads(app.db, input.workspaceId, input.formId ?? null);
  return { route, waitingUnrouted: waiting.length, isPageRegistered: page !== undefined };
}

/** Turns a route on or off (a disabled route takes no new lead). A null workspace: any (the operator's CLI). */
export async function setRouteEnabled(app: App, workspaceId: string | null, routeId: string, isEnabled: boolean, cliHint?: string): Promise<Route> {
  const route = await getRoute(app, workspaceId, routeId, cliHint);
  await repo.updateRoute(app.db, route.id, { isEnabled });
  return getRoute(app, workspaceId, routeId);
}
