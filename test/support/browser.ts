/**
 * The web app's browser tests share this: the real stack (API + worker + Temporal dev server + Postgres, the
 * demo school seeded) served over HTTP, Debian's chromium driven by playwright-core, axe-core injected into the
 * page, screenshots under <ROLLCALL_DATA_DIR>/screenshots (gitignored), and every script error or CSP violation
 * the page logs collected in `problems`. Without chromium it fails and says how to install it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { config } from '../../lib/config';
import { DEMO_PASSWORD, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { startTestRollcall, type TestRollcall } from './app';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = path.join(config().ROLLCALL_DATA_DIR, 'screenshots');
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export interface BrowserStack {
  rc: TestRollcall;
  /** http://127.0.0.1:PORT, the API serving the web app. */
  base: string;
  browser: Browser;
  page: Page;
  /** Console errors and page errors (a CSP violation is a console error); tests assert it stays empty. */
  problems: string[];
  stop(): Promise<void>;
}

export async function startBrowserStack(): Promise<BrowserStack> {
  assert.ok(
    fs.existsSync(CHROMIUM),
    `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does this) to run the browser test`,
  );
  const rc = await startTestRollcall();
  await seedDemoSchool(rc.database.db);
  const server = http.createServer(rc.app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const problems: string[] = [];
  watchForProblems(page, problems);
  return {
    rc,
    base,
    browser,
    page,
    problems,
    stop: async () => {
      await browser.close();
      server.close();
      await rc.stop();
    },
  };
}

function watchForProblems(page: Page, problems: string[]): void {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
}

/**
 * A page in a new browser context (its own sessionStorage: another person on another computer), whose
 * script errors and CSP violations land in the stack's `problems` too. Close the context when done.
 */
export async function freshPage(
  stack: Pick<BrowserStack, 'browser' | 'problems'>,
  viewport: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await stack.browser.newContext({ viewport });
  const page = await context.newPage();
  watchForProblems(page, stack.problems);
  return { context, page };
}

/** Signs in through the form (signing out first if someone is signed in). */
export async function signIn(page: Page, email: string): Promise<void> {
  if (await page.locator('#logout').isVisible()) await page.click('#logout');
  await page.fill('#email', email);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('#sign-in');
  await page.waitForSelector('#app:not([hidden])');
}

/** A full-page screenshot under SCREENSHOTS; its path is printed so the closing note can list it. */
export async function screenshot(page: Page, t: TestContext, name: string): Promise<string> {
  const file = path.join(SCREENSHOTS, name);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
  assert.ok(fs.statSync(file).size > 5_000, `${file} is a real picture`);
  t.diagnostic(`screenshot: ${file}`);
  process.stderr.write(`dashboard screenshot: ${file}\n`);
  return file;
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core in the page (evaluated over the DevTools protocol, which the page's CSP does not govern): WCAG 2.1
 * A/AA and best practice; fails on any serious or critical violation and reports the rest.
 */
export async function axe(page: Page, t: TestContext, label: string): Promise<void> {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const g = globalThis as unknown as {
      axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: unknown[]; passes: unknown[] }> };
    };
    const r = await g.axe.run(
      { exclude: [['#toast']] },
      { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } },
    );
    return { violations: r.violations, passes: r.passes.length };
  });
  const violations = result.violations as AxeViolation[];
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  t.diagnostic(
    `axe ${label}: ${result.passes} rules passed, ${violations.length} violations (${serious.length} serious/critical)` +
      (violations.length ? `: ${violations.map((v) => `${v.id}[${v.impact}]`).join(', ')}` : ''),
  );
  assert.deepEqual(
    serious.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`),
    [],
    `axe (${label}): no serious or critical violation`,
  );
}

/** The page itself does not scroll sideways: the document is no wider than the viewport. */
export async function assertNoSideScroll(page: Page, t: TestContext, label: string): Promise<void> {
  const { scrollWidth, innerWidth } = await page.evaluate(() => {
    const g = globalThis as unknown as {
      document: { documentElement: { scrollWidth: number } };
      innerWidth: number;
    };
    return { scrollWidth: g.document.documentElement.scrollWidth, innerWidth: g.innerWidth };
  });
  t.diagnostic(`${label}: scrollWidth ${scrollWidth} px at a ${innerWidth} px viewport`);
  assert.ok(
    scrollWidth <= innerWidth,
    `${label}: the page does not scroll sideways (scrollWidth ${scrollWidth} > ${innerWidth})`,
  );
}
