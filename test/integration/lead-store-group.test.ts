// Fetched leads stored, and delivered outcomes recorded, several to a statement
// (src/store/fetched-leads.ts, delivered-outcomes.ts) through the process's group commits
// (src/store/group-commit.ts), on the real PostgreSQL: each lead keeps its own deliveries, index
// rows and event status; a lead stored already gets null; a lead whose event Meta's
// data-deletion callback erased (before the statement, or while it waits for the event) gets null
// and leaves no row; an outcome is written only under its own claim; rows that arrive while statements are
// in flight share the next one; one lead that cannot be stored fails alone.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { createDeliveredStore, createLeadStore } from '../../src/app.js';
import { type DeliveredOutcome, writeDeliveredOutcomes } from '../../src/store/delivered-outcomes.js';
import { eraseFacebookUserLeads, recordFacebookTestLead } from '../../src/store/facebook-user-data.js';
import { type FetchedLeadRows, type StoredLead, storeFetchedLeads } from '../../src/store/fetched-leads.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import * as repo from '../../src/store/repos.js';
import type { Destination } from '../../src/store/schema.js';
import { makeBareLeadRow, waitingForLockOrDone } from '../helpers/rows.js';
import { openTestDb } from '../helpers/test-db.js';

type TestDb = Awaited<ReturnType<typeof openTestDb>>;

let nextLeadgen = 9_310_000_000_000_000_000n;
const PAGE = '931000001';
/** A second page of the workspace: a repeated leadgen id gets an event of its own there. */
const OTHER_PAGE = '931000002';

describe('storing fetched leads several to a statement', function () {
  this.timeout(30_000);
  let db: TestDb;
  let workspaceId: string;
  let hook: Destination;
  let crm: Destination;
  let routeId: string;

  before(async () => {
    db = await openTestDb();
    workspaceId = (await repo.createWorkspace(db.db, 'Grouped')).id;
    for (const pageId of [PAGE, OTHER_PAGE]) await repo.upsertPage(db.db, { workspaceId, pageId, name: 'Grouped Page', tokenEnvelope: 'not-read-here' });
    const destination = (name: string) =>
      repo.createDestination(db.db, { workspaceId, type: 'webhook', name, config: { url: 'https://example.com/hook' }, credentialsEnvelope: null });
    hook = await destination('hook');
    crm = await destination('second');
    routeId = (await repo.createRoute(db.db, { workspaceId, pageId: PAGE, formId: null, destinationId: hook.id })).id;
  });
  after(async () => {
    await db?.close();
  });

  /** A received event and what the fetch step would store for it. */
  async function fetched(opts: { leadgenId?: string; pageId?: string; destinations?: string[]; claimedBy?: string } = {}): Promise<FetchedLeadRows> {
    const leadgenId = opts.leadgenId ?? String(nextLeadgen++);
    const pageId = opts.pageId ?? PAGE;
    const [event] = await repo.recordLeadgenEvents(db.db, [{ pageId, leadgenId, formId: null, adId: null, adgroupId: null, createdTime: null, isTest: false }]);
    return {
      lead: { ...makeBareLeadRow(workspaceId, leadgenId, pageId), id: randomUUID(), status: 'routed', search_kid: 'k1', event_id: event.id },
      search: [{ kind: 'email', hash: `h-${leadgenId}` }],
      deliveries: (opts.destinations ?? [hook.id]).map((destinationId) => ({ destinationId, routeId, claimedBy: opts.claimedBy ?? null })),
      claimedUntil: opts.claimedBy ? new Date(Date.now() + 30_000) : null,
    };
  }
  const eventStatus = async (id: number) => (await repo.findEvent(db.db, id))?.status;
  /** The transaction id that wrote each lead. */
  const writersOf = async (leadIds: string[]) => {
    const { rows } = await db.pool.query<{ id: string; xid: string }>('select id, xmin::text as xid from leads where id = any($1::uuid[])', [leadIds]);
    return new Map(rows.map((r) => [r.id, r.xid]));
  };

  it('stores each lead of one statement with its own deliveries, index rows and event status', async () => {
    const claim = randomUUID();
    const items = [await fetched({ destinations: [hook.id, crm.id] }), await fetched({ claimedBy: claim }), await fetched()];
    const results = await storeFetchedLeads(db.db, items);

    expect(results.map((r) => r?.deliveries.length)).to.deep.equal([2, 1, 1]);
    results.forEach((r, i) => {
      for (const d of r?.deliveries ?? []) expect(d.lead_id).to.equal(items[i].lead.id);
    });
    expect(results[0]?.deliveries.map((d) => d.destination_id).sort()).to.deep.equal([hook.id, crm.id].sort());
    expect(results[1]?.deliveries[0]).to.include({ claimed_by: claim });
    expect(results[2]?.deliveries[0]).to.include({ claimed_by: null });
    for (const item of items) {
      const stored = await repo.listDeliveriesOfLead(db.db, item.lead.id);
      expect(stored.map((d) => d.lead_id)).to.have.length(item.deliveries.length);
      const search = await db.db.selectFrom('lead_search').select('hash').where('lead_id', '=', item.lead.id).execute();
      expect(search.map((s) => s.hash)).to.deep.equal([item.search[0].hash]);
      expect(await eventStatus(item.lead.event_id)).to.equal('fetched');
    }
    const writers = await writersOf(items.map((i) => i.lead.id));
    expect(new Set(writers.values()).size, 'one transaction').to.equal(1);
  });

  it('gives null for a lead stored already, by an earlier statement or earlier in the same one, and writes nothing for it', async () => {
    const first = await fetched();
    expect(await storeFetchedLeads(db.db, [first])).to.have.length(1);
    const again = await fetched({ leadgenId: first.lead.leadgen_id, pageId: OTHER_PAGE });
    const twin = String(nextLeadgen++);
    const [a, b] = [await fetched({ leadgenId: twin }), await fetched({ leadgenId: twin, pageId: OTHER_PAGE })];
    const results = await storeFetchedLeads(db.db, [again, a, b]);

    expect(results[0]).to.equal(null);
    expect(results[1]?.deliveries).to.have.length(1);
    expect(results[2]).to.equal(null);
    expect(await repo.listDeliveriesOfLead(db.db, again.lead.id)).to.deep.equal([]);
    expect(await repo.listDeliveriesOfLead(db.db, b.lead.id)).to.deep.equal([]);
    expect(await eventStatus(a.lead.event_id)).to.equal('fetched');
    expect(await eventStatus(b.lead.event_id)).to.equal('received');
    expect(await eventStatus(again.lead.event_id)).to.equal('received');
  });

  describe('a lead whose Facebook user asked Meta to delete their data', () => {
    let nextFbUser = 10_000_000_000_901;
    /** Ties the item's lead to a new Facebook user (a test lead made with their page token), and returns the user id. */
    const tieToFacebookUser = async (item: FetchedLeadRows) => {
      const fbUserId = String(nextFbUser++);
      await recordFacebookTestLead(db.db, { workspaceId, pageId: item.lead.page_id, leadgenId: item.lead.leadgen_id, fbUserId });
      return fbUserId;
    };
    const searchRowsOf = (leadId: string) => db.db.selectFrom('lead_search').select('hash').where('lead_id', '=', leadId).execute();

    it('gives null and stores no lead, index row or delivery when the data-deletion request came first, and leaves its event erased', async () => {
      const [tied, other] = [await fetched(), await fetched()];
      const erased = await eraseFacebookUserLeads(db.db, await tieToFacebookUser(tied), new Date());
      expect(erased).to.deep.equal({ erased: [], unfetched: [{ workspace_id: workspaceId }] });
      expect(await eventStatus(tied.lead.event_id)).to.equal('erased');

      const results = await storeFetchedLeads(db.db, [tied, other]);
      expect(results[0]).to.equal(null);
      expect(results[1]?.deliveries).to.have.length(1);
      expect((await writersOf([tied.lead.id])).size).to.equal(0);
      expect(await searchRowsOf(tied.lead.id)).to.deep.equal([]);
      expect(await repo.listDeliveriesOfLead(db.db, tied.lead.id)).to.deep.equal([]);
      expect(await eventStatus(tied.lead.event_id)).to.equal('erased');
      expect(await eventStatus(other.lead.event_id)).to.equal('fetched');
    });

    it('gives null and leaves no lead, index row or delivery when the data-deletion request commits while the statement waits for the event', async () => {
      const tied = await fetched({ claimedBy: randomUUID() });
      const fbUserId = await tieToFacebookUser(tied);
      let storing: Promise<StoredLead[]> | undefined;
      await db.db.transaction().execute(async (trx) => {
        await eraseFacebookUserLeads(trx, fbUserId, new Date());
        storing = storeFetchedLeads(db.db, [tied]);
        await waitingForLockOrDone(db.db, 'new_lead', storing);
      });
      const [result] = await (storing as Promise<StoredLead[]>);

      expect(result).to.equal(null);
      expect((await writersOf([tied.lead.id])).size).to.equal(0);
      expect(await searchRowsOf(tied.lead.id)).to.deep.equal([]);
      expect(await repo.listDeliveriesOfLead(db.db, tied.lead.id)).to.deep.equal([]);
      expect(await eventStatus(tied.lead.event_id)).to.equal('erased');
    });
  });

  it('puts the leads submitted while two statements are in flight into the next statement together', async () => {
    const store = createLeadStore(db.db);
    const items = await Promise.all(Array.from({ length: 12 }, () => fetched()));
    const firstTwo = [store.submit(items[0]), store.submit(items[1])];
    // Let the two statements go out before the rest arrive.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const rest = items.slice(2).map((item) => store.submit(item));
    expect(store.pendingWeight).to.equal(10);
    const results = await Promise.all([...firstTwo, ...rest]);
    expect(results.every((r) => r?.deliveries.length === 1)).to.equal(true);

    const writers = await writersOf(items.map((i) => i.lead.id));
    const restWriters = new Set(items.slice(2).map((i) => writers.get(i.lead.id)));
    expect(restWriters.size, 'the ten later leads in one statement').to.equal(1);
    expect(restWriters.has(writers.get(items[0].lead.id))).to.equal(false);
  });

  it('fails only the lead that cannot be stored when its statement held others', async () => {
    const store = new GroupCommit((items: FetchedLeadRows[]) => storeFetchedLeads(db.db, items), { maxWeight: 50, maxInFlight: 1, isolateFailures: true });
    const good = await Promise.all([fetched(), fetched()]);
    // A destination that does not exist: its delivery row breaks the statement's foreign key.
    const bad = await fetched({ destinations: [randomUUID()] });
    const outcomes = await Promise.allSettled([store.submit(good[0]), store.submit(bad), store.submit(good[1])]);

    expect(outcomes.map((o) => o.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    for (const item of good) expect(await repo.listDeliveriesOfLead(db.db, item.lead.id)).to.have.length(1);
    expect(await eventStatus(bad.lead.event_id)).to.equal('received');
    expect((await writersOf([bad.lead.id])).size).to.equal(0);
  });

  describe('delivered outcomes', () => {
    /** A stored lead's delivery claimed by `token`. */
    async function claimedDelivery(token: string): Promise<string> {
      const [stored] = await storeFetchedLeads(db.db, [await fetched({ claimedBy: token })]);
      return stored?.deliveries[0].id as string;
    }
    const outcome = (deliveryId: string, token: string): DeliveredOutcome => ({
      deliveryId,
      token,
      workspaceId,
      attempt: 1,
      startedAt: new Date(Date.now() - 50),
      finishedAt: new Date(),
      externalId: `ext-${deliveryId}`,
      externalUrl: null,
      action: 'created',
      httpStatus: 200,
      responseBody: '{"ok":true}',
    });
    const attemptsOf = (id: string) => db.db.selectFrom('delivery_attempts').select(['outcome', 'attempt']).where('delivery_id', '=', id).execute();

    it('writes each delivery of one statement only while its own claim holds, with its attempt', async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      const held = await claimedDelivery(a);
      const takenOver = await claimedDelivery(b);
      const written = await writeDeliveredOutcomes(db.db, [outcome(held, a), outcome(takenOver, randomUUID())]);

      expect(written).to.deep.equal([held]);
      expect(await repo.findDelivery(db.db, held)).to.include({ status: 'delivered', external_id: `ext-${held}`, claimed_by: null, attempts: 1 });
      expect(await attemptsOf(held)).to.deep.equal([{ outcome: 'delivered', attempt: 1 }]);
      expect(await repo.findDelivery(db.db, takenOver)).to.include({ status: 'pending', claimed_by: b });
      expect(await attemptsOf(takenOver)).to.deep.equal([]);
    });

    it('puts the outcomes submitted while two statements are in flight into the next statement together', async () => {
      const store = createDeliveredStore(db.db);
      const tokens = Array.from({ length: 8 }, () => randomUUID());
      const ids = await Promise.all(tokens.map((token) => claimedDelivery(token)));
      const firstTwo = [0, 1].map((i) => store.submit(outcome(ids[i], tokens[i])));
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      const rest = ids.slice(2).map((id, i) => store.submit(outcome(id, tokens[i + 2])));
      expect(await Promise.all([...firstTwo, ...rest])).to.deep.equal(ids.map(() => true));

      const { rows } = await db.pool.query<{ id: string; xid: string }>('select id, xmin::text as xid from deliveries where id = any($1::uuid[])', [ids]);
      const xidOf = new Map(rows.map((r) => [r.id, r.xid]));
      const restXids = new Set(ids.slice(2).map((id) => xidOf.get(id)));
      expect(restXids.size, 'the six later outcomes in one statement').to.equal(1);
      expect(restXids.has(xidOf.get(ids[0]))).to.equal(false);
    });
  });
});
