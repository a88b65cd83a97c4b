import { expect } from 'chai';
import { createWorkspace } from '../../src/store/repos.js';
import { ApiClient, seedApiKey, seedUser, startApiServer } from '../helpers/api.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

describe('REST API core', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let api: ApiClient;
  let workspaceId: string;

  before(async () => {
    t = await createTestApp({ withQueues: false });
    server = await startApiServer(t.app);
    api = new ApiClient(server.url);
    workspaceId = (await createWorkspace(t.app.db, 'Acme')).id;
    // Until an owner exists the API answers nothing but owner set-up.
    await seedUser(t.app, { email: 'owner@example.com', workspaceId });
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
  });

  it('refuses a call without credentials with a 401 problem', async () => {
    const r = await api.get(`/workspaces/${workspaceId}`);
    expect(r.status).to.equal(401);
    expect(r.headers.get('content-type')).to.match(/^application\/problem\+json/);
    expect(r.body).to.include({ status: 401, title: 'Unauthenticated' });
  });

  it('answers an API key of the workspace with the workspace and rate-limit headers', async () => {
    const key = await seedApiKey(t.app, workspaceId, 'viewer');
    const r = await api.withKey(key).get(`/workspaces/${workspaceId}`);
    expect(r.status).to.equal(200);
    expect(r.body).to.include({ id: workspaceId, name: 'Acme', role: 'viewer' });
    expect(r.headers.get('ratelimit')).to.match(/^limit=\d+, remaining=\d+, reset=\d+$/);
  });

  it('hides another workspace from a key as 404', async () => {
    const other = (await createWorkspace(t.app.db, 'Other')).id;
    const key = await seedApiKey(t.app, workspaceId, 'admin');
    const r = await api.withKey(key).get(`/workspaces/${other}`);
    expect(r.status).to.equal(404);
    expect(r.text).to.not.include('Other');
  });

  it('refuses a viewer key a change with 403 naming the missing permission', async () => {
    const key = await seedApiKey(t.app, workspaceId, 'viewer');
    const r = await api.withKey(key).patch(`/workspaces/${workspaceId}`, { name: 'Renamed' });
    expect(r.status).to.equal(403);
    expect(r.body.detail).to.include('workspace.manage');
  });

  it('names the invalid field of a body in a 422 problem', async () => {
    const key = await seedApiKey(t.app, workspaceId, 'admin');
    const r = await api.withKey(key).patch(`/workspaces/${workspaceId}`, { lead_retention_days: 0 });
    expect(r.status).to.equal(422);
    expect(r.body.errors[0].field).to.equal('body.lead_retention_days');
  });

  it('writes an audit entry naming the key for a change', async () => {
    const key = await seedApiKey(t.app, workspaceId, 'admin');
    const r = await api.withKey(key).patch(`/workspaces/${workspaceId}`, { name: 'Acme Ltd' });
    expect(r.status).to.equal(200);
    const entry = await t.app.db.selectFrom('audit_log').selectAll().where('action', '=', 'updateWorkspace').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(entry).to.include({ workspace_id: workspaceId, actor_type: 'api_key' });
    expect(entry.details).to.deep.equal({ changed: ['name'] });
  });

  it('refuses to update or delete an audit entry', async () => {
    const { sql } = await import('kysely');
    let message = '';
    await sql`update audit_log set action = 'x'`.execute(t.app.db).catch((err: Error) => {
      message = err.message;
    });
    expect(message).to.include('append-only');
    message = '';
    await sql`delete from audit_log`.execute(t.app.db).catch((err: Error) => {
      message = err.message;
    });
    expect(message).to.include('append-only');
  });

  it('serves an OpenAPI 3.1 document listing the operations', async () => {
    const r = await api.get('/openapi.json');
    expect(r.status).to.equal(200);
    expect(r.body.openapi).to.equal('3.1.0');
    expect(r.body.paths['/workspaces/{workspaceId}'].patch.operationId).to.equal('updateWorkspace');
  });
});
