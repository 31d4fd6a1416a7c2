/**
 * The admin's school-record pages of the web app (school.js) in a real browser (Debian's chromium via
 * playwright-core) against the real stack (API, worker, Temporal dev server, Postgres): students (add, edit,
 * search, deactivate and reactivate with a reason — the row, the database and the audit log agree), a
 * student's enrollments (enroll into a course, end it), courses (add with a teacher; deactivating a course
 * with timetable rows shows the API's notice that they were paused), rooms (add, edit the time zone, the
 * API's 409 room_in_use shown in the row) and OneRoster imports (upload a generated bundle from the file
 * input, follow the run, read the summary; upload one with bad rows, read them in a table). axe-core finds no
 * serious or critical violation on any page; students and imports fit 375 px without sideways scroll.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { DEMO_USERS } from '../../migrations/seeds/demoSchool';
import { eventually } from '../support/app';
import {
  assertNoSideScroll,
  axe,
  screenshot,
  signIn,
  startBrowserStack,
  type BrowserStack,
} from '../support/browser';
import { bundleZip, editRow, generateRosterBundle } from '../support/oneroster';

let stack: BrowserStack;
let page: Page;
let rejectedRunHash = '';
const bundle = () =>
  generateRosterBundle({ now: new Date(), students: 30, classes: 8, teachers: 3, unplacedEvery: 4 });

/** Answers the reason dialog. */
async function giveReason(reason: string): Promise<void> {
  await page.locator('#reason-dialog[open]').waitFor();
  await page.fill('#reason', reason);
  await page.click('#reason-save');
  await page.locator('#reason-dialog:not([open])').waitFor({ state: 'attached' });
}

void describe('school records pages of the web app in a real browser (chromium + real Temporal + Postgres)', () => {
  before(
    async () => {
      stack = await startBrowserStack();
      page = stack.page;
      await page.goto(`${stack.base}/dashboard`);
      await signIn(page, DEMO_USERS.admin);
    },
    { timeout: 240_000 },
  );
  after(async () => {
    await stack?.stop();
  });

  void test('when an admin adds, edits, deactivates and reactivates a student, then the table, the database and the audit log agree', async (t) => {
    const db = stack.rc.database.db;
    await page.click('#nav a[href="#/students"]');
    await page.locator('#student-body tr[data-student-id="S001"]').waitFor();
    await axe(page, t, 'students');

    await page.fill('#student-id', 'S900');
    await page.fill('#student-name', 'Zoe Quill');
    await page.fill('#student-email', 'zoe@example.org');
    await page.click('#student-save');
    const row = page.locator('#student-body tr[data-student-id="S900"]');
    await row.waitFor();
    assert.equal(await row.locator('td').first().textContent(), 'zoe@example.org');
    assert.match((await page.textContent('#student-notices')) ?? '', /Student S900 added/);

    await row.getByRole('button', { name: 'Edit S900 Zoe Quill' }).click();
    assert.equal(await page.inputValue('#student-name'), 'Zoe Quill');
    assert.equal(await page.isDisabled('#student-id'), true);
    await page.fill('#student-name', 'Zoe Quillon');
    await page.fill('#student-email', '');
    await page.click('#student-save');
    await page.locator('#student-body tr[data-student-id="S900"] th', { hasText: 'Zoe Quillon' }).waitFor();
    assert.deepEqual(await db('students').where({ id: 'S900' }).first('name', 'email', 'active'), {
      name: 'Zoe Quillon',
      email: null,
      active: true,
    });

    // An import-managed student: the API's notice says the next import may overwrite the edit.
    await db('students').where({ id: 'S002' }).update({ source: 'oneroster', sourced_id: 's-legacy-2' });
    await page.fill('#student-q', 'S002');
    await page.click('#student-search');
    await page.locator('#student-body tr[data-student-id]').nth(1).waitFor({ state: 'detached' });
    const s002 = page.locator('#student-body tr[data-student-id="S002"]');
    assert.match((await s002.textContent()) ?? '', /imported from OneRoster \(s-legacy-2\)/);
    await s002.getByRole('button', { name: /^Edit S002/ }).click();
    await page.fill('#student-email', 's002@example.org');
    await page.click('#student-save');
    await page.locator('#student-notices', { hasText: 'managed by the oneroster roster import' }).waitFor();
    // Back to a hand-made row, so the import below does not treat S002 as its own.
    await db('students').where({ id: 'S002' }).update({ source: null, sourced_id: null });

    await page.fill('#student-q', 'Quillon');
    await page.click('#student-search');
    await eventually(
      async () => (await page.locator('#student-body tr[data-student-id]').count()) === 1,
      'one search hit',
    );
    await row.getByRole('button', { name: 'Deactivate S900 Zoe Quillon' }).click();
    await giveReason('Left the school');
    await page.locator('#student-body tr[data-student-id="S900"][data-active="false"]').waitFor();
    assert.equal((await db('students').where({ id: 'S900' }).first('active')).active, false);
    const deact = await db('audit_log')
      .where({ entity: 'student', entity_id: 'S900', action: 'student.deactivate' })
      .first('actor', 'reason');
    assert.deepEqual(deact, { actor: 'u-admin', reason: 'Left the school' });
    assert.match((await page.textContent('#student-notices')) ?? '', /had no enrollments/);

    await page.selectOption('#student-active', 'true');
    await page.locator('#student-body tr[data-student-id="S900"]').waitFor({ state: 'detached' });
    await page.selectOption('#student-active', 'false');
    await row.waitFor();
    await row.getByRole('button', { name: 'Reactivate S900 Zoe Quillon' }).click();
    await giveReason('Came back');
    // Active again, it leaves the list of inactive students.
    await page.locator('#student-notices', { hasText: 'Student S900 reactivated' }).waitFor();
    await row.waitFor({ state: 'detached' });
    await page.selectOption('#student-active', '');
    await page.locator('#student-body tr[data-student-id="S900"][data-active="true"]').waitFor();
    assert.equal((await db('students').where({ id: 'S900' }).first('active')).active, true);
    const actions = await db('audit_log')
      .where({ entity: 'student', entity_id: 'S900' })
      .orderBy('id')
      .pluck('action');
    assert.deepEqual(actions, [
      'student.create',
      'student.update',
      'student.deactivate',
      'student.reactivate',
    ]);
    await axe(page, t, 'students after changes');
    await screenshot(page, t, 'school-students.png');
  });

  void test('when an admin adds a course with a teacher, enrolls the student and deactivates a scheduled course, then the API’s notices show', async (t) => {
    const db = stack.rc.database.db;
    await page.click('#nav a[href="#/courses"]');
    await page.locator('#course-body tr[data-course-id="CS101"]').waitFor();
    await page.fill('#course-id', 'SCI300');
    await page.fill('#course-name', 'Field Science');
    await page.selectOption('#course-teacher', 'u-teacher1');
    await page.click('#course-save');
    await page.locator('#course-body tr[data-course-id="SCI300"]').waitFor();
    assert.deepEqual(await db('courses').where({ id: 'SCI300' }).first('name', 'teacher_id', 'active'), {
      name: 'Field Science',
      teacher_id: 'u-teacher1',
      active: true,
    });

    // MATH201 has timetable rows: deactivating pauses them, and the page says so; reactivating resumes them.
    const math = page.locator('#course-body tr[data-course-id="MATH201"]');
    await math.getByRole('button', { name: /^Deactivate MATH201/ }).click();
    await giveReason('Term paused');
    await page.locator('#course-notices', { hasText: /paused \d+ timetable row\(s\)/ }).waitFor();
    await page.locator('#course-body tr[data-course-id="MATH201"][data-active="false"]').waitFor();
    assert.equal(await db('schedules').where({ course_id: 'MATH201', active: true }).first(), undefined);
    await axe(page, t, 'courses with notices');
    await screenshot(page, t, 'school-courses.png');
    await math.getByRole('button', { name: /^Reactivate MATH201/ }).click();
    await giveReason('Term resumed');
    await page.locator('#course-notices', { hasText: /resumed \d+ timetable row\(s\)/ }).waitFor();

    // Enroll S900 into SCI300 from the student's enrollments, then end it.
    await page.goto(`${stack.base}/dashboard#/students/S900`);
    await page.locator('#enroll-course option[value="SCI300"]').waitFor({ state: 'attached' });
    await page.selectOption('#enroll-course', 'SCI300');
    await page.click('#enroll-add');
    const enr = page.locator('#enrollments-body tr[data-course-id="SCI300"][data-active="true"]');
    await enr.waitFor();
    assert.ok(await db('enrollments').where({ course_id: 'SCI300', student_id: 'S900' }).first());
    await axe(page, t, 'student enrollments');
    await screenshot(page, t, 'school-enrollments.png');
    await enr.getByRole('button', { name: 'End enrollment in SCI300' }).click();
    await giveReason('Changed course');
    await page.locator('#enrollments-body tr[data-course-id="SCI300"][data-active="false"]').waitFor();
    assert.equal(
      await db('enrollments').where({ course_id: 'SCI300', student_id: 'S900' }).first(),
      undefined,
    );
    assert.match((await page.textContent('#enrollment-notices')) ?? '', /roster version of SCI300/);
  });

  void test('when an admin adds a room and edits its time zone, then a room in use refuses deactivation in its row', async (t) => {
    const db = stack.rc.database.db;
    await page.click('#nav a[href="#/rooms"]');
    await page.locator('#room-body tr[data-room-id="R101"]').waitFor();
    await page.fill('#room-id', 'RM101');
    await page.fill('#room-name', 'Room B101');
    await page.fill('#room-timezone', 'Europe/Lisbon');
    await page.click('#room-save');
    const rm = page.locator('#room-body tr[data-room-id="RM101"]');
    await rm.waitFor();
    await rm.getByRole('button', { name: 'Edit RM101 Room B101' }).click();
    await page.fill('#room-timezone', 'America/New_York');
    await page.click('#room-save');
    await page.locator('#room-body tr[data-room-id="RM101"] td', { hasText: 'America/New_York' }).waitFor();
    assert.equal(
      (await db('classrooms').where({ id: 'RM101' }).first('timezone')).timezone,
      'America/New_York',
    );

    await page.fill('#room-timezone', 'Mars/Olympus');
    await page.fill('#room-id', 'RM999');
    await page.fill('#room-name', 'Nowhere');
    await page.click('#room-save');
    await page.locator('#room-error', { hasText: 'Mars/Olympus' }).waitFor();

    const r101 = page.locator('#room-body tr[data-room-id="R101"]');
    await r101.getByRole('button', { name: /^Deactivate R101/ }).click();
    await giveReason('Renovation');
    await page.locator('#room-error-R101', { hasText: 'active timetable rows' }).waitFor();
    assert.equal((await db('classrooms').where({ id: 'R101' }).first('active')).active, true);
    await axe(page, t, 'rooms with a refusal');
    await screenshot(page, t, 'school-rooms.png');
  });

  void test('when an admin uploads a OneRoster bundle, then the run’s summary shows; a bundle with bad rows lists them and changes nothing', async (t) => {
    const db = stack.rc.database.db;
    await page.click('#nav a[href="#/imports"]');
    await page.locator('#import-form').waitFor();
    await axe(page, t, 'imports form');
    await page.setInputFiles('#import-file', {
      name: 'roster.zip',
      mimeType: 'application/zip',
      buffer: bundleZip(bundle()),
    });
    await page.click('#import-upload');
    await page.locator('#import-changes-body tr[data-entity="student"]').waitFor({ timeout: 120_000 });
    assert.match((await page.textContent('#import-status')) ?? '', /^Applied.*: \d+ change\(s\)\./);
    const cells = async (entity: string) =>
      page.locator(`#import-changes-body tr[data-entity="${entity}"] td`).allTextContents();
    assert.deepEqual(await cells('student'), ['30', '0', '0', '0']);
    assert.deepEqual(await cells('teacher'), ['3', '0', '0', '0']);
    assert.deepEqual(await cells('course'), ['8', '0', '0', '0']);
    assert.deepEqual(
      await page
        .locator('#import-gaps-body tr')
        .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-class'))),
      ['cls-004', 'cls-008'],
    );
    assert.equal(
      (await db('students').where({ source: 'oneroster' }).whereLike('sourced_id', 's-0%')).length,
      30,
    );
    assert.match(page.url(), /#\/imports\/[0-9a-f-]{36}$/);
    await axe(page, t, 'import summary');
    await screenshot(page, t, 'school-import-summary.png');

    const before = (await db('students').count<{ n: string }[]>('* as n'))[0]!.n;
    const bad = bundle();
    editRow(bad, 'users.csv', 's-00007', (f) => f.map((v, i) => (i === 5 ? 'wizard' : v)));
    editRow(bad, 'users.csv', 's-00001', (f) => f.map((v, i) => (i === 8 ? 'Renamed' : v)));
    await page.setInputFiles('#import-file', {
      name: 'bad.zip',
      mimeType: 'application/zip',
      buffer: bundleZip(bad),
    });
    await page.click('#import-upload');
    await page.locator('#import-issues-body tr').first().waitFor({ timeout: 120_000 });
    assert.match(
      (await page.textContent('#import-status')) ?? '',
      /Rejected.*1 bad row\(s\); nothing was changed/,
    );
    const issue = await page.locator('#import-issues-body tr').first().locator('th, td').allTextContents();
    assert.equal(issue[0], 'users.csv');
    assert.match(issue[1]!, /^\d+$/);
    assert.match(issue[2]!, /role "wizard"/);
    assert.equal((await db('students').count<{ n: string }[]>('* as n'))[0]!.n, before);
    assert.notEqual((await db('students').where({ sourced_id: 's-00001' }).first('name')).name, 'Renamed');
    assert.doesNotMatch((await page.textContent('#import-result')) ?? '', /null|undefined/);
    rejectedRunHash = new URL(page.url()).hash;
    await axe(page, t, 'import bad rows');
    await screenshot(page, t, 'school-import-bad-rows.png');
  });

  void test('when students and imports are used at 375 px, then they fit without sideways scroll', async (t) => {
    await page.setViewportSize({ width: 375, height: 740 });
    try {
      const views: [string, string, string][] = [
        ['#/students', '#student-body tr[data-student-id="S900"]', 'students'],
        ['#/students/S900', '#enrollments-body tr[data-course-id="SCI300"]', 'student-enrollments'],
        [rejectedRunHash || '#/imports', '#import-issues-body tr', 'imports'],
      ];
      for (const [hash, ready, label] of views) {
        await page.goto(`${stack.base}/dashboard${hash}`);
        await page.locator(ready).first().waitFor({ state: 'attached', timeout: 30_000 });
        await assertNoSideScroll(page, t, `${label} at 375 px`);
        await axe(page, t, `${label} at 375 px`);
        await screenshot(page, t, `school-${label}-375.png`);
      }
      const s900 = page.locator('#import-issues-body tr').first();
      assert.equal(
        await s900.evaluate(
          (tr) =>
            (globalThis as unknown as { getComputedStyle(e: unknown): { display: string } }).getComputedStyle(
              tr,
            ).display,
        ),
        'block',
        'bad rows are cards on a phone',
      );
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    // The rooms test's 409 and 422 are logged by the browser as failed resources; nothing else may be.
    assert.deepEqual(
      stack.problems.filter((p) => !/status of (409|422)/.test(p)),
      [],
      'no CSP violation or script error',
    );
  });
  void test('when a district admin picks a school, then the pages show that school only, and every school again on "All schools"', async (t) => {
    const db = stack.rc.database.db;
    await db('schools').insert({ id: 'north', name: 'North school' }).onConflict('id').ignore();
    await db('students')
      .insert({ id: 'N001', name: 'Noor North', school_id: 'north' })
      .onConflict('id')
      .ignore();
    const ids = async () => {
      await page.locator('#student-body tr[data-student-id]').first().waitFor();
      return page
        .locator('#student-body tr[data-student-id]')
        .evaluateAll((rows) =>
          rows.map((r) => (r as unknown as { dataset: { studentId: string } }).dataset.studentId),
        );
    };
    try {
      // A school's admin has no picker: their school is theirs.
      assert.equal(await page.isVisible('#school-pick'), false);
      await signIn(page, DEMO_USERS.district);
      assert.equal(await page.isVisible('#school-pick'), true);
      assert.deepEqual(await page.locator('#school option').allTextContents(), [
        'All schools',
        'Main school',
        'North school',
      ]);
      await page.goto(`${stack.base}/dashboard#/students`);
      await eventually(async () => {
        const all = await ids();
        return all.includes('N001') && all.includes('S001');
      }, 'every school\u2019s students');
      await page.selectOption('#school', 'north');
      await eventually(async () => JSON.stringify(await ids()) === '["N001"]', 'north\u2019s students only');
      await axe(page, t, 'students of one school (district admin)');
      await page.reload();
      await page.waitForSelector('#app:not([hidden])');
      assert.equal(await page.inputValue('#school'), 'north', 'the choice lasts the session');
      await page.selectOption('#school', '');
      await eventually(async () => (await ids()).includes('S001'), 'every school again');
    } finally {
      await signIn(page, DEMO_USERS.admin);
    }
  });
});
