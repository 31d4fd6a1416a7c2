/**
 * scripts/encode-faces.ts as a user runs it: a batch directory named by student id, through the real
 * Temporal workflow and with --direct, then --verify scoring a new photo against the stored faces.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { createWorker } from '../../workers/worker';
import { loadConfig } from '../../lib/config';
import { enrollmentSettingsFromConfig } from '../../lib/enrollment';
import { seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { FAST_TIMING } from '../support/app';
import { ensureModels, facePhoto, repoRoot } from '../support/faces';
import {
  createTestDatabase,
  startTestTemporal,
  type TestDatabase,
  type TestTemporal,
} from '../support/stack';

const run = promisify(execFile);
const SCRIPT = path.join(repoRoot, 'scripts', 'encode-faces.ts');
let database: TestDatabase;
let temporal: TestTemporal;
let worker: Worker;
let running: Promise<void>;
let env: NodeJS.ProcessEnv;
let photos: string;
const taskQueue = `enroll-cli-${process.pid}`;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
      cwd: repoRoot,
      env,
      timeout: 120_000,
    });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

void describe('encode-faces CLI (real Temporal + real Postgres + real models)', () => {
  before(
    async () => {
      ensureModels();
      database = await createTestDatabase();
      await seedDemoSchool(database.db);
      temporal = await startTestTemporal();
      const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-cli-staging-'));
      env = {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        DATABASE_URL: database.url,
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        ENROLLMENT_STAGING_DIR: staging,
      };
      // The worker must share the CLI's staging dir and (development) key, as it would on one machine.
      const settings = enrollmentSettingsFromConfig(loadConfig(env));
      worker = await createWorker({
        connection: temporal.nativeConnection,
        namespace: 'default',
        taskQueue,
        db: database.db,
        timing: FAST_TIMING,
        enrollment: settings,
      });
      running = worker.run();
      photos = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-cli-photos-'));
      fs.copyFileSync(facePhoto('face_recognition/obama'), path.join(photos, 'S010.jpg'));
      fs.copyFileSync(facePhoto('face_recognition/obama3'), path.join(photos, 'S010_2.jpg'));
      fs.copyFileSync(facePhoto('face_recognition/biden'), path.join(photos, 'S011.jpg'));
      fs.writeFileSync(path.join(photos, 'notes.txt'), 'not a photo');
    },
    { timeout: 180_000 },
  );
  after(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await temporal?.stop();
    await database?.drop();
    if (photos) fs.rmSync(photos, { recursive: true, force: true });
    if (env?.ENROLLMENT_STAGING_DIR) fs.rmSync(env.ENROLLMENT_STAGING_DIR, { recursive: true, force: true });
  });

  void test('when a batch directory is enrolled without consent, then each student fails with the consent reason', async () => {
    const r = await cli(['--batch', photos]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /S010: FAILED — .*no active biometric enrollment consent/);
    assert.match(r.stderr, /skipping notes\.txt/);
  });

  void test('when a batch directory is enrolled through the workflow with --consent-by, then every student is stored and the originals stay', async () => {
    const r = await cli(['--batch', photos, '--consent-by', 'u-admin']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /S010: stored 2\/2/);
    assert.match(r.stdout, /S011: stored 1\/1/);
    assert.match(r.stderr, /\[#+\] 2\/2/);
    assert.equal(fs.existsSync(path.join(photos, 'S010.jpg')), true, 'the user’s files are not deleted');
    assert.deepEqual(fs.readdirSync(env.ENROLLMENT_STAGING_DIR!), []);
    const rows = await database.db('face_embeddings').whereIn('student_id', ['S010', 'S011']);
    assert.equal(rows.length, 3);
  });

  void test('when --direct enrolls one student, then it runs without Temporal and --verify matches the same person only', async () => {
    const direct = await cli([
      '--student',
      'S012',
      '--image',
      facePhoto('face_recognition/biden'),
      '--direct',
      '--consent-by',
      'u-admin',
    ]);
    assert.equal(direct.code, 0, `${direct.stdout}\n${direct.stderr}`);
    assert.match(direct.stdout, /S012: stored 1\/1/);

    const same = await cli(['--verify', 'S010', '--image', facePhoto('face_recognition/obama2'), '--json']);
    assert.equal(same.code, 0, same.stderr);
    const s = JSON.parse(same.stdout);
    assert.equal(s.matched, true);
    assert.ok(s.score > s.threshold);
    const other = await cli(['--verify', 'S012', '--image', facePhoto('face_recognition/obama2')]);
    assert.equal(other.code, 3, other.stdout);
    assert.match(other.stdout, /NO MATCH/);
  });
});
