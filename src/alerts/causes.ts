// The causes an alert is about, one per thing that stops leads (not one per lead), and for each
// the words a person reads: what happened, and the exact step that fixes it (a CLI command and
// the web app's page). Pure: the pipeline hooks and the monitors build a cause here and raise it.
import { getManifest } from '../../connectors/index.js';
import type { Destination, Page } from '../store/schema.js';

export type AlertCause =
  /** The page's token no longer works (dead, expired, refused), so its leads cannot be fetched. */
  | 'page_token'
  /** The page's token works but expires soon. */
  | 'page_token_expiring'
  /** Our Meta app fell off the page (Meta sends no leads for it); re-subscribed or not. */
  | 'page_subscription'
  /** The app-level webhook subscription is missing or points elsewhere (no page's leads come). */
  | 'app_subscription'
  /** A destination's credentials stopped working; its deliveries are parked. */
  | 'destination_reauth'
  /** A destination dead-letters a share of its deliveries. */
  | 'destination_dead_letters'
  /** Leads wait on the queues longer than they should (workers down or stuck). */
  | 'queue_age';

export interface CauseReport {
  workspaceId: string;
  cause: AlertCause;
  subjectId: string | null;
  subjectName: string | null;
  title: string;
  /** What happened, in a sentence or two, with Meta's or the CRM's words where they gave them. */
  detail: string;
  /** The step that fixes it: the web app's page and the CLI command. */
  fix: string;
}

/** One open alert per workspace and key. */
export const causeKeyOf = (cause: AlertCause, subjectId: string | null) => (subjectId === null ? cause : `${cause}:${subjectId}`);

/** Where the web app and the CLI commands are, for the words. */
export interface CauseContext {
  publicUrl: string;
  workspaceId: string;
}

const webPage = (ctx: CauseContext, path: string) => `${ctx.publicUrl}/w/${ctx.workspaceId}/${path}`;
const pageLabel = (page: Pick<Page, 'page_id' | 'name'>) => (page.name ? `page "${page.name}" (${page.page_id})` : `page ${page.page_id}`);
const destinationLabel = (dest: Pick<Destination, 'id' | 'name'>) => `destination "${dest.name}" (${dest.id})`;

function newPageTokenStep(ctx: CauseContext, page: Pick<Page, 'page_id'>): string {
  return (
    `give LeadRelay a new page token: in the web app connect Facebook again (${webPage(ctx, 'wizard')}) as someone who manages the page, ` +
    `or run: leadrelay pages add --workspace ${ctx.workspaceId} --page-id ${page.page_id} --token-stdin`
  );
}

export function pageTokenCause(ctx: CauseContext, page: Pick<Page, 'page_id' | 'name'>, detail: string): CauseReport {
  return {
    workspaceId: ctx.workspaceId,
    cause: 'page_token',
    subjectId: page.page_id,
    subjectName: page.name,
    title: `The token of ${pageLabel(page)} no longer works`,
    detail: `${detail}. Its new leads are kept and wait; none can be fetched from Meta until the token is replaced.`,
    fix: `${capitalise(newPageTokenStep(ctx, page))}. The waiting leads are then fetched and delivered at once. The page's state: ${webPage(ctx, 'health')}`,
  };
}

export function pageTokenExpiringCause(ctx: CauseContext, page: Pick<Page, 'page_id' | 'name'>, expiresAt: Date): CauseReport {
  return {
    workspaceId: ctx.workspaceId,
    cause: 'page_token_expiring',
    subjectId: page.page_id,
    subjectName: page.name,
    title: `The token of ${pageLabel(page)} expires on ${expiresAt.toISOString().slice(0, 10)}`,
    detail: `Meta says the page token expires at ${expiresAt.toISOString()}; after that no lead of the page can be fetched.`,
    fix: `Before then, ${newPageTokenStep(ctx, page)}. A page token taken from a long-lived user token (what Connect Facebook stores) does not expire.`,
  };
}

/**
 * The app was found missing from the page. `resubscribed`: LeadRelay installed it again (the
 * cause resolves once the page lists it); otherwise `problem` says why that failed.
 */
export function pageSubscriptionCause(
  ctx: CauseContext,
  page: Pick<Page, 'page_id' | 'name'>,
  found: { resubscribed: boolean; problem: string | null; at: Date; graphVersion: string },
): CauseReport {
  const base = `LeadRelay's Meta app was no longer subscribed to ${pageLabel(page)} (found ${found.at.toISOString()}), so Meta sent no lead webhooks for it`;
  const recover = `Leads created meanwhile are recovered by reconciliation (hourly, or now: leadrelay leads reconcile --workspace ${ctx.workspaceId}).`;
  if (found.resubscribed)
    return {
      workspaceId: ctx.workspaceId,
      cause: 'page_subscription',
      subjectId: page.page_id,
      subjectName: page.name,
      title: `LeadRelay's app was unsubscribed from ${pageLabel(page)}`,
      detail: `${base}. LeadRelay subscribed it again (POST /${found.graphVersion}/${page.page_id}/subscribed_apps?subscribed_fields=leadgen).`,
      fix: `Nothing more to do if it stays subscribed. ${recover} If it keeps falling off, someone is removing the app in the page's settings (Business integrations).`,
    };
  return {
    workspaceId: ctx.workspaceId,
    cause: 'page_subscription',
    subjectId: page.page_id,
    subjectName: page.name,
    title: `LeadRelay's app is not subscribed to ${pageLabel(page)}`,
    detail: `${base}. Subscribing it again failed: ${found.problem ?? 'Meta did not list it afterwards'}.`,
    fix:
      `Connect Facebook again in the web app (${webPage(ctx, 'wizard')}) as someone who manages the page (it installs the app), ` +
      `or POST /${found.graphVersion}/${page.page_id}/subscribed_apps?subscribed_fields=leadgen with the page token. ${recover}`,
  };
}

export function appSubscriptionCause(ctx: CauseContext, problem: string, fix: string): CauseReport {
  return {
    workspaceId: ctx.workspaceId,
    cause: 'app_subscription',
    subjectId: null,
    subjectName: null,
    title: "LeadRelay's Meta app does not receive lead webhooks",
    detail: `${problem} Leads still reach Meta; reconciliation records them hourly, later than a webhook would.`,
    fix,
  };
}

function reauthStep(ctx: CauseContext, dest: Pick<Destination, 'id' | 'type'>): string {
  const manifest = getManifest(dest.type);
  const cli = manifest.oauth
    ? `leadrelay destinations connect --destination ${dest.id} (prints a link to open signed in to ${manifest.label})`
    : `leadrelay destinations reauth ${dest.id} with its new credentials (see leadrelay destinations reauth --help)`;
  return `re-authorise it in the web app (${webPage(ctx, 'health')}) or run: ${cli}`;
}

export function destinationReauthCause(ctx: CauseContext, dest: Pick<Destination, 'id' | 'name' | 'type'>, detail: string): CauseReport {
  return {
    workspaceId: ctx.workspaceId,
    cause: 'destination_reauth',
    subjectId: dest.id,
    subjectName: dest.name,
    title: `${capitalise(destinationLabel(dest))} needs re-authorisation`,
    detail: `${detail}. Its deliveries are parked (kept, in order) until then.`,
    fix: `${capitalise(reauthStep(ctx, dest))}. The parked deliveries then go out at once, oldest first.`,
  };
}

export function deadLetterCause(
  ctx: CauseContext,
  dest: Pick<Destination, 'id' | 'name'>,
  counts: { deadLastHour: number; deliveredLastHour: number; deadLastDay: number },
): CauseReport {
  const total = counts.deadLastHour + counts.deliveredLastHour;
  const percent = total === 0 ? 0 : Math.round((counts.deadLastHour / total) * 100);
  return {
    workspaceId: ctx.workspaceId,
    cause: 'destination_dead_letters',
    subjectId: dest.id,
    subjectName: dest.name,
    title: `${capitalise(destinationLabel(dest))} is dead-lettering leads`,
    detail:
      `In the last hour ${counts.deadLastHour} of ${total} deliveries (${percent} %) were refused for good (dead-lettered), ` +
      `${counts.deadLastDay} in the last 24 hours. The receiver's own words are on each lead's delivery.`,
    fix:
      `See why in the lead log (${webPage(ctx, `leads?destination_id=${dest.id}&status=failed`)}, or leadrelay leads show <lead id>), ` +
      `fix the mapping or the receiver, then send them again: leadrelay leads replay --dead --destination ${dest.id}`,
  };
}

export function queueAgeCause(ctx: CauseContext, detail: string): CauseReport {
  return {
    workspaceId: ctx.workspaceId,
    cause: 'queue_age',
    subjectId: null,
    subjectName: null,
    title: 'Leads are waiting on the queues',
    detail,
    fix:
      'Check that a `leadrelay work` (or `leadrelay start`) process runs and that its /readyz answers ready (PostgreSQL and the queue backend reachable); ' +
      `its log says what stops it. The workspace's state: ${webPage(ctx, 'health')}`,
  };
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
