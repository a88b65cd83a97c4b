// A batch of deliveries to one destination works out each route's mapping once, and still maps
// every lead by its own route: the batching connector here is the webhook connector declared
// batching (test/helpers/webhook-variants.ts), so what the receiver gets is what was mapped.
import { expect } from 'chai';
import { deliverOne } from '../../src/pipeline/deliver-lead.js';
import type { Mapping } from '../../src/mapping/schema.js';
import * as repo from '../../src/store/repos.js';
import type { Route } from '../../src/store/schema.js';
import { waitUntil } from '../helpers/e2e.js';
import { storeLeadWithDelivery } from '../helpers/rows.js';
import { openBatchingDestination, type BatchingDestination } from '../helpers/webhook-variants.js';

const mappingTo = (target: string): Mapping => ({ version: 1, rules: [{ target, source: { type: 'answer', key: 'email' } }] });

describe('a delivery batch maps each lead by its own route', function () {
  this.timeout(60_000);
  let batch: BatchingDestination;
  before(async () => {
    batch = await openBatchingDestination('test-batch-mapping', 'Test batch (mapping)', 'Batch mapping');
  });
  after(async () => {
    await batch?.close();
  });

  it('sends the leads of three routes, taken in one batch, each with the fields of its own route', async () => {
    const { t, receiver, workspaceId, destination } = batch;
    const routes: { route: Route; pageId: string; target: string | null }[] = [];
    for (const [pageId, target] of [
      ['889100001', 'contact_email'],
      ['889100002', 'mail'],
      ['889100003', null],
    ] as const) {
      const route = await repo.createRoute(t.app.db, {
        workspaceId,
        pageId,
        formId: null,
        destinationId: destination.id,
        ...(target ? { mapping: mappingTo(target) } : {}),
      });
      routes.push({ route, pageId, target });
    }
    // Two leads per route, interleaved, all ready before the batch is taken.
    const sent: { leadgenId: string; email: string; target: string | null; deliveryId: string }[] = [];
    for (let round = 0; round < 2; round++) {
      for (const { route, pageId, target } of routes) {
        const leadgenId = `88910000000000${round}${pageId.slice(-1)}`;
        const email = `m${round}-${pageId}@example.com`;
        const { deliveryId } = await storeLeadWithDelivery(t.app, { workspaceId, pageId, leadgenId, email, destinationId: destination.id, routeId: route.id });
        sent.push({ leadgenId, email, target, deliveryId });
      }
    }

    await deliverOne(t.app, sent[0].deliveryId);
    await waitUntil(async () => sent.every((s) => receiver.arrived.some((r) => r.body?.leadgen_id === s.leadgenId)), 20_000, 'every lead at the receiver');
    const statuses = await t.app.db
      .selectFrom('deliveries')
      .select('status')
      .where(
        'id',
        'in',
        sent.map((s) => s.deliveryId),
      )
      .execute();

    const fieldsOf = (leadgenId: string) => receiver.arrived.find((r) => r.body?.leadgen_id === leadgenId)?.body?.fields;
    expect(sent.map((s) => fieldsOf(s.leadgenId))).to.deep.equal(sent.map((s) => (s.target ? { [s.target]: s.email } : undefined)));
    expect(statuses.map((s) => s.status)).to.deep.equal(sent.map(() => 'delivered'));
  });
});
