// Repositories of a lead's flow: leadgen events, leads, deliveries and their attempts.
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { Delivery, DeliveryAttempt, DeliveryStatus, EventStatus, Lead, LeadgenEvent, NewLead } from './schema.js';
import { isUuid, json } from './values.js';

// ---------- leadgen events ----------
export interface NewLeadgenEvent {
  pageId: string;
  leadgenId: string;
  formId: string | null;
  adId: string | null;
  adgroupId: string | null;
  createdTime: Date | null;
  isTest: boolean;
}

/**
 * Records many events in ONE statement; duplicates (same page and leadgen id) are no-ops.
 * Returns the events that were new, with their ids, so only they are queued.
 *
 * The rows travel as nine arrays through unnest(): the statement text is the same whatever the
 * batch size (PostgreSQL plans it once per connection) and it binds 9 parameters, not 9 per row.
 */
export async function recordLeadgenEvents(
  db: Db,
  rows: NewLeadgenEvent[],
): Promise<{ id: number; page_id: string; leadgen_id: string; status: EventStatus }[]> {
  if (rows.length === 0) return [];
  const col = <T>(f: (r: NewLeadgenEvent) => T) => rows.map(f);
  const result = await sql<{ id: number; page_id: string; leadgen_id: string; status: EventStatus }>`
    insert into leadgen_events (page_id, leadgen_id, form_id, ad_id, adgroup_id, created_time, is_test, status, status_reason)
    select * from unnest(
      ${col((r) => r.pageId)}::text[], ${col((r) => r.leadgenId)}::text[], ${col((r) => r.formId)}::text[],
      ${col((r) => r.adId)}::text[], ${col((r) => r.adgroupId)}::text[],
      ${col((r) => (r.createdTime ? r.createdTime.toISOString() : null))}::timestamptz[], ${col((r) => r.isTest)}::boolean[],
      ${col((r) => (r.isTest ? 'test' : 'received'))}::text[], ${col((r) => (r.isTest ? 'dashboard_test_id' : null))}::text[]
    )
    on conflict (page_id, leadgen_id) do nothing
    returning id, page_id, leadgen_id, status
  `.execute(db);
  return result.rows.map((r) => ({ ...r, id: Number(r.id) }));
}

export async function findEvent(db: Db, id: number): Promise<LeadgenEvent | undefined> {
  return db.selectFrom('leadgen_events').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Events for the fetch step in one statement, with the configuration counter (config_version,
 * migration 0016) read in the same statement: what the fetch step's config cache checks itself
 * against, at no extra round trip. One id (the usual case) is looked up by `id = $1`: the
 * `= any($1)` form is planned anew on every call (PostgreSQL never takes a generic plan for it)
 * and took several times the execution time per event in `bench profile`.
 */
export async function findEventsForFetch(db: Db, ids: readonly number[]): Promise<Map<number, LeadgenEvent & { configVersion: number }>> {
  const found = new Map<number, LeadgenEvent & { configVersion: number }>();
  if (ids.length === 0) return found;
  const rows = await db
    .selectFrom('leadgen_events')
    .selectAll()
    .select(sql<string>`(select version from config_version)`.as('config_version'))
    .where('id', '=', ids.length === 1 ? ids[0] : sql<number>`any(${[...ids]}::bigint[])`)
    .execute();
  for (const { config_version, ...event } of rows) found.set(Number(event.id), { ...event, configVersion: Number(config_version) });
  return found;
}

/** One event for the fetch step (findEventsForFetch). */
export async function findEventForFetch(db: Db, id: number): Promise<(LeadgenEvent & { configVersion: number }) | undefined> {
  return (await findEventsForFetch(db, [id])).get(id);
}

export async function setEventStatus(
  db: Db,
  id: number,
  status: EventStatus,
  extra: { reason?: string | null; workspaceId?: string | null; lastError?: Record<string, unknown> | null; incrementAttempts?: boolean } = {},
): Promise<void> {
  const values: Record<string, unknown> = { status, updated_at: sql`now()` };
  if (extra.reason !== undefined) values.status_reason = extra.reason;
  if (extra.workspaceId !== undefined) values.workspace_id = extra.workspaceId;
  if (extra.lastError !== undefined) values.last_error = extra.lastError === null ? null : json(extra.lastError);
  if (extra.incrementAttempts) values.attempts = sql`attempts + 1`;
  await db.updateTable('leadgen_events').set(values).where('id', '=', id).execute();
}

/** Events still waiting to be fetched and unchanged since the cutoff: the outbox the sweep re-queues. */
export async function listOpenEvents(db: Db, unchangedSince: Date, limit: number): Promise<{ id: number; writtenAtUs: string }[]> {
  // The write instant to the microsecond, as PostgreSQL keeps it: a Date keeps milliseconds,
  // and two inserts within one millisecond would look like one.
  const rows = await db
    .selectFrom('leadgen_events')
    .select(['id', sql<string>`(extract(epoch from updated_at) * 1000000)::bigint::text`.as('written_at_us')])
    .where('status', '=', 'received')
    .where('updated_at', '<', unchangedSince)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: Number(r.id), writtenAtUs: r.written_at_us }));
}

/** Re-opens a page's parked or unrouted events (after its token is replaced or it is registered). */
export async function reopenEventsForPage(db: Db, pageId: string, statuses: EventStatus[]): Promise<{ id: number }[]> {
  if (statuses.length === 0) return [];
  return db
    .updateTable('leadgen_events')
    .set({ status: 'received', status_reason: null, updated_at: sql`now()` })
    .where('page_id', '=', pageId)
    .where('status', 'in', statuses)
    .returning('id')
    .execute();
}

/** Puts the events whose fetch gave up (of one page, or all) back to `received` with no attempts. */
export async function reopenFailedEvents(db: Db, pageId: string | null): Promise<{ id: number }[]> {
  let q = db.updateTable('leadgen_events').set({ status: 'received', status_reason: null, attempts: 0 }).where('status', '=', 'failed');
  if (pageId) q = q.where('page_id', '=', pageId);
  return q.returning('id').execute();
}

// ---------- leads ----------
/** Inserts the lead unless it exists; returns the stored row either way (idempotent). */
export async function insertLead(db: Db, lead: NewLead): Promise<Lead> {
  const inserted = await db
    .insertInto('leads')
    .values(lead)
    .onConflict((oc) => oc.columns(['workspace_id', 'leadgen_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return inserted;
  return db.selectFrom('leads').selectAll().where('workspace_id', '=', lead.workspace_id).where('leadgen_id', '=', lead.leadgen_id).executeTakeFirstOrThrow();
}

export async function findLead(db: Db, id: string): Promise<Lead | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('leads').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Several leads by id (a batch of deliveries reads its leads in one query). */
export async function findLeads(db: Db, ids: string[]): Promise<Lead[]> {
  const valid = [...new Set(ids.filter(isUuid))];
  if (valid.length === 0) return [];
  return db.selectFrom('leads').selectAll().where('id', 'in', valid).execute();
}

export async function setLeadStatus(db: Db, id: string, status: Lead['status'], reason: string | null): Promise<void> {
  await db.updateTable('leads').set({ status, status_reason: reason }).where('id', '=', id).execute();
}

/**
 * The retention purge: erases the answers (the personal data) of leads older than their
 * workspace's retention period; the row stays, with its ids and attribution, marked erased.
 * What a CRM or receiver said back about an erased lead goes too (its error messages and
 * response bodies can quote the lead's email or phone), with what a connector kept of the
 * delivery (connector_state), and so do the hashes that found it by email or phone
 * (lead_search). What stays is a tombstone without personal data: the lead's ids, times, page,
 * form, attribution and status, and each delivery's destination, status, attempt count,
 * reason codes and CRM record id, so counts stay honest. Returns how many leads were erased now.
 */
export async function eraseExpiredLeadAnswers(db: Db, now: Date): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const result = await sql`
      update leads set answers_envelope = null, erased_at = ${now}, search_kid = null
      from workspaces w
      where w.id = leads.workspace_id
        and leads.erased_at is null
        and leads.received_at < ${now}::timestamptz - make_interval(days => w.lead_retention_days)
    `.execute(trx);
    // Every erased lead, also those erased before this rule existed: the statements are no-ops
    // once the text is gone. The blind index's hashes of their emails and phones go too.
    await sql`
      delete from lead_search using leads
      where leads.id = lead_search.lead_id and leads.erased_at is not null
    `.execute(trx);
    await sql`
      update deliveries set last_error_message = null, connector_state = null
      from leads
      where leads.id = deliveries.lead_id and leads.erased_at is not null
        and (deliveries.last_error_message is not null or deliveries.connector_state is not null)
    `.execute(trx);
    await sql`
      update delivery_attempts set message = null, response_body = null
      from deliveries join leads on leads.id = deliveries.lead_id
      where deliveries.id = delivery_attempts.delivery_id and leads.erased_at is not null
        and (delivery_attempts.message is not null or delivery_attempts.response_body is not null)
    `.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  });
}

export interface ErasedLeadCopies {
  leads: number;
  searchEntries: number;
  deliveries: number;
  attempts: number;
}

/**
 * Erases the given leads at once (a data-subject erasure), as the retention purge does: their
 * answers and blind-index rows go, and every copy of their data in deliveries (the CRM's last
 * message, connector state) and attempts (messages, response bodies). Deliveries still to be
 * sent are dead-lettered with reason `lead_erased`. The rows stay as PII-free tombstones. One
 * transaction; returns what it touched.
 */
export async function eraseLeadsNow(db: Db, leadIds: string[], now: Date): Promise<ErasedLeadCopies> {
  if (leadIds.length === 0) return { leads: 0, searchEntries: 0, deliveries: 0, attempts: 0 };
  const run = async (trx: Db): Promise<ErasedLeadCopies> => {
    const leads = await trx
      .updateTable('leads')
      .set({ answers_envelope: null, search_kid: null, erased_at: sql`coalesce(erased_at, ${now}::timestamptz)` })
      .where('id', 'in', leadIds)
      .executeTakeFirst();
    const search = await trx.deleteFrom('lead_search').where('lead_id', 'in', leadIds).executeTakeFirst();
    await trx
      .updateTable('deliveries')
      .set({ status: 'dead', last_error_kind: 'invalid', last_error_reason: 'lead_erased', next_attempt_at: null })
      .where('lead_id', 'in', leadIds)
      .where('status', 'in', ['pending', 'parked'])
      .execute();
    const deliveries = await trx
      .updateTable('deliveries')
      .set({ last_error_message: null, connector_state: null })
      .where('lead_id', 'in', leadIds)
      .where((eb) => eb.or([eb('last_error_message', 'is not', null), eb('connector_state', 'is not', null)]))
      .executeTakeFirst();
    const attempts = await trx
      .updateTable('delivery_attempts')
      .set({ message: null, response_body: null })
      .where('delivery_id', 'in', trx.selectFrom('deliveries').select('id').where('lead_id', 'in', leadIds))
      .where((eb) => eb.or([eb('message', 'is not', null), eb('response_body', 'is not', null)]))
      .executeTakeFirst();
    return {
      leads: Number(leads.numUpdatedRows),
      searchEntries: Number(search.numDeletedRows),
      deliveries: Number(deliveries.numUpdatedRows),
      attempts: Number(attempts.numUpdatedRows),
    };
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** Rows deleted per statement by the pruning below, so no statement holds its locks for long. */
const PRUNE_BATCH = 5000;

async function deleteInBatches(run: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await run();
    total += n;
    if (n < PRUNE_BATCH) return total;
  }
}

/** Deletes the delivery attempts that finished before `before`; each delivery keeps its attempt count and last reason. */
export async function pruneDeliveryAttempts(db: Db, before: Date): Promise<number> {
  return deleteInBatches(async () => {
    const r = await sql`
      delete from delivery_attempts where id in (select id from delivery_attempts where finished_at < ${before} limit ${PRUNE_BATCH})
    `.execute(db);
    return Number(r.numAffectedRows ?? 0);
  });
}

/**
 * Deletes leadgen events the pipeline is done with (any status but `received`): those received
 * before `before`, and those of erased leads received before `erasedBefore`. A lead keeps its
 * row (event_id becomes null), which also keeps a repeated webhook from storing it again.
 */
export async function pruneLeadgenEvents(db: Db, opts: { before: Date; erasedBefore: Date }): Promise<number> {
  return deleteInBatches(async () => {
    const r = await sql`
      delete from leadgen_events where id in (
        select e.id from leadgen_events e
        where e.status <> 'received'
          and (e.received_at < ${opts.before}
            or (e.received_at < ${opts.erasedBefore} and exists (select 1 from leads l where l.event_id = e.id and l.erased_at is not null)))
        limit ${PRUNE_BATCH})
    `.execute(db);
    return Number(r.numAffectedRows ?? 0);
  });
}

/** Unrouted leads, oldest first: of one workspace (or all, when null), optionally of one form. */
export async function listUnroutedLeads(db: Db, workspaceId: string | null, formId: string | null): Promise<Lead[]> {
  let q = db.selectFrom('leads').selectAll().where('status', '=', 'unrouted');
  if (workspaceId) q = q.where('workspace_id', '=', workspaceId);
  if (formId) q = q.where('form_id', '=', formId);
  return q.orderBy('received_at').execute();
}

// ---------- deliveries ----------
/** One delivery per lead × destination; a repeat is a no-op. Returns every delivery of the lead. */
export async function ensureDeliveries(db: Db, rows: { workspaceId: string; leadId: string; destinationId: string; routeId: string }[]): Promise<Delivery[]> {
  if (rows.length > 0) {
    await db
      .insertInto('deliveries')
      .values(rows.map((r) => ({ workspace_id: r.workspaceId, lead_id: r.leadId, destination_id: r.destinationId, route_id: r.routeId })))
      .onConflict((oc) => oc.columns(['lead_id', 'destination_id']).doNothing())
      .execute();
  }
  const leadIds = [...new Set(rows.map((r) => r.leadId))];
  if (leadIds.length === 0) return [];
  return db.selectFrom('deliveries').selectAll().where('lead_id', 'in', leadIds).execute();
}

export async function findDelivery(db: Db, id: string): Promise<Delivery | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Every column of `leads`, read beside a delivery under a prefix (the compiler checks the list is whole). */
const LEAD_COLUMNS = [
  'id',
  'workspace_id',
  'event_id',
  'leadgen_id',
  'page_id',
  'page_name',
  'form_id',
  'form_name',
  'created_time',
  'ad_id',
  'ad_name',
  'adset_id',
  'adset_name',
  'campaign_id',
  'campaign_name',
  'platform',
  'is_organic',
  'is_test',
  'answers_envelope',
  'status',
  'status_reason',
  'received_at',
  'fetched_at',
  'erased_at',
  'search_kid',
  'updated_at',
] as const satisfies readonly (keyof Lead)[];
const leadColumnsAreWhole: Exclude<keyof Lead, (typeof LEAD_COLUMNS)[number]> extends never ? true : never = true;
const LEAD_PREFIX = 'lead__';

/**
 * A delivery and its lead (undefined when the lead row is gone) in one query, with the
 * configuration counter (config_version, migration 0016) the delivery's config cache checks
 * itself against: what a delivery job reads first.
 */
export async function findDeliveryWithLead(db: Db, id: string): Promise<{ delivery: Delivery; lead: Lead | undefined; configVersion: number } | undefined> {
  if (!isUuid(id) || !leadColumnsAreWhole) return undefined;
  const row = await db
    .selectFrom('deliveries')
    .leftJoin('leads', 'leads.id', 'deliveries.lead_id')
    .selectAll('deliveries')
    .select(LEAD_COLUMNS.map((c) => sql.ref(`leads.${c}`).as(`${LEAD_PREFIX}${c}`)))
    .select(sql<string>`(select version from config_version)`.as(`${LEAD_PREFIX}config_version`))
    .where('deliveries.id', '=', id)
    .executeTakeFirst();
  if (!row) return undefined;
  const delivery: Record<string, unknown> = {};
  const lead: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (key.startsWith(LEAD_PREFIX)) lead[key.slice(LEAD_PREFIX.length)] = value;
    else delivery[key] = value;
  }
  const configVersion = Number(lead.config_version);
  delete lead.config_version;
  return { delivery: delivery as Delivery, lead: lead.id == null ? undefined : (lead as Lead), configVersion };
}

export async function listDeliveriesOfLead(db: Db, leadId: string): Promise<Delivery[]> {
  return db.selectFrom('deliveries').selectAll().where('lead_id', '=', leadId).orderBy('created_at').execute();
}

/** The deliveries of several leads, oldest first. */
export async function listDeliveriesOfLeads(db: Db, leadIds: string[]): Promise<Delivery[]> {
  if (leadIds.length === 0) return [];
  return db.selectFrom('deliveries').selectAll().where('lead_id', 'in', leadIds).orderBy('created_at').execute();
}

export async function updateDelivery(db: Db, id: string, set: Record<string, unknown>): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ ...set, updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

/**
 * Pending deliveries unchanged since the cutoff and due by `now`: the outbox the sweep re-queues.
 * A delivery waiting for its backoff or a rate limit is not lost (it is re-queued when due), so a
 * long queue of waiting deliveries never crowds out a lost one.
 */
/** Parks a delivery with its last error, only while it is still pending (a re-authorisation may have just resumed it). */
export async function parkDeliveryIfPending(
  db: Db,
  id: string,
  lastError: { last_error_kind: string | null; last_error_reason: string | null; last_error_message: string | null },
): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ ...lastError, status: 'parked', updated_at: new Date() })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

export async function listOpenDeliveries(db: Db, unchangedSince: Date, now: Date, limit: number): Promise<{ id: string; next_attempt_at: Date | null }[]> {
  return (
    db
      .selectFrom('deliveries')
      .select(['id', 'next_attempt_at'])
      .where('status', '=', 'pending')
      .where('updated_at', '<', unchangedSince)
      .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
      // A batch at work holds these (its jobs are done); once its claim lapses they are lost work.
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', now)]))
      .orderBy('created_at')
      .limit(limit)
      .execute()
  );
}

/** Moves a destination's parked deliveries back to pending, oldest first (they resume in order). */
export async function unparkDeliveries(db: Db, destinationId: string): Promise<{ id: string }[]> {
  const rows = await db
    .updateTable('deliveries')
    .set({ status: 'pending', updated_at: sql`now()` })
    .where('destination_id', '=', destinationId)
    .where('status', '=', 'parked')
    .returning(['id', 'created_at'])
    .execute();
  return rows.sort((a, b) => +new Date(a.created_at) - +new Date(b.created_at)).map((r) => ({ id: r.id }));
}

/** Moves a destination's dead deliveries back to pending with no attempts, oldest first (not those of erased leads: there is nothing left to send). */
export async function reopenDeadDeliveries(db: Db, destinationId: string): Promise<{ id: string }[]> {
  const rows = await db
    .updateTable('deliveries')
    .set({ status: 'pending', attempts: 0, next_attempt_at: null, last_error_kind: null, last_error_reason: null, last_error_message: null })
    .where('destination_id', '=', destinationId)
    .where('status', '=', 'dead')
    .where((eb) =>
      eb.not(eb.exists(eb.selectFrom('leads').select('leads.id').whereRef('leads.id', '=', 'deliveries.lead_id').where('leads.erased_at', 'is not', null))),
    )
    .returning(['id', 'created_at'])
    .execute();
  return rows.sort((a, b) => +new Date(a.created_at) - +new Date(b.created_at)).map((r) => ({ id: r.id }));
}

export async function resetDeliveriesOfLead(db: Db, leadId: string, statuses: DeliveryStatus[]): Promise<{ id: string }[]> {
  if (statuses.length === 0) return [];
  return db
    .updateTable('deliveries')
    .set({
      status: 'pending',
      attempts: 0,
      updated_at: sql`now()`,
      next_attempt_at: null,
      last_error_kind: null,
      last_error_reason: null,
      last_error_message: null,
    })
    .where('lead_id', '=', leadId)
    .where('status', 'in', statuses)
    .returning('id')
    .execute();
}

export async function recordAttempt(db: Db, a: AttemptRow): Promise<void> {
  await db
    .insertInto('delivery_attempts')
    .values({
      workspace_id: a.workspaceId,
      delivery_id: a.deliveryId,
      attempt: a.attempt,
      started_at: a.startedAt,
      finished_at: new Date(),
      outcome: a.outcome,
      http_status: a.httpStatus ?? null,
      error_kind: a.errorKind ?? null,
      reason: a.reason ?? null,
      message: a.message ?? null,
      response_body: a.responseBody ?? null,
    })
    .execute();
}

/** A delivery's attempts in the order they were made (a rate-limit wait keeps the attempt number: the id decides). */
export async function listAttempts(db: Db, deliveryId: string) {
  return db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('attempt').orderBy('id').execute();
}

/** Every attempt of every delivery of a lead, in the order they were made. */
export async function listAttemptsOfLead(db: Db, leadId: string): Promise<DeliveryAttempt[]> {
  return db
    .selectFrom('delivery_attempts')
    .innerJoin('deliveries', 'deliveries.id', 'delivery_attempts.delivery_id')
    .selectAll('delivery_attempts')
    .where('deliveries.lead_id', '=', leadId)
    .orderBy('delivery_attempts.started_at')
    .orderBy('delivery_attempts.id')
    .execute();
}

// ---------- batch claims (migration 0015) ----------
/**
 * Claims up to `limit` ready deliveries of a destination for a batch, oldest first: pending,
 * due by `now`, claimed by no live batch. Claims of one destination take turns (a transaction
 * advisory lock on the destination, held for this one statement): concurrent claimers would
 * otherwise share the ready rows between them row by row, twenty jobs making twenty small
 * batches instead of a few full ones. Rows locked by anything else are skipped (FOR UPDATE SKIP
 * LOCKED), never waited for.
 */
export async function claimReadyDeliveries(
  db: Db,
  destinationId: string,
  claim: { token: string; until: Date; now: Date },
  limit: number,
): Promise<Delivery[]> {
  if (limit <= 0) return [];
  const claimOnce = async (trx: Db) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`leadrelay.delivery-claims:${destinationId}`}, 0))`.execute(trx);
    return sql<Delivery>`
    update deliveries d set claimed_by = ${claim.token}::uuid, claimed_until = ${claim.until}
    from (
      select id from deliveries
      where destination_id = ${destinationId}::uuid and status = 'pending'
        and (next_attempt_at is null or next_attempt_at <= ${claim.now})
        and (claimed_until is null or claimed_until <= ${claim.now})
      order by created_at
      limit ${limit}
      for update skip locked
    ) picked
    where d.id = picked.id
    returning d.*
  `.execute(trx);
  };
  const result = db.isTransaction ? await claimOnce(db) : await db.transaction().execute(claimOnce);
  return result.rows.sort((a, b) => +new Date(a.created_at) - +new Date(b.created_at));
}

/**
 * Claims one pending delivery for a single-lead send, unless a live claim holds it: the run that
 * sends a lead is the only one that may, even when its job was lost (Redis flushed) and queued
 * again while it was still talking to the CRM. Returns the row as claimed, or `held` with the
 * time the other claim lapses, or undefined when the delivery is no longer pending.
 */
export async function claimDelivery(
  db: Db,
  id: string,
  claim: { token: string; until: Date; now: Date },
): Promise<{ claimed: Delivery } | { heldUntil: Date } | undefined> {
  const claimed = await db
    .updateTable('deliveries')
    .set({ claimed_by: claim.token, claimed_until: claim.until })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', claim.now)]))
    .returningAll()
    .executeTakeFirst();
  if (claimed) return { claimed };
  const row = await db.selectFrom('deliveries').select(['status', 'claimed_until']).where('id', '=', id).executeTakeFirst();
  if (row?.status !== 'pending' || !row.claimed_until) return undefined;
  return { heldUntil: new Date(row.claimed_until) };
}

/** Moves a live claim's lapse time on, while the run that holds it is still at work. Returns whether it still held. */
export async function renewClaim(db: Db, id: string, token: string, until: Date): Promise<boolean> {
  const r = await db.updateTable('deliveries').set({ claimed_until: until }).where('id', '=', id).where('claimed_by', '=', token).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Lets go of what a batch still holds (a batch that stopped early); rows another claimer took over stay theirs. */
export async function releaseClaims(db: Db, ids: string[], token: string): Promise<void> {
  if (ids.length === 0) return;
  await db.updateTable('deliveries').set({ claimed_by: null, claimed_until: null }).where('id', 'in', ids).where('claimed_by', '=', token).execute();
}

/**
 * Writes a claimed delivery's new state and lets go of the claim, only while the claim is still
 * this batch's and the delivery still pending (an erasure or a claimer that took over after the
 * claim lapsed wins). Returns whether it was written.
 */
export async function updateClaimedDelivery(db: Db, id: string, token: string, set: Record<string, unknown>): Promise<boolean> {
  const r = await db
    .updateTable('deliveries')
    .set({ ...set, claimed_by: null, claimed_until: null, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('claimed_by', '=', token)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** One row of `delivery_attempts`, as recorded. */
export interface AttemptRow {
  workspaceId: string;
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  outcome: 'delivered' | 'retry' | 'rate_limited' | 'auth' | 'dead';
  httpStatus?: number | null;
  errorKind?: string | null;
  reason?: string | null;
  message?: string | null;
  responseBody?: string | null;
}

/**
 * Writes a claimed delivery's new state, lets go of the claim and records the attempt, in ONE
 * statement (the attempt row is inserted from what the update wrote, so both or neither): only
 * while the claim is still `token`'s and the delivery still pending, as updateClaimedDelivery.
 * Returns whether it was written.
 */
export async function writeClaimedOutcome(db: Db, token: string, set: Record<string, unknown>, a: AttemptRow): Promise<boolean> {
  const r = await db
    .with('written', (w) =>
      w
        .updateTable('deliveries')
        .set({ ...set, claimed_by: null, claimed_until: null, updated_at: sql`now()` })
        .where('id', '=', a.deliveryId)
        .where('claimed_by', '=', token)
        .where('status', '=', 'pending')
        .returning('id'),
    )
    .insertInto('delivery_attempts')
    .columns([
      'workspace_id',
      'delivery_id',
      'attempt',
      'started_at',
      'finished_at',
      'outcome',
      'http_status',
      'error_kind',
      'reason',
      'message',
      'response_body',
    ])
    .expression(
      sql`select ${a.workspaceId}::uuid, written.id, ${a.attempt}::int, ${a.startedAt}::timestamptz, ${new Date()}::timestamptz, ${a.outcome}::text,
        ${a.httpStatus ?? null}::int, ${a.errorKind ?? null}::text, ${a.reason ?? null}::text, ${a.message ?? null}::text, ${a.responseBody ?? null}::text
      from written`,
    )
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}
