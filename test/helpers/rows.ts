// Rows the integration tests store directly, built in one place.
import { sql } from 'kysely';
import type { App } from '../../src/app.js';
import type { Db } from '../../src/store/db.js';
import { waitUntil } from './e2e.js';
import { unmarkWorkspaceDeleted, unparkWorkspaceWork } from '../../src/store/workspace-deletion.js';
import { encryptCredentials } from '../../src/pipeline/connector-context.js';
import { graphLeadSchema } from '../../src/meta/graph-types.js';
import { leadRowFromGraph } from '../../src/pipeline/lead-record.js';
import * as repo from '../../src/store/repos.js';
import type { NewLead } from '../../src/store/schema.js';

/** A lead with no answers and no attribution: enough for delivery and queue bookkeeping. */
export function makeBareLeadRow(workspaceId: string, leadgenId: string, pageId: string): NewLead {
  return {
    workspace_id: workspaceId,
    event_id: null,
    leadgen_id: leadgenId,
    page_id: pageId,
    page_name: null,
    form_id: null,
    form_name: null,
    created_time: new Date(),
    ad_id: null,
    ad_name: null,
    adset_id: null,
    adset_name: null,
    campaign_id: null,
    campaign_name: null,
    platform: 'fb',
    is_organic: true,
    is_test: false,
    answers_envelope: null,
    status_reason: null,
    received_at: new Date(),
    erased_at: null,
  };
}

/** A Pipedrive destination on an API token and a route of one form to it, mapping name and email. */
export async function createPipedriveRoute(app: App, r: { workspaceId: string; pageId: string; formId: string; apiToken: string }) {
  const dest = await repo.createDestination(app.db, {
    workspaceId: r.workspaceId,
    type: 'pipedrive',
    name: 'Pipedrive',
    config: {},
    credentialsEnvelope: null,
  });
  await repo.updateDestinationCredentials(app.db, dest.id, encryptCredentials(app, dest.id, { type: 'api_token', apiToken: r.apiToken }), true);
  const route = await repo.createRoute(app.db, {
    workspaceId: r.workspaceId,
    pageId: r.pageId,
    formId: r.formId,
    destinationId: dest.id,
    mapping: {
      version: 1,
      rules: [
        { target: 'person.name', source: { type: 'answer', key: 'full_name' } },
        { target: 'person.email', source: { type: 'answer', key: 'email' } },
      ],
    },
  });
  return { dest, route };
}

/** A lead as the fetch stores it (one email answer, encrypted) with its pending delivery to one destination. */
export async function storeLeadWithDelivery(
  app: App,
  r: { workspaceId: string; pageId: string; leadgenId: string; email: string; destinationId: string; routeId: string },
): Promise<{ leadId: string; deliveryId: string }> {
  const graphLead = graphLeadSchema.parse({
    id: r.leadgenId,
    created_time: '2026-11-20T10:15:00+0000',
    form_id: '870000009',
    field_data: [{ name: 'email', values: [r.email] }],
    platform: 'fb',
    is_organic: true,
  });
  const row = leadRowFromGraph(
    app.keyRing,
    { workspaceId: r.workspaceId, eventId: 0, pageId: r.pageId, pageName: null, formName: 'Form', receivedAt: new Date(), isTest: false },
    graphLead,
  );
  const lead = await repo.insertLead(app.db, { ...row, event_id: null });
  const [delivery] = await repo.ensureDeliveries(app.db, [{ workspaceId: r.workspaceId, leadId: lead.id, destinationId: r.destinationId, routeId: r.routeId }]);
  return { leadId: lead.id, deliveryId: delivery.id };
}

/**
 * Resolves once a statement whose text holds `text` waits for a row lock in PostgreSQL (another
 * transaction holds it), or once `work` (what would wait) has settled without waiting.
 */
export async function waitingForLockOrDone(db: Db, text: string, work: Promise<unknown>): Promise<void> {
  let done = false;
  const settled = work.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await Promise.race([
    settled,
    waitUntil(
      async () => {
        if (done) return true;
        const r = await sql<{ n: string }>`select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query like ${`%${text}%`}`.execute(db);
        return Number(r.rows[0]?.n) > 0;
      },
      20_000,
      `a statement (${text}) waiting for a lock`,
    ),
  ]);
}

/**
 * Starts `meanwhile` while a restore of the workspace is under way (its deletion flag lifted and
 * its parked work reopened, not committed yet), lets the restore commit once what `meanwhile`
 * started either waits for it (a statement waiting for a lock) or has finished, and returns that.
 */
export async function duringWorkspaceRestore<T>(db: Db, workspaceId: string, meanwhile: () => Promise<T>): Promise<T> {
  let started: Promise<T> | undefined;
  await db.transaction().execute(async (trx) => {
    if (!(await unmarkWorkspaceDeleted(trx, workspaceId))) throw new Error(`workspace ${workspaceId} was not being deleted`);
    await unparkWorkspaceWork(trx, workspaceId);
    started = meanwhile();
    await waitingForLockOrDone(db, 'config_version for share', started);
  });
  return started as Promise<T>;
}

/** Ends a deleted workspace's grace period: it is due for its purge now. */
export async function endGracePeriod(db: Db, workspaceId: string): Promise<void> {
  await db
    .updateTable('workspaces')
    .set({ purge_after: new Date(Date.now() - 1000) })
    .where('id', '=', workspaceId)
    .execute();
}
