// The web app: providers (query cache, toasts, React Aria's router link-up) and every page's
// route. Each page has its own URL, so a person can bookmark it, reload it, or come back to it.
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useState } from 'react';
import { RouterProvider } from 'react-aria-components';
import { BrowserRouter, Link, Navigate, Route, Routes, useHref, useNavigate } from 'react-router';
import { problemOf } from './api/client';
import { AuthLayout } from './components/layout';
import { ToastProvider } from './components/toast';
import { AcceptInvitationPage } from './pages/accept-invitation';
import { HealthPage } from './pages/health/health-page';
import { HomePage } from './pages/home';
import { LeadLogPage } from './pages/leads/lead-log';
import { OwnerSetupPage } from './pages/owner-setup';
import { AlertsPage } from './pages/settings/alerts';
import { ApiKeysPage } from './pages/settings/api-keys';
import { AuditLogPage } from './pages/settings/audit-log';
import { ConnectionsPage } from './pages/settings/connections';
import { InvitationsPage } from './pages/settings/invitations';
import { MembersPage } from './pages/settings/members';
import { MfaPage } from './pages/settings/mfa';
import { SettingsIndex, SettingsLayout } from './pages/settings/settings-layout';
import { WorkspaceSettingsPage } from './pages/settings/workspace-settings';
import { ForgotPasswordPage, MfaStepPage, ResetPasswordPage, SignInPage } from './pages/sign-in';
import { RequireSession, WorkspaceFrame, WorkspacesPage } from './pages/signed-in';
import { WizardPage } from './pages/wizard/wizard';

function createQueryClient(): QueryClient {
  const queryClient: QueryClient = new QueryClient({
    defaultOptions: {
      queries: {
        // A refusal (4xx) will not change on a retry; a dropped connection or a 5xx may.
        retry: (failures, error) => failures < 2 && (problemOf(error).status === 0 || problemOf(error).status >= 500) && problemOf(error).status !== 503,
        refetchOnWindowFocus: true,
      },
    },
    // Signed out meanwhile (the session expired, or ended elsewhere): ask again who this is, and
    // the pages behind sign-in send the person to sign in.
    queryCache: new QueryCache({
      onError: (error, query) => {
        if (problemOf(error).status === 401 && query.queryKey[0] !== 'session') void queryClient.invalidateQueries({ queryKey: ['session'] });
      },
    }),
    mutationCache: new MutationCache({
      onError: (error) => {
        if (problemOf(error).status === 401) void queryClient.invalidateQueries({ queryKey: ['session'] });
      },
    }),
  });
  return queryClient;
}

function NotFoundPage() {
  return (
    <AuthLayout title="Page not found">
      <p>There is no page at this address.</p>
      <p>
        <Link to="/">Go to LeadRelay</Link>
      </p>
    </AuthLayout>
  );
}

function Pages() {
  const navigate = useNavigate();
  return (
    <RouterProvider navigate={navigate} useHref={useHref}>
      <Routes>
        <Route path="/" element={<HomePage />} />
        <Route path="/setup" element={<OwnerSetupPage />} />
        <Route path="/sign-in" element={<SignInPage />} />
        <Route path="/sign-in/mfa" element={<MfaStepPage />} />
        <Route path="/forgot-password" element={<ForgotPasswordPage />} />
        <Route path="/reset-password" element={<ResetPasswordPage />} />
        <Route path="/invitation" element={<AcceptInvitationPage />} />
        <Route path="/invite" element={<AcceptInvitationPage />} />
        <Route element={<RequireSession />}>
          <Route path="/workspaces" element={<WorkspacesPage />} />
          <Route path="/w/:workspaceId" element={<WorkspaceFrame />}>
            <Route index element={<Navigate to="wizard" replace />} />
            <Route path="wizard/*" element={<WizardPage />} />
            <Route path="leads/*" element={<LeadLogPage />} />
            <Route path="health" element={<HealthPage />} />
            <Route path="settings" element={<SettingsLayout />}>
              <Route index element={<SettingsIndex />} />
              <Route path="workspace" element={<WorkspaceSettingsPage />} />
              <Route path="connections" element={<ConnectionsPage />} />
              <Route path="alerts" element={<AlertsPage />} />
              <Route path="members" element={<MembersPage />} />
              <Route path="invitations" element={<InvitationsPage />} />
              <Route path="api-keys" element={<ApiKeysPage />} />
              <Route path="audit" element={<AuditLogPage />} />
              <Route path="mfa" element={<MfaPage />} />
            </Route>
          </Route>
        </Route>
        <Route path="*" element={<NotFoundPage />} />
      </Routes>
    </RouterProvider>
  );
}

export function App() {
  const [queryClient] = useState(createQueryClient);
  return (
    <QueryClientProvider client={queryClient}>
      <ToastProvider>
        <BrowserRouter>
          <Pages />
        </BrowserRouter>
      </ToastProvider>
    </QueryClientProvider>
  );
}
