// Connect Facebook: what the web app's wizard does through the API, on Facebook Login for
// Business. A signed-in person opens the login dialog (a state tied to their session and the
// workspace, usable once), comes back with a code, which becomes a long-lived user token stored
// encrypted as a "Facebook connection". From it: the Pages they manage (`/me/accounts`), and for
// each Page they pick, its Page token stored through the same page service as `pages add`, the
// app installed on the Page and checked, and, when something stops leads, what and how to fix it
// in a marketer's words. Plus a Page's lead forms, Meta test leads, and the app-level webhook
// subscription. Tokens and codes never appear in answers or logs.
// Reference: /work/shared/reference/meta-lead-ads.md §7 (tokens), §8 (subscribing), §9 (errors), §11 (test leads).
import { randomUUID } from 'node:crypto';
import type { AuditActor } from '../accounts/audit.js';
import { writeAudit } from '../accounts/audit.js';
import { allows } from '../accounts/permissions.js';
import { findMembership, findUser, touchSession } from '../accounts/store.js';
import type { App } from '../app.js';
import {
  buildDialogUrl,
  checkPageTasks,
  createLoginStateSigner,
  describePermissionPurpose,
  FACEBOOK_LOGIN_SCOPES,
  facebookConnectionAad,
  facebookRedirectUri,
  findMissingPermissions,
  type LoginStateSigner,
} from '../meta/facebook-login.js';
import { type GraphError, isGraphError } from '../meta/graph-errors.js';
import type { GraphAccount, GraphFormSummary, GraphPermission } from '../meta/graph-types.js';
import * as connections from '../store/facebook-connections.js';
import { recordFacebookTestLead } from '../store/facebook-user-data.js';
import { claimOneTimeTokens } from '../store/one-time-tokens.js';
import * as repo from '../store/repos.js';
import type { FacebookConnection } from '../store/schema.js';
import { isUuid } from '../store/values.js';
import { errorSummary } from '../util/error-summary.js';
import { ConflictError, type FieldNamer, InvalidInputError, NotFoundError, UpstreamError } from './errors.js';
import { getPage, pageTokenOf, savePage } from './pages.js';

/** At most this many Pages are read from `/me/accounts` (100 a request); more are reported as truncated. */
const MAX_LISTED_PAGES = 1000;
/** At most this many lead forms of a Page are listed. */
const MAX_LISTED_FORMS = 500;
const ACCOUNTS_PAGE_SIZE = 100;
/** How many Pages are connected at once. */
const CONNECT_CONCURRENCY = 4;
/** The webhook field LeadRelay needs at both the app and the Page level. */
const LEADGEN = 'leadgen';
const LEADS_TESTING_TOOL = 'https://developers.facebook.com/tools/lead-ads-testing';

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
function requireMetaApp(app: App): { appId: string } {
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

/** Where to send the browser: the wizard's pages step with the new connection, or with `facebook_error`. */
export type FacebookCallbackOutcome =
  | { ok: true; workspaceId: string; connectionId: string; location: string }
  | { ok: false; workspaceId: string | null; error: FacebookLoginError; location: string };

const wizardUrl = (app: App, workspaceId: string, params: Record<string, string>) =>
  `${app.config.publicUrl}/app/w/${encodeURIComponent(workspaceId)}/setup?${new URLSearchParams({ step: 'pages', ...params }).toString()}`;

function failure(app: App, workspaceId: string | null, error: FacebookLoginError): FacebookCallbackOutcome {
  const location = workspaceId
    ? wizardUrl(app, workspaceId, { facebook_error: error })
    : `${app.config.publicUrl}/app?${new URLSearchParams({ facebook_error: error }).toString()}`;
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
    return { ok: true, workspaceId, connectionId: connection.id, location: wizardUrl(app, workspaceId, { connection: connection.id }) };
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

// ---- connections ----------------------------------------------------------------------------------

export interface ConnectionView {
  id: string;
  name: string | null;
  facebook_user_id: string;
  granted_permissions: string[];
  declined_permissions: string[];
  expires_at: string | null;
  created_at: string;
}

export const connectionView = (c: FacebookConnection): ConnectionView => ({
  id: c.id,
  name: c.name,
  facebook_user_id: c.fb_user_id,
  granted_permissions: c.granted_permissions,
  declined_permissions: c.declined_permissions,
  expires_at: c.expires_at ? new Date(c.expires_at).toISOString() : null,
  created_at: new Date(c.created_at).toISOString(),
});

export async function listConnections(app: App, caller: FacebookCaller): Promise<FacebookConnection[]> {
  return connections.listFacebookConnections(app.db, caller);
}

async function loadConnection(app: App, caller: FacebookCaller, connectionId: string): Promise<{ connection: FacebookConnection; token: string }> {
  const connection = isUuid(connectionId) ? await connections.findFacebookConnection(app.db, { id: connectionId, ...caller }) : undefined;
  if (!connection) throw new NotFoundError(`Facebook connection "${connectionId.slice(0, 40)}"`);
  return { connection, token: app.keyRing.decrypt(connection.token_envelope, facebookConnectionAad(connection.id)) };
}

export async function forgetConnection(app: App, caller: FacebookCaller, connectionId: string): Promise<void> {
  const gone = isUuid(connectionId) && (await connections.deleteFacebookConnection(app.db, { id: connectionId, ...caller }));
  if (!gone) throw new NotFoundError(`Facebook connection "${connectionId.slice(0, 40)}"`);
}

/** A Graph failure of a call made with a connection's user token, as the service error a person can act on. */
function userTokenFailure(err: unknown, what: string): Error {
  if (!isGraphError(err)) return err instanceof Error ? err : new Error(String(err));
  const { category } = err.info;
  if (category === 'token_dead')
    return new ConflictError(
      `the Facebook login no longer works (it expired, or the password changed, or LeadRelay was removed): connect Facebook again (${err.info.reason})`,
    );
  if (category === 'transient' || category === 'throttled')
    return new UpstreamError(`Facebook could not ${what} just now (${err.info.reason}); try again in a minute`);
  return new UpstreamError(`Facebook refused to ${what}: ${err.info.message} (${err.info.reason})`);
}

// ---- permissions ----------------------------------------------------------------------------------

interface DeclinedPermission {
  permission: string;
  /** What LeadRelay cannot do without it. */
  explanation: string;
}

const declinedView = (missing: string[]): DeclinedPermission[] =>
  missing.map((permission) => ({ permission, explanation: `Without "${permission}" LeadRelay cannot ${describePermissionPurpose(permission)}.` }));

/** Reads what the person granted now (it can change on Facebook at any time) and records it on the connection. */
async function refreshPermissions(app: App, connection: FacebookConnection, token: string): Promise<string[]> {
  let permissions: GraphPermission[];
  try {
    permissions = await app.graph.listPermissions(token);
  } catch (err) {
    throw userTokenFailure(err, 'say which permissions you granted');
  }
  await connections.setFacebookConnectionPermissions(
    app.db,
    connection.id,
    permissions.filter((p) => p.status === 'granted').map((p) => p.permission),
    permissions.filter((p) => p.status !== 'granted').map((p) => p.permission),
  );
  return findMissingPermissions(permissions);
}

// ---- pages ----------------------------------------------------------------------------------------

/** Reads `/me/accounts` to the cap. */
async function readAccounts(app: App, token: string): Promise<{ accounts: GraphAccount[]; isTruncated: boolean }> {
  const accounts: GraphAccount[] = [];
  try {
    for await (const account of app.graph.listAccounts(token, { pageSize: ACCOUNTS_PAGE_SIZE })) {
      if (accounts.length >= MAX_LISTED_PAGES) return { accounts, isTruncated: true };
      accounts.push(account);
    }
  } catch (err) {
    throw userTokenFailure(err, 'list the Pages you manage');
  }
  return { accounts, isTruncated: false };
}

interface ListedPage {
  page_id: string;
  name: string | null;
  category: string | null;
  tasks: string[];
  can_manage_leads: boolean;
  already_connected: boolean;
  /** What the person's tasks on the Page do not allow, when they stop leads. */
  problems: PageProblem[];
}

export interface ConnectionPages {
  connection: ConnectionView;
  pages: ListedPage[];
  is_truncated: boolean;
  declined_permissions: DeclinedPermission[];
  /** Opens the dialog again, asking for the declined permissions; null when none is declined. */
  reask_url: string | null;
}

/** The Pages the connected person manages, with what they may do there and which are already connected here. */
export async function listConnectionPages(app: App, caller: FacebookCaller, connectionId: string): Promise<ConnectionPages> {
  const { connection, token } = await loadConnection(app, caller, connectionId);
  const missing = await refreshPermissions(app, connection, token);
  const { accounts, isTruncated } = await readAccounts(app, token);
  // A disconnected page is not connected: picking it connects it again.
  const connectedHere = new Set((await repo.listPages(app.db, caller.workspaceId)).filter((p) => p.status !== 'disconnected').map((p) => p.page_id));
  const fresh = (await connections.findFacebookConnection(app.db, { id: connection.id, ...caller })) ?? connection;
  return {
    connection: connectionView(fresh),
    pages: accounts.map((a) => {
      const tasks = checkPageTasks(a.tasks);
      return {
        page_id: a.id,
        name: a.name,
        category: a.category,
        tasks: a.tasks,
        can_manage_leads: tasks.canManageLeads,
        already_connected: connectedHere.has(a.id),
        problems: taskProblems(a, tasks),
      };
    }),
    is_truncated: isTruncated,
    declined_permissions: declinedView(missing),
    reask_url: missing.length > 0 ? buildLoginDialogUrl(app, caller, { rerequest: true }) : null,
  };
}

// ---- connecting pages -----------------------------------------------------------------------------

/** Something that stops (or may stop) leads of a Page, in words a marketer can act on. */
interface PageProblem {
  code:
    | 'permission_declined'
    | 'page_not_managed'
    | 'task_missing'
    | 'token_refused'
    | 'page_in_other_workspace'
    | 'meta_unavailable'
    | 'subscription_failed'
    | 'subscription_not_verified'
    | 'no_lead_access'
    | 'app_not_subscribed';
  message: string;
  fix: string;
  /** A link that does the fix (the dialog asking again for declined permissions). */
  fix_url?: string;
  /** The permission concerned (permission_declined). */
  permission?: string;
}

export interface ConnectedPage {
  page_id: string;
  name: string | null;
  status: 'connected' | 'problem';
  problems: PageProblem[];
  /** Smaller things to know that do not stop leads. */
  warnings: string[];
}

function taskProblems(account: GraphAccount, tasks = checkPageTasks(account.tasks)): PageProblem[] {
  const missing = [!tasks.canInstallApp && 'MANAGE (full control, or at least content or moderation)', !tasks.canReadLeads && 'ADVERTISE'].filter(
    (t): t is string => typeof t === 'string',
  );
  if (missing.length === 0) return [];
  const what = [!tasks.canInstallApp && 'be installed on it', !tasks.canReadLeads && 'read the leads of its ads'].filter(Boolean).join(' or ');
  return [
    {
      code: 'task_missing',
      message: `Your role on the Page "${account.name ?? account.id}" lacks the task${missing.length > 1 ? 's' : ''} ${missing.join(' and ')}, so LeadRelay cannot ${what} with your login.`,
      fix: `In Meta Business Settings → Accounts → Pages → "${account.name ?? account.id}" → People (or the Page's settings → Page access), give yourself full control of the Page (or the tasks listed), then connect Facebook again.`,
    },
  ];
}

function declinedProblems(missing: string[], reaskUrl: string): PageProblem[] {
  return missing.map((permission) => ({
    code: 'permission_declined' as const,
    permission,
    message: `You did not allow the permission "${permission}", so LeadRelay cannot ${describePermissionPurpose(permission)}.`,
    fix: 'Connect Facebook again and tick this permission when Facebook asks (the link asks for it again).',
    fix_url: reaskUrl,
  }));
}

/** The app-level webhook subscription, as far as leads are concerned. */
export interface AppSubscriptionState {
  status: 'subscribed' | 'not_subscribed' | 'other_callback' | 'inactive' | 'missing_leadgen' | 'unknown';
  callbackUrl: string | null;
  expectedCallbackUrl: string;
  fields: string[];
  /** Why the state is unknown. */
  reason?: string;
}

const expectedCallbackUrl = (app: App) => `${app.config.publicUrl}/webhooks/meta`;

/** Reads `GET /{app-id}/subscriptions` and says whether Page `leadgen` events come to this server. */
export async function readAppSubscription(app: App): Promise<AppSubscriptionState> {
  const expected = expectedCallbackUrl(app);
  let subscriptions: Awaited<ReturnType<App['graph']['listAppSubscriptions']>>;
  try {
    subscriptions = await app.graph.listAppSubscriptions();
  } catch (err) {
    if (!isGraphError(err)) throw err;
    return { status: 'unknown', callbackUrl: null, expectedCallbackUrl: expected, fields: [], reason: err.info.reason };
  }
  const page = subscriptions.find((s) => s.object === 'page');
  if (!page) return { status: 'not_subscribed', callbackUrl: null, expectedCallbackUrl: expected, fields: [] };
  const base = { callbackUrl: page.callbackUrl, expectedCallbackUrl: expected, fields: page.fields };
  if (page.callbackUrl !== expected) return { status: 'other_callback', ...base };
  if (!page.fields.includes(LEADGEN)) return { status: 'missing_leadgen', ...base };
  if (!page.isActive) return { status: 'inactive', ...base };
  return { status: 'subscribed', ...base };
}

function appSubscriptionProblem(workspaceId: string, s: AppSubscriptionState): PageProblem | undefined {
  const how =
    `A workspace owner can do it in LeadRelay (Settings → Facebook → Subscribe, i.e. POST /api/v1/workspaces/${workspaceId}/facebook/app-subscription), ` +
    `or in the Meta App Dashboard → Webhooks → Page: callback URL ${s.expectedCallbackUrl}, the verify token of META_VERIFY_TOKEN, and subscribe to the "leadgen" field.`;
  switch (s.status) {
    case 'subscribed':
    case 'unknown':
      return undefined;
    case 'other_callback':
      return {
        code: 'app_not_subscribed',
        message: `LeadRelay's Meta app sends Page events to ${s.callbackUrl ?? 'another address'}, not to this server (${s.expectedCallbackUrl}), so leads do not arrive here.`,
        fix: `Point the app's Page webhook at ${s.expectedCallbackUrl}. ${how}`,
      };
    case 'missing_leadgen':
      return {
        code: 'app_not_subscribed',
        message: 'LeadRelay\'s Meta app has a Page webhook, but not for the "leadgen" field, so Facebook sends no leads.',
        fix: `Subscribe the app's Page webhook to "leadgen". ${how}`,
      };
    case 'inactive':
      return {
        code: 'app_not_subscribed',
        message: "LeadRelay's Meta app has its Page webhook switched off (Meta turns it off after failing deliveries), so Facebook sends no leads.",
        fix: `Subscribe it again. ${how}`,
      };
    default:
      return {
        code: 'app_not_subscribed',
        message: "LeadRelay's Meta app is not subscribed to Page lead events, so Facebook sends no leads even to installed Pages.",
        fix: `Subscribe the app once. ${how}`,
      };
  }
}

function graphWords(err: GraphError): string {
  const { code, subcode, message } = err.info;
  return code === undefined ? message : `${message} (Graph error ${code}${subcode === undefined ? '' : `/${subcode}`})`;
}

/**
 * Connects the Pages the person picked: stores each Page token (through the page service, with
 * the checks of `pages add`), installs the app on the Page and reads the installation back, and
 * checks that the person and the app may read the Page's leads. Each Page gets `connected`, or
 * `problem` with what to change. Pages are independent: one Page's problem stops no other.
 */
export async function connectPages(
  app: App,
  caller: FacebookCaller,
  input: { connectionId: string; pageIds: string[] },
  name: FieldNamer,
): Promise<ConnectedPage[]> {
  const { appId } = requireMetaApp(app);
  const unique = [...new Set(input.pageIds)];
  const bad = unique.find((id) => !/^\d{1,40}$/.test(id));
  if (bad !== undefined)
    throw new InvalidInputError({ field: name('page_ids'), message: `${name('page_ids')} must hold numeric Facebook page ids, got "${bad.slice(0, 40)}"` });
  const { connection, token } = await loadConnection(app, caller, input.connectionId);
  const missing = await refreshPermissions(app, connection, token);
  const { accounts } = await readAccounts(app, token);
  const byId = new Map(accounts.map((a) => [a.id, a]));
  const appSubscription = await readAppSubscription(app);
  const appProblem = appSubscriptionProblem(caller.workspaceId, appSubscription);
  const reaskUrl = missing.length > 0 ? buildLoginDialogUrl(app, caller, { rerequest: true }) : '';

  const connectOne = async (pageId: string): Promise<ConnectedPage> => {
    const account = byId.get(pageId);
    if (!account?.accessToken) {
      return {
        page_id: pageId,
        name: account?.name ?? null,
        status: 'problem',
        problems: [
          {
            code: 'page_not_managed',
            message: `The Facebook account you connected (${connection.name ?? connection.fb_user_id}) does not manage the Page ${pageId}${missing.includes('pages_show_list') ? ', or did not let LeadRelay see it' : ''}.`,
            fix: 'Connect Facebook with an account that has a role on this Page, and choose the Page (and its business) when Facebook asks which ones LeadRelay may use.',
            ...(reaskUrl ? { fix_url: reaskUrl } : {}),
          },
        ],
        warnings: [],
      };
    }
    const c = { account, pageToken: account.accessToken, appId, fbUserId: connection.fb_user_id, missing, reaskUrl, appProblem };
    return connectOnePage(app, caller, c, name);
  };
  // A few Pages at a time: each takes about six Graph calls, and Meta counts Page calls per Page.
  const results: ConnectedPage[] = new Array(unique.length);
  let next = 0;
  const worker = async () => {
    while (next < unique.length) {
      const i = next++;
      results[i] = await connectOne(unique[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, unique.length) }, worker));
  if (appSubscription.status === 'unknown') {
    for (const r of results)
      r.warnings.push(`could not read the Meta app's webhook subscription (${appSubscription.reason ?? 'unknown'}), so it was not checked`);
  }
  return results;
}

async function connectOnePage(
  app: App,
  caller: FacebookCaller,
  c: { account: GraphAccount; pageToken: string; appId: string; fbUserId: string; missing: string[]; reaskUrl: string; appProblem: PageProblem | undefined },
  name: FieldNamer,
): Promise<ConnectedPage> {
  const { account, pageToken } = c;
  const pageId = account.id;
  const problems: PageProblem[] = [...declinedProblems(c.missing, c.reaskUrl), ...taskProblems(account)];
  const warnings: string[] = [];
  const result = (): ConnectedPage => ({ page_id: pageId, name: account.name, status: problems.length === 0 ? 'connected' : 'problem', problems, warnings });

  // 1. The Page token, with the checks of `pages add` (valid, our app's, this Page's, the lead permissions).
  try {
    const saved = await savePage(
      app,
      { workspaceId: caller.workspaceId, pageId, token: pageToken, name: account.name ?? undefined, connectedFbUserId: c.fbUserId },
      name,
    );
    // The install is done and read back below; the page service's "not installed" warning is about the moment before.
    warnings.push(...saved.warnings.filter((w) => !/installed on page/.test(w)));
  } catch (err) {
    if (err instanceof ConflictError) {
      problems.push({
        code: 'page_in_other_workspace',
        message: `The Page "${account.name ?? pageId}" is already connected to another LeadRelay workspace, and a Page sends its leads to one workspace only.`,
        fix: 'Remove it from the other workspace first, or work in that workspace.',
      });
      return result();
    }
    if (err instanceof InvalidInputError) {
      // With a declined lead permission the token is refused for it: that problem is already said, and better.
      if (c.missing.length === 0)
        problems.push({
          code: 'token_refused',
          message: `Facebook's Page token for "${account.name ?? pageId}" cannot read leads: ${err.issues.map((i) => i.message).join('; ')}.`,
          fix: 'Connect Facebook again and allow every permission LeadRelay asks for; if this stays, check the app settings (META_APP_ID, META_APP_SECRET).',
        });
      return result();
    }
    if (err instanceof UpstreamError) {
      problems.push({
        code: 'meta_unavailable',
        message: `Facebook could not be asked about the Page "${account.name ?? pageId}" just now.`,
        fix: 'Try again in a minute.',
      });
      return result();
    }
    throw err;
  }

  // 2. Install the app on the Page, then read the installation back.
  try {
    await app.graph.subscribePageToApp(pageId, pageToken, [LEADGEN]);
  } catch (err) {
    if (!isGraphError(err)) throw err;
    problems.push(subscriptionFailure(err, account, c.missing));
  }
  if (!problems.some((p) => p.code === 'subscription_failed')) {
    try {
      const ours = (await app.graph.listSubscribedApps(pageId, pageToken)).find((a) => a.id === c.appId);
      if (!ours || (ours.subscribedFields !== null && !ours.subscribedFields.includes(LEADGEN)))
        problems.push({
          code: 'subscription_not_verified',
          message: `Facebook accepted installing LeadRelay on "${account.name ?? pageId}", but the Page does not list it${ours ? ' for lead events' : ''} afterwards.`,
          fix: "Check the Page's settings → Business integrations (or Advanced messaging → Apps): LeadRelay must be there and allowed. Then connect the Page again.",
        });
    } catch (err) {
      if (!isGraphError(err)) throw err;
      warnings.push(`could not read back the apps installed on the Page (${err.info.reason})`);
    }
  }

  // 3. Leads Access Manager: may this person and this app read the Page's leads?
  const leadProblem = await checkLeadAccess(app, account, pageToken, c.fbUserId, warnings);
  if (leadProblem && !c.missing.includes('leads_retrieval')) problems.push(leadProblem);

  if (c.appProblem) problems.push(c.appProblem);
  return result();
}

function subscriptionFailure(err: GraphError, account: GraphAccount, missing: string[]): PageProblem {
  const label = account.name ?? account.id;
  const base = `Facebook refused to install LeadRelay on "${label}": ${graphWords(err)}.`;
  if (err.category === 'transient' || err.category === 'throttled')
    return { code: 'subscription_failed', message: base, fix: 'Try again in a minute (connecting the Page again is safe).' };
  if (err.category === 'token_dead' || err.category === 'page_role_missing')
    return {
      code: 'subscription_failed',
      message: base,
      fix: 'Your role on the Page or your Facebook login changed: check your role on the Page, then connect Facebook again.',
    };
  if (missing.includes('pages_manage_metadata'))
    return {
      code: 'subscription_failed',
      message: base,
      fix: 'Allow "pages_manage_metadata" when connecting Facebook again: it is the permission that installs LeadRelay on a Page.',
    };
  if (!checkPageTasks(account.tasks).canInstallApp)
    return {
      code: 'subscription_failed',
      message: base,
      fix: 'Give yourself full control of the Page (the MANAGE task) in Meta Business Settings, then connect Facebook again.',
    };
  return {
    code: 'subscription_failed',
    message: base,
    fix: 'Check that the Page has not turned off apps (Page settings → Business integrations) and that you have full control of it, then connect the Page again.',
  };
}

/**
 * `has_lead_access` for the connected person and our app. Once a business customises its Leads
 * Access Manager, only the people and CRMs it assigns may read leads (reference §7).
 */
async function checkLeadAccess(app: App, account: GraphAccount, pageToken: string, fbUserId: string, warnings: string[]): Promise<PageProblem | undefined> {
  const label = account.name ?? account.id;
  const fix =
    `In Meta Business Settings → Integrations → Leads Access, choose the Page "${label}": under CRMs, assign LeadRelay's app; under People, assign yourself ` +
    '(or give lead access back to every Page admin by removing the custom settings). Then connect the Page again.';
  let access: Awaited<ReturnType<App['graph']['getLeadAccess']>>;
  try {
    access = await app.graph.getLeadAccess(account.id, pageToken, fbUserId);
  } catch (err) {
    if (!isGraphError(err)) throw err;
    if (err.category === 'permission_missing' || /leads?_retrieval|lead access/i.test(err.info.message))
      return { code: 'no_lead_access', message: `Facebook does not let LeadRelay read the leads of "${label}": ${graphWords(err)}.`, fix };
    warnings.push(`could not check lead access for the Page (${err.info.reason})`);
    return undefined;
  }
  if (access.canAccessLead !== false) return undefined;
  const who =
    access.appHasLeadsPermission === false && access.userHasLeadsPermission === false
      ? "neither you nor LeadRelay's app"
      : access.appHasLeadsPermission === false
        ? "LeadRelay's app"
        : 'you';
  const meta = [access.failureReason, access.failureResolution].filter(Boolean).join(' ');
  return {
    code: 'no_lead_access',
    message: `The business that owns "${label}" limits who may read its leads (Leads Access Manager), and ${who} ${who === 'you' ? 'are' : 'is'} not allowed.${meta ? ` Facebook says: ${meta}` : ''}`,
    fix,
  };
}

// ---- forms and test leads -------------------------------------------------------------------------

/** A Graph failure of a call made with a stored Page token. */
function pageTokenFailure(err: unknown, pageId: string, what: string): Error {
  if (!isGraphError(err)) return err instanceof Error ? err : new Error(String(err));
  const { category } = err.info;
  if (category === 'token_dead' || category === 'page_role_missing')
    return new ConflictError(`the token of page ${pageId} no longer works (${graphWords(err)}): connect Facebook again and pick the page`);
  if (category === 'permission_missing')
    return new ConflictError(
      `Facebook does not allow LeadRelay to ${what} for page ${pageId}: ${graphWords(err)}; connect Facebook again and allow every permission`,
    );
  if (category === 'transient' || category === 'throttled')
    return new UpstreamError(`Facebook could not ${what} just now (${err.info.reason}); try again in a minute`);
  return new UpstreamError(`Facebook refused to ${what} for page ${pageId}: ${graphWords(err)}`);
}

const storedPageToken = pageTokenOf;

export interface PageForms {
  forms: GraphFormSummary[];
  isTruncated: boolean;
}

/** A connected Page's lead forms, with their questions, status and lead counts, from Facebook now. */
export async function listPageLeadForms(app: App, workspaceId: string, pageId: string): Promise<PageForms> {
  const page = await getPage(app, workspaceId, pageId);
  const forms: GraphFormSummary[] = [];
  try {
    for await (const form of app.graph.listPageFormsWithQuestions(page.page_id, storedPageToken(app, page))) {
      if (forms.length >= MAX_LISTED_FORMS) return { forms, isTruncated: true };
      forms.push(form);
    }
  } catch (err) {
    throw pageTokenFailure(err, page.page_id, 'list the lead forms');
  }
  return { forms, isTruncated: false };
}

export interface TestLeadInput {
  pageId: string;
  formId: string;
  answers?: { name: string; values: string[] }[];
  /** Delete the form's existing test lead first (Meta allows one per form). Default true. */
  replaceExisting?: boolean;
}

/**
 * Creates Meta's test lead on a form of a connected Page (`POST /{form_id}/test_leads` with the
 * Page token); Meta then sends its leadgen webhook like for a real lead. A form holds one test
 * lead: the existing one is deleted first unless told not to (only its maker can delete it).
 */
export async function createTestLead(
  app: App,
  workspaceId: string,
  input: TestLeadInput,
  name: FieldNamer,
): Promise<{ testLeadId: string; replaced: string[] }> {
  if (!/^\d{1,40}$/.test(input.formId)) throw new InvalidInputError({ field: name('form_id'), message: `${name('form_id')} must be a numeric lead form id` });
  const page = await getPage(app, workspaceId, input.pageId);
  const token = storedPageToken(app, page);
  let existing: { id: string }[];
  try {
    existing = await app.graph.listTestLeads(input.formId, token);
  } catch (err) {
    if (isGraphError(err) && err.category === 'not_found') throw new NotFoundError(`lead form "${input.formId}" of page ${page.page_id}`);
    throw pageTokenFailure(err, page.page_id, 'read the test leads of the form');
  }
  const replaced: string[] = [];
  if (existing.length > 0) {
    if (input.replaceExisting === false)
      throw new ConflictError(
        `form ${input.formId} already has a test lead (${existing[0].id}), and Meta allows one per form: send replace_existing true to delete it and make a new one`,
      );
    for (const lead of existing) {
      try {
        await app.graph.deleteTestLead(lead.id, token);
        replaced.push(lead.id);
      } catch (err) {
        if (isGraphError(err) && (err.category === 'not_found' || err.category === 'permission_missing'))
          throw new ConflictError(
            `form ${input.formId} already has a test lead (${lead.id}) that LeadRelay cannot delete: only the person who made it can. ` +
              `Delete it in Meta's Lead Ads Testing Tool (${LEADS_TESTING_TOOL}), then try again`,
          );
        throw pageTokenFailure(err, page.page_id, 'delete the earlier test lead');
      }
    }
  }
  try {
    const created = await app.graph.createTestLead(input.formId, token, { fieldData: input.answers });
    // Meta makes the test lead as the person whose login gave the Page token: a data-deletion
    // request from them erases it (src/services/facebook-user-removal.ts).
    if (page.connected_fb_user_id)
      await recordFacebookTestLead(app.db, { workspaceId, pageId: page.page_id, leadgenId: created.id, fbUserId: page.connected_fb_user_id });
    return { testLeadId: created.id, replaced };
  } catch (err) {
    if (isGraphError(err) && /already exists/i.test(err.info.message))
      throw new ConflictError(`form ${input.formId} got another test lead meanwhile, and Meta allows one per form: try again`);
    if (isGraphError(err) && err.category === 'permission_missing')
      throw new ConflictError(
        `Facebook refused the test lead (${graphWords(err)}): the person who connected page ${page.page_id} needs the Advertiser role or higher on it`,
      );
    throw pageTokenFailure(err, page.page_id, 'create the test lead');
  }
}

// ---- the app-level subscription -------------------------------------------------------------------

/**
 * Subscribes the Meta app to Page `leadgen` events at this server's webhook (`POST
 * /{app-id}/subscriptions` with the app token). Meta checks the callback with the verification
 * handshake before it answers, so this server must be reachable at PUBLIC_URL.
 */
export async function subscribeAppToLeads(app: App): Promise<AppSubscriptionState> {
  requireMetaApp(app);
  if (!app.config.meta.verifyToken) throw new ConflictError('META_VERIFY_TOKEN must be set: Meta sends it back in the webhook handshake');
  try {
    await app.graph.subscribeApp({
      object: 'page',
      callbackUrl: expectedCallbackUrl(app),
      fields: [LEADGEN],
      verifyToken: app.config.meta.verifyToken,
      includeValues: true,
    });
  } catch (err) {
    if (!isGraphError(err)) throw err;
    if (err.category === 'transient' || err.category === 'throttled')
      throw new UpstreamError(`Facebook could not subscribe the app just now (${err.info.reason}); try again`);
    if (err.info.code === 2200)
      throw new ConflictError(
        `Facebook could not verify this server's webhook at ${expectedCallbackUrl(app)}: ${graphWords(err)}. It must be reachable from the internet over HTTPS at PUBLIC_URL, and META_VERIFY_TOKEN must be set`,
      );
    throw new ConflictError(`Facebook refused the app subscription: ${graphWords(err)}; check META_APP_ID and META_APP_SECRET`);
  }
  return readAppSubscription(app);
}
