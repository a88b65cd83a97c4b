// What a delivery job checks so that a lead is sent by the configuration of the moment it is sent,
// not before its retry is due, and never parked under a run that is sending it: a job that waited
// for a delivery place goes by the destination as it is once it has the place; a duplicate job of a
// delivery waiting for its retry waits too; a job that finds the destination needing
// re-authorisation leaves a delivery another run holds to that run.
import { expect } from 'chai';
import { registerExtraConnector } from '../../connectors/index.js';
import type { Connector, ConnectorManifest } from '../../connectors/types.js';
import { webhookConnector } from '../../connectors/webhook/index.js';
import { webhookManifest } from '../../connectors/webhook/manifest.js';
import { deliverOne, type DestinationPlace } from '../../src/pipeline/deliver-lead.js';
import * as repo from '../../src/store/repos.js';
import type { Destination, Route } from '../../src/store/schema.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { storeLeadWithDelivery } from '../helpers/rows.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

let nextLeadgen = 8_830_000_000_000_000_000n;
let nextPage = 883_000_000;

/** The webhook connector under another id, declared batching: its jobs go through deliver-batch.ts. */
const batchManifest = {
  ...(webhookManifest as ConnectorManifest),
  id: 'test-batch-wait',
  label: 'Test batch (wait)',
  batch: { maxRecords: 10, maxWaitMs: 0 },
  deliverBatch: async (ctx: Parameters<Connector['deliver']>[0], items: { record: Parameters<Connector['deliver']>[1] }[]) => {
    const out = [];
    for (const item of items) out.push({ ok: true as const, result: await webhookConnector.deliver(ctx, item.record) });
    return out;
  },
  load: async () => ({ ...(webhookConnector as Connector), ...batchManifest }) as Connector,
} as unknown as ConnectorManifest;

describe('a delivery job', function () {
  this.timeout(60_000);
  let t: TestApp;
  let first: FakeReceiver;
  let second: FakeReceiver;
  let unregister: (() => void) | undefined;
  let workspaceId: string;

  before(async () => {
    unregister = registerExtraConnector(batchManifest);
    first = await startFakeReceiver();
    second = await startFakeReceiver();
    t = await createTestApp({ withQueues: false });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Job checks')).id;
  });
  after(async () => {
    unregister?.();
    await t?.cleanup();
    await first?.close();
    await second?.close();
  });

  /** A destination of its own (at the first receiver), routed from a page of its own, with one pending delivery. */
  async function newDelivery(type = 'webhook'): Promise<{ id: string; leadgenId: string; destination: Destination; route: Route }> {
    const pageId = String(nextPage++);
    const destination = await repo.createDestination(t.app.db, { workspaceId, type, name: type, config: { url: first.url }, credentialsEnvelope: null });
    const route = await repo.createRoute(t.app.db, { workspaceId, pageId, formId: null, destinationId: destination.id });
    const leadgenId = String(nextLeadgen++);
    const { deliveryId } = await storeLeadWithDelivery(t.app, {
      workspaceId,
      pageId,
      leadgenId,
      email: `j${leadgenId}@example.com`,
      destinationId: destination.id,
      routeId: route.id,
    });
    return { id: deliveryId, leadgenId, destination, route };
  }
  const arrivedAt = (receiver: FakeReceiver, leadgenId: string) => receiver.arrived.filter((r) => r.body?.leadgen_id === leadgenId).length;
  /** A place that is given only after `meanwhile` ran: what changes while a job waits for its turn. */
  const placeAfter =
    (meanwhile: () => Promise<unknown>): DestinationPlace =>
    async (_destination, send) => {
      await meanwhile();
      return send();
    };

  for (const type of ['webhook', batchManifest.id]) {
    it(`sends to the address its destination has once it holds its place, not the one before the wait (${type})`, async () => {
      const d = await newDelivery(type);
      const outcome = await deliverOne(
        t.app,
        d.id,
        undefined,
        placeAfter(() => repo.updateDestinationConfig(t.app.db, d.destination.id, { url: second.url })),
      );
      const observed = { outcome: outcome.type, first: arrivedAt(first, d.leadgenId), second: arrivedAt(second, d.leadgenId) };
      expect(observed).to.deep.equal({ outcome: 'done', first: 0, second: 1 });
      expect(await repo.findDelivery(t.app.db, d.id)).to.include({ status: 'delivered' });
    });

    it(`parks, unsent, a delivery whose destination came to need re-authorisation while it waited for a place (${type})`, async () => {
      const d = await newDelivery(type);
      const outcome = await deliverOne(
        t.app,
        d.id,
        undefined,
        placeAfter(() => repo.setDestinationStatus(t.app.db, d.destination.id, 'needs_reauth', 'token_revoked')),
      );
      expect({ outcome: outcome.detail, sent: arrivedAt(first, d.leadgenId) }).to.deep.equal({ outcome: 'parked', sent: 0 });
      expect(await repo.findDelivery(t.app.db, d.id)).to.include({ status: 'parked', claimed_by: null });
    });
  }

  it('waits, unsent, while its retry is not yet due (a second job of the delivery)', async () => {
    const d = await newDelivery();
    // The first run is refused (500): its retry is due after the backoff.
    first.respondWith([{ status: 500, body: 'busy', headers: { 'content-type': 'text/plain' } }]);
    expect(await deliverOne(t.app, d.id)).to.include({ type: 'delay' });
    const due = (await repo.findDelivery(t.app.db, d.id))?.next_attempt_at;
    expect(due, 'a retry time').to.be.an.instanceOf(Date);
    // A duplicate job of it (queued again meanwhile) runs before that time.
    const early = await deliverOne(t.app, d.id);
    const leftMs = new Date(due as Date).getTime() - Date.now();
    expect({ type: early.type, sent: arrivedAt(first, d.leadgenId) }).to.deep.equal({ type: 'delay', sent: 1 });
    expect(early.type === 'delay' && early.delayMs).to.be.within(leftMs - 1_000, leftMs + 1_000);
    expect(await repo.findDelivery(t.app.db, d.id)).to.include({ status: 'pending', attempts: 1, claimed_by: null });
  });

  it('leaves a delivery that another run is sending to that run when the destination needs re-authorisation', async () => {
    const d = await newDelivery();
    // Another run holds the delivery and is at the CRM with it.
    const claim = { token: '6b2e1d3f-0000-4000-8000-000000000001', until: new Date(Date.now() + 60_000), now: new Date() };
    expect(await repo.claimDelivery(t.app.db, d.id, claim)).to.have.property('claimed');
    // Meanwhile the destination is marked as needing re-authorisation, and a second job of the delivery runs.
    await repo.setDestinationStatus(t.app.db, d.destination.id, 'needs_reauth', 'token_revoked');
    await deliverOne(t.app, d.id);
    expect(await repo.findDelivery(t.app.db, d.id), 'untouched by the second job').to.include({ status: 'pending', claimed_by: claim.token });
    // The CRM took the lead: the run holding it records the delivery.
    const written = await repo.writeClaimedOutcome(
      t.app.db,
      claim.token,
      { status: 'delivered', external_id: 'x-1' },
      {
        workspaceId,
        deliveryId: d.id,
        attempt: 1,
        startedAt: new Date(),
        outcome: 'delivered',
        reason: null,
        httpStatus: 200,
      },
    );
    expect(written).to.equal(true);
    expect(await repo.findDelivery(t.app.db, d.id)).to.include({ status: 'delivered' });
  });
});
