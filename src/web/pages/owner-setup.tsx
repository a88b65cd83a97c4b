// The first owner's set-up: from the one-time link the server prints at its first start
// (PUBLIC_URL/setup?token=…), or with that link pasted in at `/`.
import { useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api, rememberCsrfToken } from '../api/client';
import { ApiForm, SubmitButton, TextInput } from '../components/form';
import { AuthLayout, Loading } from '../components/layout';
import { resetForNewSession } from '../lib/session';

/** The token of a pasted set-up link, or the pasted token itself. */
function tokenOf(pasted: string): string {
  const text = pasted.trim();
  try {
    return new URL(text).searchParams.get('token') ?? text;
  } catch {
    return text;
  }
}

export function SetupNeededPage() {
  const navigate = useNavigate();
  return (
    <AuthLayout
      title="Set up LeadRelay"
      intro={
        <>
          <p>LeadRelay has no owner yet. When the server started, it printed a one-time set-up link in its terminal (on stderr, valid 24 hours).</p>
          <p>Open that link, or paste it here. No link at hand? Restart the server for a new one, or run leadrelay users create-owner.</p>
        </>
      }
    >
      <ApiForm error={null} onSubmit={(v) => navigate(`/setup?token=${encodeURIComponent(tokenOf(v.link ?? ''))}`)} aria-label="Set-up link">
        <TextInput name="link" label="Set-up link" isRequired autoComplete="off" />
        <SubmitButton>Continue</SubmitButton>
      </ApiForm>
    </AuthLayout>
  );
}

export function OwnerSetupPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const setup = api.useQuery('get', '/auth/setup-status');
  const create = api.useMutation('post', '/auth/owner-setup');

  if (setup.isPending) return <Loading what="LeadRelay" />;
  if (setup.data?.owner_exists && !create.isSuccess)
    return (
      <AuthLayout title="LeadRelay is set up">
        <p>An owner exists already, so this set-up link no longer works.</p>
        <p>
          <Link to="/sign-in">Sign in</Link>
        </p>
      </AuthLayout>
    );
  if (!token) return <SetupNeededPage />;

  return (
    <AuthLayout title="Create the owner account" intro={<p>You will own LeadRelay: you can invite your team, connect Facebook and your CRM.</p>}>
      <ApiForm
        error={create.error}
        aria-label="Owner account"
        onSubmit={(v) =>
          create.mutate(
            { body: { token, email: v.email ?? '', password: v.password ?? '', name: v.name || undefined, workspace_name: v.workspace_name || undefined } },
            {
              onSuccess: async (data) => {
                rememberCsrfToken(data.csrf_token);
                await resetForNewSession(queryClient);
                await queryClient.invalidateQueries({ queryKey: ['get', '/auth/setup-status'] });
                const ws = data.workspaces[0];
                navigate(ws ? `/w/${ws.id}/wizard` : '/workspaces', { replace: true });
              },
            },
          )
        }
      >
        <TextInput name="name" label="Your name" autoComplete="name" />
        <TextInput name="email" label="Email" type="email" isRequired autoComplete="username" />
        <TextInput
          name="password"
          label="Password"
          type="password"
          isRequired
          autoComplete="new-password"
          description="At least 10 characters, and not your email address."
        />
        <TextInput name="workspace_name" label="Workspace name" defaultValue="My workspace" description="Your company or team. You can add more later." />
        <SubmitButton isPending={create.isPending}>Create account</SubmitButton>
      </ApiForm>
    </AuthLayout>
  );
}
