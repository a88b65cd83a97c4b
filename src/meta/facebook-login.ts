// Facebook Login for Business, the parts that need no network: the dialog URL, the `state` that
// ties a dialog to one signed-in session in one workspace, the permissions LeadRelay asks for
// and what each one is for, and what a person's tasks on a Page let LeadRelay do.
// Manual login flow: https://developers.facebook.com/documentation/facebook-login/guides/advanced/manual-flow
// Facebook Login for Business: https://developers.facebook.com/docs/facebook-login/facebook-login-for-business/
// Security (state as the CSRF guard): https://developers.facebook.com/docs/facebook-login/security
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { createStateSigner, isSameBytes } from '../util/signed-state.js';
import { LEAD_PAGE_SCOPES } from './page-access.js';

/**
 * What the dialog asks for when no Login for Business configuration is set. The leadgen webhook
 * guide's list (LEAD_PAGE_SCOPES, which `pages add` checks every Page token against), plus
 * `pages_manage_ads`, which Meta's lead retrieval guide lists for full lead data.
 * `business_management` is not asked for: nothing LeadRelay calls needs it.
 * https://developers.facebook.com/documentation/ads-commerce/marketing-api/guides/lead-ads/retrieving
 */
export const FACEBOOK_LOGIN_SCOPES = [...LEAD_PAGE_SCOPES, 'pages_manage_ads'] as const;

/** What LeadRelay does with each permission, in words a marketer reads when one was declined. */
const PERMISSION_PURPOSES: Record<string, string> = {
  pages_show_list: 'see which Facebook Pages you manage',
  pages_manage_metadata: 'install LeadRelay on your Pages, so Facebook tells it about each new lead',
  pages_read_engagement: "read your Pages' lead forms and their questions",
  leads_retrieval: 'read the answers people give in your lead forms',
  ads_management: 'read which ad each lead came from',
  pages_manage_ads: "read the leads of your Pages' ads",
};

/** The sentence for a declined permission: what LeadRelay cannot do without it. */
export function describePermissionPurpose(permission: string): string {
  return PERMISSION_PURPOSES[permission] ?? `use the "${permission}" permission`;
}

/**
 * Of the permissions Meta reports (`GET /me/permissions`), the ones that stop LeadRelay, in the
 * order asked: every permission leads need (LEAD_PAGE_SCOPES) that is not granted, and any other
 * permission LeadRelay asks for that the person declined. (A Login for Business configuration may
 * not ask for the extra ones at all; that is not a refusal.)
 */
export function findMissingPermissions(permissions: { permission: string; status: string }[]): string[] {
  const granted = new Set(permissions.filter((p) => p.status === 'granted').map((p) => p.permission));
  const refused = new Set(permissions.filter((p) => p.status !== 'granted').map((p) => p.permission));
  const required = new Set<string>(LEAD_PAGE_SCOPES);
  return FACEBOOK_LOGIN_SCOPES.filter((p) => !granted.has(p) && (required.has(p) || refused.has(p)));
}

// ---- Page tasks -------------------------------------------------------------------------------------

/**
 * A person's tasks on a Page (`GET /me/accounts` → `tasks`) and what they allow. Installing the
 * app (`/{page}/subscribed_apps`) needs MANAGE, CREATE_CONTENT or MODERATE; reading leads needs
 * someone who can advertise on the Page (ADVERTISE).
 * https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps/
 */
const INSTALL_TASKS = ['MANAGE', 'CREATE_CONTENT', 'MODERATE'];
const LEAD_TASK = 'ADVERTISE';

export interface PageTaskCheck {
  /** Both installing the app and reading leads are allowed. */
  canManageLeads: boolean;
  canInstallApp: boolean;
  canReadLeads: boolean;
}

export function checkPageTasks(tasks: string[]): PageTaskCheck {
  const own = new Set(tasks.map((t) => t.toUpperCase()));
  const canInstallApp = INSTALL_TASKS.some((t) => own.has(t));
  const canReadLeads = own.has(LEAD_TASK);
  return { canManageLeads: canInstallApp && canReadLeads, canInstallApp, canReadLeads };
}

// ---- the dialog -----------------------------------------------------------------------------------

export interface DialogUrlInput {
  /** META_DIALOG_URL, e.g. https://www.facebook.com. */
  dialogUrl: string;
  graphVersion: string;
  appId: string;
  redirectUri: string;
  state: string;
  /** A Login for Business configuration id: it sets the permissions, so no `scope` is sent. */
  configId?: string;
  /** The permissions to ask for without a configuration. */
  scopes: readonly string[];
  /** Ask again for permissions the person declined before (`auth_type=rerequest`). */
  rerequest?: boolean;
}

/** `{dialog}/{version}/dialog/oauth?client_id&redirect_uri&state&response_type=code&(config_id|scope)[&auth_type=rerequest]`. */
export function buildDialogUrl(input: DialogUrlInput): string {
  const url = new URL(`${input.dialogUrl.replace(/\/+$/, '')}/${input.graphVersion}/dialog/oauth`);
  url.searchParams.set('client_id', input.appId);
  url.searchParams.set('redirect_uri', input.redirectUri);
  url.searchParams.set('state', input.state);
  url.searchParams.set('response_type', 'code');
  if (input.configId) url.searchParams.set('config_id', input.configId);
  else url.searchParams.set('scope', input.scopes.join(','));
  if (input.rerequest) url.searchParams.set('auth_type', 'rerequest');
  return url.toString();
}

/** Where Facebook sends the person back: PUBLIC_URL/oauth/facebook/callback (registered in the app's Valid OAuth Redirect URIs). */
export const facebookRedirectUri = (publicUrl: string) => `${publicUrl.replace(/\/+$/, '')}/oauth/facebook/callback`;

// ---- the state ------------------------------------------------------------------------------------

/** How long a person has between opening the dialog and coming back. */
const LOGIN_STATE_TTL_MS = 15 * 60_000;
const MAX_STATE_CHARS = 2048;
const STATE_LABEL = 'leadrelay.facebook-login-state.v1';
const SESSION_LABEL = 'leadrelay.facebook-login-session.v1';

const loginStatePayloadSchema = z
  .object({
    v: z.literal(1),
    /** Workspace. */
    w: z.string().min(1).max(64),
    /** User. */
    u: z.string().min(1).max(64),
    /** A keyed hash of the session: the state works only with the cookie of the session that asked for it. */
    s: z.string().min(16).max(64),
    /** Expiry, epoch seconds. */
    exp: z.number().int().positive(),
    nonce: z.string().min(16).max(64),
  })
  .strict();

interface LoginState {
  workspaceId: string;
  userId: string;
  /** Expiry, epoch ms. */
  expiresAtMs: number;
  /** Identifies the state for single use. */
  nonce: string;
}

type LoginStateFailure = 'malformed' | 'bad_signature' | 'expired' | 'other_session';

export interface LoginStateSigner {
  /** A fresh state for this session (by its stored id hash), user and workspace. */
  create(input: { workspaceId: string; userId: string; sessionIdHash: string }, nowMs: number): string;
  /** Checks signature, shape, expiry, and that it was made for the session `sessionIdHash` (null: no session). */
  read(
    state: string,
    sessionIdHash: string | null,
    nowMs: number,
  ): { ok: true; state: LoginState } | { ok: false; failure: LoginStateFailure; workspaceId?: string };
}

/** Throws when the secret is shorter than 32 bytes. The key is meant to be `keyRing.deriveKey('facebook-login-state')`. */
export function createLoginStateSigner(secret: Buffer): LoginStateSigner {
  const signer = createStateSigner(secret, 'Facebook login state key');
  // The session's stored id hash is itself not secret-free (it finds the session), so only a keyed hash of it travels.
  const sessionMark = (sessionIdHash: string) => signer.mac(SESSION_LABEL, sessionIdHash).toString('base64url').slice(0, 32);

  return {
    create({ workspaceId, userId, sessionIdHash }, nowMs) {
      const payload: z.infer<typeof loginStatePayloadSchema> = {
        v: 1,
        w: workspaceId,
        u: userId,
        s: sessionMark(sessionIdHash),
        exp: Math.floor((nowMs + LOGIN_STATE_TTL_MS) / 1000),
        nonce: randomBytes(16).toString('base64url'),
      };
      return signer.sign(STATE_LABEL, payload);
    },

    read(state, sessionIdHash, nowMs) {
      const read = signer.read(STATE_LABEL, state, loginStatePayloadSchema, MAX_STATE_CHARS);
      if (!read.ok) return read;
      const p = read.payload;
      if (p.exp * 1000 <= nowMs) return { ok: false, failure: 'expired', workspaceId: p.w };
      if (sessionIdHash === null || !isSameBytes(Buffer.from(p.s, 'utf8'), Buffer.from(sessionMark(sessionIdHash), 'utf8')))
        return { ok: false, failure: 'other_session', workspaceId: p.w };
      return { ok: true, state: { workspaceId: p.w, userId: p.u, expiresAtMs: p.exp * 1000, nonce: p.nonce } };
    },
  };
}

/** The additional data of a Facebook connection's token envelope: the envelope opens only for its own row. */
export const facebookConnectionAad = (connectionId: string) => `facebook-connection:${connectionId}`;
