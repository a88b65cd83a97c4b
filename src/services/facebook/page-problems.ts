// What stops (or may stop) a Page's leads, in words a marketer can act on: tasks, permissions, app install, lead access.
// Reference: /work/shared/reference/meta-lead-ads.md §7 (tokens, permissions, access), §8 (subscribing).
import type { App } from '../../app.js';
import { checkPageTasks, describePermissionPurpose } from '../../meta/facebook-login.js';
import { type GraphError, isGraphError } from '../../meta/graph-errors.js';
import type { GraphAccount } from '../../meta/graph-types.js';
import type { AppSubscriptionState } from './app-subscription.js';
import { describeGraphError } from './graph-failures.js';

/** Something that stops (or may stop) leads of a Page, in words a marketer can act on. */
export interface PageProblem {
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

export function findTaskProblems(account: GraphAccount, tasks = checkPageTasks(account.tasks)): PageProblem[] {
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

export function findDeclinedProblems(missing: string[], reaskUrl: string): PageProblem[] {
  return missing.map((permission) => ({
    code: 'permission_declined' as const,
    permission,
    message: `You did not allow the permission "${permission}", so LeadRelay cannot ${describePermissionPurpose(permission)}.`,
    fix: 'Connect Facebook again and tick this permission when Facebook asks (the link asks for it again).',
    fix_url: reaskUrl,
  }));
}

export function findAppSubscriptionProblem(workspaceId: string, s: AppSubscriptionState): PageProblem | undefined {
  const how =
    `A workspace owner can do it in LeadRelay's setup wizard (step 2: Subscribe the app, i.e. POST /api/v1/workspaces/${workspaceId}/facebook/app-subscription), ` +
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

export function explainSubscriptionFailure(err: GraphError, account: GraphAccount, missing: string[]): PageProblem {
  const label = account.name ?? account.id;
  const base = `Facebook refused to install LeadRelay on "${label}": ${describeGraphError(err)}.`;
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
export async function checkLeadAccess(
  app: App,
  account: GraphAccount,
  pageToken: string,
  fbUserId: string,
  warnings: string[],
): Promise<PageProblem | undefined> {
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
      return { code: 'no_lead_access', message: `Facebook does not let LeadRelay read the leads of "${label}": ${describeGraphError(err)}.`, fix };
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
