/**
 * OneRoster import end to end on real Temporal and Postgres: the admin upload and the CLI start the
 * rosterImport workflow; a generated bundle imports once and then changes nothing; a bundle with bad rows is
 * rejected whole with its reasons; a changed bundle applies only the difference, deactivating (never
 * deleting) what has history.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { RosterImportSummary } from '../../activities/rosterImport';
import { seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { bundleFromZip } from '../../lib/oneroster/runs';
import { importBundle } from '../../scripts/roster-import';
import { startTestRollcall, type TestRollcall } from '../support/app';
import { rosterCounts, uploadRoster } from '../support/rosterImports';
import { bearerFor } from '../support/auth';
import { bundleZip, dropRow, editRow, generatedRooms, generateRosterBundle } from '../support/oneroster';

let rc: TestRollcall;
let admin: string;
const NOW = new Date();
const STUDENTS = 300;
const CLASSES = 30;
const base = () => generateRosterBundle({ now: NOW, students: STUDENTS, classes: CLASSES, teachers: 10 });

const counts = () => rosterCounts(rc.database.db);
const upload = (files: Map<string, string>, how: 'zip' | 'multipart' = 'zip') =>
  uploadRoster(rc.app, files, { bearer: admin, how });

async function viaCli(files: Map<string, string>) {
  const lines: string[] = [];
  const out = await importBundle(
    {
      db: rc.database.db,
      client: rc.temporal.client,
      taskQueue: rc.taskQueue,
      write: (l) => lines.push(l),
      pollMs: 100,
    },
    bundleFromZip(bundleZip(files)),
    { by: 'cli:test', fileName: 'roster.zip' },
  );
  return { ...out, lines };
}

void describe('OneRoster import (real Temporal + Postgres)', () => {
  before(
    async () => {
      rc = await startTestRollcall();
      await seedDemoSchool(rc.database.db);
      await rc.database
        .db('classrooms')
        .insert(generatedRooms({ classes: CLASSES }).map((r) => ({ ...r, timezone: 'UTC' })));
      admin = await bearerFor(rc.app, 'admin');
    },
    { timeout: 120_000 },
  );
  after(async () => rc?.stop());

  void test(
    'when the generated bundle is imported twice, then the first creates everything and the second reports 0 changes',
    { timeout: 300_000 },
    async () => {
      const first = await upload(base());
      const s = first.summary as RosterImportSummary;
      assert.equal(first.status, 'applied', JSON.stringify(first.issues));
      assert.equal(s.changes.student.create, STUDENTS);
      assert.equal(s.changes.teacher.create, 10);
      assert.equal(s.changes.course.create, CLASSES);
      assert.equal(s.changes.enrollment.create, STUDENTS * 6);
      // 30 classes, every 12th without a location: 28 placed, one period each, five weekdays.
      assert.equal(s.changes.schedule.create, 28 * 5);
      assert.deepEqual(
        s.needsTimetable.map((g) => g.classSourcedId),
        ['cls-012', 'cls-024'],
      );
      assert.match(s.needsTimetable[0]!.reason, /no location/);
      assert.deepEqual(s.failed, []);
      const db = rc.database.db;
      const teacher = await db('users')
        .where({ id: 't-0001' })
        .first('role', 'password_hash', 'source', 'active');
      assert.deepEqual(teacher, { role: 'teacher', password_hash: null, source: 'oneroster', active: true });
      const course = await db('courses').where({ id: 'cls-001' }).first('teacher_id', 'roster_version');
      assert.equal(course.teacher_id, 't-0001');
      assert.ok(Number(course.roster_version) > 1, 'enrollments bumped the roster version');
      const slot = await db('schedules')
        .where({ sourced_id: 'cls-010/2/3' })
        .first('room_id', 'day_of_week', 'start_time');
      assert.deepEqual(slot, { room_id: 'RM102', day_of_week: 3, start_time: '08:55:00' });
      const audit = await db('audit_log')
        .where({ entity: 'roster_import', entity_id: s.runId })
        .orderBy('id')
        .pluck('action');
      assert.deepEqual(audit, ['roster_import.requested', 'roster_import.applied']);

      const second = await viaCli(base());
      assert.equal(second.code, 0);
      assert.equal(second.summary.totalChanges, 0);
      assert.ok(second.lines.includes('applied: 0 change(s)'), second.lines.join('\n'));
      assert.ok(second.lines.some((l) => l.startsWith('2 class(es) still need a room and times')));
    },
  );

  void test(
    'when a bundle has 3 bad rows, then it is rejected whole with the 3 reasons and nothing is written',
    { timeout: 120_000 },
    async () => {
      const before = await counts();
      const files = base();
      editRow(files, 'users.csv', 's-00007', (f) => f.map((v, i) => (i === 5 ? 'wizard' : v)));
      editRow(files, 'enrollments.csv', 'enr-000050', (f) => f.map((v, i) => (i === 5 ? 's-99999' : v)));
      editRow(files, 'academicSessions.csv', 'as-sem2', (f) => f.map((v, i) => (i === 5 ? 'next week' : v)));
      // Valid changes in the same bundle must not be applied either.
      editRow(files, 'users.csv', 's-00001', (f) => f.map((v, i) => (i === 8 ? 'Renamed' : v)));
      const { code, summary, issues, lines } = await viaCli(files);
      assert.equal(code, 1);
      assert.equal(summary.status, 'rejected');
      assert.equal(summary.issueCount, 3);
      assert.deepEqual(
        issues.map((i) => [i.file, i.reason.replace(/ is not one of.*/, '')]),
        [
          ['academicSessions.csv', 'startDate "next week" is not a date (YYYY-MM-DD)'],
          ['users.csv', 'role "wizard"'],
          ['enrollments.csv', 'userSourcedId s-99999 does not match any sourcedId in users.csv'],
        ],
      );
      assert.ok(issues.every((i) => i.line > 1));
      assert.ok(
        lines.some((l) => /^users\.csv:\d+: role "wizard"/.test(l)),
        lines.join('\n'),
      );
      assert.deepEqual(await counts(), before);
      assert.equal(
        (await rc.database.db('students').where({ id: 's-00001' }).first('name')).name.startsWith('Renamed'),
        false,
      );
    },
  );

  void test(
    'when the bundle changes, then only the difference is applied, with deactivations that keep attendance history',
    { timeout: 300_000 },
    async () => {
      const db = rc.database.db;
      // s-00002 has attendance history in an imported course; the new bundle drops them.
      const enrolled = await db('enrollments')
        .where({ student_id: 's-00002' })
        .orderBy('course_id')
        .pluck('course_id');
      const [sched] = await db('schedules')
        .whereIn('course_id', enrolled)
        .where({ source: 'oneroster' })
        .orderBy('id')
        .select('id', 'course_id', 'room_id');
      assert.ok(sched, 'the dropped student has a timetabled class');
      const sessionId = `session:${sched.id}:${NOW.toISOString().slice(0, 10)}`;
      await db('class_sessions').insert({
        id: sessionId,
        schedule_id: sched.id,
        session_date: NOW.toISOString().slice(0, 10),
        course_id: sched.course_id,
        room_id: sched.room_id,
        starts_at: NOW,
        ends_at: new Date(NOW.getTime() + 3_600_000),
        late_after_minutes: 10,
      });
      await db('attendance_logs').insert({
        event_id: 'evt-roster-history',
        session_id: sessionId,
        student_id: 's-00002',
        course_id: sched.course_id,
        status: 'present',
        marked_at: NOW,
        source: 'device',
      });
      const versionBefore = Number(
        (await db('courses').where({ id: 'cls-003' }).first('roster_version')).roster_version,
      );

      const files = base();
      editRow(files, 'users.csv', 's-00001', (f) => f.map((v, i) => (i === 8 ? 'Renamed' : v)));
      dropRow(files, 'users.csv', 's-00002');
      const s2 = (await db('enrollments').where({ student_id: 's-00002' }).pluck('sourced_id')) as string[];
      for (const id of s2) dropRow(files, 'enrollments.csv', id);
      const [cls3Enrollment] = (await db('enrollments')
        .where({ course_id: 'cls-003', source: 'oneroster' })
        .whereNot({ student_id: 's-00002' })
        .orderBy('sourced_id')
        .pluck('sourced_id')) as string[];
      editRow(files, 'enrollments.csv', cls3Enrollment!, (f) =>
        f.map((v, i) => (i === 1 ? 'tobedeleted' : v)),
      );
      editRow(files, 'classes.csv', 'cls-004', (f) => f.map((v, i) => (i === 3 ? 'Algebra II' : v)));
      editRow(files, 'classes.csv', 'cls-005', (f) => f.map((v, i) => (i === 1 ? 'tobedeleted' : v)));
      const cls5Students = await db('enrollments')
        .where({ course_id: 'cls-005', source: 'oneroster' })
        .whereNot({ student_id: 's-00002' })
        .count<{ n: string }[]>('* as n');

      const run = await upload(files, 'multipart');
      assert.equal(run.status, 'applied', JSON.stringify(run.issues));
      const c = (run.summary as RosterImportSummary).changes;
      assert.deepEqual(c.student, { create: 0, update: 1, deactivate: 1, reactivate: 0 });
      assert.deepEqual(c.course, { create: 0, update: 1, deactivate: 1, reactivate: 0 });
      assert.deepEqual(c.teacher, { create: 0, update: 0, deactivate: 0, reactivate: 0 });
      assert.equal(c.enrollment.create, 0);
      assert.equal(c.enrollment.deactivate, s2.length + 1 + Number(cls5Students[0]!.n));
      assert.deepEqual(c.schedule, { create: 0, update: 0, deactivate: 5, reactivate: 0 });

      const dropped = await db('students').where({ id: 's-00002' }).first('active');
      assert.deepEqual(dropped, { active: false }, 'deactivated, not deleted');
      assert.equal((await db('attendance_logs').where({ student_id: 's-00002' })).length, 1, 'history kept');
      assert.equal((await db('enrollments').where({ student_id: 's-00002' })).length, 0);
      assert.equal((await db('courses').where({ id: 'cls-005' }).first('active')).active, false);
      assert.deepEqual(
        await db('schedules').where({ course_id: 'cls-005' }).distinct('active').pluck('active'),
        [false],
      );
      assert.equal((await db('courses').where({ id: 'cls-004' }).first('name')).name, 'Algebra II');
      assert.ok(
        Number((await db('courses').where({ id: 'cls-003' }).first('roster_version')).roster_version) >
          versionBefore,
      );

      const again = await viaCli(files);
      assert.equal(again.summary.totalChanges, 0, again.lines.join('\n'));
    },
  );

  void test(
    'when uploads are not bundles or the caller is not an admin, then the answers are 4xx',
    { timeout: 60_000 },
    async () => {
      const post = () => request(rc.app).post('/api/v1/admin/imports');
      const cases: [string, request.Test, number][] = [
        [
          'not a zip',
          post()
            .set('Authorization', admin)
            .set('Content-Type', 'application/zip')
            .send(Buffer.from('hello')),
          400,
        ],
        [
          'empty',
          post().set('Authorization', admin).set('Content-Type', 'application/zip').send(Buffer.alloc(0)),
          400,
        ],
        ['text', post().set('Authorization', admin).set('Content-Type', 'text/plain').send('manifest'), 415],
        ['json', post().set('Authorization', admin).send({ bundle: 'x' }), 415],
        [
          'no manifest',
          post()
            .set('Authorization', admin)
            .set('Content-Type', 'application/zip')
            .send(bundleZip(new Map([['users.csv', 'a\n']]))),
          400,
        ],
        ['multipart without file', post().set('Authorization', admin).field('name', 'x'), 400],
        ['anonymous', post().set('Content-Type', 'application/zip').send(bundleZip(base())), 401],
        [
          'teacher',
          post()
            .set('Authorization', await bearerFor(rc.app, 'teacher1'))
            .set('Content-Type', 'application/zip')
            .send(bundleZip(base())),
          403,
        ],
        [
          'unknown run',
          request(rc.app)
            .get('/api/v1/admin/imports/00000000-0000-4000-8000-000000000000')
            .set('Authorization', admin),
          404,
        ],
        ['bad run id', request(rc.app).get('/api/v1/admin/imports/nope').set('Authorization', admin), 400],
      ];
      for (const [what, req, status] of cases) {
        const res = await req;
        assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
        assert.ok(res.body.error?.code, what);
      }
    },
  );
});
