import { expect } from 'chai';
import { Secret, TOTP } from 'otpauth';
import { rotateKeys } from '../../src/services/rotate-keys.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { createWorkspace } from '../../src/store/repos.js';
import { ApiClient, seedApiKey, seedUser, startApiServer, TEST_PASSWORD } from '../helpers/api.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const codeAt = (manualKey: string, timestamp: number) =>
  new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(manualKey) }).generate({ timestamp });

describe('API accounts: MFA, members, invitations, password reset', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let workspaceId: string;
  let owner: ApiClient;
  let ownerId: string;

  async function signIn(email: string, password = TEST_PASSWORD): Promise<ApiClient> {
    const client = new ApiClient(server.url);
    const r = await client.post('/auth/sign-in', { email, password });
    expect(r.status, r.text).to.equal(200);
    client.csrfToken = r.body.csrf_token;
    return client;
  }

  before(async () => {
    t = await createTestApp({ withQueues: false, env: { SIGN_IN_MAX_FAILURES: '4' } });
    server = await startApiServer(t.app);
    workspaceId = (await createWorkspace(t.app.db, 'Acme')).id;
    ownerId = (await seedUser(t.app, { email: 'owner@example.com', workspaceId, role: 'owner' })).id;
    owner = await signIn('owner@example.com');
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
  });

  describe('TOTP', () => {
    let manualKey: string;
    let recoveryCodes: string[];

    before(async () => {
      await seedUser(t.app, { email: 'mfa@example.com', workspaceId, role: 'editor' });
    });

    it('starts enrolment with an otpauth URI, a PNG QR code and the manual key, storing the secret encrypted', async () => {
      const me = await signIn('mfa@example.com');
      const r = await me.post('/me/mfa/totp');
      expect(r.status).to.equal(201);
      expect(r.body.otpauth_uri).to.match(/^otpauth:\/\/totp\/LeadRelay:mfa%40example\.com\?/);
      expect(r.body.qr_code).to.match(/^data:image\/png;base64,/);
      manualKey = r.body.manual_key;
      const row = await t.app.db
        .selectFrom('users')
        .select(['totp_secret_envelope', 'totp_enabled_at'])
        .where('email', '=', 'mfa@example.com')
        .executeTakeFirstOrThrow();
      expect(row.totp_secret_envelope)
        .to.match(/^lr1\./)
        .and.not.include(manualKey);
      expect(row.totp_enabled_at).to.equal(null);
    });

    it('refuses a wrong confirmation code naming the field', async () => {
      const me = await signIn('mfa@example.com');
      const r = await me.post('/me/mfa/totp/confirm', { code: '000000' === codeAt(manualKey, Date.now()) ? '111111' : '000000' });
      expect(r.status).to.equal(422);
      expect(r.body.errors[0].field).to.equal('body.code');
    });

    it('enables TOTP with a current code and returns 10 recovery codes stored only hashed', async () => {
      const me = await signIn('mfa@example.com');
      const r = await me.post('/me/mfa/totp/confirm', { code: codeAt(manualKey, Date.now()) });
      expect(r.status).to.equal(200);
      recoveryCodes = r.body.recovery_codes;
      expect(recoveryCodes).to.have.length(10);
      expect(new Set(recoveryCodes).size).to.equal(10);
      const stored = JSON.stringify(await t.app.db.selectFrom('recovery_codes').selectAll().execute());
      for (const c of recoveryCodes) expect(stored).to.not.include(c);
    });

    it('starts a sign-in session waiting for the code, refusing other operations until then', async () => {
      const client = new ApiClient(server.url);
      const r = await client.post('/auth/sign-in', { email: 'mfa@example.com', password: TEST_PASSWORD });
      expect(r.body.mfa_required).to.equal(true);
      client.csrfToken = r.body.csrf_token;
      expect((await client.get('/me')).status).to.equal(401);
      expect((await client.get(`/workspaces/${workspaceId}`)).status).to.equal(401);
      const s = await client.get('/auth/session');
      expect(s.body).to.include({ mfa_required: true });
      expect(s.body.workspaces).to.deep.equal([]);
    });

    it('completes sign-in with a TOTP code once, refusing the same code again', async () => {
      // A step ahead of anything used so far (a code is accepted once per 30-second step).
      const code = codeAt(manualKey, Date.now() + 30_000);
      const a = new ApiClient(server.url);
      a.csrfToken = (await a.post('/auth/sign-in', { email: 'mfa@example.com', password: TEST_PASSWORD })).body.csrf_token;
      const done = await a.post('/auth/mfa', { code });
      expect(done.status, done.text).to.equal(200);
      expect(done.body.mfa_required).to.equal(false);
      a.csrfToken = done.body.csrf_token;
      expect((await a.get(`/workspaces/${workspaceId}`)).status).to.equal(200);

      const b = new ApiClient(server.url);
      b.csrfToken = (await b.post('/auth/sign-in', { email: 'mfa@example.com', password: TEST_PASSWORD })).body.csrf_token;
      const again = await b.post('/auth/mfa', { code });
      expect(again.status).to.equal(401);
      const audit = await t.app.db.selectFrom('audit_log').select(['action', 'details']).where('action', 'in', ['signIn.mfa', 'signIn.mfaFailed']).execute();
      expect(audit.map((e) => e.action)).to.include.members(['signIn.mfa', 'signIn.mfaFailed']);
      expect(JSON.stringify(audit)).to.not.include(code);
    });

    it('accepts a recovery code once', async () => {
      const use = async () => {
        const c = new ApiClient(server.url);
        c.csrfToken = (await c.post('/auth/sign-in', { email: 'mfa@example.com', password: TEST_PASSWORD })).body.csrf_token;
        return c.post('/auth/mfa', { recovery_code: recoveryCodes[0]!.toUpperCase() });
      };
      expect((await use()).status).to.equal(200);
      expect((await use()).status).to.equal(401);
    });

    it('keeps TOTP working after keys rotate re-encrypts its secret under a new key', async () => {
      const before = (await t.app.db.selectFrom('users').select('totp_secret_envelope').where('email', '=', 'mfa@example.com').executeTakeFirstOrThrow())
        .totp_secret_envelope!;
      // The operator puts a new key first (the old one stays, to decrypt) and rotates.
      const k2 = new KeyRing([{ kid: 'k2', key: Buffer.alloc(32, 9) }, ...t.config.encryptionKeys!]);
      (t.app as { keyRing: KeyRing }).keyRing = k2;
      const r = await rotateKeys(t.app);
      expect(r.totpSecrets).to.equal(1);
      const after = (await t.app.db.selectFrom('users').select('totp_secret_envelope').where('email', '=', 'mfa@example.com').executeTakeFirstOrThrow())
        .totp_secret_envelope!;
      expect(k2.kidOf(after)).to.equal('k2');
      expect(after).to.not.equal(before);
      // Forget the steps spent so far, so the current code is acceptable again.
      await t.app.db.updateTable('users').set({ totp_last_step: null }).where('email', '=', 'mfa@example.com').execute();
      const c = new ApiClient(server.url);
      c.csrfToken = (await c.post('/auth/sign-in', { email: 'mfa@example.com', password: TEST_PASSWORD })).body.csrf_token;
      expect((await c.post('/auth/mfa', { code: codeAt(manualKey, Date.now()) })).status).to.equal(200);
    });

    it('lets a workspace that requires MFA refuse a member without it, and admit one with it', async () => {
      await seedUser(t.app, { email: 'nomfa@example.com', workspaceId, role: 'editor' });
      const nomfa = await signIn('nomfa@example.com');
      await t.app.db.updateTable('workspaces').set({ require_mfa: true }).where('id', '=', workspaceId).execute();
      try {
        expect((await nomfa.get(`/workspaces/${workspaceId}`)).status).to.equal(403);
        const c = new ApiClient(server.url);
        c.csrfToken = (await c.post('/auth/sign-in', { email: 'mfa@example.com', password: TEST_PASSWORD })).body.csrf_token;
        c.csrfToken = (await c.post('/auth/mfa', { recovery_code: recoveryCodes[1] })).body.csrf_token;
        expect((await c.get(`/workspaces/${workspaceId}`)).status).to.equal(200);
      } finally {
        await t.app.db.updateTable('workspaces').set({ require_mfa: false }).where('id', '=', workspaceId).execute();
      }
    });

    it('turns TOTP off with the password, after which sign-in needs no code', async () => {
      const c = new ApiClient(server.url);
      c.csrfToken = (await c.post('/auth/sign-in', { email: 'mfa@example.com', password: TEST_PASSWORD })).body.csrf_token;
      c.csrfToken = (await c.post('/auth/mfa', { recovery_code: recoveryCodes[2] })).body.csrf_token;
      const off = await c.request('DELETE', '/me/mfa/totp', { password: TEST_PASSWORD });
      expect(off.status, off.text).to.equal(204);
      const again = await new ApiClient(server.url).post('/auth/sign-in', { email: 'mfa@example.com', password: TEST_PASSWORD });
      expect(again.body.mfa_required).to.equal(false);
    });
  });

  describe('members', () => {
    it('makes a role change take effect on the next request', async () => {
      const viewer = await seedUser(t.app, { email: 'viewer@example.com', workspaceId, role: 'viewer' });
      const client = await signIn('viewer@example.com');
      expect((await client.get(`/workspaces/${workspaceId}/members`)).status).to.equal(403);
      const r = await owner.patch(`/workspaces/${workspaceId}/members/${viewer.id}`, { role: 'admin' });
      expect(r.status, r.text).to.equal(200);
      expect(r.body).to.include({ role: 'admin', email: 'viewer@example.com' });
      expect((await client.get(`/workspaces/${workspaceId}/members`)).status).to.equal(200);
      const e = await t.app.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'updateMember')
        .where('target_id', '=', viewer.id)
        .executeTakeFirstOrThrow();
      expect(e.details).to.deep.equal({ from: { role: 'viewer', can_read_answers: false }, to: { role: 'admin' } });
    });

    it('refuses an admin making someone owner or changing an owner', async () => {
      await seedUser(t.app, { email: 'admin@example.com', workspaceId, role: 'admin' });
      const target = await seedUser(t.app, { email: 'target@example.com', workspaceId, role: 'editor' });
      const admin = await signIn('admin@example.com');
      expect((await admin.patch(`/workspaces/${workspaceId}/members/${target.id}`, { role: 'owner' })).status).to.equal(403);
      expect((await admin.patch(`/workspaces/${workspaceId}/members/${ownerId}`, { role: 'viewer' })).status).to.equal(403);
      expect((await admin.delete(`/workspaces/${workspaceId}/members/${ownerId}`)).status).to.equal(403);
    });

    it('keeps the last owner', async () => {
      const r = await owner.patch(`/workspaces/${workspaceId}/members/${ownerId}`, { role: 'admin' });
      expect(r.status).to.equal(409);
      expect((await owner.delete(`/workspaces/${workspaceId}/members/${ownerId}`)).status).to.equal(409);
    });

    it('hides a member of another workspace as 404', async () => {
      const other = (await createWorkspace(t.app.db, 'Other')).id;
      const stranger = await seedUser(t.app, { email: 'stranger@example.com', workspaceId: other, role: 'viewer' });
      expect((await owner.patch(`/workspaces/${workspaceId}/members/${stranger.id}`, { role: 'editor' })).status).to.equal(404);
    });

    it('removes a member, who then cannot see the workspace', async () => {
      const gone = await seedUser(t.app, { email: 'leaving@example.com', workspaceId, role: 'editor' });
      const client = await signIn('leaving@example.com');
      expect((await owner.delete(`/workspaces/${workspaceId}/members/${gone.id}`)).status).to.equal(204);
      expect((await client.get(`/workspaces/${workspaceId}`)).status).to.equal(404);
    });
  });

  describe('invitations', () => {
    it('returns the link once when SMTP is not set, lists the invitation without it, and the link creates a signed-in account', async () => {
      const r = await owner.post(`/workspaces/${workspaceId}/invitations`, { email: 'New@Example.com', role: 'editor' });
      expect(r.status, r.text).to.equal(201);
      expect(r.body.mailed).to.equal(false);
      const token = new URL(r.body.link).searchParams.get('token')!;
      const list = await owner.get(`/workspaces/${workspaceId}/invitations`);
      expect(list.body.items[0]).to.include({ email: 'new@example.com', role: 'editor', state: 'pending' });
      expect(list.text).to.not.include(token);

      const invitee = new ApiClient(server.url);
      const a = await invitee.post('/invitations/accept', { token, password: 'a new password 99', name: 'Nia' });
      expect(a.status, a.text).to.equal(200);
      expect(a.body).to.include({ workspace_id: workspaceId, role: 'editor', signed_in: true });
      invitee.csrfToken = a.body.csrf_token;
      expect((await invitee.get(`/workspaces/${workspaceId}`)).body.role).to.equal('editor');
      expect((await new ApiClient(server.url).post('/invitations/accept', { token, password: 'a new password 99' })).status).to.equal(404);
      const e = await t.app.db.selectFrom('audit_log').selectAll().where('action', '=', 'invitation.accepted').executeTakeFirstOrThrow();
      expect(e).to.include({ workspace_id: workspaceId, actor_label: 'new@example.com' });
      expect(JSON.stringify(e)).to.not.include(token);
    });

    it('adds an existing account after its password, keeping the rest of its account', async () => {
      const other = (await createWorkspace(t.app.db, 'Second')).id;
      await seedUser(t.app, { email: 'existing@example.com', workspaceId: other, role: 'owner' });
      const r = await owner.post(`/workspaces/${workspaceId}/invitations`, { email: 'existing@example.com', role: 'viewer' });
      const token = new URL(r.body.link).searchParams.get('token')!;
      expect((await new ApiClient(server.url).post('/invitations/accept', { token })).status).to.equal(422);
      expect((await new ApiClient(server.url).post('/invitations/accept', { token, password: 'wrong password 1' })).status).to.equal(401);
      const ok = await new ApiClient(server.url).post('/invitations/accept', { token, password: TEST_PASSWORD });
      expect(ok.status, ok.text).to.equal(200);
      expect(ok.body).to.include({ role: 'viewer', signed_in: false });
    });

    it('refuses an admin inviting an owner', async () => {
      const admin = await signIn('admin@example.com');
      const r = await admin.post(`/workspaces/${workspaceId}/invitations`, { email: 'boss@example.com', role: 'owner' });
      expect(r.status).to.equal(403);
    });

    it('makes a revoked invitation unusable', async () => {
      const r = await owner.post(`/workspaces/${workspaceId}/invitations`, { email: 'revoked@example.com', role: 'viewer' });
      const token = new URL(r.body.link).searchParams.get('token')!;
      expect((await owner.delete(`/workspaces/${workspaceId}/invitations/${r.body.invitation.id}`)).status).to.equal(204);
      expect((await new ApiClient(server.url).post('/invitations/accept', { token, password: 'a new password 99' })).status).to.equal(404);
    });

    it('refuses an expired invitation', async () => {
      const r = await owner.post(`/workspaces/${workspaceId}/invitations`, { email: 'late@example.com', role: 'viewer' });
      const token = new URL(r.body.link).searchParams.get('token')!;
      await t.app.db
        .updateTable('account_links')
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where('id', '=', r.body.invitation.id)
        .execute();
      expect((await new ApiClient(server.url).post('/invitations/accept', { token, password: 'a new password 99' })).status).to.equal(404);
    });
  });

  describe('password', () => {
    it('changes the password with the current one and ends the other sessions', async () => {
      await seedUser(t.app, { email: 'pw@example.com' });
      const a = await signIn('pw@example.com');
      const b = await signIn('pw@example.com');
      expect((await a.patch('/me', { new_password: 'another password 1' })).status).to.equal(422);
      expect((await a.patch('/me', { current_password: 'not it at all', new_password: 'another password 1' })).status).to.equal(422);
      const r = await a.patch('/me', { current_password: TEST_PASSWORD, new_password: 'another password 1', name: 'Pat' });
      expect(r.status, r.text).to.equal(200);
      expect(r.body.name).to.equal('Pat');
      expect((await a.get('/me')).status).to.equal(200);
      expect((await b.get('/me')).status).to.equal(401);
      await signIn('pw@example.com', 'another password 1');
    });

    it('resets a password with an admin-made link once, ending every session', async () => {
      const member = await seedUser(t.app, { email: 'forgot@example.com', workspaceId, role: 'editor' });
      const session = await signIn('forgot@example.com');
      const made = await owner.post(`/workspaces/${workspaceId}/members/${member.id}/password-reset-link`);
      expect(made.status, made.text).to.equal(201);
      const token = new URL(made.body.link).searchParams.get('token')!;
      const anon = new ApiClient(server.url);
      expect((await anon.post('/auth/password-reset/complete', { token, password: 'reset password 77' })).status).to.equal(204);
      expect((await anon.post('/auth/password-reset/complete', { token, password: 'reset password 88' })).status).to.equal(404);
      expect((await session.get('/me')).status).to.equal(401);
      await signIn('forgot@example.com', 'reset password 77');
    });

    it('refuses an admin a reset link for someone who owns another workspace', async () => {
      const other = (await createWorkspace(t.app.db, 'Theirs')).id;
      const member = await seedUser(t.app, { email: 'owns-other@example.com', workspaceId: other, role: 'owner' });
      await t.app.db.insertInto('memberships').values({ user_id: member.id, workspace_id: workspaceId, role: 'viewer' }).execute();
      const r = await owner.post(`/workspaces/${workspaceId}/members/${member.id}/password-reset-link`);
      expect(r.status).to.equal(403);
    });

    it('always answers a reset request with 202, whether or not the address has an account', async () => {
      const a = await new ApiClient(server.url).post('/auth/password-reset', { email: 'forgot@example.com' });
      const b = await new ApiClient(server.url).post('/auth/password-reset', { email: 'no-such@example.com' });
      expect([a.status, b.status]).to.deep.equal([202, 202]);
      expect(a.text).to.equal(b.text);
    });
  });

  /** Enrols TOTP for the signed-in `client` through the API; returns the manual key. */
  async function enrolTotp(client: ApiClient): Promise<string> {
    const started = await client.post('/me/mfa/totp');
    expect(started.status, started.text).to.equal(201);
    const confirmed = await client.post('/me/mfa/totp/confirm', { code: codeAt(started.body.manual_key, Date.now()) });
    expect(confirmed.status, confirmed.text).to.equal(200);
    return started.body.manual_key;
  }

  describe("a workspace's MFA policy", () => {
    let policyWs: string;
    let policyOwner: ApiClient;
    const requireMfa = async () =>
      (await t.app.db.selectFrom('workspaces').select('require_mfa').where('id', '=', policyWs).executeTakeFirstOrThrow()).require_mfa;

    before(async () => {
      policyWs = (await createWorkspace(t.app.db, 'Policy')).id;
      await seedUser(t.app, { email: 'policy-owner@example.com', workspaceId: policyWs, role: 'owner' });
      await seedUser(t.app, { email: 'policy-admin@example.com', workspaceId: policyWs, role: 'admin' });
      policyOwner = await signIn('policy-owner@example.com');
    });

    it('refuses an owner without MFA turning require_mfa on with 409 saying to enrol MFA first, changing nothing', async () => {
      const r = await policyOwner.patch(`/workspaces/${policyWs}`, { require_mfa: true, name: 'Renamed' });
      expect(r.status, r.text).to.equal(409);
      expect(r.body.detail).to.match(/^enrol MFA first .*require_mfa/);
      expect(await requireMfa()).to.equal(false);
      expect((await policyOwner.get(`/workspaces/${policyWs}`)).body.name).to.equal('Policy');
    });

    it('refuses an admin without MFA too, and still lets them make other changes', async () => {
      const admin = await signIn('policy-admin@example.com');
      expect((await admin.patch(`/workspaces/${policyWs}`, { require_mfa: true })).status).to.equal(409);
      const renamed = await admin.patch(`/workspaces/${policyWs}`, { name: 'Policy 2', require_mfa: false });
      expect(renamed.status, renamed.text).to.equal(200);
      expect(renamed.body).to.include({ name: 'Policy 2', require_mfa: false });
    });

    it('lets an owner with MFA turn require_mfa on, and keeps them in the workspace', async () => {
      await enrolTotp(policyOwner);
      const r = await policyOwner.patch(`/workspaces/${policyWs}`, { require_mfa: true });
      expect(r.status, r.text).to.equal(200);
      expect(r.body.require_mfa).to.equal(true);
      expect((await policyOwner.get(`/workspaces/${policyWs}`)).status).to.equal(200);
      expect((await policyOwner.patch(`/workspaces/${policyWs}`, { require_mfa: false })).status).to.equal(200);
    });

    it('lets an admin API key turn require_mfa on', async () => {
      const key = new ApiClient(server.url).withKey(await seedApiKey(t.app, policyWs, 'admin'));
      const r = await key.patch(`/workspaces/${policyWs}`, { require_mfa: true });
      expect(r.status, r.text).to.equal(200);
      expect(await requireMfa()).to.equal(true);
    });
  });

  describe("a person's own account events (GET /me/audit)", () => {
    const email = 'audited@example.com';
    let me: ApiClient;
    let meId: string;
    let manualKey: string;

    before(async () => {
      meId = (await seedUser(t.app, { email, workspaceId, role: 'editor' })).id;
      const wrong = await new ApiClient(server.url).post('/auth/sign-in', { email, password: 'not my password at all' });
      expect(wrong.status).to.equal(401);
      me = await signIn(email);
      manualKey = await enrolTotp(me);
      // Someone else's account event, and a change of mine in a workspace: neither is an account event of mine.
      await signIn('owner@example.com');
      expect((await me.post('/workspaces', { name: 'Mine' })).status).to.equal(201);
    });

    it('lists my failed and successful sign-ins and my MFA enrolment, newest first, and nothing else', async () => {
      const r = await me.get('/me/audit');
      expect(r.status, r.text).to.equal(200);
      expect(r.body.items.map((e: { action: string }) => e.action)).to.deep.equal(['confirmTotpEnrolment', 'startTotpEnrolment', 'signIn', 'signIn.failed']);
      for (const e of r.body.items) expect([e.actor.id, e.target?.id], e.action).to.include(meId);
      expect(r.body.items[3].actor).to.deep.equal({ type: 'user', id: meId, label: email });
      expect(r.body.items[3].details).to.include({ reason: 'wrong_password' });
      expect(r.text).to.not.include('not my password at all').and.not.include(TEST_PASSWORD).and.not.include(manualKey);
    });

    it('filters by action prefix and time, and pages with the cursor', async () => {
      const signIns = await me.get(`/me/audit?action=${encodeURIComponent('signIn*')}`);
      expect(signIns.body.items.map((e: { action: string }) => e.action)).to.deep.equal(['signIn', 'signIn.failed']);
      const future = await me.get(`/me/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
      expect(future.body.items).to.deep.equal([]);
      const first = await me.get('/me/audit?limit=3');
      expect(first.body.items).to.have.length(3);
      expect(first.body.next_cursor).to.be.a('string');
      const rest = await me.get(`/me/audit?limit=3&cursor=${encodeURIComponent(first.body.next_cursor)}`);
      expect(rest.body.items.map((e: { action: string }) => e.action)).to.deep.equal(['signIn.failed']);
      const bad = await me.get('/me/audit?action=sign*In');
      expect(bad.status).to.equal(422);
      expect(bad.body.errors[0].field).to.equal('query.action');
    });

    it('shows another person only their own events, and refuses an API key', async () => {
      const owners = await owner.get('/me/audit');
      expect(owners.status).to.equal(200);
      expect(owners.body.items.length).to.be.greaterThan(0);
      for (const e of owners.body.items) expect([e.actor.id, e.target?.id], e.action).to.include(ownerId).and.not.include(meId);
      const key = new ApiClient(server.url).withKey(await seedApiKey(t.app, workspaceId, 'admin'));
      expect((await key.get('/me/audit')).status).to.equal(403);
    });
  });
});
