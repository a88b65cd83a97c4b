import { sql, type Kysely } from 'kysely';

// leadgen_events.status `erased`: the lead of a Facebook user who asked Meta to have their data
// deleted before LeadRelay had fetched it (src/store/facebook-user-data.ts). It is never fetched:
// the data-deletion callback writes the event so (a row of its own when the webhook has not come
// yet), intake and reconciliation insert only events that do not exist, and nothing reopens it.
const STATUSES = ['received', 'fetched', 'unrouted', 'test', 'parked', 'failed'];

async function allowStatuses(db: Kysely<unknown>, statuses: string[]): Promise<void> {
  await sql`alter table leadgen_events drop constraint if exists leadgen_events_status_check`.execute(db);
  await sql`alter table leadgen_events add constraint leadgen_events_status_check check (status in (${sql.join(statuses.map((s) => sql.lit(s)))}))`.execute(db);
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await allowStatuses(db, [...STATUSES, 'erased']);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Such an event must stay one that is never fetched: `fetched` is the older status nothing
  // reopens (its status_reason still says why).
  await sql`update leadgen_events set status = 'fetched' where status = 'erased'`.execute(db);
  await allowStatuses(db, STATUSES);
}
