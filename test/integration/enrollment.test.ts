/**
 * Enrollment end to end on the real Temporal dev server, real Postgres and the real face models: consent,
 * photo upload (base64 JSON and raw JPEG), the enrollStudent workflow encoding real photos of two people,
 * embeddings encrypted at rest, photos discarded, and the device roster endpoint (room check, ETag/304).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Express } from 'express';
import pino from 'pino';
import request from 'supertest';
import sharp from 'sharp';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { createWorker } from '../../workers/worker';
import type { EnrollmentReport } from '../../activities/enrollment';
import { createApp } from '../../api/app';
import { EmbeddingCipher, embeddingToBytes } from '../../lib/crypto/embeddings';
import { stagePhotos, type EnrollmentSettings } from '../../lib/enrollment';
import { DEMO_DEVICE_KEYS, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { createFacePipeline, type FacePipeline } from '../../models';
import type { enrollStudent } from '../../workflows/enrollStudent';
import { eventually, FAST_TIMING } from '../support/app';
import { bearerFor } from '../support/auth';
import { ensureModels, facePhoto } from '../support/faces';
import {
  createTestDatabase,
  startTestTemporal,
  type TestDatabase,
  type TestTemporal,
} from '../support/stack';

let database: TestDatabase;
let temporal: TestTemporal;
let worker: Worker;
let running: Promise<void>;
let app: Express;
let settings: EnrollmentSettings;
let pipeline: FacePipeline;
let sessionId: string;
const taskQueue = `enroll-it-${process.pid}`;
const R100 = `Bearer ${DEMO_DEVICE_KEYS['pi-r100']}`;
const R101 = `Bearer ${DEMO_DEVICE_KEYS['pi-r101']}`;

const photo = (id: string) => fs.readFileSync(facePhoto(id));

async function grant(studentId: string) {
  return request(app)
    .post(`/api/v1/students/${studentId}/consent`)
    .set('Authorization', await bearerFor(app, 'admin'))
    .send({ grantedBy: 'u-admin' });
}

async function enrollJson(studentId: string, images: Buffer[]): Promise<EnrollmentReport> {
  const res = await request(app)
    .post(`/api/v1/students/${studentId}/photos`)
    .set('Authorization', await bearerFor(app, 'admin'))
    .send({ by: 'u-admin', images: images.map((b) => b.toString('base64')) });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return awaitReport(studentId);
}

async function awaitReport(studentId: string): Promise<EnrollmentReport> {
  const done = await eventually(
    async () => {
      const s = await request(app)
        .get(`/api/v1/students/${studentId}/enrollment`)
        .set('Authorization', await bearerFor(app, 'admin'));
      return s.body.status === 'running' ? undefined : s.body;
    },
    `enrollment of ${studentId}`,
    60_000,
  );
  assert.equal(done.status, 'completed', JSON.stringify(done));
  return done.report as EnrollmentReport;
}

function cosine(a: Float32Array, b: Float32Array): number {
  return a.reduce((s, v, i) => s + v * (b[i] ?? 0), 0);
}

async function embedOne(id: string): Promise<Float32Array> {
  const faces = await pipeline.embedFaces(facePhoto(id));
  assert.equal(faces.length, 1);
  return faces[0]!.embedding;
}

function stagedFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else out.push(path.join(d, e.name));
    }
  };
  walk(settings.stagingDir);
  return out;
}

void describe('enrollment (real Temporal + real Postgres + real models)', () => {
  before(
    async () => {
      const modelDir = ensureModels();
      database = await createTestDatabase();
      temporal = await startTestTemporal();
      settings = {
        stagingDir: fs.mkdtempSync(path.join(os.tmpdir(), 'rc-enroll-')),
        keepPhotos: false,
        modelDir,
        embedder: 'faceres',
        cipher: new EmbeddingCipher(new Map([['it1', crypto.randomBytes(32)]]), 'it1'),
      };
      worker = await createWorker({
        connection: temporal.nativeConnection,
        namespace: 'default',
        taskQueue,
        db: database.db,
        timing: FAST_TIMING,
        enrollment: settings,
      });
      running = worker.run();
      app = createApp({
        db: database.db,
        temporal: temporal.client,
        taskQueue,
        log: pino({ level: 'silent' }),
        bodyLimit: '256kb',
        earlyMinutes: FAST_TIMING.earlyMinutes,
        graceMinutes: FAST_TIMING.graceMinutes,
        enrollment: settings,
        enrollmentUploadLimit: '10mb',
      });
      const { nowScheduleId } = await seedDemoSchool(database.db);
      const schedule = await database.db('schedules').where({ id: nowScheduleId }).first('effective_from');
      sessionId = `session:${nowScheduleId}:${schedule.effective_from}`;
      pipeline = await createFacePipeline({ modelDir, embedder: 'faceres' });
    },
    { timeout: 180_000 },
  );
  after(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await pipeline?.dispose();
    await temporal?.stop();
    await database?.drop();
    if (settings) fs.rmSync(settings.stagingDir, { recursive: true, force: true });
  });

  void test('when no consent is recorded, then the upload is refused and a started workflow fails non-retryably', async () => {
    const res = await request(app)
      .post('/api/v1/students/S001/photos')
      .set('Authorization', await bearerFor(app, 'admin'))
      .send({ by: 'u-admin', images: [photo('face_recognition/obama').toString('base64')] });
    assert.equal(res.status, 409);
    assert.equal(res.body.error.code, 'consent_required');

    const refs = await stagePhotos(settings.stagingDir, 'S001', [photo('face_recognition/obama')]);
    const err = await temporal.client.workflow
      .execute<typeof enrollStudent>('enrollStudent', {
        taskQueue,
        workflowId: 'enroll:S001',
        args: [{ studentId: 'S001', photoRefs: refs, by: 'cli:test' }],
      })
      .then(
        () => assert.fail('expected failure'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ActivityFailure);
    assert.ok(err.cause.cause instanceof ApplicationFailure);
    assert.equal(err.cause.cause.type, 'ConsentMissing');
    assert.deepEqual(stagedFiles(), [], 'photos are discarded even when consent is missing');
    const status = await request(app)
      .get('/api/v1/students/S001/enrollment')
      .set('Authorization', await bearerFor(app, 'admin'));
    assert.equal(status.body.status, 'failed');
    assert.equal(status.body.failure.type, 'ConsentMissing');
    assert.match(status.body.failure.message, /no active biometric enrollment consent/);
    assert.equal((await database.db('face_embeddings')).length, 0);
  });

  void test('when two people are enrolled from real photos, then their embeddings are stored encrypted and the photos discarded', async () => {
    assert.equal((await grant('S001')).status, 201);
    assert.equal((await grant('S001')).status, 200, 'granting again is idempotent');
    assert.equal((await grant('S002')).status, 201);
    assert.equal((await grant('S055')).status, 201);
    const version0 = (await database.db('courses').where({ id: 'DEMO100' }).first('roster_version'))
      .roster_version;

    const t0 = Date.now();
    const obama = await enrollJson('S001', [
      photo('face_recognition/obama'),
      photo('face_recognition/obama2'),
    ]);
    const wall = Date.now() - t0;
    assert.equal(obama.stored, 2, JSON.stringify(obama));
    assert.deepEqual(
      obama.photos.map((p) => p.status),
      ['accepted', 'accepted'],
    );
    process.stderr.write(
      `enrollment of 2 photos: ${wall} ms wall (API → workflow → done, incl. model load on first use); ` +
        `encode per photo: ${obama.photos.map((p) => p.encodeMs).join(', ')} ms\n`,
    );

    // Raw JPEG body, one photo.
    const raw = await request(app)
      .post('/api/v1/students/S002/photos?by=u-admin')
      .set('Authorization', await bearerFor(app, 'admin'))
      .set('Content-Type', 'image/jpeg')
      .send(photo('face_recognition/biden'));
    assert.equal(raw.status, 202, JSON.stringify(raw.body));
    assert.equal(raw.body.workflowId, 'enroll:S002');
    const biden = await awaitReport('S002');
    assert.equal(biden.stored, 1);
    // S055 is not in DEMO100 (it is in MATH201): it must not reach R100's roster.
    assert.equal((await enrollJson('S055', [photo('face_recognition/obama3')])).stored, 1);

    const rows = await database.db('face_embeddings').where({ student_id: 'S001' }).orderBy('id');
    assert.equal(rows.length, 2);
    const plain = await embedOne('face_recognition/obama');
    for (const row of rows) {
      assert.equal(row.model_id, 'faceres');
      assert.equal(row.key_id, 'it1');
      assert.equal(row.vector.length, 1 + 12 + 1024 * 4 + 16);
      assert.equal(
        row.vector.includes(embeddingToBytes(plain).subarray(0, 32)),
        false,
        'ciphertext does not contain the vector',
      );
    }
    const opened = settings.cipher.open(
      { keyId: rows[0].key_id, sealed: rows[0].vector },
      { studentId: 'S001', modelId: 'faceres' },
    );
    assert.ok(cosine(opened, plain) > 0.999, 'decrypts to the embedding of the photo');
    assert.throws(() =>
      settings.cipher.open(
        { keyId: rows[0].key_id, sealed: rows[0].vector },
        { studentId: 'S002', modelId: 'faceres' },
      ),
    );

    assert.deepEqual(stagedFiles(), [], 'photos are discarded after encoding');
    const audit = await database.db('audit_log').where({ action: 'enrollment.store' }).orderBy('id');
    assert.deepEqual(
      audit.map((a) => a.entity_id),
      ['S001', 'S002', 'S055'],
    );
    assert.equal(
      JSON.stringify(audit).includes(embeddingToBytes(plain).toString('base64').slice(0, 40)),
      false,
    );
    const version1 = (await database.db('courses').where({ id: 'DEMO100' }).first('roster_version'))
      .roster_version;
    assert.ok(Number(version1) > Number(version0), 'roster version bumped');
  });

  void test('when a device in the room asks for the roster, then it gets only the enrolled students of that course, and 304 on its ETag', async () => {
    const res = await request(app).get(`/api/v1/roster/${sessionId}`).set('Authorization', R100);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.courseId, 'DEMO100');
    assert.equal(res.body.modelId, 'faceres');
    assert.equal(res.body.dimension, 1024);
    assert.deepEqual(
      res.body.students.map((s: { studentId: string; embeddings: string[] }) => [
        s.studentId,
        s.embeddings.length,
      ]),
      [
        ['S001', 2],
        ['S002', 1],
      ],
    );
    assert.equal(res.body.studentsWithoutFaces, 28);
    const bytes = Buffer.from(res.body.students[1].embeddings[0], 'base64');
    const biden = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    assert.ok(cosine(biden, await embedOne('face_recognition/biden')) > 0.999);
    const etag = res.headers.etag as string;
    assert.match(etag, /^"[A-Za-z0-9_-]{32}"$/);
    assert.match(res.headers['cache-control'], /private/);

    const again = await request(app)
      .get(`/api/v1/roster/${sessionId}`)
      .set('Authorization', R100)
      .set('If-None-Match', etag);
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
    assert.equal(again.headers.etag, etag);

    const otherRoom = await request(app).get(`/api/v1/roster/${sessionId}`).set('Authorization', R101);
    assert.equal(otherRoom.status, 403);
    assert.equal(otherRoom.body.error.code, 'wrong_room');
    assert.equal((await request(app).get(`/api/v1/roster/${sessionId}`)).status, 401);
    assert.equal(
      (await request(app).get('/api/v1/roster/session:abc').set('Authorization', R100)).status,
      400,
    );
    assert.equal(
      (await request(app).get('/api/v1/roster/session:999999:2026-01-05').set('Authorization', R100)).status,
      404,
    );

    // Consent revoked: the student's faces are deleted and the ETag changes.
    const revoke = await request(app)
      .delete('/api/v1/students/S002/consent')
      .set('Authorization', await bearerFor(app, 'admin'))
      .send({ revokedBy: 'u-admin', reason: 'parent request' });
    assert.equal(revoke.status, 200);
    assert.deepEqual(revoke.body, { revoked: 1, embeddingsDeleted: 1 });
    const after = await request(app)
      .get(`/api/v1/roster/${sessionId}`)
      .set('Authorization', R100)
      .set('If-None-Match', etag);
    assert.equal(after.status, 200);
    assert.notEqual(after.headers.etag, etag);
    assert.deepEqual(
      after.body.students.map((s: { studentId: string }) => s.studentId),
      ['S001'],
    );
  });

  void test('when a photo has no face or several, then it is rejected with a clear reason and nothing is stored', async () => {
    await grant('S003');
    const blank = await sharp({
      create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 180, b: 160 } },
    })
      .jpeg()
      .toBuffer();
    const group = fs.readFileSync(
      path.join(__dirname, '..', '..', 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample6.jpg'),
    );
    const report = await enrollJson('S003', [blank, group]);
    assert.equal(report.stored, 0);
    assert.equal(report.rejected, 2);
    assert.equal(report.photos[0]!.reason?.code, 'NO_FACE');
    assert.match(report.photos[0]!.reason?.message ?? '', /no face was found/);
    assert.equal(report.photos[1]!.reason?.code, 'MULTIPLE_FACES');
    assert.match(report.photos[1]!.reason?.message ?? '', /4 faces were found/);
    assert.equal((await database.db('face_embeddings').where({ student_id: 'S003' })).length, 0);
    assert.deepEqual(stagedFiles(), []);

    const notAnImage = await request(app)
      .post('/api/v1/students/S003/photos')
      .set('Authorization', await bearerFor(app, 'admin'))
      .send({ by: 'u-admin', images: [Buffer.from('hello world, not a jpeg').toString('base64')] });
    assert.equal(notAnImage.status, 415);
    assert.equal(notAnImage.body.error.code, 'unsupported_image');
  });
});
