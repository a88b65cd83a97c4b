// `/`: owner set-up while nobody can sign in, otherwise sign-in, otherwise the workspace used last.
import { Navigate } from 'react-router';
import { api, problemOf } from '../api/client';
import { AuthLayout, LoadError, Loading } from '../components/layout';
import { preferredWorkspace, useSession } from '../lib/session';
import { SetupNeededPage } from './owner-setup';

export function HomePage() {
  const setup = api.useQuery('get', '/auth/setup-status');
  const session = useSession();
  if (setup.isPending) return <Loading what="LeadRelay" />;
  if (setup.error)
    return (
      <AuthLayout title="LeadRelay">
        <LoadError error={setup.error} what="the server's state" />
      </AuthLayout>
    );
  if (!setup.data.owner_exists) return <SetupNeededPage />;
  if (session.isPending) return <Loading what="your session" />;
  if (session.error && problemOf(session.error).status !== 401)
    return (
      <AuthLayout title="LeadRelay">
        <LoadError error={session.error} what="your session" />
      </AuthLayout>
    );
  if (!session.data) return <Navigate to="/sign-in" replace />;
  if (session.data.mfa_required) return <Navigate to="/sign-in/mfa" replace />;
  const workspace = preferredWorkspace(session.data);
  return <Navigate to={workspace ? `/w/${workspace.id}/wizard` : '/workspaces'} replace />;
}
