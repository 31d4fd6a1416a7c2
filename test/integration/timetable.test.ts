/**
 * Timetable rows become Temporal Schedules on the real server, a Schedule's firing starts the session
 * workflow under its stable id, and the reports read what the session wrote.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { WorkflowNotFoundError } from '@temporalio/client';
import { classScheduleId, syncTimetableSchedules } from '../../activities/timetable';
import { DEMO_DEVICE_KEYS, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { rosterQuery } from '../../workflows/messages';
import { eventually, startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';
import { weekdayWeeksAgo } from '../support/dates';

let rc: TestRollcall;
let nowScheduleId: number;

const sync = () =>
  syncTimetableSchedules(rc.database.db, rc.temporal.client, { taskQueue: rc.taskQueue, earlyMinutes: 15 });

void describe('timetable → Schedules → sessions → reports (real Temporal + Postgres)', () => {
  before(async () => {
    rc = await startTestRollcall();
    ({ nowScheduleId } = await seedDemoSchool(rc.database.db));
  });
  after(async () => rc?.stop());

  void test('when the timetable is synced twice, then there is one Schedule per row and the second sync changes nothing', async () => {
    const rows = await rc.database.db('schedules').pluck('id');
    const first = await sync();
    assert.deepEqual([...first.created].sort(), rows.map((id: number) => classScheduleId(id)).sort());
    const desc = await rc.temporal.client.schedule.getHandle(classScheduleId(nowScheduleId)).describe();
    assert.equal(desc.action.type, 'startWorkflow');
    assert.equal(desc.spec.calendars?.length, 1);
    const second = await sync();
    assert.deepEqual(second, { created: [], updated: [], deleted: [], unchanged: rows.length, paused: [] });
  });

  void test('when a row changes, is paused or is deleted, then its Schedule follows', async () => {
    const [cs101] = await rc.database.db('schedules').where({ course_id: 'CS101' }).orderBy('id').pluck('id');
    const [math] = await rc.database
      .db('schedules')
      .where({ course_id: 'MATH201' })
      .orderBy('id')
      .pluck('id');
    await rc.database.db('schedules').where({ id: cs101 }).update({ start_time: '09:15', end_time: '10:45' });
    await rc.database.db('schedules').where({ id: math }).update({ active: false });
    const [extra] = await rc.database
      .db('schedules')
      .insert({ course_id: 'CS101', room_id: 'R101', day_of_week: 6, start_time: '12:00', end_time: '13:00' })
      .returning('id');
    let r = await sync();
    assert.deepEqual(r.created, [classScheduleId(extra.id)]);
    assert.ok(r.updated.includes(classScheduleId(cs101)));
    assert.ok(r.updated.includes(classScheduleId(math)));
    assert.deepEqual(r.paused, [classScheduleId(math)]);
    const paused = await rc.temporal.client.schedule.getHandle(classScheduleId(math)).describe();
    assert.equal(paused.state.paused, true);
    const moved = await rc.temporal.client.schedule.getHandle(classScheduleId(cs101)).describe();
    assert.deepEqual(
      { hour: moved.spec.calendars?.[0].hour, minute: moved.spec.calendars?.[0].minute },
      { hour: [{ start: 9, end: 9, step: 1 }], minute: [{ start: 0, end: 0, step: 1 }] },
    );
    await rc.database.db('schedules').where({ id: extra.id }).delete();
    r = await sync();
    assert.deepEqual(r.deleted, [classScheduleId(extra.id)]);
  });

  void test('when a class Schedule fires, then the session workflow starts under session:{scheduleId}:{date} and reports read it', async () => {
    await sync();
    await rc.temporal.client.schedule.getHandle(classScheduleId(nowScheduleId)).trigger();
    const today = new Date().toISOString().slice(0, 10);
    const sessionId = `session:${nowScheduleId}:${today}`;
    const handle = rc.temporal.client.workflow.getHandle(sessionId);
    const view = await eventually(async () => {
      try {
        const v = await handle.query(rosterQuery);
        return v.phase === 'open' ? v : undefined;
      } catch (e) {
        if (e instanceof WorkflowNotFoundError) return undefined;
        throw e;
      }
    }, 'the session workflow to open');
    assert.equal(view.sessionId, sessionId);
    assert.equal(view.counts.unmarked, 30);
    const described = await handle.describe();
    assert.equal(
      described.typedSearchAttributes.get({ name: 'CourseId', type: 'KEYWORD' } as never),
      'DEMO100',
    );

    // A device batch joins the session the Schedule started (no second workflow).
    const key = DEMO_DEVICE_KEYS['pi-r100'];
    const now = new Date();
    const post = await request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', `Bearer ${key}`)
      .send({
        device_id: 'pi-r100',
        records: ['S001', 'S002'].map((s) => ({
          event_id: `evt-${crypto.randomUUID()}`,
          student_id: s,
          timestamp: now.toISOString(),
          confidence: 0.9,
        })),
      });
    assert.equal(post.status, 202);
    assert.equal(post.body.results[0].session_id, sessionId);
    await eventually(
      async () => (await rc.database.db('attendance_logs').where({ session_id: sessionId })).length === 2,
      'two marks',
    );

    const roster = await request(rc.app)
      .get(`/api/v1/sessions/${encodeURIComponent(sessionId)}`)
      .set('Authorization', await bearerFor(rc.app, 'admin'));
    assert.equal(roster.status, 200);
    assert.equal(roster.body.roster.length, 30);
    assert.deepEqual(
      roster.body.roster
        .filter((r: { status: string }) => r.status === 'present')
        .map((r: { student_id: string }) => r.student_id),
      ['S001', 'S002'],
    );
    const csv = await request(rc.app)
      .get(`/api/v1/sessions/${encodeURIComponent(sessionId)}`)
      .set('Authorization', await bearerFor(rc.app, 'admin'))
      .set('Accept', 'text/csv');
    assert.match(csv.headers['content-type'], /text\/csv/);
    assert.match(
      csv.text,
      /^student_id,student_name,status,marked_at,source,confidence,device_id\r\nS001,Ada Okafor,present,/,
    );

    const student = await request(rc.app)
      .get('/api/v1/attendance/student/S001')
      .set('Authorization', await bearerFor(rc.app, 'admin'));
    assert.equal(student.status, 200);
    assert.deepEqual(student.body.courses[0], {
      course_id: 'DEMO100',
      sessions: 1,
      present: 1,
      late: 0,
      absent: 0,
      excused: 0,
      attendance_pct: 100,
    });
  });

  void test('when sessions end with absences, then the consecutive-absences and unregistered-classes reports list them', async () => {
    const db = rc.database.db;
    // Three past CS101 sessions in which S010 was absent each time and S011 once.
    const [cs101] = await db('schedules').where({ course_id: 'CS101' }).orderBy('id').pluck('id');
    // Mon, Wed and Fri of the week before last: last month's partition on the first days of a month.
    const [mon, tue, wed, , fri] = [1, 2, 3, 4, 5].map((d) => weekdayWeeksAgo(d, 2));
    for (const [i, date] of [mon, wed, fri].entries()) {
      const id = `session:${cs101}:${date}`;
      await db.raw('SELECT ensure_attendance_partitions(?::timestamptz, 0)', [`${date}T00:00:00Z`]);
      await db('class_sessions').insert({
        id,
        schedule_id: cs101,
        session_date: date,
        course_id: 'CS101',
        room_id: 'R101',
        starts_at: `${date}T09:00:00Z`,
        ends_at: `${date}T10:30:00Z`,
        late_after_minutes: 10,
        status: 'closed',
      });
      await db('attendance_logs').insert([
        {
          event_id: `absent:${id}:S010`,
          session_id: id,
          student_id: 'S010',
          course_id: 'CS101',
          status: 'absent',
          marked_at: `${date}T10:30:00Z`,
          source: 'finalise',
        },
        {
          event_id: `x:${id}:S011`,
          session_id: id,
          student_id: 'S011',
          course_id: 'CS101',
          status: i === 2 ? 'absent' : 'present',
          marked_at: `${date}T09:01:00Z`,
          source: 'device',
        },
      ]);
    }
    const res = await request(rc.app)
      .get('/api/v1/reports/consecutive-absences?min=3&course_id=CS101')
      .set('Authorization', await bearerFor(rc.app, 'admin'));
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.students.map((s: { student_id: string; consecutive_absences: number }) => [
        s.student_id,
        s.consecutive_absences,
      ]),
      [['S010', 3]],
    );
    const two = await request(rc.app)
      .get('/api/v1/reports/consecutive-absences?min=1&format=csv')
      .set('Authorization', await bearerFor(rc.app, 'admin'));
    assert.match(two.text, new RegExp(`S010,[^,]+,CS101,3,${mon},${fri}`));
    assert.match(two.text, new RegExp(`S011,[^,]+,CS101,1,${fri},${fri}`));

    const unregistered = await request(rc.app)
      .get(`/api/v1/reports/unregistered-classes?from=${mon}&to=${fri}`)
      .set('Authorization', await bearerFor(rc.app, 'admin'));
    assert.equal(unregistered.status, 200);
    const dates = unregistered.body.classes.map(
      (c: { session_date: string; course_id: string }) => `${c.course_id}@${c.session_date}`,
    );
    // The sessions above had no device data (rows written directly); MATH201 on Tue/Thu never opened.
    assert.ok(dates.includes(`CS101@${wed}`));
    assert.ok(dates.includes(`MATH201@${tue}`));
    const bad = await request(rc.app)
      .get(`/api/v1/reports/unregistered-classes?from=${fri}&to=${mon}`)
      .set('Authorization', await bearerFor(rc.app, 'admin'));
    assert.equal(bad.status, 400);
  });
});
