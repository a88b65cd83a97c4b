// With SMTP_URL set, invitation and password-reset links go by mail (to a loopback SMTP fake)
// instead of into API answers; a refused mail hands the invitation link to the admin instead.
import { expect } from 'chai';
import { createWorkspace } from '../../src/store/repos.js';
import { linkIn, startFakeSmtp, type FakeSmtp } from '../fakes/smtp-server.js';
import { ApiClient, seedUser, startApiServer, TEST_PASSWORD } from '../helpers/api.js';
import { waitUntil } from '../helpers/e2e.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

describe('API mail: links by SMTP', () => {
  let smtp: FakeSmtp;
  let t: TestApp;
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let workspaceId: string;
  let owner: ApiClient;

  before(async () => {
    smtp = await startFakeSmtp();
    t = await createTestApp({ withQueues: false, env: { SMTP_URL: smtp.url, SMTP_FROM: 'LeadRelay <noreply@example.test>' } });
    server = await startApiServer(t.app);
    workspaceId = (await createWorkspace(t.app.db, 'Mailed')).id;
    await seedUser(t.app, { email: 'owner@example.com', workspaceId, role: 'owner' });
    owner = new ApiClient(server.url);
    const r = await owner.post('/auth/sign-in', { email: 'owner@example.com', password: TEST_PASSWORD });
    owner.csrfToken = r.body.csrf_token;
  });
  after(async () => {
    await server?.close();
    await t?.cleanup();
    await smtp?.close();
  });

  it('mails an invitation link instead of returning it, and the mailed link works', async () => {
    smtp.mails.length = 0;
    const r = await owner.post(`/workspaces/${workspaceId}/invitations`, { email: 'guest@example.com', role: 'viewer' });
    expect(r.status, r.text).to.equal(201);
    expect(r.body).to.include({ mailed: true, link: null, mail_problem: null });
    expect(smtp.mails).to.have.length(1);
    expect(smtp.mails[0]!.to).to.deep.equal(['guest@example.com']);
    expect(smtp.mails[0]!.from).to.equal('noreply@example.test');
    const link = linkIn(smtp.mails[0]!)!;
    const token = new URL(link).searchParams.get('token')!;
    expect(r.text).to.not.include(token);
    const accepted = await new ApiClient(server.url).post('/invitations/accept', { token, password: 'guest password 123' });
    expect(accepted.status, accepted.text).to.equal(200);
    expect(accepted.body).to.include({ workspace_id: workspaceId, role: 'viewer' });
  });

  it('returns the invitation link with the reason when the SMTP server refuses the mail', async () => {
    smtp.refuse = true;
    try {
      const r = await owner.post(`/workspaces/${workspaceId}/invitations`, { email: 'refused@example.com', role: 'viewer' });
      expect(r.status, r.text).to.equal(201);
      expect(r.body.mailed).to.equal(false);
      expect(r.body.link).to.match(/token=/);
      expect(r.body.mail_problem).to.match(/could not be sent/);
    } finally {
      smtp.refuse = false;
    }
  });

  it('mails a password-reset link that sets a new password', async () => {
    await seedUser(t.app, { email: 'forgetful@example.com', workspaceId, role: 'viewer' });
    smtp.mails.length = 0;
    const r = await new ApiClient(server.url).post('/auth/password-reset', { email: 'forgetful@example.com' });
    expect(r.status).to.equal(202);
    const mail = await waitUntil(async () => smtp.mails.find((m) => m.to.includes('forgetful@example.com')), 10_000, 'the reset mail');
    const token = new URL(linkIn(mail)!).searchParams.get('token')!;
    const done = await new ApiClient(server.url).post('/auth/password-reset/complete', { token, password: 'a brand new password' });
    expect(done.status, done.text).to.be.within(200, 204);
    const signIn = await new ApiClient(server.url).post('/auth/sign-in', { email: 'forgetful@example.com', password: 'a brand new password' });
    expect(signIn.status).to.equal(200);
  });
});
