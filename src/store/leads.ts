// Repositories of leads: stored, read, erased when their retention ends, pruned with their events.
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { Lead, NewLead } from './schema.js';
import { isUuid } from './values.js';

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
    // Nothing is left to send: deliveries not sent yet are dead-lettered with the erasure, so a
    // send that read the lead before it (and waited for a place since) finds it no longer pending.
    await sql`
      update deliveries set status = 'dead', last_error_kind = 'invalid', last_error_reason = 'lead_erased', next_attempt_at = null, updated_at = now()
      from leads
      where leads.id = deliveries.lead_id and leads.erased_at is not null and deliveries.status in ('pending', 'parked')
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
 * row (event_id becomes null), which also keeps a repeated webhook from storing it again. A
 * `parked` event (a lead still to fetch once its page or workspace is back) and an `erased` one
 * (its lead never stored, so no lead row stops a repeat: src/store/facebook-user-data.ts) go
 * only once received before `leadAtMetaBefore` as well, when Meta no longer keeps the lead.
 */
export async function pruneLeadgenEvents(db: Db, opts: { before: Date; erasedBefore: Date; leadAtMetaBefore: Date }): Promise<number> {
  return deleteInBatches(async () => {
    const r = await sql`
      delete from leadgen_events where id in (
        select e.id from leadgen_events e
        where e.status <> 'received'
          and (e.received_at < ${opts.before}
            or (e.received_at < ${opts.erasedBefore} and exists (select 1 from leads l where l.event_id = e.id and l.erased_at is not null)))
          and (e.status not in ('parked', 'erased') or e.received_at < ${opts.leadAtMetaBefore})
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
