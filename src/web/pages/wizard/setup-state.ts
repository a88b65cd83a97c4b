// Where a workspace's setup stands, read from the server (pages, destinations, routes, a lead
// delivered through the route), and the step to resume at. The one thing not on the server until
// a route exists is the form a person picked in step 2: it is kept in this browser (a draft) and
// carried in the step's URL, so a reload or the CRM's consent round trip does not lose it.
import { api } from '../../api/client';
import type { components } from '../../api/schema';
import { useCurrentWorkspace } from '../../lib/session';

type Schemas = components['schemas'];
export type Route = Schemas['Route'];
export type Page = Schemas['Page'];
export type Destination = Schemas['Destination'];
export type DestinationType = Schemas['DestinationType'];
export type DestinationField = Schemas['DestinationField'];
export type LeadForm = Schemas['LeadForm'];
export type Mapping = Schemas['Mapping'];

export const STEPS = [
  { id: 'facebook', title: 'Connect Facebook' },
  { id: 'pages', title: 'Choose a page and a form' },
  { id: 'crm', title: 'Connect a CRM' },
  { id: 'map', title: 'Map fields' },
  { id: 'test', title: 'Send a test lead' },
  { id: 'done', title: 'Done: the route is live' },
] as const;
export type StepId = (typeof STEPS)[number]['id'];

export const isStepId = (s: string | undefined): s is StepId => STEPS.some((step) => step.id === s);

/** The page and form picked in step 2, before a route holds them. */
export interface FormChoice {
  page_id: string;
  form_id: string;
}

const draftKey = (workspaceId: string) => `leadrelay.wizard.${workspaceId}`;

export function rememberFormChoice(workspaceId: string, choice: FormChoice): void {
  try {
    localStorage.setItem(draftKey(workspaceId), JSON.stringify(choice));
  } catch {
    // storage may be off (private mode): the choice still travels in the step's URL
  }
}

function readFormChoice(workspaceId: string): FormChoice | null {
  try {
    const raw = localStorage.getItem(draftKey(workspaceId));
    const parsed = raw ? (JSON.parse(raw) as Partial<FormChoice>) : null;
    return typeof parsed?.page_id === 'string' && typeof parsed.form_id === 'string' ? { page_id: parsed.page_id, form_id: parsed.form_id } : null;
  } catch {
    return null;
  }
}

/** The choice in the URL (`?page=&form=`), else the one kept in this browser. */
export function formChoiceFrom(search: URLSearchParams, workspaceId: string): FormChoice | null {
  const page = search.get('page');
  const form = search.get('form');
  if (page && form) return { page_id: page, form_id: form };
  return readFormChoice(workspaceId);
}

export interface SetupState {
  isPending: boolean;
  error: unknown;
  pages: Page[];
  destinations: Destination[];
  routes: Route[];
  /** The route the wizard works on: `?route=`, else the newest. */
  route: Route | undefined;
  /** A lead went through the route into its CRM. */
  hasDelivered: boolean;
}

const newestFirst = (a: Route, b: Route) => b.created_at.localeCompare(a.created_at);

/** The workspace's setup as the server has it (the queries are shared with the steps through the cache). */
export function useSetupState(routeId: string | null): SetupState {
  const { workspace, can } = useCurrentWorkspace();
  const path = { workspaceId: workspace.id };
  const enabled = can('config.read');
  const pages = api.useQuery('get', '/workspaces/{workspaceId}/pages', { params: { path } }, { enabled });
  const destinations = api.useQuery('get', '/workspaces/{workspaceId}/destinations', { params: { path } }, { enabled });
  const routes = api.useQuery('get', '/workspaces/{workspaceId}/routes', { params: { path } }, { enabled });
  const sorted = [...(routes.data?.items ?? [])].sort(newestFirst);
  const route = (routeId ? sorted.find((r) => r.id === routeId) : undefined) ?? sorted[0];
  const isDeliveredAsked = route !== undefined && can('leads.read');
  const delivered = api.useQuery(
    'get',
    '/workspaces/{workspaceId}/leads',
    {
      params: {
        path,
        query: { destination_id: route?.destination_id, form_id: route?.form_id ?? undefined, status: 'delivered', limit: 1 },
      },
    },
    { enabled: isDeliveredAsked },
  );
  return {
    isPending: enabled && (pages.isPending || destinations.isPending || routes.isPending || (isDeliveredAsked && delivered.isPending)),
    error: pages.error ?? destinations.error ?? routes.error,
    pages: pages.data?.items ?? [],
    destinations: destinations.data?.items ?? [],
    routes: sorted,
    route,
    hasDelivered: (delivered.data?.items.length ?? 0) > 0,
  };
}

/** Which steps are done, by the server's state. */
export function completedSteps(state: SetupState, choice: FormChoice | null): Set<StepId> {
  const done = new Set<StepId>();
  if (state.pages.length > 0) done.add('facebook');
  if (state.route || (choice && state.pages.some((p) => p.page_id === choice.page_id))) done.add('pages');
  if (state.destinations.length > 0) done.add('crm');
  if (state.route?.mapping) done.add('map');
  if (state.hasDelivered) {
    done.add('test');
    done.add('done');
  }
  return done;
}

/** Where a person who comes back continues: the first thing the server does not have yet. */
export function resumeStep(state: SetupState, choice: FormChoice | null): StepId {
  const route = state.route;
  if (route) {
    if (!route.mapping) return 'map';
    return state.hasDelivered ? 'done' : 'test';
  }
  if (state.pages.length === 0) return 'facebook';
  if (choice && state.pages.some((p) => p.page_id === choice.page_id)) return 'crm';
  return 'pages';
}

/** A step's address, with the route it works on (steps 4 to 6) or the form choice (step 3). */
export function stepUrl(workspaceId: string, step: StepId, params: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) query.set(k, v);
  const q = query.toString();
  return `/w/${workspaceId}/wizard/${step}${q ? `?${q}` : ''}`;
}
