// The retention purge on the real PostgreSQL: lead answers older than the workspace's retention
// period are erased, with what CRMs said back about them; younger leads, and other workspaces'
// leads, are left alone.
import { expect } from 'chai';
import { graphLeadSchema } from '../../src/meta/graph-types.js';
import { leadRowFromGraph } from '../../src/pipeline/lead-record.js';
import { purgeExpiredLeads } from '../../src/pipeline/maintenance.js';
import * as repo from '../../src/store/repos.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const DAY = 86_400_000;

describe('retention purge', function () {
  this.timeout(30_000);
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ withQueues: false });
  });
  after(async () => {
    await t?.cleanup();
  });

  async function storeLead(workspaceId: string, leadgenId: string, receivedAt: Date) {
    const g = graphLeadSchema.parse({ id: leadgenId, created_time: '2026-01-01T00:00:00+0000', field_data: [{ name: 'email', values: ['old@example.com'] }] });
    return repo.insertLead(t.app.db, {
      ...leadRowFromGraph(t.app.keyRing, { workspaceId, eventId: 0, pageId: '1', pageName: null, formName: null, receivedAt, isTest: false }, g),
      event_id: null,
    });
  }

  it("erases the answers of leads older than their workspace's retention, and only those", async () => {
    const now = new Date('2026-11-23T12:00:00Z');
    const short = await repo.createWorkspace(t.app.db, 'short', 30);
    const long = await repo.createWorkspace(t.app.db, 'long', 365);
    const old = await storeLead(short.id, '9001', new Date(now.getTime() - 40 * DAY));
    const young = await storeLead(short.id, '9002', new Date(now.getTime() - 5 * DAY));
    const keptLonger = await storeLead(long.id, '9003', new Date(now.getTime() - 40 * DAY));

    expect(await purgeExpiredLeads(t.app, now)).to.equal(1);
    const rows = new Map((await t.app.db.selectFrom('leads').selectAll().execute()).map((l) => [l.id, l]));
    expect(rows.get(old.id)!.answers_envelope).to.equal(null);
    expect(new Date(rows.get(old.id)!.erased_at!).getTime()).to.equal(now.getTime());
    expect(rows.get(old.id)!.leadgen_id, 'ids and attribution stay').to.equal('9001');
    expect(rows.get(young.id)!.answers_envelope).to.be.a('string');
    expect(rows.get(keptLonger.id)!.answers_envelope).to.be.a('string');
    expect(await purgeExpiredLeads(t.app, now), 'a second run erases nothing more').to.equal(0);
  });

  it("erases the CRM's messages and response bodies about an erased lead, keeping the reason codes", async () => {
    const now = new Date('2026-11-23T12:00:00Z');
    const ws = await repo.createWorkspace(t.app.db, 'messages', 30);
    const dest = await repo.createDestination(t.app.db, {
      workspaceId: ws.id,
      type: 'webhook',
      name: 'hook',
      config: { url: 'https://crm.example.com/in' },
      credentialsEnvelope: null,
    });
    const route = await repo.createRoute(t.app.db, { workspaceId: ws.id, pageId: '1', formId: null, destinationId: dest.id, filter: undefined });
    const deliveryFor = async (leadgenId: string, receivedAt: Date) => {
      const lead = await storeLead(ws.id, leadgenId, receivedAt);
      const [delivery] = await repo.ensureDeliveries(t.app.db, [{ workspaceId: ws.id, leadId: lead.id, destinationId: dest.id, routeId: route.id }]);
      // What a CRM says back often quotes the lead: here, its email.
      await t.app.db
        .updateTable('deliveries')
        .set({ status: 'dead', last_error_reason: 'status_code_400', last_error_message: 'Email old@example.com is invalid' })
        .where('id', '=', delivery.id)
        .execute();
      await repo.recordAttempt(t.app.db, {
        workspaceId: ws.id,
        deliveryId: delivery.id,
        attempt: 1,
        startedAt: receivedAt,
        outcome: 'dead',
        httpStatus: 400,
        reason: 'status_code_400',
        message: 'Email old@example.com is invalid',
        responseBody: '{"error":"old@example.com"}',
      });
      return delivery.id;
    };
    const expired = await deliveryFor('9101', new Date(now.getTime() - 40 * DAY));
    const kept = await deliveryFor('9102', new Date(now.getTime() - 5 * DAY));

    expect(await purgeExpiredLeads(t.app, now)).to.equal(1);
    const delivery = async (id: string) => t.app.db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const attempts = async (id: string) => t.app.db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', id).execute();
    expect(await delivery(expired)).to.include({ last_error_message: null, last_error_reason: 'status_code_400' });
    expect((await attempts(expired)).map((a) => [a.message, a.response_body, a.reason])).to.deep.equal([[null, null, 'status_code_400']]);
    expect((await delivery(kept)).last_error_message).to.contain('old@example.com');
    expect((await attempts(kept))[0].response_body).to.contain('old@example.com');
  });
});
