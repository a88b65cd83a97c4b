// Who is signed in: GET /auth/session in the query cache (null when nobody is), the CSRF token
// taken from it, and the current workspace with what the caller's role allows there.
import { type QueryClient, queryOptions, useQuery } from '@tanstack/react-query';
import { createContext, useContext } from 'react';
import { fetchClient, type MyWorkspace, rememberCsrfToken, type Session } from '../api/client';

const sessionQuery = queryOptions({
  queryKey: ['session'],
  queryFn: async (): Promise<Session | null> => {
    const { data, error, response } = await fetchClient.GET('/auth/session');
    if (response.status === 401) {
      rememberCsrfToken(null);
      return null;
    }
    if (error) throw error;
    rememberCsrfToken(data.csrf_token);
    return data;
  },
  staleTime: 60_000,
});

export const useSession = () => useQuery(sessionQuery);

/** Reads the session afresh (after signing in or out, or a change to the caller's workspaces). */
export async function refreshSession(queryClient: QueryClient): Promise<Session | null> {
  return queryClient.fetchQuery({ ...sessionQuery, staleTime: 0 });
}

/** Forgets everything cached for the previous person. */
export async function resetForNewSession(queryClient: QueryClient): Promise<Session | null> {
  queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== 'session' });
  return refreshSession(queryClient);
}

export type Permission = MyWorkspace['permissions'][number];

export interface CurrentWorkspace {
  workspace: MyWorkspace;
  /** Whether the caller's role here allows it (the server's list; the server checks again anyway). */
  can(permission: Permission): boolean;
}

export const WorkspaceContext = createContext<CurrentWorkspace | null>(null);

export function useCurrentWorkspace(): CurrentWorkspace {
  const current = useContext(WorkspaceContext);
  if (!current) throw new Error('useCurrentWorkspace outside a workspace page');
  return current;
}

const LAST_WORKSPACE = 'leadrelay.lastWorkspace';

export function rememberWorkspace(id: string): void {
  try {
    localStorage.setItem(LAST_WORKSPACE, id);
  } catch {
    // storage may be off (private mode): the first workspace is opened instead
  }
}

/** The workspace to open: the one used last, when the caller still belongs to it, else the first. */
export function preferredWorkspace(session: Session): MyWorkspace | undefined {
  let last: string | null = null;
  try {
    last = localStorage.getItem(LAST_WORKSPACE);
  } catch {
    last = null;
  }
  return session.workspaces.find((w) => w.id === last) ?? session.workspaces[0];
}
