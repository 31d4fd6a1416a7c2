/**
 * The walking skeleton end to end, on the real Temporal dev server and real Postgres: a device posts a
 * batch (twice, as a retrying edge would), the session workflow persists each record exactly once in the
 * right monthly partition, and the course report returns it. Bad input is rejected and writes nothing.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { DEMO_DEVICE_KEYS, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { eventually, startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';

const KEY = DEMO_DEVICE_KEYS['pi-r100'];
let rc: TestRollcall;

function record(studentId: string, at: Date, confidence = 0.91) {
  return {
    event_id: `evt-${crypto.randomUUID()}`,
    student_id: studentId,
    timestamp: at.toISOString(),
    confidence,
  };
}

void describe('attendance path (real Temporal + real Postgres)', () => {
  before(async () => {
    rc = await startTestRollcall();
    await seedDemoSchool(rc.database.db);
  });
  after(async () => rc?.stop());

  void test('when a batch is posted twice, then each record is stored exactly once in its monthly partition', async () => {
    const now = new Date();
    const batch = {
      device_id: 'pi-r100',
      records: [record('S001', now), record('S002', now), record('S003', now)],
    };
    const first = await request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', `Bearer ${KEY}`)
      .send(batch);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.accepted, 3);
    const retry = await request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', `Bearer ${KEY}`)
      .send(batch);
    assert.equal(retry.status, 202);
    assert.equal(retry.body.duplicates, 3);
    assert.equal(retry.body.accepted, 0);
    const metrics = await request(rc.app).get('/metrics');
    assert.match(metrics.text, /attendance_records_total\{outcome="accepted"[^}]*\} [1-9]/);
    assert.match(metrics.text, /attendance_records_total\{outcome="duplicate"[^}]*\} [1-9]/);

    const rows = await eventually(async () => {
      const r = await rc.database.db.raw(
        `SELECT student_id, event_id, status, tableoid::regclass::text AS partition FROM attendance_logs ORDER BY student_id`,
      );
      return r.rows.length >= 3 ? r.rows : undefined;
    }, 'three marks');
    // Give any wrongly duplicated write time to show up before counting.
    await new Promise((r) => setTimeout(r, 1000));
    const all = (await rc.database.db.raw('SELECT event_id FROM attendance_logs')).rows;
    assert.equal(all.length, 3);
    const month = `attendance_logs_y${now.toISOString().slice(0, 4)}m${now.toISOString().slice(5, 7)}`;
    for (const [i, row] of rows.entries()) {
      assert.equal(row.student_id, `S00${i + 1}`);
      assert.equal(row.event_id, batch.records[i].event_id);
      assert.equal(row.status, 'present');
      assert.equal(row.partition, month);
    }

    const report = await request(rc.app)
      .get('/api/v1/attendance/course/DEMO100')
      .set('Authorization', await bearerFor(rc.app, 'teacher1'));
    assert.equal(report.status, 200);
    assert.deepEqual(
      report.body.records.map((r: { student_id: string }) => r.student_id),
      ['S001', 'S002', 'S003'],
    );
    const csv = await request(rc.app)
      .get('/api/v1/attendance/course/DEMO100?format=csv')
      .set('Authorization', await bearerFor(rc.app, 'teacher1'));
    assert.equal(csv.status, 200);
    assert.match(csv.headers['content-type'], /text\/csv/);
    // The teacher's grid: a header and one row per enrolled student (30 in DEMO100).
    const lines = csv.text.trim().split('\r\n');
    assert.equal(lines.length, 31);
    assert.match(lines[0], /^student_id,name,session:\d+:\d{4}-\d{2}-\d{2},attendance_pct$/);
    assert.match(lines[1], /^S001,Ada Okafor,present,100$/);
    assert.match(lines[4], /^S004,[^,]+,,$/);
  });

  void test('when a batch is malformed, then the 400 names the bad field and nothing is written', async () => {
    const before = (await rc.database.db('recognition_events').count<{ n: number }[]>('* as n'))[0].n;
    const good = record('S004', new Date());
    const bad = { ...record('S005', new Date()), timestamp: 'yesterday' };
    const res = await request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', `Bearer ${KEY}`)
      .send({ device_id: 'pi-r100', records: [good, bad] });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'validation_failed');
    assert.match(res.body.error.message, /records\.1\.timestamp/);
    const afterCount = (await rc.database.db('recognition_events').count<{ n: number }[]>('* as n'))[0].n;
    assert.equal(afterCount, before);
    const marks = await rc.database.db('attendance_logs').whereIn('student_id', ['S004', 'S005']);
    assert.equal(marks.length, 0);
    const describeNoWorkflowFor = await rc.database
      .db('recognition_events')
      .where({ event_id: good.event_id });
    assert.equal(describeNoWorkflowFor.length, 0);
  });

  void test('when the key is wrong or belongs to another device, then 401 / 403', async () => {
    const batch = { device_id: 'pi-r100', records: [record('S006', new Date())] };
    const noKey = await request(rc.app).post('/api/v1/attendance').send(batch);
    assert.equal(noKey.status, 401);
    assert.equal(noKey.body.error.code, 'unauthenticated');
    const otherDevice = await request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', `Bearer ${DEMO_DEVICE_KEYS['pi-r101']}`)
      .send(batch);
    assert.equal(otherDevice.status, 403);
  });

  void test('when no record is acceptable, then 422 lists why per record', async () => {
    const res = await request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', `Bearer ${KEY}`)
      .send({ device_id: 'pi-r100', records: [record('S999', new Date()), record('S055', new Date())] });
    assert.equal(res.status, 422);
    const reasons = res.body.error.details.results.map((r: { reason: string }) => r.reason);
    assert.match(reasons[0], /unknown student S999/);
    assert.match(reasons[1], /not enrolled in DEMO100/);
  });
});

void describe('device schedule endpoint', () => {
  let s: TestRollcall;
  before(async () => {
    s = await startTestRollcall();
    await seedDemoSchool(s.database.db);
  });
  after(async () => s?.stop());

  void test('when a device asks for its room, then it gets the class running now with its session id and roster version', async () => {
    const res = await request(s.app)
      .get('/api/v1/schedule?room_id=R100')
      .set('Authorization', `Bearer ${KEY}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.current.course_id, 'DEMO100');
    assert.match(res.body.current.session_id, /^session:\d+:\d{4}-\d{2}-\d{2}$/);
    assert.ok(Date.parse(res.body.current.starts_at) <= Date.now());
    assert.equal(typeof res.body.current.roster_version, 'number');
  });

  void test('when a device asks for another room, then 403', async () => {
    const res = await request(s.app)
      .get('/api/v1/schedule?room_id=R101')
      .set('Authorization', `Bearer ${KEY}`);
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'wrong_room');
  });
});
