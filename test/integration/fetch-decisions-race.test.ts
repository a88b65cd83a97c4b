// Interleavings on the way from an acknowledged webhook to a stored lead that could leave the
// lead in a state nothing takes up again: a fetch deciding under a configuration that changed
// meanwhile, a token replaced while the old one is refused, and the outbox sweep's window; and
// one that could store a lead its Facebook user asked Meta to delete while it was being read.
import { expect } from 'chai';
import { sql } from 'kysely';
import { fetchLeadForEvent, fetchLeadsForEvents } from '../../src/pipeline/fetch-lead.js';
import type { Limiter } from '../../src/pipeline/limiter.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import { sweepOutbox } from '../../src/pipeline/maintenance.js';
import { fetchJobId } from '../../src/pipeline/queues.js';
import { cliFieldNamer } from '../../src/services/errors.js';
import { savePage } from '../../src/services/pages.js';
import { eraseFacebookUserLeads, recordFacebookTestLead } from '../../src/store/facebook-user-data.js';
import * as repo from '../../src/store/repos.js';
import { graphFailures, startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { TEST_APP_SECRET } from '../helpers/e2e.js';
import { duringWorkspaceRestore } from '../helpers/rows.js';
import { markWorkspaceDeleted } from '../../src/store/workspace-deletion.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const FORM = '870000009';
let nextPage = 881_000_000;
let nextLeadgen = 8_910_000_000_000_000_000n;

/**
 * A limiter that holds the n-th task given to it until released: the interleaving another
 * process (or this process's other fetches holding the shared FETCH_CONCURRENCY places) makes.
 */
function gate(holdNth: number): { limiter: Limiter; reached: Promise<void>; release: () => void } {
  let n = 0;
  let release!: () => void;
  let reachedResolve!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const reached = new Promise<void>((r) => (reachedResolve = r));
  const limiter: Limiter = async (task) => {
    if (++n === holdNth) {
      reachedResolve();
      await released;
    }
    return task();
  };
  return { limiter, reached, release };
}

describe('fetch decisions racing configuration changes, and the outbox sweep window', function () {
  this.timeout(60_000);
  let t: TestApp;
  let graph: FakeGraph;
  let workspaceId: string;

  before(async () => {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    t = await createTestApp({ env: { META_GRAPH_URL: graph.url } });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Fetch races')).id;
  });
  after(async () => {
    await t?.cleanup();
    await graph?.close();
  });

  async function newEvent(pageId: string): Promise<number> {
    const leadgenId = String(nextLeadgen++);
    graph.addLead({ id: leadgenId, form_id: FORM, page_id: pageId, field_data: [{ name: 'email', values: [`l${leadgenId}@example.com`] }] });
    const [event] = await repo.recordLeadgenEvents(t.app.db, [
      { pageId, leadgenId, formId: FORM, adId: null, adgroupId: null, createdTime: null, isTest: false },
    ]);
    return event!.id;
  }

  const queuedFetchIds = async () => (await t.app.queues.fetch.getJobs(['waiting', 'delayed', 'active', 'prioritized'])).map((j) => j.id);

  it('an event read before its page was registered is fetched, not left unrouted, when the page is added during its fetch', async () => {
    const pageId = String(nextPage++);
    const token = `EAAB-race-${pageId}`;
    graph.setPageToken(pageId, token, 'Race Page');
    graph.addForm({ id: FORM, page_id: pageId, name: 'Race form', questions: [{ key: 'email', label: 'Email', type: 'EMAIL' }] });

    // Leads of a page not registered yet: the first one is kept unrouted (and the page's absence cached).
    const early = await newEvent(pageId);
    expect(await fetchLeadForEvent(t.app, early)).to.deep.equal({ type: 'done', detail: 'page_not_registered' });

    // A fetch (batch job or handed-over intake group) has read its event with the counter...
    const late = await newEvent(pageId);
    const g = gate(1);
    const fetching = fetchLeadsForEvents(t.app, [late], 8, g.limiter);
    await g.reached;
    // ...when `pages add` (another process) registers the page and resumes its waiting events.
    const saved = await savePage(t.app, { workspaceId, pageId, token, skipCheck: true }, cliFieldNamer());
    expect(saved.resumed).to.equal(1); // `early`, not `late`: that one is still `received`
    g.release();
    const [result] = await fetching;
    // Decided again under the new configuration: the lead is read and stored (no route yet, so no delivery).
    expect(result.outcome).to.deep.equal({ type: 'done', detail: 'fetched:0' });

    const event = (await repo.findEvent(t.app.db, late))!;
    const page = (await repo.findPageByPageId(t.app.db, pageId))!;
    expect(page.status).to.equal('active');
    // The outbox sweep only re-queues `received` events: an `unrouted` one is never fetched.
    await sweepOutbox(t.app, Date.now() + 60_000);
    const queued = await queuedFetchIds();
    // Fixed, it would be fetched, or `received` with a job: anything but a status nothing resumes.
    const state = { status: event.status, reason: event.status_reason, queued: queued.includes(fetchJobId(late)) };
    expect(state, `the event of a registered page must still be fetched, but it is ${JSON.stringify(state)}`).to.satisfy(
      (e: { status: string; queued: boolean }) => e.status === 'fetched' || (e.status === 'received' && e.queued),
    );
  });

  it('a token replaced while the old one is refused leaves the page active and the lead not parked', async () => {
    const pageId = String(nextPage++);
    const oldToken = `EAAB-old-${pageId}`;
    graph.setPageToken(pageId, oldToken, 'Reauth Page');
    graph.addForm({ id: FORM, page_id: pageId, name: 'Reauth form', questions: [{ key: 'email', label: 'Email', type: 'EMAIL' }] });
    await repo.upsertPage(t.app.db, { workspaceId, pageId, name: 'Reauth Page', tokenEnvelope: t.app.keyRing.encrypt(oldToken, pageTokenAad(pageId)) });
    // The user changed their Facebook password: the old page token is dead at Meta.
    graph.revokeToken(oldToken);
    const event = await newEvent(pageId);
    // Tasks given to the limiter: 1 the event's checks, 2 the Graph read, 3 what follows the read.
    const g = gate(3);
    const fetching = fetchLeadsForEvents(t.app, [event], 8, g.limiter);
    await g.reached; // Graph answered 190 for the old token
    const newToken = `EAAB-new-${pageId}`;
    graph.setPageToken(pageId, newToken, 'Reauth Page');
    await savePage(t.app, { workspaceId, pageId, token: newToken, skipCheck: true }, cliFieldNamer());
    g.release();
    await fetching;

    const page = (await repo.findPageByPageId(t.app.db, pageId))!;
    const after = (await repo.findEvent(t.app.db, event))!;
    // The new token works: the page must stay active, and its lead must not wait for yet another re-authorisation.
    expect({ page: page.status, eventParked: after.status === 'parked' }, `page ${page.status}, event ${after.status}/${after.status_reason}`).to.deep.equal({
      page: 'active',
      eventParked: false,
    });
  });

  it('marks a page whose token was refused once: further refusals of that token leave the configuration counter alone', async () => {
    const pageId = '861000777';
    const token = 'EAAB-refused-twice';
    const envelope = t.app.keyRing.encrypt(token, pageTokenAad(pageId));
    await repo.upsertPage(t.app.db, { workspaceId, pageId, name: 'Refused Page', tokenEnvelope: envelope });
    expect(await repo.setPageNeedsReauthForToken(t.app.db, pageId, envelope, 'token_expired')).to.equal(true);
    const marked = await repo.currentConfigVersion(t.app.db);
    // The other leads of the dead token, refused too.
    for (let i = 0; i < 3; i++) expect(await repo.setPageNeedsReauthForToken(t.app.db, pageId, envelope, 'token_expired')).to.equal(true);
    expect(await repo.currentConfigVersion(t.app.db)).to.equal(marked);
    // Another reason is written; a token the page no longer holds is not.
    expect(await repo.setPageNeedsReauthForToken(t.app.db, pageId, envelope, 'token_revoked')).to.equal(true);
    expect(await repo.currentConfigVersion(t.app.db)).to.be.above(marked);
    expect(await repo.setPageNeedsReauthForToken(t.app.db, pageId, 'lr1.k.other.token', 'token_expired')).to.equal(false);
    expect(await repo.findPageByPageId(t.app.db, pageId)).to.include({ status: 'needs_reauth', status_reason: 'token_revoked' });
  });

  it('a read that must wait does not set back an event another run fetched meanwhile', async () => {
    const pageId = String(nextPage++);
    const token = `EAAB-race-${pageId}`;
    graph.setPageToken(pageId, token, 'Race Page');
    await repo.upsertPage(t.app.db, { workspaceId, pageId, name: 'Race Page', tokenEnvelope: t.app.keyRing.encrypt(token, pageTokenAad(pageId)) });
    const event = await newEvent(pageId);
    const leadgenId = (await repo.findEvent(t.app.db, event))!.leadgen_id;
    graph.failNext(leadgenId, [graphFailures.leadgenThrottled(5, pageId)]);
    // Tasks given to the limiter: 1 the event's checks, 2 the Graph read, 3 what follows the read.
    const g = gate(3);
    const fetching = fetchLeadsForEvents(t.app, [event], 8, g.limiter);
    await g.reached;
    // Another run (a sweep's job beside this one) stored the lead and marked the event fetched.
    await repo.setEventStatus(t.app.db, event, 'fetched');
    g.release();
    const [result] = await fetching;
    expect(result.outcome).to.include({ type: 'delay' });
    const after = (await repo.findEvent(t.app.db, event))!;
    expect({ status: after.status, attempts: after.attempts, waiting: after.next_attempt_at }).to.deep.equal({ status: 'fetched', attempts: 0, waiting: null });
  });

  it('an event handed over with its row as inserted, fetched by another run meanwhile, is stored once with one delivery', async () => {
    const pageId = String(nextPage++);
    const token = `EAAB-race-${pageId}`;
    graph.setPageToken(pageId, token, 'Race Page');
    await repo.upsertPage(t.app.db, { workspaceId, pageId, name: 'Race Page', tokenEnvelope: t.app.keyRing.encrypt(token, pageTokenAad(pageId)) });
    const destination = await repo.createDestination(t.app.db, {
      workspaceId,
      type: 'webhook',
      name: 'hook',
      config: { url: 'https://127.0.0.1:9/hook' },
      credentialsEnvelope: null,
    });
    await repo.createRoute(t.app.db, { workspaceId, pageId, formId: null, destinationId: destination.id });
    // The row as the intake insert returned it (status `received`), handed to a worker process.
    const leadgenId = String(nextLeadgen++);
    graph.addLead({ id: leadgenId, form_id: FORM, page_id: pageId, field_data: [{ name: 'email', values: [`h${leadgenId}@example.com`] }] });
    const [inserted] = await repo.recordLeadgenEvents(t.app.db, [
      { pageId, leadgenId, formId: FORM, adId: null, adgroupId: null, createdTime: null, isTest: false },
    ]);
    // Another run (the sweep's job) fetches it first.
    expect(await fetchLeadForEvent(t.app, inserted.id)).to.include({ type: 'done' });
    // The handed fetch goes by the row it was given, which still says `received`.
    const [handed] = await fetchLeadsForEvents(t.app, [inserted.id], 8, undefined, undefined, [inserted]);
    expect(handed.error).to.equal(undefined);
    const leads = await t.app.db.selectFrom('leads').select('id').where('leadgen_id', '=', leadgenId).execute();
    const deliveries = await t.app.db
      .selectFrom('deliveries')
      .select('id')
      .where(
        'lead_id',
        'in',
        leads.map((l) => l.id),
      )
      .execute();
    expect({ leads: leads.length, deliveries: deliveries.length, event: (await repo.findEvent(t.app.db, inserted.id))?.status }).to.deep.equal({
      leads: 1,
      deliveries: 1,
      event: 'fetched',
    });
  });

  it('gives the failed events a refetch reopens one write time, newer than their last, as an intake batch has', async () => {
    const pageId = String(nextPage++);
    const events = [await newEvent(pageId), await newEvent(pageId), await newEvent(pageId)];
    // They failed at different times, long ago.
    for (const [n, id] of events.entries()) {
      await t.app.db
        .updateTable('leadgen_events')
        .set({ status: 'failed', updated_at: new Date(Date.now() - (n + 1) * 3_600_000) })
        .where('id', '=', id)
        .execute();
    }
    const before = Date.now();
    expect((await repo.reopenFailedEvents(t.app.db, pageId)).map((r) => Number(r.id)).sort((a, b) => a - b)).to.deep.equal(events);
    const rows = await t.app.db.selectFrom('leadgen_events').select(['status', 'updated_at']).where('id', 'in', events).execute();
    expect(new Set(rows.map((r) => r.status))).to.deep.equal(new Set(['received']));
    expect(new Set(rows.map((r) => new Date(r.updated_at).getTime())).size, 'one write time').to.equal(1);
    expect(new Date(rows[0].updated_at).getTime()).to.be.at.least(before - 5_000);
  });

  it('makes a fetch that would park an event of a workspace being deleted wait for a restore under way, then decide again', async () => {
    const ws = (await repo.createWorkspace(t.app.db, 'Restored while fetched')).id;
    const pageId = String(nextPage++);
    await repo.upsertPage(t.app.db, {
      workspaceId: ws,
      pageId,
      name: 'Restored Page',
      tokenEnvelope: t.app.keyRing.encrypt(`EAAB-${pageId}`, pageTokenAad(pageId)),
    });
    const event = await newEvent(pageId);
    await t.app.db.updateTable('leadgen_events').set({ workspace_id: ws }).where('id', '=', event).execute();
    await markWorkspaceDeleted(t.app.db, ws, new Date(Date.now() + 86_400_000));
    const decidedUnder = await repo.currentConfigVersion(t.app.db);
    // A fetch that read the workspace as being deleted parks the event while the restore is under
    // way: it waits for the restore (without the wait it would have parked the event by now).
    const kept = await duringWorkspaceRestore(t.app.db, ws, () =>
      repo.setEventStatusWhileConfigIs(t.app.db, decidedUnder, event, 'parked', { reason: 'workspace_deleted', workspaceId: ws }),
    );
    expect({ kept, status: (await repo.findEvent(t.app.db, event))?.status }).to.deep.equal({ kept: false, status: 'received' });
  });

  it('the sweep re-queues a lost event behind 1000 older events that already have delayed jobs', async () => {
    await t.app.db.updateTable('leadgen_events').set({ status: 'fetched' }).where('status', '=', 'received').execute();
    await t.loseQueuedJobs();
    const pageId = String(nextPage++);
    // 1000 events whose fetch must wait (a Graph outage: transient errors, hourly backoff for up to
    // 30 days; or a throttled page): each `received`, with attempts, and its delayed `ev-` job, as
    // fetchBatch leaves them (setEventStatus(received, incrementAttempts) + enqueueFetch(id, delay)).
    const rows = Array.from({ length: 1000 }, () => ({
      pageId,
      leadgenId: String(nextLeadgen++),
      formId: FORM,
      adId: null,
      adgroupId: null,
      createdTime: null,
      isTest: false,
    }));
    const waiting = (await repo.recordLeadgenEvents(t.app.db, rows)).map((r) => r.id);
    await sql`update leadgen_events set attempts = 5, last_error = '{"category":"transient"}'::jsonb where id = any(${waiting}::bigint[])`.execute(t.app.db);
    await t.app.queues.enqueueFetch(waiting, 3_600_000);
    // A newer lead whose job was lost (Redis restarted, the parent died inside FETCH_JOB_WAIT_MS, ...).
    const lost = await newEvent(pageId);

    for (let sweep = 0; sweep < 3; sweep++) await sweepOutbox(t.app, Date.now() + 60_000);
    expect(await queuedFetchIds(), 'the lost event has a job').to.include(fetchJobId(lost));
  });
  it('a lead whose Facebook user asks Meta to delete their data while it is read from Graph is neither stored nor given deliveries', async () => {
    const pageId = String(nextPage++);
    const token = `EAAB-erasure-${pageId}`;
    graph.setPageToken(pageId, token, 'Erasure Page');
    graph.addForm({ id: FORM, page_id: pageId, name: 'Erasure form', questions: [{ key: 'email', label: 'Email', type: 'EMAIL' }] });
    await repo.upsertPage(t.app.db, { workspaceId, pageId, name: 'Erasure Page', tokenEnvelope: t.app.keyRing.encrypt(token, pageTokenAad(pageId)) });
    const hook = await repo.createDestination(t.app.db, {
      workspaceId,
      type: 'webhook',
      name: `hook ${pageId}`,
      config: { url: 'https://example.com/hook' },
      credentialsEnvelope: null,
    });
    await repo.createRoute(t.app.db, { workspaceId, pageId, formId: null, destinationId: hook.id });
    // A Meta test lead made with a Page token from this person's login.
    const event = await newEvent(pageId);
    const leadgenId = (await repo.findEvent(t.app.db, event))!.leadgen_id;
    const fbUserId = '10000000000944';
    await recordFacebookTestLead(t.app.db, { workspaceId, pageId, leadgenId, fbUserId });
    // Tasks given to the limiter: 1 the event's checks, 2 the Graph read, 3 what follows the read.
    const g = gate(3);
    const fetching = fetchLeadsForEvents(t.app, [event], 8, g.limiter);
    await g.reached; // Graph answered with the lead
    await eraseFacebookUserLeads(t.app.db, fbUserId, new Date());
    g.release();
    const [result] = await fetching;

    expect(result.outcome).to.deep.equal({ type: 'done', detail: 'erased' });
    expect(await t.app.db.selectFrom('leads').select('id').where('leadgen_id', '=', leadgenId).execute()).to.deep.equal([]);
    expect(await t.app.db.selectFrom('deliveries').select('id').where('destination_id', '=', hook.id).execute()).to.deep.equal([]);
    expect(await repo.findEvent(t.app.db, event)).to.include({ status: 'erased', status_reason: 'erasure_requested' });
  });
});
