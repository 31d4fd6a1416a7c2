/**
 * The edge app at a class change and with a wrong clock, on the real API, Temporal and Postgres: a Pi
 * whose clock runs 10 minutes ahead sees students during the last minutes of class A while class B (right
 * after it) already takes early arrivals. The face pipeline and the camera are scripted (each student's
 * face embeds to exactly their enrolled vector), so the test is about time, rosters and what the server
 * makes of the records, not about recognition quality (test/integration/edgeApp.test.ts covers that).
 * Records the server rejects are counted in the heartbeat, shown to admins and listed on the device.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import request from 'supertest';
import { startEdge, type EdgeApp } from '../../edge/app';
import { EdgeClock } from '../../edge/clock';
import { loadEdgeConfig } from '../../edge/config';
import { deadLettersCommand } from '../../edge/deadLetters';
import type { FrameSource, Frame } from '../../edge/sources/types';
import { config } from '../../lib/config';
import { hashDeviceKey } from '../../lib/deviceKeys';
import { enrollmentSettingsFromConfig } from '../../lib/enrollment';
import { seedDemoSchool } from '../../migrations/seeds/demoSchool';
import type { FacePipeline, RgbImage } from '../../models';
import type { PipelineFace } from '../../models/pipeline/face-pipeline';
import { EMBEDDER_SPECS } from '../../models/pipeline/embedders';
import { deviceStateQuery, deviceWorkflowId } from '../../workflows/deviceMessages';
import { sessionWorkflowId } from '../../workflows/messages';
import { eventually, startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';
import { middayZone } from '../support/dates';

const MIN = 60_000;
const KEY = 'edge-time-device-key-0001';
/** The Pi's wall clock runs this far ahead of the server's (no NTP). */
const SKEW_MS = 10 * MIN;
const now = new Date(Math.floor(Date.now() / MIN) * MIN);
const zone = middayZone(now);
const at = (minutes: number) => new Date(now.getTime() + minutes * MIN);
const embedder = enrollmentSettingsFromConfig(config()).embedder;
const dim = EMBEDDER_SPECS[embedder].dim;

let rc: TestRollcall;
let server: http.Server;
let baseUrl: string;
let admin: string;
let classes: { a: string; b: string };
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-edge-time-'));

/** Student i's face: the i-th unit vector (orthogonal to everyone else's). */
function faceOf(studentId: string): Float32Array {
  const v = new Float32Array(dim);
  v[Number(studentId.slice(1))] = 1;
  return v;
}

/**
 * Room RE with device pi-re: class A [now−45, now+8) and class B [now+8, now+68) back to back. S001 is
 * enrolled in both, S002 only in B (arriving early for it), S003 only in A. All three have a face.
 */
async function seedRoom(): Promise<{ a: string; b: string }> {
  const db = rc.database.db;
  await db('classrooms').insert({ id: 'RE', name: 'Edge time', building: 'Main', timezone: zone.timezone });
  await db('devices').insert({ id: 'pi-re', room_id: 'RE', key_hash: hashDeviceKey(KEY) });
  await db('courses').insert([
    { id: 'EDGE-A', name: 'A', teacher_id: 'u-teacher1' },
    { id: 'EDGE-B', name: 'B', teacher_id: 'u-teacher1' },
  ]);
  await db('enrollments').insert([
    { course_id: 'EDGE-A', student_id: 'S001' },
    { course_id: 'EDGE-B', student_id: 'S001' },
    { course_id: 'EDGE-B', student_id: 'S002' },
    { course_id: 'EDGE-A', student_id: 'S003' },
  ]);
  const { cipher } = enrollmentSettingsFromConfig(config());
  for (const studentId of ['S001', 'S002', 'S003']) {
    await db('consents').insert({
      student_id: studentId,
      kind: 'biometric_enrollment',
      granted_by: 'u-admin',
    });
    const sealed = cipher.seal(faceOf(studentId), { studentId, modelId: embedder });
    await db('face_embeddings').insert({
      student_id: studentId,
      model_id: embedder,
      vector: sealed.sealed,
      key_id: sealed.keyId,
      quality: 0.9,
    });
  }
  const row = (course: string, from: number, to: number) => ({
    course_id: course,
    room_id: 'RE',
    day_of_week: ((new Date(zone.localDate(now)).getUTCDay() + 6) % 7) + 1,
    start_time: zone.localTime(at(from)),
    end_time: zone.localTime(at(to)),
    effective_from: zone.localDate(now),
    late_after_minutes: 5,
  });
  const [a] = await db('schedules')
    .insert(row('EDGE-A', -45, 8))
    .returning('id');
  const [b] = await db('schedules')
    .insert(row('EDGE-B', 8, 68))
    .returning('id');
  return {
    a: sessionWorkflowId(a.id, zone.localDate(now)),
    b: sessionWorkflowId(b.id, zone.localDate(now)),
  };
}

/** A camera of the Pi: a tiny frame every 100 ms, stamped with the Pi's (wrong) wall clock. */
function scriptedCamera(): FrameSource {
  const image: RgbImage = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3) };
  return {
    name: 'scripted',
    width: 16,
    height: 16,
    dropped: 0,
    async *frames(signal: AbortSignal): AsyncIterable<Frame> {
      for (let seq = 0; !signal.aborted; seq++) {
        yield { image, capturedAt: new Date(Date.now() + SKEW_MS), seq };
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: async () => undefined,
  };
}

/** A face pipeline that finds the faces of `inView()` standing still, each embedding to its enrolled vector. */
function scriptedPipeline(inView: () => string[]): FacePipeline {
  const face = (studentId: string, i: number): PipelineFace & { studentId: string } => ({
    studentId,
    box: { x: 10 + i * 200, y: 50, width: 80, height: 80 },
    score: 0.99,
    landmarks: {
      leftEye: { x: 30 + i * 200, y: 80 },
      rightEye: { x: 70 + i * 200, y: 80 },
      nose: { x: 50 + i * 200, y: 95 },
      mouth: { x: 50 + i * 200, y: 110 },
    },
    quality: {
      ok: true,
      issues: [],
      eyeDistancePx: 40,
      sharpness: 1,
      yaw: 0,
      pitch: 0,
      rollDegrees: 0,
      detectorScore: 0.99,
    },
  });
  const embed = (faces: readonly PipelineFace[]) =>
    faces.map((f) => ({ ...f, embedding: faceOf((f as PipelineFace & { studentId: string }).studentId) }));
  return {
    detectorName: 'scripted',
    embedderName: embedder,
    embeddingDim: dim,
    detectFaces: async () => inView().map(face),
    embedFaces: async () => embed(inView().map(face)),
    embedDetected: async (_image, faces) => embed(faces),
    recognitionDefaults: () => {
      throw new Error('the test passes its rules');
    },
    dispose: async () => undefined,
  };
}

async function events(): Promise<{ student_id: string; session_id: string; seen_at: Date }[]> {
  return rc.database
    .db('recognition_events')
    .where({ device_id: 'pi-re' })
    .orderBy('student_id')
    .select('student_id', 'session_id', 'seen_at');
}

void describe('edge at a class change with a wrong clock (real API, Temporal, Postgres)', () => {
  before(
    async () => {
      rc = await startTestRollcall();
      await seedDemoSchool(rc.database.db);
      classes = await seedRoom();
      server = http.createServer(rc.app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      admin = await bearerFor(rc.app, 'admin');
    },
    { timeout: 120_000 },
  );
  after(async () => {
    server?.close();
    await rc?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  void test(
    "when a Pi 10 minutes fast sees students of the ending class and early arrivals of the next, then each is marked for the server's class at the right time, and the offset is reported and alerted on; a record the server rejects is counted, shown to admins and listed on the Pi",
    { timeout: 120_000 },
    async () => {
      let inView: string[] = ['S001', 'S002', 'S003'];
      const cfg = loadEdgeConfig({
        DEVICE_ID: 'pi-re',
        CLASSROOM_ID: 'RE',
        API_BASE_URL: baseUrl,
        API_KEY: KEY,
        FRAME_SOURCE: 'classroom',
        FRAME_SKIP: '0',
        EDGE_DATA_DIR: dataDir,
        UPLOAD_INTERVAL_SECONDS: '0.2',
        HEARTBEAT_SECONDS: '1',
        HTTP_TIMEOUT_SECONDS: '5',
        LOG_LEVEL: 'silent',
      });
      const app: EdgeApp = await startEdge(cfg, {
        log: pino({ level: 'silent' }),
        source: scriptedCamera(),
        pipeline: scriptedPipeline(() => inView),
        recognitionDefaults: { threshold: 0.9, minMargin: 0.05, votes: 2 },
        clock: new EdgeClock({ wallMs: () => Date.now() + SKEW_MS }),
      });
      try {
        const marked = await eventually(
          async () => {
            const evs = await events();
            return evs.length === 3 ? evs : undefined;
          },
          'three students marked',
          60_000,
        );
        inView = [];
        assert.deepEqual(
          app.stats().rosterSessionIds,
          [classes.a, classes.b],
          'A covers now, B takes early arrivals',
        );
        assert.deepEqual(
          marked.map((e) => `${e.student_id} ${e.session_id}`),
          [`S001 ${classes.a}`, `S002 ${classes.b}`, `S003 ${classes.a}`],
          "S002 is B's early arrival; S001, in both, belongs to A, which covers the instant",
        );
        for (const e of marked)
          assert.ok(
            Math.abs(e.seen_at.getTime() - Date.now()) < 30_000,
            `${e.student_id} stamped in server time, not the Pi's (${e.seen_at.toISOString()})`,
          );
        assert.equal(app.outbox.readDeadLetters().length, 0, 'nothing rejected');
        const offset = app.stats().clockOffsetMs ?? 0;
        assert.ok(Math.abs(offset - SKEW_MS) < 1000, `measured offset ${offset}`);

        const device = rc.temporal.client.workflow.getHandle(deviceWorkflowId('pi-re'));
        await eventually(
          async () => (await device.query(deviceStateQuery)).alerts.clockSkew,
          'clock_skew alert',
          20_000,
        );
        assert.ok(Math.abs(((await device.query(deviceStateQuery)).clockOffsetMs ?? 0) - SKEW_MS) < 1000);

        // A record the server rejects: S004 is enrolled in neither class.
        app.outbox.append([
          {
            event_id: crypto.randomUUID(),
            student_id: 'S004',
            timestamp: new Date().toISOString(),
            confidence: 0.95,
          },
        ]);
        const listed = await eventually(
          async () => {
            const res = await request(rc.app).get('/api/v1/admin/devices').set('Authorization', admin);
            const d = (
              res.body.devices as {
                deviceId: string;
                deadLetters: number | null;
                clockOffsetMs: number | null;
              }[]
            ).find((x) => x.deviceId === 'pi-re');
            return d?.deadLetters === 1 ? d : undefined;
          },
          'the dead letter reported by a heartbeat',
          20_000,
        );
        assert.ok(Math.abs((listed.clockOffsetMs ?? 0) - SKEW_MS) < 1000);
        assert.match(JSON.stringify(listed), /S004 is not enrolled/);
        assert.match(
          (await request(rc.app).get('/metrics')).text,
          /rollcall_device_dead_letters\{device="pi-re",service="rollcall"\} 1\b/,
        );
      } finally {
        await app.stop();
      }
      const lines: string[] = [];
      assert.equal(
        deadLettersCommand(
          [],
          dataDir,
          (l) => lines.push(l),
          () => undefined,
        ),
        0,
      );
      assert.equal(lines.length, 1);
      assert.match(lines[0] ?? '', /S004 .* student S004 is not enrolled/);
    },
  );
});
