// Step 1: connect Facebook. The button asks the server for the Facebook Login dialog and sends the
// browser there; Facebook sends it back to the pages step with a connection, or here with a
// facebook_error code, which is explained in plain words with a way to try again.
import { Button } from 'react-aria-components';
import { Link, useSearchParams } from 'react-router';
import { api, problemMessage } from '../../api/client';
import { LoadError, Loading } from '../../components/layout';
import { formatDate } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { type SetupState, stepUrl } from './setup-state';

type ErrorHelp = { title: string; text: string; action: 'retry' | 'none' };

/** The codes GET /oauth/facebook/callback sends back (listed in the startFacebookLogin operation). */
const FACEBOOK_ERRORS: Record<string, ErrorHelp> = {
  access_denied: {
    title: 'Facebook was not connected',
    text: 'You chose Cancel in the Facebook window (or did not allow LeadRelay), so nothing was connected. LeadRelay needs your permission to list your pages and read their leads.',
    action: 'retry',
  },
  dialog_error: { title: 'Facebook answered with an error', text: 'Facebook showed an error instead of a login. Nothing was connected.', action: 'retry' },
  no_code: { title: 'Facebook did not finish the login', text: 'Facebook sent no login code back. Nothing was connected.', action: 'retry' },
  state_invalid: {
    title: 'This login did not start here',
    text: 'The answer from Facebook was not started from this LeadRelay, or it was altered. Start again from this page.',
    action: 'retry',
  },
  state_expired: { title: 'The login took too long', text: 'A Facebook login must finish within 15 minutes. Start it again.', action: 'retry' },
  state_used: { title: 'This login was already used', text: 'Each Connect Facebook works once. Start a new one.', action: 'retry' },
  session_mismatch: {
    title: 'You were signed out meanwhile',
    text: 'The login was started from another sign-in (or you signed out and in again). Start it again now.',
    action: 'retry',
  },
  not_allowed: {
    title: 'Your role cannot connect Facebook',
    text: 'Your role in this workspace does not allow changing the setup. Ask an owner or an admin to give you the editor role, or to connect Facebook.',
    action: 'none',
  },
  code_refused: {
    title: 'Facebook refused the login code',
    text: 'A login code works once and only for a few minutes (a reloaded page gets this answer). Start again.',
    action: 'retry',
  },
  app_settings_wrong: {
    title: 'LeadRelay’s Meta app settings are wrong',
    text: 'Facebook refused LeadRelay’s app id or secret. Whoever runs this server must correct META_APP_ID and META_APP_SECRET; trying again will not help until then.',
    action: 'none',
  },
  meta_unavailable: { title: 'Facebook could not be reached', text: 'Facebook did not answer just now. Try again in a minute.', action: 'retry' },
  failed: { title: 'Facebook was not connected', text: 'Something went wrong while connecting Facebook. Try again.', action: 'retry' },
};

function facebookErrorHelp(code: string): ErrorHelp {
  return FACEBOOK_ERRORS[code] ?? FACEBOOK_ERRORS.failed!;
}

/** Starts Facebook Login: the server makes the dialog URL (with a single-use state), the browser goes there. */
function useFacebookLogin() {
  const { workspace } = useCurrentWorkspace();
  const start = api.useMutation('post', '/workspaces/{workspaceId}/facebook/login');
  return {
    isPending: start.isPending || start.isSuccess,
    error: start.error,
    run: (rerequest = false) =>
      start.mutate(
        { params: { path: { workspaceId: workspace.id } }, body: rerequest ? { rerequest: true } : {} },
        { onSuccess: (data) => window.location.assign(data.dialog_url) },
      ),
  };
}

/** A failed Facebook login whose workspace is not known (it lands on the workspace list): what happened. */
export function FacebookLoginProblem({ code }: { code: string }) {
  const help = facebookErrorHelp(code);
  return (
    <div className="alert alert-error" role="alert">
      <p className="alert-title">{help.title}</p>
      <p>{help.text} Open a workspace’s setup wizard to connect Facebook again.</p>
    </div>
  );
}

function FacebookErrorAlert({ code, onRetry, isPending }: { code: string; onRetry(): void; isPending: boolean }) {
  const help = facebookErrorHelp(code);
  return (
    <div className="alert alert-error" role="alert">
      <p className="alert-title">{help.title}</p>
      <p>{help.text}</p>
      {help.action === 'retry' && (
        <p>
          <Button className="button" onPress={onRetry} isDisabled={isPending}>
            Try again
          </Button>
        </p>
      )}
    </div>
  );
}

export function FacebookStep({ state }: { state: SetupState }) {
  const { workspace, can } = useCurrentWorkspace();
  const [search] = useSearchParams();
  const errorCode = search.get('facebook_error');
  const login = useFacebookLogin();
  const canWrite = can('config.write');
  const connections = api.useQuery(
    'get',
    '/workspaces/{workspaceId}/facebook/connections',
    { params: { path: { workspaceId: workspace.id } } },
    { enabled: canWrite },
  );

  return (
    <>
      <p>
        LeadRelay asks Facebook for the pages you manage and for permission to read their leads. You log in on Facebook’s own page; LeadRelay never sees your
        Facebook password.
      </p>
      {errorCode && <FacebookErrorAlert code={errorCode} onRetry={() => login.run()} isPending={login.isPending} />}
      {login.error ? (
        <div className="alert alert-error" role="alert">
          <p>{problemMessage(login.error)}</p>
        </div>
      ) : null}
      {!canWrite ? (
        <p>Your role can see the setup but not change it: an editor, admin or owner connects Facebook.</p>
      ) : (
        <>
          <div className="button-row step-primary">
            <Button className="button button-primary button-facebook" onPress={() => login.run()} isDisabled={login.isPending}>
              {connections.data?.items.length ? 'Connect Facebook again' : 'Continue with Facebook'}
            </Button>
          </div>
          {connections.isPending ? (
            <Loading what="your Facebook connections" />
          ) : connections.error ? (
            <LoadError error={connections.error} what="your Facebook connections" />
          ) : connections.data.items.length > 0 ? (
            <section aria-labelledby="fb-connections-heading">
              <h3 id="fb-connections-heading">Your Facebook connections</h3>
              <ul className="card-list">
                {connections.data.items.map((c) => (
                  <li key={c.id} className="card card-stack">
                    <div>
                      <p className="card-title">{c.name ?? 'Facebook account'}</p>
                      <p className="muted">
                        Connected {formatDate(c.created_at)}
                        {c.expires_at ? ` · works until ${formatDate(c.expires_at)}` : ''}
                      </p>
                      {c.declined_permissions.length > 0 && (
                        <div className="alert alert-warning">
                          <p className="alert-title">You did not allow: {c.declined_permissions.join(', ')}</p>
                          <p>Without it LeadRelay cannot read leads. Ask Facebook again and tick it this time.</p>
                          <Button className="button" onPress={() => login.run(true)} isDisabled={login.isPending}>
                            Ask Facebook again
                          </Button>
                        </div>
                      )}
                    </div>
                    <Link className="button" to={stepUrl(workspace.id, 'pages', { connection: c.id })} state={{ keepFocus: true }}>
                      Choose pages<span className="visually-hidden"> of {c.name ?? 'this connection'}</span>
                    </Link>
                  </li>
                ))}
              </ul>
            </section>
          ) : null}
        </>
      )}
      {state.pages.length > 0 && (
        <p>
          {state.pages.length === 1 ? 'One page is' : `${state.pages.length} pages are`} connected already.{' '}
          <Link to={stepUrl(workspace.id, 'pages')} state={{ keepFocus: true }}>
            Choose a page and a form
          </Link>
        </p>
      )}
    </>
  );
}
