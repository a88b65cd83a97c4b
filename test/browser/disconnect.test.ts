// Disconnecting and deleting from the web app, in Debian's Chromium against the real binary with
// the fake Graph API and loopback webhook receivers as destinations: a page disconnected (the
// fake Graph is asked to DELETE the app's subscription), a destination disconnected (its
// credentials gone), a route paused and deleted, the workspace deleted by typing its name and
// restored from the banner; a viewer sees none of these controls; axe, keyboard and 375 px.
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { hashPassword } from '../../src/accounts/passwords.js';
import { insertUser, upsertMembership } from '../../src/accounts/store.js';
import { type DbHandle, openDb } from '../../src/store/db.js';
import { type FakeGraph, startFakeGraph } from '../fakes/meta-graph.js';
import { type FakeReceiver, startFakeReceiver } from '../fakes/webhook-receiver.js';
import { baseEnv, cli, createOwner, flushPrefix, OWNER_PASSWORD, type RunningProgram, startProgram, TEST_APP_SECRET } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';
import {
  checkPage,
  launchChromium,
  openTab,
  type Person,
  scrollsHorizontally,
  screenshot,
  signIn,
  type Tab,
  tabTo,
  untilLoaded,
  screenshotTabsIfFailed,
  expectCleanTabs,
} from './browser.js';

const PAGE = '1500000091';
const PAGE_NAME = 'Acme Scooters';
const PAGE_TOKEN = 'EAAB-browser-disconnect-page-secret';
const RECEIVER_SECRET = 'browser-disconnect-receiver-secret';
const SALES = 'Sales webhook';
const BACKUP = 'Backup webhook';
const WORKSPACE = 'Acme Scooters Ltd';

const OWNER: Person = { email: 'owner@example.com', password: OWNER_PASSWORD };
const VIEWER: Person = { email: 'viewer@example.com', password: 'viewer browser password 7' };

describe('browser: disconnecting and deleting', function () {
  this.timeout(180_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram;
  let dbh: DbHandle;
  let browser: Browser;
  let owner: Tab;
  let ws: string;
  let salesId: string;
  const tabs: Tab[] = [];

  const url = (path: string) => `${program.url}${path}`;
  const section = (page: Page, name: string) => page.getByRole('heading', { level: 2, name }).waitFor();
  const routeRows = (page: Page) => page.getByRole('table', { name: 'Routes' }).locator('tbody tr');

  async function apiGet<T>(page: Page, path: string): Promise<T> {
    return page.evaluate(async (p) => (await (await fetch(`/api/v1${p}`)).json()) as T, path) as Promise<T>;
  }

  async function openConnections(page: Page): Promise<void> {
    await page.goto(url(`/w/${ws}/settings/connections`));
    await section(page, 'Connections');
    await untilLoaded(page);
  }

  before(async () => {
    schema = await createTestSchema('disconnectweb');
    [graph, receiver] = await Promise.all([
      startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' }),
      startFakeReceiver({ secret: RECEIVER_SECRET }),
    ]);
    env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url, WORKSPACE_DELETION_GRACE_DAYS: '14' });
    graph.setPageToken(PAGE, PAGE_TOKEN, PAGE_NAME);
    graph.installApp(PAGE);
    ws = await cli(['workspaces', 'create', '--name', WORKSPACE], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', PAGE], { ...env, LEADRELAY_TOKEN: PAGE_TOKEN });
    const withSecret = { ...env, LEADRELAY_SECRET: RECEIVER_SECRET };
    salesId = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--name', SALES, '--url', `${receiver.url}/sales`], withSecret);
    const backupId = await cli(
      ['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--name', BACKUP, '--url', `${receiver.url}/backup`],
      withSecret,
    );
    await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', salesId], env);
    await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', backupId], env);
    await createOwner(env, OWNER.email);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
    const viewer = await insertUser(dbh.db, { email: VIEWER.email, name: 'Vic Viewer', passwordHash: await hashPassword(VIEWER.password) });
    await upsertMembership(dbh.db, { userId: viewer.id, workspaceId: ws, role: 'viewer' });
    [program, browser] = await Promise.all([startProgram('start', env), launchChromium()]);
    owner = await openTab(browser);
    tabs.push(owner);
    await signIn(owner.page, program.url, OWNER);
    await owner.page.waitForURL((u) => u.pathname.startsWith('/w/'));
  });

  afterEach(async function () {
    await screenshotTabsIfFailed(this.currentTest, tabs, 'disconnect-');
  });

  after(async () => {
    expectCleanTabs(tabs);
    await browser?.close();
    await program?.kill();
    await dbh?.close();
    await receiver?.close();
    await graph?.close();
    if (env) await flushPrefix(env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('shows a viewer the connections but no disconnect, delete, pause or workspace-deletion control', async () => {
    const tab = await openTab(browser);
    tabs.push(tab);
    const page = tab.page;
    await signIn(page, program.url, VIEWER);
    await page.waitForURL((u) => u.pathname.startsWith('/w/'));
    await openConnections(page);
    await page.getByText(`${PAGE_NAME}`, { exact: false }).first().waitFor();
    await page.getByText(SALES).first().waitFor();
    expect(await routeRows(page).count()).to.equal(2);
    expect(await page.getByRole('button', { name: /Disconnect|Delete/ }).count()).to.equal(0);
    expect(await page.getByRole('switch').count()).to.equal(0);
    expect(await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Connections' }).count()).to.equal(0);
    await page.goto(url(`/w/${ws}/settings/workspace`));
    await page.getByText(/Your role here \(viewer\) cannot/).waitFor();
    expect(await page.getByRole('button', { name: /Delete workspace/ }).count()).to.equal(0);
    await page.close();
  });

  it('pauses a route and deletes another after confirming', async () => {
    const page = owner.page;
    await openConnections(page);
    await checkPage(page, 'disconnect-01-connections');
    const salesRoute = `Enabled: route ${PAGE_NAME} to ${SALES}`;
    await page.getByRole('switch', { name: salesRoute }).press('Space');
    await routeRows(page).filter({ hasText: SALES }).getByText('Paused').waitFor();
    const routes = await apiGet<{ items: { destination_id: string; is_enabled: boolean }[] }>(page, `/workspaces/${ws}/routes`);
    expect(routes.items.find((r) => r.destination_id === salesId)?.is_enabled).to.equal(false);

    await page.getByRole('button', { name: `Delete route ${PAGE_NAME} to ${BACKUP}` }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.getByText(/no longer sent/).waitFor();
    await dialog.getByRole('button', { name: 'Delete route' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `The route ${PAGE_NAME} to ${BACKUP} is deleted.` })
      .waitFor();
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('table tbody tr').length === 1);
    const after = await apiGet<{ items: { destination_id: string }[] }>(page, `/workspaces/${ws}/routes`);
    expect(after.items.map((r) => r.destination_id)).to.deep.equal([salesId]);
  });

  it('disconnects a destination: its credentials are deleted and it shows as disconnected', async () => {
    const page = owner.page;
    await page.getByRole('button', { name: `Disconnect ${SALES}` }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.getByText(/deletes the credentials at once/).waitFor();
    await dialog.getByRole('button', { name: 'Disconnect destination' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `${SALES} is disconnected` })
      .waitFor();
    await page.getByText(`· Disconnected`).first().waitFor();
    expect(await page.getByRole('button', { name: `Disconnect ${SALES}` }).count()).to.equal(0);
    const list = await apiGet<{ items: { id: string; has_credentials: boolean }[] }>(page, `/workspaces/${ws}/destinations`);
    expect(list.items.find((d) => d.id === salesId)?.has_credentials).to.equal(false);
  });

  it('disconnects a page by keyboard: Facebook is asked to remove the app, and the page shows as disconnected', async () => {
    const page = owner.page;
    await tabTo(page, `Disconnect ${PAGE_NAME}`);
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('alertdialog');
    await dialog.getByText(/uninstalled from/).waitFor();
    await checkPage(page, 'disconnect-02-page-dialog');
    await tabTo(page, 'Disconnect page');
    await page.keyboard.press('Enter');
    await page
      .getByRole('status')
      .filter({ hasText: `${PAGE_NAME} is disconnected: Facebook confirmed` })
      .waitFor();
    expect(graph.calls.some((c) => c.method === 'DELETE' && c.path.endsWith(`/${PAGE}/subscribed_apps`))).to.equal(true);
    await page.getByRole('listitem').filter({ hasText: PAGE_NAME }).getByText('· Disconnected').waitFor();
    await checkPage(page, 'disconnect-03-disconnected');
  });

  it('fits a 375 px wide screen', async () => {
    const tab = await openTab(browser, { width: 375, height: 800 });
    tabs.push(tab);
    await signIn(tab.page, program.url, OWNER);
    await tab.page.waitForURL((u) => u.pathname.startsWith('/w/'));
    await openConnections(tab.page);
    expect(await scrollsHorizontally(tab.page), 'connections at 375 px').to.equal(false);
    await tab.page.goto(url(`/w/${ws}/settings/workspace`));
    await tab.page.getByRole('heading', { name: 'Delete this workspace' }).waitFor();
    expect(await scrollsHorizontally(tab.page), 'workspace settings at 375 px').to.equal(false);
    await screenshot(tab.page, 'disconnect-04-narrow');
    await tab.page.close();
  });

  it('deletes the workspace once its name is typed, and restores it from the banner', async () => {
    const page = owner.page;
    await page.goto(url(`/w/${ws}/settings/workspace`));
    await page.getByRole('heading', { name: 'Delete this workspace' }).waitFor();
    await page.getByText(/deleted for good after 14 days/).waitFor();
    await checkPage(page, 'disconnect-05-danger-zone');
    await page.getByRole('button', { name: 'Delete workspace…' }).click();
    const dialog = page.getByRole('alertdialog');
    const name = dialog.getByRole('textbox', { name: /Type the workspace name/ });
    await name.fill('Acme');
    expect(await dialog.getByRole('button', { name: 'Delete workspace' }).getAttribute('aria-disabled'), 'a wrong name deletes nothing').to.equal('true');
    await name.fill(WORKSPACE);
    await name.press('Enter');
    const banner = page.getByRole('region', { name: 'This workspace is being deleted.' });
    await banner.waitFor();
    const state = await apiGet<{ is_deleted: boolean; purge_after: string }>(page, `/workspaces/${ws}/deletion`);
    expect(state.is_deleted).to.equal(true);
    const days = (Date.parse(state.purge_after) - Date.now()) / 86_400_000;
    expect(days).to.be.within(13.9, 14.01);
    await checkPage(page, 'disconnect-06-deleting');
    expect(await page.getByRole('button', { name: 'Delete workspace…' }).count()).to.equal(0);

    await banner.getByRole('button', { name: 'Restore workspace' }).click();
    await page.getByRole('status').filter({ hasText: 'The workspace is restored' }).waitFor();
    await page.getByRole('button', { name: 'Delete workspace…' }).waitFor();
    expect(await banner.count()).to.equal(0);
    const restored = await apiGet<{ is_deleted: boolean }>(page, `/workspaces/${ws}/deletion`);
    expect(restored.is_deleted).to.equal(false);
  });
});
