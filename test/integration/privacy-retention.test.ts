// Retention that leaves nothing behind, on the real PostgreSQL: what a receiver says back is
// stored without the lead's data; the purge keeps PII-free tombstones and honours each
// workspace's own period, changed through the API; attempts and events are pruned past their
// own periods (an erased event, whose lead was never stored, only once Meta no longer keeps the
// lead); workspace export archives go after 24 hours.
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { sql } from 'kysely';
import { graphLeadSchema } from '../../src/meta/graph-types.js';
import { deliverOne } from '../../src/pipeline/deliver-lead.js';
import { leadRowFromGraph } from '../../src/pipeline/lead-record.js';
import { runRetentionPurges } from '../../src/pipeline/maintenance.js';
import { deleteExpiredExports, exportsDirOf } from '../../src/services/workspace-export.js';
import * as repo from '../../src/store/repos.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { ApiClient, seedApiKey, seedUser, startApiServer } from '../helpers/api.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const DAY = 86_400_000;
const PAGE = '850000001';
const PERSON = { name: 'Rita Redact', email: 'rita.redact@example.com', phone: '+1 415 555 0177' };

describe('privacy: retention that leaves nothing behind', function () {
  this.timeout(60_000);
  let t: TestApp;
  let receiver: FakeReceiver;
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let dataDir: string;
  let nextLeadgen = 8_500_000_000_000_000_000n;

  before(async () => {
    dataDir = join(tmpdir(), `leadrelay-privacy-${process.pid}-${Date.now()}`);
    t = await createTestApp({ withQueues: false, env: { DATA_DIR: dataDir, ATTEMPT_RETENTION_MONTHS: '24', EVENT_RETENTION_DAYS: '90' } });
    receiver = await startFakeReceiver();
    server = await startApiServer(t.app);
  });
  after(async () => {
    await server?.close();
    await receiver?.close();
    await t?.cleanup();
  });

  async function leadWithDelivery(workspaceId: string, receivedAt = new Date()) {
    const g = graphLeadSchema.parse({
      id: String(nextLeadgen++),
      created_time: '2026-11-20T10:15:00+0000',
      field_data: [
        { name: 'full_name', values: [PERSON.name] },
        { name: 'email', values: [PERSON.email] },
        { name: 'phone_number', values: [PERSON.phone] },
      ],
    });
    const lead = await repo.insertLead(t.app.db, {
      ...leadRowFromGraph(t.app.keyRing, { workspaceId, eventId: 0, pageId: PAGE, pageName: null, formName: 'Form', receivedAt, isTest: false }, g),
      event_id: null,
    });
    const dest = await repo.createDestination(t.app.db, {
      workspaceId,
      type: 'webhook',
      name: 'hook',
      config: { url: `${receiver.url}/in` },
      credentialsEnvelope: null,
    });
    const route = await repo.createRoute(t.app.db, { workspaceId, pageId: PAGE, formId: null, destinationId: dest.id, filter: undefined });
    const [delivery] = await repo.ensureDeliveries(t.app.db, [{ workspaceId, leadId: lead.id, destinationId: dest.id, routeId: route.id }]);
    return { lead, delivery: delivery! };
  }

  const quotes = (text: string | null) => [PERSON.email, PERSON.name, '14155550177', '+14155550177', '415 555 0177'].filter((v) => text?.includes(v));

  it("stores a receiver's error and response body without the lead's answers, emails or phone", async () => {
    const ws = await repo.createWorkspace(t.app.db, 'write-time');
    const { delivery } = await leadWithDelivery(ws.id);
    receiver.respondWith([
      { status: 422, body: JSON.stringify({ message: `Rejected ${PERSON.name} <${PERSON.email}>, phone 14155550177; also cc someone@else.example` }) },
      { status: 200, body: JSON.stringify({ ok: true, echo: { email: PERSON.email, phone: '+14155550177' } }) },
    ]);
    expect(await deliverOne(t.app, delivery.id)).to.include({ type: 'done', detail: 'dead' });
    const dead = (await repo.findDelivery(t.app.db, delivery.id))!;
    expect(dead.last_error_message).to.contain('[redacted]');
    expect(quotes(dead.last_error_message)).to.deep.equal([]);
    expect(dead.last_error_message).to.not.contain('someone@else.example');
    await repo.resetDeliveriesOfLead(t.app.db, dead.lead_id, ['dead']);
    expect(await deliverOne(t.app, delivery.id)).to.include({ type: 'done' });
    const attempts = await repo.listAttempts(t.app.db, delivery.id);
    expect(attempts.map((a) => a.outcome)).to.deep.equal(['dead', 'delivered']);
    for (const a of attempts) {
      expect(quotes(a.message), `attempt ${a.attempt} message`).to.deep.equal([]);
      expect(quotes(a.response_body), `attempt ${a.attempt} body`).to.deep.equal([]);
    }
    expect(attempts[1]!.response_body).to.contain('"ok":true');
  });

  it("purges by each workspace's own retention, changed through the API, leaving tombstones", async () => {
    const now = new Date();
    const changed = await repo.createWorkspace(t.app.db, 'changed', 90);
    const untouched = await repo.createWorkspace(t.app.db, 'untouched', 90);
    await seedUser(t.app, { email: 'owner-retention@example.com', workspaceId: changed.id });
    const key = await seedApiKey(t.app, changed.id, 'admin');
    const r = await new ApiClient(server.url).withKey(key).patch(`/workspaces/${changed.id}`, { lead_retention_days: 7 });
    expect(r.status).to.equal(200);
    const expired = await leadWithDelivery(changed.id, new Date(now.getTime() - 10 * DAY));
    const kept = await leadWithDelivery(untouched.id, new Date(now.getTime() - 10 * DAY));
    await repo.updateDelivery(t.app.db, expired.delivery.id, {
      status: 'dead',
      attempts: 3,
      last_error_reason: 'status_code_400',
      last_error_message: `bad ${PERSON.email}`,
      connector_state: repo.json({ personId: 1 }),
    });
    await repo.recordAttempt(t.app.db, {
      workspaceId: changed.id,
      deliveryId: expired.delivery.id,
      attempt: 1,
      startedAt: now,
      outcome: 'dead',
      reason: 'status_code_400',
      message: PERSON.email,
      responseBody: PERSON.email,
    });

    const result = await runRetentionPurges(t.app, now);
    expect(result.erasedLeads).to.be.at.least(1);
    const lead = (await repo.findLead(t.app.db, expired.lead.id))!;
    expect(lead.answers_envelope).to.equal(null);
    // The tombstone: ids, times, form, status, and the delivery's destination, status and counts.
    expect(lead).to.include({ leadgen_id: expired.lead.leadgen_id, page_id: PAGE, form_name: 'Form', status: 'routed' });
    expect(new Date(lead.received_at).getTime()).to.equal(new Date(expired.lead.received_at).getTime());
    const d = (await repo.findDelivery(t.app.db, expired.delivery.id))!;
    expect(d).to.include({ status: 'dead', attempts: 3, last_error_reason: 'status_code_400', last_error_message: null, connector_state: null });
    expect(d.destination_id).to.equal(expired.delivery.destination_id);
    expect((await repo.listAttempts(t.app.db, expired.delivery.id)).map((a) => [a.message, a.response_body, a.reason])).to.deep.equal([
      [null, null, 'status_code_400'],
    ]);
    expect((await repo.findLead(t.app.db, kept.lead.id))!.answers_envelope, "90 days' retention keeps a 10-day-old lead").to.be.a('string');
  });

  it('prunes delivery attempts past ATTEMPT_RETENTION_MONTHS, keeping the delivery and its count', async () => {
    const ws = await repo.createWorkspace(t.app.db, 'attempts');
    const { delivery } = await leadWithDelivery(ws.id);
    await repo.updateDelivery(t.app.db, delivery.id, { status: 'delivered', attempts: 3 });
    const at = (months: number) => sql<Date>`now() - make_interval(months => ${months})`;
    for (const [attempt, months] of [
      [1, 30],
      [2, 25],
      [3, 23],
    ] as const)
      await sql`insert into delivery_attempts (workspace_id, delivery_id, attempt, started_at, finished_at, outcome)
                values (${ws.id}, ${delivery.id}, ${attempt}, ${at(months)}, ${at(months)}, 'retry')`.execute(t.app.db);
    const r = await runRetentionPurges(t.app);
    expect(r.attempts).to.equal(2);
    expect((await repo.listAttempts(t.app.db, delivery.id)).map((a) => a.attempt)).to.deep.equal([3]);
    expect((await repo.findDelivery(t.app.db, delivery.id))!.attempts).to.equal(3);
  });

  /** A leadgen event of the workspace with this status, received `ageDays` ago; its id. */
  async function agedEvent(workspaceId: string, leadgenId: string, ageDays: number, status: string): Promise<number> {
    const [e] = await repo.recordLeadgenEvents(t.app.db, [
      { pageId: PAGE, leadgenId, formId: null, adId: null, adgroupId: null, createdTime: null, isTest: false },
    ]);
    await sql`update leadgen_events set status = ${status}, workspace_id = ${workspaceId}, received_at = now() - make_interval(days => ${ageDays}) where id = ${e!.id}`.execute(
      t.app.db,
    );
    return e!.id;
  }

  it('prunes leadgen events past EVENT_RETENTION_DAYS and those of erased leads past the reconciliation look-back, never one still to fetch', async () => {
    const ws = await repo.createWorkspace(t.app.db, 'events');
    const event = (leadgenId: string, ageDays: number, status: string) => agedEvent(ws.id, leadgenId, ageDays, status);
    const old = await event('8600000001', 91, 'fetched');
    const erasedOldId = '8600000004';
    const young = await event('8600000002', 89, 'fetched');
    const open = await event('8600000003', 120, 'received');
    const erasedOld = await event('8600000004', 4, 'fetched');
    const erasedYoung = await event('8600000005', 2, 'fetched');
    for (const [eventId, leadgenId] of [
      [erasedOld, '8600000004'],
      [erasedYoung, '8600000005'],
    ] as const) {
      const g = graphLeadSchema.parse({ id: leadgenId, created_time: '2026-11-20T10:15:00+0000', field_data: [] });
      const lead = await repo.insertLead(t.app.db, {
        ...leadRowFromGraph(
          t.app.keyRing,
          { workspaceId: ws.id, eventId, pageId: PAGE, pageName: null, formName: null, receivedAt: new Date(), isTest: false },
          g,
        ),
      });
      await repo.eraseLeadsNow(t.app.db, [lead.id], new Date());
    }
    const r = await runRetentionPurges(t.app);
    expect(r.events).to.equal(2);
    const left = (await t.app.db.selectFrom('leadgen_events').select('id').where('workspace_id', '=', ws.id).execute()).map((e) => e.id).sort();
    expect(left).to.deep.equal([young, open, erasedYoung].sort());
    expect(left).to.not.include(old);
    const orphan = await t.app.db.selectFrom('leads').select('event_id').where('leadgen_id', '=', erasedOldId).executeTakeFirstOrThrow();
    expect(orphan.event_id, 'the lead stays, without its event').to.equal(null);
  });

  it('keeps a parked leadgen event past EVENT_RETENTION_DAYS while Meta still keeps its lead', async () => {
    const ws = await repo.createWorkspace(t.app.db, 'parked events');
    const event = (leadgenId: string, ageDays: number, status: string) => agedEvent(ws.id, leadgenId, ageDays, status);
    const parkedMonth = await event('8600000011', 30, 'parked');
    const fetchedMonth = await event('8600000012', 30, 'fetched');
    const parkedOld = await event('8600000013', 91, 'parked');
    const day = 86_400_000;
    // EVENT_RETENTION_DAYS of 7: a fetched event of 30 days goes, a parked one stays until Meta's 90 days.
    await repo.pruneLeadgenEvents(t.app.db, {
      before: new Date(Date.now() - 7 * day),
      erasedBefore: new Date(Date.now() - 3 * day),
      leadAtMetaBefore: new Date(Date.now() - 90 * day),
    });
    const left = (await t.app.db.selectFrom('leadgen_events').select('id').where('workspace_id', '=', ws.id).execute()).map((e) => e.id);
    expect(left).to.deep.equal([parkedMonth]);
    expect(left).to.not.include.members([fetchedMonth, parkedOld]);
  });

  it('keeps an erased event, whose lead was never stored, past EVENT_RETENTION_DAYS for as long as Meta keeps the lead', async () => {
    const ws = await repo.createWorkspace(t.app.db, 'erased events');
    const erasedEvent = async (leadgenId: string, ageDays: number) => {
      const { rows } = await sql<{ id: string }>`
        insert into leadgen_events (page_id, leadgen_id, workspace_id, status, status_reason, received_at)
        values (${PAGE}, ${leadgenId}, ${ws.id}, 'erased', 'erasure_requested', now() - make_interval(days => ${ageDays}))
        returning id
      `.execute(t.app.db);
      return Number(rows[0]!.id);
    };
    const kept = await erasedEvent('8700000001', 95);
    await erasedEvent('8700000002', 101);
    await runRetentionPurges(t.app);
    const left = await t.app.db.selectFrom('leadgen_events').select('id').where('workspace_id', '=', ws.id).execute();
    expect(left.map((e) => Number(e.id))).to.deep.equal([kept]);
  });

  it('erases a lead left stored under an event its Facebook user had erased', async () => {
    const ws = await repo.createWorkspace(t.app.db, 'erased event leftovers');
    // A fetch stored the lead as the data-deletion callback committed, and ended before deleting it again.
    const { lead } = await leadWithDelivery(ws.id);
    const eventId = await agedEvent(ws.id, lead.leadgen_id, 0, 'erased');
    await t.app.db.updateTable('leads').set({ event_id: eventId }).where('id', '=', lead.id).execute();
    await t.app.db.insertInto('lead_search').values({ lead_id: lead.id, workspace_id: ws.id, kind: 'email', hash: 'h-leftover' }).execute();
    await runRetentionPurges(t.app);
    const row = await repo.findLead(t.app.db, lead.id);
    expect({ answers: row?.answers_envelope, erased: row?.erased_at instanceof Date }).to.deep.equal({ answers: null, erased: true });
    expect(await t.app.db.selectFrom('lead_search').select('hash').where('lead_id', '=', lead.id).execute()).to.deep.equal([]);
  });

  it('deletes workspace export archives 24 hours after they were made, and leftovers nobody points to', async () => {
    const ws = await repo.createWorkspace(t.app.db, 'exports');
    const dir = exportsDirOf(t.app);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const job = await t.app.db
      .insertInto('export_jobs')
      .values({ workspace_id: ws.id, status: 'done', file_name: 'old.tar.gz', size_bytes: 3, expires_at: new Date(Date.now() - 1000), finished_at: new Date() })
      .returning('id')
      .executeTakeFirstOrThrow();
    const fresh = await t.app.db
      .insertInto('export_jobs')
      .values({
        workspace_id: ws.id,
        status: 'done',
        file_name: 'fresh.tar.gz',
        size_bytes: 3,
        expires_at: new Date(Date.now() + DAY),
        finished_at: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    for (const f of ['old.tar.gz', 'fresh.tar.gz', 'stray-old.tar.gz', 'stray-young.tar.gz']) await writeFile(join(dir, f), 'x', { mode: 0o600 });
    const twoDaysAgo = new Date(Date.now() - 2 * DAY);
    await utimes(join(dir, 'stray-old.tar.gz'), twoDaysAgo, twoDaysAgo);

    expect(await deleteExpiredExports(t.app)).to.equal(1);
    expect((await readdir(dir)).sort()).to.deep.equal(['fresh.tar.gz', 'stray-young.tar.gz']);
    const rows = await t.app.db.selectFrom('export_jobs').select(['id', 'status', 'file_name']).where('workspace_id', '=', ws.id).execute();
    expect(rows.find((r) => r.id === job.id)).to.include({ status: 'expired', file_name: null });
    expect(rows.find((r) => r.id === fresh.id)).to.include({ status: 'done', file_name: 'fresh.tar.gz' });
    expect((await stat(dir)).mode & 0o777).to.equal(0o700);
  });
});
