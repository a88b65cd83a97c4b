// The installation's operations: only an operator (not an owner of a workspace, not a key) may
// list every user and rotate the encryption keys; a rotation runs in the background, reports
// its progress, and a second one is refused while it runs.
import { expect } from 'chai';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { pageTokenAad } from '../../src/pipeline/lead-record.js';
import { createWorkspace, upsertPage } from '../../src/store/repos.js';
import { ApiClient, seedApiKey, seedUser, startApiServer, TEST_PASSWORD } from '../helpers/api.js';
import { TEST_KEYS, waitUntil } from '../helpers/e2e.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const NEW_KEY = `k2:${Buffer.alloc(32, 9).toString('base64')}`;

describe('API installation: users and key rotation, for operators', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let workspaceId: string;
  let operator: ApiClient;
  let owner: ApiClient;

  async function signIn(email: string): Promise<ApiClient> {
    const c = new ApiClient(server.url);
    const r = await c.post('/auth/sign-in', { email, password: TEST_PASSWORD });
    expect(r.status, r.text).to.equal(200);
    c.csrfToken = r.body.csrf_token;
    return c;
  }

  before(async () => {
    // The new key first, the old one (everything below is under it) still there to decrypt.
    t = await createTestApp({ withQueues: false, env: { LEADRELAY_ENCRYPTION_KEYS: `${NEW_KEY},${TEST_KEYS}` } });
    server = await startApiServer(t.app);
    workspaceId = (await createWorkspace(t.app.db, 'Installed')).id;
    const op = await seedUser(t.app, { email: 'ops@example.com', workspaceId, role: 'owner' });
    await t.app.db.updateTable('users').set({ is_operator: true }).where('id', '=', op.id).execute();
    await seedUser(t.app, { email: 'owner@example.com', workspaceId, role: 'owner' });
    operator = await signIn('ops@example.com');
    owner = await signIn('owner@example.com');
    const oldRing = KeyRing.fromConfig([{ kid: 'k1', key: Buffer.alloc(32, 7) }]);
    for (const pageId of ['7001', '7002']) {
      await upsertPage(t.app.db, { workspaceId, pageId, name: null, tokenEnvelope: oldRing.encrypt(`token of ${pageId}`, pageTokenAad(pageId)) });
    }
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
  });

  it('lists every user to an operator, without hashes', async () => {
    const r = await operator.get('/installation/users');
    expect(r.status, r.text).to.equal(200);
    expect(r.body.items.map((u: { email: string }) => u.email)).to.have.members(['ops@example.com', 'owner@example.com']);
    expect(r.text).to.not.match(/argon2/);
  });

  it('refuses the installation operations to a workspace owner (403) and to an admin key (403)', async () => {
    expect((await owner.get('/installation/users')).status).to.equal(403);
    expect((await owner.post('/installation/key-rotation')).status).to.equal(403);
    const key = new ApiClient(server.url).withKey(await seedApiKey(t.app, workspaceId, 'admin'));
    expect((await key.get('/installation/key-rotation')).status).to.equal(403);
  });

  it('rotates in the background to the first key, reports it finished with counts, and audits the start', async () => {
    expect((await operator.get('/installation/key-rotation')).body.rotation).to.equal(null);
    const started = await operator.post('/installation/key-rotation');
    expect(started.status, started.text).to.equal(202);
    expect(started.body).to.include({ key_id: 'k2', state: 'running', started_by: 'ops@example.com' });
    const finished = await waitUntil(
      async () => {
        const r = (await operator.get('/installation/key-rotation')).body.rotation;
        return r.state === 'finished' ? r : undefined;
      },
      15_000,
      'the rotation to finish',
    );
    expect(finished.id).to.equal(started.body.id);
    expect(finished.result.pages).to.equal(2);
    const envelopes = await t.app.db.selectFrom('pages').select('token_envelope').where('workspace_id', '=', workspaceId).execute();
    for (const e of envelopes) expect(t.app.keyRing.kidOf(e.token_envelope!)).to.equal('k2');
    const entry = await t.app.db.selectFrom('audit_log').selectAll().where('action', '=', 'startKeyRotation').executeTakeFirstOrThrow();
    expect(entry).to.include({ actor_label: 'ops@example.com', target_id: started.body.id });
  });

  it('refuses a second rotation while one is alive with 409', async () => {
    // A run whose process still beats: made directly, as another server's would be.
    await t.app.db.insertInto('key_rotation_runs').values({ key_id: 'k2', started_by: 'another server' }).execute();
    const r = await operator.post('/installation/key-rotation');
    expect(r.status, r.text).to.equal(409);
    expect(r.body.detail).to.match(/already running/);
  });
});
