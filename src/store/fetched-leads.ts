// Storing what the fetch step has read: a new lead, its blind-index rows, its deliveries and its
// event's status, for one lead or many, in ONE statement (so one implicit transaction). Many: the
// leads of concurrent fetches, gathered by a group commit (src/store/group-commit.ts), so under
// load one round trip and one commit serve several leads.
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { Delivery, Lead, NewLead, SearchKind } from './schema.js';

/** What the fetch step stores of a new lead: the row (its id, status and search key id decided by the caller) and what hangs off it. */
export interface FetchedLeadRows {
  lead: NewLead & { id: string; status: Lead['status']; search_kid: string | null; event_id: number };
  /** The blind index's rows of its answers. */
  search: { kind: SearchKind; hash: string }[];
  /** One per destination; `claimedBy`: stored claimed (until `claimedUntil`) by the process that sends it at once. */
  deliveries: { destinationId: string; routeId: string; claimedBy: string | null }[];
  claimedUntil: Date | null;
}

/** A stored lead's new deliveries (all pending), and the configuration counter as of the statement. */
export type StoredLead = { deliveries: Delivery[]; configVersion: number } | null;

/**
 * Stores new leads with their blind-index rows and deliveries, and marks their events fetched, in
 * one statement. A lead stored already (same workspace and leadgen id, by an earlier statement or
 * earlier in this one) is not written and gets null: its caller takes the slower path that
 * reconciles with the stored lead. So does a lead whose event is `erased` (its Facebook user asked
 * Meta to delete their data while it was being fetched: src/store/facebook-user-data.ts), which
 * that path then leaves unstored. Every lead must carry the same columns.
 */
export async function storeFetchedLeads(db: Db, items: FetchedLeadRows[]): Promise<StoredLead[]> {
  if (items.length === 0) return [];
  const columns = Object.keys(items[0].lead).sort() as (keyof FetchedLeadRows['lead'])[];
  for (const item of items) {
    if (Object.keys(item.lead).length !== columns.length || columns.some((c) => !(c in item.lead))) {
      throw new Error('storeFetchedLeads: every lead must carry the same columns');
    }
  }
  const search = items.flatMap((item) => item.search.map((r) => ({ leadId: item.lead.id, ...r })));
  const deliveries = items.flatMap((item) =>
    item.deliveries.map((d) => ({ leadId: item.lead.id, ...d, claimedUntil: d.claimedBy ? item.claimedUntil : null })),
  );
  // The leads as one JSON document: the statement's text (and so its prepared plan) is the same
  // for one lead or fifty.
  const leads = JSON.stringify(items.map((item) => item.lead));
  const cols = sql.join(columns.map((c) => sql.ref(c)));
  // A lead whose event Meta's data-deletion callback made `erased` while the lead was being read
  // from Graph: the event is not updated (an update that waited for the callback's lock reads the
  // row again and skips it too), and the lead's index rows and deliveries hang on that update, so
  // it gets none; the lead itself is inserted (checking the event first would cost every lead a
  // read) and deleted again below. Its encrypted answers are in the table for that moment only;
  // it is never sent.
  const eventIds = items.map((item) => item.lead.event_id);
  const { rows: result } = await sql<{
    lead_ids: string[] | null;
    deliveries: { id: string; lead_id: string; destination_id: string; route_id: string; claimed_by: string | null }[] | null;
    config_version: string;
    fetched_event_ids: string[] | null;
  }>`
    with new_lead as (
      insert into leads (${cols})
      select ${cols} from json_populate_recordset(null::leads, ${leads}::json)
      on conflict (workspace_id, leadgen_id) do nothing
      returning id, workspace_id, event_id
    ), event as (
      -- The ids as an array too: joined only with new_lead (estimated at 100 rows whatever it
      -- holds), a table whose statistics lag behind its growth was read whole (hash join).
      update leadgen_events e
      set status = 'fetched', workspace_id = l.workspace_id, status_reason = null, last_error = null, updated_at = now()
      from new_lead l
      where e.id = any(${eventIds}::bigint[]) and e.id = l.event_id and e.status <> 'erased'
      returning e.id
    ), search as (
      insert into lead_search (lead_id, workspace_id, kind, hash)
      select l.id, l.workspace_id, s.kind, s.hash
      from new_lead l
      join event ev on ev.id = l.event_id
      join unnest(${search.map((r) => r.leadId)}::uuid[], ${search.map((r) => r.kind)}::text[], ${search.map((r) => r.hash)}::text[])
        as s(lead_id, kind, hash) on s.lead_id = l.id
      on conflict do nothing
    ), new_deliveries as (
      insert into deliveries (workspace_id, lead_id, destination_id, route_id, claimed_by, claimed_until)
      select l.workspace_id, l.id, d.destination_id, d.route_id, d.claimed_by, d.claimed_until
      from new_lead l
      join event ev on ev.id = l.event_id
      join unnest(
        ${deliveries.map((d) => d.leadId)}::uuid[],
        ${deliveries.map((d) => d.destinationId)}::uuid[],
        ${deliveries.map((d) => d.routeId)}::uuid[],
        ${deliveries.map((d) => d.claimedBy)}::uuid[],
        ${deliveries.map((d) => d.claimedUntil)}::timestamptz[]
      ) as d(lead_id, destination_id, route_id, claimed_by, claimed_until) on d.lead_id = l.id
      returning id, lead_id, destination_id, route_id, claimed_by
    )
    select (select json_agg(id) from new_lead) as lead_ids,
      (select json_agg(json_build_object('id', id, 'lead_id', lead_id, 'destination_id', destination_id, 'route_id', route_id, 'claimed_by', claimed_by))
        from new_deliveries) as deliveries,
      (select version from config_version) as config_version,
      (select json_agg(id) from event) as fetched_event_ids
  `.execute(db);
  const row = result[0];
  const stored = new Set(row?.lead_ids ?? []);
  const fetchedEvents = new Set((row?.fetched_event_ids ?? []).map(Number));
  const erasedMeanwhile = items.filter((item) => stored.has(item.lead.id) && !fetchedEvents.has(item.lead.event_id)).map((item) => item.lead.id);
  if (erasedMeanwhile.length > 0) {
    await sql`delete from leads where id = any(${erasedMeanwhile}::uuid[])`.execute(db);
    for (const id of erasedMeanwhile) stored.delete(id);
  }
  const configVersion = Number(row?.config_version);
  const byLead = new Map<string, NonNullable<typeof row.deliveries>>();
  for (const d of row?.deliveries ?? []) {
    const list = byLead.get(d.lead_id);
    if (list) list.push(d);
    else byLead.set(d.lead_id, [d]);
  }
  const now = new Date();
  return items.map((item) => {
    if (!stored.has(item.lead.id)) return null;
    // The rows as stored: everything else about a new delivery is its column defaults.
    const created: Delivery[] = (byLead.get(item.lead.id) ?? []).map((d) => ({
      id: d.id,
      workspace_id: item.lead.workspace_id,
      lead_id: item.lead.id,
      destination_id: d.destination_id,
      route_id: d.route_id,
      status: 'pending',
      attempts: 0,
      external_id: null,
      external_url: null,
      action: null,
      last_error_kind: null,
      last_error_reason: null,
      last_error_message: null,
      connector_state: null,
      next_attempt_at: null,
      created_at: now,
      updated_at: now,
      delivered_at: null,
      claimed_by: d.claimed_by,
      claimed_until: d.claimed_by ? item.claimedUntil : null,
    }));
    // As of this statement: a form written by the fetch a moment ago counts (its send reads the questions).
    return { deliveries: created, configVersion };
  });
}
