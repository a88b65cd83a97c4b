// A delivered lead's bookkeeping: the delivery marked delivered (its claim let go) and its attempt
// recorded, for one delivery or many in ONE statement, so whoever sees a delivery as delivered
// also sees its attempt. Many: a batch call's leads, or the single sends of concurrent deliveries
// gathered by a group commit (src/store/group-commit.ts).
import { sql } from 'kysely';
import type { Db } from './db.js';
import { storableText } from './values.js';

export interface DeliveredOutcome {
  deliveryId: string;
  /** The claim the send ran under: only a delivery still held by it (and still pending) is written. */
  token: string;
  workspaceId: string;
  attempt: number;
  startedAt: Date;
  /** When the CRM's answer came: the attempt's end and the delivery's delivered_at. */
  finishedAt: Date;
  externalId: string;
  externalUrl: string | null;
  action: string;
  httpStatus: number | null;
  responseBody: string | null;
}

/**
 * Marks the deliveries delivered and records their attempts in one statement. Only deliveries
 * their claim still holds are written, and only those get an attempt row, so a delivery is never
 * counted twice: one taken over by another claimer after its claim lapsed keeps its state, as does
 * one whose lead was erased meanwhile (the erasure stands, whatever the row's status). One parked or
 * dead-lettered under the claim while the CRM had it (its destination disconnected, its route
 * deleted, its workspace deleted: those writers leave the claim in place) is recorded as
 * delivered, since the CRM has the lead: left parked, connecting the destination again or
 * restoring the workspace would send it a second time. Returns the ids written.
 */
export async function writeDeliveredOutcomes(db: Db, rows: DeliveredOutcome[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const col = <T>(f: (r: DeliveredOutcome) => T) => rows.map(f);
  const { rows: written } = await sql<{ id: string }>`
    with v as (
      select * from unnest(
        ${col((r) => r.deliveryId)}::uuid[], ${col((r) => r.token)}::uuid[], ${col((r) => r.workspaceId)}::uuid[], ${col((r) => r.attempt)}::int[],
        ${col((r) => r.startedAt.toISOString())}::timestamptz[], ${col((r) => r.finishedAt.toISOString())}::timestamptz[],
        ${col((r) => storableText(r.externalId))}::text[], ${col((r) => storableText(r.externalUrl))}::text[], ${col((r) => storableText(r.action))}::text[],
        ${col((r) => r.httpStatus)}::int[], ${col((r) => storableText(r.responseBody))}::text[]
      ) as v(id, token, workspace_id, attempt, started_at, finished_at, external_id, external_url, action, http_status, response_body)
    ), written as (
      update deliveries d set
        status = 'delivered', attempts = v.attempt, external_id = v.external_id, external_url = v.external_url,
        action = v.action, delivered_at = v.finished_at, last_error_kind = null, last_error_reason = null,
        last_error_message = null, next_attempt_at = null, claimed_by = null, claimed_until = null, updated_at = now()
      from v
      -- The ids as an array too, so the rows are found by index whatever the table's statistics say.
      where d.id = any(${col((r) => r.deliveryId)}::uuid[]) and d.id = v.id and d.claimed_by = v.token
        and (d.status = 'pending' or (d.status in ('parked', 'dead') and not exists (select 1 from leads l where l.id = d.lead_id and l.erased_at is not null)))
      returning d.id
    ), attempts as (
      insert into delivery_attempts (workspace_id, delivery_id, attempt, started_at, finished_at, outcome, http_status, response_body)
      select v.workspace_id, v.id, v.attempt, v.started_at, v.finished_at, 'delivered', v.http_status, v.response_body
      from v join written w on w.id = v.id
    )
    select id from written
  `.execute(db);
  return written.map((r) => r.id);
}
