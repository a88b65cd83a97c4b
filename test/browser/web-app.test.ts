// The web app in Debian's Chromium against the real binary: owner set-up from the link the
// server prints, signing out and in, TOTP enrolment and sign-in with a code, an invitation
// accepted in a second browser, a viewer who sees no admin controls (and whom the API refuses
// anyway), API keys, members, keyboard-only use, 375 px phones, axe-core on every page, the CSP,
// and a screenshot of each page in test-results/screens/.
import { expect } from 'chai';
import { Secret, TOTP } from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { baseEnv, flushPrefix, type RunningProgram, startProgram, waitUntil } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';
import {
  callApiAsPage,
  checkPage,
  expectNoSeriousA11yViolations,
  focused,
  launchChromium,
  openSettings,
  openTab,
  type Person,
  screenshot,
  scrollsHorizontally,
  setUpOwner,
  signIn,
  signOut,
  type Tab,
  tabTo,
  untilLoaded,
  screenshotTabsIfFailed,
  expectCleanTabs,
} from './browser.js';

const OWNER: Person = { email: 'owner@example.com', password: 'owner browser password 1', name: 'Olive Owner' };
const VIEWER: Person = { email: 'viewer@example.com', password: 'viewer browser password 2', name: 'Vic Viewer' };

const codeAt = (manualKey: string, timestamp: number) =>
  new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(manualKey) }).generate({ timestamp });

describe('browser: the web app', function () {
  this.timeout(120_000);
  let schema: TestSchema;
  let env: Record<string, string>;
  let program: RunningProgram;
  let browser: Browser;
  let owner: Tab;
  let workspaceId: string;
  const tabs: Tab[] = [];

  const url = (path: string) => `${program.url}${path}`;
  const heading = (page: Page, name: string) => page.getByRole('heading', { level: 1, name }).waitFor();
  /** A settings section's title (under the Settings page's h1). */
  const section = (page: Page, name: string) => page.getByRole('heading', { level: 2, name }).waitFor();

  async function newTab(opts?: { width?: number; height?: number }): Promise<Tab> {
    const tab = await openTab(browser, opts);
    tabs.push(tab);
    return tab;
  }

  before(async () => {
    schema = await createTestSchema('web');
    env = baseEnv({ DATABASE_URL: schema.url });
    [program, browser] = await Promise.all([startProgram('serve', env), launchChromium()]);
    owner = await newTab();
  });
  afterEach(async function () {
    await screenshotTabsIfFailed(this.currentTest, tabs, '');
  });
  after(async () => {
    expectCleanTabs(tabs);
    await browser?.close();
    await program?.kill();
    await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('serves the app with a strict CSP, index.html uncached and hashed assets cached for a year', async () => {
    const page = await fetch(url('/w/anything/settings'));
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/text\/html/);
    expect(page.headers.get('cache-control')).to.equal('no-cache');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).to.include("script-src 'self'");
    expect(csp).to.not.include('unsafe-inline');
    const html = await page.text();
    expect(html, 'no inline script').to.not.match(/<script(?![^>]*\bsrc=)[^>]*>/);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(url(asset));
    expect(js.status).to.equal(200);
    expect(js.headers.get('cache-control')).to.include('max-age=31536000');
    expect((await fetch(url('/api/v1/nothing-here'))).headers.get('content-type')).to.match(/problem\+json/);
    expect((await fetch(url('/healthz'))).status).to.equal(200);
  });

  it('offers owner set-up at / before anyone can sign in', async () => {
    await owner.page.goto(url('/'));
    await heading(owner.page, 'Set up LeadRelay');
    await checkPage(owner.page, '01-setup-needed');
  });

  it('sets up the owner from the printed link and lands signed in', async () => {
    const printed = await waitUntil(async () => /(\S+\/setup\?token=\S+)/.exec(program.output())?.[1], 60_000, 'the owner-setup link');
    const link = new URL(printed);
    // A password the server refuses: its words appear at the password field, tied to it.
    await setUpOwner(owner.page, url(`${link.pathname}${link.search}`), { ...OWNER, password: 'short' }, 'Acme Leads');
    const password = owner.page.getByLabel('Password');
    await owner.page.locator('input[aria-invalid="true"]').waitFor();
    expect(await password.getAttribute('aria-invalid')).to.equal('true');
    const describedBy = (await password.getAttribute('aria-describedby'))!.split(' ');
    const errorText = await owner.page.evaluate(
      (ids) => ids.map((id) => (globalThis as any).document.getElementById(id)?.textContent ?? '').join(' '),
      describedBy,
    );
    expect(errorText).to.match(/at least 10 characters/);
    expect((await focused(owner.page)).name, 'focus goes to the refused field').to.equal('Password');

    await password.fill(OWNER.password);
    await owner.page.getByRole('button', { name: 'Create account' }).click();
    await heading(owner.page, 'Setup wizard');
    workspaceId = /\/w\/([^/]+)\/wizard/.exec(owner.page.url())![1]!;
    await expect(owner.page.getByRole('navigation', { name: 'Main' }).getByText(OWNER.email)).to.be.ok;
    await checkPage(owner.page, '03-wizard');
  });

  it('signs out and in again', async () => {
    await signOut(owner.page);
    await checkPage(owner.page, '04-sign-in');
    await signIn(owner.page, program.url, { ...OWNER, password: 'not the password 0' });
    await owner.page.getByRole('alert').filter({ hasText: 'the email or password is wrong' }).waitFor();
    await signIn(owner.page, program.url, OWNER);
    await heading(owner.page, 'Setup wizard');
  });

  it('shows each page of the workspace without serious accessibility violations', async () => {
    const page = owner.page;
    for (const [path, title, name] of [
      ['leads', 'Lead log', '05-lead-log'],
      ['health', 'Health', '06-health'],
      ['settings/workspace', 'Workspace', '07-settings-workspace'],
      ['settings/members', 'Members', '08-settings-members'],
      ['settings/invitations', 'Invitations', '09-settings-invitations'],
      ['settings/api-keys', 'API keys', '10-settings-api-keys'],
      ['settings/audit', 'Audit log', '11-settings-audit'],
      ['settings/mfa', 'Two-factor authentication', '12-settings-mfa'],
    ]) {
      await page.goto(url(`/w/${workspaceId}/${path}`));
      await (path!.startsWith('settings/') ? section(page, title!) : heading(page, title!));
      await untilLoaded(page);
      await checkPage(page, name!);
    }
    await page.goto(url('/workspaces'));
    await heading(page, 'Workspaces');
    await checkPage(page, '13-workspaces');
    for (const [path, title, name] of [
      ['/forgot-password', 'Reset your password', '14-forgot-password'],
      ['/reset-password?token=lrreset_not_a_real_one', 'Choose a new password', '15-reset-password'],
      ['/no/such/page', 'Page not found', '16-not-found'],
      ['/setup?token=lrsetup_used_up', 'LeadRelay is set up', '16b-setup-done'],
      ['/invitation', 'Accept an invitation', '16c-invitation-without-token'],
    ]) {
      const anon = await newTab();
      await anon.page.goto(url(path!));
      await heading(anon.page, title!);
      await checkPage(anon.page, name!);
      await anon.context.close();
    }
  });

  it('renames the workspace and changes its lead retention', async () => {
    const page = owner.page;
    await page.goto(url(`/w/${workspaceId}/settings/workspace`));
    await page.getByLabel('Name').fill('Acme Leads EU');
    await page.getByLabel('Keep leads for (days)').fill('45');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Workspace settings saved.' }).waitFor();
    await page.getByRole('button', { name: /Acme Leads EU/ }).waitFor();
    await page.reload();
    expect(await page.getByLabel('Keep leads for (days)').inputValue()).to.equal('45');
  });

  it('creates an API key, shows its secret once and revokes it', async () => {
    const page = owner.page;
    await openSettings(page, 'API keys');
    await section(page, 'API keys');
    await page.getByLabel('Name').fill('nightly export');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.locator('[data-secret]').textContent())!.trim();
    expect(secret).to.match(/^lrk_/);
    const row = page.getByRole('row').filter({ hasText: 'nightly export' });
    await row.getByText(`…${secret.slice(-4)}`).waitFor();
    await checkPage(page, '17-api-key-created');
    const withKey = await fetch(url(`/api/v1/workspaces/${workspaceId}`), { headers: { authorization: `Bearer ${secret}` } });
    expect(withKey.status).to.equal(200);

    await page.reload();
    expect(await page.locator('[data-secret]').count(), 'the secret is not shown again').to.equal(0);
    await row.getByRole('button', { name: 'Revoke key nightly export' }).click();
    const dialog = page.getByRole('alertdialog');
    await expectNoSeriousA11yViolations(page, 'the revoke dialog');
    await dialog.getByRole('button', { name: 'Revoke key' }).click();
    await row.getByText(/^Revoked/).waitFor();
    const afterRevoke = await fetch(url(`/api/v1/workspaces/${workspaceId}`), { headers: { authorization: `Bearer ${secret}` } });
    expect(afterRevoke.status).to.equal(401);
  });

  let viewer: Tab;

  it('invites a viewer, who accepts in another browser and lands in the workspace', async () => {
    const page = owner.page;
    await openSettings(page, 'Invitations');
    await page.getByLabel('Email').fill(VIEWER.email);
    await page.getByRole('button', { name: 'Send invitation' }).click();
    const link = (await page.locator('[data-secret]').textContent())!.trim();
    expect(link).to.match(/\/invitation\?token=/);
    await page.getByRole('row').filter({ hasText: VIEWER.email }).getByText('Pending').waitFor();
    await checkPage(page, '18-invitation-created');

    viewer = await newTab();
    const invited = new URL(link);
    await viewer.page.goto(url(`${invited.pathname}${invited.search}`));
    await heading(viewer.page, 'Join a LeadRelay workspace');
    await checkPage(viewer.page, '19-accept-invitation');
    await viewer.page.getByLabel('Your name').fill(VIEWER.name!);
    await viewer.page.getByLabel('Password').fill(VIEWER.password);
    await viewer.page.getByRole('button', { name: 'Accept invitation' }).click();
    await heading(viewer.page, 'Setup wizard');
    expect(viewer.page.url()).to.include(`/w/${workspaceId}/`);

    await page.reload();
    await page.getByRole('row').filter({ hasText: VIEWER.email }).getByText('Accepted').waitFor();
  });

  it('shows a viewer no admin controls, and the API refuses them anyway', async () => {
    const page = viewer.page;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    // Alerts first: a viewer sees where alerts go, without a control to change it.
    await section(page, 'Alerts');
    const sections = await page.getByRole('navigation', { name: 'Settings' }).getByRole('link').allTextContents();
    expect(sections).to.deep.equal(['Alerts', 'Two-factor authentication']);
    await checkPage(page, '20-viewer-settings');
    for (const section of ['members', 'invitations', 'api-keys', 'audit', 'workspace']) {
      await page.goto(url(`/w/${workspaceId}/settings/${section}`));
      await page.getByText(/Your role here \(viewer\) cannot/).waitFor();
      expect(await page.getByRole('button', { name: /Remove|Revoke|Create key|Send invitation|Save/ }).count(), section).to.equal(0);
      expect(await page.getByRole('table').count(), section).to.equal(0);
    }
    expect(await callApiAsPage(page, 'POST', `/workspaces/${workspaceId}/invitations`, { email: 'x@example.com', role: 'viewer' })).to.equal(403);
    expect(await callApiAsPage(page, 'POST', `/workspaces/${workspaceId}/api-keys`, { name: 'sneaky', role: 'viewer' })).to.equal(403);
    expect(await callApiAsPage(page, 'PATCH', `/workspaces/${workspaceId}`, { require_mfa: false })).to.equal(403);
    expect(await callApiAsPage(page, 'GET', `/workspaces/${workspaceId}/members`)).to.equal(403);
  });

  it("changes the viewer's role and then removes them; their next request is refused", async () => {
    const page = owner.page;
    await openSettings(page, 'Members');
    const row = page.getByRole('row').filter({ hasText: VIEWER.email });
    await row.getByRole('button', { name: /Role of viewer@example.com/ }).click();
    await page.getByRole('option', { name: /Editor/ }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `${VIEWER.email} is now editor.` })
      .waitFor();
    expect(await callApiAsPage(viewer.page, 'GET', `/workspaces/${workspaceId}/leads`)).to.equal(200);

    await row.getByRole('button', { name: `Remove ${VIEWER.email}` }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Remove' }).click();
    await row.waitFor({ state: 'detached' });
    expect(await callApiAsPage(viewer.page, 'GET', `/workspaces/${workspaceId}`)).to.equal(404);
  });

  it('signs in and reaches every settings section by keyboard alone (Tab and Enter)', async () => {
    const tab = await newTab();
    const page = tab.page;
    await page.goto(url('/sign-in'));
    await heading(page, 'Sign in');
    await tabTo(page, 'Email');
    await page.keyboard.type('nobody@example.com');
    await tabTo(page, 'Password');
    await page.keyboard.type('wrong password 123');
    await page.keyboard.press('Enter');
    // The failure is announced and focused, so the keyboard user lands on it.
    await page.getByRole('alert').filter({ hasText: 'the email or password is wrong' }).waitFor();
    expect((await focused(page)).name).to.include('the email or password is wrong');

    await tabTo(page, 'Email');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(OWNER.email);
    await tabTo(page, 'Password');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(OWNER.password);
    await tabTo(page, 'Sign in');
    await page.keyboard.press('Enter');
    await heading(page, 'Setup wizard');

    await tabTo(page, 'Settings');
    await page.keyboard.press('Enter');
    await section(page, 'Workspace');
    expect((await focused(page)).name, 'focus moves to the new page title').to.equal('Settings');
    for (const name of ['Members', 'Invitations', 'API keys', 'Audit log']) {
      await tabTo(page, name);
      await page.keyboard.press('Enter');
      await section(page, name);
      expect((await focused(page)).name, 'focus stays on the section link, like a tab').to.equal(name);
    }
    await tabTo(page, 'API keys');
    await page.keyboard.press('Enter');
    await section(page, 'API keys');
    await tabTo(page, 'Name');
    await page.keyboard.type('made by keyboard');
    await tabTo(page, 'Create key');
    await page.keyboard.press('Enter');
    await page.locator('[data-secret]').waitFor();
    await tabTo(page, 'Revoke key made by keyboard');
    await page.keyboard.press('Enter');
    // The dialog opens with Cancel focused; Tab to the destructive button and confirm.
    await page.getByRole('alertdialog').waitFor();
    await tabTo(page, 'Revoke key');
    await page.keyboard.press('Enter');
    await page
      .getByRole('row')
      .filter({ hasText: 'made by keyboard' })
      .getByText(/^Revoked/)
      .waitFor();
    await screenshot(page, '24-keyboard-only');
    await tab.context.close();
  });

  it('fits a 375 px wide phone without sideways scrolling, with the navigation behind a Menu button', async () => {
    const phone = await newTab({ width: 375, height: 740 });
    const page = phone.page;
    await page.goto(url('/sign-in'));
    await heading(page, 'Sign in');
    expect(await scrollsHorizontally(page), 'sign-in').to.equal(false);
    await screenshot(page, '25-phone-sign-in');
    await signIn(page, program.url, OWNER);
    await heading(page, 'Setup wizard');
    expect(await page.getByRole('navigation', { name: 'Main' }).isVisible(), 'the navigation is folded away').to.equal(false);
    for (const path of [
      'wizard',
      'leads',
      'health',
      'settings/workspace',
      'settings/members',
      'settings/invitations',
      'settings/api-keys',
      'settings/audit',
      'settings/mfa',
    ]) {
      await page.goto(url(`/w/${workspaceId}/${path}`));
      await page.locator('h1').waitFor();
      await untilLoaded(page);
      expect(await scrollsHorizontally(page), path).to.equal(false);
    }
    await screenshot(page, '26-phone-mfa');
    await page.goto(url(`/w/${workspaceId}/settings/api-keys`));
    await section(page, 'API keys');
    await page.getByRole('table').waitFor();
    expect(await scrollsHorizontally(page), 'API keys with keys listed').to.equal(false);
    await screenshot(page, '27-phone-api-keys');
    await expectNoSeriousA11yViolations(page, 'API keys at 375 px');
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Lead log' }).click();
    await heading(page, 'Lead log');
    expect(await page.getByRole('navigation', { name: 'Main' }).isVisible(), 'the menu closes after a choice').to.equal(false);
    await screenshot(page, '28-phone-lead-log');
    await phone.context.close();
  });

  it('enrols the owner in TOTP, then signs in with a code from the app and with a recovery code', async () => {
    const page = owner.page;
    await openSettings(page, 'Two-factor authentication');
    await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    await page.getByRole('img', { name: /QR code/ }).waitFor();
    await checkPage(page, '21-mfa-enrol');
    const manualKey = (await page.locator('[data-manual-key]').getAttribute('data-manual-key'))!;
    await page.getByLabel('Code from the app').fill('000000');
    await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
    await page.getByText('is not the current code of the enrolled secret').waitFor();
    await page.getByLabel('Code from the app').fill(codeAt(manualKey, Date.now()));
    await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
    const codes = (await page.locator('[data-secret]').textContent())!.trim().split('\n');
    expect(codes).to.have.length(10);
    await checkPage(page, '22-recovery-codes');
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.getByRole('heading', { name: 'Two-factor authentication is on' }).waitFor();

    await signOut(page);
    await signIn(page, program.url, OWNER);
    await heading(page, 'Two-factor authentication');
    await checkPage(page, '23-mfa-step');
    // The next step's code: enrolment spent the current one.
    await page.getByLabel('Code').fill(codeAt(manualKey, Date.now() + 30_000));
    await page.getByRole('button', { name: 'Verify' }).click();
    await heading(page, 'Setup wizard');

    await signOut(page);
    await signIn(page, program.url, OWNER);
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
    await page.getByLabel('Recovery code').fill(codes[0]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await heading(page, 'Setup wizard');
    await openSettings(page, 'Two-factor authentication');
    await page.getByText('9 recovery codes left.').waitFor();
  });
});
