// The lead log and health pages in Debian's Chromium against the real binary, with the fake
// Graph API sending leads and a loopback webhook receiver as the destination (it refuses when
// told to, so deliveries go dead): leads arrive in the open log without a reload; filters and
// the email search find the right lead; the timeline shows each attempt with the receiver's own
// words; a dead-lettered lead replayed from the log is delivered once; a destination's dead
// letters replayed in bulk; a viewer sees no replay button and the API refuses it anyway; health
// shows the failing destination and the page; the chart's counts; axe, keyboard and 375 px.
import { expect } from 'chai';
import type { Browser, Locator, Page } from 'playwright-core';
import { hashPassword } from '../../src/accounts/passwords.js';
import { insertUser, upsertMembership } from '../../src/accounts/store.js';
import { openDb, type DbHandle } from '../../src/store/db.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { baseEnv, cli, createOwner, flushPrefix, OWNER_PASSWORD, postLeadgen, type RunningProgram, startProgram, TEST_APP_SECRET } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';
import {
  callApiAsPage,
  checkPage,
  focused,
  launchChromium,
  openTab,
  type Person,
  scrollsHorizontally,
  signIn,
  type Tab,
  tabTo,
  untilLoaded,
  screenshotTabsIfFailed,
  expectCleanTabs,
} from './browser.js';

const PAGE = '1500000001';
const PAGE_NAME = 'Acme Bikes';
const TEST_RIDE = { id: '2500000001', name: 'Test ride' };
const BROCHURE = { id: '2500000002', name: 'Brochure' };
const PAGE_TOKEN = 'EAAB-browser-lead-log-page-secret';
const RECEIVER_SECRET = 'browser-lead-log-receiver-secret';
const DESTINATION = 'Sales webhook';
const REFUSAL = '{"error":"field company is required"}';

const OWNER: Person = { email: 'owner@example.com', password: OWNER_PASSWORD };
const VIEWER: Person = { email: 'viewer@example.com', password: 'viewer browser password 3' };

interface TestLead {
  leadgenId: string;
  form: { id: string; name: string };
  email: string;
}

describe('browser: the lead log and health', function () {
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
  let destinationId: string;
  const tabs: Tab[] = [];
  let nextLeadgen = 9_500_000_000_000_000n;

  const url = (path: string) => `${program.url}${path}`;
  const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { level: 1, name }).waitFor();
  /** Signing in is done once the app leaves the sign-in page for the workspace. */
  const signedIn = (page: Page) => page.waitForURL((u) => u.pathname.startsWith('/w/'));
  const leadRows = (page: Page) => page.getByRole('table', { name: /Leads, newest first/ }).locator('tbody tr');
  const rowOf = (page: Page, lead: TestLead) => page.locator(`tr[data-lead-id="${leadIds.get(lead.leadgenId)}"]`);
  const leadIds = new Map<string, string>();
  /** Requests for a lead the receiver accepted. */
  const acceptedFor = (lead: TestLead) => receiver.received.filter((r) => r.body?.leadgen_id === lead.leadgenId && isAccepted(r));

  /** A person fills in a lead form on Facebook: Meta then sends its webhook. */
  async function leadArrives(form: { id: string; name: string }, email: string): Promise<TestLead> {
    const leadgenId = String(nextLeadgen++);
    graph.addLead({
      id: leadgenId,
      form_id: form.id,
      page_id: PAGE,
      field_data: [
        { name: 'email', values: [email] },
        { name: 'full_name', values: ['Rider Person'] },
      ],
    });
    expect((await postLeadgen(program.url, { pageId: PAGE, formId: form.id, leadgenId })).status).to.equal(200);
    return { leadgenId, form, email };
  }

  /** The lead's id in LeadRelay, read from the API (the log links to /leads/{id}). */
  async function rememberId(page: Page, lead: TestLead): Promise<string> {
    const id = await page.evaluate(
      async ({ ws, email }) => {
        const r = await fetch(`/api/v1/workspaces/${ws}/leads?q=${encodeURIComponent(email)}`);
        const body = (await r.json()) as { items: { id: string }[] };
        return body.items[0]?.id ?? '';
      },
      { ws, email: lead.email },
    );
    expect(id, `lead of ${lead.email}`).to.match(/^[0-9a-f-]{36}$/);
    leadIds.set(lead.leadgenId, id);
    return id;
  }

  async function expectRowStatus(page: Page, lead: TestLead, status: string): Promise<Locator> {
    const row = rowOf(page, lead);
    await row.getByText(status, { exact: true }).first().waitFor({ timeout: 60_000 });
    return row;
  }

  async function pickOption(page: Page, scope: Page | Locator, label: string, option: string): Promise<void> {
    await scope.getByRole('button', { name: new RegExp(`(^|\\s)${label}($|\\s)`) }).click();
    await page.getByRole('option', { name: option }).click();
  }

  before(async () => {
    schema = await createTestSchema('leadlogweb');
    [graph, receiver] = await Promise.all([
      startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' }),
      startFakeReceiver({ secret: RECEIVER_SECRET }),
    ]);
    env = baseEnv({ DATABASE_URL: schema.url, META_GRAPH_URL: graph.url, DELIVERY_TIMEOUT_MS: '10000' });
    graph.setPageToken(PAGE, PAGE_TOKEN, PAGE_NAME);
    graph.installApp(PAGE);
    for (const form of [TEST_RIDE, BROCHURE])
      graph.addForm({
        id: form.id,
        page_id: PAGE,
        name: form.name,
        questions: [
          { key: 'email', type: 'EMAIL', label: 'Email' },
          { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        ],
      });
    ws = await cli(['workspaces', 'create', '--name', 'Acme'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', PAGE], { ...env, LEADRELAY_TOKEN: PAGE_TOKEN });
    destinationId = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--name', DESTINATION, '--url', `${receiver.url}/leads`], {
      ...env,
      LEADRELAY_SECRET: RECEIVER_SECRET,
    });
    await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', destinationId], env);
    await createOwner(env, OWNER.email);
    dbh = await openDb({ url: schema.url, poolMax: 2 });
    const viewer = await insertUser(dbh.db, { email: VIEWER.email, name: 'Vic Viewer', passwordHash: await hashPassword(VIEWER.password) });
    await upsertMembership(dbh.db, { userId: viewer.id, workspaceId: ws, role: 'viewer' });
    [program, browser] = await Promise.all([startProgram('start', env), launchChromium()]);
    owner = await openTab(browser);
    tabs.push(owner);
    await signIn(owner.page, program.url, OWNER);
    await signedIn(owner.page);
  });

  afterEach(async function () {
    await screenshotTabsIfFailed(this.currentTest, tabs, 'leadlog-');
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

  let rider: TestLead;
  let brochure: TestLead;
  let dead: TestLead;
  let bulk: TestLead[];

  it('shows leads as they arrive in the open log, without reloading', async () => {
    const page = owner.page;
    await page.goto(url(`/w/${ws}/leads`));
    await heading(page, 'Lead log');
    await page.getByText('No leads yet.').waitFor();
    await checkPage(page, 'leadlog-01-empty');
    // Marks this document: a reload would lose it.
    await page.evaluate(() => ((globalThis as any).__sameDocument = true));

    rider = await leadArrives(TEST_RIDE, 'rider.one@example.com');
    brochure = await leadArrives(BROCHURE, 'brochure.reader@example.com');
    await page
      .getByRole('status')
      .filter({ hasText: /new leads? arrived/ })
      .waitFor({ timeout: 60_000 });
    await leadRows(page).nth(1).waitFor({ timeout: 60_000 });
    for (const lead of [rider, brochure]) await rememberId(page, lead);
    for (const lead of [rider, brochure]) {
      const row = await expectRowStatus(page, lead, 'Delivered');
      await row.getByRole('cell', { name: lead.form.name, exact: true }).waitFor();
      await row.getByText(`${DESTINATION}: Delivered`).waitFor();
    }
    expect(await leadRows(page).count()).to.equal(2);
    expect(await page.evaluate(() => (globalThis as any).__sameDocument), 'the page was not reloaded').to.equal(true);
    await checkPage(page, 'leadlog-02-live');
  });

  it('finds a lead by email (by keyboard), and by form and status filters', async () => {
    const page = owner.page;
    await page.getByRole('heading', { level: 1, name: 'Lead log' }).focus();
    await tabTo(page, 'Email or phone');
    await page.keyboard.type('  Rider.One@Example.COM ');
    await page.keyboard.press('Enter');
    await page.waitForURL(/[?&]q=/);
    await untilLoaded(page);
    await waitForRowCount(page, 1);
    await rowOf(page, rider).waitFor();
    expect((await focused(page)).name, 'focus moves to the results').to.equal('Leads');
    await checkPage(page, 'leadlog-03-search');
    // On to the lead, by keyboard, and back to the same search.
    await tabTo(page, /^Lead of /);
    await page.keyboard.press('Enter');
    await heading(page, `Lead from ${TEST_RIDE.name}`);
    await page.goBack();
    await waitForRowCount(page, 1);

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await waitForRowCount(page, 2);
    await pickOption(page, page.getByRole('form', { name: 'Filter the lead log' }), 'Form', BROCHURE.name);
    await pickOption(page, page.getByRole('form', { name: 'Filter the lead log' }), 'Status', 'Delivered');
    await page.getByRole('button', { name: 'Show leads' }).click();
    await page.waitForURL(new RegExp(`form_id=${BROCHURE.id}`));
    await waitForRowCount(page, 1);
    await rowOf(page, brochure).waitFor();

    await pickOption(page, page.getByRole('form', { name: 'Filter the lead log' }), 'Status', 'Failed');
    await page.getByRole('button', { name: 'Show leads' }).click();
    await page.getByText('No lead matches these filters.').waitFor();

    // A search the server cannot read is refused at its field, in the server's words.
    await page.goto(url(`/w/${ws}/leads?q=not-an-email`));
    const search = page.getByLabel('Email or phone');
    await page.locator('input[aria-invalid="true"]').waitFor();
    expect(await search.getAttribute('aria-invalid')).to.equal('true');
    await page
      .getByText(/must be an email address or a phone number/)
      .first()
      .waitFor();
  });

  it("shows a dead-lettered lead's attempt with the receiver's words, and delivers it once when replayed from the log", async () => {
    const page = owner.page;
    await page.goto(url(`/w/${ws}/leads`));
    await waitForRowCount(page, 2);
    receiver.respondWith([{ status: 400, body: REFUSAL, headers: { 'content-type': 'application/json' } }]);
    dead = await leadArrives(TEST_RIDE, 'dead.letter@example.com');
    await waitForRowCount(page, 3);
    await rememberId(page, dead);
    const row = await expectRowStatus(page, dead, 'Failed');
    await row.getByText(/field company is required/).waitFor();

    await row.getByRole('link').click();
    await heading(page, `Lead from ${TEST_RIDE.name}`);
    const timeline = page.getByRole('region', { name: 'Timeline' }).or(page.locator('section[aria-labelledby="timeline-heading"]'));
    for (const step of ['Received from Facebook', 'Fetched from Facebook', `Routed to ${DESTINATION}`])
      await timeline.getByText(step, { exact: true }).waitFor();
    await timeline.getByText(`Attempt 1 to ${DESTINATION}: failed for good (dead letter)`).waitFor();
    await timeline.getByText(/HTTP 400/).waitFor();
    await timeline.locator('blockquote').filter({ hasText: 'field company is required' }).waitFor();
    await checkPage(page, 'leadlog-04-timeline-dead');

    await page.getByRole('link', { name: /Back to the lead log/ }).click();
    await heading(page, 'Lead log');
    await rowOf(page, dead)
      .getByRole('button', { name: /^Replay lead of / })
      .click();
    await page.getByRole('status').filter({ hasText: 'Sending again to 1 destination.' }).waitFor();
    await expectRowStatus(page, dead, 'Delivered');
    await receiver.waitFor(() => acceptedFor(dead).length >= 1, 60_000);
    expect(acceptedFor(dead), 'the receiver got the replayed lead once').to.have.length(1);

    await rowOf(page, dead).getByRole('link').click();
    // A replay starts the delivery's attempts again.
    await page.getByText(`Attempt 1 to ${DESTINATION}: delivered`).waitFor();
    await checkPage(page, 'leadlog-05-timeline-replayed');
  });

  it('shows answers on request, by keyboard, to the owner', async () => {
    const page = owner.page;
    await page.getByRole('heading', { level: 1 }).focus();
    expect(await page.getByText(dead.email).count(), 'no answer before asking').to.equal(0);
    await tabTo(page, 'Show answers', 60);
    await page.keyboard.press('Enter');
    await page.getByText(dead.email, { exact: true }).waitFor();
    await checkPage(page, 'leadlog-06-answers');
    await page.getByRole('button', { name: 'Hide answers' }).click();
    await page.getByRole('button', { name: 'Show answers' }).waitFor();
    expect(await page.getByText(dead.email).count()).to.equal(0);
  });

  it("lets a viewer see the log without replay buttons or answers, and the API refuses the viewer's replays (403)", async () => {
    receiver.respondWith([
      { status: 400, body: REFUSAL },
      { status: 400, body: REFUSAL },
    ]);
    bulk = [await leadArrives(TEST_RIDE, 'bulk.one@example.com'), await leadArrives(TEST_RIDE, 'bulk.two@example.com')];
    const page = owner.page;
    await page.goto(url(`/w/${ws}/leads`));
    await waitForRowCount(page, 5);
    for (const lead of bulk) {
      await rememberId(page, lead);
      await expectRowStatus(page, lead, 'Failed');
    }
    await rowOf(page, bulk[0]!)
      .getByRole('button', { name: /^Replay/ })
      .waitFor();

    const viewer = await openTab(browser);
    tabs.push(viewer);
    await signIn(viewer.page, program.url, VIEWER);
    await signedIn(viewer.page);
    await viewer.page.goto(url(`/w/${ws}/leads`));
    await heading(viewer.page, 'Lead log');
    await expectRowStatus(viewer.page, bulk[0]!, 'Failed');
    expect(await viewer.page.getByRole('button', { name: /Replay/ }).count(), 'no replay button for a viewer').to.equal(0);
    expect(await viewer.page.getByRole('heading', { name: 'Send leads again' }).count()).to.equal(0);
    await checkPage(viewer.page, 'leadlog-07-viewer');

    await rowOf(viewer.page, bulk[0]!).getByRole('link').click();
    await heading(viewer.page, `Lead from ${TEST_RIDE.name}`);
    await viewer.page.getByText('Your role does not allow reading answers').waitFor();
    expect(await viewer.page.getByRole('button', { name: /Replay|Send .* again|Show answers/ }).count()).to.equal(0);
    await checkPage(viewer.page, 'leadlog-08-viewer-lead');

    const leadId = leadIds.get(bulk[0]!.leadgenId)!;
    expect(await callApiAsPage(viewer.page, 'POST', `/workspaces/${ws}/leads/${leadId}/replay`, {})).to.equal(403);
    expect(await callApiAsPage(viewer.page, 'POST', `/workspaces/${ws}/destinations/${destinationId}/replay-dead`)).to.equal(403);
    expect(await callApiAsPage(viewer.page, 'POST', `/workspaces/${ws}/leads/replay-unrouted`, {})).to.equal(403);
    expect(await callApiAsPage(viewer.page, 'GET', `/workspaces/${ws}/leads/${leadId}/answers`)).to.equal(403);

    await viewer.page.goto(url(`/w/${ws}/health`));
    await heading(viewer.page, 'Health');
    await viewer.page.getByText(/Failing: 2 dead/).waitFor();
    expect(await viewer.page.getByRole('button', { name: /Replay/ }).count()).to.equal(0);
    await viewer.context.close();
  });

  it('shows the failing destination and the page on the health page, and checks the page with Facebook', async () => {
    const page = owner.page;
    await page.goto(url(`/w/${ws}/health`));
    await heading(page, 'Health');
    await untilLoaded(page);
    const destination = page.getByRole('listitem', { name: DESTINATION });
    await destination.getByText('Failing: 2 dead in 24 h').waitFor();
    await destination.getByRole('link', { name: 'See its failed leads' }).waitFor();
    await destination.getByRole('button', { name: `Replay dead letters of ${DESTINATION}` }).waitFor();

    const pageCard = page.getByRole('listitem', { name: PAGE_NAME });
    await pageCard.getByText('OK', { exact: true }).waitFor();
    await pageCard.getByText('Valid', { exact: true }).waitFor();
    await pageCard.getByText('Not checked yet').waitFor();
    expect(await pageCard.getByText('None yet').count(), 'a last lead is shown').to.equal(0);
    await page.getByRole('button', { name: 'Check now' }).click();
    await pageCard.getByText('Yes, with leads').waitFor();
    await page.getByRole('status').filter({ hasText: 'Checked every page with Facebook.' }).waitFor();
    await checkPage(page, 'health-01-failing');

    // The fix link opens the lead log on that destination's failed leads.
    await destination.getByRole('link', { name: 'See its failed leads' }).click();
    await heading(page, 'Lead log');
    await waitForRowCount(page, 2);
    for (const lead of bulk) await rowOf(page, lead).waitFor();
  });

  it('draws leads per day per form with delivered and failed counts, in the SVG and its table', async () => {
    const page = owner.page;
    await page.goto(url(`/w/${ws}/health`));
    await heading(page, 'Health');
    const chart = page.getByRole('img', { name: /^Leads per day, all forms/ });
    await chart.waitFor();
    // The image's accessible name: its title and its description, with the totals.
    const name = await chart.evaluate((svg) => {
      const doc = (globalThis as any).document;
      return (svg.getAttribute('aria-labelledby') ?? '')
        .split(' ')
        .map((id: string) => doc.getElementById(id)?.textContent ?? '')
        .join(' ');
    });
    expect(name).to.include('5 leads: 3 delivered, 2 failed, 0 pending, 0 unrouted');
    const bars = await chart
      .locator('rect[data-series]')
      .evaluateAll((rects) => rects.map((r) => ({ series: r.getAttribute('data-series'), count: Number(r.getAttribute('data-count')) })));
    expect(bars).to.deep.equal([
      { series: 'delivered', count: 3 },
      { series: 'failed', count: 2 },
    ]);
    const table = page.getByRole('table', { name: /Leads per day per form/ });
    const cells = async (form: string) => (await table.getByRole('row').filter({ hasText: form }).getByRole('cell').allTextContents()).slice(1);
    expect(await cells(TEST_RIDE.name)).to.deep.equal(['2', '2', '0', '0', '0', '4']);
    expect(await cells(BROCHURE.name)).to.deep.equal(['1', '0', '0', '0', '0', '1']);

    await pickOption(page, page.locator('.chart-controls'), 'Form', BROCHURE.name);
    await page.getByRole('img', { name: new RegExp(`^Leads per day, ${BROCHURE.name}`) }).waitFor();
    await page.getByText(`${BROCHURE.name}: 1 lead: 1 delivered, 0 failed, 0 pending, 0 unrouted.`).waitFor();
    await checkPage(page, 'health-02-chart');
  });

  it("replays a destination's dead letters in bulk from the log: each is delivered once", async () => {
    const page = owner.page;
    await page.goto(url(`/w/${ws}/leads`));
    await heading(page, 'Lead log');
    await waitForRowCount(page, 5);
    const form = page.getByRole('form', { name: "Replay a destination's dead letters" });
    await pickOption(page, form, 'Destination', DESTINATION);
    await form.getByRole('button', { name: 'Replay dead letters' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Sending 2 failed leads to ${DESTINATION} again.` })
      .waitFor();
    for (const lead of bulk) await expectRowStatus(page, lead, 'Delivered');
    await receiver.waitFor(() => bulk.every((l) => acceptedFor(l).length >= 1), 60_000);
    for (const lead of bulk) expect(acceptedFor(lead), lead.email).to.have.length(1);
    await checkPage(page, 'leadlog-09-bulk-replayed');

    await page.goto(url(`/w/${ws}/health`));
    await page.getByRole('listitem', { name: DESTINATION }).getByText('OK', { exact: true }).waitFor();
  });

  it('fits a 375 px phone without sideways scrolling, and stays accessible', async () => {
    const page = owner.page;
    await page.setViewportSize({ width: 375, height: 812 });
    try {
      for (const [path, title, name] of [
        ['leads', 'Lead log', 'leadlog-10-phone'],
        [`leads/${leadIds.get(dead.leadgenId)}`, `Lead from ${TEST_RIDE.name}`, 'leadlog-11-phone-lead'],
        ['health', 'Health', 'health-03-phone'],
      ] as const) {
        await page.goto(url(`/w/${ws}/${path}`));
        await heading(page, title);
        await untilLoaded(page);
        if (path === 'health') await page.getByRole('img', { name: /^Leads per day/ }).waitFor();
        expect(await scrollsHorizontally(page), `${path} scrolls sideways at 375 px`).to.equal(false);
        await checkPage(page, name);
      }
      // The chart is as wide as its box, not wider.
      const width = await page.getByRole('img', { name: /^Leads per day/ }).evaluate((svg) => svg.getBoundingClientRect().width);
      expect(width).to.be.at.most(375);
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  async function waitForRowCount(page: Page, n: number): Promise<void> {
    await page.waitForFunction((expected) => (globalThis as any).document.querySelectorAll('table.lead-table tbody tr').length === expected, n, {
      timeout: 60_000,
    });
  }
});
