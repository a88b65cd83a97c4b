// The pages behind sign-in: the guard that sends a visitor to sign in (or to the second factor)
// and back afterwards, the workspace frame with what the caller's role allows there, and the
// list of workspaces with a way to create one.
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo } from 'react';
import { Link, Navigate, Outlet, useLocation, useNavigate, useParams } from 'react-router';
import { api, problemOf, type Session } from '../api/client';
import { ApiForm, SubmitButton, TextInput } from '../components/form';
import { AppShell, LoadError, Loading, PageHeader } from '../components/layout';
import { nextQuery } from '../lib/navigation';
import { type CurrentWorkspace, refreshSession, rememberWorkspace, useSession, WorkspaceContext } from '../lib/session';

/** The session, on a page RequireSession let through. */
export function useSignedInSession(): Session {
  const session = useSession();
  if (!session.data) throw new Error('useSignedInSession outside RequireSession');
  return session.data;
}

export function RequireSession() {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) return <Loading what="your session" />;
  if (session.error) {
    if (problemOf(session.error).status === 503) return <Navigate to="/" replace />;
    return <LoadError error={session.error} what="your session" />;
  }
  const here = `${location.pathname}${location.search}`;
  if (!session.data) return <Navigate to={`/sign-in${nextQuery(here)}`} replace />;
  if (session.data.mfa_required) return <Navigate to={`/sign-in/mfa${nextQuery(here)}`} replace />;
  return <Outlet />;
}

export function WorkspaceFrame() {
  const session = useSignedInSession();
  const { workspaceId } = useParams();
  const workspace = session.workspaces.find((w) => w.id === workspaceId);
  const current = useMemo<CurrentWorkspace | null>(
    () => (workspace ? { workspace, can: (permission) => workspace.permissions.includes(permission) } : null),
    [workspace],
  );
  useEffect(() => {
    if (workspace) rememberWorkspace(workspace.id);
  }, [workspace]);

  if (!current)
    return (
      <AppShell session={session}>
        <PageHeader title="Workspace not found" intro="You are not a member of this workspace, or it does not exist." />
        <p>
          <Link to="/workspaces">See your workspaces</Link>
        </p>
      </AppShell>
    );
  return (
    <WorkspaceContext.Provider value={current}>
      <AppShell session={session} workspace={current}>
        {current.workspace.require_mfa && !session.user.mfa_enabled && (
          <div className="alert alert-warning" role="alert">
            <p>
              This workspace requires two-factor authentication. <Link to={`/w/${current.workspace.id}/settings/mfa`}>Set it up</Link> to see and change its
              data.
            </p>
          </div>
        )}
        <Outlet />
      </AppShell>
    </WorkspaceContext.Provider>
  );
}

export function WorkspacesPage() {
  const session = useSignedInSession();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const create = api.useMutation('post', '/workspaces');
  return (
    <AppShell session={session}>
      <PageHeader title="Workspaces" intro="Each workspace has its own pages, CRM connections, leads and team." />
      {session.workspaces.length === 0 ? (
        <p>You are not in any workspace yet. Create one, or ask a colleague to invite you.</p>
      ) : (
        <ul className="card-list">
          {session.workspaces.map((w) => (
            <li key={w.id} className="card">
              <Link to={`/w/${w.id}/wizard`} className="card-link">
                {w.name}
              </Link>
              <span className="role-badge">{w.role}</span>
            </li>
          ))}
        </ul>
      )}
      <section className="panel" aria-labelledby="new-workspace">
        <h2 id="new-workspace">Create a workspace</h2>
        <ApiForm
          error={create.error}
          aria-label="Create a workspace"
          onSubmit={(v) =>
            create.mutate(
              { body: { name: v.name ?? '' } },
              {
                onSuccess: async (ws) => {
                  await refreshSession(queryClient);
                  navigate(`/w/${ws.id}/wizard`);
                },
              },
            )
          }
        >
          <TextInput name="name" label="Workspace name" isRequired />
          <SubmitButton isPending={create.isPending}>Create workspace</SubmitButton>
        </ApiForm>
      </section>
    </AppShell>
  );
}
