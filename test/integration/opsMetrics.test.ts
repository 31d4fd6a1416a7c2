/**
 * The operations metrics read at scrape time (lib/opsMetrics.ts), on real Postgres and a real Temporal dev
 * server: recognition accuracy from teachers' overrides of device marks (written by the one mark writer),
 * devices provisioned and never seen, backup age absent until a verified backup exists, Schedules' next fire
 * times, and a task queue's backlog while no worker polls it — and the /metrics text they produce.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import request from 'supertest';
import { recordMarks } from '../../activities/marks';
import { createApp } from '../../api/app';
import { metricsRegistry, setOpsSampler } from '../../lib/metrics';
import { createOpsSampler } from '../../lib/opsMetrics';
import { DEMO_DEVICE_KEYS, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { eventually } from '../support/app';
import {
  createTestDatabase,
  startTestTemporal,
  type TestDatabase,
  type TestTemporal,
} from '../support/stack';

let database: TestDatabase;
let temporal: TestTemporal;
const taskQueue = `ops-metrics-${process.pid}`;
const log = pino({ level: 'silent' });

const sampler = () =>
  createOpsSampler({ db: database.db, temporal: temporal.client, taskQueues: [taskQueue], log });

/** The value lines of one metric in the exposition text. */
function valueLines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

void describe('operations metrics from Postgres and Temporal', () => {
  before(async () => {
    database = await createTestDatabase();
    await seedDemoSchool(database.db);
    temporal = await startTestTemporal();
  });

  after(async () => {
    setOpsSampler(undefined);
    await temporal?.stop();
    await database?.drop();
  });

  void test('when a teacher overrides one of four device marks, then the accuracy of that device in that course is 0.75', async () => {
    const db = database.db;
    const schedule = (await db('schedules').orderBy('id').first('id', 'course_id', 'room_id')) as {
      id: number;
      course_id: string;
      room_id: string;
    };
    const at = new Date(Date.now() - 3_600_000);
    const sessionId = `session:${schedule.id}:${at.toISOString().slice(0, 10)}:ops`;
    await db('class_sessions').insert({
      id: sessionId,
      schedule_id: schedule.id,
      session_date: at.toISOString().slice(0, 10),
      course_id: schedule.course_id,
      room_id: schedule.room_id,
      starts_at: at,
      ends_at: new Date(at.getTime() + 3_600_000),
      late_after_minutes: 10,
    });
    const students = (await db('enrollments')
      .where({ course_id: schedule.course_id })
      .orderBy('student_id')
      .limit(4)
      .pluck('student_id')) as string[];
    assert.equal(students.length, 4);
    await recordMarks(db, {
      sessionId,
      courseId: schedule.course_id,
      marks: students.map((studentId) => ({
        eventId: `evt-${crypto.randomUUID()}`,
        studentId,
        status: 'present',
        markedAt: at.toISOString(),
        source: 'device',
        confidence: 0.9,
        deviceId: 'pi-r100',
      })),
    });
    await recordMarks(db, {
      sessionId,
      courseId: schedule.course_id,
      marks: [
        {
          eventId: `ovr-${crypto.randomUUID()}`,
          studentId: students[0] as string,
          status: 'absent',
          markedAt: at.toISOString(),
          source: 'override',
          actor: 'u-teacher1',
          reason: 'not in class: a look-alike',
        },
      ],
    });
    const s = await sampler()();
    assert.deepEqual(
      s.recognition?.filter((r) => r.courseId === schedule.course_id),
      [{ courseId: schedule.course_id, deviceId: 'pi-r100', deviceMarks: 4, overridden: 1 }],
    );
  });

  void test('when devices are provisioned and one heartbeats, then only that one has a last-seen time', async () => {
    await database.db('devices').where({ id: 'pi-r100' }).update({ last_seen: database.db.fn.now() });
    const s = await sampler()();
    const devices = s.devices ?? [];
    assert.ok(devices.length >= 2);
    assert.ok(devices.find((d) => d.id === 'pi-r100')?.lastSeenAt);
    assert.ok(devices.some((d) => d.id !== 'pi-r100' && d.lastSeenAt === undefined));
    assert.ok(devices.every((d) => d.provisionedAt.getTime() <= Date.now()));
  });

  void test('when a Pi reports its detection times in a heartbeat, then the API accepts them and /metrics has them per device', async () => {
    const app = createApp({
      db: database.db,
      temporal: temporal.client,
      taskQueue,
      log,
      bodyLimit: '256kb',
      earlyMinutes: 15,
      graceMinutes: 10,
    });
    const res = await request(app)
      .post('/api/v1/heartbeat')
      .set('Authorization', `Bearer ${DEMO_DEVICE_KEYS['pi-r100']}`)
      .send({
        queueDepth: 0,
        version: '0.1.0',
        detectionLatency: { frames: 470, p50Ms: 38.5, p95Ms: 61, maxMs: 140 },
      });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const text = await metricsRegistry.metrics();
    assert.match(
      text,
      /^face_detection_latency_seconds\{device="pi-r100",quantile="0\.95",service="rollcall"\} 0\.061$/m,
    );
    assert.match(text, /^face_detection_frames\{device="pi-r100",service="rollcall"\} 470$/m);
    // An edge that does not measure it (an older one) is still accepted.
    const old = await request(app)
      .post('/api/v1/heartbeat')
      .set('Authorization', `Bearer ${DEMO_DEVICE_KEYS['pi-r101']}`)
      .send({ queueDepth: 3, version: '0.0.9' });
    assert.equal(old.status, 200, JSON.stringify(old.body));
  });

  void test('when no verified backup exists, then the backup gauges are absent; once one exists, its age is reported', async () => {
    setOpsSampler(sampler());
    let text = await metricsRegistry.metrics();
    assert.deepEqual(valueLines(text, 'rollcall_backup_age_seconds'), []);
    assert.deepEqual(valueLines(text, 'rollcall_backup_last_success_timestamp_seconds'), []);
    assert.match(
      text,
      /^recognition_accuracy_ratio\{course="[^"]+",device="pi-r100",service="rollcall"\} 0\.75$/m,
    );
    assert.equal(valueLines(text, 'rollcall_db_connections_max').length, 1);

    const snapshotAt = new Date(Date.now() - 2 * 3_600_000);
    await database.db('backups').insert({
      run_key: `ops-test-${crypto.randomUUID()}`,
      trigger: 'manual',
      status: 'verified',
      database_name: 'x',
      snapshot_at: snapshotAt,
    });
    setOpsSampler(sampler());
    text = await metricsRegistry.metrics();
    const [age] = valueLines(text, 'rollcall_backup_age_seconds');
    const seconds = Number(age?.split(' ').at(-1));
    assert.ok(seconds >= 7200 && seconds < 7300, `age ${age}`);
  });

  void test('when a Schedule exists and a workflow waits on a task queue nobody polls, then the next fire time and the backlog show', async () => {
    await temporal.client.schedule.create({
      scheduleId: `maintenance:ops-test-${process.pid}`,
      spec: { intervals: [{ every: '1h' }] },
      action: { type: 'startWorkflow', workflowType: 'ensurePartitions', taskQueue, args: [] },
    });
    await temporal.client.workflow.start('ensurePartitions', {
      taskQueue,
      workflowId: `ops-test-waiting-${process.pid}`,
      args: [],
    });
    // Visibility (Schedule list) and task-queue statistics are eventually consistent.
    const seen = await eventually(async () => {
      const s = await sampler()();
      const schedule = s.schedules?.find((x) => x.id === `maintenance:ops-test-${process.pid}`);
      const wf = s.taskQueues?.find((q) => q.taskQueue === taskQueue && q.type === 'workflow');
      return schedule && wf && wf.backlog >= 1 ? { schedule, wf } : undefined;
    }, 'the Schedule and the backlog in the sample');
    assert.equal(seen.schedule.paused, false);
    assert.ok((seen.schedule.nextActionAt?.getTime() ?? 0) > Date.now());
    assert.equal(seen.wf.pollers, 0);
    assert.ok(seen.wf.backlogAgeSeconds >= 0);
  });
});
