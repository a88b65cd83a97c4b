// Accounts through the real binary, as people live them: the owner set up from the link the
// server prints, TOTP enrolment and sign-in with a code, a recovery code (once), an invitation,
// a role change that takes effect at once, lockout, a reset link from the CLI, the audit trail of
// each; and the whole run's output scanned for every secret it handled.
import { expect } from 'chai';
import { Secret, TOTP } from 'otpauth';
import { SESSION_COOKIE } from '../../src/api/session-cookie.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { ApiClient, type ApiResponse } from '../helpers/api.js';
import { baseEnv, cli, flushPrefix, type RunningProgram, runCli, startProgram, waitUntil } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const OWNER = { email: 'owner@example.com', password: 'owner e2e password 1' };
const INVITEE = { email: 'invitee@example.com', password: 'invitee e2e password 2' };
const RESET_PASSWORD = 'invitee reset password 3';

const codeAt = (manualKey: string, timestamp: number) =>
  new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(manualKey) }).generate({ timestamp });

const tokenOf = (link: string) => new URL(link).searchParams.get('token')!;

describe('e2e: accounts and sign-in', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  /** Every secret this run handled: none may appear in the program's output. */
  const secrets = new Set<string>([OWNER.password, INVITEE.password, RESET_PASSWORD]);
  let setupToken: string;

  /** Keeps the session cookies and CSRF tokens a response handed out, to scan the logs for them. */
  const remember = <R extends ApiResponse>(r: R): R => {
    for (const c of r.headers.getSetCookie()) {
      const value = c.split(';')[0]!.slice(SESSION_COOKIE.length + 1);
      if (c.startsWith(`${SESSION_COOKIE}=`) && value) secrets.add(value);
    }
    if (r.body?.csrf_token) secrets.add(r.body.csrf_token);
    return r;
  };

  async function signIn(email: string, password: string): Promise<ApiClient> {
    const client = new ApiClient(program.url);
    const r = remember(await client.post('/auth/sign-in', { email, password }));
    expect(r.status, r.text).to.equal(200);
    client.csrfToken = r.body.csrf_token;
    return client;
  }

  const auditActions = async () => (await dbh.db.selectFrom('audit_log').select('action').orderBy('id').execute()).map((e) => e.action);

  before(async () => {
    schema = await createTestSchema('acc');
    env = baseEnv({ DATABASE_URL: schema.url, LOG_LEVEL: 'info', SIGN_IN_MAX_FAILURES: '3', SIGN_IN_LOCKOUT_MINUTES: '10' });
    program = await startProgram('start', env);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
  });
  after(async () => {
    await program?.kill();
    await dbh?.close();
    await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
  });

  let owner: ApiClient;
  let workspaceId: string;
  let manualKey: string;
  let recoveryCodes: string[];
  let inviteeId: string;

  it('prints a one-time owner-setup link on the terminal, not in the structured log', async () => {
    const line = await waitUntil(async () => /\/setup\?token=(\S+)/.exec(program.output()), 60_000, 'the owner-setup link');
    setupToken = decodeURIComponent(line[1]!);
    const jsonLinesOf = () =>
      program
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'));
    // stdout and stderr are two pipes: the log line, written first, may still reach us after the link.
    await waitUntil(async () => jsonLinesOf().some((l) => l.includes('owner-setup link printed on stderr')), 60_000, 'the log line pointing to stderr');
    for (const l of jsonLinesOf()) expect(l).to.not.include(setupToken);
  });

  it('answers nothing but owner set-up before an owner exists', async () => {
    const r = await new ApiClient(program.url).get('/workspaces');
    expect(r.status).to.equal(503);
    expect(r.body.detail).to.include('set up the owner first');
  });

  it('sets up the owner from the printed link, signed in, owning a new workspace', async () => {
    const client = new ApiClient(program.url);
    const r = remember(await client.post('/auth/owner-setup', { token: setupToken, ...OWNER, workspace_name: 'Acme' }));
    expect(r.status, r.text).to.equal(201);
    expect(r.body.workspaces).to.have.length(1);
    expect(r.body.workspaces[0]).to.include({ name: 'Acme', role: 'owner' });
    workspaceId = r.body.workspaces[0].id;
    client.csrfToken = r.body.csrf_token;
    owner = client;
    expect((await client.get('/me')).body).to.include({ email: OWNER.email, is_operator: true });
  });

  it('enrols the owner in TOTP and signs in with a code', async () => {
    const start = await owner.post('/me/mfa/totp');
    expect(start.status).to.equal(201);
    manualKey = start.body.manual_key;
    secrets.add(manualKey);
    const confirm = await owner.post('/me/mfa/totp/confirm', { code: codeAt(manualKey, Date.now()) });
    expect(confirm.status, confirm.text).to.equal(200);
    recoveryCodes = confirm.body.recovery_codes;
    for (const c of recoveryCodes) secrets.add(c);

    const client = new ApiClient(program.url);
    const pending = remember(await client.post('/auth/sign-in', OWNER));
    expect(pending.body.mfa_required).to.equal(true);
    client.csrfToken = pending.body.csrf_token;
    expect((await client.get(`/workspaces/${workspaceId}`)).status).to.equal(401);
    // The next step's code: the confirmation spent this one.
    const done = remember(await client.post('/auth/mfa', { code: codeAt(manualKey, Date.now() + 30_000) }));
    expect(done.status, done.text).to.equal(200);
    client.csrfToken = done.body.csrf_token;
    expect((await client.get(`/workspaces/${workspaceId}`)).status).to.equal(200);
    owner = client;
  });

  it('signs in with a recovery code once and refuses it the second time', async () => {
    const attempt = async () => {
      const c = new ApiClient(program.url);
      c.csrfToken = remember(await c.post('/auth/sign-in', OWNER)).body.csrf_token;
      return remember(await c.post('/auth/mfa', { recovery_code: recoveryCodes[0] }));
    };
    expect((await attempt()).status).to.equal(200);
    expect((await attempt()).status).to.equal(401);
  });

  it('invites a viewer whose link creates their account', async () => {
    const inv = await owner.post(`/workspaces/${workspaceId}/invitations`, { email: INVITEE.email, role: 'viewer' });
    expect(inv.status, inv.text).to.equal(201);
    secrets.add(tokenOf(inv.body.link));
    const invitee = new ApiClient(program.url);
    const r = remember(await invitee.post('/invitations/accept', { token: tokenOf(inv.body.link), password: INVITEE.password }));
    expect(r.status, r.text).to.equal(200);
    expect(r.body).to.include({ role: 'viewer', signed_in: true });
    inviteeId = r.body.user.id;
  });

  it('makes a role change take effect at once: a viewer is refused a change, and allowed it once promoted', async () => {
    const viewer = await signIn(INVITEE.email, INVITEE.password);
    expect((await viewer.patch(`/workspaces/${workspaceId}`, { name: 'Renamed by viewer' })).status).to.equal(403);
    expect((await owner.patch(`/workspaces/${workspaceId}/members/${inviteeId}`, { role: 'admin' })).status).to.equal(200);
    const after = await viewer.patch(`/workspaces/${workspaceId}`, { name: 'Renamed by admin' });
    expect(after.status, after.text).to.equal(200);
  });

  it('locks the account after repeated wrong passwords, refusing even the right one', async () => {
    const client = new ApiClient(program.url);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await client.post('/auth/sign-in', { email: INVITEE.email, password: `not the password ${i}` })).status);
    expect(statuses).to.deep.equal([401, 401, 423]);
    const right = await client.post('/auth/sign-in', { email: INVITEE.email, password: INVITEE.password });
    expect(right.status).to.equal(423);
    expect(right.headers.get('retry-after')).to.match(/^\d+$/);
  });

  it('lists users and prints a reset link with the CLI; the link sets a new password and lifts the lock', async () => {
    const list = JSON.parse(await cli(['users', 'list', '--json'], env)) as { email: string; locked_until: string | null }[];
    expect(list.map((u) => u.email)).to.deep.equal([OWNER.email, INVITEE.email]);
    expect(list[1]!.locked_until).to.be.a('string');
    const link = await cli(['users', 'reset-link', '--email', INVITEE.email], env);
    secrets.add(tokenOf(link));
    const r = await new ApiClient(program.url).post('/auth/password-reset/complete', { token: tokenOf(link), password: RESET_PASSWORD });
    expect(r.status, r.text).to.equal(204);
    await signIn(INVITEE.email, RESET_PASSWORD);
  });

  it('left an audit entry for each of these, naming who acted', async () => {
    const actions = await auditActions();
    expect(actions).to.include.members([
      'ownerSetup',
      'startTotpEnrolment',
      'confirmTotpEnrolment',
      'signIn',
      'signIn.mfa',
      'signIn.mfaFailed',
      'createInvitation',
      'invitation.accepted',
      'updateMember',
      'updateWorkspace',
      'signIn.failed',
      'account.lockedOut',
      'signIn.refusedLocked',
      'passwordReset.linkCreated',
      'passwordReset.completed',
    ]);
    const promotion = await dbh.db.selectFrom('audit_log').selectAll().where('action', '=', 'updateMember').executeTakeFirstOrThrow();
    expect(promotion).to.include({ workspace_id: workspaceId, actor_type: 'user', actor_label: OWNER.email, target_id: inviteeId });
    const all = JSON.stringify(await dbh.db.selectFrom('audit_log').selectAll().execute());
    for (const s of [...secrets, setupToken]) expect(all).to.not.include(s);
  });

  it("keeps every secret out of the program's output (the setup link only on its one terminal line)", async () => {
    await program.kill();
    const out = program.output();
    expect(secrets.size).to.be.greaterThan(20);
    for (const s of secrets) expect(out.includes(s), `a secret of ${s.length} characters is in the output`).to.equal(false);
    expect(out.split(setupToken).length - 1).to.equal(1);
  });

  describe('users create-owner', () => {
    let fresh: TestSchema;
    let freshEnv: Record<string, string>;
    before(async () => {
      fresh = await createTestSchema('accowner');
      freshEnv = { ...env, DATABASE_URL: fresh.url };
    });
    after(async () => {
      await fresh?.drop();
    });

    it('refuses without a password from a file, stdin or LEADRELAY_PASSWORD', async () => {
      const r = await runCli(['users', 'create-owner', '--email', 'cli-owner@example.com'], freshEnv);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('LEADRELAY_PASSWORD');
    });

    it('creates the owner from LEADRELAY_PASSWORD, once', async () => {
      const password = 'cli owner password 4';
      const r = await runCli(['users', 'create-owner', '--email', 'cli-owner@example.com'], { ...freshEnv, LEADRELAY_PASSWORD: password });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout.trim()).to.match(/^[0-9a-f-]{36}$/);
      expect(r.stdout + r.stderr).to.not.include(password);
      const again = await runCli(['users', 'create-owner', '--email', 'second@example.com'], { ...freshEnv, LEADRELAY_PASSWORD: password });
      expect(again.code).to.equal(2);
      expect(again.stderr).to.include('an owner is set up already');
    });
  });
});
