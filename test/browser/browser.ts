// Driving the web app in Debian's Chromium with playwright-core: launching it, checking a page
// with axe-core (no serious or critical violation), screenshots into test-results/screens/
// (git-ignored), keyboard-only movement, horizontal scrolling at phone width, and page objects
// named after what a person does.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const CHROMIUM = '/usr/bin/chromium';
/** test-results/screens at the repository root (from dist/test/browser). */
const SCREENS_DIR = resolve(here, '../../../test-results/screens');

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export async function launchChromium(): Promise<Browser> {
  mkdirSync(SCREENS_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface Tab {
  context: BrowserContext;
  page: Page;
  /** Console messages about the Content-Security-Policy refusing something. */
  cspViolations: string[];
  /** Errors thrown in the page. */
  pageErrors: string[];
}

/** A fresh browser profile (its own cookies) with one page. */
export async function openTab(browser: Browser, opts: { width?: number; height?: number } = {}): Promise<Tab> {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const tab: Tab = { context, page, cspViolations: [], pageErrors: [] };
  page.on('console', (m) => {
    if (/Content Security Policy|Content-Security-Policy/i.test(m.text())) tab.cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => tab.pageErrors.push(e.message));
  return tab;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENS_DIR, `${name}.png`), fullPage: true });
}

/** For afterEach: when the test failed, a screenshot of each open tab (`failed-<prefix><title>-<i>.png`). */
export async function screenshotTabsIfFailed(test: Mocha.Test | undefined, tabs: Tab[], prefix: string): Promise<void> {
  if (test?.state !== 'failed') return;
  for (const [i, t] of tabs.entries()) if (!t.page.isClosed()) await screenshot(t.page, `failed-${prefix}${test.title.slice(0, 40)}-${i}`).catch(() => {});
}

/** Every tab ran without a Content-Security-Policy violation or an uncaught error in the page. */
export function expectCleanTabs(tabs: Tab[]): void {
  for (const t of tabs) {
    expect(t.cspViolations, 'no Content-Security-Policy violations').to.deep.equal([]);
    expect(t.pageErrors, 'no uncaught errors in the page').to.deep.equal([]);
  }
}

/** One part of a page (a section), e.g. for a README illustration. */
export async function screenshotOf(part: Locator, name: string): Promise<void> {
  await part.screenshot({ path: join(SCREENS_DIR, `${name}.png`) });
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Runs axe-core in the page (evaluated through DevTools, which the page's CSP does not govern). */
export async function expectNoSeriousA11yViolations(page: Page, what: string): Promise<void> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as any).axe;
    const result = await axe.run((globalThis as any).document, { resultTypes: ['violations'] });
    return result.violations as AxeViolation[];
  });
  const serious = violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(serious, `axe on ${what}`).to.deep.equal([]);
}

/** A page checked the way every page of the app is: axe, and a screenshot. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await expectNoSeriousA11yViolations(page, name);
  await screenshot(page, name);
}

/** Resolves once nothing on the page says it is loading (a page may load several things at once). */
export async function untilLoaded(page: Page): Promise<void> {
  await page.waitForFunction(() =>
    [...(globalThis as any).document.querySelectorAll('[role="status"]')].every((el: { textContent: string | null }) => !/^Loading/.test(el.textContent ?? '')),
  );
}

/** Whether the page scrolls sideways (it must not, at any width from 375 px). */
export async function scrollsHorizontally(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const root = (globalThis as any).document.documentElement;
    return root.scrollWidth > root.clientWidth;
  });
}

/** The focused element as a person perceives it: its role-ish tag and its accessible name. */
export async function focused(page: Page): Promise<{ tag: string; name: string }> {
  return page.evaluate(() => {
    const el = (globalThis as any).document.activeElement;
    if (!el) return { tag: '', name: '' };
    const labelled = el.getAttribute('aria-labelledby');
    const byId = labelled
      ? labelled
          .split(' ')
          .map((id: string) => (globalThis as any).document.getElementById(id)?.textContent ?? '')
          .join(' ')
      : '';
    const name = el.getAttribute('aria-label') || byId || el.labels?.[0]?.textContent || el.textContent || '';
    return { tag: el.tagName.toLowerCase(), name: name.replace(/\s+/g, ' ').trim() };
  });
}

/** Presses Tab until the focused element's name matches (at most `max` presses), as a keyboard user would. */
export async function tabTo(page: Page, name: string | RegExp, max = 40): Promise<void> {
  const matches = (n: string) => (typeof name === 'string' ? n === name : name.test(n));
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (matches(f.name)) return;
    seen.push(`${f.tag} "${f.name}"`);
  }
  throw new Error(`Tab never reached ${name}; focus went through: ${seen.join(' → ')}`);
}

// ---- page objects: what a person does -------------------------------------------------------

export interface Person {
  email: string;
  password: string;
  name?: string;
}

export async function setUpOwner(page: Page, setupUrl: string, owner: Person, workspaceName: string): Promise<void> {
  await page.goto(setupUrl);
  await page.getByRole('heading', { name: 'Create the owner account' }).waitFor();
  await checkPage(page, '02-owner-setup');
  if (owner.name) await page.getByLabel('Your name').fill(owner.name);
  await page.getByLabel('Email').fill(owner.email);
  await page.getByLabel('Password').fill(owner.password);
  await page.getByLabel('Workspace name').fill(workspaceName);
  await page.getByRole('button', { name: 'Create account' }).click();
}

export async function signIn(page: Page, baseUrl: string, person: Person): Promise<void> {
  await page.goto(`${baseUrl}/sign-in`);
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export async function signOut(page: Page): Promise<void> {
  const menu = page.getByRole('button', { name: 'Menu' });
  if (await menu.isVisible()) await menu.click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
}

export async function openSettings(page: Page, section: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: section }).click();
}

/** Calls the API from inside the page, as the signed-in person's browser would (cookie and CSRF token). */
export async function callApiAsPage(page: Page, method: string, path: string, body?: unknown): Promise<number> {
  return page.evaluate(
    async ({ method, path, body }) => {
      const session = (await (await fetch('/api/v1/auth/session')).json()) as { csrf_token: string };
      const res = await fetch(`/api/v1${path}`, {
        method,
        headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf_token },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return res.status;
    },
    { method, path, body },
  );
}
