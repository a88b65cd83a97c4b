// The queries of disconnecting a page or a destination and deleting a route (src/services/disconnect.ts).
import { sql } from 'kysely';
import type { Db } from './db.js';
import type { Destination, Page, Route } from './schema.js';

/** The status_reason of a destination disconnected on purpose (status `disabled`, no credentials). */
export const DESTINATION_DISCONNECTED = 'disconnected';
/** The status_reason of a page disconnected by a person (Meta's callbacks say why in their own words). */
export const PAGE_DISCONNECTED = 'disconnected';

/**
 * The page loses its token and is marked disconnected; its row, routes, forms and lead history
 * stay, and its later webhooks are kept, parked, until it is connected again. What Meta last
 * said about it (page_checks) goes: it was about a token that no longer exists.
 */
export async function markPageDisconnected(db: Db, pageRowId: string, reason: string): Promise<Page> {
  const page = await db
    .updateTable('pages')
    .set({ token_envelope: null, status: 'disconnected', status_reason: reason, connected_fb_user_id: null, updated_at: sql`now()` })
    .where('id', '=', pageRowId)
    .returningAll()
    .executeTakeFirstOrThrow();
  await db.deleteFrom('page_checks').where('page_id', '=', page.page_id).execute();
  return page;
}

/**
 * The destination's credentials are deleted and it is disabled as disconnected; its deliveries
 * waiting to be sent are parked with reason `destination_disconnected` (connecting it again with
 * new credentials resumes them), and the CRM ids it remembered go. Returns it and how many
 * deliveries were parked.
 */
export async function markDestinationDisconnected(db: Db, destinationId: string): Promise<{ destination: Destination; parked: number }> {
  const destination = await db
    .updateTable('destinations')
    .set({ credentials_envelope: null, status: 'disabled', status_reason: DESTINATION_DISCONNECTED, rate_limited_until: null, updated_at: sql`now()` })
    .where('id', '=', destinationId)
    .returningAll()
    .executeTakeFirstOrThrow();
  const parked = await db
    .updateTable('deliveries')
    .set({
      status: 'parked',
      last_error_kind: 'auth',
      last_error_reason: 'destination_disconnected',
      last_error_message: null,
      next_attempt_at: null,
    })
    .where('destination_id', '=', destinationId)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  await db.deleteFrom('connector_recent_records').where('destination_id', '=', destinationId).execute();
  return { destination, parked: Number(parked.numUpdatedRows) };
}

/**
 * Deletes a route. Its deliveries not yet sent (pending or parked) end as dead with reason
 * `route_deleted` first, so a lead the route should not have taken is not sent after all; a
 * replay routes such a lead again by the routes that remain. Sent deliveries keep their history
 * (their route_id becomes null). Returns how many deliveries were stopped.
 */
export async function deleteRouteAndStopItsDeliveries(db: Db, route: Pick<Route, 'id'>): Promise<number> {
  const stopped = await db
    .updateTable('deliveries')
    .set({ status: 'dead', last_error_kind: 'invalid', last_error_reason: 'route_deleted', last_error_message: null, next_attempt_at: null })
    .where('route_id', '=', route.id)
    .where('status', 'in', ['pending', 'parked'])
    .executeTakeFirst();
  await db.deleteFrom('routes').where('id', '=', route.id).execute();
  return Number(stopped.numUpdatedRows);
}
