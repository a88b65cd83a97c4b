// A workspace's deletion on its own: asking twice, restoring after the grace period, a purge
// that finds the workspace restored, and the audit trigger letting only that workspace's entries go.
import { expect } from 'chai';
import { sql } from 'kysely';
import { writeAudit } from '../../src/accounts/audit.js';
import { ConflictError } from '../../src/services/errors.js';
import { purgeWorkspace, requestWorkspaceDeletion, restoreWorkspace } from '../../src/services/workspace-lifecycle.js';
import { purgeDueWorkspaces } from '../../src/pipeline/workspace-purge.js';
import * as repo from '../../src/store/repos.js';
import { endGracePeriod } from '../helpers/rows.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const OPERATOR = { actor: { type: 'operator' as const, id: null, label: 'test' } };

describe('workspace deletion (PostgreSQL)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({ env: { WORKSPACE_DELETION_GRACE_DAYS: '7' } });
  });
  afterEach(() => t.cleanup());

  it('sets the purge date a grace period ahead, and asking again keeps it', async () => {
    const ws = await repo.createWorkspace(t.app.db, 'W');
    const first = await requestWorkspaceDeletion(t.app, ws.id, OPERATOR);
    const days = (new Date(first.state.purge_after!).getTime() - Date.now()) / 86_400_000;
    expect(days).to.be.within(6.99, 7.01);
    const second = await requestWorkspaceDeletion(t.app, ws.id, OPERATOR);
    expect(second).to.deep.include({ isAlreadyDeleted: true });
    expect(second.state.purge_after).to.equal(first.state.purge_after);
  });

  it('refuses a restore once the grace period has ended, and the purge then takes the workspace', async () => {
    const ws = await repo.createWorkspace(t.app.db, 'W');
    await requestWorkspaceDeletion(t.app, ws.id, OPERATOR);
    await endGracePeriod(t.app.db, ws.id);
    let refusal: unknown;
    await restoreWorkspace(t.app, ws.id, OPERATOR).catch((err) => (refusal = err));
    expect(refusal).to.be.instanceOf(ConflictError);
    expect(await purgeDueWorkspaces(t.app)).to.equal(1);
    expect(await repo.findWorkspace(t.app.db, ws.id)).to.equal(undefined);
  });

  it('leaves a workspace restored before the purge ran', async () => {
    const ws = await repo.createWorkspace(t.app.db, 'W');
    await requestWorkspaceDeletion(t.app, ws.id, OPERATOR);
    await restoreWorkspace(t.app, ws.id, OPERATOR);
    expect(await purgeWorkspace(t.app, ws.id, new Date(Date.now() + 30 * 86_400_000))).to.equal(false);
    expect((await repo.findWorkspace(t.app.db, ws.id))?.deletion_requested_at).to.equal(null);
  });

  it("leaves each of its pages a lead floor at the purge that outlives it: never before the page's latest recorded lead, never moved back", async () => {
    const ws = await repo.createWorkspace(t.app.db, 'W');
    const [plain, ahead, floored] = ['8100000001', '8100000002', '8100000003'];
    for (const pageId of [plain, ahead, floored]) await repo.upsertPage(t.app.db, { workspaceId: ws.id, pageId, name: null, tokenEnvelope: 'lr1.k.x.y' });
    // A lead whose creation time (Meta's clock) is ahead of the database's.
    const aheadTime = new Date(Date.now() + 3_600_000);
    await repo.recordLeadgenEvents(t.app.db, [
      { pageId: ahead, leadgenId: '1', formId: 'f', adId: null, adgroupId: null, createdTime: aheadTime, isTest: false },
    ]);
    // A floor an earlier purge left, later than this one.
    const earlierFloor = new Date(Date.now() + 86_400_000);
    await t.app.db.insertInto('page_lead_floors').values({ page_id: floored, not_before: earlierFloor }).execute();
    await requestWorkspaceDeletion(t.app, ws.id, OPERATOR);
    await endGracePeriod(t.app.db, ws.id);
    const before = Date.now();
    expect(await purgeWorkspace(t.app, ws.id)).to.equal(true);
    const after = Date.now();

    const floors = await t.app.db.selectFrom('page_lead_floors').select(['page_id', 'not_before']).orderBy('page_id').execute();
    expect(floors.map((f) => f.page_id)).to.deep.equal([plain, ahead, floored]);
    expect(floors[0].not_before.getTime()).to.be.within(before - 1000, after);
    expect(floors[1].not_before).to.deep.equal(aheadTime);
    expect(floors[2].not_before).to.deep.equal(earlierFloor);
    expect(await repo.findPageByPageId(t.app.db, plain)).to.equal(undefined);
  });

  it("lets the purge delete that workspace's audit entries and no other's; the log stays append-only otherwise", async () => {
    const [a, b] = [await repo.createWorkspace(t.app.db, 'A'), await repo.createWorkspace(t.app.db, 'B')];
    for (const ws of [a, b]) await writeAudit(t.app.db, { workspaceId: ws.id, actor: OPERATOR.actor, action: 'something' });
    let refused = false;
    await t.app.db
      .transaction()
      .execute(async (trx) => {
        await sql`select set_config('leadrelay.workspace_purge', ${a.id}, true)`.execute(trx);
        await trx.deleteFrom('audit_log').where('workspace_id', '=', b.id).execute();
      })
      .catch(() => (refused = true));
    expect(refused, "another workspace's entries").to.equal(true);
    await t.app.db
      .updateTable('workspaces')
      .set({ deletion_requested_at: new Date(), purge_after: new Date(Date.now() - 1000) })
      .where('id', '=', a.id)
      .execute();
    expect(await purgeWorkspace(t.app, a.id)).to.equal(true);
    const left = await t.app.db.selectFrom('audit_log').select(['workspace_id', 'action', 'target_id']).orderBy('id').execute();
    expect(left).to.deep.equal([
      { workspace_id: b.id, action: 'something', target_id: null },
      { workspace_id: null, action: 'workspace.purged', target_id: a.id },
    ]);
  });
});
