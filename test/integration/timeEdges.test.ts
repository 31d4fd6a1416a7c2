/**
 * Attendance at the edges of time, on the real Temporal dev server and real Postgres: which class a
 * sighting belongs to (back-to-back, paused and overlapping timetable rows), timestamps the server cannot
 * believe, one mark per (session, student) under racing writers, poison marks, reused event ids, and a
 * late batch for a session whose workflow has ended. Classes are placed around the real clock in a time
 * zone where it is about midday (test/support/dates.ts), so the suite passes on any date at any hour.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import request from 'supertest';
import type { Knex } from 'knex';
import { createSessionActivities } from '../../activities/sessions';
import { createDeviceActivities } from '../../activities/devices';
import { recordMarks } from '../../activities/marks';
import { hashDeviceKey } from '../../lib/deviceKeys';
import { seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { sessionWorkflowId } from '../../workflows/messages';
import { eventually, FAST_TIMING, startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';
import { middayZone } from '../support/dates';
import { assertErrorShape } from '../support/errors';

const MIN = 60_000;
const KEY = 'edge-test-device-key-0001';
const now = new Date(Math.floor(Date.now() / MIN) * MIN);
const zone = middayZone(now);
const at = (minutes: number) => new Date(now.getTime() + minutes * MIN);

function record(studentId: string, when: Date, eventId = `evt-${crypto.randomUUID()}`) {
  return { event_id: eventId, student_id: studentId, timestamp: when.toISOString(), confidence: 0.9 };
}

/**
 * Room RT with device pi-rt: class A [now−50, now−20), class B [now−20, now+10) back to back, and a paused
 * row C over B's time. S001 is in A and B, S002 only in A, S003 only in C.
 */
async function seedRoom(db: Knex): Promise<{ a: number; b: number; c: number }> {
  await db('classrooms').insert({ id: 'RT', name: 'Edge room', building: 'Main', timezone: zone.timezone });
  await db('devices').insert({ id: 'pi-rt', room_id: 'RT', key_hash: hashDeviceKey(KEY) });
  await db('courses').insert([
    { id: 'EDGE-A', name: 'A', teacher_id: 'u-teacher1' },
    { id: 'EDGE-B', name: 'B', teacher_id: 'u-teacher1' },
    { id: 'EDGE-C', name: 'C', teacher_id: 'u-teacher1' },
  ]);
  await db('enrollments').insert([
    { course_id: 'EDGE-A', student_id: 'S001' },
    { course_id: 'EDGE-B', student_id: 'S001' },
    { course_id: 'EDGE-A', student_id: 'S002' },
    { course_id: 'EDGE-C', student_id: 'S003' },
  ]);
  const row = (course: string, from: number, to: number, active = true) => ({
    course_id: course,
    room_id: 'RT',
    day_of_week: ((new Date(zone.localDate(now)).getUTCDay() + 6) % 7) + 1,
    start_time: zone.localTime(at(from)),
    end_time: zone.localTime(at(to)),
    effective_from: zone.localDate(now),
    late_after_minutes: 5,
    active,
  });
  const [a] = await db('schedules')
    .insert(row('EDGE-A', -50, -20))
    .returning('id');
  const [b] = await db('schedules')
    .insert(row('EDGE-B', -20, 10))
    .returning('id');
  const [c] = await db('schedules')
    .insert(row('EDGE-C', -5, 25, false))
    .returning('id');
  return { a: a.id, b: b.id, c: c.id };
}

const post = (rc: TestRollcall, records: object[]) =>
  request(rc.app)
    .post('/api/v1/attendance')
    .set('Authorization', `Bearer ${KEY}`)
    .send({ device_id: 'pi-rt', records });

void describe('attendance at the edges of time (real Temporal + real Postgres)', () => {
  let rc: TestRollcall;
  let ids: { a: number; b: number; c: number };
  const today = zone.localDate(now);

  before(async () => {
    rc = await startTestRollcall();
    await seedDemoSchool(rc.database.db);
    ids = await seedRoom(rc.database.db);
  });
  after(async () => rc?.stop());

  void test('when classes run back to back, then a sighting belongs to the class whose time covers it, and paused rows never count', async () => {
    const res = await post(rc, [
      record('S001', at(-18)), // in B's time, within A's grace: B (S001 is in both)
      record('S002', at(-18)), // only in A: A's grace period
      record('S003', at(-1)), // only in the paused C: no class of theirs
    ]);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const [s1, s2, s3] = res.body.results;
    assert.equal(s1.session_id, sessionWorkflowId(ids.b, today));
    assert.equal(s2.session_id, sessionWorkflowId(ids.a, today));
    assert.equal(s3.status, 'rejected');
    assert.match(s3.reason, /not enrolled in EDGE-B/);

    const schedule = await request(rc.app)
      .get('/api/v1/schedule?room_id=RT')
      .set('Authorization', `Bearer ${KEY}`);
    assert.equal(schedule.status, 200);
    assert.equal(schedule.body.current?.course_id, 'EDGE-B', JSON.stringify(schedule.body));
  });

  void test('when a batch’s instants are ranked in one call, then each gets its own candidates in rule order, the same as asking for it alone', async () => {
    const db = rc.database.db;
    // -18: in B's time and A's grace; -30: in A's time, B about to start; -60: A about to start; +100: nothing.
    const instants = [at(-18), at(-30), at(-60), at(100)].map((d) => d.toISOString());
    const { rows } = await db.raw<{ rows: { idx: number; schedule_id: number; rank: number }[] }>(
      'SELECT idx, schedule_id, rank FROM schedule_slots_for(?, ?::timestamptz[], 15, 10)',
      ['RT', instants],
    );
    assert.deepEqual(
      rows.map((r) => [r.idx, r.schedule_id, r.rank]),
      [
        [1, ids.b, 1],
        [1, ids.a, 2],
        [2, ids.a, 1],
        [2, ids.b, 2],
        [3, ids.a, 1],
      ],
    );
    for (const [i, ts] of instants.entries()) {
      const alone = await db.raw<{ rows: { schedule_id: number; rank: number }[] }>(
        'SELECT schedule_id, rank FROM schedule_slots_at(?, ?, 15, 10)',
        ['RT', ts],
      );
      assert.deepEqual(
        alone.rows.map((r) => [r.schedule_id, r.rank]),
        rows.filter((r) => r.idx === i + 1).map((r) => [r.schedule_id, r.rank]),
        ts,
      );
    }
  });

  void test('when an admin adds an active class overlapping another in the room, then 409 names the clash; back to back is fine', async () => {
    const admin = await bearerFor(rc.app, 'admin');
    const dow = ((new Date(today).getUTCDay() + 6) % 7) + 1;
    const body = (start: number, end: number) => ({
      course_id: 'EDGE-C',
      room_id: 'RT',
      day_of_week: dow,
      start_time: zone.localTime(at(start)),
      end_time: zone.localTime(at(end)),
      effective_from: today,
      late_after_minutes: 5,
    });
    const clash = await request(rc.app)
      .post('/api/v1/admin/schedules')
      .set('Authorization', admin)
      .send(body(0, 30));
    assertErrorShape(clash, 409);
    assert.equal(clash.body.error.code, 'schedule_overlap');
    const next = await request(rc.app)
      .post('/api/v1/admin/schedules')
      .set('Authorization', admin)
      .send(body(10, 40));
    assert.equal(next.status, 201, JSON.stringify(next.body));
  });

  void test('when an admin ends a class before the date it starts (effective_from omitted, so today), then 422 names the dates and nothing is written', async () => {
    const admin = await bearerFor(rc.app, 'admin');
    const before = await rc.database.db('schedules').count<{ count: string }[]>('* as count');
    const res = await request(rc.app).post('/api/v1/admin/schedules').set('Authorization', admin).send({
      course_id: 'EDGE-C',
      room_id: 'RT',
      day_of_week: 1,
      start_time: '04:35:16',
      end_time: '16:25',
      effective_to: '2000-02-29',
    });
    assertErrorShape(res, 422);
    assert.equal(res.body.error.code, 'invalid_dates');
    assert.match(res.body.error.message, /2000-02-29/);
    const after = await rc.database.db('schedules').count<{ count: string }[]>('* as count');
    assert.equal(after[0].count, before[0].count);
  });

  void test('when timestamps are impossible, ahead of the clock or too old, then each is rejected with a reason and never a 5xx', async () => {
    const good = record('S001', at(-15));
    const res = await post(rc, [
      good,
      record('S001', new Date('0000-01-01T00:00:00Z')),
      record('S001', new Date('1900-01-01T00:00:00Z')),
      record('S001', new Date('9999-12-31T23:59:59Z')),
      record('S001', at(23)),
      record('S001', at(-3 * 24 * 60)),
    ]);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.results[0].event_id, good.event_id);
    assert.notEqual(res.body.results[0].status, 'rejected');
    const reasons = res.body.results.slice(1).map((r: { status: string; reason: string }) => r.reason);
    assert.equal(res.body.rejected, 5);
    assert.match(reasons[0], /older than any class/);
    assert.match(reasons[1], /older than any class/);
    assert.match(reasons[2], /ahead of the server's clock/);
    assert.match(reasons[3], /ahead of the server's clock/);
    assert.match(reasons[4], /older than any class/);

    for (const timestamp of [
      '0000-01-01T00:00:00Z',
      '2026-02-30T10:00:00Z',
      now.toISOString().slice(0, 19), // this very minute, without a zone
      '+275760-09-13T00:00:00Z',
      'yesterday',
    ]) {
      const one = await post(rc, [{ ...record('S001', now), timestamp }]);
      assert.ok(one.status < 500, `${timestamp}: ${one.status}`);
      assert.ok([400, 422].includes(one.status), `${timestamp}: ${one.status} ${JSON.stringify(one.body)}`);
    }
  });

  void test('when an event id is reused for another sighting or repeated in a batch, then it is rejected per record and results keep request order', async () => {
    const first = record('S001', at(-14));
    assert.equal((await post(rc, [first])).status, 202);
    const reused = { ...record('S002', at(-14)), event_id: first.event_id };
    const other = record('S001', at(-13));
    const res = await post(rc, [other, reused, { ...other }]);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(
      res.body.results.map((r: { event_id: string; status: string }) => [r.event_id, r.status]),
      [
        [other.event_id, 'accepted'],
        [first.event_id, 'rejected'],
        [other.event_id, 'rejected'],
      ],
    );
    assert.match(res.body.results[1].reason, /already used for a different sighting/);
    assert.match(res.body.results[2].reason, /repeated within this batch/);
    // The same sighting again is a retry: duplicate, not a conflict.
    const retry = await post(rc, [first]);
    assert.equal(retry.body.results[0].status, 'duplicate');
  });

  void test('when finalisation, an override and a late device mark race, then each student has exactly one mark', async () => {
    const db = rc.database.db;
    const acts = createSessionActivities(db, FAST_TIMING, pino({ level: 'silent' }));
    // Yesterday's session of A: no workflow of its own writes to it meanwhile.
    const info = await acts.openSession({ scheduleId: ids.a, sessionDate: zone.localDate(at(-24 * 60)) });
    for (let round = 0; round < 8; round++) {
      const student = round % 2 === 0 ? 'S001' : 'S002';
      await db('attendance_logs').where({ session_id: info.sessionId }).delete();
      await db('session_marks').where({ session_id: info.sessionId }).delete();
      await Promise.all([
        acts.finaliseSession({ sessionId: info.sessionId }),
        acts.recordMarks({
          sessionId: info.sessionId,
          courseId: 'EDGE-A',
          marks: [
            {
              eventId: `dev-${round}`,
              studentId: student,
              status: 'late',
              markedAt: at(-30).toISOString(),
              source: 'device',
            },
          ],
        }),
        recordMarks(db, {
          sessionId: info.sessionId,
          courseId: 'EDGE-A',
          marks: [
            {
              eventId: `ovr-${round}`,
              studentId: student,
              status: 'excused',
              markedAt: at(-25).toISOString(),
              source: 'override',
              actor: 'u-teacher1',
              reason: 'race',
            },
          ],
        }),
      ]);
      const rows = await db('attendance_logs')
        .where({ session_id: info.sessionId })
        .select('student_id', 'status', 'source');
      const per = new Map<string, number>();
      for (const r of rows) per.set(r.student_id, (per.get(r.student_id) ?? 0) + 1);
      assert.ok(
        [...per.values()].every((n) => n === 1),
        `round ${round}: ${JSON.stringify(rows)}`,
      );
      assert.equal(rows.find((r) => r.student_id === student)?.status, 'excused', 'the override stands');
    }
    // The database itself refuses a second mark for the pair, whoever writes it.
    await assert.rejects(
      db('attendance_logs').insert({
        event_id: 'bypass-1',
        session_id: info.sessionId,
        student_id: 'S001',
        course_id: 'EDGE-A',
        status: 'present',
        marked_at: at(-40).toISOString(),
        source: 'device',
      }),
      (err: { code?: string }) => err.code === '23505',
    );
  });

  void test('when a mark is poison for the database, then it is quarantined with an alert and the rest of the batch is written', async () => {
    const db = rc.database.db;
    const acts = createSessionActivities(db, FAST_TIMING, pino({ level: 'silent' }));
    const info = await acts.openSession({ scheduleId: ids.b, sessionDate: zone.localDate(at(-24 * 60)) });
    const result = await acts.recordMarks({
      sessionId: info.sessionId,
      courseId: 'EDGE-B',
      marks: [
        {
          eventId: 'poison-1',
          studentId: 'S001',
          status: 'present',
          markedAt: at(-19).toISOString(),
          source: 'device',
          actor: 'device:pi-rt\u0000',
          reason: 'nul \u0000 byte',
        },
        {
          eventId: 'poison-2',
          studentId: 'S\u0000404',
          status: 'present',
          markedAt: at(-19).toISOString(),
          source: 'device',
        },
      ],
    });
    assert.deepEqual(result.quarantined, ['S\u0000404']);
    assert.equal(result.inserted, 1);
    const q = await db('quarantined_marks').where({ session_id: info.sessionId });
    assert.equal(q.length, 1);
    assert.equal(q[0].error_code, '22021');
    const metrics = await request(rc.app).get('/metrics');
    assert.match(metrics.text, /rollcall_quarantined_marks_total(\{[^}]*\})? [1-9]/);
  });

  void test('when a decommission reason holds a NUL byte, then the key is still revoked at the first attempt and the audit row shows it', async () => {
    const db = rc.database.db;
    await db('devices').insert({
      id: 'pi-nul',
      room_id: 'RT',
      key_hash: hashDeviceKey('nul-device-key-0001'),
    });
    const acts = createDeviceActivities(db, { log: pino({ level: 'silent' }) });
    await acts.revokeDevice({ deviceId: 'pi-nul', by: 'u-admin', reason: 'stolen \u0000 from R1' });
    const row = await db('devices').where({ id: 'pi-nul' }).first();
    assert.equal(row.key_hash, null);
    assert.equal(row.status, 'decommissioned');
    const audit = await db('audit_log').where({ entity: 'device', entity_id: 'pi-nul' }).first();
    assert.equal(audit.reason, 'stolen \\0 from R1');
    const api = await request(rc.app)
      .post('/api/v1/admin/devices/pi-rt/decommission')
      .set('Authorization', await bearerFor(rc.app, 'admin'))
      .send({ reason: 'bad \u0000 reason' });
    assertErrorShape(api, 400);
  });
});

void describe('late batch for a session whose workflow has ended (real Temporal + real Postgres)', () => {
  let rc: TestRollcall;
  const today = zone.localDate(now);

  before(async () => {
    // The worker's amendment window is over at once; the API still takes the batch (it was in transit
    // when the window closed), so the batch meets a completed workflow.
    rc = await startTestRollcall({ ...FAST_TIMING, amendMinutes: 0 }, { amendMinutes: 60 });
    await seedDemoSchool(rc.database.db);
  });
  after(async () => rc?.stop());

  void test('when a batch arrives after the session workflow completed, then the mark lands through the amendment path and the session is not reopened', async () => {
    const { a } = await seedRoom(rc.database.db);
    const sessionId = sessionWorkflowId(a, today);
    const first = await post(rc, [record('S001', at(-45))]);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const handle = rc.temporal.client.workflow.getHandle(sessionId);
    const done = await eventually(async () => {
      // The relay starts the workflow shortly after the 202: not found until then.
      const d = await handle.describe().catch(() => undefined);
      return d?.status.name === 'COMPLETED' ? d : undefined;
    }, 'the session workflow completes');

    const late = await post(rc, [record('S002', at(-40))]);
    assert.equal(late.status, 202, JSON.stringify(late.body));
    assert.equal(late.body.results[0].session_id, sessionId);
    // 202 means committed to the inbox; the relay meets the completed workflow and amends.
    const marks = await eventually(async () => {
      const rows = await rc.database
        .db('attendance_logs')
        .where({ session_id: sessionId })
        .orderBy('student_id');
      // Finalisation marked S002 absent; the late upload replaces that.
      return rows.some((r) => r.student_id === 'S002' && r.source === 'device') ? rows : undefined;
    }, 'the late upload to be marked');
    const after = await handle.describe();
    assert.equal(after.runId, done.runId, 'no new run of the finished session');
    assert.equal(after.status.name, 'COMPLETED');
    assert.deepEqual(
      marks.map((m) => [m.student_id, m.status, m.source]),
      [
        ['S001', 'present', 'device'],
        ['S002', 'late', 'device'],
      ],
    );
    const session = await rc.database.db('class_sessions').where({ id: sessionId }).first();
    assert.equal(session.summary.late, 1, 'the summary counts the late upload');
    assert.equal(session.summary.absent, 0);
  });
});
