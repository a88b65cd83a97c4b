// The retention purge on the real PostgreSQL: lead answers older than the workspace's retention
// period are erased; younger leads, and other workspaces' leads, are left alone.
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
    return repo.insertLead(t.app.db, { ...leadRowFromGraph(t.app.keyRing, { workspaceId, eventId: 0, pageId: '1', pageName: null, formName: null, receivedAt, isTest: false }, g), event_id: null });
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
});
