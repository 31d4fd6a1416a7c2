/**
 * The web app in a real browser (Debian's chromium driven by playwright-core) against the real stack (API,
 * worker, Temporal dev server, Postgres). A teacher signs in, sees today's class, watches its roster take a
 * device batch, corrects a student from the keyboard (the session workflow's override update), sees the audit
 * row and the report change — the override→report latency is measured — and undoes it; undoes the correction
 * of an unmarked student back to unmarked (row and claim withdrawn, audited; a later sighting counts); opens a
 * student's history and the course grid (charts, CSV, consecutive absences); another teacher cannot see the class. An
 * admin provisions a device (key shown once), the device heartbeats with it, and it is decommissioned. axe-core
 * (injected into each page) finds no serious or critical violation, at desktop width and at 375 px; no script
 * error or CSP violation happens. Screenshots go to <ROLLCALL_DATA_DIR>/screenshots (gitignored) and their
 * paths are printed. The browser, the stack, axe and screenshots come from test/support/browser.ts (shared
 * with dashboardAdminBrowser.test.ts, the admin's timetable and enrollment pages).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import request from 'supertest';
import type { Page } from 'playwright-core';
import { config } from '../../lib/config';
import { DEMO_DEVICE_KEYS, DEMO_PASSWORD, DEMO_USERS } from '../../migrations/seeds/demoSchool';
import { eventually, type TestRollcall } from '../support/app';
import {
  assertNoSideScroll,
  axe as axeOf,
  screenshot as screenshotOf,
  signIn as signInOn,
  SCREENSHOTS,
  startBrowserStack,
  type BrowserStack,
} from '../support/browser';

export const SCREENSHOT = path.join(SCREENSHOTS, 'dashboard.png');
/** The bound: a teacher's correction reaches the report within this. */
const OVERRIDE_TO_REPORT_LIMIT_MS = 5_000;

let stack: BrowserStack;
let rc: TestRollcall;
let base: string;
let page: Page;
let sessionId: string;
let problems: string[];

function batch(students: string[]) {
  return request(rc.app)
    .post('/api/v1/attendance')
    .set('Authorization', `Bearer ${DEMO_DEVICE_KEYS['pi-r100']}`)
    .send({
      device_id: 'pi-r100',
      records: students.map((s) => ({
        event_id: `evt-${crypto.randomUUID()}`,
        student_id: s,
        timestamp: new Date().toISOString(),
        confidence: 0.9,
      })),
    });
}

async function tokenOf(email: string): Promise<string> {
  const r = await request(rc.app).post('/api/v1/auth/login').send({ email, password: DEMO_PASSWORD });
  assert.equal(r.status, 200);
  return r.body.token as string;
}

const signIn = (email: string) => signInOn(page, email);
const screenshot = (t: TestContext, name: string) => screenshotOf(page, t, name);
const axe = (t: TestContext, label: string) => axeOf(page, t, label);

void describe('web app in a real browser (chromium + real Temporal + Postgres)', () => {
  before(async () => {
    stack = await startBrowserStack();
    ({ rc, base, page, problems } = stack);
    const post = await batch(['S001', 'S002', 'S003']);
    assert.equal(post.status, 202, JSON.stringify(post.body));
    sessionId = post.body.results[0].session_id;
    await eventually(
      async () => (await rc.database.db('attendance_logs').where({ session_id: sessionId })).length === 3,
      'three marks',
    );
  });
  after(async () => {
    await stack?.stop();
  });

  void test("when a teacher signs in, then today's class appears with its counts and Temporal UI links", async (t) => {
    await page.goto(`${base}/dashboard`);
    await page.fill('#email', DEMO_USERS.teacher1);
    await page.fill('#password', 'wrong password');
    await page.click('#sign-in');
    await page.locator('#login-error', { hasText: /./ }).waitFor();
    assert.match((await page.textContent('#login-error')) ?? '', /email or password is wrong/);
    await axe(t, 'sign-in');
    problems.length = 0; // the 401 of the wrong password is logged by the browser as a failed resource

    await page.fill('#password', DEMO_PASSWORD);
    await page.click('#sign-in');
    const row = page.locator(`tr[data-session-id="${sessionId}"]`);
    await row.waitFor({ timeout: 15_000 });
    const cells = await row.locator('td').allTextContents();
    assert.match(cells[0]!, /DEMO100/);
    assert.deepEqual(cells.slice(4, 9), ['3', '0', '0', '0', '27']);
    assert.equal(
      await row.locator('a[target="_blank"]').getAttribute('href'),
      `http://127.0.0.1:${config().TEMPORAL_UI_PORT}/namespaces/default/workflows/${encodeURIComponent(sessionId)}`,
    );
    assert.match((await page.textContent('#who')) ?? '', /Tariq Teacher \(teacher\)/);
    assert.ok(await page.locator('#devices-body tr', { hasText: 'pi-r100' }).count());
    assert.ok(await page.locator('a[href$="/workflows/device%3Api-r100"]').count());
    assert.equal(await page.locator('#nav a[href="#/devices"]').isVisible(), false, 'admin-only link hidden');
    const stored = await page.evaluate(() =>
      (
        globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }
      ).sessionStorage.getItem('rollcall.token'),
    );
    assert.match(stored ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/);
    await axe(t, 'today');
    await screenshot(t, 'dashboard.png');
  });

  void test('when a device sends a batch, then the open roster shows the student within seconds', async (t) => {
    await page.click(`tr[data-session-id="${sessionId}"] a[href^="#/session/"]`);
    const s001 = page.locator('#roster-body tr[data-student-id="S001"]');
    await s001.waitFor();
    assert.equal(await s001.getAttribute('data-status'), 'present');
    assert.equal(await page.locator('#roster-body tr').count(), 30);
    assert.equal(
      await page.locator('#roster-body tr[data-student-id="S004"]').getAttribute('data-status'),
      'unmarked',
    );
    const sent = Date.now();
    assert.equal((await batch(['S004'])).status, 202);
    await page
      .locator('#roster-body tr[data-student-id="S004"][data-status="present"]')
      .waitFor({ timeout: 10_000 });
    t.diagnostic(`device batch → roster row in the browser: ${Date.now() - sent} ms`);
    const cells = await page.locator('#roster-body tr[data-student-id="S004"] td').allTextContents();
    assert.match(cells[1]!, /\d\d:\d\d/, 'first seen');
    assert.equal(cells[2], 'pi-r100');
    assert.equal(cells[3], 'device');
    await axe(t, 'roster');
    await screenshot(t, 'roster.png');
  });

  void test('when the teacher corrects a student from the keyboard, then the audit row appears and the report changes within 5 s; undo restores it', async (t) => {
    const token = await tokenOf(DEMO_USERS.teacher1);
    const reportStatus = async (student: string) => {
      const r = await request(rc.app)
        .get('/api/v1/attendance/course/DEMO100')
        .set('Authorization', `Bearer ${token}`);
      assert.equal(r.status, 200);
      const row = (r.body.students as { student_id: string; statuses: Record<string, string | null> }[]).find(
        (s) => s.student_id === student,
      );
      return row?.statuses[sessionId] ?? null;
    };
    assert.equal(await reportStatus('S002'), 'present');

    // Keyboard only: focus the button, Enter opens the reason dialog, type, Enter saves.
    await page.locator('#roster-body tr[data-student-id="S002"] button[data-status="excused"]').focus();
    await page.keyboard.press('Enter');
    await page.locator('#reason-dialog[open]').waitFor();
    assert.equal(
      await page.evaluate<string>('document.activeElement && document.activeElement.id'),
      'reason',
    );
    await page.keyboard.press('Enter'); // empty: refused, a reason is required
    assert.equal(await page.locator('#reason-dialog[open] #reason:invalid').count(), 1, 'still asking');
    await page.keyboard.type('Doctor’s note');
    const saved = Date.now();
    await page.keyboard.press('Enter');
    // Polled every 20 ms (not `eventually`'s 100 ms) so the figure is not rounded up by the poll.
    while ((await reportStatus('S002')) !== 'excused' && Date.now() - saved < 20_000)
      await new Promise((r) => setTimeout(r, 20));
    const latencyMs = Date.now() - saved;
    t.diagnostic(`override (page) → report: ${latencyMs} ms`);
    assert.ok(latencyMs < OVERRIDE_TO_REPORT_LIMIT_MS, `override→report ${latencyMs} ms`);

    await page.locator('#roster-body tr[data-student-id="S002"][data-status="excused"]').waitFor();
    const audit = page.locator('#audit-body tr[data-student-id="S002"]');
    await audit.first().waitFor({ timeout: 10_000 });
    const auditCells = await audit.first().locator('td').allTextContents();
    assert.equal(auditCells[1], 'Tariq Teacher');
    assert.equal(auditCells[3], 'present → excused');
    assert.equal(auditCells[4], 'Doctor’s note');
    const rows = await rc.database
      .db('audit_log')
      .where({ entity: 'attendance', entity_id: `${sessionId}/S002`, action: 'attendance.override' });
    assert.equal(rows.length, 1);
    assert.equal(rows[0].actor, 'u-teacher1');
    await screenshot(t, 'override.png');

    await page.click('#toast-action'); // Undo
    await page
      .locator('#roster-body tr[data-student-id="S002"][data-status="present"]')
      .waitFor({ timeout: 10_000 });
    assert.equal(await reportStatus('S002'), 'present');
    await page.locator('#audit-body tr[data-student-id="S002"]').nth(1).waitFor({ timeout: 10_000 });
    assert.equal(
      (
        await page.locator('#audit-body tr[data-student-id="S002"]').first().locator('td').allTextContents()
      )[4],
      'Undo: Doctor’s note',
    );

    // The same roster at a phone's width (one card per student), still without serious accessibility problems.
    await page.setViewportSize({ width: 375, height: 740 });
    await axe(t, 'roster at 375 px');
    await assertNoSideScroll(page, t, 'roster at 375 px');
    await screenshot(t, 'roster-375-teacher.png');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  void test('when the teacher undoes the correction of an unmarked student, then the mark is withdrawn (audited) and a later sighting counts', async () => {
    const db = rc.database.db;
    const row = page.locator('#roster-body tr[data-student-id="S010"]');
    assert.equal(await row.getAttribute('data-status'), 'unmarked');
    await row.locator('button[data-status="excused"]').click();
    await page.fill('#reason', 'Sports day');
    await page.click('#reason-save');
    await page
      .locator('#roster-body tr[data-student-id="S010"][data-status="excused"]')
      .waitFor({ timeout: 10_000 });
    assert.equal(
      (await db('attendance_logs').where({ session_id: sessionId, student_id: 'S010' })).length,
      1,
    );

    await page.click('#toast-action'); // Undo: back to unmarked, through the same override update
    await page
      .locator('#roster-body tr[data-student-id="S010"][data-status="unmarked"]')
      .waitFor({ timeout: 10_000 });
    assert.deepEqual(await db('attendance_logs').where({ session_id: sessionId, student_id: 'S010' }), []);
    const cleared = await db('audit_log').where({
      entity: 'attendance',
      entity_id: `${sessionId}/S010`,
      action: 'attendance.clear',
    });
    assert.equal(cleared.length, 1);
    assert.equal(cleared[0].actor, 'u-teacher1');
    assert.equal(cleared[0].reason, 'Undo: Sports day');
    assert.deepEqual(cleared[0].before, { status: 'excused', source: 'override' });
    await page
      .locator('#audit-body tr[data-student-id="S010"] td', { hasText: 'excused → unmarked' })
      .waitFor();
    const cells = await page.locator('#roster-body tr[data-student-id="S010"] td').allTextContents();
    assert.deepEqual(cells.slice(1, 4), ['—', '—', '—'], 'no first-seen time, device or source any more');

    // The withdrawn correction no longer stands in the way of the camera (and its per-student claim is gone).
    assert.equal((await batch(['S010'])).status, 202);
    await page
      .locator('#roster-body tr[data-student-id="S010"][data-status="present"]')
      .waitFor({ timeout: 15_000 });
    assert.deepEqual(
      await db('attendance_logs').where({ session_id: sessionId, student_id: 'S010' }).pluck('source'),
      ['device'],
    );
  });

  void test("when the teacher opens a student and the course, then history, charts, the grid's CSV and absences show", async (t) => {
    await page.click('#roster-body tr[data-student-id="S004"] a[href^="#/student/"]');
    const course = page.locator('#student-courses tr[data-course-id="DEMO100"]');
    await course.waitFor();
    assert.equal((await course.locator('td').allTextContents()).at(-1), '100%');
    assert.equal(await page.locator('#student-trend svg circle').count(), 1);
    await axe(t, 'student');
    await screenshot(t, 'student.png');

    await course.locator('a').click();
    await page.locator('#course-grid').waitFor();
    assert.equal(await page.locator('#course-grid tbody tr').count(), 30);
    assert.match((await page.getAttribute('#course-chart svg', 'aria-label')) ?? '', /latest 100%/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    assert.equal(download.suggestedFilename(), 'course-DEMO100.csv');
    const csv = fs.readFileSync((await download.path())!, 'utf8');
    assert.match(csv.split('\n')[0]!, /^student_id,name,.*attendance_pct/);
    assert.match(csv, /\nS004,[^\n]*present/);
    await page.locator('#absences p, #absences table').first().waitFor();
    await axe(t, 'course');
    await screenshot(t, 'course.png');
  });

  void test('when another teacher signs in, then the class is neither listed nor readable', async () => {
    await signIn(DEMO_USERS.teacher2);
    await page.goto(`${base}/dashboard#/today`);
    await page.locator('#sessions').waitFor();
    assert.equal(await page.locator(`tr[data-session-id="${sessionId}"]`).count(), 0);
    await page.goto(`${base}/dashboard#/session/${encodeURIComponent(sessionId)}`);
    await page.locator('#view .error', { hasText: /not one of your courses/ }).waitFor();
    problems.length = 0; // the 403 is logged by the browser as a failed resource
  });

  void test('when an admin provisions a device, then its key is shown once and works, and it can be decommissioned', async (t) => {
    await signIn(DEMO_USERS.admin);
    await page.goto(`${base}/dashboard#/devices`);
    await page.locator('#admin-devices-body tr[data-device-id="pi-r100"]').waitFor();
    const deviceId = `pi-web-${crypto.randomBytes(3).toString('hex')}`;
    await page.fill('#device-id', deviceId);
    await page.fill('#room-id', 'R101');
    await page.click('#provision');
    const key = (await page.locator('#device-key').textContent()) ?? '';
    assert.ok(key.length >= 32, 'a key is shown');
    await page.locator(`#admin-devices-body tr[data-device-id="${deviceId}"]`).waitFor();

    const hb = await request(rc.app)
      .post('/api/v1/heartbeat')
      .set('Authorization', `Bearer ${key}`)
      .send({ version: 'web-test', queueDepth: 7, cpuTempC: 51.5 });
    assert.equal(hb.status, 200, JSON.stringify(hb.body));
    const row = page.locator(`#admin-devices-body tr[data-device-id="${deviceId}"]`);
    await eventually(async () => {
      await page.goto(`${base}/dashboard#/today`);
      await page.goto(`${base}/dashboard#/devices`);
      await row.waitFor();
      // Cells after the device's own header cell: room, status, last seen, CPU, queue, clock, alerts.
      // The device workflow writes `online` with an activity, a moment after the heartbeat.
      const cells = await row.locator('td').allTextContents();
      return cells[3] === '51.5 °C' && cells[1] === 'online';
    }, 'the heartbeat reaches the devices page');
    assert.equal(await row.locator('td').nth(4).textContent(), '7');
    assert.equal(await page.locator('#device-key').count(), 0, 'the key is not shown again');
    await axe(t, 'devices');
    await screenshot(t, 'devices.png');

    await row.getByRole('button', { name: `Decommission ${deviceId}` }).click();
    await page.fill('#reason', 'Replaced by a newer Pi');
    await page.click('#reason-save');
    await page
      .locator(`#admin-devices-body tr[data-device-id="${deviceId}"] .badge`, { hasText: 'decommissioned' })
      .waitFor({ timeout: 10_000 });
    const after = await request(rc.app)
      .post('/api/v1/heartbeat')
      .set('Authorization', `Bearer ${key}`)
      .send({ version: 'web-test', queueDepth: 0 });
    assert.equal(after.status, 401, 'the revoked key no longer works');
    assert.deepEqual(problems, [], 'no CSP violation or script error');
  });
});
