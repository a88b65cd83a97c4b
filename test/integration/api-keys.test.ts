// API keys through the REST API: created with a secret shown once, listed masked, revoked with
// immediate effect, confined to their workspace, never stronger than their creator, audited.
import { expect } from 'chai';
import { createWorkspace } from '../../src/store/repos.js';
import { ApiClient, seedApiKey, seedSession, seedUser, startApiServer } from '../helpers/api.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

describe('API keys', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let api: ApiClient;
  let workspaceId: string;
  let admin: ApiClient;

  before(async () => {
    t = await createTestApp({ withQueues: false });
    // The API answers 503 until someone owns the installation.
    await seedUser(t.app, { email: 'installer@example.test' });
    server = await startApiServer(t.app);
    api = new ApiClient(server.url);
    workspaceId = (await createWorkspace(t.app.db, 'Acme')).id;
    admin = api.withKey(await seedApiKey(t.app, workspaceId, 'admin'));
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
  });

  /** A signed-in person with a role in the workspace, as a cookie session with its CSRF token. */
  async function signedIn(email: string, role: 'owner' | 'admin' | 'editor' | 'viewer'): Promise<ApiClient> {
    const user = await seedUser(t.app, { email, workspaceId, role });
    return seedSession(t.app, server.url, user.id);
  }

  it('creates a key whose secret works once shown, and lists it masked without the secret or hash', async () => {
    const created = await admin.post(`/workspaces/${workspaceId}/api-keys`, { name: 'Zapier', role: 'viewer' });
    expect(created.status).to.equal(201);
    const secret: string = created.body.secret;
    expect(secret).to.match(/^lrk_/);
    expect(created.body).to.include({ name: 'Zapier', role: 'viewer', can_read_answers: false, last4: `…${secret.slice(-4)}`, revoked_at: null });

    const used = await api.withKey(secret).get(`/workspaces/${workspaceId}`);
    expect(used.status).to.equal(200);

    const list = await admin.get(`/workspaces/${workspaceId}/api-keys`);
    expect(list.status).to.equal(200);
    const item = list.body.items.find((k: { id: string }) => k.id === created.body.id);
    expect(item).to.include({ name: 'Zapier', last4: `…${secret.slice(-4)}` });
    expect(item.last_used_at, 'the use above is recorded').to.be.a('string');
    expect(list.text).to.not.include(secret);
    expect(list.text).to.not.include(secret.slice(4, 20));
    expect(list.text).to.not.match(/key_hash|[0-9a-f]{64}/);
  });

  it('refuses a revoked key with 401 on its next call', async () => {
    const created = await admin.post(`/workspaces/${workspaceId}/api-keys`, { name: 'short-lived', role: 'editor' });
    const key = api.withKey(created.body.secret);
    expect((await key.get(`/workspaces/${workspaceId}`)).status).to.equal(200);
    const revoked = await admin.delete(`/workspaces/${workspaceId}/api-keys/${created.body.id}`);
    expect(revoked.status).to.equal(200);
    expect(revoked.body.revoked_at).to.be.a('string');
    expect((await key.get(`/workspaces/${workspaceId}`)).status).to.equal(401);
  });

  it("answers 404 for a key of another workspace, and for revoking another workspace's key", async () => {
    const other = (await createWorkspace(t.app.db, 'Other')).id;
    const otherAdmin = api.withKey(await seedApiKey(t.app, other, 'admin'));
    const created = await admin.post(`/workspaces/${workspaceId}/api-keys`, { name: 'mine', role: 'viewer' });
    expect((await otherAdmin.get(`/workspaces/${workspaceId}/api-keys`)).status).to.equal(404);
    expect((await otherAdmin.delete(`/workspaces/${other}/api-keys/${created.body.id}`)).status).to.equal(404);
    expect((await api.withKey(created.body.secret).get(`/workspaces/${other}`)).status).to.equal(404);
    const still = await admin.get(`/workspaces/${workspaceId}/api-keys`);
    expect(still.body.items.find((k: { id: string }) => k.id === created.body.id).revoked_at).to.equal(null);
  });

  it('refuses a viewer or editor key the key operations with 403', async () => {
    for (const role of ['viewer', 'editor'] as const) {
      const key = api.withKey(await seedApiKey(t.app, workspaceId, role));
      const r = await key.post(`/workspaces/${workspaceId}/api-keys`, { name: 'escalate', role: 'admin' });
      expect(r.status, role).to.equal(403);
      expect(r.body.detail).to.include('keys.manage');
      expect((await key.get(`/workspaces/${workspaceId}/api-keys`)).status, role).to.equal(403);
    }
  });

  it('lets an admin mint an admin key, and the owner a key reading answers, and records the creator', async () => {
    const person = await signedIn('owner-keys@example.com', 'owner');
    const r = await person.post(`/workspaces/${workspaceId}/api-keys`, { name: 'export', role: 'viewer', can_read_answers: true });
    expect(r.status).to.equal(201);
    expect(r.body).to.include({ can_read_answers: true });
    expect(r.body.created_by).to.include({ email: 'owner-keys@example.com' });
    const adminKey = await admin.post(`/workspaces/${workspaceId}/api-keys`, { name: 'admin two', role: 'admin' });
    expect(adminKey.status).to.equal(201);
    expect(adminKey.body.created_by, 'made by a key, not a person').to.equal(null);
  });

  it('names the invalid fields of a create in a 422', async () => {
    const r = await admin.post(`/workspaces/${workspaceId}/api-keys`, { name: ' ', role: 'owner' });
    expect(r.status).to.equal(422);
    expect(r.body.errors.map((e: { field: string }) => e.field)).to.have.members(['body.name', 'body.role']);
  });

  it('pages through the keys with the cursor, each once', async () => {
    const ws = (await createWorkspace(t.app.db, 'Many keys')).id;
    const key = api.withKey(await seedApiKey(t.app, ws, 'admin'));
    for (let i = 0; i < 4; i++) expect((await key.post(`/workspaces/${ws}/api-keys`, { name: `k${i}`, role: 'viewer' })).status).to.equal(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { id: string }[]; next_cursor: string | null } } = await key.get(
        `/workspaces/${ws}/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.body.items.map((k) => k.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).to.have.length(5);
    expect(new Set(seen).size).to.equal(5);
  });

  it('audits a create and a revoke with the key as target and no secret in the entry', async () => {
    const created = await admin.post(`/workspaces/${workspaceId}/api-keys`, { name: 'audited', role: 'viewer' });
    await admin.delete(`/workspaces/${workspaceId}/api-keys/${created.body.id}`);
    const entries = await t.app.db.selectFrom('audit_log').selectAll().where('target_id', '=', created.body.id).orderBy('id').execute();
    expect(entries.map((e) => e.action)).to.deep.equal(['createApiKey', 'revokeApiKey']);
    for (const e of entries) {
      expect(e).to.include({ workspace_id: workspaceId, target_type: 'api_key', actor_type: 'api_key' });
      expect(JSON.stringify(e)).to.not.include(created.body.secret);
      expect(JSON.stringify(e)).to.not.include(created.body.secret.slice(4, 20));
    }
    expect(entries[0]!.details).to.deep.equal({ name: 'audited', role: 'viewer', can_read_answers: false });
  });
});
