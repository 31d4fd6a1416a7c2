/**
 * Security of the API on the real stack: people's JWTs and roles (teachers scoped to their courses), device
 * room scoping, overrides, timetable admin, erasure, rate limits, body limits, one error shape, and SQL
 * injection strings that stay harmless.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { config } from '../../lib/config';
import { enrollmentSettingsFromConfig } from '../../lib/enrollment';
import { jwtSettingsFromConfig, signToken } from '../../lib/jwt';
import { DEMO_DEVICE_KEYS, DEMO_PASSWORD, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { rosterQuery } from '../../workflows/messages';
import { classScheduleId } from '../../activities/timetable';
import { eventually, startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';
import { weekdayWeeksAgo } from '../support/dates';
import { assertErrorShape } from '../support/errors';

let rc: TestRollcall;
let nowScheduleId: number;
let sessionId: string;
const R100 = `Bearer ${DEMO_DEVICE_KEYS['pi-r100']}`;
const R101 = `Bearer ${DEMO_DEVICE_KEYS['pi-r101']}`;
const jwt = jwtSettingsFromConfig(config());

const count = async (table: string) =>
  Number((await rc.database.db(table).count<{ n: string }[]>('* as n'))[0]!.n);

async function sighting(studentIds: string[]) {
  const res = await request(rc.app)
    .post('/api/v1/attendance')
    .set('Authorization', R100)
    .send({
      device_id: 'pi-r100',
      records: studentIds.map((s) => ({
        event_id: `evt-${crypto.randomUUID()}`,
        student_id: s,
        timestamp: new Date().toISOString(),
        confidence: 0.9,
      })),
    });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.results[0].session_id as string;
}

void describe('security (real Temporal + Postgres)', () => {
  before(async () => {
    rc = await startTestRollcall();
    ({ nowScheduleId } = await seedDemoSchool(rc.database.db));
    sessionId = await sighting(['S001', 'S002']);
    await eventually(
      async () => (await rc.database.db('attendance_logs').where({ session_id: sessionId })).length === 2,
      'two marks',
    );
    // A past MATH201 session (teacher2's) in which S021 — also in teacher1's CS101 and DEMO100 — was late.
    const [math] = await rc.database.db('schedules').where({ course_id: 'MATH201' }).pluck('id');
    const tuesday = weekdayWeeksAgo(2, 2);
    await rc.database.db('class_sessions').insert({
      id: `session:${math}:${tuesday}`,
      schedule_id: math,
      session_date: tuesday,
      course_id: 'MATH201',
      room_id: 'R102',
      starts_at: `${tuesday}T10:00:00Z`,
      ends_at: `${tuesday}T11:30:00Z`,
      late_after_minutes: 10,
      status: 'closed',
    });
    await rc.database.db.raw('SELECT ensure_attendance_partitions(?::timestamptz, 0)', [
      `${tuesday}T00:00:00Z`,
    ]);
    await rc.database.db('attendance_logs').insert({
      event_id: 'x-math-s021',
      session_id: `session:${math}:${tuesday}`,
      student_id: 'S021',
      course_id: 'MATH201',
      status: 'late',
      marked_at: `${tuesday}T10:20:00Z`,
      source: 'device',
    });
  });
  after(async () => rc?.stop());

  void test('when demo users sign in, then they get a JWT that expires, and wrong passwords get 401', async () => {
    const ok = await request(rc.app)
      .post('/api/v1/auth/login')
      .send({ email: 'Teacher1@demo.school', password: DEMO_PASSWORD });
    assert.equal(ok.status, 200);
    assert.match(ok.body.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.ok(Date.parse(ok.body.expiresAt) > Date.now());
    assert.deepEqual(ok.body.user, { id: 'u-teacher1', name: 'Tariq Teacher', role: 'teacher' });
    assert.equal(ok.headers['cache-control'], 'no-store');
    const me = await request(rc.app).get('/api/v1/auth/me').set('Authorization', `Bearer ${ok.body.token}`);
    assert.equal(me.body.user.id, 'u-teacher1');
    const wrong = await request(rc.app)
      .post('/api/v1/auth/login')
      .send({ email: 'teacher1@demo.school', password: 'nope' });
    assertErrorShape(wrong, 401);
    assert.equal(wrong.body.error.code, 'invalid_credentials');
    const nobody = await request(rc.app)
      .post('/api/v1/auth/login')
      .send({ email: 'nobody@demo.school', password: 'nope' });
    assertErrorShape(nobody, 401);
    assert.equal(nobody.body.error.message, wrong.body.error.message, 'no hint which emails exist');
    const stored = await rc.database.db('users').where({ id: 'u-admin' }).first('password_hash');
    assert.match(stored.password_hash, /^scrypt\$\d+\$8\$1\$/);
  });

  void test('when a JWT is expired, tampered, unsigned or from an unknown key, then 401', async () => {
    const expired = signToken(
      jwt,
      { sub: 'u-admin', role: 'admin' },
      Date.now() - 2 * 3600_000 - jwt.ttlSeconds * 1000,
    ).token;
    const res = await request(rc.app)
      .get('/api/v1/attendance/course/DEMO100')
      .set('Authorization', `Bearer ${expired}`);
    assertErrorShape(res, 401);
    assert.match(res.body.error.message, /expired/);
    assert.match(res.headers['www-authenticate'], /Bearer/);

    const good = signToken(jwt, { sub: 'u-teacher1', role: 'teacher' }).token;
    const [h, p, s] = good.split('.');
    const escalated = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(p!, 'base64url').toString()),
        sub: 'u-admin',
        role: 'admin',
      }),
    ).toString('base64url');
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: 'dev' })).toString('base64url');
    const otherKey = signToken(
      { keys: new Map([['other', crypto.randomBytes(32)]]), ttlSeconds: 600, audience: jwt.audience },
      { sub: 'u-admin', role: 'admin' },
    ).token;
    for (const token of [
      `${h}.${escalated}.${s}`,
      `${none}.${p}.`,
      `${none}.${p}.${s}`,
      otherKey,
      `${h}.${p}.${s}x`,
    ]) {
      const r = await request(rc.app)
        .get('/api/v1/reports/consecutive-absences')
        .set('Authorization', `Bearer ${token}`);
      assertErrorShape(r, 401);
    }
    const anonymous = await request(rc.app).get('/api/v1/attendance/course/DEMO100');
    assertErrorShape(anonymous, 401);
    // A device key is not a person.
    assertErrorShape(
      await request(rc.app).get('/api/v1/attendance/course/DEMO100').set('Authorization', R100),
      401,
    );
  });

  void test('when a teacher of course A reads course B, then 403; their own courses work', async () => {
    const t1 = await bearerFor(rc.app, 'teacher1');
    const t2 = await bearerFor(rc.app, 'teacher2');
    assert.equal(
      (await request(rc.app).get('/api/v1/attendance/course/DEMO100').set('Authorization', t1)).status,
      200,
    );
    const forbidden = [
      request(rc.app).get('/api/v1/attendance/course/DEMO100').set('Authorization', t2),
      request(rc.app).get('/api/v1/attendance/course/MATH201?format=csv').set('Authorization', t1),
      request(rc.app)
        .get(`/api/v1/sessions/${encodeURIComponent(sessionId)}`)
        .set('Authorization', t2),
      request(rc.app).get('/api/v1/attendance/student/S001').set('Authorization', t2),
      request(rc.app).get('/api/v1/attendance/student/S055').set('Authorization', t1),
      request(rc.app).get('/api/v1/reports/consecutive-absences?course_id=MATH201').set('Authorization', t1),
      request(rc.app).get('/api/v1/students/S055/enrollment').set('Authorization', t1),
      request(rc.app).post('/api/v1/students/S055/consent').set('Authorization', t1).send({}),
      request(rc.app)
        .post(`/api/v1/sessions/${encodeURIComponent(sessionId)}/overrides`)
        .set('Authorization', t2)
        .send({ student_id: 'S003', status: 'excused', reason: 'not my class' }),
      request(rc.app).delete('/api/v1/students/S001/biometrics').set('Authorization', t1),
      request(rc.app).get('/health/detailed').set('Authorization', t1),
      request(rc.app).post('/api/v1/admin/schedules').set('Authorization', t1).send({
        course_id: 'CS101',
        room_id: 'R101',
        day_of_week: 6,
        start_time: '08:00',
        end_time: '09:00',
      }),
    ];
    for (const [i, r] of (await Promise.all(forbidden)).entries()) {
      assertErrorShape(r);
      assert.equal(r.status, 403, `request ${i}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'forbidden');
    }
    // S021 is in teacher1's CS101/DEMO100 and teacher2's MATH201: each teacher sees only their own records.
    const t1view = await request(rc.app).get('/api/v1/attendance/student/S021').set('Authorization', t1);
    assert.equal(t1view.status, 200);
    assert.ok(t1view.body.records.every((r: { course_id: string }) => r.course_id !== 'MATH201'));
    const t2view = await request(rc.app).get('/api/v1/attendance/student/S021').set('Authorization', t2);
    assert.deepEqual(
      t2view.body.records.map((r: { course_id: string }) => r.course_id),
      ['MATH201'],
    );
    const admin = await request(rc.app)
      .get('/api/v1/attendance/student/S021')
      .set('Authorization', await bearerFor(rc.app, 'admin'));
    assert.ok(admin.body.records.some((r: { course_id: string }) => r.course_id === 'MATH201'));
    const absences = await request(rc.app)
      .get(`/api/v1/reports/unregistered-classes?from=${weekdayWeeksAgo(1, 2)}&to=${weekdayWeeksAgo(5, 2)}`)
      .set('Authorization', t1);
    assert.ok(absences.body.classes.length > 0, 'teacher1 has CS101 classes that week');
    assert.ok(absences.body.classes.every((c: { course_id: string }) => c.course_id !== 'MATH201'));
    // Health: probes open, detailed for admins.
    assert.equal((await request(rc.app).get('/health/ready')).status, 200);
    assertErrorShape(await request(rc.app).get('/health/detailed'), 401);
    assert.equal(
      (
        await request(rc.app)
          .get('/health/detailed')
          .set('Authorization', await bearerFor(rc.app, 'admin'))
      ).status,
      200,
    );
  });

  void test('when a device writes or reads for another room, then 403 and nothing is written', async () => {
    const before = await count('recognition_events');
    const record = {
      event_id: `evt-${crypto.randomUUID()}`,
      student_id: 'S001',
      timestamp: new Date().toISOString(),
      confidence: 0.9,
    };
    const spoofed = await request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', R101)
      .send({ device_id: 'pi-r100', records: [record] });
    assertErrorShape(spoofed, 403);
    // Its own id, but R100's session: the record is rejected (no class in R101 now), nothing is stored.
    const otherSession = await request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', R101)
      .send({ device_id: 'pi-r101', records: [{ ...record, session_id: sessionId }] });
    assertErrorShape(otherSession, 422);
    assertErrorShape(
      await request(rc.app).get('/api/v1/schedule?room_id=R100').set('Authorization', R101),
      403,
    );
    assertErrorShape(
      await request(rc.app)
        .get(`/api/v1/roster/${encodeURIComponent(sessionId)}`)
        .set('Authorization', R101),
      403,
    );
    assert.equal(await count('recognition_events'), before);
  });

  void test('when a teacher overrides a mark, then the running session takes it as an update, and an ended one gets it directly with an audit row', async () => {
    const t1 = await bearerFor(rc.app, 'teacher1');
    const url = `/api/v1/sessions/${encodeURIComponent(sessionId)}/overrides`;
    const live = await request(rc.app)
      .post(url)
      .set('Authorization', t1)
      .send({ student_id: 'S003', status: 'excused', reason: 'doctor' });
    assert.equal(live.status, 200, JSON.stringify(live.body));
    assert.equal(live.body.applied_via, 'workflow');
    const view = await rc.temporal.client.workflow.getHandle(sessionId).query(rosterQuery);
    assert.equal(view.students.find((s) => s.studentId === 'S003')?.status, 'excused');
    const audit = await rc.database
      .db('audit_log')
      .where({ action: 'attendance.override', entity_id: `${sessionId}/S003` })
      .first();
    assert.equal(audit.actor, 'u-teacher1');
    assert.equal(audit.reason, 'doctor');

    assertErrorShape(
      await request(rc.app)
        .post(url)
        .set('Authorization', t1)
        .send({ student_id: 'S055', status: 'present', reason: 'x' }),
      422,
    );
    assertErrorShape(
      await request(rc.app)
        .post(url)
        .set('Authorization', t1)
        .send({ student_id: 'S003', status: 'gone', reason: 'x' }),
      400,
    );
    assertErrorShape(
      await request(rc.app)
        .post(url)
        .set('Authorization', t1)
        .send({ student_id: 'S003', status: 'late', reason: 'x', by: 'u-admin' }),
      400,
    );

    await rc.temporal.client.workflow.getHandle(sessionId).terminate('test: the session has ended');
    const ended = await request(rc.app)
      .post(url)
      .set('Authorization', t1)
      .send({ student_id: 'S001', status: 'late', reason: 'arrived late, camera missed it' });
    assert.equal(ended.status, 200, JSON.stringify(ended.body));
    assert.equal(ended.body.applied_via, 'database');
    const row = await rc.database
      .db('attendance_logs')
      .where({ session_id: sessionId, student_id: 'S001' })
      .first();
    assert.deepEqual([row.status, row.source], ['late', 'override']);
    const audit2 = await rc.database
      .db('audit_log')
      .where({ action: 'attendance.override', entity_id: `${sessionId}/S001` })
      .first();
    assert.equal(audit2.actor, 'u-teacher1');
    // Withdrawing back to unmarked exists only while the session runs: once ended, unmarked means absent.
    const unmark = await request(rc.app)
      .post(url)
      .set('Authorization', t1)
      .send({ student_id: 'S003', status: 'unmarked', reason: 'Undo: doctor' });
    assertErrorShape(unmark, 422);
    assert.match(unmark.body.error.message, /session has ended: an unmarked student counts as absent/);
    const unknown = await request(rc.app)
      .post('/api/v1/sessions/session:999999:2026-01-05/overrides')
      .set('Authorization', t1)
      .send({ student_id: 'S001', status: 'late', reason: 'x' });
    assertErrorShape(unknown, 404);
  });

  void test('when an admin creates, changes and deletes a timetable row, then it is validated, audited and the Temporal Schedules follow', async () => {
    const admin = await bearerFor(rc.app, 'admin');
    const bad = await request(rc.app)
      .post('/api/v1/admin/schedules')
      .set('Authorization', admin)
      .send({ course_id: 'CS101', room_id: 'R101', day_of_week: 6, start_time: '10:00', end_time: '09:00' });
    assertErrorShape(bad, 400);
    assert.match(bad.body.error.message, /end_time/);
    assertErrorShape(
      await request(rc.app)
        .post('/api/v1/admin/schedules')
        .set('Authorization', admin)
        .send({ course_id: 'NOPE', room_id: 'R101', day_of_week: 6, start_time: '08:00', end_time: '09:00' }),
      422,
    );
    const created = await request(rc.app).post('/api/v1/admin/schedules').set('Authorization', admin).send({
      course_id: 'CS101',
      room_id: 'R101',
      day_of_week: 6,
      start_time: '08:00',
      end_time: '09:00',
      effective_from: '2026-01-01',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.schedule.id as number;
    assert.equal(created.body.schedule.start_time, '08:00');
    assert.equal(created.body.timetable_sync.workflowId, 'timetable:sync');
    const scheduleHandle = rc.temporal.client.schedule.getHandle(classScheduleId(id));
    await eventually(
      async () =>
        scheduleHandle.describe().then(
          () => true,
          () => false,
        ),
      'the Schedule of the new row',
    );

    const changed = await request(rc.app)
      .put(`/api/v1/admin/schedules/${id}`)
      .set('Authorization', admin)
      .send({
        course_id: 'CS101',
        room_id: 'R101',
        day_of_week: 6,
        start_time: '08:00',
        end_time: '09:00',
        effective_from: '2026-01-01',
        active: false,
      });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    await eventually(async () => (await scheduleHandle.describe()).state.paused, 'the Schedule to pause');

    const deleted = await request(rc.app).delete(`/api/v1/admin/schedules/${id}`).set('Authorization', admin);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    await eventually(
      async () =>
        scheduleHandle.describe().then(
          () => false,
          () => true,
        ),
      'the Schedule to go',
    );
    const audits = await rc.database
      .db('audit_log')
      .where({ entity: 'schedule', entity_id: String(id) })
      .orderBy('id')
      .pluck('action');
    assert.deepEqual(audits, ['schedule.create', 'schedule.update', 'schedule.delete']);
    assertErrorShape(
      await request(rc.app).delete(`/api/v1/admin/schedules/${id}`).set('Authorization', admin),
      404,
    );
    // A row that already has sessions cannot be deleted, only ended.
    assertErrorShape(
      await request(rc.app).delete(`/api/v1/admin/schedules/${nowScheduleId}`).set('Authorization', admin),
      409,
    );
  });

  void test("when an admin erases a student's biometrics, then embeddings, staged photos and consent go, rosters change version and the audit log says so", async () => {
    const db = rc.database.db;
    const settings = enrollmentSettingsFromConfig(config());
    await db('consents').insert({ student_id: 'S005', kind: 'biometric_enrollment', granted_by: 'u-admin' });
    const sealed = settings.cipher.seal(new Float32Array(8).fill(0.5), {
      studentId: 'S005',
      modelId: settings.embedder,
    });
    await db('face_embeddings').insert({
      student_id: 'S005',
      model_id: settings.embedder,
      vector: sealed.sealed,
      key_id: sealed.keyId,
      quality: 0.9,
    });
    const staged = path.join(
      settings.stagingDir,
      `S005-${Date.now()}-${crypto.randomBytes(6).toString('hex')}`,
    );
    const stagedOther = path.join(
      settings.stagingDir,
      `S0050-${Date.now()}-${crypto.randomBytes(6).toString('hex')}`,
    );
    for (const d of [staged, stagedOther]) {
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, '01.jpg'), 'x');
    }
    const versions = async () =>
      Object.fromEntries(
        (await db('courses').select('id', 'roster_version')).map((r) => [r.id, Number(r.roster_version)]),
      );
    const before = await versions();

    const res = await request(rc.app)
      .delete('/api/v1/students/S005/biometrics?reason=parent%20request')
      .set('Authorization', await bearerFor(rc.app, 'admin'));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      { ...res.body, enrollment_cancelled: undefined },
      {
        student_id: 'S005',
        consents_revoked: 1,
        embeddings_deleted: 1,
        photos_deleted: 1,
        courses_bumped: ['CS101', 'DEMO100'],
        enrollment_cancelled: undefined,
      },
    );
    assert.equal((await db('face_embeddings').where({ student_id: 'S005' })).length, 0);
    assert.equal(fs.existsSync(staged), false);
    assert.equal(fs.existsSync(stagedOther), true, "another student's photos stay");
    fs.rmSync(stagedOther, { recursive: true, force: true });
    const afterV = await versions();
    assert.ok(afterV.CS101! > before.CS101! && afterV.DEMO100! > before.DEMO100!);
    assert.equal(afterV.MATH201, before.MATH201);
    const audit = await db('audit_log').where({ action: 'biometrics.erase', entity_id: 'S005' }).first();
    assert.equal(audit.actor, 'u-admin');
    assert.equal(audit.reason, 'parent request');
    assertErrorShape(
      await request(rc.app)
        .delete('/api/v1/students/NOPE/biometrics')
        .set('Authorization', await bearerFor(rc.app, 'admin')),
      404,
    );
  });

  void test('when a body is too large, then 413 with the error shape', async () => {
    const huge = { device_id: 'pi-r100', records: [{ event_id: 'x'.repeat(300_000) }] };
    assertErrorShape(
      await request(rc.app).post('/api/v1/attendance').set('Authorization', R100).send(huge),
      413,
    );
    assertErrorShape(
      await request(rc.app)
        .post('/api/v1/auth/login')
        .send({ email: 'a@b.c', password: 'p'.repeat(300_000) }),
      413,
    );
    assertErrorShape(
      await request(rc.app)
        .post('/api/v1/students/S001/consent')
        .set('Authorization', await bearerFor(rc.app, 'admin'))
        .send({ grantedBy: 'x'.repeat(20_000) }),
      413,
    );
  });

  void test('when SQL-injection strings go into every string field, then they are plain data: 4xx, same rows, no 5xx', async () => {
    const db = rc.database.db;
    const tables = [
      'users',
      'students',
      'courses',
      'schedules',
      'recognition_events',
      'attendance_logs',
      'devices',
    ];
    const counts = async () => Promise.all(tables.map(count));
    const before = await counts();
    const admin = await bearerFor(rc.app, 'admin');
    const evil = [
      "' OR '1'='1",
      "'; DROP TABLE users; --",
      "S001'--",
      '1; DELETE FROM students',
      '" OR ""="',
      "admin@demo.school' --",
      '$1',
      '\\x27',
      'S001%00',
      '%27%20OR%201=1',
    ];
    const results: { status: number; body: unknown }[] = [];
    for (const s of evil) {
      const e = encodeURIComponent(s);
      results.push(
        await request(rc.app).post('/api/v1/auth/login').send({ email: s, password: s }),
        await request(rc.app).post('/api/v1/auth/login').send({ email: 'admin@demo.school', password: s }),
        await request(rc.app)
          .post('/api/v1/attendance')
          .set('Authorization', R100)
          .send({
            device_id: s,
            records: [
              { event_id: s, student_id: s, course_id: s, session_id: s, timestamp: s, confidence: 0.5 },
            ],
          }),
        await request(rc.app)
          .post('/api/v1/attendance')
          .set('Authorization', R100)
          .send({
            device_id: 'pi-r100',
            records: [
              {
                event_id: `evt-${crypto.randomUUID()}`,
                student_id: 'S001',
                session_id: s,
                timestamp: new Date().toISOString(),
                confidence: 0.5,
              },
            ],
          }),
        await request(rc.app)
          .post('/api/v1/attendance')
          .set('Authorization', `Bearer ${s}`)
          .send({ device_id: 'pi-r100', records: [] }),
        await request(rc.app).get(`/api/v1/schedule?room_id=${e}`).set('Authorization', R100),
        await request(rc.app).get(`/api/v1/roster/${e}`).set('Authorization', R100),
        await request(rc.app).get(`/api/v1/attendance/course/${e}`).set('Authorization', admin),
        await request(rc.app).get(`/api/v1/attendance/student/${e}?from=${e}`).set('Authorization', admin),
        await request(rc.app).get(`/api/v1/sessions/${e}`).set('Authorization', admin),
        await request(rc.app)
          .get(`/api/v1/reports/consecutive-absences?course_id=${e}`)
          .set('Authorization', admin),
        await request(rc.app)
          .post(`/api/v1/sessions/${e}/overrides`)
          .set('Authorization', admin)
          .send({ student_id: s, status: s, reason: s }),
        await request(rc.app)
          .post(`/api/v1/sessions/${encodeURIComponent(sessionId)}/overrides`)
          .set('Authorization', admin)
          .send({ student_id: 'S001', status: 'present', reason: s, extra: s }),
        await request(rc.app)
          .post('/api/v1/admin/schedules')
          .set('Authorization', admin)
          .send({ course_id: s, room_id: s, day_of_week: 1, start_time: s, end_time: s }),
        await request(rc.app)
          .post(`/api/v1/students/${e}/consent`)
          .set('Authorization', admin)
          .send({ grantedBy: s }),
        await request(rc.app)
          .delete(`/api/v1/students/${e}/biometrics?reason=${e}`)
          .set('Authorization', admin),
      );
    }
    for (const r of results) {
      assert.ok(r.status < 500, `no 5xx: ${JSON.stringify(r.body)}`);
      if (r.status >= 400) assertErrorShape(r);
    }
    assert.ok(results.every((r) => r.status !== 200 || !JSON.stringify(r.body).includes('password_hash')));
    assert.deepEqual(await counts(), before);
    assert.equal((await db('users').where({ id: 'u-admin' }).first('role')).role, 'admin');
  });
});

void describe('rate limits (counted in Postgres)', () => {
  void test('when a device or a login client exceeds its budget, then 429 with Retry-After and the error shape', async () => {
    const limited = await startTestRollcall(undefined, {
      rateLimits: { devicePerMinute: 5, loginPerMinute: 3 },
    });
    try {
      await seedDemoSchool(limited.database.db);
      const small = limited.app;
      const schedule = () => request(small).get('/api/v1/schedule?room_id=R100').set('Authorization', R100);
      for (let i = 0; i < 5; i++) assert.equal((await schedule()).status, 200);
      const over = await schedule();
      assertErrorShape(over, 429);
      assert.equal(over.body.error.code, 'rate_limited');
      assert.match(over.headers['retry-after'], /^\d+$/);
      assert.ok(Number(over.headers['retry-after']) >= 1 && Number(over.headers['retry-after']) <= 60);
      // Another device has its own bucket.
      assert.equal(
        (await request(small).get('/api/v1/schedule?room_id=R101').set('Authorization', R101)).status,
        200,
      );

      const login = () =>
        request(small).post('/api/v1/auth/login').send({ email: 'admin@demo.school', password: 'wrong' });
      for (let i = 0; i < 3; i++) assert.equal((await login()).status, 401);
      const blocked = await login();
      assertErrorShape(blocked, 429);
      assert.ok(Number(blocked.headers['retry-after']) >= 1);
    } finally {
      await limited.stop();
    }
  });
});
