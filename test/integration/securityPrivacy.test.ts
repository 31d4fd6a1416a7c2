/**
 * Privacy maintenance on the real stack: the reencryptEmbeddings workflow re-seals rows under the active
 * key after a rotation (batched, idempotent, unreadable rows left alone), the retention purge removes
 * only raw recognition events older than the retention, and the retention job prunes the uploaded rosters of
 * finished OneRoster imports (never of one in progress), keeping each run's summary and change audit.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { createPrivacyActivities, purgeRecognitionEvents } from '../../activities/privacy';
import { EmbeddingCipher } from '../../lib/crypto/embeddings';
import { pruneRosterImportRuns } from '../../lib/oneroster/runs';
import { seedDemoSchool } from '../../migrations/seeds/demoSchool';
import type { purgeRecognitionEvents as retentionWorkflow } from '../../workflows/purgeRecognitionEvents';
import type { reencryptEmbeddings } from '../../workflows/reencryptEmbeddings';
import {
  createTestDatabase,
  startTestTemporal,
  type TestDatabase,
  type TestTemporal,
} from '../support/stack';

let database: TestDatabase;
let temporal: TestTemporal;
const k1 = crypto.randomBytes(32);
const k2 = crypto.randomBytes(32);
const before1 = new EmbeddingCipher(new Map([['k1', k1]]), 'k1');
const rotated = new EmbeddingCipher(
  new Map([
    ['k1', k1],
    ['k2', k2],
  ]),
  'k2',
);
const MODEL = 'test-model';
/** The retention job's clock in the import pruning tests: fixed; every run is dated relative to it. */
const NOW = new Date(Date.UTC(2031, 2, 10, 3, 45));
const daysBefore = (days: number) => new Date(NOW.getTime() - days * 86_400_000);

/** A run with two uploaded files, three staging rows and one recorded change; its id. */
async function importRun(
  id: string,
  status: string,
  finishedDaysAgo: number | null,
  createdDaysAgo = 60,
): Promise<string> {
  const db = database.db;
  await db('roster_import_runs').insert({
    id,
    status,
    requested_by: 'u-admin',
    created_at: daysBefore(createdDaysAgo),
    finished_at: finishedDaysAgo === null ? null : daysBefore(finishedDaysAgo),
    summary: JSON.stringify({ runId: id, totalChanges: 1 }),
    issues: JSON.stringify({ count: 0, list: [] }),
  });
  await db('roster_import_files').insert(
    ['users.csv', 'classes.csv'].map((name) => ({
      run_id: id,
      name,
      content: Buffer.from(`${name} of ${id}`),
    })),
  );
  await db('roster_import_staging').insert(
    ['S1', 'S2', 'S3'].map((sourcedId) => ({
      run_id: id,
      entity: 'student',
      sourced_id: sourcedId,
      payload: JSON.stringify({ givenName: 'Private', familyName: 'Person' }),
    })),
  );
  await db('roster_import_changes').insert({
    run_id: id,
    seq: 1,
    entity: 'student',
    sourced_id: 'S1',
    action: 'create',
    after: JSON.stringify({ name: 'Private Person' }),
    applied_at: daysBefore(createdDaysAgo),
    outcome: 'applied',
  });
  return id;
}

async function countsOf(runId: string): Promise<{ files: number; staging: number; changes: number }> {
  const db = database.db;
  const n = async (table: string) =>
    Number((await db(table).where({ run_id: runId }).count<{ n: string }[]>('* as n'))[0]!.n);
  return {
    files: await n('roster_import_files'),
    staging: await n('roster_import_staging'),
    changes: await n('roster_import_changes'),
  };
}

void describe('privacy maintenance (real Temporal + Postgres)', () => {
  before(async () => {
    database = await createTestDatabase();
    temporal = await startTestTemporal();
    await seedDemoSchool(database.db);
  });
  after(async () => {
    await temporal?.stop();
    await database?.drop();
  });

  void test(
    'when keys are rotated, then reencryptEmbeddings re-seals every row under the active key, in batches, and a second run changes nothing',
    { timeout: 120_000 },
    async () => {
      const db = database.db;
      const vectors = new Map<string, Float32Array>();
      for (let i = 1; i <= 5; i++) {
        const studentId = `S00${i}`;
        const v = Float32Array.from({ length: 16 }, () => Math.random());
        vectors.set(studentId, v);
        const s = before1.seal(v, { studentId, modelId: MODEL });
        await db('face_embeddings').insert({
          student_id: studentId,
          model_id: MODEL,
          vector: s.sealed,
          key_id: s.keyId,
        });
      }
      await db('face_embeddings').insert({
        student_id: 'S009',
        model_id: MODEL,
        vector: Buffer.alloc(40),
        key_id: 'k0-retired',
      });

      const taskQueue = `privacy-${process.pid}`;
      const worker = await Worker.create({
        connection: temporal.nativeConnection,
        taskQueue,
        workflowsPath: require.resolve('../../workflows'),
        activities: createPrivacyActivities(db, {
          cipher: rotated,
          retentionDays: 90,
          rosterImportRetentionDays: 30,
        }),
      });
      const totals = await worker.runUntil(async () => {
        const run = (id: string) =>
          temporal.client.workflow.execute<typeof reencryptEmbeddings>('reencryptEmbeddings', {
            taskQueue,
            workflowId: id,
            args: [{ batchSize: 2 }],
          });
        return [
          await run('maintenance:reencrypt-embeddings'),
          await run('maintenance:reencrypt-embeddings-again'),
        ];
      });
      assert.deepEqual(totals[0], { reencrypted: 5, unreadable: 1, batches: 4 });
      assert.equal(totals[1]!.reencrypted, 0, 'idempotent');
      const rows: { student_id: string; key_id: string; vector: Buffer }[] = await db(
        'face_embeddings',
      ).select('student_id', 'key_id', 'vector');
      for (const r of rows.filter((x) => x.student_id !== 'S009')) {
        assert.equal(r.key_id, 'k2');
        assert.deepEqual(
          rotated.open({ keyId: r.key_id, sealed: r.vector }, { studentId: r.student_id, modelId: MODEL }),
          vectors.get(r.student_id),
        );
      }
      assert.equal(
        rows.find((r) => r.student_id === 'S009')?.key_id,
        'k0-retired',
        'unreadable rows are left as they are',
      );
    },
  );

  void test('when the retention purge runs, then only raw events received before the cutoff are deleted', async () => {
    const db = database.db;
    const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
    const fresh = new Date(Date.now() - 86_400_000).toISOString();
    await db('recognition_events').insert(
      Array.from({ length: 7 }, (_, i) => ({
        event_id: `evt-purge-${i}`,
        session_id: 'session:1:2026-01-05',
        device_id: 'pi-r100',
        student_id: 'S001',
        seen_at: i < 5 ? old : fresh,
        confidence: 0.9,
        received_at: i < 5 ? old : fresh,
      })),
    );
    const r = await purgeRecognitionEvents(db, 30, 2);
    assert.equal(r.deleted, 5);
    assert.deepEqual(await db('recognition_events').orderBy('event_id').pluck('event_id'), [
      'evt-purge-5',
      'evt-purge-6',
    ]);
    assert.equal((await purgeRecognitionEvents(db, 30, 2)).deleted, 0);
  });

  void test('when import runs finished longer ago than the retention, then their files and staging rows go and their run rows and changes stay; runs still in progress are never touched', async () => {
    const db = database.db;
    await db('roster_import_runs').delete();
    const applied = await importRun('ri-old-applied', 'applied', 31);
    const rejected = await importRun('ri-old-rejected', 'rejected', 45);
    const failed = await importRun('ri-old-failed', 'failed', 30.5);
    const recent = await importRun('ri-recent-applied', 'applied', 29);
    const applying = await importRun('ri-applying', 'applying', null, 90);
    // A run in progress is spared by its status alone, whatever its dates say.
    const validating = await importRun('ri-validating', 'validating', 90, 90);

    const r = await pruneRosterImportRuns(db, 30, NOW);
    assert.deepEqual(r, {
      runs: 3,
      files: 6,
      stagingRows: 9,
      cutoff: daysBefore(30).toISOString(),
    });
    for (const id of [applied, rejected, failed])
      assert.deepEqual(await countsOf(id), { files: 0, staging: 0, changes: 1 }, id);
    for (const id of [recent, applying, validating])
      assert.deepEqual(await countsOf(id), { files: 2, staging: 3, changes: 1 }, id);
    const kept = await db('roster_import_runs').where({ id: applied }).first();
    assert.equal(kept.status, 'applied');
    assert.deepEqual(kept.summary, { runId: applied, totalChanges: 1 });
    assert.deepEqual(kept.issues, { count: 0, list: [] });

    assert.deepEqual(await pruneRosterImportRuns(db, 30, NOW), {
      runs: 0,
      files: 0,
      stagingRows: 0,
      cutoff: daysBefore(30).toISOString(),
    });
  });

  void test('when the retention workflow runs on the worker, then it reports the import pruning beside the event purge', async () => {
    const db = database.db;
    await db('roster_import_runs').delete(); // the runs of the test before (files and all, by cascade)
    const finished = await importRun('ri-wf-failed', 'failed', 8);
    const young = await importRun('ri-wf-young', 'rejected', 2);
    const taskQueue = `retention-${process.pid}`;
    const worker = await Worker.create({
      connection: temporal.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../workflows'),
      activities: createPrivacyActivities(db, {
        cipher: rotated,
        retentionDays: 90,
        rosterImportRetentionDays: 7,
        now: () => NOW,
      }),
    });
    const result = await worker.runUntil(
      temporal.client.workflow.execute<typeof retentionWorkflow>('purgeRecognitionEvents', {
        taskQueue,
        workflowId: `maintenance:retention-${process.pid}`,
      }),
    );
    assert.deepEqual(result.rosterImports, {
      runs: 1,
      files: 2,
      stagingRows: 3,
      cutoff: daysBefore(7).toISOString(),
    });
    assert.equal(typeof result.deleted, 'number');
    assert.deepEqual(await countsOf(finished), { files: 0, staging: 0, changes: 1 });
    assert.deepEqual(await countsOf(young), { files: 2, staging: 3, changes: 1 });
  });
});
