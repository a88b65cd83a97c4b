// The same migrations and repositories, proven on the PostgreSQL server and on the embedded one.
import { expect } from 'chai';
import { sql } from 'kysely';
import type { DbHandle } from '../../src/store/db.js';
import * as repo from '../../src/store/repos.js';
import { makeBareLeadRow } from '../helpers/rows.js';
import { openEmbeddedTestDb, openTestDb } from '../helpers/test-db.js';

const backends: [string, () => Promise<DbHandle>][] = [
  ['postgres', openTestDb],
  ['embedded postgres', openEmbeddedTestDb],
];

for (const [name, open] of backends) {
  describe(`store on ${name}`, function () {
    this.timeout(60_000);
    let h: DbHandle;
    before(async () => {
      h = await open();
    });
    after(async () => {
      await h?.close();
    });

    it('records leadgen events once: duplicates in a batch and across batches are no-ops', async () => {
      const ev = (id: string) => ({
        pageId: '100',
        leadgenId: id,
        formId: 'f1',
        adId: null,
        adgroupId: null,
        createdTime: new Date(1_700_000_000_000),
        isTest: false,
      });
      const first = await repo.recordLeadgenEvents(h.db, [ev('1'), ev('2')]);
      expect(first.map((r) => r.leadgen_id).sort()).to.deep.equal(['1', '2']);
      const second = await repo.recordLeadgenEvents(h.db, [ev('2'), ev('3')]);
      expect(second.map((r) => r.leadgen_id)).to.deep.equal(['3']);
      const count = await h.db
        .selectFrom('leadgen_events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(count.n)).to.equal(3);
    });

    it('keeps a 19-digit leadgen id exactly', async () => {
      const big = '1234567890123456789';
      await repo.recordLeadgenEvents(h.db, [{ pageId: '100', leadgenId: big, formId: null, adId: null, adgroupId: null, createdTime: null, isTest: false }]);
      const row = await h.db.selectFrom('leadgen_events').select('leadgen_id').where('leadgen_id', '=', big).executeTakeFirstOrThrow();
      expect(row.leadgen_id).to.equal(big);
    });

    it('scopes pages, destinations and routes by workspace and stores JSON config as objects', async () => {
      const ws = await repo.createWorkspace(h.db, 'Acme');
      const page = await repo.upsertPage(h.db, { workspaceId: ws.id, pageId: 'p-1', name: 'Acme Bikes', tokenEnvelope: 'lr1.k.x.y' });
      expect(page.status).to.equal('active');
      const dest = await repo.createDestination(h.db, {
        workspaceId: ws.id,
        type: 'webhook',
        name: 'hook',
        config: { url: 'https://x.test/in', nested: { a: 1 } },
        credentialsEnvelope: null,
      });
      expect(dest.config).to.deep.equal({ url: 'https://x.test/in', nested: { a: 1 } });
      await repo.createRoute(h.db, { workspaceId: ws.id, pageId: 'p-1', formId: null, destinationId: dest.id });
      await repo.createRoute(h.db, { workspaceId: ws.id, pageId: 'p-1', formId: 'form-9', destinationId: dest.id, filter: { all: [] } });
      expect(await repo.findRoutesFor(h.db, ws.id, 'p-1', 'form-9')).to.have.length(2);
      expect(await repo.findRoutesFor(h.db, ws.id, 'p-1', 'form-8')).to.have.length(1);
      const other = await repo.createWorkspace(h.db, 'Other');
      expect(await repo.findRoutesFor(h.db, other.id, 'p-1', 'form-9')).to.have.length(0);
    });

    it('re-registering a page replaces its token and re-activates it, but never moves it to another workspace', async () => {
      const ws = await repo.createWorkspace(h.db, 'W');
      await repo.upsertPage(h.db, { workspaceId: ws.id, pageId: 'p-2', name: 'Two', tokenEnvelope: 'old' });
      await repo.setPageStatus(h.db, 'p-2', 'needs_reauth', 'graph_code_190_460');
      const again = await repo.upsertPage(h.db, { workspaceId: ws.id, pageId: 'p-2', name: null, tokenEnvelope: 'new' });
      expect(again.token_envelope).to.equal('new');
      expect(again.status).to.equal('active');
      expect(again.name).to.equal('Two');
      const thief = await repo.createWorkspace(h.db, 'Thief');
      let failed = false;
      try {
        await repo.upsertPage(h.db, { workspaceId: thief.id, pageId: 'p-2', name: null, tokenEnvelope: 'stolen' });
      } catch {
        failed = true;
      }
      expect(failed, 'a page registered by one workspace cannot be taken by another').to.equal(true);
      const kept = await repo.findPageByPageId(h.db, 'p-2');
      expect(kept?.token_envelope).to.equal('new');
      expect(kept?.workspace_id).to.equal(ws.id);
    });

    it('creates one delivery per lead and destination however often it is asked', async () => {
      const ws = await repo.createWorkspace(h.db, 'D');
      const dest = await repo.createDestination(h.db, { workspaceId: ws.id, type: 'webhook', name: 'h', config: {}, credentialsEnvelope: null });
      const route = await repo.createRoute(h.db, { workspaceId: ws.id, pageId: 'p-3', formId: null, destinationId: dest.id });
      const lead = await repo.insertLead(h.db, makeBareLeadRow(ws.id, '77', 'p-3'));
      const again = await repo.insertLead(h.db, { ...lead, id: undefined } as never);
      expect(again.id).to.equal(lead.id);
      const row = { workspaceId: ws.id, leadId: lead.id, destinationId: dest.id, routeId: route.id };
      const first = await repo.ensureDeliveries(h.db, [row]);
      const all = await repo.ensureDeliveries(h.db, [row, row]);
      expect(all).to.have.length(1);
      expect(all[0].id).to.equal(first[0].id);
      expect(all[0].status).to.equal('pending');
      // What is stored, not only what the call returned.
      expect(await repo.listDeliveriesOfLead(h.db, lead.id)).to.have.length(1);
    });

    /** A workspace with one lead and its pending delivery to a webhook destination. */
    const makeDelivery = async (leadgenId: string) => {
      const ws = await repo.createWorkspace(h.db, `W${leadgenId}`);
      const dest = await repo.createDestination(h.db, { workspaceId: ws.id, type: 'webhook', name: 'h', config: {}, credentialsEnvelope: null });
      const route = await repo.createRoute(h.db, { workspaceId: ws.id, pageId: 'p-4', formId: null, destinationId: dest.id });
      const lead = await repo.insertLead(h.db, makeBareLeadRow(ws.id, leadgenId, 'p-4'));
      const [delivery] = await repo.ensureDeliveries(h.db, [{ workspaceId: ws.id, leadId: lead.id, destinationId: dest.id, routeId: route.id }]);
      return { ws, lead, delivery };
    };

    it('reads a delivery with its whole lead row in one query', async () => {
      const { lead, delivery } = await makeDelivery('78');
      const found = await repo.findDeliveryWithLead(h.db, delivery.id);
      expect(found?.delivery).to.deep.equal(await repo.findDelivery(h.db, delivery.id));
      expect(found?.lead).to.deep.equal(await repo.findLead(h.db, lead.id));
      expect(await repo.findDeliveryWithLead(h.db, '00000000-0000-4000-8000-000000000000')).to.equal(undefined);
    });

    it('writes a claimed outcome and its attempt together, and neither once the claim is lost', async () => {
      const { ws, delivery } = await makeDelivery('79');
      const claim = { token: '5a1f0c2e-0000-4000-8000-000000000001', until: new Date(Date.now() + 60_000), now: new Date() };
      expect(await repo.claimDelivery(h.db, delivery.id, claim)).to.have.property('claimed');
      const attempt = {
        workspaceId: ws.id,
        deliveryId: delivery.id,
        attempt: 1,
        startedAt: new Date(),
        outcome: 'retry' as const,
        reason: 'http_503',
        httpStatus: 503,
      };
      // Another claim's token: nothing is written.
      expect(await repo.writeClaimedOutcome(h.db, '5a1f0c2e-0000-4000-8000-000000000002', { attempts: 1 }, attempt)).to.equal(false);
      expect(await repo.listAttempts(h.db, delivery.id)).to.have.length(0);
      expect(await repo.writeClaimedOutcome(h.db, claim.token, { attempts: 1, last_error_reason: 'http_503' }, attempt)).to.equal(true);
      const row = await repo.findDelivery(h.db, delivery.id);
      expect(row).to.include({ attempts: 1, last_error_reason: 'http_503', claimed_by: null, claimed_until: null, status: 'pending' });
      const attempts = await repo.listAttempts(h.db, delivery.id);
      expect(attempts.map((a) => [a.attempt, a.outcome, a.reason, a.http_status])).to.deep.equal([[1, 'retry', 'http_503', 503]]);
      // The claim went with the write: a second write under it does nothing.
      expect(await repo.writeClaimedOutcome(h.db, claim.token, { attempts: 2 }, { ...attempt, attempt: 2 })).to.equal(false);
      expect(await repo.listAttempts(h.db, delivery.id)).to.have.length(1);
    });
  });
}

describe('migrations in a database holding several LeadRelay schemas', function () {
  this.timeout(60_000);
  it('migrates a second schema even though the first already has the bookkeeping tables', async () => {
    const first = await openTestDb();
    const second = await openTestDb();
    try {
      // Only its own schema is looked at: other test files create and drop theirs meanwhile (a
      // whole-database introspection failed once on a schema dropped while it read).
      const tables = await sql<{ table_name: string }>`
        select table_name from information_schema.tables where table_schema = ${second.schema.schema}`.execute(second.db);
      expect(tables.rows.map((t) => t.table_name)).to.include('leads');
      await repo.createWorkspace(second.db, 'works');
    } finally {
      await second.close();
      await first.close();
    }
  });
});
