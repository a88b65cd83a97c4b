// Signing in: email and password, then (when the account has TOTP on) the code from the app or a
// recovery code; and asking for a password-reset link, and using one.
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Button } from 'react-aria-components';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router';
import { api, rememberCsrfToken } from '../api/client';
import { ApiForm, SubmitButton, TextInput } from '../components/form';
import { AuthLayout, Loading } from '../components/layout';
import { useToast } from '../components/toast';
import { safeNext } from '../lib/navigation';
import { resetForNewSession, useSession } from '../lib/session';

export function SignInPage() {
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const session = useSession();
  const setup = api.useQuery('get', '/auth/setup-status');
  const signIn = api.useMutation('post', '/auth/sign-in');

  if (session.isPending || setup.isPending) return <Loading what="the sign-in page" />;
  if (setup.data && !setup.data.owner_exists) return <Navigate to="/" replace />;
  if (session.data && !signIn.isPending) return <Navigate to={session.data.mfa_required ? `/sign-in/mfa?next=${encodeURIComponent(next)}` : next} replace />;

  return (
    <AuthLayout title="Sign in" intro={params.get('reason') === 'invited' ? <p>You joined the workspace. Sign in to open it.</p> : undefined}>
      <ApiForm
        error={signIn.error}
        aria-label="Sign in"
        onSubmit={(v) =>
          signIn.mutate(
            { body: { email: v.email ?? '', password: v.password ?? '' } },
            {
              onSuccess: async (data) => {
                rememberCsrfToken(data.csrf_token);
                await resetForNewSession(queryClient);
                navigate(data.mfa_required ? `/sign-in/mfa?next=${encodeURIComponent(next)}` : next, { replace: true });
              },
            },
          )
        }
      >
        <TextInput name="email" label="Email" type="email" isRequired autoComplete="username" />
        <TextInput name="password" label="Password" type="password" isRequired autoComplete="current-password" />
        <SubmitButton isPending={signIn.isPending}>Sign in</SubmitButton>
      </ApiForm>
      <p className="aside">
        <Link to="/forgot-password">Forgot your password?</Link>
      </p>
    </AuthLayout>
  );
}

export function MfaStepPage() {
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const session = useSession();
  const [useRecovery, setUseRecovery] = useState(false);
  const complete = api.useMutation('post', '/auth/mfa');
  const signOut = api.useMutation('post', '/auth/sign-out');

  if (session.isPending) return <Loading what="your session" />;
  if (!session.data) return <Navigate to="/sign-in" replace />;
  if (!session.data.mfa_required && !complete.isPending) return <Navigate to={next} replace />;

  return (
    <AuthLayout
      title="Two-factor authentication"
      intro={<p>{useRecovery ? 'Enter one of your recovery codes. Each works once.' : 'Enter the 6-digit code your authenticator app shows for LeadRelay.'}</p>}
    >
      <ApiForm
        key={useRecovery ? 'recovery' : 'code'}
        error={complete.error}
        aria-label="Second factor"
        onSubmit={(v) =>
          complete.mutate(
            { body: useRecovery ? { recovery_code: v.recovery_code ?? '' } : { code: v.code ?? '' } },
            {
              onSuccess: async (data) => {
                rememberCsrfToken(data.csrf_token);
                await resetForNewSession(queryClient);
                navigate(next, { replace: true });
              },
            },
          )
        }
      >
        {useRecovery ? (
          <TextInput name="recovery_code" label="Recovery code" isRequired autoComplete="off" autoFocus />
        ) : (
          <TextInput name="code" label="Code" isRequired inputMode="numeric" autoComplete="one-time-code" pattern="\s*\d{6}\s*" autoFocus />
        )}
        <SubmitButton isPending={complete.isPending}>Verify</SubmitButton>
      </ApiForm>
      <div className="aside button-row">
        <Button className="button button-quiet" onPress={() => setUseRecovery((r) => !r)}>
          {useRecovery ? 'Use a code from the app instead' : 'Use a recovery code instead'}
        </Button>
        <Button
          className="button button-quiet"
          onPress={() =>
            signOut.mutate(
              {},
              {
                onSettled: async () => {
                  await resetForNewSession(queryClient);
                  navigate('/sign-in', { replace: true });
                },
              },
            )
          }
        >
          Cancel and sign out
        </Button>
      </div>
    </AuthLayout>
  );
}

export function ForgotPasswordPage() {
  const request = api.useMutation('post', '/auth/password-reset');
  return (
    <AuthLayout title="Reset your password">
      {request.isSuccess ? (
        <div className="alert alert-success" role="status">
          <p>If the address has an account and this server sends mail, a reset link is on its way. It works for one hour.</p>
          <p>No mail? Ask a workspace owner or admin for a reset link, or your operator (leadrelay users reset-link).</p>
        </div>
      ) : (
        <ApiForm error={request.error} aria-label="Reset password" onSubmit={(v) => request.mutate({ body: { email: v.email ?? '' } })}>
          <TextInput name="email" label="Email" type="email" isRequired autoComplete="username" />
          <SubmitButton isPending={request.isPending}>Send reset link</SubmitButton>
        </ApiForm>
      )}
      <p className="aside">
        <Link to="/sign-in">Back to sign in</Link>
      </p>
    </AuthLayout>
  );
}

export function ResetPasswordPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const toast = useToast();
  const navigate = useNavigate();
  const reset = api.useMutation('post', '/auth/password-reset/complete');
  return (
    <AuthLayout title="Choose a new password">
      {!token ? (
        <p>This page needs the link from the reset mail (it ends with ?token=…).</p>
      ) : (
        <ApiForm
          error={reset.error}
          aria-label="New password"
          onSubmit={(v) =>
            reset.mutate(
              { body: { token, password: v.password ?? '' } },
              {
                onSuccess: () => {
                  toast.success('Your password is changed. Sign in with it.');
                  navigate('/sign-in', { replace: true });
                },
              },
            )
          }
        >
          <TextInput
            name="password"
            label="New password"
            type="password"
            isRequired
            autoComplete="new-password"
            description="At least 10 characters, and not your email address."
          />
          <SubmitButton isPending={reset.isPending}>Set password</SubmitButton>
        </ApiForm>
      )}
    </AuthLayout>
  );
}
