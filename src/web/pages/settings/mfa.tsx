// Two-factor authentication for the signed-in person: enrol an authenticator app (QR code or the
// key typed in), confirm with a code, keep the recovery codes shown once; new recovery codes;
// turn it off with a code or the password.
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Button } from 'react-aria-components';
import { api } from '../../api/client';
import { ApiForm, SubmitButton, TextInput } from '../../components/form';
import { LoadError, Loading, SectionHeader } from '../../components/layout';
import { OneTimeSecret } from '../../components/one-time-secret';
import { useToast } from '../../components/toast';
import { refreshSession } from '../../lib/session';

/** The manual key in groups of four, easier to type. */
const grouped = (key: string) => key.replace(/(.{4})/g, '$1 ').trim();

function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone(): void }) {
  return (
    <section className="panel" aria-labelledby="recovery-heading">
      <h3 id="recovery-heading">Your recovery codes</h3>
      <p>If you lose your phone, each of these codes signs you in once instead of the app. Keep them somewhere safe, such as a password manager.</p>
      <OneTimeSecret label="Recovery codes" value={codes.join('\n')} note="They are shown only now." />
      <Button className="button button-primary" onPress={onDone}>
        I have saved them
      </Button>
    </section>
  );
}

export function MfaPage() {
  const queryClient = useQueryClient();
  const toast = useToast();
  const me = api.useQuery('get', '/me');
  const start = api.useMutation('post', '/me/mfa/totp');
  const confirm = api.useMutation('post', '/me/mfa/totp/confirm');
  const regenerate = api.useMutation('post', '/me/mfa/recovery-codes');
  const disable = api.useMutation('delete', '/me/mfa/totp');
  const [codes, setCodes] = useState<string[] | null>(null);
  const [disableWith, setDisableWith] = useState<'code' | 'password'>('code');

  const reload = async () => {
    await queryClient.invalidateQueries({ queryKey: ['get', '/me'] });
    await refreshSession(queryClient);
  };
  const done = async () => {
    setCodes(null);
    start.reset();
    confirm.reset();
    regenerate.reset();
    await reload();
  };

  let body: React.ReactNode;
  if (me.isPending) body = <Loading what="your account" />;
  else if (me.error) body = <LoadError error={me.error} what="your account" />;
  else if (codes) body = <RecoveryCodes codes={codes} onDone={done} />;
  else if (!me.data.mfa_enabled)
    body = start.data ? (
      <section className="panel" aria-labelledby="enrol-heading">
        <h3 id="enrol-heading">Scan the code with your authenticator app</h3>
        <div className="enrol">
          <img src={start.data.qr_code} width={200} height={200} alt="QR code to add LeadRelay to an authenticator app" />
          <div>
            <p>Can’t scan it? Add an account in the app by hand with this key (time-based, 6 digits, every 30 seconds):</p>
            <p>
              <code className="manual-key" data-manual-key={start.data.manual_key}>
                {grouped(start.data.manual_key)}
              </code>
            </p>
          </div>
        </div>
        <ApiForm
          error={confirm.error}
          aria-label="Confirm two-factor authentication"
          onSubmit={(v) => confirm.mutate({ body: { code: v.code ?? '' } }, { onSuccess: (data) => setCodes(data.recovery_codes) })}
        >
          <TextInput
            name="code"
            label="Code from the app"
            isRequired
            inputMode="numeric"
            autoComplete="one-time-code"
            description="Your other sessions end when you turn it on."
          />
          <SubmitButton isPending={confirm.isPending}>Turn on two-factor authentication</SubmitButton>
        </ApiForm>
      </section>
    ) : (
      <section className="panel" aria-labelledby="mfa-off-heading">
        <h3 id="mfa-off-heading">Two-factor authentication is off</h3>
        <p>With it on, signing in also needs a 6-digit code from an app on your phone (Google Authenticator, 1Password, Authy and the like).</p>
        <Button className="button button-primary" isDisabled={start.isPending} onPress={() => start.mutate({}, { onError: (e) => toast.failure(e) })}>
          Set up two-factor authentication
        </Button>
      </section>
    );
  else
    body = (
      <>
        <section className="panel" aria-labelledby="mfa-on-heading">
          <h3 id="mfa-on-heading">Two-factor authentication is on</h3>
          <p>
            {me.data.recovery_codes_left} recovery code{me.data.recovery_codes_left === 1 ? '' : 's'} left.
          </p>
        </section>
        <section className="panel" aria-labelledby="regenerate-heading">
          <h3 id="regenerate-heading">New recovery codes</h3>
          <p>The old codes stop working.</p>
          <ApiForm
            error={regenerate.error}
            aria-label="New recovery codes"
            onSubmit={(v) => regenerate.mutate({ body: { code: v.code ?? '' } }, { onSuccess: (data) => setCodes(data.recovery_codes) })}
          >
            <TextInput name="code" label="Code from the app" isRequired inputMode="numeric" autoComplete="one-time-code" />
            <SubmitButton isPending={regenerate.isPending}>Make new recovery codes</SubmitButton>
          </ApiForm>
        </section>
        <section className="panel" aria-labelledby="disable-heading">
          <h3 id="disable-heading">Turn off two-factor authentication</h3>
          <p>Workspaces that require it will refuse you until you set it up again.</p>
          <ApiForm
            key={disableWith}
            error={disable.error}
            aria-label="Turn off two-factor authentication"
            onSubmit={(v) =>
              disable.mutate(
                { body: disableWith === 'code' ? { code: v.code ?? '' } : { password: v.password ?? '' } },
                {
                  onSuccess: async () => {
                    toast.success('Two-factor authentication is off.');
                    await reload();
                  },
                },
              )
            }
          >
            {disableWith === 'code' ? (
              <TextInput name="code" label="Code from the app" isRequired inputMode="numeric" autoComplete="one-time-code" />
            ) : (
              <TextInput name="password" label="Your password" type="password" isRequired autoComplete="current-password" />
            )}
            <div className="button-row">
              <SubmitButton isPending={disable.isPending} className="button button-danger">
                Turn off
              </SubmitButton>
              <Button className="button button-quiet" onPress={() => setDisableWith((w) => (w === 'code' ? 'password' : 'code'))}>
                {disableWith === 'code' ? 'Use my password instead' : 'Use a code instead'}
              </Button>
            </div>
          </ApiForm>
        </section>
      </>
    );

  return (
    <>
      <SectionHeader page="Settings" title="Two-factor authentication" intro="Your own sign-in, in every workspace." />
      {body}
    </>
  );
}
