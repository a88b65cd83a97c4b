// Repositories of deliveries (lead × destination), their attempts and their claims.
// What a CRM said (errors, response bodies) is written through storableText/storableValues: a NUL
// byte in it would make PostgreSQL refuse the write.
import { sql } from 'kysely';
import type { Db } from './db.js';
import { lockConfigVersion, sharedConfigVersion } from './config-version.js';
import type { Delivery, DeliveryAttempt, DeliveryStatus, Lead } from './schema.js';
import { isUuid, statusOfKeyedRow, storableText, storableValues } from './values.js';

/** `status = 'pending'` for a statement that finds its delivery by id (see statusOfKeyedRow). */
const stillPending = statusOfKeyedRow('pending');

/**
 * One delivery per lead and destination: the routes' rows are added where missing. A row the lead
 * already has for the destination whose route was deleted (route_id null) is taken over by the
 * route that matches now, so it is sent again (a replay) by that route's mapping.
 */
export async function ensureDeliveries(db: Db, rows: { workspaceId: string; leadId: string; destinationId: string; routeId: string }[]): Promise<Delivery[]> {
  if (rows.length > 0) {
    await db
      .insertInto('deliveries')
      .values(rows.map((r) => ({ workspace_id: r.workspaceId, lead_id: r.leadId, destination_id: r.destinationId, route_id: r.routeId })))
      .onConflict((oc) =>
        oc
          .columns(['lead_id', 'destination_id'])
          .doUpdateSet((eb) => ({ route_id: eb.ref('excluded.route_id') }))
          .where('deliveries.route_id', 'is', null),
      )
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
    .set({ ...storableValues(set), updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

/** Parks a delivery with its last error, only while it is still pending (a re-authorisation may have just resumed it). */
export async function parkDeliveryIfPending(
  db: Db,
  id: string,
  lastError: { last_error_kind: string | null; last_error_reason: string | null; last_error_message: string | null },
): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ ...storableValues(lastError), status: 'parked', updated_at: new Date() })
    .where('id', '=', id)
    .where(stillPending)
    .execute();
}

/**
 * Pending deliveries unchanged since the cutoff and due by `now`: the outbox the sweep re-queues.
 * A delivery waiting for its backoff or a rate limit is not lost (it is re-queued when due), so a
 * long queue of waiting deliveries never crowds out a lost one.
 */
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

/**
 * Moves a destination's parked deliveries back to pending, oldest first (they resume in order).
 * The configuration counter is locked before they are updated (see config-version.ts): a run
 * parking one of them under the configuration before this resume either finished first or
 * decides again after it.
 */
export async function unparkDeliveries(db: Db, destinationId: string): Promise<{ id: string }[]> {
  const run = async (trx: Db) => {
    // Rows, then the counter, as every other writer takes them (a route's deletion locks its
    // deliveries, then the counter as it commits): taking the counter first could deadlock.
    await trx.selectFrom('deliveries').select('id').where('destination_id', '=', destinationId).where('status', '=', 'parked').forUpdate().execute();
    await lockConfigVersion(trx);
    return trx
      .updateTable('deliveries')
      .set({ status: 'pending', updated_at: sql`now()` })
      .where('destination_id', '=', destinationId)
      .where('status', '=', 'parked')
      .returning(['id', 'created_at'])
      .execute();
  };
  const rows = db.isTransaction ? await run(db) : await db.transaction().execute(run);
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
    // Their route was deleted (whatever they died of): no route takes them (a lead replay routes them again).
    .where('route_id', 'is not', null)
    .returning(['id', 'created_at'])
    .execute();
  return rows.sort((a, b) => +new Date(a.created_at) - +new Date(b.created_at)).map((r) => ({ id: r.id }));
}

/** Puts the lead's deliveries in these states back to pending with no attempts. */
export async function resetDeliveriesOfLead(db: Db, leadId: string, statuses: DeliveryStatus[]): Promise<{ id: string }[]> {
  if (statuses.length === 0) return [];
  return (
    db
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
      // Their route was deleted and no route matching now took them over (ensureDeliveries): not
      // sent again with no route.
      .where('route_id', 'is not', null)
      .returning('id')
      .execute()
  );
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
      reason: storableText(a.reason ?? null),
      message: storableText(a.message ?? null),
      response_body: storableText(a.responseBody ?? null),
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
 * Claims one pending delivery for a single-lead send, unless a live claim holds it or its retry is
 * not yet due: the run that sends a lead is the only one that may, even when its job was lost
 * (Redis flushed) and queued again while it was still talking to the CRM, and a second job of a
 * delivery waiting for its retry does not send it before its backoff has passed. Returns the row
 * as claimed with the configuration counter as of the claim (the send goes by it), or `heldUntil`
 * with the time the other claim lapses, or `dueAt` with the time its retry is due, or undefined
 * when the delivery is no longer pending.
 */
export async function claimDelivery(
  db: Db,
  id: string,
  claim: { token: string; until: Date; now: Date },
): Promise<{ claimed: Delivery; configVersion: number } | { heldUntil: Date } | { dueAt: Date } | undefined> {
  const claimed = await db
    .updateTable('deliveries')
    .set({ claimed_by: claim.token, claimed_until: claim.until })
    .where('id', '=', id)
    .where(stillPending)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', claim.now)]))
    .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', claim.now)]))
    .returningAll()
    .returning(sql<string>`(select version from config_version)`.as('claim_config_version'))
    .executeTakeFirst();
  if (claimed) {
    const { claim_config_version, ...row } = claimed;
    return { claimed: row as Delivery, configVersion: Number(claim_config_version) };
  }
  const row = await db.selectFrom('deliveries').select(['status', 'claimed_until', 'next_attempt_at']).where('id', '=', id).executeTakeFirst();
  if (row?.status !== 'pending') return undefined;
  if (row.claimed_until && new Date(row.claimed_until) > claim.now) return { heldUntil: new Date(row.claimed_until) };
  if (row.next_attempt_at && new Date(row.next_attempt_at) > claim.now) return { dueAt: new Date(row.next_attempt_at) };
  return undefined;
}

/**
 * Sets a pending delivery's new state (parked or dead: a run that found it should not be sent
 * under configuration counter `configVersion`), unless another run holds it under a live claim
 * (that run is sending it, and what it writes stands: a lead it delivered parked here would be
 * sent again once resumed) or the configuration changed since (a destination re-authorised or a
 * workspace restored: its resume may not have seen this row still pending, so the caller decides
 * again). Its row is locked first, then the counter's shared (see config-version.ts). `token`:
 * the claim the caller itself holds, if any, which is let go with the write. Another run's live
 * claim gives its lapse time (`heldUntil`), for the caller to look again then.
 */
export async function settleDeliveryUnlessHeld(
  db: Db,
  id: string,
  set: Record<string, unknown>,
  holder: { token?: string; now: Date; configVersion: number },
): Promise<'written' | 'not_pending' | { heldUntil: Date } | 'configuration_changed'> {
  const run = async (trx: Db) => {
    const row = await trx.selectFrom('deliveries').select(['status', 'claimed_by', 'claimed_until']).where('id', '=', id).forUpdate().executeTakeFirst();
    if (row?.status !== 'pending') return 'not_pending' as const;
    const claimedUntil = row.claimed_until ? new Date(row.claimed_until) : null;
    const isOwnClaim = holder.token !== undefined && row.claimed_by === holder.token;
    // Another run's live claim: that run records what the CRM said; should it die, its claim lapses then.
    if (claimedUntil && claimedUntil > holder.now && !isOwnClaim) return { heldUntil: claimedUntil };
    if ((await sharedConfigVersion(trx)) !== holder.configVersion) return 'configuration_changed' as const;
    await trx
      .updateTable('deliveries')
      .set({ ...storableValues(set), claimed_by: null, claimed_until: null, updated_at: sql`now()` })
      .where('id', '=', id)
      .execute();
    return 'written' as const;
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** Puts a pending delivery's due time (next_attempt_at) back to `at`, unless it is due later already. */
export async function setDeliveryDueNoEarlier(db: Db, id: string, at: Date): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ next_attempt_at: at })
    .where('id', '=', id)
    .where(stillPending)
    .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<', at)]))
    .execute();
}

/** Moves a live claim's lapse time on, while the run that holds it is still at work. Returns whether it still held. */
export async function renewClaim(db: Db, id: string, token: string, until: Date): Promise<boolean> {
  const r = await db.updateTable('deliveries').set({ claimed_until: until }).where('id', '=', id).where('claimed_by', '=', token).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * Of these claimed deliveries about to be sent after a wait, those still pending under their
 * claim with their lead not erased (an erasure, a deleted route or a disconnected destination
 * changes the row; another run may have taken over a lapsed claim), each with the configuration
 * counter as of then, which its send goes by. A delivery left out is not to be sent. A read, one
 * statement for many (the line's sends come in bursts): a write here would add a row version per
 * lead; a claim near its lapse is moved on separately (renewClaim).
 */
export async function findClaimsToSend(db: Db, claims: { id: string; token: string }[]): Promise<Map<string, number>> {
  if (claims.length === 0) return new Map();
  const ids = claims.map((c) => c.id);
  // The rows are looked up by id alone first (MATERIALIZED keeps the planner from merging the
  // status test in): with `status = 'pending'` beside the join, statistics taken while few
  // deliveries were pending made PostgreSQL read every pending delivery through the partial
  // index instead, 20,000 rows for a batch of 17 in a backlog (80 ms instead of 1 ms).
  const r = await sql<{ id: string; config_version: string }>`
    with d as materialized (select id, claimed_by, status, lead_id from deliveries where id = any(${ids}::uuid[]))
    select d.id, (select version from config_version) as config_version
    from d
    join unnest(${ids}::uuid[], ${claims.map((c) => c.token)}::uuid[]) as c(id, token) on d.id = c.id and d.claimed_by = c.token
    where d.status = 'pending'
      and not exists (select 1 from leads l where l.id = d.lead_id and l.erased_at is not null)`.execute(db);
  return new Map(r.rows.map((row) => [row.id, Number(row.config_version)]));
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
    .set({ ...storableValues(set), claimed_by: null, claimed_until: null, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('claimed_by', '=', token)
    .where(stillPending)
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
        .set({ ...storableValues(set), claimed_by: null, claimed_until: null, updated_at: sql`now()` })
        .where('id', '=', a.deliveryId)
        .where('claimed_by', '=', token)
        .where(stillPending)
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
        ${a.httpStatus ?? null}::int, ${storableText(a.errorKind ?? null)}::text, ${storableText(a.reason ?? null)}::text,
        ${storableText(a.message ?? null)}::text, ${storableText(a.responseBody ?? null)}::text
      from written`,
    )
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}
