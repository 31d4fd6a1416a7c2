/**
 * Privacy maintenance on the real stack: the reencryptEmbeddings workflow re-seals rows under the active
 * key after a rotation (batched, idempotent, unreadable rows left alone), and the retention purge removes
 * only raw recognition events older than the retention.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { createPrivacyActivities, purgeRecognitionEvents } from '../../activities/privacy';
import { EmbeddingCipher } from '../../lib/crypto/embeddings';
import { seedDemoSchool } from '../../migrations/seeds/demoSchool';
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
        activities: createPrivacyActivities(db, { cipher: rotated, retentionDays: 90 }),
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
});
