// The queries of Meta's deauthorize and data-deletion callbacks (src/services/facebook-user-removal.ts):
// everything LeadRelay holds for one app-scoped Facebook user, found by that id, across workspaces.
import { sql } from 'kysely';
import type { Db } from './db.js';

export interface FacebookUserRows {
  /** Their Facebook logins (Connect Facebook) that were deleted, with their long-lived tokens. */
  connections: { id: string; workspace_id: string }[];
  /** Pages whose token came from their login: token deleted, marked disconnected. */
  pages: { page_id: string; workspace_id: string }[];
}

/**
 * Deletes the person's Facebook logins (their user tokens) and the tokens of the pages connected
 * through them, which become `disconnected` with `reason` (their rows, routes and history stay;
 * their later webhooks are kept, parked, until the page is connected again).
 */
export async function deleteFacebookUserTokens(db: Db, fbUserId: string, reason: string): Promise<FacebookUserRows> {
  const connections = await db.deleteFrom('facebook_connections').where('fb_user_id', '=', fbUserId).returning(['id', 'workspace_id']).execute();
  const pages = await db
    .updateTable('pages')
    .set({ token_envelope: null, status: 'disconnected', status_reason: reason, connected_fb_user_id: null, updated_at: sql`now()` })
    .where('connected_fb_user_id', '=', fbUserId)
    .returning(['page_id', 'workspace_id'])
    .execute();
  if (pages.length > 0)
    await db
      .deleteFrom('page_checks')
      .where(
        'page_id',
        'in',
        pages.map((p) => p.page_id),
      )
      .execute();
  return { connections, pages };
}

/** The status_reason of an event its lead's Facebook user had erased before the lead was fetched. */
const ERASURE_REQUESTED_REASON = 'erasure_requested';
/**
 * The status_reason of an event row the erasure wrote itself, before any webhook of its lead:
 * it stands for a lead Meta has not told us of, so it counts as no page's last lead (health page).
 */
export const ERASED_BEFORE_WEBHOOK_REASON = 'erasure_requested_before_webhook';

/** The statuses from which an event may still be fetched (`received`, or reopened from the others). */
const FETCHABLE_EVENT_STATUSES = ['received', 'parked', 'failed', 'unrouted'] as const;

export interface FacebookUserLeads {
  /** Stored leads tied to the person, erased now. */
  erased: { id: string; workspace_id: string }[];
  /** Leads tied to the person that were not stored: their events are `erased`, so they never will be. */
  unfetched: { workspace_id: string }[];
}

/**
 * Erases the leads tied to the person (Meta test leads made with a Page token from their login),
 * as the retention purge erases a lead: answers, their blind-index hashes, and what CRMs said back
 * about them; the PII-free row stays. A tied lead not stored yet (its webhook has not come, or its
 * event waits: received, parked, failed, unrouted) is never to be: its event becomes `erased`, or
 * is written so when there is none yet, and intake and reconciliation then record nothing for it
 * (they insert only events that do not exist) and nothing reopens it. The ties go, and with them
 * the Facebook user id.
 */
export async function eraseFacebookUserLeads(db: Db, fbUserId: string, now: Date): Promise<FacebookUserLeads> {
  // One transaction: a send claims a delivery only while it is pending, so it never sees the lead
  // erased with its delivery still pending.
  const run = async (trx: Db): Promise<FacebookUserLeads> => {
    const ties = await trx.deleteFrom('facebook_test_leads').where('fb_user_id', '=', fbUserId).returning(['workspace_id', 'page_id', 'leadgen_id']).execute();
    if (ties.length === 0) return { erased: [], unfetched: [] };
    // The events first, then the leads: a fetch storing one of these leads either locked its
    // event first (then this waits for it, finds it `fetched`, and the erasure below sees the
    // lead) or finds the event `erased` and stores nothing (src/store/fetched-leads.ts). Every
    // tie gets an event that cannot be fetched: also that of a stored lead whose event was pruned
    // (a repeated webhook then records nothing either). Those that exist are locked first, in id
    // order, as a batched store of leads locks them (a deadlock with it otherwise).
    await sql`
      select id from leadgen_events
      where (page_id, leadgen_id) in (select * from unnest(${ties.map((t) => t.page_id)}::text[], ${ties.map((t) => t.leadgen_id)}::text[]))
      order by id
      for update
    `.execute(trx);
    await sql`
      insert into leadgen_events (page_id, leadgen_id, workspace_id, status, status_reason)
      select t.page_id, t.leadgen_id, t.workspace_id, 'erased', ${ERASED_BEFORE_WEBHOOK_REASON}
      from unnest(${ties.map((t) => t.page_id)}::text[], ${ties.map((t) => t.leadgen_id)}::text[], ${ties.map((t) => t.workspace_id)}::uuid[])
        as t(page_id, leadgen_id, workspace_id)
      on conflict (page_id, leadgen_id) do update
        set status = 'erased', status_reason = ${ERASURE_REQUESTED_REASON}, workspace_id = coalesce(leadgen_events.workspace_id, excluded.workspace_id),
          next_attempt_at = null, updated_at = now()
        where leadgen_events.status = any(${[...FETCHABLE_EVENT_STATUSES]}::text[])
    `.execute(trx);
    const leads = await trx
      .updateTable('leads')
      .set({ answers_envelope: null, erased_at: now, search_kid: null })
      .where((eb) =>
        eb.or(ties.map((t) => eb.and([eb('workspace_id', '=', t.workspace_id), eb('page_id', '=', t.page_id), eb('leadgen_id', '=', t.leadgen_id)]))),
      )
      .returning(['id', 'workspace_id', 'leadgen_id'])
      .execute();
    const stored = new Set(leads.map((l) => `${l.workspace_id}/${l.leadgen_id}`));
    const unfetched = ties.filter((t) => !stored.has(`${t.workspace_id}/${t.leadgen_id}`)).map((t) => ({ workspace_id: t.workspace_id }));
    const ids = leads.map((l) => l.id);
    if (ids.length > 0) {
      await trx.deleteFrom('lead_search').where('lead_id', 'in', ids).execute();
      // What a connector kept of the delivery (connector_state) goes too, as the retention purge's does.
      await trx
        .updateTable('deliveries')
        .set({ last_error_message: null, connector_state: null })
        .where('lead_id', 'in', ids)
        .where((eb) => eb.or([eb('last_error_message', 'is not', null), eb('connector_state', 'is not', null)]))
        .execute();
      // Nothing is left to send: deliveries not sent yet are dead-lettered, as a subject erasure does.
      await trx
        .updateTable('deliveries')
        .set({ status: 'dead', last_error_kind: 'invalid', last_error_reason: 'lead_erased', next_attempt_at: null, updated_at: sql`now()` })
        .where('lead_id', 'in', ids)
        .where('status', 'in', ['pending', 'parked'])
        .execute();
      await sql`
        update delivery_attempts set message = null, response_body = null
        from deliveries
        where deliveries.id = delivery_attempts.delivery_id and deliveries.lead_id = any(${ids}::uuid[])
          and (delivery_attempts.message is not null or delivery_attempts.response_body is not null)
      `.execute(trx);
    }
    return { erased: leads.map(({ id, workspace_id }) => ({ id, workspace_id })), unfetched };
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/**
 * Erases any lead stored under an `erased` event (the callback committed while its fetch stored
 * it, and the fetch ended before deleting it again), as the callback erases a lead: answers and
 * blind-index rows. Returns how many. For the hourly retention purge.
 */
export async function eraseLeadsOfErasedEvents(db: Db, now: Date): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    with erased as (
      update leads set answers_envelope = null, erased_at = ${now}, search_kid = null
      from leadgen_events e
      where e.status = 'erased' and leads.event_id = e.id and leads.erased_at is null
      returning leads.id
    ), search as (
      delete from lead_search s using erased where s.lead_id = erased.id
    )
    select count(*) as n from erased
  `.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** Remembers a Meta test lead made with a Page token from this Facebook user's login. */
export async function recordFacebookTestLead(db: Db, t: { workspaceId: string; pageId: string; leadgenId: string; fbUserId: string }): Promise<void> {
  await db
    .insertInto('facebook_test_leads')
    .values({ workspace_id: t.workspaceId, page_id: t.pageId, leadgen_id: t.leadgenId, fb_user_id: t.fbUserId })
    .onConflict((oc) => oc.columns(['page_id', 'leadgen_id']).doUpdateSet({ workspace_id: t.workspaceId, fb_user_id: t.fbUserId }))
    .execute();
}

/**
 * Claims a signed request (by its SHA-256) until it expires: true the first time, false when it
 * was seen before (a replay, or Meta sending it again), in the caller's transaction.
 */
export async function claimSignedRequest(db: Db, requestHash: string, expiresAt: Date): Promise<boolean> {
  await sql`delete from used_tokens where expires_at < now()`.execute(db);
  const { rows } = await sql`
    insert into used_tokens (token_hash, expires_at) values (${requestHash}, ${expiresAt})
    on conflict (token_hash) do nothing
    returning token_hash
  `.execute(db);
  return rows.length === 1;
}

/** Records a data-deletion request under a new confirmation code; the code it already has when this request was recorded before. */
export async function insertDeletionRequest(db: Db, code: string, requestHash: string): Promise<{ code: string; isNew: boolean }> {
  const inserted = await db
    .insertInto('meta_deletion_requests')
    .values({ confirmation_code: code, request_hash: requestHash })
    .onConflict((oc) => oc.column('request_hash').doNothing())
    .returning('confirmation_code')
    .executeTakeFirst();
  if (inserted) return { code: inserted.confirmation_code, isNew: true };
  const existing = await db.selectFrom('meta_deletion_requests').select('confirmation_code').where('request_hash', '=', requestHash).executeTakeFirstOrThrow();
  return { code: existing.confirmation_code, isNew: false };
}

export async function completeDeletionRequest(db: Db, code: string, result: Record<string, number>): Promise<void> {
  await db
    .updateTable('meta_deletion_requests')
    .set({ completed_at: sql`now()`, result: JSON.stringify(result) })
    .where('confirmation_code', '=', code)
    .execute();
}

export async function findDeletionRequest(db: Db, code: string) {
  return db.selectFrom('meta_deletion_requests').selectAll().where('confirmation_code', '=', code).executeTakeFirst();
}
