// The Pages a connected person manages: listing them, and connecting the ones they pick (Page token, app install, checks).
// Reference: /work/shared/reference/meta-lead-ads.md §7 (tokens), §8 (subscribing).
import type { App } from '../../app.js';
import { checkPageTasks } from '../../meta/facebook-login.js';
import { isGraphError } from '../../meta/graph-errors.js';
import type { GraphAccount } from '../../meta/graph-types.js';
import * as connections from '../../store/facebook-connections.js';
import * as repo from '../../store/repos.js';
import { ConflictError, type FieldNamer, InvalidInputError, UpstreamError } from '../errors.js';
import { savePage } from '../pages.js';
import { LEADGEN, readAppSubscription } from './app-subscription.js';
import {
  connectionView,
  type ConnectionView,
  type DeclinedPermission,
  describeDeclinedPermissions,
  loadConnection,
  refreshPermissions,
} from './connections.js';
import { explainUserTokenFailure } from './graph-failures.js';
import { buildLoginDialogUrl, type FacebookCaller, requireMetaApp } from './login.js';
import {
  checkLeadAccess,
  explainSubscriptionFailure,
  findAppSubscriptionProblem,
  findDeclinedProblems,
  findTaskProblems,
  type PageProblem,
} from './page-problems.js';

/** At most this many Pages are read from `/me/accounts` (100 a request); more are reported as truncated. */
const MAX_LISTED_PAGES = 1000;
const ACCOUNTS_PAGE_SIZE = 100;
/** How many Pages are connected at once. */
const CONNECT_CONCURRENCY = 4;

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
    throw explainUserTokenFailure(err, 'list the Pages you manage');
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
        problems: findTaskProblems(a, tasks),
      };
    }),
    is_truncated: isTruncated,
    declined_permissions: describeDeclinedPermissions(missing),
    reask_url: missing.length > 0 ? buildLoginDialogUrl(app, caller, { rerequest: true }) : null,
  };
}

// ---- connecting pages -----------------------------------------------------------------------------

export interface ConnectedPage {
  page_id: string;
  name: string | null;
  status: 'connected' | 'problem';
  problems: PageProblem[];
  /** Smaller things to know that do not stop leads. */
  warnings: string[];
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
  const appProblem = findAppSubscriptionProblem(caller.workspaceId, appSubscription);
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
  const problems: PageProblem[] = [...findDeclinedProblems(c.missing, c.reaskUrl), ...findTaskProblems(account)];
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
    problems.push(explainSubscriptionFailure(err, account, c.missing));
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
