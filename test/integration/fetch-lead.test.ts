// The fetch step (fetchLeadForEvent) on the real PostgreSQL against the fake Graph API: the
// configuration it keeps in memory (src/pipeline/config-cache.ts) follows every change another
// process commits, a new lead is stored in one statement, and a form is written only when it changed.
import { expect } from 'chai';
import { type Kysely, sql } from 'kysely';
import { type App, createApp, createLeadStore } from '../../src/app.js';
import { ConfigCache } from '../../src/pipeline/config-cache.js';
import { fetchLeadForEvent } from '../../src/pipeline/fetch-lead.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import type { Db } from '../../src/store/db.js';
import { markPageDisconnected } from '../../src/store/disconnects.js';
import * as repo from '../../src/store/repos.js';
import type { Database, Destination, Route } from '../../src/store/schema.js';
import { markWorkspaceDeleted, unmarkWorkspaceDeleted } from '../../src/store/workspace-deletion.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { TEST_APP_SECRET } from '../helpers/e2e.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const FORM = '870000001';
const QUESTIONS = [
  { key: 'email', label: 'Email', type: 'EMAIL' },
  {
    key: 'budget',
    label: 'Budget',
    type: 'CUSTOM',
    options: [
      { key: 'low', value: 'Under 1k' },
      { key: 'high', value: '1k or more' },
    ],
  },
];

let nextPage = 880_000_000;
let nextLeadgen = 8_900_000_000_000_000_000n;

/** The same database through a Kysely that counts the statements it sends. */
function countingDb(db: Db): { db: Db; count: () => number } {
  let n = 0;
  const counted = (db as Kysely<Database>).withPlugin({
    transformQuery: (args) => {
      n++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  });
  return { db: counted as Db, count: () => n };
}

describe('fetch step: cached configuration, one statement per new lead, forms written on change', function () {
  this.timeout(60_000);
  let t: TestApp;
  /** Another process on the same database: the configuration changes come from it. */
  let other: App;
  let graph: FakeGraph;
  let workspaceId: string;
  let destination: Destination;
  let route: Route;
  let pageId: string;

  before(async () => {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    t = await createTestApp({ env: { META_GRAPH_URL: graph.url } });
    other = await createApp(t.config, { migrate: false, withQueues: false });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Fetch')).id;
    destination = await repo.createDestination(t.app.db, {
      workspaceId,
      type: 'webhook',
      name: 'hook',
      config: { url: 'http://127.0.0.1:9/' },
      credentialsEnvelope: null,
    });
  });
  after(async () => {
    await other?.close();
    await t?.cleanup();
    await graph?.close();
  });

  beforeEach(async () => {
    pageId = String(nextPage++);
    const token = `EAAB-fetch-${pageId}`;
    graph.setPageToken(pageId, token, 'Fetch Page');
    graph.addForm({ id: FORM, page_id: pageId, name: 'Fetch form', questions: QUESTIONS });
    await registerPage(t.app, token);
    route = await repo.createRoute(t.app.db, { workspaceId, pageId, formId: null, destinationId: destination.id });
  });

  async function registerPage(app: App, token: string) {
    await repo.upsertPage(app.db, { workspaceId, pageId, name: 'Fetch Page', tokenEnvelope: app.keyRing.encrypt(token, pageTokenAad(pageId)) });
  }

  /** A lead at the fake Graph and its webhook event; returns the event id and leadgen id. */
  async function newEvent(leadgenId = String(nextLeadgen++)): Promise<{ eventId: number; leadgenId: string }> {
    graph.addLead({ id: leadgenId, form_id: FORM, page_id: pageId, field_data: [{ name: 'email', values: [`l${leadgenId}@example.com`] }] });
    const [event] = await repo.recordLeadgenEvents(t.app.db, [
      { pageId, leadgenId, formId: FORM, adId: null, adgroupId: null, createdTime: null, isTest: false },
    ]);
    return { eventId: event!.id, leadgenId };
  }

  async function fetchNew(app: App = t.app) {
    const { eventId, leadgenId } = await newEvent();
    const outcome = await fetchLeadForEvent(app, eventId);
    const event = (await repo.findEvent(t.app.db, eventId))!;
    const lead = await t.app.db.selectFrom('leads').selectAll().where('leadgen_id', '=', leadgenId).executeTakeFirst();
    const deliveries = lead ? await repo.listDeliveriesOfLead(t.app.db, lead.id) : [];
    return { outcome, event, lead, deliveries };
  }

  it('stores a new lead of a known page and form in two statements: its event, then the lead with its index, deliveries and event status', async () => {
    // The first lead stores the form (a configuration change); the second reads the configuration under the new counter.
    await fetchNew();
    await fetchNew();
    const spy = countingDb(t.app.db);
    const { outcome, event, lead, deliveries } = await fetchNew({ ...t.app, db: spy.db, leadStore: createLeadStore(spy.db) });
    expect(spy.count()).to.equal(2);
    expect(outcome).to.deep.equal({ type: 'done', detail: 'fetched:1' });
    expect(event.status).to.equal('fetched');
    expect(event.workspace_id).to.equal(workspaceId);
    expect(lead?.status).to.equal('routed');
    expect(lead?.event_id).to.equal(event.id);
    expect(lead?.search_kid).to.equal(t.app.keyRing.primaryKid);
    expect(deliveries.map((d) => [d.destination_id, d.route_id, d.status])).to.deep.equal([[destination.id, route.id, 'pending']]);
    const search = await t.app.db.selectFrom('lead_search').select(['kind', 'workspace_id']).where('lead_id', '=', lead!.id).execute();
    expect(search).to.deep.equal([{ kind: 'email', workspace_id: workspaceId }]);
  });

  it('a route disabled, deleted or added in another process decides the very next lead', async () => {
    expect((await fetchNew()).deliveries).to.have.length(1);
    await repo.updateRoute(other.db, route.id, { isEnabled: false });
    const unrouted = await fetchNew();
    expect(unrouted.lead?.status).to.equal('unrouted');
    expect(unrouted.deliveries).to.deep.equal([]);
    await repo.updateRoute(other.db, route.id, { isEnabled: true });
    expect((await fetchNew()).deliveries.map((d) => d.route_id)).to.deep.equal([route.id]);
    const added = await repo.createRoute(other.db, { workspaceId, pageId, formId: FORM, destinationId: destination.id });
    await other.db.deleteFrom('routes').where('id', '=', route.id).execute();
    expect((await fetchNew()).deliveries.map((d) => d.route_id)).to.deep.equal([added.id]);
  });

  it('a page disconnected or a workspace being deleted in another process parks the very next lead; reconnecting and restoring resume', async () => {
    expect((await fetchNew()).event.status).to.equal('fetched');
    const page = (await repo.findPageByPageId(other.db, pageId))!;
    await markPageDisconnected(other.db, page.id, 'disconnected_by_user');
    const parked = await fetchNew();
    expect([parked.event.status, parked.event.status_reason, parked.lead]).to.deep.equal(['parked', 'page_disconnected', undefined]);
    await registerPage(other, `EAAB-fetch-${pageId}`);
    expect((await fetchNew()).event.status).to.equal('fetched');

    await markWorkspaceDeleted(other.db, workspaceId, new Date(Date.now() + 86_400_000));
    try {
      const deleting = await fetchNew();
      expect([deleting.event.status, deleting.event.status_reason, deleting.lead]).to.deep.equal(['parked', 'workspace_deleted', undefined]);
    } finally {
      expect(await unmarkWorkspaceDeleted(other.db, workspaceId)).to.equal(true);
    }
    expect((await fetchNew()).event.status).to.equal('fetched');
  });

  it('writes a form when it is new or Graph gives it changed, not for every lead', async () => {
    const formRow = () => readFormRow(t.app.db, workspaceId, FORM);
    await fetchNew();
    const first = await formRow();
    expect(first?.name).to.equal('Fetch form');
    expect(first?.questions.map((q) => q.key)).to.deep.equal(['email', 'budget']);
    await fetchNew();
    expect((await formRow())?.xmin, 'the unchanged form was not written again').to.equal(first?.xmin);

    // Another process reads the form from Graph after it changed (its form cache is its own).
    graph.addForm({ id: FORM, page_id: pageId, name: 'Fetch form v2', questions: QUESTIONS });
    await fetchNew({ ...other, queues: t.app.queues });
    const changed = await formRow();
    expect(changed?.name).to.equal('Fetch form v2');
    expect(changed?.xmin).to.not.equal(first?.xmin);
  });

  it('fetches a lead stored already (its first event pruned) without a second row, adding the delivery of a route made since', async () => {
    const first = await fetchNew();
    await t.app.db.deleteFrom('leadgen_events').where('id', '=', first.event.id).execute();
    const second = await repo.createDestination(t.app.db, {
      workspaceId,
      type: 'webhook',
      name: 'hook 2',
      config: { url: 'http://127.0.0.1:9/' },
      credentialsEnvelope: null,
    });
    const added = await repo.createRoute(t.app.db, { workspaceId, pageId, formId: null, destinationId: second.id });
    const { eventId } = await newEvent(first.lead!.leadgen_id);
    expect(await fetchLeadForEvent(t.app, eventId)).to.deep.equal({ type: 'done', detail: 'fetched:2' });
    const leads = await t.app.db.selectFrom('leads').select('id').where('leadgen_id', '=', first.lead!.leadgen_id).execute();
    expect(leads.map((l) => l.id)).to.deep.equal([first.lead!.id]);
    const deliveries = await repo.listDeliveriesOfLead(t.app.db, first.lead!.id);
    expect(deliveries.map((d) => d.route_id).sort()).to.deep.equal([route.id, added.id].sort());
    expect((await repo.findEvent(t.app.db, eventId))?.status).to.equal('fetched');
  });

  describe('ConfigCache', () => {
    it('reads a row once per counter value, and again under any other value, a lower one too', async () => {
      const cache = new ConfigCache();
      const spy = countingDb(t.app.db);
      expect((await cache.page(spy.db, 5, pageId))?.page_id).to.equal(pageId);
      await cache.page(spy.db, 5, pageId);
      expect(spy.count()).to.equal(1);
      await cache.page(spy.db, 6, pageId);
      await cache.page(spy.db, 6, pageId);
      expect([spy.count(), cache.version]).to.deep.equal([2, 6]);
      await cache.page(spy.db, 2, pageId); // e.g. a database restored from a backup
      expect([spy.count(), cache.version]).to.deep.equal([3, 2]);
    });

    it('does not keep a read made under a counter value another job has moved the cache off meanwhile', async () => {
      const cache = new ConfigCache();
      const spy = countingDb(t.app.db);
      const [first] = await Promise.all([cache.routesFor(spy.db, 7, workspaceId, pageId, FORM), cache.page(spy.db, 8, pageId)]);
      expect(first.map((r) => r.id)).to.deep.equal([route.id]);
      expect(cache.version).to.equal(8);
      await cache.routesFor(spy.db, 8, workspaceId, pageId, FORM);
      expect(spy.count(), 'the routes read under 7 were read again under 8').to.equal(3);
    });

    it('sees the counter move once per committed configuration transaction, not for a lead', async () => {
      const version = async () => (await repo.findEventForFetch(t.app.db, (await newEvent()).eventId))!.configVersion;
      await fetchNew(); // stores the form if this page's Graph form differs from the stored one
      const before = await version();
      await t.app.db.transaction().execute(async (trx) => {
        await repo.updateRoute(trx, route.id, { isEnabled: false });
        await repo.updateRoute(trx, route.id, { isEnabled: true });
        await repo.setPageStatus(trx, pageId, 'active', null);
      });
      expect(await version()).to.equal(before + 1);
      await fetchNew();
      expect(await version()).to.equal(before + 1);
    });
  });
});

/** The stored form, with the id of the transaction that last wrote it (xmin). */
async function readFormRow(db: Db, workspaceId: string, formId: string) {
  const row = await db
    .selectFrom('forms')
    .select(['name', 'questions', sql<string>`xmin::text`.as('xmin')])
    .where('workspace_id', '=', workspaceId)
    .where('form_id', '=', formId)
    .executeTakeFirst();
  return row && { ...row, questions: row.questions as { key: string; label: string }[] };
}
