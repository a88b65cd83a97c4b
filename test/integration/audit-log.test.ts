// The audit log: read through the API with filters and cursor pages, only with audit.read and
// only a workspace's own entries; purged by the maintenance loop's retention run after 24
// months and not a day before.
import { expect } from 'chai';
import { sql } from 'kysely';
import { writeAudit } from '../../src/accounts/audit.js';
import { runRetentionPurges } from '../../src/pipeline/maintenance.js';
import { createWorkspace } from '../../src/store/repos.js';
import { ApiClient, seedApiKey, seedUser, startApiServer } from '../helpers/api.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

describe('audit log', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let api: ApiClient;
  let workspaceId: string;
  let otherId: string;
  let admin: ApiClient;

  const system = { type: 'system' as const, id: null, label: 'test' };
  const actor = (id: string) => ({ type: 'user' as const, id, label: `${id}@example.com` });

  before(async () => {
    t = await createTestApp({ withQueues: false });
    // The API answers 503 until someone owns the installation.
    await seedUser(t.app, { email: 'installer@example.test' });
    server = await startApiServer(t.app);
    api = new ApiClient(server.url);
    workspaceId = (await createWorkspace(t.app.db, 'Audited')).id;
    otherId = (await createWorkspace(t.app.db, 'Elsewhere')).id;
    admin = api.withKey(await seedApiKey(t.app, workspaceId, 'admin'));
    await writeAudit(t.app.db, { workspaceId, actor: actor('alice'), action: 'createPage', target: { type: 'page', id: 'p1' } });
    await writeAudit(t.app.db, { workspaceId, actor: actor('bob'), action: 'updatePage', target: { type: 'page', id: 'p1' } });
    await writeAudit(t.app.db, { workspaceId, actor: actor('alice'), action: 'createRoute', target: { type: 'route', id: 'r1' } });
    await writeAudit(t.app.db, { workspaceId: otherId, actor: actor('alice'), action: 'createPage', target: { type: 'page', id: 'secret-page' } });
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
  });

  const actions = (r: { body: { items: { action: string }[] } }) => r.body.items.map((e) => e.action);

  it("lists the workspace's entries newest first, and none of another workspace", async () => {
    const r = await admin.get(`/workspaces/${workspaceId}/audit`);
    expect(r.status).to.equal(200);
    expect(actions(r)).to.deep.equal(['createRoute', 'updatePage', 'createPage']);
    expect(r.body.items[0]).to.deep.include({ actor: { type: 'user', id: 'alice', label: 'alice@example.com' }, target: { type: 'route', id: 'r1' } });
    expect(r.text).to.not.include('secret-page');
  });

  it('filters by action, an action prefix, actor and target', async () => {
    expect(actions(await admin.get(`/workspaces/${workspaceId}/audit?action=createPage`))).to.deep.equal(['createPage']);
    expect(actions(await admin.get(`/workspaces/${workspaceId}/audit?action=create*`))).to.deep.equal(['createRoute', 'createPage']);
    expect(actions(await admin.get(`/workspaces/${workspaceId}/audit?actor_id=bob`))).to.deep.equal(['updatePage']);
    expect(actions(await admin.get(`/workspaces/${workspaceId}/audit?target_id=p1`))).to.deep.equal(['updatePage', 'createPage']);
  });

  it('treats % and _ in an action prefix as themselves', async () => {
    expect(actions(await admin.get(`/workspaces/${workspaceId}/audit?action=${encodeURIComponent('%*')}`))).to.deep.equal([]);
  });

  it('filters by time: since is inclusive, until exclusive', async () => {
    const all = (await admin.get(`/workspaces/${workspaceId}/audit`)).body.items as { action: string; at: string }[];
    const future = new Date(Date.now() + 3600_000).toISOString();
    expect(actions(await admin.get(`/workspaces/${workspaceId}/audit?since=${future}`))).to.deep.equal([]);
    const oldest = all[all.length - 1]!.at;
    expect(actions(await admin.get(`/workspaces/${workspaceId}/audit?until=${oldest}`))).to.deep.equal([]);
    expect(actions(await admin.get(`/workspaces/${workspaceId}/audit?since=${oldest}&action=createPage`))).to.deep.equal(['createPage']);
  });

  it('names a bad filter in a 422', async () => {
    const r = await admin.get(`/workspaces/${workspaceId}/audit?since=yesterday`);
    expect(r.status).to.equal(422);
    expect(r.body.errors[0].field).to.equal('query.since');
    const inverted = await admin.get(`/workspaces/${workspaceId}/audit?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z`);
    expect(inverted.status).to.equal(422);
    expect(inverted.body.errors[0].field).to.equal('query.until');
  });

  it('pages with the cursor through every entry once', async () => {
    const first = await admin.get(`/workspaces/${workspaceId}/audit?limit=2`);
    expect(first.body.items).to.have.length(2);
    expect(first.body.next_cursor).to.be.a('string');
    const second = await admin.get(`/workspaces/${workspaceId}/audit?limit=2&cursor=${first.body.next_cursor}`);
    expect([...actions(first), ...actions(second)]).to.deep.equal(['createRoute', 'updatePage', 'createPage']);
    expect(second.body.next_cursor).to.equal(null);
    expect((await admin.get(`/workspaces/${workspaceId}/audit?cursor=nonsense`)).status).to.equal(400);
  });

  it('refuses an editor key with 403 and a key of another workspace with 404', async () => {
    const editor = api.withKey(await seedApiKey(t.app, workspaceId, 'editor'));
    const r = await editor.get(`/workspaces/${workspaceId}/audit`);
    expect(r.status).to.equal(403);
    expect(r.body.detail).to.include('audit.read');
    const stranger = api.withKey(await seedApiKey(t.app, otherId, 'admin'));
    const hidden = await stranger.get(`/workspaces/${workspaceId}/audit`);
    expect(hidden.status).to.equal(404);
    expect(hidden.text).to.not.include('createRoute');
  });

  describe('retention', () => {
    const insertAged = (months: number, action: string) =>
      sql`insert into audit_log (at, workspace_id, actor_type, action) values (now() - make_interval(months => ${months}), ${workspaceId}, 'system', ${action})`.execute(
        t.app.db,
      );
    const remaining = async () =>
      (await t.app.db.selectFrom('audit_log').select('action').where('action', 'like', 'aged-%').orderBy('action').execute()).map((r) => r.action);

    it('the maintenance purge deletes entries older than 24 months and keeps a 23-month-old one', async () => {
      await insertAged(25, 'aged-25');
      await insertAged(30, 'aged-30');
      await insertAged(23, 'aged-23');
      await writeAudit(t.app.db, { workspaceId, actor: system, action: 'aged-0' });
      const r = await runRetentionPurges(t.app);
      expect(r.auditEntries).to.equal(2);
      expect(await remaining()).to.deep.equal(['aged-0', 'aged-23']);
    });

    it('refuses to delete a young entry even with the purge setting on', async () => {
      let message = '';
      await t.app.db
        .transaction()
        .execute(async (trx) => {
          await sql`select set_config('leadrelay.audit_purge', 'on', true)`.execute(trx);
          await sql`delete from audit_log where action = 'aged-23'`.execute(trx);
        })
        .catch((err: Error) => {
          message = err.message;
        });
      expect(message).to.include('append-only');
      expect(await remaining()).to.include('aged-23');
    });
  });
});
