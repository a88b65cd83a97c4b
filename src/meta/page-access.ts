// Whether a Page access token can do what LeadRelay needs, asked of Meta when the token is
// given (`leadrelay pages add`), so a wrong token is refused then rather than when the first
// lead is lost:
// 1. `GET /debug_token` (app token): valid, issued for our app, a Page token, for this Page,
//    with the permissions leads need. https://developers.facebook.com/docs/graph-api/reference/debug_token
// 2. `GET /{page-id}?fields=id,name` (the Page token): the Page can be read; gives its name.
// 3. `GET /{page-id}/subscribed_apps` (the Page token): whether our app is installed on the
//    Page. Meta delivers `leadgen` only when it is subscribed at both the app and the Page level,
//    but installing is a separate step, so its absence is a warning, not a refusal.
//    https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps/
import type { GraphClient } from './graph-client.js';
import { isGraphError, scrubSecrets, type GraphError } from './graph-errors.js';

/**
 * The permissions a Page token needs for the lead path, as Meta's leadgen webhook guide lists
 * them: reading leads (`leads_retrieval`), the Page subscription (`pages_manage_metadata`,
 * `pages_show_list`), forms (`pages_read_engagement`) and ad attribution (`ads_management`).
 * https://developers.facebook.com/docs/graph-api/webhooks/getting-started/webhooks-for-leadgen
 */
export const LEAD_PAGE_SCOPES = ['leads_retrieval', 'pages_manage_metadata', 'pages_show_list', 'pages_read_engagement', 'ads_management'] as const;

export interface PageAccessInput {
  /** META_APP_ID: the app the token must belong to and be installed on the Page. */
  appId: string;
  pageId: string;
  pageToken: string;
  /** The pinned Graph version, for the how-to-fix hint. */
  graphVersion: string;
  now?: () => number;
}

export type PageAccessResult =
  /**
   * The token works for this Page; `warnings` say what still stops leads (app not installed,
   * expiry). `appInstalled`: whether our app is installed on the Page with the leadgen field
   * (null: Meta would not say). `expiresAt`: when the token stops working (null: never).
   */
  | { outcome: 'ok'; pageName: string | null; warnings: string[]; appInstalled: boolean | null; expiresAt: Date | null }
  /** The token (or the app settings) is wrong: one sentence saying what. */
  | { outcome: 'refused'; problem: string }
  /** Meta could not be asked (network, throttled, Meta's own failure): nothing is known. */
  | { outcome: 'unavailable'; problem: string };

/** Failures that say nothing about the token: try again later. */
function isUnavailable(err: GraphError): boolean {
  return err.info.category === 'transient' || err.info.category === 'throttled';
}

/** Meta's words and the Graph code, or (no Graph answer) what happened instead. */
function describe(err: GraphError): string {
  const { code, subcode, message, reason } = err.info;
  if (code === undefined) return message || reason;
  return `${message || reason} (Graph error ${code}${subcode === undefined ? '' : `/${subcode}`})`;
}

/** Asks Meta about a Page token. Never throws for an answer from Meta; rethrows anything else. */
export async function checkPageAccess(graph: GraphClient, input: PageAccessInput): Promise<PageAccessResult> {
  const { appId, pageId, pageToken } = input;
  const now = input.now ?? Date.now;

  let debug: Awaited<ReturnType<GraphClient['debugToken']>>;
  try {
    debug = await graph.debugToken(pageToken);
  } catch (err) {
    if (!isGraphError(err)) throw err;
    if (isUnavailable(err)) return { outcome: 'unavailable', problem: `could not ask Meta about the page token: ${describe(err)}` };
    // The input token's own problems come back inside `data`; an error here is about the call,
    // i.e. the app token or appsecret_proof made from META_APP_ID and META_APP_SECRET.
    return { outcome: 'refused', problem: `Meta refused the token check, so META_APP_ID or META_APP_SECRET is wrong: ${describe(err)}` };
  }

  if (!debug.isValid) {
    const code = debug.errorCode === null ? '' : ` (Graph error ${debug.errorCode}${debug.errorSubcode === null ? '' : `/${debug.errorSubcode}`})`;
    return {
      outcome: 'refused',
      problem: `the page token is not valid: ${debug.errorMessage === null ? 'Meta reports it as invalid' : scrubSecrets(debug.errorMessage)}${code}`,
    };
  }
  if (debug.expiresAt !== null && debug.expiresAt * 1000 <= now()) {
    return { outcome: 'refused', problem: `the page token expired on ${new Date(debug.expiresAt * 1000).toISOString()}` };
  }
  if (debug.appId !== null && debug.appId !== appId) {
    return { outcome: 'refused', problem: `the token belongs to another Meta app (${debug.appId}), not to META_APP_ID ${appId}` };
  }
  if (debug.type !== null && debug.type !== 'PAGE') {
    return {
      outcome: 'refused',
      problem: `this is a ${debug.type} token, not a Page token; use the Page's own token (GET /me/accounts with a user token of someone who manages page ${pageId})`,
    };
  }
  if (debug.profileId !== null && debug.profileId !== pageId) {
    return { outcome: 'refused', problem: `the token is the Page token of page ${debug.profileId}, not of page ${pageId}` };
  }
  const granted = new Set(debug.scopes);
  const missing = LEAD_PAGE_SCOPES.filter((scope) => !granted.has(scope));
  if (missing.length > 0) {
    return {
      outcome: 'refused',
      problem: `the page token lacks the permission${missing.length > 1 ? 's' : ''} ${missing.join(', ')} that leads need; grant ${missing.length > 1 ? 'them' : 'it'} when logging in, then get a new Page token`,
    };
  }

  let pageName: string | null;
  try {
    pageName = (await graph.getPage(pageId, pageToken)).name;
  } catch (err) {
    if (!isGraphError(err)) throw err;
    if (isUnavailable(err)) return { outcome: 'unavailable', problem: `could not read page ${pageId} from Meta: ${describe(err)}` };
    return { outcome: 'refused', problem: `page ${pageId} cannot be read with this token: ${describe(err)}` };
  }

  const warnings: string[] = [];
  if (debug.expiresAt !== null) {
    warnings.push(
      `the page token expires on ${new Date(debug.expiresAt * 1000).toISOString()}; a Page token taken from a long-lived user token does not expire (README: Connect Meta)`,
    );
  }
  const install = `install it with POST /${input.graphVersion}/${pageId}/subscribed_apps?subscribed_fields=leadgen using this page token (README: Connect Meta, step 4)`;
  let appInstalled: boolean | null = null;
  try {
    const ours = (await graph.listSubscribedApps(pageId, pageToken)).find((app) => app.id === appId);
    appInstalled = ours !== undefined && (ours.subscribedFields === null || ours.subscribedFields.includes('leadgen'));
    if (!ours) warnings.push(`the Meta app ${appId} is not installed on page ${pageId}, so Meta sends no leads for it yet; ${install}`);
    else if (!appInstalled) {
      warnings.push(`the Meta app ${appId} is installed on page ${pageId} without the leadgen field, so Meta sends no leads for it yet; ${install}`);
    }
  } catch (err) {
    if (!isGraphError(err)) throw err;
    warnings.push(`could not see whether the Meta app ${appId} is installed on page ${pageId}: ${describe(err)}`);
  }
  return { outcome: 'ok', pageName, warnings, appInstalled, expiresAt: debug.expiresAt === null ? null : new Date(debug.expiresAt * 1000) };
}
