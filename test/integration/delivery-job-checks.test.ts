// What a delivery job checks so that a lead is sent by the configuration of the moment it is sent,
// not before its retry is due, and never parked under a run that is sending it: a job that waited
// for a delivery place goes by the destination as it is once it has the place; a duplicate job of a
// delivery waiting for its retry waits too; a job that finds the destination needing
// re-authorisation leaves a delivery another run holds to that run.
import { expect } from 'chai';
import { registerExtraConnector } from '../../connectors/index.js';
import { ConnectorError, type Connector, type ConnectorManifest } from '../../connectors/types.js';
import { webhookConnector } from '../../connectors/webhook/index.js';
import { webhookManifest } from '../../connectors/webhook/manifest.js';
import { deliverOne, sendStoredDelivery, type DestinationPlace } from '../../src/pipeline/deliver-lead.js';
import { encryptCredentials } from '../../src/pipeline/connector-context.js';
import { deleteRouteAndStopItsDeliveries, markDestinationDisconnected } from '../../src/store/disconnects.js';
import { eraseExpiredLeadAnswers } from '../../src/store/leads.js';
import { parkWorkspaceWork, markWorkspaceDeleted } from '../../src/store/workspace-deletion.js';
import * as repo from '../../src/store/repos.js';
import type { Destination, Route } from '../../src/store/schema.js';
import { startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { duringWorkspaceRestore, storeLeadWithDelivery, waitingForLockOrDone } from '../helpers/rows.js';
import { batchingWebhookManifest } from '../helpers/webhook-variants.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

let nextLeadgen = 8_830_000_000_000_000_000n;
let nextPage = 883_000_000;

/** The webhook connector under another id, declared batching: its jobs go through deliver-batch.ts. */
const batchManifest = batchingWebhookManifest('test-batch-wait', 'Test batch (wait)');

/** The webhook connector under another id, whose CRM refuses its token even after it refreshed and saved it (as HubSpot's or Pipedrive's can). */
const refreshingManifest = {
  ...(webhookManifest as ConnectorManifest),
  id: 'test-refresh',
  label: 'Test refresh',
  load: async () =>
    ({
      ...(webhookConnector as Connector),
      ...refreshingManifest,
      deliver: async (ctx: Parameters<Connector['deliver']>[0]) => {
        await ctx.saveCredentials({ secret: `refreshed-${Date.now()}-0123456789` });
        throw new ConnectorError({ kind: 'auth', reason: 'token_refused' });
      },
    }) as Connector,
} as unknown as ConnectorManifest;

describe('a delivery job', function () {
  this.timeout(60_000);
  let t: TestApp;
  let first: FakeReceiver;
  let second: FakeReceiver;
  let unregister: (() => void) | undefined;
  let workspaceId: string;

  before(async () => {
    const unregisterBatch = registerExtraConnector(batchManifest);
    const unregisterRefresh = registerExtraConnector(refreshingManifest);
    unregister = () => {
      unregisterBatch();
      unregisterRefresh();
    };
    first = await startFakeReceiver();
    second = await startFakeReceiver();
    // Retries wait long enough for a second job to come before one is due.
    t = await createTestApp({ withQueues: false, env: { DELIVERY_BACKOFF_BASE_MS: '30000', DELIVERY_BACKOFF_MAX_MS: '60000' } });
    workspaceId = (await repo.createWorkspace(t.app.db, 'Job checks')).id;
  });
  after(async () => {
    unregister?.();
    await t?.cleanup();
    await first?.close();
    await second?.close();
  });

  /** A destination of its own (at the first receiver), routed from a page of its own, with one pending delivery. */
  async function newDelivery(type = 'webhook', ws = workspaceId): Promise<{ id: string; leadgenId: string; destination: Destination; route: Route }> {
    const workspaceId = ws;
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

  /** Another run's claim on the delivery, as a send at the CRM holds it. */
  const claimAsAnotherRun = async (id: string, token: string) => {
    const claim = { token, until: new Date(Date.now() + 60_000), now: new Date() };
    expect(await repo.claimDelivery(t.app.db, id, claim)).to.have.property('claimed');
  };
  const deliveredUnder = (d: { id: string }, token: string) =>
    repo.writeDeliveredOutcomes(t.app.db, [
      {
        deliveryId: d.id,
        token,
        workspaceId,
        attempt: 1,
        startedAt: new Date(),
        finishedAt: new Date(),
        externalId: 'crm-1',
        externalUrl: null,
        action: 'created',
        httpStatus: 200,
        responseBody: null,
      },
    ]);

  const stops: [string, (d: { destination: Destination; route: Route }, ws: string) => Promise<unknown>][] = [
    ['its destination is disconnected', (d) => markDestinationDisconnected(t.app.db, d.destination.id)],
    ['its route is deleted', (d) => t.app.db.transaction().execute((trx) => deleteRouteAndStopItsDeliveries(trx, d.route))],
    ['its workspace is deleted', (_d, ws) => parkWorkspaceWork(t.app.db, ws)],
  ];
  for (const [what, stop] of stops) {
    it(`records as delivered, with its attempt, a lead the CRM took while ${what}`, async () => {
      const ws = (await repo.createWorkspace(t.app.db, `Stopped while sending: ${what}`)).id;
      const d = await newDelivery('webhook', ws);
      const token = '6b2e1d3f-0000-4000-8000-0000000000a1';
      await claimAsAnotherRun(d.id, token);
      await stop(d, ws);
      expect(await repo.findDelivery(t.app.db, d.id), 'stopped')
        .to.have.property('status')
        .that.is.oneOf(['parked', 'dead']);
      // The CRM answers 200 to the run that held it: what the CRM has is recorded, so nothing resumes it to be sent again.
      expect(await deliveredUnder(d, token)).to.deep.equal([d.id]);
      const row = await repo.findDelivery(t.app.db, d.id);
      expect({ status: row?.status, external_id: row?.external_id, attempts: (await repo.listAttempts(t.app.db, d.id)).length }).to.deep.equal({
        status: 'delivered',
        external_id: 'crm-1',
        attempts: 1,
      });
    });
  }

  it('keeps a delivery dead-lettered by an erasure of its lead while the CRM had it', async () => {
    const d = await newDelivery();
    const token = '6b2e1d3f-0000-4000-8000-0000000000a2';
    await claimAsAnotherRun(d.id, token);
    const lead = (await repo.findDelivery(t.app.db, d.id))?.lead_id as string;
    await repo.eraseLeadsNow(t.app.db, [lead], new Date());
    expect(await deliveredUnder(d, token)).to.deep.equal([]);
    expect(await repo.findDelivery(t.app.db, d.id)).to.include({ status: 'dead', last_error_reason: 'lead_erased' });
  });

  it('does not send a lead whose retention ended while it waited for a place, and dead-letters its delivery', async () => {
    const d = await newDelivery();
    // The hourly purge runs while the job waits (its clock far enough ahead for every lead here).
    const outcome = await deliverOne(
      t.app,
      d.id,
      undefined,
      placeAfter(() => eraseExpiredLeadAnswers(t.app.db, new Date(Date.now() + 4_000 * 86_400_000))),
    );
    expect({ outcome: outcome.type, sent: arrivedAt(first, d.leadgenId) }).to.deep.equal({ outcome: 'done', sent: 0 });
    expect(await repo.findDelivery(t.app.db, d.id)).to.include({ status: 'dead', last_error_reason: 'lead_erased' });
  });

  it('leaves a destination re-authorised while a send was at the CRM active when the old credentials are refused, and sends again', async () => {
    const d = await newDelivery();
    await repo.updateDestinationCredentials(t.app.db, d.destination.id, encryptCredentials(t.app, d.destination.id, { secret: 'old-secret-0123456789' }), true);
    // The CRM will refuse the credentials the send goes with; it answers once released.
    first.respondWith([{ status: 401, body: '{"message":"bad signature"}', headers: { 'content-type': 'application/json' } }]);
    first.hold();
    const sending = deliverOne(t.app, d.id);
    await first.waitFor(() => arrivedAt(first, d.leadgenId) === 1, 20_000);
    // The user connects it again with new credentials meanwhile; then the CRM's refusal of the old ones arrives.
    await repo.updateDestinationCredentials(t.app.db, d.destination.id, encryptCredentials(t.app, d.destination.id, { secret: 'new-secret-0123456789' }), true);
    first.release();
    const outcome = await sending;
    expect({ outcome: outcome.detail, destination: (await repo.findDestination(t.app.db, d.destination.id))?.status }).to.deep.equal({
      outcome: 'credentials_replaced',
      destination: 'active',
    });
    expect(await repo.findDelivery(t.app.db, d.id)).to.include({ status: 'pending', claimed_by: null });
    // Sent again, with the new credentials: delivered.
    expect(await deliverOne(t.app, d.id)).to.include({ type: 'done', detail: 'created' });
  });

  it("quotes a CRM refusing the credentials in its alert without the lead's email address", async () => {
    const d = await newDelivery();
    const email = `j${d.leadgenId}@example.com`;
    first.respondWith([{ status: 403, body: JSON.stringify({ message: `${email} is not allowed here` }), headers: { 'content-type': 'application/json' } }]);
    expect(await deliverOne(t.app, d.id)).to.include({ detail: 'parked' });
    const alerts = await t.app.db.selectFrom('alerts').selectAll().where('subject_id', '=', d.destination.id).execute();
    expect(alerts.map((a) => a.cause)).to.include('destination_reauth');
    const text = JSON.stringify(alerts);
    expect({ quotesCrm: text.includes('is not allowed here'), email: text.includes(email) }).to.deep.equal({ quotesCrm: true, email: false });
  });

  it('writes when a delivery of a rate-limited destination is due, so the outbox sweep leaves it until then', async () => {
    const d = await newDelivery();
    const until = new Date(Date.now() + 60_000);
    await repo.setDestinationRateLimit(t.app.db, d.destination.id, until);
    expect(await deliverOne(t.app, d.id)).to.include({ type: 'delay', detail: 'destination_rate_limited' });
    const row = await repo.findDelivery(t.app.db, d.id);
    expect(new Date(row?.next_attempt_at as Date).getTime()).to.equal(until.getTime());
    const open = await repo.listOpenDeliveries(t.app.db, new Date(Date.now() + 1_000), new Date(), 1000);
    expect(open.map((o) => o.id)).to.not.include(d.id);
    expect(arrivedAt(first, d.leadgenId)).to.equal(0);
  });

  it('comes back for a delivery once the live claim of another run that took it over lapses, when the destination needs re-authorisation', async () => {
    const d = await newDelivery();
    // This process stored the delivery claimed to send it at once; its claim lapsed and another run took it over (and may die).
    const ownToken = '6b2e1d3f-0000-4000-8000-000000000002';
    const other = { token: '6b2e1d3f-0000-4000-8000-000000000003', until: new Date(Date.now() + 30_000), now: new Date() };
    expect(await repo.claimDelivery(t.app.db, d.id, other)).to.have.property('claimed');
    await repo.setDestinationStatus(t.app.db, d.destination.id, 'needs_reauth', 'token_revoked');
    const row = (await repo.findDelivery(t.app.db, d.id))!;
    const stored = {
      delivery: { ...row, claimed_by: ownToken },
      lead: (await repo.findLead(t.app.db, row.lead_id))!,
      configVersion: await repo.currentConfigVersion(t.app.db),
    };
    const outcome = await sendStoredDelivery(t.app, stored);
    expect(outcome).to.include({ type: 'delay', detail: 'held_by_another_run' });
    const delayMs = outcome.type === 'delay' ? outcome.delayMs : -1;
    expect(delayMs).to.be.within(other.until.getTime() - Date.now(), other.until.getTime() - Date.now() + 2_000);
    expect(await repo.findDelivery(t.app.db, d.id), 'untouched').to.include({ status: 'pending', claimed_by: other.token });
  });

  it('does not park a delivery under a configuration a re-authorisation changed before the write', async () => {
    const d = await newDelivery();
    await repo.setDestinationStatus(t.app.db, d.destination.id, 'needs_reauth', 'token_revoked');
    const decidedUnder = await repo.currentConfigVersion(t.app.db);
    // The destination is connected again (its own transaction, committed), then its resume runs.
    await repo.setDestinationStatus(t.app.db, d.destination.id, 'active', null);
    await repo.unparkDeliveries(t.app.db, d.destination.id);
    // The check decided to park it before all that: it writes nothing, and decides again.
    const settled = await repo.settleDeliveryUnlessHeld(
      t.app.db,
      d.id,
      { status: 'parked', last_error_reason: 'destination_needs_reauth' },
      { now: new Date(), configVersion: decidedUnder },
    );
    expect({ settled, status: (await repo.findDelivery(t.app.db, d.id))?.status }).to.deep.equal({ settled: 'configuration_changed', status: 'pending' });
  });

  it('makes a check that would park a delivery wait for a workspace restore under way, then decide again', async () => {
    const ws = (await repo.createWorkspace(t.app.db, 'Restored while checked')).id;
    const d = await newDelivery('webhook', ws);
    await markWorkspaceDeleted(t.app.db, ws, new Date(Date.now() + 86_400_000));
    const decidedUnder = await repo.currentConfigVersion(t.app.db);
    // A job that read the workspace as being deleted parks its delivery while the restore is under
    // way: it waits for the restore (without the wait it would have parked the delivery by now).
    const settled = await duringWorkspaceRestore(t.app.db, ws, () =>
      repo.settleDeliveryUnlessHeld(
        t.app.db,
        d.id,
        { status: 'parked', last_error_kind: 'paused', last_error_reason: 'workspace_deleted' },
        { now: new Date(), configVersion: decidedUnder },
      ),
    );
    expect({ settled, status: (await repo.findDelivery(t.app.db, d.id))?.status }).to.deep.equal({
      settled: 'configuration_changed',
      status: 'pending',
    });
  });

  it('sets a destination whose CRM refused the token its connector refreshed during the send to need re-authorisation', async () => {
    const d = await newDelivery(refreshingManifest.id);
    await repo.updateDestinationCredentials(
      t.app.db,
      d.destination.id,
      encryptCredentials(t.app, d.destination.id, { secret: 'first-secret-0123456789' }),
      true,
    );
    expect(await deliverOne(t.app, d.id)).to.include({ type: 'done', detail: 'parked' });
    expect({
      destination: (await repo.findDestination(t.app.db, d.destination.id))?.status,
      delivery: (await repo.findDelivery(t.app.db, d.id))?.status,
    }).to.deep.equal({ destination: 'needs_reauth', delivery: 'parked' });
  });

  it("keeps the erasure of a lead whose delivery, stopped by its route's deletion, was at the CRM", async () => {
    const d = await newDelivery();
    const token = '6b2e1d3f-0000-4000-8000-0000000000a3';
    await claimAsAnotherRun(d.id, token);
    await t.app.db.transaction().execute((trx) => deleteRouteAndStopItsDeliveries(trx, d.route));
    // The retention purge erases the lead; then the CRM's 200 reaches the run that held it.
    await eraseExpiredLeadAnswers(t.app.db, new Date(Date.now() + 4_000 * 86_400_000));
    expect(await deliveredUnder(d, token)).to.deep.equal([]);
    expect((await repo.findDelivery(t.app.db, d.id))?.status).to.equal('dead');
    expect(await repo.listAttempts(t.app.db, d.id)).to.deep.equal([]);
  });

  it("resumes a destination while a route's deletion holds one of its parked deliveries, without a deadlock", async () => {
    const ws = (await repo.createWorkspace(t.app.db, 'Resumed while a route goes')).id;
    const d = await newDelivery('webhook', ws);
    await repo.updateDelivery(t.app.db, d.id, { status: 'parked', last_error_kind: 'auth', last_error_reason: 'destination_needs_reauth' });
    let resuming: Promise<{ id: string }[]> | undefined;
    await t.app.db.transaction().execute(async (trx) => {
      // The route's deletion: its parked delivery stopped (locked until this commits, when the counter is bumped).
      await deleteRouteAndStopItsDeliveries(trx, d.route);
      // Meanwhile the destination is resumed.
      resuming = repo.unparkDeliveries(t.app.db, d.destination.id);
      await waitingForLockOrDone(t.app.db, 'for update', resuming as Promise<unknown>);
    });
    expect(await resuming).to.deep.equal([]);
    expect(await repo.findDelivery(t.app.db, d.id)).to.include({ status: 'dead', last_error_reason: 'route_deleted' });
  });
});
