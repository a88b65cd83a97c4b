// Accepting an invitation from its link (PUBLIC_URL/invitation?token=…): a new address chooses a
// password and is signed in; an address with an account gives its password (or is signed in as
// it already) and then signs in as usual.
import { useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api, rememberCsrfToken } from '../api/client';
import { ApiForm, SubmitButton, TextInput } from '../components/form';
import { AuthLayout, Loading } from '../components/layout';
import { rememberWorkspace, resetForNewSession, useSession } from '../lib/session';

export function AcceptInvitationPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const session = useSession();
  const accept = api.useMutation('post', '/invitations/accept');

  if (session.isPending) return <Loading what="the invitation" />;
  if (!token)
    return (
      <AuthLayout title="Accept an invitation">
        <p>This page needs the link from your invitation (it ends with ?token=…). Ask the person who invited you to send it again.</p>
      </AuthLayout>
    );

  const signedIn = session.data && !session.data.mfa_required ? session.data : null;
  return (
    <AuthLayout
      title="Join a LeadRelay workspace"
      intro={
        signedIn ? (
          <p>
            You are signed in as <strong>{signedIn.user.email}</strong>. Accept to join with this account (the invitation must be for this address).
          </p>
        ) : (
          <>
            <p>New to LeadRelay? Choose a password (and tell us your name) to create your account.</p>
            <p>Already have an account with the invited address? Enter its password.</p>
          </>
        )
      }
    >
      <ApiForm
        error={accept.error}
        aria-label="Accept invitation"
        onSubmit={(v) =>
          accept.mutate(
            { body: { token, password: v.password || undefined, name: v.name || undefined } },
            {
              onSuccess: async (data) => {
                if (data.csrf_token) rememberCsrfToken(data.csrf_token);
                const now = await resetForNewSession(queryClient);
                rememberWorkspace(data.workspace_id);
                if (now && !now.mfa_required) navigate(`/w/${data.workspace_id}/wizard`, { replace: true });
                else navigate(`/sign-in?reason=invited&next=${encodeURIComponent(`/w/${data.workspace_id}/wizard`)}`, { replace: true });
              },
            },
          )
        }
      >
        {!signedIn && (
          <>
            <TextInput name="name" label="Your name" autoComplete="name" description="Only for a new account." />
            <TextInput
              name="password"
              label="Password"
              type="password"
              isRequired
              autoComplete="new-password"
              description="A new account: at least 10 characters, not your email address. An existing account: its password."
            />
          </>
        )}
        <SubmitButton isPending={accept.isPending}>Accept invitation</SubmitButton>
      </ApiForm>
      {!signedIn && (
        <p className="aside">
          Have an account? You can also <Link to={`/sign-in?next=${encodeURIComponent(`/invitation?token=${encodeURIComponent(token)}`)}`}>sign in first</Link>.
        </p>
      )}
    </AuthLayout>
  );
}
