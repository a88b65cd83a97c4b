// Reconciliation on the real PostgreSQL and queues, against the loopback fake Graph API through
// the real client: leads Meta lists whose webhook never came are recorded once (as intake records
// a webhook's) and queued; recorded ones are left alone; paging, checkpoints, throttling, forms
// of a page-level route, a dead token, a webhook that comes afterwards, the per-day numbers, and
// the scheduled run's lease.
import { expect } from 'chai';
import { IntakeBatcher } from '../../src/http/intake-batcher.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import { RECONCILE_LEASE, reconcileLeads, runLockedReconciliation, startReconciliation } from '../../src/pipeline/reconcile.js';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/workers.js';
import { describeReconciliation, runReconciliation } from '../../src/services/reconciliation.js';
import { purgeWorkspace, requestWorkspaceDeletion } from '../../src/services/workspace-lifecycle.js';
import { cliFieldNamer, InvalidInputError, NotFoundError } from '../../src/services/errors.js';
import { leaseRemainingMs } from '../../src/store/leases.js';
import * as repo from '../../src/store/repos.js';
import { findCheckpoint } from '../../src/store/reconciliation.js';
import { graphFailures, startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { TEST_APP_SECRET, waitUntil } from '../helpers/e2e.js';
import { endGracePeriod } from '../helpers/rows.js';
import { createTestApp, QUEUE_BACKENDS, type TestApp } from '../helpers/test-app.js';

const HOUR_MS = 3_600_000;
const SETTLE_MS = 600_000; // RECONCILE_SETTLE_MS's default
let nextPage = 7_100_000_000;
let nextForm = 7_200_000_000;
let nextLeadgen = 7_300_000_000_000_000_000n;
const newLeadgenId = () => String(nextLeadgen++);
const unixSeconds = (d: Date) => Math.floor(d.getTime() / 1000);

for (const backend of QUEUE_BACKENDS)
  describe(`reconciliation with queues on ${backend}`, function () {
    // Waits are bounded at 20 s: far more than they take, so only a thing that never happens runs into them.
    // Generous bounds: the waits below end as soon as the leads arrive, and a loaded machine is slow.
    this.timeout(150_000);
    let t: TestApp;
    let graph: FakeGraph;
    let receiver: FakeReceiver;
    let workspaceId: string;
    let destinationId: string;

    before(async () => {
      graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
      receiver = await startFakeReceiver();
      t = await createTestApp({ backend, env: { META_GRAPH_URL: graph.url } });
      workspaceId = (await repo.createWorkspace(t.app.db, 'Reconcile')).id;
      destinationId = (
        await repo.createDestination(t.app.db, { workspaceId, type: 'webhook', name: 'hook', config: { url: receiver.url }, credentialsEnvelope: null })
      ).id;
    });
    after(async () => {
      await t?.cleanup();
      await receiver?.close();
      await graph?.close();
    });

    /** A registered page of its own with one form, routed form by form (default) or page-wide. */
    async function createPage(opts: { route?: 'form' | 'page' | 'none' } = {}) {
      const pageId = String(nextPage++);
      const formId = String(nextForm++);
      const token = `EAAB-reconcile-${pageId}`;
      graph.setPageToken(pageId, token, `Page ${pageId}`);
      graph.addForm({ id: formId, page_id: pageId, questions: [{ key: 'email', type: 'EMAIL' }] });
      await repo.upsertPage(t.app.db, { workspaceId, pageId, name: null, tokenEnvelope: t.app.keyRing.encrypt(token, pageTokenAad(pageId)) });
      const route = opts.route ?? 'form';
      if (route !== 'none') await repo.createRoute(t.app.db, { workspaceId, pageId, formId: route === 'form' ? formId : null, destinationId });
      return { pageId, formId, token };
    }

    /** A lead Meta has for the form; its webhook is never sent. */
    function addMetaLead(p: { pageId: string; formId: string }, createdTime: Date, leadgenId = newLeadgenId()) {
      graph.addLead({
        id: leadgenId,
        form_id: p.formId,
        page_id: p.pageId,
        created_time: unixSeconds(createdTime),
        field_data: [{ name: 'email', values: [`${leadgenId}@example.com`] }],
      });
      return leadgenId;
    }

    /** Records a lead's webhook as intake does (the same statement). */
    async function recordWebhook(p: { pageId: string; formId: string }, leadgenId: string, createdTime: Date) {
      const ids = await new IntakeBatcher(t.app.db, { maxRows: 100 }).record([
        { pageId: p.pageId, leadgenId, formId: p.formId, adId: null, adgroupId: null, createdTime, isTest: false },
      ]);
      return ids;
    }

    const eventsOf = (pageId: string) => t.app.db.selectFrom('leadgen_events').selectAll().where('page_id', '=', pageId).orderBy('id').execute();
    const leadsCalls = (formId: string) => graph.calls.filter((c) => c.path === `/v25.0/${formId}/leads`);
    /** The event ids the fetch queue holds jobs for (intake-style batch jobs and single ones). */
    async function queuedEventIds(): Promise<number[]> {
      const jobs = await t.app.queues.fetch.getJobs(['waiting', 'delayed', 'prioritized']);
      return jobs.flatMap((j) => j.data.eventIds ?? (j.data.eventId === undefined ? [] : [j.data.eventId])).sort((a, b) => a - b);
    }

    it('records each lead Meta lists that has no event, once, as if its webhook had come, queues its fetch, and leaves recorded ones alone', async () => {
      const p = await createPage();
      const now = new Date();
      const missing = [addMetaLead(p, new Date(now.getTime() - 5 * HOUR_MS)), addMetaLead(p, new Date(now.getTime() - 4 * HOUR_MS))];
      const known = addMetaLead(p, new Date(now.getTime() - 3 * HOUR_MS));
      const [knownEventId] = await recordWebhook(p, known, new Date(now.getTime() - 3 * HOUR_MS));
      const before = (await eventsOf(p.pageId)).find((e) => e.id === knownEventId)!;

      const [result] = await reconcileLeads(t.app, { workspaceId, formId: p.formId, now: () => now });
      expect(result).to.include({ outcome: 'done', metaCount: 3, alreadyRecorded: 1, recovered: 2, reason: null });

      const events = await eventsOf(p.pageId);
      expect(events.map((e) => [e.leadgen_id, e.source, e.status]).sort()).to.deep.equal([
        [missing[0], 'reconciliation', 'received'],
        [missing[1], 'reconciliation', 'received'],
        [known, 'webhook', 'received'],
      ]);
      const recovered = events.filter((e) => e.source === 'reconciliation');
      for (const e of recovered) {
        expect(e.workspace_id).to.equal(workspaceId);
        expect(e.form_id).to.equal(p.formId);
        expect(e.listed_at).to.not.equal(null);
      }
      const after = events.find((e) => e.id === knownEventId)!;
      expect([after.received_at, after.updated_at, after.workspace_id]).to.deep.equal([before.received_at, before.updated_at, before.workspace_id]);
      expect(await queuedEventIds()).to.include.members(recovered.map((e) => e.id));
      expect(await queuedEventIds()).to.not.include(knownEventId);

      const [again] = await reconcileLeads(t.app, { workspaceId, formId: p.formId, since: new Date(now.getTime() - 6 * HOUR_MS), now: () => now });
      expect(again).to.include({ outcome: 'done', metaCount: 3, alreadyRecorded: 3, recovered: 0 });
      expect(await eventsOf(p.pageId)).to.have.length(3);
    });

    it("pages through several pages of Meta's answer, following the after cursor", async () => {
      const p = await createPage();
      const now = new Date();
      const ids = Array.from({ length: 230 }, (_, i) => addMetaLead(p, new Date(now.getTime() - 2 * HOUR_MS - i * 1000)));
      const [result] = await reconcileLeads(t.app, { workspaceId, formId: p.formId, now: () => now });
      expect(result).to.include({ outcome: 'done', metaCount: 230, recovered: 230 });
      expect((await eventsOf(p.pageId)).map((e) => e.leadgen_id).sort()).to.deep.equal([...ids].sort());
      const calls = leadsCalls(p.formId);
      expect(calls.map((c) => c.query.limit)).to.deep.equal(['100', '100', '100']);
      expect(calls[0].query.after).to.equal(undefined);
      expect(calls[1].query.after).to.be.a('string');
      expect(calls[2].query.after).to.be.a('string').and.not.equal(calls[1].query.after);
      // Only ids and times: the answers are fetched lead by lead, as for a webhook.
      for (const c of calls) expect(c.query.fields.split(',')).to.not.include('field_data');
    });

    it('advances the checkpoint to the end of its window, and the next run asks only for leads created after it', async () => {
      const p = await createPage();
      const realNow = Date.now();
      const first = new Date(realNow - 3 * HOUR_MS);
      addMetaLead(p, new Date(realNow - 4 * HOUR_MS));
      const [r1] = await reconcileLeads(t.app, { workspaceId, formId: p.formId, now: () => first });
      const expectedCheckpoint = unixSeconds(new Date(first.getTime() - SETTLE_MS)) - 1;
      expect(unixSeconds(r1.checkpoint!)).to.equal(expectedCheckpoint);
      expect(JSON.parse(leadsCalls(p.formId)[0].query.filtering)).to.deep.equal([
        { field: 'time_created', operator: 'GREATER_THAN', value: unixSeconds(first) - 72 * 3600 },
        { field: 'time_created', operator: 'LESS_THAN', value: expectedCheckpoint + 1 },
      ]);

      const later = addMetaLead(p, new Date(realNow - HOUR_MS));
      const [r2] = await reconcileLeads(t.app, { workspaceId, formId: p.formId, now: () => new Date(realNow) });
      expect(r2).to.include({ outcome: 'done', metaCount: 1, alreadyRecorded: 0, recovered: 1 });
      expect(JSON.parse(leadsCalls(p.formId)[1].query.filtering)[0]).to.deep.equal({
        field: 'time_created',
        operator: 'GREATER_THAN',
        value: expectedCheckpoint,
      });
      expect((await eventsOf(p.pageId)).map((e) => e.leadgen_id)).to.include(later);
      const saved = await findCheckpoint(t.app.db, workspaceId, p.formId);
      expect(unixSeconds(saved!.last_time_created!)).to.equal(unixSeconds(new Date(realNow - SETTLE_MS)) - 1);
      expect(unixSeconds(saved!.covered_from!), 'the first run still starts the covered span').to.equal(unixSeconds(first) - 72 * 3600);
    });

    it("a throttle mid-way keeps what was listed and the checkpoint, reports Meta's wait, and the scheduled run waits for it", async () => {
      const p = await createPage();
      const now = new Date();
      // Two pages of leads: Meta throttles the second request.
      for (let i = 0; i < 150; i++) addMetaLead(p, new Date(now.getTime() - 2 * HOUR_MS - i * 1000));
      await reconcileLeads(t.app, { workspaceId, formId: p.formId, since: new Date(now.getTime() - HOUR_MS), now: () => now });
      const checkpointBefore = (await findCheckpoint(t.app.db, workspaceId, p.formId))!.last_time_created;
      expect(checkpointBefore).to.not.equal(null);

      const graphClient = t.app.graph;
      const app = {
        ...t.app,
        graph: {
          ...graphClient,
          async *listFormLeads(formId: string, token: string, opts?: Parameters<typeof graphClient.listFormLeads>[2]) {
            let n = 0;
            for await (const lead of graphClient.listFormLeads(formId, token, opts)) {
              yield lead;
              // Once the first page is read, Meta's leadgen limit is reached.
              if (++n === 100) graph.setThrottled(formId, graphFailures.leadgenThrottled(7, p.pageId));
            }
          },
        },
      };
      const [throttled] = await reconcileLeads(app, { workspaceId, formId: p.formId, since: new Date(now.getTime() - 3 * HOUR_MS), now: () => now });
      expect(throttled).to.include({ outcome: 'throttled', reason: 'graph_code_80005', metaCount: 100, recovered: 100, alreadyRecorded: 0 });
      expect(throttled.retryAfter!.getTime()).to.equal(now.getTime() + 7 * 60_000);
      expect(throttled.checkpoint).to.deep.equal(checkpointBefore);
      expect(await eventsOf(p.pageId), 'the first page is recorded').to.have.length(100);
      const saved = (await findCheckpoint(t.app.db, workspaceId, p.formId))!;
      expect([saved.last_time_created, saved.last_error]).to.deep.equal([checkpointBefore, 'graph_code_80005']);

      const callsBefore = leadsCalls(p.formId).length;
      const [scheduled] = await reconcileLeads(t.app, { workspaceId, formId: p.formId, isScheduled: true, now: () => new Date(now.getTime() + 60_000) });
      expect(scheduled).to.include({ outcome: 'throttled', reason: 'graph_code_80005' });
      expect(leadsCalls(p.formId), 'Meta is not asked while the wait lasts').to.have.length(callsBefore);

      graph.setThrottled(p.formId, null);
      const [done] = await reconcileLeads(t.app, { workspaceId, formId: p.formId, since: new Date(now.getTime() - 3 * HOUR_MS), now: () => now });
      expect(done).to.include({ outcome: 'done', metaCount: 150, alreadyRecorded: 100, recovered: 50 });
      expect((await findCheckpoint(t.app.db, workspaceId, p.formId))!).to.include({ last_error: null, retry_after: null });
    });

    it('an app-wide throttle (code 4) stops every later form; a user throttle (17) stops the rest of its page only', async () => {
      const a = await createPage();
      const a2 = String(nextForm++);
      graph.addForm({ id: a2, page_id: a.pageId, questions: [] });
      await repo.createRoute(t.app.db, { workspaceId, pageId: a.pageId, formId: a2, destinationId });
      const b = await createPage();
      const now = new Date();
      addMetaLead(a, new Date(now.getTime() - 2 * HOUR_MS));
      addMetaLead({ pageId: a.pageId, formId: a2 }, new Date(now.getTime() - 2 * HOUR_MS));
      addMetaLead(b, new Date(now.getTime() - 2 * HOUR_MS));
      const outcomes = async () => {
        const results = await reconcileLeads(t.app, { workspaceId, now: () => now });
        return [a.formId, a2, b.formId].map((f) => {
          const r = results.find((x) => x.formId === f)!;
          return [r.outcome, r.reason, r.recovered];
        });
      };
      graph.setThrottled(a.formId, graphFailures.appThrottled());
      expect(await outcomes()).to.deep.equal([
        ['throttled', 'graph_code_4', 0],
        ['throttled', 'graph_code_4', 0],
        ['throttled', 'graph_code_4', 0],
      ]);
      expect(leadsCalls(a2).length + leadsCalls(b.formId).length, 'no later form was asked').to.equal(0);
      graph.setThrottled(a.formId, graphFailures.userThrottled());
      expect(await outcomes()).to.deep.equal([
        ['throttled', 'graph_code_17', 0],
        ['throttled', 'graph_code_17', 0],
        ['done', null, 1],
      ]);
      expect(leadsCalls(a2)).to.have.length(0);
      graph.setThrottled(a.formId, null);
      // The scheduled run waits out Meta's estimate for the whole page: neither form is asked.
      const scheduled = await reconcileLeads(t.app, { workspaceId, isScheduled: true, now: () => new Date(now.getTime() + 60_000) });
      expect([a.formId, a2].map((f) => scheduled.find((r) => r.formId === f)?.outcome)).to.deep.equal(['throttled', 'throttled']);
      expect(leadsCalls(a.formId).length + leadsCalls(a2).length, 'calls so far: the two throttled ones of a').to.equal(2);
    });

    it("a checkpoint older than Meta's ~90 days restarts at 90 days and still advances", async () => {
      const p = await createPage();
      const now = new Date();
      await t.app.db
        .insertInto('reconcile_checkpoints')
        .values({ workspace_id: workspaceId, form_id: p.formId, page_id: p.pageId, last_time_created: new Date(now.getTime() - 100 * 24 * HOUR_MS) })
        .execute();
      const lead = addMetaLead(p, new Date(now.getTime() - 80 * 24 * HOUR_MS));
      const [r] = await reconcileLeads(t.app, { workspaceId, formId: p.formId, now: () => now });
      expect(r).to.include({ outcome: 'done', recovered: 1 });
      expect(JSON.parse(leadsCalls(p.formId)[0].query.filtering)[0].value).to.equal(Math.ceil((now.getTime() - 90 * 24 * HOUR_MS) / 1000));
      expect(unixSeconds(r.checkpoint!)).to.equal(unixSeconds(new Date(now.getTime() - SETTLE_MS)) - 1);
      expect((await eventsOf(p.pageId)).map((e) => e.leadgen_id)).to.deep.equal([lead]);
    });

    it('compares the forms Meta lists for a page-level route, though no webhook named them (not drafts, not forms without leads)', async () => {
      // p.formId: a form Meta reports no lead for.
      const p = await createPage({ route: 'page' });
      const silent = String(nextForm++);
      const draft = String(nextForm++);
      graph.addForm({ id: silent, page_id: p.pageId, questions: [] });
      graph.addForm({ id: draft, page_id: p.pageId, status: 'DRAFT', questions: [] });
      const now = new Date();
      const lead = addMetaLead({ pageId: p.pageId, formId: silent }, new Date(now.getTime() - 2 * HOUR_MS));
      const results = await reconcileLeads(t.app, { workspaceId, now: () => now });
      const ofPage = results.filter((r) => r.pageId === p.pageId);
      expect(ofPage.map((r) => [r.formId, r.outcome, r.recovered])).to.deep.equal([[silent, 'done', 1]]);
      expect((await eventsOf(p.pageId)).map((e) => [e.leadgen_id, e.form_id])).to.deep.equal([[lead, silent]]);
      expect(leadsCalls(draft)).to.have.length(0);
      expect(leadsCalls(p.formId)).to.have.length(0);
    });

    it('also compares a form without a route whose leads a webhook brought, and finds a form asked for by id', async () => {
      const p = await createPage({ route: 'none' });
      const now = new Date();
      await recordWebhook(p, newLeadgenId(), new Date(now.getTime() - 5 * HOUR_MS));
      const lost = addMetaLead(p, new Date(now.getTime() - 4 * HOUR_MS));
      const results = await reconcileLeads(t.app, { workspaceId, now: () => now });
      expect(results.find((r) => r.formId === p.formId)).to.include({ recovered: 1 });
      expect((await eventsOf(p.pageId)).map((e) => e.leadgen_id)).to.include(lost);

      const q = await createPage({ route: 'none' });
      addMetaLead(q, new Date(now.getTime() - 4 * HOUR_MS));
      const r = await runReconciliation(t.app, { workspaceId, formId: q.formId }, cliFieldNamer({ form_id: '--form' }), now);
      expect(r.forms.map((f) => [f.form_id, f.recovered])).to.deep.equal([[q.formId, 1]]);
      const unknown = runReconciliation(t.app, { workspaceId, formId: '99999999' }, cliFieldNamer({ form_id: '--form' }), now);
      await unknown.then(
        () => expect.fail('an unknown form'),
        (err: unknown) => expect(err).to.be.instanceOf(NotFoundError),
      );
    });

    it('a dead page token marks the page for re-authorisation and skips its other forms, keeping their checkpoints', async () => {
      const p = await createPage();
      const other = String(nextForm++);
      graph.addForm({ id: other, page_id: p.pageId, questions: [] });
      await repo.createRoute(t.app.db, { workspaceId, pageId: p.pageId, formId: other, destinationId });
      graph.revokeToken(p.token);
      const now = new Date();
      const results = (await reconcileLeads(t.app, { workspaceId, now: () => now })).filter((r) => r.pageId === p.pageId);
      expect(results.map((r) => [r.outcome, r.reason])).to.deep.equal([
        ['failed', 'graph_code_190_460'],
        ['skipped', 'page_needs_reauth'],
      ]);
      expect((await repo.findPageByPageId(t.app.db, p.pageId))!.status).to.equal('needs_reauth');
      expect((await findCheckpoint(t.app.db, workspaceId, other))!.last_error, 'the skipped form says why').to.equal('page_needs_reauth');
      const again = (await reconcileLeads(t.app, { workspaceId, now: () => now })).filter((r) => r.pageId === p.pageId);
      expect(again.map((r) => [r.outcome, r.reason])).to.deep.equal([
        ['skipped', 'page_needs_reauth'],
        ['skipped', 'page_needs_reauth'],
      ]);
    });

    it('leaves out a disconnected page and a workspace being deleted: Graph is not asked about their forms', async () => {
      const disconnected = await createPage();
      const now = new Date();
      addMetaLead(disconnected, new Date(now.getTime() - 2 * HOUR_MS));
      await t.app.db.updateTable('pages').set({ token_envelope: null, status: 'disconnected' }).where('page_id', '=', disconnected.pageId).execute();
      const doomed = (await repo.createWorkspace(t.app.db, 'Being deleted')).id;
      const doomedPage = String(nextPage++);
      const doomedForm = String(nextForm++);
      graph.setPageToken(doomedPage, `EAAB-reconcile-${doomedPage}`, 'Doomed');
      graph.addForm({ id: doomedForm, page_id: doomedPage, questions: [{ key: 'email', type: 'EMAIL' }] });
      await repo.upsertPage(t.app.db, {
        workspaceId: doomed,
        pageId: doomedPage,
        name: null,
        tokenEnvelope: t.app.keyRing.encrypt(`EAAB-reconcile-${doomedPage}`, pageTokenAad(doomedPage)),
      });
      const hook = await repo.createDestination(t.app.db, {
        workspaceId: doomed,
        type: 'webhook',
        name: 'hook',
        config: { url: receiver.url },
        credentialsEnvelope: null,
      });
      await repo.createRoute(t.app.db, { workspaceId: doomed, pageId: doomedPage, formId: doomedForm, destinationId: hook.id });
      addMetaLead({ pageId: doomedPage, formId: doomedForm }, new Date(now.getTime() - 2 * HOUR_MS));
      await t.app.db.updateTable('workspaces').set({ deletion_requested_at: now }).where('id', '=', doomed).execute();
      const reachable = await createPage();
      addMetaLead(reachable, new Date(now.getTime() - 2 * HOUR_MS));

      const results = await reconcileLeads(t.app, { now: () => now });
      const forms = results.map((r) => r.formId);
      expect(forms).to.include(reachable.formId);
      expect(forms).to.not.include.members([disconnected.formId]);
      expect(forms).to.not.include(doomedForm);
      expect(leadsCalls(disconnected.formId)).to.have.length(0);
      expect(leadsCalls(doomedForm)).to.have.length(0);
      expect(await eventsOf(disconnected.pageId)).to.have.length(0);
    });

    it('a webhook that comes after reconciliation recorded its lead is a no-op', async () => {
      const p = await createPage();
      const now = new Date();
      const created = new Date(now.getTime() - 2 * HOUR_MS);
      const id = addMetaLead(p, created);
      await reconcileLeads(t.app, { workspaceId, formId: p.formId, now: () => now });
      let hookCalls = 0;
      const batcher = new IntakeBatcher(t.app.db, { maxRows: 100, onRecorded: () => hookCalls++ });
      const fresh = await batcher.record([
        { pageId: p.pageId, leadgenId: id, formId: p.formId, adId: null, adgroupId: null, createdTime: created, isTest: false },
      ]);
      expect(fresh).to.deep.equal([]);
      expect(hookCalls, 'nothing is queued').to.equal(0);
      expect((await eventsOf(p.pageId)).map((e) => [e.leadgen_id, e.source])).to.deep.equal([[id, 'reconciliation']]);
    });

    it('refuses a since that is not a time, or in the future, naming the field', async () => {
      for (const since of ['yesterday', String(Math.floor(Date.now() / 1000) + 3600)]) {
        const err = await runReconciliation(t.app, { workspaceId, since }, cliFieldNamer()).then(
          () => expect.fail(`since ${since}`),
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(InvalidInputError);
        expect((err as InvalidInputError).issues[0].field).to.equal('--since');
      }
    });

    describe('per-day numbers, with the workers delivering', () => {
      let workers: RunningWorkers;
      before(() => {
        workers = startWorkers(t.app);
      });
      after(async () => {
        await workers?.close();
      });

      it('per form and UTC day: Meta says N, recorded N (recovered N), delivered N; a complete day is marked', async () => {
        const p = await createPage();
        const now = new Date();
        const dayOf = (daysAgo: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - daysAgo, 12));
        const twoDaysAgo = dayOf(2);
        const yesterday = dayOf(1);
        const viaWebhook = addMetaLead(p, twoDaysAgo);
        const [eventId] = await recordWebhook(p, viaWebhook, twoDaysAgo);
        await t.app.queues.enqueueFetchBatch([eventId]);
        const lost = [addMetaLead(p, new Date(twoDaysAgo.getTime() + 1000)), addMetaLead(p, new Date(twoDaysAgo.getTime() + 2000)), addMetaLead(p, yesterday)];

        const [result] = await reconcileLeads(t.app, { workspaceId, formId: p.formId, now: () => now });
        expect(result).to.include({ metaCount: 4, alreadyRecorded: 1, recovered: 3 });
        await receiver.waitFor((r) => [viaWebhook, ...lost].every((id) => r.received.some((x) => x.body?.leadgen_id === id && isAccepted(x))), 60_000);
        // Each lead exactly once at the destination.
        for (const id of [viaWebhook, ...lost]) expect(receiver.received.filter((x) => x.body?.leadgen_id === id && isAccepted(x))).to.have.length(1);

        const view = await waitUntil(
          async () => {
            const v = await describeReconciliation(t.app, workspaceId, { formId: p.formId, days: 3 }, now);
            // The receiver's acceptance comes before the delivery row says delivered: wait for both days.
            const delivered = (d: Date) => v.forms[0]?.days.find((x) => x.day === d.toISOString().slice(0, 10))?.delivered;
            return delivered(twoDaysAgo) === 3 && delivered(yesterday) === 1 ? v : undefined;
          },
          60_000,
          'the deliveries counted',
        );
        const [form] = view.forms;
        expect(form).to.include({ page_id: p.pageId, form_id: p.formId, last_error: null });
        expect(form.checkpoint).to.equal(new Date((unixSeconds(new Date(now.getTime() - SETTLE_MS)) - 1) * 1000).toISOString());
        expect(form.days.map((d) => d.day)).to.deep.equal([dayOf(0), yesterday, twoDaysAgo].map((d) => d.toISOString().slice(0, 10)));
        const [today, day1, day2] = form.days;
        expect(day2).to.deep.equal({ day: day2.day, meta_count: 3, is_complete: true, recorded: 3, recovered: 2, delivered: 3 });
        expect(day1).to.include({ meta_count: 1, recorded: 1, recovered: 1, delivered: 1 });
        expect(today).to.include({ recorded: 0, recovered: 0, delivered: 0, is_complete: false });
      });
    });

    describe('a page whose workspace was purged, with the workers delivering', () => {
      let workers: RunningWorkers;
      before(() => {
        workers = startWorkers(t.app);
      });
      after(async () => {
        await workers?.close();
      });

      const deliveredTo = (leadgenId: string) => receiver.received.filter((x) => x.body?.leadgen_id === leadgenId && isAccepted(x));

      it('connected to another workspace, its leads from before the purge are not recorded again, even for a since before it; a later lead is', async () => {
        // The purged workspace had the page, reconciled its leads and delivered them.
        const gone = (await repo.createWorkspace(t.app.db, 'Purged')).id;
        const goneHook = await repo.createDestination(t.app.db, {
          workspaceId: gone,
          type: 'webhook',
          name: 'hook',
          config: { url: receiver.url },
          credentialsEnvelope: null,
        });
        const pageId = String(nextPage++);
        const formId = String(nextForm++);
        const token = `EAAB-reconcile-${pageId}`;
        const p = { pageId, formId };
        graph.setPageToken(pageId, token, `Page ${pageId}`);
        graph.addForm({ id: formId, page_id: pageId, questions: [{ key: 'email', type: 'EMAIL' }] });
        const connect = (ws: string) =>
          repo.upsertPage(t.app.db, { workspaceId: ws, pageId, name: null, tokenEnvelope: t.app.keyRing.encrypt(token, pageTokenAad(pageId)) });
        await connect(gone);
        await repo.createRoute(t.app.db, { workspaceId: gone, pageId, formId, destinationId: goneHook.id });
        const start = new Date();
        const old = [addMetaLead(p, new Date(start.getTime() - 5 * HOUR_MS)), addMetaLead(p, new Date(start.getTime() - 4 * HOUR_MS))];
        const [first] = await reconcileLeads(t.app, { workspaceId: gone, formId, now: () => start });
        expect(first).to.include({ outcome: 'done', recovered: 2 });
        await waitUntil(
          async () => {
            const rows = await t.app.db.selectFrom('deliveries').select('status').where('workspace_id', '=', gone).execute();
            return rows.length === 2 && rows.every((r) => r.status === 'delivered');
          },
          60_000,
          "the purged workspace's deliveries",
        );
        for (const id of old) expect(deliveredTo(id)).to.have.length(1);

        await requestWorkspaceDeletion(t.app, gone, { actor: { type: 'operator', id: null, label: 'test' } });
        await endGracePeriod(t.app.db, gone);
        const purgeStart = Date.now();
        expect(await purgeWorkspace(t.app, gone)).to.equal(true);
        const purgedAt = Date.now();
        expect(await eventsOf(pageId), 'the purge took the events').to.have.length(0);

        // The page is connected to another workspace; Meta still lists the old leads, and a new one.
        await connect(workspaceId);
        await repo.createRoute(t.app.db, { workspaceId, pageId, formId, destinationId });
        const later = addMetaLead(p, new Date(purgedAt + 60_000));
        const now = new Date(purgedAt + 2 * HOUR_MS);
        const [scheduled] = await reconcileLeads(t.app, { workspaceId, formId, isScheduled: true, now: () => now });
        expect(scheduled).to.include({ outcome: 'done', metaCount: 1, alreadyRecorded: 0, recovered: 1 });
        expect(scheduled.after!.getTime(), 'the window starts at the purge').to.be.within(purgeStart - 1000, purgedAt);
        const [asked] = await reconcileLeads(t.app, { workspaceId, formId, since: new Date(start.getTime() - 6 * HOUR_MS), now: () => now });
        expect(asked).to.include({ outcome: 'done', metaCount: 1, alreadyRecorded: 1, recovered: 0 });
        expect(asked.after).to.deep.equal(scheduled.after);
        expect((await eventsOf(pageId)).map((e) => e.leadgen_id)).to.deep.equal([later]);

        await receiver.waitFor(() => deliveredTo(later).length === 1, 60_000);
        for (const id of old) expect(deliveredTo(id), 'delivered once, by the purged workspace').to.have.length(1);
      });
    });

    it('the scheduled run takes a lease for its interval: a second process does not run it', async () => {
      await t.app.db.deleteFrom('leases').where('name', '=', RECONCILE_LEASE).execute();
      expect(await runLockedReconciliation(t.app, 60_000)).to.be.an('array');
      expect(await leaseRemainingMs(t.app.db, RECONCILE_LEASE)).to.be.greaterThan(50_000);
      expect(await runLockedReconciliation(t.app, 60_000), 'the lease is held').to.equal(null);

      await t.app.db.deleteFrom('leases').where('name', '=', RECONCILE_LEASE).execute();
      const p = await createPage();
      const lost = addMetaLead(p, new Date(Date.now() - 2 * HOUR_MS));
      const schedule = startReconciliation(t.app, { intervalMs: 60_000, initialDelayMs: 0 });
      try {
        await waitUntil(
          async () => (await eventsOf(p.pageId)).some((e) => e.leadgen_id === lost && e.source === 'reconciliation'),
          20_000,
          'the scheduled run',
        );
      } finally {
        await schedule.stop();
      }
    });
  });
