// The single-lead delivery step (deliverOne) on the real PostgreSQL against a loopback webhook
// receiver: the statements a delivery costs, and the configuration it keeps in memory
// (src/pipeline/config-cache.ts) following every change another process commits.
import { expect } from 'chai';
import type { Kysely } from 'kysely';
import { type App, createApp, createDeliveredStore } from '../../src/app.js';
import { deliverOne } from '../../src/pipeline/deliver-lead.js';
import type { Db } from '../../src/store/db.js';
import * as repo from '../../src/store/repos.js';
import type { Database, Destination, Route } from '../../src/store/schema.js';
import { markWorkspaceDeleted, unmarkWorkspaceDeleted } from '../../src/store/workspace-deletion.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { storeLeadWithDelivery } from '../helpers/rows.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

let nextLeadgen = 8_950_000_000_000_000_000n;

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

describe('delivery step: cached configuration, three statements per delivered lead', function () {
  this.timeout(60_000);
  let t: TestApp;
  /** Another process on the same database: the configuration changes come from it. */
  let other: App;
  let receiver: FakeReceiver;
  let workspaceId: string;
  let destination: Destination;
  let route: Route;

  before(async () => {
    receiver = await startFakeReceiver();
    t = await createTestApp();
    other = await createApp(t.config, { migrate: false, withQueues: false });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Deliver')).id;
    destination = await repo.createDestination(t.app.db, {
      workspaceId,
      type: 'webhook',
      name: 'hook',
      config: { url: receiver.url },
      credentialsEnvelope: null,
    });
    route = await repo.createRoute(t.app.db, { workspaceId, pageId: '890000001', formId: null, destinationId: destination.id });
  });
  after(async () => {
    await other?.close();
    await t?.cleanup();
    await receiver?.close();
  });

  /** A stored lead (answers encrypted) with its pending delivery to the destination. */
  async function newDelivery(): Promise<string> {
    const leadgenId = String(nextLeadgen++);
    const { deliveryId } = await storeLeadWithDelivery(t.app, {
      workspaceId,
      pageId: '890000001',
      leadgenId,
      email: `d${leadgenId}@example.com`,
      destinationId: destination.id,
      routeId: route.id,
    });
    return deliveryId;
  }

  const deliver = async (app: App = t.app) => {
    const id = await newDelivery();
    const outcome = await deliverOne(app, id);
    return { outcome, row: (await repo.findDelivery(t.app.db, id))!, attempts: await repo.listAttempts(t.app.db, id) };
  };

  it('delivers a lead in three statements: the delivery with its lead and the counter, the claim, the outcome with its attempt', async () => {
    // The first delivery reads the configuration; the next ones find it cached under the same counter.
    await deliver();
    const spy = countingDb(t.app.db);
    const { outcome, row, attempts } = await deliver({ ...t.app, db: spy.db, deliveredStore: createDeliveredStore(spy.db) });
    expect(spy.count()).to.equal(3);
    expect(outcome.type).to.equal('done');
    expect(row).to.include({ status: 'delivered', attempts: 1, claimed_by: null, claimed_until: null });
    expect(attempts.map((a) => [a.attempt, a.outcome, a.http_status])).to.deep.equal([[1, 'delivered', 200]]);
  });

  it('a destination disabled or a workspace being deleted in another process parks the very next delivery; restoring delivers again', async () => {
    expect((await deliver()).row.status).to.equal('delivered');
    await repo.setDestinationStatus(other.db, destination.id, 'disabled', null);
    try {
      expect((await deliver()).row).to.include({ status: 'parked', last_error_reason: 'destination_disabled' });
    } finally {
      await repo.setDestinationStatus(other.db, destination.id, 'active', null);
    }
    expect((await deliver()).row.status).to.equal('delivered');

    await markWorkspaceDeleted(other.db, workspaceId, new Date(Date.now() + 86_400_000));
    try {
      expect((await deliver()).row).to.include({ status: 'parked', last_error_reason: 'workspace_deleted' });
    } finally {
      expect(await unmarkWorkspaceDeleted(other.db, workspaceId)).to.equal(true);
    }
    expect((await deliver()).row.status).to.equal('delivered');
  });

  it('a rate-limit wait set in another process holds the very next delivery', async () => {
    expect((await deliver()).row.status).to.equal('delivered');
    await repo.setDestinationRateLimit(other.db, destination.id, new Date(Date.now() + 60_000));
    try {
      const held = await deliver();
      expect(held.outcome).to.include({ type: 'delay', detail: 'destination_rate_limited' });
      expect(held.row.status).to.equal('pending');
    } finally {
      await repo.setDestinationRateLimit(other.db, destination.id, null);
    }
    expect((await deliver()).row.status).to.equal('delivered');
  });
});
