/**
 * The admin's pages of the web app in a real browser (Debian's chromium via playwright-core) against the real
 * stack (API, worker, Temporal dev server, Postgres, the real face models): the timetable (list per room, add,
 * the API's 409 overlap and 422 date answers shown at the form, pause, edit, a refused resume), enrollment
 * (pick a student, record consent, upload real photos from the file input, follow the workflow's progress,
 * read the pipeline's per-photo verdict) and the phone width (375×740: roster, student history, devices,
 * timetable and enrollment without sideways page scroll, as cards). axe-core finds no serious or critical
 * violation on any of them; no script error or CSP violation happens. Screenshots: test/support/browser.ts.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { Page } from 'playwright-core';
import { DEMO_DEVICE_KEYS, DEMO_USERS } from '../../migrations/seeds/demoSchool';
import { eventually } from '../support/app';
import {
  assertNoSideScroll,
  axe,
  screenshot,
  signIn,
  startBrowserStack,
  type BrowserStack,
} from '../support/browser';
import { isoDate } from '../support/dates';
import { ensureModels, facePhoto, repoRoot } from '../support/faces';

let stack: BrowserStack;
let page: Page;
let sessionId: string;
const ENROLLED = 'S007';

void describe('admin pages of the web app in a real browser (chromium + real Temporal + Postgres)', () => {
  before(
    async () => {
      ensureModels();
      stack = await startBrowserStack();
      page = stack.page;
      const post = await request(stack.rc.app)
        .post('/api/v1/attendance')
        .set('Authorization', `Bearer ${DEMO_DEVICE_KEYS['pi-r100']}`)
        .send({
          device_id: 'pi-r100',
          records: ['S001', 'S002'].map((s) => ({
            event_id: `evt-${crypto.randomUUID()}`,
            student_id: s,
            timestamp: new Date().toISOString(),
            confidence: 0.9,
          })),
        });
      assert.equal(post.status, 202, JSON.stringify(post.body));
      sessionId = post.body.results[0].session_id;
      await eventually(
        async () =>
          (await stack.rc.database.db('attendance_logs').where({ session_id: sessionId })).length === 2,
        'two marks',
      );
      await page.goto(`${stack.base}/dashboard`);
      await signIn(page, DEMO_USERS.admin);
    },
    { timeout: 240_000 },
  );
  after(async () => {
    await stack?.stop();
  });

  void test('when an admin edits the timetable, then overlaps and bad dates are explained at the form, and pause, add and edit land in the table', async (t) => {
    const db = stack.rc.database.db;
    await page.goto(`${stack.base}/dashboard#/timetable`);
    await page.locator('#timetable-body tr[data-schedule-id]').first().waitFor();
    const all = await db('schedules').count<{ n: string }[]>('* as n');
    assert.equal(await page.locator('#timetable-body tr[data-schedule-id]').count(), Number(all[0]!.n));

    await page.selectOption('#timetable-room', 'R101');
    await eventually(
      async () =>
        (await page.locator('#timetable-body tr[data-schedule-id]').count()) === 3 &&
        (await page.locator('#timetable-body tr', { hasText: 'R102' }).count()) === 0,
      "only R101's rows",
    );
    const monday = await db('schedules')
      .where({ course_id: 'CS101', room_id: 'R101', day_of_week: 1 })
      .first('id');
    const mondayRow = page.locator(`#timetable-body tr[data-schedule-id="${monday.id}"]`);
    assert.deepEqual((await mondayRow.locator('td').allTextContents()).slice(0, 3), [
      'R101',
      'Monday',
      '09:00–10:30',
    ]);

    // MATH201 on Mondays 10:00–11:00 in R101 clashes with CS101 09:00–10:30: the API's 409, at the form.
    await page.selectOption('#schedule-course', 'MATH201');
    await page.selectOption('#schedule-room', 'R101');
    await page.selectOption('#schedule-day', '1');
    await page.fill('#schedule-start', '10:00');
    await page.fill('#schedule-end', '11:00');
    await page.click('#schedule-save');
    await page.locator('#schedule-error', { hasText: /./ }).waitFor();
    assert.match(
      (await page.textContent('#schedule-error')) ?? '',
      /room R101 already has an active class on weekday 1 overlapping 10:00–11:00.*pause the other row/,
    );
    assert.equal(await db('schedules').where({ course_id: 'MATH201', room_id: 'R101' }).first(), undefined);

    // An end date before the (omitted, so today's) start date: the API's 422, at the form.
    const twoDaysAgo = isoDate(new Date(Date.now() - 2 * 86_400_000));
    await page.fill('#schedule-to', twoDaysAgo);
    await page.click('#schedule-save');
    await page.locator('#schedule-error', { hasText: 'effective_to' }).waitFor();
    assert.match(
      (await page.textContent('#schedule-error')) ?? '',
      new RegExp(`effective_to ${twoDaysAgo} is before effective_from`),
    );
    await page.fill('#schedule-to', '');
    await axe(page, t, 'timetable with an error');

    // Pause the CS101 Monday row from the keyboard; then the new class fits.
    await mondayRow.getByRole('button', { name: 'Pause CS101 Monday 09:00' }).focus();
    await page.keyboard.press('Enter');
    await page.locator(`#timetable-body tr[data-schedule-id="${monday.id}"][data-active="false"]`).waitFor();
    assert.equal((await db('schedules').where({ id: monday.id }).first('active')).active, false);
    await page.click('#schedule-save');
    await page.locator('#schedule-error:empty').waitFor();
    const added = await eventually(
      () => db('schedules').where({ course_id: 'MATH201', room_id: 'R101', day_of_week: 1 }).first(),
      'the new row',
    );
    const addedRow = page.locator(`#timetable-body tr[data-schedule-id="${added.id}"]`);
    await addedRow.waitFor();
    assert.equal(await addedRow.locator('td').nth(2).textContent(), '10:00–11:00');

    // Edit it: later end, 5 minutes' lateness.
    await addedRow.getByRole('button', { name: 'Edit MATH201 Monday 10:00' }).click();
    assert.equal(await page.inputValue('#schedule-start'), '10:00');
    assert.equal(await page.inputValue('#schedule-course'), 'MATH201');
    await page.fill('#schedule-end', '11:30');
    await page.fill('#schedule-late', '5');
    await page.click('#schedule-save');
    await page
      .locator(`#timetable-body tr[data-schedule-id="${added.id}"] td`, { hasText: '10:00–11:30' })
      .waitFor();
    assert.equal(await addedRow.locator('td').nth(4).textContent(), '5 min');
    const edited = await db('schedules').where({ id: added.id }).first('late_after_minutes');
    assert.equal(edited.late_after_minutes, 5);

    // Resuming CS101 now clashes with MATH201: refused, explained next to the table, still paused.
    await mondayRow.getByRole('button', { name: 'Resume CS101 Monday 09:00' }).click();
    await page.locator('#timetable-error', { hasText: /./ }).waitFor();
    assert.match(
      (await page.textContent('#timetable-error')) ?? '',
      new RegExp(`Row ${monday.id} \\(CS101, Monday\\): room R101 already has an active class`),
    );
    assert.equal((await db('schedules').where({ id: monday.id }).first('active')).active, false);
    const audit = await db('audit_log')
      .where({ entity: 'schedule', actor: 'u-admin' })
      .whereIn('entity_id', [String(monday.id), String(added.id)])
      .orderBy('id')
      .pluck('action');
    assert.deepEqual(audit, ['schedule.update', 'schedule.create', 'schedule.update']);
    await axe(page, t, 'timetable');
    await screenshot(page, t, 'timetable.png');
  });

  void test('when an admin enrolls a student with photos from the file input, then progress and each photo’s verdict show, and the faces are stored', async (t) => {
    const db = stack.rc.database.db;
    await page.goto(`${stack.base}/dashboard#/enroll`);
    await page.locator(`#student-id option[value="${ENROLLED}"]`).waitFor({ state: 'attached' });
    await page.selectOption('#student-id', ENROLLED);
    assert.match((await page.textContent('#student-state')) ?? '', /consent not yet recorded · 0 face/);
    await axe(page, t, 'enrollment form');

    await page.check('#consent');
    const group = path.join(repoRoot, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample6.jpg');
    await page.setInputFiles('#photos', [
      facePhoto('face_recognition/obama'),
      facePhoto('face_recognition/obama2'),
      group,
    ]);
    const started = Date.now();
    await page.click('#enroll-submit');
    // The workflow is seen running (a cold worker loads the face models first), after consent and upload.
    await page
      .locator('#enroll-steps li[data-step="workflow"][data-state="working"]')
      .waitFor({ timeout: 60_000 });
    assert.equal(await page.getAttribute('#enroll-steps li[data-step="consent"]', 'data-state'), 'done');
    assert.equal(await page.getAttribute('#enroll-steps li[data-step="upload"]', 'data-state'), 'done');
    assert.match((await page.textContent('#enroll-status')) ?? '', /Enrollment running/);

    await page.locator('#enroll-photos tr').nth(2).waitFor({ timeout: 240_000 });
    t.diagnostic(`enrollment of 3 photos from the page: ${Date.now() - started} ms`);
    assert.equal(await page.getAttribute('#enroll-progress', 'value'), '4');
    assert.match(
      (await page.textContent('#enroll-status')) ?? '',
      /Enrollment complete: 2 photo\(s\) stored, 1 rejected/,
    );
    const rows = page.locator('#enroll-photos tr');
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-status'))), [
      'accepted',
      'accepted',
      'rejected',
    ]);
    const first = await rows.nth(0).locator('th, td').allTextContents();
    assert.equal(first[0], 'obama.jpg');
    assert.equal(first[2], 'one face found');
    assert.match(first[3]!, /^0\.\d\d$/, 'detector score');
    assert.match(first[4]!, /^\d+\.\d$/, 'sharpness');
    assert.match(first[5]!, /^\d+ px$/, 'eye distance');
    const rejected = await rows.nth(2).locator('th, td').allTextContents();
    assert.equal(rejected[0], 'sample6.jpg');
    assert.match(rejected[2]!, /faces were found/);

    assert.equal((await db('face_embeddings').where({ student_id: ENROLLED })).length, 2);
    const consent = await db('consents').where({ student_id: ENROLLED }).whereNull('revoked_at').first();
    assert.equal(consent.granted_by, 'u-admin');
    await page
      .locator('#student-state', { hasText: 'consent on file · 2 face embedding(s) stored' })
      .waitFor();
    await axe(page, t, 'enrollment result');
    await screenshot(page, t, 'enrollment.png');
  });

  void test('when the pages are used at 375 px, then roster, student history, devices, timetable and enrollment fit without sideways scroll', async (t) => {
    await page.setViewportSize({ width: 375, height: 740 });
    try {
      assert.equal(await page.evaluate<number>('window.innerWidth'), 375);
      const views: [string, string, string][] = [
        [`#/session/${encodeURIComponent(sessionId)}`, '#roster-body tr[data-student-id="S001"]', 'roster'],
        ['#/student/S001', '#student-courses tr[data-course-id="DEMO100"]', 'student'],
        ['#/devices', '#admin-devices-body tr[data-device-id="pi-r100"]', 'devices'],
        ['#/timetable', '#timetable-body tr[data-schedule-id]', 'timetable'],
        ['#/enroll', `#student-id option[value="${ENROLLED}"]`, 'enroll'],
      ];
      for (const [hash, ready, label] of views) {
        await page.goto(`${stack.base}/dashboard${hash}`);
        await page.locator(ready).first().waitFor({ state: 'attached' });
        await assertNoSideScroll(page, t, `${label} at 375 px`);
        await axe(page, t, `${label} at 375 px`);
        await screenshot(page, t, `${label}-375.png`);
      }
      // The roster really is cards: rows are blocks and each cell carries its column's name.
      await page.goto(`${stack.base}/dashboard#/session/${encodeURIComponent(sessionId)}`);
      const s001 = page.locator('#roster-body tr[data-student-id="S001"]');
      await s001.waitFor();
      assert.equal(
        await s001.evaluate(
          (tr) =>
            (globalThis as unknown as { getComputedStyle(e: unknown): { display: string } }).getComputedStyle(
              tr,
            ).display,
        ),
        'block',
      );
      assert.deepEqual(
        await s001.locator('td').evaluateAll((tds) => tds.map((td) => td.getAttribute('data-label'))),
        ['Status', 'First seen', 'Device', 'Source', 'Correct'],
      );
      const box = await s001.locator('button[data-status="excused"]').boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 375, 'the correction buttons are on screen');
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    // The 409s and the 422 of the timetable test are logged by the browser as a failed resource; nothing else may be.
    assert.deepEqual(
      stack.problems.filter((p) => !/status of (409|422)/.test(p)),
      [],
      'no CSP violation or script error',
    );
  });
});
