// A workspace's health at a glance: each page (token valid, app installed, last lead) and each
// destination (credentials fine, needing re-authorisation, rate limited, failing). Read from
// what is stored; Meta is asked only on request (`check`), and its answer is stored for the
// next look.
import type { App } from '../app.js';
import { checkPageAccess } from '../meta/page-access.js';
import { pageTokenAad } from '../pipeline/lead-record.js';
import { listDestinationDeliveryStats, listLastLeadTimes, listPageChecks, savePageCheck } from '../store/health.js';
import * as repo from '../store/repos.js';
import type { Page, PageCheck } from '../store/schema.js';
import { type FieldNamer, InvalidInputError } from './errors.js';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

type PageHealthStatus = 'valid' | 'needs_reauth';
type DestinationHealthStatus = 'ok' | 'needs_reauth' | 'rate_limited' | 'failing' | 'disabled';

/** How far back dead deliveries make a destination `failing`. */
const FAILING_WINDOW_HOURS = 24;

/** Asks Meta about one page's token and whether the app is installed on it, and stores the answer. */
async function checkPage(app: App, page: Page, appId: string, graphVersion: string): Promise<void> {
  let token: string | null = null;
  try {
    token = app.keyRing.decrypt(page.token_envelope, pageTokenAad(page.page_id));
  } catch {
    // Recorded below as refused: only a new token helps.
  }
  let check: Pick<PageCheck, 'outcome' | 'is_app_installed' | 'problem'>;
  if (token === null)
    check = { outcome: 'refused', is_app_installed: null, problem: 'the stored page token cannot be decrypted with the key ring; add the page again' };
  else {
    const r = await checkPageAccess(app.graph, { appId, pageId: page.page_id, pageToken: token, graphVersion });
    check =
      r.outcome === 'ok'
        ? { outcome: 'ok', is_app_installed: r.appInstalled, problem: r.warnings.length ? r.warnings.join('; ') : null }
        : { outcome: r.outcome, is_app_installed: null, problem: r.problem };
  }
  await savePageCheck(app.db, { page_id: page.page_id, workspace_id: page.workspace_id, checked_at: new Date(), ...check });
}

/**
 * A page's token is `needs_reauth` when a lead fetch found it dead, or when Meta refused it at
 * the last check made since the token was last replaced; otherwise `valid` (nothing says otherwise).
 */
function pageStatus(page: Page, check: PageCheck | undefined): PageHealthStatus {
  if (page.status === 'needs_reauth') return 'needs_reauth';
  if (check?.outcome === 'refused' && new Date(check.checked_at) >= new Date(page.updated_at)) return 'needs_reauth';
  return 'valid';
}

export async function describeWorkspaceHealth(app: App, workspaceId: string, opts: { check?: boolean; name: FieldNamer }) {
  const pages = await repo.listPages(app.db, workspaceId);
  if (opts.check) {
    const { appId, appSecret, graphVersion } = app.config.meta;
    if (!appId || !appSecret)
      throw new InvalidInputError({
        field: opts.name('check'),
        message: `pages cannot be checked with Meta: ${[!appId && 'META_APP_ID', !appSecret && 'META_APP_SECRET'].filter(Boolean).join(' and ')} not set`,
      });
    for (const p of pages) await checkPage(app, p, appId, graphVersion);
  }
  const checks = new Map((await listPageChecks(app.db, workspaceId)).map((c) => [c.page_id, c]));
  const lastLeads = await listLastLeadTimes(
    app.db,
    pages.map((p) => p.page_id),
  );

  const destinations = await repo.listDestinations(app.db, workspaceId);
  const statsOf = new Map((await listDestinationDeliveryStats(app.db, workspaceId, FAILING_WINDOW_HOURS)).map((s) => [s.destination_id, s]));
  const now = Date.now();

  return {
    pages: pages.map((p) => {
      const c = checks.get(p.page_id);
      return {
        page_id: p.page_id,
        name: p.name,
        status: pageStatus(p, c),
        status_reason: p.status === 'needs_reauth' ? p.status_reason : c?.outcome === 'refused' ? 'refused_at_check' : null,
        app_installed: c?.is_app_installed ?? null,
        checked_at: iso(c?.checked_at ?? null),
        check_outcome: c?.outcome ?? null,
        check_problem: c?.problem ?? null,
        last_lead_at: iso(lastLeads.get(p.page_id) ?? null),
      };
    }),
    destinations: destinations.map((d) => {
      const s = statsOf.get(d.id);
      const dead = s?.dead_recently ?? 0;
      const isRateLimited = d.rate_limited_until !== null && new Date(d.rate_limited_until).getTime() > now;
      const status: DestinationHealthStatus =
        d.status === 'disabled' ? 'disabled' : d.status === 'needs_reauth' ? 'needs_reauth' : isRateLimited ? 'rate_limited' : dead > 0 ? 'failing' : 'ok';
      return {
        id: d.id,
        name: d.name,
        type: d.type,
        status,
        status_reason: d.status_reason,
        rate_limited_until: isRateLimited ? iso(d.rate_limited_until) : null,
        last_delivered_at: iso(s?.last_delivered_at ?? null),
        dead_last_24h: dead,
      };
    }),
  };
}
