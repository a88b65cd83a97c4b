// The one way the web app talks to the server: openapi-fetch over the types generated from the
// OpenAPI document (schema.d.ts, `npm run gen:api`), and openapi-react-query's hooks over it for
// the query cache. The session cookie rides along by itself; every change also carries the
// session's CSRF token, which the server hands out at sign-in and in GET /auth/session.
import createFetchClient, { type Middleware } from 'openapi-fetch';
import createQueryHooks from 'openapi-react-query';
import type { components, paths } from './schema';

type Schemas = components['schemas'];
export type Problem = Schemas['Problem'];
export type Session = paths['/auth/session']['get']['responses'][200]['content']['application/json'];
export type MyWorkspace = Schemas['MyWorkspace'];
export type Role = MyWorkspace['role'];

let csrfToken: string | null = null;

/** Keeps the session's CSRF token for the changes that follow (null when signed out). */
export function rememberCsrfToken(token: string | null): void {
  csrfToken = token;
}

const sendCsrfToken: Middleware = {
  onRequest({ request }) {
    if (request.method !== 'GET' && request.method !== 'HEAD' && csrfToken) request.headers.set('x-csrf-token', csrfToken);
    return request;
  },
};

export const fetchClient = createFetchClient<paths>({ baseUrl: '/api/v1', credentials: 'same-origin' });
fetchClient.use(sendCsrfToken);

/** `api.useQuery('get', '/workspaces/{workspaceId}', { params: … })`, `api.useMutation('post', …)`. */
export const api = createQueryHooks(fetchClient);

function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && typeof (value as Problem).status === 'number' && typeof (value as Problem).title === 'string';
}

/** Any failure as a problem: the server's own, or one that says the server could not be reached. */
export function problemOf(error: unknown): Problem {
  if (isProblem(error)) return error;
  return {
    type: 'about:blank',
    title: 'No answer from the server',
    status: 0,
    detail: error instanceof Error ? `${error.message}. Check the connection and try again.` : 'Check the connection and try again.',
  };
}

/** The sentence to show a person for a failure. */
export function problemMessage(error: unknown): string {
  const p = problemOf(error);
  return p.detail ? `${p.title}: ${p.detail}` : p.title;
}
