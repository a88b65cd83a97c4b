// Facebook Login for Business: the dialog URL with its signed state, and the callback that stores a Facebook connection.
//
// Connect Facebook is what the web app's wizard does through the API. A signed-in person opens the
// login dialog (a state tied to their session and the workspace, usable once), comes back with a
// code, which becomes a long-lived user token stored encrypted as a "Facebook connection"
// (connections.ts). From it: the Pages they manage (`/me/accounts`), and for each Page they pick,
// its Page token stored through the same page service as `pages add`, the app installed on the Page
// and checked, and, when something stops leads, what and how to fix it in a marketer's words
// (managed-pages.ts, page-problems.ts). Plus a Page's lead forms, Meta test leads (lead-forms.ts),
// and the app-level webhook subscription (app-subscription.ts). Tokens and codes never appear in
// answers or logs.
// Reference: /work/shared/reference/meta-lead-ads.md §7 (tokens), §8 (subscribing), §9 (errors), §11 (test leads).
import { randomUUID } from 'node:crypto';
import type { AuditActor } from '../../accounts/audit.js';
import { writeAudit } from '../../accounts/audit.js';
import { allows } from '../../accounts/permissions.js';
import { findMembership, findUser, touchSession } from '../../accounts/store.js';
import type { App } from '../../app.js';
import {
  buildDialogUrl,
  createLoginStateSigner,
  FACEBOOK_LOGIN_SCOPES,
  facebookConnectionAad,
  facebookRedirectUri,
  findMissingPermissions,
  type LoginStateSigner,
} from '../../meta/facebook-login.js';
import { isGraphError } from '../../meta/graph-errors.js';
import type { GraphPermission } from '../../meta/graph-types.js';
import * as connections from '../../store/facebook-connections.js';
import { claimOneTimeTokens } from '../../store/one-time-tokens.js';
import type { FacebookConnection } from '../../store/schema.js';
import { errorSummary } from '../../util/error-summary.js';
import { ConflictError } from '../errors.js';

// ---- who is asking --------------------------------------------------------------------------------

/** A signed-in person in a workspace: the only kind of caller that can hold a Facebook connection. */
export interface FacebookCaller {
  workspaceId: string;
  userId: string;
  /** The stored id hash of their session: login states and re-ask links work with this session only. */
  sessionIdHash: string;
}

const signers = new WeakMap<App, LoginStateSigner>();
function stateSigner(app: App): LoginStateSigner {
  let signer = signers.get(app);
  if (!signer) {
    signer = createLoginStateSigner(app.keyRing.deriveKey('facebook-login-state'));
    signers.set(app, signer);
  }
  return signer;
}

/** Refuses when the server has no Meta app to log in with. */
export function requireMetaApp(app: App): { appId: string } {
  const { appId, appSecret } = app.config.meta;
  const missing = [!appId && 'META_APP_ID', !appSecret && 'META_APP_SECRET'].filter(Boolean);
  if (missing.length > 0) throw new ConflictError(`Connect Facebook is not set up on this server: ${missing.join(' and ')} must be set (README: Connect Meta)`);
  return { appId };
}

// ---- the dialog -----------------------------------------------------------------------------------

/**
 * The Facebook Login dialog URL for this person, workspace and session. `rerequest`: ask again
 * for permissions declined before (Meta shows declined permissions again only when asked so).
 */
export function buildLoginDialogUrl(app: App, caller: FacebookCaller, opts: { rerequest?: boolean; now?: number } = {}): string {
  const { appId } = requireMetaApp(app);
  const state = stateSigner(app).create(
    { workspaceId: caller.workspaceId, userId: caller.userId, sessionIdHash: caller.sessionIdHash },
    opts.now ?? Date.now(),
  );
  return buildDialogUrl({
    dialogUrl: app.config.meta.dialogUrl,
    graphVersion: app.config.meta.graphVersion,
    appId,
    redirectUri: facebookRedirectUri(app.config.publicUrl),
    state,
    configId: app.config.meta.loginConfigId,
    scopes: FACEBOOK_LOGIN_SCOPES,
    rerequest: opts.rerequest,
  });
}

// ---- the callback ---------------------------------------------------------------------------------

/** Why a login did not become a connection: the `facebook_error` the web app is sent back with. */
export const FACEBOOK_LOGIN_ERRORS = {
  access_denied: 'you chose Cancel (or did not allow LeadRelay) in the Facebook dialog, so nothing was connected',
  dialog_error: 'Facebook answered with an error instead of a login; nothing was connected',
  no_code: 'Facebook sent no login code back; nothing was connected',
  state_invalid: 'the answer from Facebook was not started from this LeadRelay (its state is missing or altered)',
  state_expired: 'the login took longer than 15 minutes; start it again',
  state_used: 'this login answer was already used; each Connect Facebook works once',
  session_mismatch: 'the login was started from another sign-in (or you signed out meanwhile); sign in and start it again',
  not_allowed: 'your role in this workspace does not allow connecting Facebook',
  code_refused: 'Facebook refused the login code (it works once and only for a few minutes); start again',
  app_settings_wrong: "Facebook refused LeadRelay's app id or secret: the server's META_APP_ID / META_APP_SECRET are wrong",
  meta_unavailable: 'Facebook could not be reached just now; try again in a minute',
  failed: 'something went wrong while connecting Facebook; try again',
} as const;
type FacebookLoginError = keyof typeof FACEBOOK_LOGIN_ERRORS;

export interface FacebookCallbackRequest {
  /** The callback's query parameters. */
  query: URLSearchParams;
  /** The session cookie's value, if the browser sent one. */
  sessionCookie: string | undefined;
  ip: string | null;
  userAgent: string | null;
}

/** Where to send the browser: the wizard's pages step with the new connection, or its Facebook step with `facebook_error`. */
export type FacebookCallbackOutcome =
  | { ok: true; workspaceId: string; connectionId: string; location: string }
  | { ok: false; workspaceId: string | null; error: FacebookLoginError; location: string };

/** A step of the web app's setup wizard (src/web/pages/wizard): /w/{workspace}/wizard/{step}. */
const wizardUrl = (app: App, workspaceId: string, step: 'facebook' | 'pages', params: Record<string, string>) =>
  `${app.config.publicUrl}/w/${encodeURIComponent(workspaceId)}/wizard/${step}?${new URLSearchParams(params).toString()}`;

/** Where a failed login goes when its workspace is not known: the caller's workspaces. */
export const facebookErrorUrl = (app: App, error: FacebookLoginError) =>
  `${app.config.publicUrl}/workspaces?${new URLSearchParams({ facebook_error: error }).toString()}`;

function failure(app: App, workspaceId: string | null, error: FacebookLoginError): FacebookCallbackOutcome {
  const location = workspaceId ? wizardUrl(app, workspaceId, 'facebook', { facebook_error: error }) : facebookErrorUrl(app, error);
  return { ok: false, workspaceId, error, location };
}

/** What a failed token exchange means for the person. Code 100 with 36007/36008/36009: the code is expired, for another redirect URI, or used. */
function classifyExchangeFailure(err: unknown): FacebookLoginError {
  if (!isGraphError(err)) return 'failed';
  const { code, category, message, reason } = err.info;
  if (reason === 'meta_app_id_missing' || reason === 'meta_app_secret_missing') return 'app_settings_wrong';
  // "Error validating client secret." comes as code 1, which is otherwise Meta's "temporary" code.
  if (code === 101 || /client secret|application id|client_id/i.test(message)) return 'app_settings_wrong';
  if (code === 100 || /code/i.test(message)) return 'code_refused';
  if (category === 'transient' || category === 'throttled') return 'meta_unavailable';
  return 'failed';
}

/**
 * The redirect back from the Facebook Login dialog. Checks the state against the session cookie
 * (same session, same person, not expired, not used before) before anything else; then turns the
 * code into a long-lived user token, reads who it is and what was granted, and stores it
 * encrypted. Never throws for what Facebook or the browser sent: every outcome is a redirect.
 */
export async function completeFacebookLogin(app: App, req: FacebookCallbackRequest): Promise<FacebookCallbackOutcome> {
  const stateParam = req.query.get('state') ?? '';
  const session = req.sessionCookie ? await touchSession(app.db, req.sessionCookie) : undefined;
  const liveSession = session?.mfa_verified ? session : undefined;
  const read = stateParam ? stateSigner(app).read(stateParam, liveSession?.id_hash ?? null, Date.now()) : ({ ok: false, failure: 'malformed' } as const);
  if (!read.ok) {
    app.logger.warn({ failure: read.failure, hasSession: liveSession !== undefined }, 'Facebook login callback refused: state');
    if (read.failure === 'expired') return failure(app, read.workspaceId ?? null, 'state_expired');
    if (read.failure === 'other_session') return failure(app, read.workspaceId ?? null, 'session_mismatch');
    return failure(app, null, 'state_invalid');
  }
  const { workspaceId, userId, nonce, expiresAtMs } = read.state;
  if (!liveSession || liveSession.user_id !== userId) return failure(app, workspaceId, 'session_mismatch');

  // Once only: a replayed callback (the same state, another code) must not connect a second account.
  if (!(await claimOneTimeTokens(app.db, [{ token: `facebook-login-state:${nonce}`, expiresAt: new Date(expiresAtMs) }]))) {
    app.logger.warn({ workspaceId, userId }, 'Facebook login callback refused: state already used');
    return failure(app, workspaceId, 'state_used');
  }
  const membership = await findMembership(app.db, userId, workspaceId);
  if (!membership || !allows({ role: membership.role, canReadAnswers: membership.can_read_answers }, 'config.write')) {
    return failure(app, workspaceId, 'not_allowed');
  }

  const dialogError = req.query.get('error');
  if (dialogError) {
    const reason = req.query.get('error_reason');
    app.logger.info({ workspaceId, userId, error: dialogError.slice(0, 40), reason: reason?.slice(0, 40) }, 'Facebook login not given');
    return failure(app, workspaceId, dialogError === 'access_denied' || reason === 'user_denied' ? 'access_denied' : 'dialog_error');
  }
  const code = req.query.get('code');
  if (!code) return failure(app, workspaceId, 'no_code');

  try {
    requireMetaApp(app);
  } catch {
    return failure(app, workspaceId, 'app_settings_wrong');
  }

  let token: string;
  let expiresInSeconds: number | null;
  try {
    const short = await app.graph.exchangeLoginCode({ code, redirectUri: facebookRedirectUri(app.config.publicUrl) });
    const long = await app.graph.exchangeForLongLivedToken(short.accessToken);
    token = long.accessToken;
    expiresInSeconds = long.expiresInSeconds;
  } catch (err) {
    const error = classifyExchangeFailure(err);
    app.logger.warn(
      { workspaceId, userId, error, reason: isGraphError(err) ? err.info.reason : errorSummary(err).name },
      'Facebook login code exchange failed',
    );
    return failure(app, workspaceId, error);
  }

  try {
    const me = await app.graph.getMe(token);
    const permissions = await app.graph.listPermissions(token);
    const connection = await storeConnection(app, { workspaceId, userId, token, expiresInSeconds, me, permissions });
    const user = await findUser(app.db, userId);
    const actor: AuditActor = { type: 'user', id: userId, label: user?.email ?? null };
    const declined = findMissingPermissions(permissions);
    await writeAudit(app.db, {
      workspaceId,
      actor,
      action: 'connectFacebook',
      target: { type: 'facebook_connection', id: connection.id },
      ip: req.ip,
      userAgent: req.userAgent,
      // Not the Facebook user id: the audit log is append-only, and a data-deletion request from
      // that person must leave no trace of it (the connection id says which login it was).
      details: { declined_permissions: declined },
    });
    app.logger.info({ workspaceId, userId, connectionId: connection.id, declined }, 'Facebook connected');
    return { ok: true, workspaceId, connectionId: connection.id, location: wizardUrl(app, workspaceId, 'pages', { connection: connection.id }) };
  } catch (err) {
    const error = isGraphError(err) && (err.category === 'transient' || err.category === 'throttled') ? 'meta_unavailable' : 'failed';
    app.logger.error(
      { workspaceId, userId, err: isGraphError(err) ? { reason: err.info.reason } : errorSummary(err) },
      'Facebook login could not be completed',
    );
    return failure(app, workspaceId, error);
  }
}

async function storeConnection(
  app: App,
  c: {
    workspaceId: string;
    userId: string;
    token: string;
    expiresInSeconds: number | null;
    me: { id: string; name: string | null };
    permissions: GraphPermission[];
  },
): Promise<FacebookConnection> {
  const id = randomUUID();
  return connections.replaceFacebookConnection(app.db, {
    id,
    workspaceId: c.workspaceId,
    userId: c.userId,
    fbUserId: c.me.id,
    name: c.me.name,
    tokenEnvelope: app.keyRing.encrypt(c.token, facebookConnectionAad(id)),
    grantedPermissions: c.permissions.filter((p) => p.status === 'granted').map((p) => p.permission),
    declinedPermissions: c.permissions.filter((p) => p.status !== 'granted').map((p) => p.permission),
    expiresAt: c.expiresInSeconds === null || c.expiresInSeconds === 0 ? null : new Date(Date.now() + c.expiresInSeconds * 1000),
  });
}
