/**
 * Admin CRUD of students, courses, enrollments and rooms on the real stack (Postgres + Temporal): validation,
 * audit rows, deactivation instead of deletion, the device roster following a student's deactivation, the
 * timetable following a course's, roles, and rows that came from the OneRoster import.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { classScheduleId } from '../../activities/timetable';
import { config } from '../../lib/config';
import { enrollmentSettingsFromConfig } from '../../lib/enrollment';
import { DEMO_DEVICE_KEYS, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { eventually, startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';
import { assertErrorShape } from '../support/errors';

let rc: TestRollcall;
let admin: string;
let sessionId: string;
const R100 = `Bearer ${DEMO_DEVICE_KEYS['pi-r100']}`;

const auditOf = (entity: string, id: string) =>
  rc.database
    .db('audit_log')
    .where({ entity, entity_id: id })
    .orderBy('id')
    .select('actor', 'action', 'before', 'after', 'reason');
const version = async (course: string) =>
  Number((await rc.database.db('courses').where({ id: course }).first('roster_version')).roster_version);

void describe('admin CRUD (real Temporal + Postgres)', () => {
  before(async () => {
    rc = await startTestRollcall();
    const { nowScheduleId } = await seedDemoSchool(rc.database.db);
    const row = await rc.database
      .db('schedules')
      .where({ id: nowScheduleId })
      .first(rc.database.db.raw('effective_from::text AS day'));
    sessionId = `session:${nowScheduleId}:${row.day as string}`;
    admin = await bearerFor(rc.app, 'admin');
  });
  after(async () => {
    await rc?.stop();
  });

  void test('when a teacher or nobody calls the admin CRUD, then 403 / 401 and nothing changes', async () => {
    const teacher = await bearerFor(rc.app, 'teacher1');
    for (const path of [
      '/api/v1/admin/students',
      '/api/v1/admin/courses',
      '/api/v1/admin/enrollments',
      '/api/v1/admin/rooms',
    ])
      assertErrorShape(await request(rc.app).get(path).set('Authorization', teacher), 403);
    assertErrorShape(
      await request(rc.app)
        .post('/api/v1/admin/students')
        .set('Authorization', teacher)
        .send({ id: 'S900', name: 'No' }),
      403,
    );
    assertErrorShape(
      await request(rc.app).post('/api/v1/admin/students/S001/deactivate').set('Authorization', teacher),
      403,
    );
    assertErrorShape(await request(rc.app).get('/api/v1/admin/students'), 401);
    assert.equal(await rc.database.db('students').where({ id: 'S900' }).first(), undefined);
    assert.equal((await rc.database.db('students').where({ id: 'S001' }).first('active')).active, true);
  });

  void test('when an admin creates, changes and looks up a student, then it is validated, audited and duplicates are 409', async () => {
    const created = await request(rc.app)
      .post('/api/v1/admin/students')
      .set('Authorization', admin)
      .send({ id: 'S901', name: '  Zoë Example ', email: 'zoe@example.org' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.location, '/api/v1/admin/students/S901');
    assert.deepEqual(
      { ...created.body.student, created_at: undefined },
      {
        id: 'S901',
        name: 'Zoë Example',
        email: 'zoe@example.org',
        active: true,
        course_ids: [],
        created_at: undefined,
        source: null,
        sourced_id: null,
        managed_by_import: false,
      },
    );
    const dup = await request(rc.app)
      .post('/api/v1/admin/students')
      .set('Authorization', admin)
      .send({ id: 'S901', name: 'Again' });
    assertErrorShape(dup, 409);
    assert.equal(dup.body.error.code, 'duplicate_id');

    const blank = await request(rc.app)
      .post('/api/v1/admin/students')
      .set('Authorization', admin)
      .send({ id: 'S902', name: '   ' });
    assertErrorShape(blank, 400);
    assert.match(blank.body.error.message, /^body\.name: must not be blank/);
    const badEmail = await request(rc.app)
      .post('/api/v1/admin/students')
      .set('Authorization', admin)
      .send({ id: 'S902', name: 'Ok', email: 'not-an-email' });
    assertErrorShape(badEmail, 400);
    assert.match(badEmail.body.error.message, /body\.email/);
    const unknownField = await request(rc.app)
      .post('/api/v1/admin/students')
      .set('Authorization', admin)
      .send({ id: 'S902', name: 'Ok', active: false });
    assertErrorShape(unknownField, 400);
    const badId = await request(rc.app)
      .post('/api/v1/admin/students')
      .set('Authorization', admin)
      .send({ id: 'S 9', name: 'Ok' });
    assertErrorShape(badId, 400);
    assert.match(badId.body.error.message, /body\.id/);

    const changed = await request(rc.app)
      .put('/api/v1/admin/students/S901')
      .set('Authorization', admin)
      .send({ name: 'Zoë Renamed' });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.student.name, 'Zoë Renamed');
    assert.equal(changed.body.student.email, null, 'PUT replaces: an omitted e-mail is none');
    assert.deepEqual(changed.body.notices, []);
    assertErrorShape(
      await request(rc.app)
        .put('/api/v1/admin/students/S999')
        .set('Authorization', admin)
        .send({ name: 'X' }),
      404,
    );
    assertErrorShape(
      await request(rc.app).get('/api/v1/admin/students/S999').set('Authorization', admin),
      404,
    );

    const audits = await auditOf('student', 'S901');
    assert.deepEqual(
      audits.map((a) => [a.actor, a.action]),
      [
        ['u-admin', 'student.create'],
        ['u-admin', 'student.update'],
      ],
    );
    assert.equal(audits[1]!.before.name, 'Zoë Example');
    assert.equal(audits[1]!.after.name, 'Zoë Renamed');

    const found = await request(rc.app).get('/api/v1/admin/students?q=renamed').set('Authorization', admin);
    assert.deepEqual(
      found.body.students.map((s: { id: string }) => s.id),
      ['S901'],
    );
    const inMath = await request(rc.app)
      .get('/api/v1/admin/students?course_id=MATH201&limit=5&offset=0')
      .set('Authorization', admin);
    assert.deepEqual(
      inMath.body.students.map((s: { id: string }) => s.id),
      ['S021', 'S022', 'S023', 'S024', 'S025'],
    );
    const wildcard = await request(rc.app).get('/api/v1/admin/students?q=%25').set('Authorization', admin);
    assert.deepEqual(wildcard.body.students, [], '% is searched for, not a wildcard');
    assertErrorShape(
      await request(rc.app).get('/api/v1/admin/students?limit=0').set('Authorization', admin),
      400,
    );
    assertErrorShape(
      await request(rc.app).get('/api/v1/admin/students?active=yes').set('Authorization', admin),
      400,
    );
  });

  void test('when an admin deactivates a student, then the device roster drops their faces with a new version, history stays, and reactivation restores it', async () => {
    const db = rc.database.db;
    const settings = enrollmentSettingsFromConfig(config());
    await db('consents').insert({ student_id: 'S003', kind: 'biometric_enrollment', granted_by: 'u-admin' });
    const sealed = settings.cipher.seal(new Float32Array(8).fill(0.25), {
      studentId: 'S003',
      modelId: settings.embedder,
    });
    await db('face_embeddings').insert({
      student_id: 'S003',
      model_id: settings.embedder,
      vector: sealed.sealed,
      key_id: sealed.keyId,
      quality: 0.9,
    });
    // History: a real sighting of S003 in the class running now, marked by the session workflow.
    const sighting = await request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', R100)
      .send({
        device_id: 'pi-r100',
        records: [
          {
            event_id: 'evt-admin-crud-s003',
            student_id: 'S003',
            timestamp: new Date().toISOString(),
            confidence: 0.9,
          },
        ],
      });
    assert.equal(sighting.status, 202, JSON.stringify(sighting.body));
    await eventually(
      async () => (await db('attendance_logs').where({ student_id: 'S003' })).length === 1,
      'the mark',
    );
    const marksBefore = await db('attendance_logs')
      .where({ student_id: 'S003' })
      .count<{ n: string }[]>('* as n');
    const roster = () =>
      request(rc.app)
        .get(`/api/v1/roster/${encodeURIComponent(sessionId)}`)
        .set('Authorization', R100);
    const first = await roster();
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.ok(first.body.students.some((s: { studentId: string }) => s.studentId === 'S003'));
    const versionBefore = first.body.rosterVersion as number;

    const res = await request(rc.app)
      .post('/api/v1/admin/students/S003/deactivate')
      .set('Authorization', admin)
      .send({ reason: 'left the school' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.student.active, false);
    assert.deepEqual(res.body.student.course_ids, []);
    assert.match(res.body.notices[0], /ended 2 enrollment\(s\) \(CS101, DEMO100\)/);

    const revalidated = await roster().set('If-None-Match', first.headers.etag as string);
    assert.equal(revalidated.status, 200, 'the old ETag no longer matches');
    assert.ok(revalidated.body.rosterVersion > versionBefore);
    assert.ok(!revalidated.body.students.some((s: { studentId: string }) => s.studentId === 'S003'));
    assert.equal(
      (await db('students').where({ id: 'S003' }).first('active')).active,
      false,
      'kept, inactive',
    );
    assert.deepEqual(
      await db('attendance_logs').where({ student_id: 'S003' }).count<{ n: string }[]>('* as n'),
      marksBefore,
    );
    assert.equal((await db('face_embeddings').where({ student_id: 'S003' })).length, 1, 'not an erasure');
    const [audit] = await db('audit_log').where({ action: 'student.deactivate', entity_id: 'S003' });
    assert.equal(audit.reason, 'left the school');
    assert.deepEqual(audit.before.course_ids, ['CS101', 'DEMO100']);

    const again = await request(rc.app)
      .post('/api/v1/admin/students/S003/deactivate')
      .set('Authorization', admin);
    assert.equal(again.status, 200);
    assert.match(again.body.notices[0], /already inactive/);
    assert.equal(
      (await db('audit_log').where({ action: 'student.deactivate', entity_id: 'S003' })).length,
      1,
    );

    const enrollInactive = await request(rc.app)
      .post('/api/v1/admin/enrollments')
      .set('Authorization', admin)
      .send({ course_id: 'MATH201', student_id: 'S003' });
    assertErrorShape(enrollInactive, 422);
    assert.equal(enrollInactive.body.error.code, 'student_inactive');

    const ended = await request(rc.app)
      .get('/api/v1/admin/enrollments?student_id=S003')
      .set('Authorization', admin);
    assert.deepEqual(
      ended.body.enrollments.map((e: { course_id: string; active: boolean; deactivated_because: string }) => [
        e.course_id,
        e.active,
        e.deactivated_because,
      ]),
      [
        ['CS101', false, 'student_deactivated'],
        ['DEMO100', false, 'student_deactivated'],
      ],
    );

    const back = await request(rc.app)
      .post('/api/v1/admin/students/S003/reactivate')
      .set('Authorization', admin);
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.deepEqual(back.body.student.course_ids, ['CS101', 'DEMO100']);
    const restored = await roster();
    assert.ok(restored.body.rosterVersion > revalidated.body.rosterVersion);
    assert.ok(restored.body.students.some((s: { studentId: string }) => s.studentId === 'S003'));
    assert.deepEqual(
      (await auditOf('student', 'S003')).map((a) => a.action),
      ['student.deactivate', 'student.reactivate'],
    );
  });

  void test('when an admin manages courses, then teachers are checked, and deactivation pauses the timetable and its Temporal Schedules until reactivation', async () => {
    const post = (body: object) =>
      request(rc.app).post('/api/v1/admin/courses').set('Authorization', admin).send(body);
    const unknown = await post({ id: 'BIO110', name: 'Biology', teacher_id: 'u-nobody' });
    assertErrorShape(unknown, 422);
    assert.equal(unknown.body.error.code, 'unknown_teacher');
    const notTeacher = await post({ id: 'BIO110', name: 'Biology', teacher_id: 'u-admin' });
    assertErrorShape(notTeacher, 422);
    assert.equal(notTeacher.body.error.code, 'not_a_teacher');
    const created = await post({ id: 'BIO110', name: 'Biology', teacher_id: 'u-teacher2' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.course.student_count, 0);
    assertErrorShape(await post({ id: 'CS101', name: 'Again' }), 409);
    const changed = await request(rc.app)
      .put('/api/v1/admin/courses/BIO110')
      .set('Authorization', admin)
      .send({ name: 'Biology I', teacher_id: null });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.course.teacher_id, null);

    const db = rc.database.db;
    const rows: number[] = await db('schedules').where({ course_id: 'CS101' }).orderBy('id').pluck('id');
    const off = await request(rc.app)
      .post('/api/v1/admin/courses/CS101/deactivate')
      .set('Authorization', admin)
      .send({});
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.course.active, false);
    assert.deepEqual(off.body.course.active_schedule_ids, []);
    assert.equal(off.body.timetable_sync.workflowId, 'timetable:sync');
    assert.deepEqual(
      await db('schedules')
        .whereIn('id', rows)
        .where({ active: false, paused_with_course: true })
        .orderBy('id')
        .pluck('id'),
      rows,
    );
    assert.equal(off.body.course.student_count, 50, 'enrollments are kept');
    const addClass = await request(rc.app)
      .post('/api/v1/admin/schedules')
      .set('Authorization', admin)
      .send({ course_id: 'CS101', room_id: 'R101', day_of_week: 7, start_time: '06:00', end_time: '06:30' });
    assert.equal(addClass.status, 422, 'no active timetable row for a deactivated course');
    assert.equal(addClass.body.error.code, 'course_inactive');
    const handle = rc.temporal.client.schedule.getHandle(classScheduleId(rows[0]!));
    await eventually(
      async () => (await handle.describe().catch(() => undefined))?.state.paused === true,
      'the Schedule to pause',
      60_000,
    );

    const on = await request(rc.app)
      .post('/api/v1/admin/courses/CS101/reactivate')
      .set('Authorization', admin);
    assert.equal(on.status, 200, JSON.stringify(on.body));
    assert.deepEqual(on.body.course.active_schedule_ids, rows);
    assert.match(on.body.notices.join(' '), /resumed 3 timetable row/);
    assert.equal((await db('schedules').whereIn('id', rows).where({ paused_with_course: true })).length, 0);
    await eventually(
      async () => (await handle.describe().catch(() => undefined))?.state.paused === false,
      'the Schedule to resume',
      60_000,
    );
    assert.deepEqual(
      (await auditOf('course', 'CS101')).map((a) => a.action),
      ['course.deactivate', 'course.reactivate'],
    );
    assert.deepEqual(
      (await auditOf('course', 'BIO110')).map((a) => a.action),
      ['course.create', 'course.update'],
    );
  });

  void test('when an admin enrolls, ends and restores an enrollment, then the roster version moves each time and each change is audited', async () => {
    const body = { course_id: 'MATH201', student_id: 'S001' };
    const v0 = await version('MATH201');
    const created = await request(rc.app)
      .post('/api/v1/admin/enrollments')
      .set('Authorization', admin)
      .send(body);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.location, '/api/v1/admin/enrollments/MATH201/S001');
    assert.equal(created.body.enrollment.active, true);
    assert.ok((await version('MATH201')) > v0);
    const dup = await request(rc.app)
      .post('/api/v1/admin/enrollments')
      .set('Authorization', admin)
      .send(body);
    assertErrorShape(dup, 409);
    assert.equal(dup.body.error.code, 'already_enrolled');
    const unknown = await request(rc.app)
      .post('/api/v1/admin/enrollments')
      .set('Authorization', admin)
      .send({ ...body, course_id: 'NOPE' });
    assertErrorShape(unknown, 422);
    assert.equal(unknown.body.error.code, 'unknown_course');

    const v1 = await version('MATH201');
    const off = await request(rc.app)
      .post('/api/v1/admin/enrollments/MATH201/S001/deactivate')
      .set('Authorization', admin);
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.enrollment.active, false);
    assert.equal(off.body.enrollment.deactivated_because, 'enrollment_deactivated');
    assert.ok((await version('MATH201')) > v1);
    assert.equal(await rc.database.db('enrollments').where(body).first(), undefined);
    const on = await request(rc.app)
      .post('/api/v1/admin/enrollments/MATH201/S001/reactivate')
      .set('Authorization', admin);
    assert.equal(on.status, 200, JSON.stringify(on.body));
    assert.equal(on.body.enrollment.active, true);
    assert.equal(
      on.body.enrollment.enrolled_at,
      created.body.enrollment.enrolled_at,
      'the original enrollment date',
    );
    assertErrorShape(
      await request(rc.app).get('/api/v1/admin/enrollments/MATH201/S002').set('Authorization', admin),
      404,
    );
    assertErrorShape(
      await request(rc.app)
        .post('/api/v1/admin/enrollments/MATH201/S002/deactivate')
        .set('Authorization', admin),
      404,
    );
    assert.deepEqual(
      (await auditOf('enrollment', 'MATH201/S001')).map((a) => a.action),
      ['enrollment.create', 'enrollment.deactivate', 'enrollment.reactivate'],
    );
  });

  void test('when an admin manages rooms, then time zones are checked and a room with active classes cannot be deactivated', async () => {
    const post = (body: object) =>
      request(rc.app).post('/api/v1/admin/rooms').set('Authorization', admin).send(body);
    const badZone = await post({ id: 'R200', name: 'Annex', timezone: 'Mars/Olympus_Mons' });
    assertErrorShape(badZone, 422);
    assert.equal(badZone.body.error.code, 'unknown_timezone');
    const created = await post({ id: 'R200', name: 'Annex', building: 'East' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.room.timezone, 'UTC');
    assertErrorShape(await post({ id: 'R200', name: 'Annex' }), 409);
    const changed = await request(rc.app)
      .put('/api/v1/admin/rooms/R200')
      .set('Authorization', admin)
      .send({ name: 'Annex 2', building: null, timezone: 'Europe/Lisbon' });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.room.timezone, 'Europe/Lisbon');

    const busy = await request(rc.app)
      .post('/api/v1/admin/rooms/R101/deactivate')
      .set('Authorization', admin);
    assertErrorShape(busy, 409);
    assert.equal(busy.body.error.code, 'room_in_use');
    const off = await request(rc.app).post('/api/v1/admin/rooms/R200/deactivate').set('Authorization', admin);
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.room.active, false);
    const inactive = await request(rc.app)
      .get('/api/v1/admin/rooms?active=false')
      .set('Authorization', admin);
    assert.deepEqual(
      inactive.body.rooms.map((r: { id: string }) => r.id),
      ['R200'],
    );
    assert.equal(
      (await request(rc.app).post('/api/v1/admin/rooms/R200/reactivate').set('Authorization', admin)).status,
      200,
    );
    assert.deepEqual(
      (await auditOf('room', 'R200')).map((a) => a.action),
      ['room.create', 'room.update', 'room.deactivate', 'room.reactivate'],
    );
  });

  void test('when an admin edits a row the OneRoster import made, then it is saved and the answer says the next import may overwrite it', async () => {
    await rc.database
      .db('students')
      .where({ id: 'S060' })
      .update({ source: 'oneroster', sourced_id: 'S060' });
    const listed = await request(rc.app).get('/api/v1/admin/students/S060').set('Authorization', admin);
    assert.equal(listed.body.student.managed_by_import, true);
    const res = await request(rc.app)
      .put('/api/v1/admin/students/S060')
      .set('Authorization', admin)
      .send({ name: 'Hand Edited' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.student.name, 'Hand Edited');
    assert.match(
      res.body.notices.join(' '),
      /managed by the oneroster roster import .* next import may overwrite it/,
    );
  });
});
