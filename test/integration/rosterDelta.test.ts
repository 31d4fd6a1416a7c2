/**
 * OneRoster delta bundles end to end on real Temporal and Postgres: after a bulk import, a delta applies
 * exactly the rows it lists (a new student and enrollment, a renamed class, a retired student), changes
 * nothing the second time, leaves what it does not list alone, and is rejected whole when a row names a
 * student that neither the bundle nor the school has (another school's student included).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RosterImportSummary } from '../../activities/rosterImport';
import { seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { startTestRollcall, type TestRollcall } from '../support/app';
import { rosterCounts, uploadRoster } from '../support/rosterImports';
import { bearerFor } from '../support/auth';
import { deltaBundle, generatedRooms, generateRosterBundle } from '../support/oneroster';

let rc: TestRollcall;
let admin: string;
const NOW = new Date();
const LATER = new Date(NOW.getTime() + 86_400_000);
const CLASSES = 16;
const base = () => generateRosterBundle({ now: NOW, students: 80, classes: CLASSES, teachers: 6 });

const counts = () => rosterCounts(rc.database.db);

interface RunView {
  status: string;
  summary: RosterImportSummary;
  issues: { count: number; list: { file: string; line: number; reason: string }[] } | null;
}

const upload = (files: Map<string, string>, bearer = admin, school?: string): Promise<RunView> =>
  uploadRoster<RunView>(rc.app, files, { bearer, school });

const none = { create: 0, update: 0, deactivate: 0, reactivate: 0 };

void describe('OneRoster delta import (real Temporal + Postgres)', () => {
  before(
    async () => {
      rc = await startTestRollcall();
      await seedDemoSchool(rc.database.db);
      await rc.database
        .db('classrooms')
        .insert(generatedRooms({ classes: CLASSES }).map((r) => ({ ...r, timezone: 'UTC' })));
      await rc.database.db('schools').insert({ id: 'north', name: 'North school' });
      admin = await bearerFor(rc.app, 'admin');
      const bulk = await upload(base());
      assert.equal(bulk.status, 'applied', JSON.stringify(bulk.issues));
    },
    { timeout: 300_000 },
  );
  after(async () => rc?.stop());

  void test(
    'when a delta adds a student and enrollment, renames a class and retires a student, then exactly those change; the same delta again changes nothing',
    { timeout: 300_000 },
    async () => {
      const db = rc.database.db;
      const [template] = (await db('enrollments')
        .where({ student_id: 's-00003', source: 'oneroster' })
        .orderBy('sourced_id')
        .select('sourced_id', 'course_id')) as { sourced_id: string; course_id: string }[];
      const retiredEnrollments = (await db('enrollments').where({ student_id: 's-00005' })).length;
      const activeCourses = (await db('courses').where({ source: 'oneroster', active: true })).length;
      const cls2Slots = await db('schedules')
        .where({ course_id: 'cls-002' })
        .orderBy('sourced_id')
        .select('sourced_id', 'start_time', 'effective_from', 'effective_to', 'active');
      assert.ok(cls2Slots.length > 0, 'cls-002 has timetable rows');
      const delta = deltaBundle(base(), LATER, [
        {
          file: 'users.csv',
          sourcedId: 's-00003',
          edit: (f) => f.map((v, i) => (i === 0 || i === 6 ? 's-09001' : i === 8 ? 'Nadia' : v)),
        },
        {
          file: 'users.csv',
          sourcedId: 's-00005',
          edit: (f) => f.map((v, i) => (i === 1 ? 'tobedeleted' : v)),
        },
        {
          file: 'classes.csv',
          sourcedId: 'cls-002',
          edit: (f) => f.map((v, i) => (i === 3 ? 'Algebra II' : v)),
        },
        {
          file: 'enrollments.csv',
          sourcedId: template!.sourced_id,
          edit: (f) => f.map((v, i) => (i === 0 ? 'enr-900001' : i === 5 ? 's-09001' : v)),
        },
      ]);

      const run = await upload(delta);
      assert.equal(run.status, 'applied', JSON.stringify(run.issues));
      const c = run.summary.changes;
      assert.deepEqual(c.student, { ...none, create: 1, deactivate: 1 });
      assert.deepEqual(c.course, { ...none, update: 1 });
      assert.deepEqual(c.enrollment, { ...none, create: 1, deactivate: retiredEnrollments });
      assert.deepEqual(c.teacher, none);
      assert.deepEqual(c.schedule, none);
      assert.equal(run.summary.totalChanges, 3 + 1 + retiredEnrollments);
      assert.deepEqual(run.summary.failed, []);

      assert.deepEqual(await db('students').where({ id: 's-00005' }).first('active'), { active: false });
      assert.equal((await db('enrollments').where({ student_id: 's-00005' })).length, 0);
      assert.deepEqual(await db('enrollments').where({ student_id: 's-09001' }).pluck('course_id'), [
        template!.course_id,
      ]);
      assert.equal(
        (await db('students').where({ id: 's-09001' }).first('name')).name.startsWith('Nadia'),
        true,
      );
      const cls2 = await db('courses').where({ id: 'cls-002' }).first('name', 'active', 'teacher_id');
      assert.deepEqual(cls2, { name: 'Algebra II', active: true, teacher_id: 't-0002' });
      assert.deepEqual(
        await db('schedules')
          .where({ course_id: 'cls-002' })
          .orderBy('sourced_id')
          .select('sourced_id', 'start_time', 'effective_from', 'effective_to', 'active'),
        cls2Slots,
        'the renamed class keeps its timetable',
      );
      assert.equal((await db('courses').where({ id: 'cls-003' }).first('active')).active, true);
      assert.equal(
        (await db('courses').where({ source: 'oneroster', active: true })).length,
        activeCourses,
        'no class ended because the delta did not list it',
      );

      const again = await upload(delta);
      assert.equal(again.status, 'applied', JSON.stringify(again.issues));
      assert.equal(again.summary.totalChanges, 0, JSON.stringify(again.summary.changes));
    },
  );

  void test(
    'when a delta enrolls a student that exists nowhere, then it is rejected with file, line and reason and nothing is written',
    { timeout: 120_000 },
    async () => {
      const before = await counts();
      const [anEnrollment] = (await rc.database
        .db('enrollments')
        .where({ source: 'oneroster' })
        .orderBy('sourced_id')
        .pluck('sourced_id')) as string[];
      const delta = deltaBundle(base(), LATER, [
        {
          file: 'classes.csv',
          sourcedId: 'cls-004',
          edit: (f) => f.map((v, i) => (i === 3 ? 'Renamed, not applied' : v)),
        },
        {
          file: 'enrollments.csv',
          sourcedId: anEnrollment!,
          edit: (f) => f.map((v, i) => (i === 0 ? 'enr-900002' : i === 5 ? 's-77777' : v)),
        },
      ]);
      const run = await upload(delta);
      assert.equal(run.status, 'rejected');
      assert.deepEqual(run.issues?.list, [
        {
          file: 'enrollments.csv',
          line: 2,
          reason:
            'userSourcedId s-77777 does not match any sourcedId in users.csv nor any user imported before',
        },
      ]);
      assert.deepEqual(await counts(), before);
      assert.notEqual(
        (await rc.database.db('courses').where({ id: 'cls-004' }).first('name')).name,
        'Renamed, not applied',
      );
    },
  );

  void test(
    "when another school's delta names this school's student and class, then they are unknown there and the delta is rejected",
    { timeout: 120_000 },
    async () => {
      const [e] = (await rc.database
        .db('enrollments')
        .where({ source: 'oneroster', student_id: 's-00001' })
        .orderBy('sourced_id')
        .select('sourced_id', 'course_id')) as { sourced_id: string; course_id: string }[];
      const delta = deltaBundle(base(), LATER, [
        {
          file: 'enrollments.csv',
          sourcedId: e!.sourced_id,
          edit: (f) => f.map((v, i) => (i === 0 ? 'enr-north' : v)),
        },
      ]);
      const run = await upload(delta, await bearerFor(rc.app, 'district'), 'north');
      assert.equal(run.status, 'rejected');
      assert.deepEqual(
        run.issues!.list.map((i) => `${i.file}:${i.line}: ${i.reason}`),
        [
          `enrollments.csv:2: classSourcedId ${e!.course_id} does not match any sourcedId in classes.csv nor any class imported before`,
          'enrollments.csv:2: userSourcedId s-00001 does not match any sourcedId in users.csv nor any user imported before',
        ],
      );
    },
  );
});
