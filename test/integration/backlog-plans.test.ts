// Statements that look a delivery or an event up by id keep doing so in a backlog, when the
// table's statistics were taken while none was pending (or received): counted as rows PostgreSQL
// read in the statement's transaction (pg_stat_xact_user_tables), not as time.
import { expect } from 'chai';
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import * as repo from '../../src/store/repos.js';
import {
  claimDelivery,
  findClaimsToSend,
  parkDeliveryIfPending,
  setDeliveryDueNoEarlier,
  updateClaimedDelivery,
  writeClaimedOutcome,
} from '../../src/store/deliveries.js';
import type { Db } from '../../src/store/db.js';
import { noteEventsSwept, setEventStatus } from '../../src/store/leadgen-events.js';
import { openTestDb } from '../helpers/test-db.js';

describe('look-ups by key in a backlog', function () {
  this.timeout(60_000);
  let h: Awaited<ReturnType<typeof openTestDb>>;

  let token: string;
  let workspaceId: string;
  /** Pending deliveries claimed by `token`, in id order. */
  let backlog: string[];

  before(async () => {
    h = await openTestDb();
    const ws = await repo.createWorkspace(h.db, 'Backlog');
    workspaceId = ws.id;
    const dest = await repo.createDestination(h.db, { workspaceId: ws.id, type: 'webhook', name: 'hook', config: {}, credentialsEnvelope: null });
    await sql`alter table deliveries set (autovacuum_enabled = false)`.execute(h.db);
    await sql`alter table leadgen_events set (autovacuum_enabled = false)`.execute(h.db);
    /** `count` leads, each with one delivery of this status (claimed by `claimedBy` when given). */
    const addDeliveries = (count: number, status: string, claimedBy: string | null) =>
      sql`
      with l as (
        insert into leads (workspace_id, leadgen_id, page_id, created_time, received_at)
        select ${ws.id}::uuid, ${status} || '-' || g, 'p-backlog', now(), now() from generate_series(1, ${count}::int) g
        returning id
      )
      insert into deliveries (workspace_id, lead_id, destination_id, status, claimed_by, claimed_until)
      select ${ws.id}::uuid, l.id, ${dest.id}::uuid, ${status}, ${claimedBy}::uuid, case when ${claimedBy}::uuid is null then null else now() + interval '1 minute' end
      from l`.execute(h.db);
    /** `count` webhook events of this status. */
    const addEvents = (count: number, status: string) =>
      sql`
      insert into leadgen_events (page_id, leadgen_id, status)
      select 'p-backlog', ${status} || '-' || g, ${status} from generate_series(1, ${count}::int) g`.execute(h.db);
    // Statistics from a quiet time: every delivery delivered.
    await addDeliveries(2000, 'delivered', null);
    await addEvents(2000, 'fetched');
    await sql`analyze deliveries`.execute(h.db);
    await sql`analyze leadgen_events`.execute(h.db);
    // Then a backlog: 3,000 pending, claimed by one sender.
    token = randomUUID();
    await addDeliveries(3000, 'pending', token);
    await addEvents(3000, 'received');
    const { rows } = await sql<{ id: string }>`select id from deliveries where status = 'pending' order by id`.execute(h.db);
    backlog = rows.map((r) => r.id);
  });
  after(async () => {
    await h?.close();
  });

  /** Rows of `table` read (sequentially or through an index) so far in this transaction. */
  const rowsRead = async (trx: Db, table: string) => {
    const { rows } = await sql<{ n: string }>`
      select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) as n
      from pg_stat_xact_user_tables where relname = ${table} and schemaname = current_schema()`.execute(trx);
    return Number(rows[0]?.n ?? 0);
  };

  /** What `work` returns, and the rows of `table` PostgreSQL read for it. */
  const measured = <T>(work: (trx: Db) => Promise<T>, table = 'deliveries') =>
    h.db.transaction().execute(async (trx) => {
      const before = await rowsRead(trx, table);
      const result = await work(trx);
      return { result, read: (await rowsRead(trx, table)) - before };
    });

  it('findClaimsToSend reads only the claimed deliveries when statistics say few are pending', async () => {
    const claims = backlog.slice(0, 5).map((id) => ({ id, token }));
    const { result, read } = await measured((trx) => findClaimsToSend(trx, [...claims, { id: randomUUID(), token }]));
    expect([...result.keys()].sort()).to.deep.equal(claims.map((c) => c.id).sort());
    expect(read, 'deliveries rows read for 6 claims').to.be.at.most(20);
  });

  it('claiming, rescheduling, writing, failing and parking one delivery each read it alone', async () => {
    const now = new Date();
    const [claimedId, dueId, writtenId, parkedId, failedId] = backlog.slice(10, 15);
    // Its claim lapsed, so another sender may take it.
    await sql`update deliveries set claimed_until = now() - interval '1 second' where id = ${claimedId}::uuid`.execute(h.db);
    const claimed = await measured((trx) => claimDelivery(trx, claimedId, { token: randomUUID(), until: new Date(now.getTime() + 60_000), now }));
    expect(claimed.result && 'claimed' in claimed.result ? claimed.result.claimed.id : null).to.equal(claimedId);
    expect(claimed.read, 'rows read to claim one').to.be.at.most(3);

    const due = await measured((trx) => setDeliveryDueNoEarlier(trx, dueId, new Date(now.getTime() + 3_600_000)));
    expect(due.read, 'rows read to reschedule one').to.be.at.most(3);

    const written = await measured((trx) => updateClaimedDelivery(trx, writtenId, token, { attempts: 1 }));
    expect(written.result).to.equal(true);
    expect(written.read, 'rows read to write one').to.be.at.most(3);

    const failed = await measured((trx) =>
      writeClaimedOutcome(
        trx,
        token,
        { attempts: 1, next_attempt_at: new Date(now.getTime() + 60_000) },
        {
          workspaceId: workspaceId,
          deliveryId: failedId,
          attempt: 1,
          startedAt: now,
          outcome: 'retry',
          httpStatus: 503,
        },
      ),
    );
    expect(failed.result).to.equal(true);
    expect(failed.read, 'rows read to record one failed attempt').to.be.at.most(3);

    const parked = await measured((trx) =>
      parkDeliveryIfPending(trx, parkedId, { last_error_kind: 'auth', last_error_reason: 'test', last_error_message: null }),
    );
    expect(parked.read, 'rows read to park one').to.be.at.most(3);
    const { rows } = await sql<{ id: string; status: string; next_attempt_at: Date | null }>`
      select id, status, next_attempt_at from deliveries where id in (${dueId}::uuid, ${parkedId}::uuid)`.execute(h.db);
    expect(rows.find((r) => r.id === parkedId)?.status).to.equal('parked');
    expect(rows.find((r) => r.id === dueId)?.next_attempt_at).to.be.instanceOf(Date);
  });

  it('writing waiting events while they are still received reads them alone', async () => {
    const { rows } = await sql<{ id: string }>`select id from leadgen_events where status = 'received' order by id limit 3`.execute(h.db);
    const [id, ...swept] = rows.map((r) => Number(r.id));
    const written = await measured((trx) => setEventStatus(trx, id, 'failed', { reason: 'test', whileReceived: true }), 'leadgen_events');
    expect(written.read, 'rows read to write one').to.be.at.most(3);
    const noted = await measured((trx) => noteEventsSwept(trx, swept, new Date(Date.now() + 60_000)), 'leadgen_events');
    expect(noted.read, 'rows read to note two swept').to.be.at.most(6);
    const { rows: sweptRows } = await sql<{ next_attempt_at: Date | null }>`
      select next_attempt_at from leadgen_events where id = any(${swept}::bigint[])`.execute(h.db);
    expect(sweptRows.map((r) => r.next_attempt_at)).to.satisfy((v: unknown[]) => v.length === 2 && v.every((d) => d instanceof Date));
    const { rows: after } = await sql<{ status: string }>`select status from leadgen_events where id = ${id}`.execute(h.db);
    expect(after[0].status).to.equal('failed');
  });
});
