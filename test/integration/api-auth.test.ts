import { expect } from 'chai';
import { createLink } from '../../src/accounts/links.js';
import { SESSION_COOKIE } from '../../src/api/session-cookie.js';
import { createWorkspace } from '../../src/store/repos.js';
import { ApiClient, seedUser, startApiServer, TEST_PASSWORD } from '../helpers/api.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const OWNER_PASSWORD = 'owner password 1234';

/** The session cookie a response set, as `name=value`. */
function sessionCookieOf(r: { headers: Headers }): string | undefined {
  return r.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith(`${SESSION_COOKIE}=`) && c.length > SESSION_COOKIE.length + 1);
}

describe('API sign-in and owner set-up', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof startApiServer>>;

  before(async () => {
    t = await createTestApp({ withQueues: false, env: { SIGN_IN_MAX_FAILURES: '3', SIGN_IN_LOCKOUT_MINUTES: '5' } });
    server = await startApiServer(t.app);
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
  });

  const auditActions = async () => (await t.app.db.selectFrom('audit_log').selectAll().orderBy('id').execute()).map((e) => e.action);

  describe('before an owner exists', () => {
    it('answers other operations with a 503 problem saying to set up the owner first', async () => {
      const r = await new ApiClient(server.url).post('/auth/sign-in', { email: 'a@example.com', password: 'whatever password' });
      expect(r.status).to.equal(503);
      expect(r.body.detail).to.include('set up the owner first');
    });

    it('still serves the OpenAPI document', async () => {
      expect((await new ApiClient(server.url).get('/openapi.json')).status).to.equal(200);
    });

    it('refuses an unknown owner-setup token with 404', async () => {
      const r = await new ApiClient(server.url).post('/auth/owner-setup', { token: 'lrsetup_nope', email: 'o@example.com', password: OWNER_PASSWORD });
      expect(r.status).to.equal(404);
    });

    it('names a weak password in a 422 problem without using the link', async () => {
      const { token } = await createLink(t.app.db, { purpose: 'owner_setup' });
      const r = await new ApiClient(server.url).post('/auth/owner-setup', { token, email: 'o@example.com', password: 'short' });
      expect(r.status).to.equal(422);
      expect(r.body.errors[0].field).to.equal('body.password');
      const row = await t.app.db.selectFrom('account_links').select('used_at').where('purpose', '=', 'owner_setup').executeTakeFirstOrThrow();
      expect(row.used_at).to.equal(null);
    });
  });

  describe('owner set-up', () => {
    let existingWs: string;
    let token: string;

    before(async () => {
      existingWs = (await createWorkspace(t.app.db, 'Made by CLI')).id;
      token = (await createLink(t.app.db, { purpose: 'owner_setup' })).token;
    });

    it('creates the owner of the existing workspace, signed in as an operator', async () => {
      const client = new ApiClient(server.url);
      const r = await client.post('/auth/owner-setup', { token, email: 'Owner@Example.com', password: OWNER_PASSWORD, name: 'Olive' });
      expect(r.status).to.equal(201);
      expect(r.body.user).to.include({ email: 'owner@example.com', is_operator: true, mfa_enabled: false });
      expect(r.body.workspaces).to.have.length(1);
      expect(r.body.workspaces[0]).to.deep.include({ id: existingWs, name: 'Made by CLI', role: 'owner', can_read_answers: false, require_mfa: false });
      client.csrfToken = r.body.csrf_token;
      const s = await client.get('/auth/session');
      expect(s.status).to.equal(200);
      expect(s.body.workspaces[0].id).to.equal(existingWs);
    });

    it('refuses the same link a second time', async () => {
      const r = await new ApiClient(server.url).post('/auth/owner-setup', { token, email: 'second@example.com', password: OWNER_PASSWORD });
      expect(r.status).to.equal(404);
    });

    it('refuses a fresh link once an owner exists', async () => {
      const fresh = (await createLink(t.app.db, { purpose: 'owner_setup' })).token;
      const r = await new ApiClient(server.url).post('/auth/owner-setup', { token: fresh, email: 'second@example.com', password: OWNER_PASSWORD });
      expect(r.status).to.equal(409);
    });

    it('audits the set-up as the new owner', async () => {
      const e = await t.app.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'ownerSetup')
        .where('actor_type', '=', 'user')
        .executeTakeFirstOrThrow();
      expect(e).to.include({ workspace_id: existingWs, actor_label: 'owner@example.com' });
      expect(JSON.stringify(e)).to.not.include(OWNER_PASSWORD);
    });
  });

  describe('sign-in', () => {
    it('gives the same 401 for an unknown email and a wrong password', async () => {
      await seedUser(t.app, { email: 'same@example.com' });
      const a = await new ApiClient(server.url).post('/auth/sign-in', { email: 'nobody@example.com', password: 'wrong password 1' });
      const b = await new ApiClient(server.url).post('/auth/sign-in', { email: 'same@example.com', password: 'wrong password 1' });
      expect(a.status).to.equal(401);
      expect(b.status).to.equal(401);
      expect(a.body.detail).to.equal(b.body.detail);
    });

    it('signs in with an httpOnly SameSite=Lax cookie and a CSRF token, and audits it', async () => {
      const user = await seedUser(t.app, { email: 'ok@example.com' });
      const r = await new ApiClient(server.url).post('/auth/sign-in', { email: 'OK@example.com', password: TEST_PASSWORD });
      expect(r.status).to.equal(200);
      expect(r.body).to.include({ mfa_required: false });
      expect(r.body.csrf_token).to.be.a('string');
      const set = r.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
      expect(set)
        .to.match(/HttpOnly/i)
        .and.match(/SameSite=Lax/i);
      const e = await t.app.db.selectFrom('audit_log').selectAll().where('action', '=', 'signIn').where('actor_id', '=', user.id).executeTakeFirstOrThrow();
      expect(e.actor_type).to.equal('user');
    });

    it('ends the session a sign-in came with (the session is rotated)', async () => {
      await seedUser(t.app, { email: 'rotate@example.com' });
      const client = new ApiClient(server.url);
      const first = await client.post('/auth/sign-in', { email: 'rotate@example.com', password: TEST_PASSWORD });
      const oldCookie = sessionCookieOf(first)!;
      client.csrfToken = first.body.csrf_token;
      const second = await client.post('/auth/sign-in', { email: 'rotate@example.com', password: TEST_PASSWORD });
      expect(second.status).to.equal(200);
      expect(sessionCookieOf(second)).to.not.equal(oldCookie);
      const withOld = await fetch(`${server.url}/api/v1/auth/session`, { headers: { cookie: oldCookie } });
      expect(withOld.status).to.equal(401);
    });

    it('audits a failed sign-in without the password', async () => {
      await seedUser(t.app, { email: 'audit-fail@example.com' });
      const wrong = 'a wrong password 42';
      await new ApiClient(server.url).post('/auth/sign-in', { email: 'audit-fail@example.com', password: wrong });
      const e = await t.app.db.selectFrom('audit_log').selectAll().where('action', '=', 'signIn.failed').orderBy('id', 'desc').executeTakeFirstOrThrow();
      expect(e).to.include({ actor_type: 'user', actor_label: 'audit-fail@example.com' });
      expect(e.details).to.deep.equal({ reason: 'wrong_password', outcome: 'refused', status: 401 });
      expect(JSON.stringify(await t.app.db.selectFrom('audit_log').selectAll().execute())).to.not.include(wrong);
    });

    it('locks the account after the configured failures in a row, refusing even the right password with 423', async () => {
      const user = await seedUser(t.app, { email: 'lock@example.com' });
      const client = new ApiClient(server.url);
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await client.post('/auth/sign-in', { email: 'lock@example.com', password: `wrong password ${i}` })).status);
      expect(statuses).to.deep.equal([401, 401, 423]);
      const right = await client.post('/auth/sign-in', { email: 'lock@example.com', password: TEST_PASSWORD });
      expect(right.status).to.equal(423);
      expect(Number(right.headers.get('retry-after'))).to.be.greaterThan(200);
      expect(sessionCookieOf(right)).to.equal(undefined);
      const lockouts = await t.app.db.selectFrom('audit_log').selectAll().where('action', '=', 'account.lockedOut').where('actor_id', '=', user.id).execute();
      expect(lockouts).to.have.length(1);
      expect(await auditActions()).to.include('signIn.refusedLocked');
    });

    it('resets the failure count on a successful sign-in', async () => {
      await seedUser(t.app, { email: 'reset-count@example.com' });
      const client = new ApiClient(server.url);
      for (let i = 0; i < 2; i++) await client.post('/auth/sign-in', { email: 'reset-count@example.com', password: 'wrong password x' });
      expect((await client.post('/auth/sign-in', { email: 'reset-count@example.com', password: TEST_PASSWORD })).status).to.equal(200);
      const other = new ApiClient(server.url);
      expect((await other.post('/auth/sign-in', { email: 'reset-count@example.com', password: 'wrong password y' })).status).to.equal(401);
    });
  });

  describe('sign-out', () => {
    it('ends the session and clears the cookie', async () => {
      await seedUser(t.app, { email: 'out@example.com' });
      const client = new ApiClient(server.url);
      const r = await client.post('/auth/sign-in', { email: 'out@example.com', password: TEST_PASSWORD });
      client.csrfToken = r.body.csrf_token;
      expect((await client.post('/auth/sign-out')).status).to.equal(204);
      expect(client.hasCookie(SESSION_COOKIE)).to.equal(false);
      expect((await fetch(`${server.url}/api/v1/auth/session`, { headers: { cookie: sessionCookieOf(r)! } })).status).to.equal(401);
    });

    it('ends every session of the user with sign-out-everywhere', async () => {
      await seedUser(t.app, { email: 'everywhere@example.com' });
      const a = new ApiClient(server.url);
      const b = new ApiClient(server.url);
      const ra = await a.post('/auth/sign-in', { email: 'everywhere@example.com', password: TEST_PASSWORD });
      await b.post('/auth/sign-in', { email: 'everywhere@example.com', password: TEST_PASSWORD });
      a.csrfToken = ra.body.csrf_token;
      expect((await a.post('/auth/sign-out-everywhere')).status).to.equal(204);
      expect((await b.get('/auth/session')).status).to.equal(401);
    });

    it('refuses a change through a session without the CSRF header', async () => {
      await seedUser(t.app, { email: 'csrf@example.com' });
      const client = new ApiClient(server.url);
      await client.post('/auth/sign-in', { email: 'csrf@example.com', password: TEST_PASSWORD });
      expect((await client.post('/auth/sign-out')).status).to.equal(403);
    });
  });
});
