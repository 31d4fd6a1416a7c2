/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core) against the real stack:
 * sign in as a teacher, see the session this test created with its counts and a link into the Temporal
 * Web UI, with no CSP violation or script error. Saves a screenshot to <ROLLCALL_DATA_DIR>/screenshots.
 * Without chromium the test fails and says how to install it (it is in .ci/run's apt packages).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { chromium, type Browser } from 'playwright-core';
import { config } from '../../lib/config';
import {
  DEMO_DEVICE_KEYS,
  DEMO_PASSWORD,
  DEMO_USERS,
  seedDemoSchool,
} from '../../migrations/seeds/demoSchool';
import { eventually, startTestRollcall, type TestRollcall } from '../support/app';

const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOT = path.join(config().ROLLCALL_DATA_DIR, 'screenshots', 'dashboard.png');

let rc: TestRollcall;
let server: http.Server;
let base: string;
let browser: Browser | undefined;
let sessionId: string;

void describe('dashboard in a real browser (chromium + real Temporal + Postgres)', () => {
  before(async () => {
    rc = await startTestRollcall();
    await seedDemoSchool(rc.database.db);
    const post = await request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', `Bearer ${DEMO_DEVICE_KEYS['pi-r100']}`)
      .send({
        device_id: 'pi-r100',
        records: ['S001', 'S002', 'S003'].map((s) => ({
          event_id: `evt-${crypto.randomUUID()}`,
          student_id: s,
          timestamp: new Date().toISOString(),
          confidence: 0.9,
        })),
      });
    assert.equal(post.status, 202, JSON.stringify(post.body));
    sessionId = post.body.results[0].session_id;
    await eventually(
      async () => (await rc.database.db('attendance_logs').where({ session_id: sessionId })).length === 3,
      'three marks',
    );
    server = http.createServer(rc.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await browser?.close();
    server?.close();
    await rc?.stop();
  });

  void test(
    "when a teacher signs in, then today's session appears with its counts and a Temporal UI link",
    { timeout: 120_000 },
    async () => {
      assert.ok(
        fs.existsSync(CHROMIUM),
        `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does this) to run the browser test`,
      );
      browser = await chromium.launch({
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
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

      await page.goto(`${base}/dashboard`);
      await page.fill('#email', DEMO_USERS.teacher1);
      await page.fill('#password', 'wrong password');
      await page.click('#sign-in');
      await page.locator('#login-error', { hasText: /./ }).waitFor();
      assert.match((await page.textContent('#login-error')) ?? '', /email or password is wrong/);
      problems.length = 0; // the 401 of the wrong password is logged by the browser as a failed resource

      await page.fill('#password', DEMO_PASSWORD);
      await page.click('#sign-in');
      const row = page.locator(`tr[data-session-id="${sessionId}"]`);
      await row.waitFor({ timeout: 15_000 });
      const cells = await row.locator('td').allTextContents();
      assert.match(cells[0]!, /DEMO100/);
      assert.deepEqual(cells.slice(3, 8), ['3', '0', '0', '0', '27']);
      const href = await row.locator('a').getAttribute('href');
      assert.equal(
        href,
        `http://127.0.0.1:${config().TEMPORAL_UI_PORT}/namespaces/default/workflows/${encodeURIComponent(sessionId)}`,
      );
      assert.match((await page.textContent('#who')) ?? '', /Tariq Teacher \(teacher\)/);
      assert.ok(await page.locator('#devices-body tr', { hasText: 'pi-r100' }).count());
      assert.ok(await page.locator('a[href$="/workflows/device%3Api-r100"]').count());
      const stored = await page.evaluate(() =>
        (
          globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }
        ).sessionStorage.getItem('rollcall.token'),
      );
      assert.match(stored ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/);

      fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      assert.ok(fs.statSync(SCREENSHOT).size > 10_000);
      process.stderr.write(`dashboard screenshot: ${SCREENSHOT}\n`);

      // Another teacher does not see this class.
      await page.click('#logout');
      await page.fill('#email', DEMO_USERS.teacher2);
      await page.fill('#password', DEMO_PASSWORD);
      await page.click('#sign-in');
      await page.waitForSelector('#app:not([hidden])');
      assert.equal(await page.locator(`tr[data-session-id="${sessionId}"]`).count(), 0);
      assert.deepEqual(problems, [], 'no CSP violation or script error');
    },
  );
});
