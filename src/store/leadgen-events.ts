// Repositories of leadgen events: recorded from webhooks and reconciliation, read for the fetch, re-opened, swept.
import { sql } from 'kysely';
import type { Db } from './db.js';
import { lockConfigVersion, sharedConfigVersion } from './config-version.js';
import type { EventStatus, LeadgenEvent } from './schema.js';
import { json, statusOfKeyedRow } from './values.js';

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
export async function recordLeadgenEvents(db: Db, rows: NewLeadgenEvent[]): Promise<EventForFetch[]> {
  if (rows.length === 0) return [];
  const col = <T>(f: (r: NewLeadgenEvent) => T) => rows.map(f);
  const result = await sql<LeadgenEvent & { config_version: string }>`
    insert into leadgen_events (page_id, leadgen_id, form_id, ad_id, adgroup_id, created_time, is_test, status, status_reason)
    select * from unnest(
      ${col((r) => r.pageId)}::text[], ${col((r) => r.leadgenId)}::text[], ${col((r) => r.formId)}::text[],
      ${col((r) => r.adId)}::text[], ${col((r) => r.adgroupId)}::text[],
      ${col((r) => (r.createdTime ? r.createdTime.toISOString() : null))}::timestamptz[], ${col((r) => r.isTest)}::boolean[],
      ${col((r) => (r.isTest ? 'test' : 'received'))}::text[], ${col((r) => (r.isTest ? 'dashboard_test_id' : null))}::text[]
    )
    on conflict (page_id, leadgen_id) do nothing
    returning *, (select version from config_version) as config_version
  `.execute(db);
  return result.rows.map(({ config_version, ...r }) => ({ ...r, id: Number(r.id), configVersion: Number(config_version) }));
}

/** An event as the fetch step reads it: the row, with the configuration counter read in the same statement. */
export type EventForFetch = LeadgenEvent & { configVersion: number };

/** What of an EventForFetch survives JSON (an IPC message): its timestamps as strings. */
export type EventForFetchJson = Omit<EventForFetch, 'created_time' | 'received_at' | 'updated_at' | 'listed_at' | 'next_attempt_at'> & {
  created_time: string | null;
  received_at: string;
  updated_at: string;
  listed_at: string | null;
  next_attempt_at: string | null;
};

/** An EventForFetch again from its JSON form. */
export function eventForFetchFromJson(e: EventForFetchJson): EventForFetch {
  const at = (v: string | null) => (v === null ? null : new Date(v));
  return {
    ...e,
    created_time: at(e.created_time),
    received_at: new Date(e.received_at),
    updated_at: new Date(e.updated_at),
    listed_at: at(e.listed_at),
    next_attempt_at: at(e.next_attempt_at),
  };
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
export async function findEventsForFetch(db: Db, ids: readonly number[]): Promise<Map<number, EventForFetch>> {
  const found = new Map<number, EventForFetch>();
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
export async function findEventForFetch(db: Db, id: number): Promise<EventForFetch | undefined> {
  return (await findEventsForFetch(db, [id])).get(id);
}

/** The event's status, its row locked until the caller's transaction ends; undefined when there is no such event. */
export async function lockEventStatus(db: Db, id: number): Promise<EventStatus | undefined> {
  return (await db.selectFrom('leadgen_events').select('status').where('id', '=', id).forUpdate().executeTakeFirst())?.status;
}

export interface EventStatusExtra {
  reason?: string | null;
  workspaceId?: string | null;
  lastError?: Record<string, unknown> | null;
  incrementAttempts?: boolean;
  /** A `received` event whose fetch waits this long (its delayed job): the outbox sweep leaves it alone until then. */
  retryInMs?: number;
  /** Written only while the event is still `received`: another run that fetched it meanwhile keeps its outcome. */
  whileReceived?: boolean;
}

export async function setEventStatus(db: Db, id: number, status: EventStatus, extra: EventStatusExtra = {}): Promise<void> {
  const values: Record<string, unknown> = { status, updated_at: sql`now()` };
  if (extra.reason !== undefined) values.status_reason = extra.reason;
  if (extra.workspaceId !== undefined) values.workspace_id = extra.workspaceId;
  if (extra.lastError !== undefined) values.last_error = extra.lastError === null ? null : json(extra.lastError);
  if (extra.incrementAttempts) values.attempts = sql`attempts + 1`;
  values.next_attempt_at = extra.retryInMs === undefined ? null : sql`now() + ${extra.retryInMs} * interval '1 millisecond'`;
  let q = db.updateTable('leadgen_events').set(values).where('id', '=', id);
  if (extra.whileReceived) q = q.where(statusOfKeyedRow('received'));
  await q.execute();
}

/**
 * Sets the status of an event still `received`, only while the configuration is still at the
 * counter the decision was made under: false when the event moved on or the configuration changed
 * (a page added or resumed, a workspace restored, …), and the caller decides again. The event's
 * row is locked first and the counter's row shared, and a writer resuming waiting events locks the
 * counter before it reopens them (see config-version.ts), so such a writer either waits for this
 * (and reopens the event) or is seen by it: its resume cannot miss this one.
 */
export async function setEventStatusWhileConfigIs(
  db: Db,
  configVersion: number,
  id: number,
  status: EventStatus,
  extra: EventStatusExtra = {},
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const waiting = await trx.selectFrom('leadgen_events').select('id').where('id', '=', id).where(statusOfKeyedRow('received')).forUpdate().executeTakeFirst();
    if (!waiting) return false;
    if ((await sharedConfigVersion(trx)) !== configVersion) return false;
    await setEventStatus(trx, id, status, extra);
    return true;
  });
}

/**
 * A page token Meta refused: the page needs re-authorisation and the event waits for it, in one
 * transaction, only while the page still holds the token that was refused. False when the token
 * was replaced (or the page removed) since it was read: the event is to be fetched again.
 */
export async function parkEventForRefusedToken(
  db: Db,
  input: { eventId: number; pageId: string; tokenEnvelope: string | null; reason: string; extra: EventStatusExtra },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    if (!(await setPageNeedsReauthForToken(trx, input.pageId, input.tokenEnvelope, input.reason))) return false;
    await setEventStatus(trx, input.eventId, 'parked', input.extra);
    return true;
  });
}

/**
 * The page needs re-authorisation because Meta refused this token: written only while the page
 * still holds it (a token stored meanwhile is not judged by the old one's refusal). False otherwise.
 * A page marked so already for this reason is not written again: every write of a page moves the
 * configuration counter, and the leads of a dead token, refused together, would each move it and
 * make one another's decisions start over.
 */
export async function setPageNeedsReauthForToken(db: Db, pageId: string, tokenEnvelope: string | null, reason: string): Promise<boolean> {
  if (tokenEnvelope === null) return false;
  const page = await db
    .updateTable('pages')
    .set({ status: 'needs_reauth', status_reason: reason, updated_at: sql`now()` })
    .where('page_id', '=', pageId)
    .where('token_envelope', '=', tokenEnvelope)
    .where((eb) => eb.or([eb('status', '<>', 'needs_reauth'), eb('status_reason', 'is distinct from', reason)]))
    .executeTakeFirst();
  if (Number(page.numUpdatedRows) > 0) return true;
  const holds = await db.selectFrom('pages').select('page_id').where('page_id', '=', pageId).where('token_envelope', '=', tokenEnvelope).executeTakeFirst();
  return holds !== undefined;
}

/** Events still waiting to be fetched and unchanged since the cutoff: the outbox the sweep re-queues. */
export async function listOpenEvents(db: Db, unchangedSince: Date, now: Date, limit: number): Promise<{ id: number; writtenAtUs: string }[]> {
  // The write instant to the microsecond, as PostgreSQL keeps it: a Date keeps milliseconds,
  // and two inserts within one millisecond would look like one.
  const rows = await db
    .selectFrom('leadgen_events')
    .select(['id', sql<string>`(extract(epoch from updated_at) * 1000000)::bigint::text`.as('written_at_us')])
    .where('status', '=', 'received')
    .where('updated_at', '<', unchangedSince)
    // Not one waiting out a fetch's delay, nor one a recent sweep queued: the window moves on.
    .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: Number(r.id), writtenAtUs: r.written_at_us }));
}

/** The sweep queued these events again: it looks at them next after `until` (if they still wait). */
export async function noteEventsSwept(db: Db, ids: number[], until: Date): Promise<void> {
  if (ids.length === 0) return;
  // updated_at stays: the sweep finds an intake batch's events by their shared write instant.
  await db
    .updateTable('leadgen_events')
    .set({ next_attempt_at: until })
    .where('id', '=', sql<number>`any(${ids}::bigint[])`)
    .where(statusOfKeyedRow('received'))
    .execute();
}

/**
 * Re-opens a page's parked or unrouted events (after its token is replaced or it is registered),
 * the configuration counter locked before they are updated (see config-version.ts).
 */
export async function reopenEventsForPage(db: Db, pageId: string, statuses: EventStatus[]): Promise<{ id: number }[]> {
  if (statuses.length === 0) return [];
  const run = async (trx: Db) => {
    // Rows, then the counter (see unparkDeliveries).
    await trx.selectFrom('leadgen_events').select('id').where('page_id', '=', pageId).where('status', 'in', statuses).forUpdate().execute();
    await lockConfigVersion(trx);
    return trx
      .updateTable('leadgen_events')
      .set({ status: 'received', status_reason: null, updated_at: sql`now()`, next_attempt_at: null })
      .where('page_id', '=', pageId)
      .where('status', 'in', statuses)
      .returning('id')
      .execute();
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** Puts the events whose fetch gave up (of one page, or all) back to `received` with no attempts. */
export async function reopenFailedEvents(db: Db, pageId: string | null): Promise<{ id: number }[]> {
  // One write time for them all (the statement's now()): the outbox sweep finds their batch jobs by it, as for an intake batch.
  let q = db
    .updateTable('leadgen_events')
    .set({ status: 'received', status_reason: null, attempts: 0, next_attempt_at: null, updated_at: sql`now()` })
    .where('status', '=', 'failed');
  if (pageId) q = q.where('page_id', '=', pageId);
  return q.returning('id').execute();
}
