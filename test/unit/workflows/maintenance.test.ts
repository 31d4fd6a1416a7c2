/**
 * The maintenance workflows' own logic on the time-skipping test server, with mocked activities (the
 * activities themselves run against real Postgres in test/integration/maintenance.test.ts): what each
 * workflow asks its activities for, in which order, and what it does when one of them reports a problem.
 * Each records its history fixture; the worker's shutdown grace time is shown on a restore in flight.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type {
  BackupActivities,
  DumpResult,
  PruneResult,
  RestoreResult,
  VerifyResult,
} from '../../../activities/backups';
import type { EnsurePartitionsResult, PartitionActivities } from '../../../activities/partitions';
import type {
  PrivacyActivities,
  ReencryptBatchInput,
  ReencryptBatchResult,
} from '../../../activities/privacy';
import { loadConfig } from '../../../lib/config';
import { backupDatabase } from '../../../workflows/backupDatabase';
import { DEFAULT_PARTITION_MONTHS_AHEAD, ensurePartitions } from '../../../workflows/ensurePartitions';
import { purgeRecognitionEvents } from '../../../workflows/purgeRecognitionEvents';
import { reencryptEmbeddings } from '../../../workflows/reencryptEmbeddings';
import { restoreDatabase } from '../../../workflows/restoreDatabase';
import { maybeRecordHistory } from '../../support/histories';
import { createWorkflowTestKit, type WorkflowTestKit } from '../../support/workflowEnv';

let kit: WorkflowTestKit;
let seq = 0;
const nextId = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;

/** Backup activities that succeed, with every call recorded; `verify` decides the restore check. */
function fakeBackups(
  opts: { verify?: Partial<VerifyResult>; restore?: BackupActivities['restoreBackup'] } = {},
) {
  const calls: string[] = [];
  const begun: { runKey: string; trigger: string }[] = [];
  const failed: { backupId: number; error: string }[] = [];
  const dump: DumpResult = {
    backupId: 41,
    filePath: '/backups/rollcall-41.dump',
    sizeBytes: 52_000,
    sha256: 'ab'.repeat(32),
    tables: 12,
    rows: 340,
    dumpMs: 900,
  };
  const retention: PruneResult = { kept: [41, 40], pruned: [33], cleaned: [] };
  const restored: RestoreResult = {
    backupId: 41,
    database: 'rc_restore',
    tables: 12,
    rows: 340,
    restoreMs: 1200,
  };
  const activities: BackupActivities = {
    beginBackup: async (input) => {
      calls.push('begin');
      begun.push(input);
      return { backupId: 41 };
    },
    dumpDatabase: async () => {
      calls.push('dump');
      return dump;
    },
    verifyBackup: async ({ backupId }) => {
      calls.push('verify');
      return { backupId, ok: true, problems: [], verifyMs: 700, ...opts.verify };
    },
    failBackup: async (input) => {
      calls.push('fail');
      failed.push(input);
    },
    pruneBackups: async () => {
      calls.push('prune');
      return retention;
    },
    restoreBackup:
      opts.restore ??
      (async (input) => {
        calls.push('restore');
        return { ...restored, database: input.intoDatabase };
      }),
  };
  return { calls, begun, failed, dump, retention, activities };
}

void describe('maintenance workflows (time-skipping, mocked activities)', () => {
  before(
    async () => {
      kit = await createWorkflowTestKit();
    },
    { timeout: 120_000 },
  );
  after(async () => kit?.teardown());

  void test('when ensurePartitions runs without input, then it ensures the default months ahead from the workflow clock', async () => {
    const asked: { from: string; monthsAhead: number }[] = [];
    const activities: PartitionActivities = {
      ensureAttendancePartitions: async (input): Promise<EnsurePartitionsResult> => {
        asked.push(input);
        return { ...input, created: ['attendance_logs_y2026m12'], partitions: ['attendance_logs_y2026m11'] };
      },
    };
    const startedAt = await kit.env.currentTimeMs();
    const result = await kit.withWorker(activities, async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(ensurePartitions, {
        taskQueue,
        workflowId: nextId('maintenance:partitions'),
      });
      const r = await handle.result();
      await maybeRecordHistory('ensurePartitions-default', handle);
      return r;
    });
    assert.equal(asked.length, 1);
    assert.equal(asked[0]!.monthsAhead, DEFAULT_PARTITION_MONTHS_AHEAD);
    const from = Date.parse(asked[0]!.from);
    assert.ok(from >= startedAt - 1000 && from <= (await kit.env.currentTimeMs()), asked[0]!.from);
    assert.deepEqual(result.created, ['attendance_logs_y2026m12']);
  });

  void test('when the dump restores with the same counts, then the run is verified and retention is applied', async () => {
    const fake = fakeBackups();
    const workflowId = nextId('backup');
    const { result, runId } = await kit.withWorker(fake.activities, async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(backupDatabase, {
        taskQueue,
        workflowId,
        args: [{ keepDaily: 7 }],
      });
      const r = await handle.result();
      await maybeRecordHistory('backupDatabase-verified', handle);
      return { result: r, runId: handle.firstExecutionRunId };
    });
    assert.deepEqual(fake.calls, ['begin', 'dump', 'verify', 'prune']);
    assert.deepEqual(fake.begun, [{ runKey: `${workflowId}/${runId}`, trigger: 'manual' }]);
    assert.equal(result.backupId, 41);
    assert.equal(result.verify.ok, true);
    assert.deepEqual(result.dump, fake.dump);
    assert.deepEqual(result.retention, fake.retention);
  });

  void test('when the restore check finds differences, then the run is recorded as failed, nothing is pruned and the workflow fails', async () => {
    const fake = fakeBackups({
      verify: { ok: false, problems: ['public.students: 59 rows restored, 60 dumped'] },
    });
    const err = await kit
      .withWorker(fake.activities, (taskQueue) =>
        kit.env.client.workflow.execute(backupDatabase, {
          taskQueue,
          workflowId: nextId('maintenance:backup'),
        }),
      )
      .then(
        () => assert.fail('expected the backup to fail'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.nonRetryable, true);
    assert.match(err.cause.message, /restore check failed: public\.students: 59 rows restored, 60 dumped/);
    assert.deepEqual(fake.calls, ['begin', 'dump', 'verify', 'fail']);
    assert.equal(fake.begun[0]!.trigger, 'schedule', 'a maintenance:backup id means the Schedule started it');
    assert.deepEqual(fake.failed, [{ backupId: 41, error: err.cause.message }]);
  });

  void test('when an operator restores a backup, then it goes into the named database and the counts come back', async () => {
    const fake = fakeBackups();
    const result = await kit.withWorker(fake.activities, async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(restoreDatabase, {
        taskQueue,
        workflowId: nextId('restore'),
        args: [{ backupId: 41, intoDatabase: 'rc_restore_check' }],
      });
      const r = await handle.result();
      await maybeRecordHistory('restoreDatabase-restored', handle);
      return r;
    });
    assert.deepEqual(fake.calls, ['restore']);
    assert.equal(result.database, 'rc_restore_check');
    assert.equal(result.rows, 340);
  });

  void test('when the retention job runs without input, then the purge and the import pruning use the configured retentions and report what they deleted', async () => {
    const asked: string[] = [];
    const pruned = { runs: 2, files: 9, stagingRows: 1200, cutoff: '2026-10-28T00:00:00.000Z' };
    const activities: Pick<PrivacyActivities, 'purgeRecognitionEvents' | 'pruneRosterImports'> = {
      purgeRecognitionEvents: async (input = {}) => {
        asked.push(`purge ${JSON.stringify(input)}`);
        return { deleted: 17, cutoff: '2026-08-27T00:00:00.000Z' };
      },
      pruneRosterImports: async (input = {}) => {
        asked.push(`prune ${JSON.stringify(input)}`);
        return pruned;
      },
    };
    const result = await kit.withWorker(activities, async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(purgeRecognitionEvents, {
        taskQueue,
        workflowId: nextId('maintenance:retention'),
      });
      const r = await handle.result();
      // purgeRecognitionEvents-default.json is the history from before the pruning step (it must still replay).
      await maybeRecordHistory('purgeRecognitionEvents-roster-imports', handle);
      return r;
    });
    assert.deepEqual(
      asked,
      ['purge {}', 'prune {}'],
      'no overrides: the activities apply RECOGNITION_RETENTION_DAYS and ROSTER_IMPORT_RETENTION_DAYS',
    );
    assert.deepEqual(result, {
      deleted: 17,
      cutoff: '2026-08-27T00:00:00.000Z',
      rosterImports: pruned,
    });
  });

  void test('when the retention job is given retentions, then each activity gets its own', async () => {
    const asked: string[] = [];
    const activities: Pick<PrivacyActivities, 'purgeRecognitionEvents' | 'pruneRosterImports'> = {
      purgeRecognitionEvents: async (input = {}) => {
        asked.push(`purge ${JSON.stringify(input)}`);
        return { deleted: 0, cutoff: '2026-08-27T00:00:00.000Z' };
      },
      pruneRosterImports: async (input = {}) => {
        asked.push(`prune ${JSON.stringify(input)}`);
        return { runs: 0, files: 0, stagingRows: 0, cutoff: '2026-11-01T00:00:00.000Z' };
      },
    };
    await kit.withWorker(activities, async (taskQueue) => {
      await kit.env.client.workflow.execute(purgeRecognitionEvents, {
        taskQueue,
        workflowId: nextId('maintenance:retention'),
        args: [{ retentionDays: 90, rosterImportRetentionDays: 7 }],
      });
    });
    assert.deepEqual(asked, ['purge {"retentionDays":90}', 'prune {"retentionDays":7}']);
  });

  void test('when the embeddings take several batches, then the cursor moves batch by batch and the totals add up', async () => {
    const asked: ReencryptBatchInput[] = [];
    const batches: ReencryptBatchResult[] = [
      { reencrypted: 2, unreadable: 0, unreadableIds: [], lastId: 12, done: false },
      { reencrypted: 1, unreadable: 1, unreadableIds: ['17'], lastId: 20, done: false },
      { reencrypted: 0, unreadable: 0, unreadableIds: [], lastId: 20, done: true },
    ];
    const activities: Pick<PrivacyActivities, 'reencryptEmbeddingsBatch'> = {
      reencryptEmbeddingsBatch: async (input) => {
        asked.push(input);
        return batches[asked.length - 1]!;
      },
    };
    const totals = await kit.withWorker(activities, async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(reencryptEmbeddings, {
        taskQueue,
        workflowId: nextId('maintenance:reencrypt-embeddings'),
        args: [{ batchSize: 2 }],
      });
      const r = await handle.result();
      await maybeRecordHistory('reencryptEmbeddings-batches', handle);
      return r;
    });
    assert.deepEqual(asked, [
      { afterId: 0, batchSize: 2 },
      { afterId: 12, batchSize: 2 },
      { afterId: 20, batchSize: 2 },
    ]);
    assert.deepEqual(totals, { reencrypted: 3, unreadable: 1, batches: 3 });
  });

  void describe('a worker shut down (deploy) while a restore runs', () => {
    /** A restore that takes a second and, like the real one (it kills pg_restore), gives up when cancelled. */
    function slowRestore() {
      const outcomes: string[] = [];
      let markStarted = () => {};
      const started = new Promise<void>((resolve) => (markStarted = resolve));
      const restore: BackupActivities['restoreBackup'] = async (input) => {
        markStarted();
        try {
          await Context.current().sleep(1000);
        } catch (err) {
          outcomes.push('cancelled');
          throw err;
        }
        outcomes.push('finished');
        return {
          backupId: input.backupId,
          database: input.intoDatabase,
          tables: 12,
          rows: 340,
          restoreMs: 1000,
        };
      };
      return { outcomes, started, restore };
    }

    /** Starts a restore on a worker with this grace time, shuts that worker down mid-restore, finishes elsewhere. */
    async function restoreAcrossShutdown(shutdownGraceTime: number) {
      const slow = slowRestore();
      const { activities } = fakeBackups({ restore: slow.restore });
      // No sticky cache: a real server hands a stopped worker's sticky queue back to the normal one, the Java
      // test server does not (the next workflow task would wait there for good).
      const { worker, taskQueue } = await kit.createWorker(activities, {
        shutdownGraceTime,
        maxCachedWorkflows: 0,
      });
      const running = worker.run();
      const handle = await kit.env.client.workflow.start(restoreDatabase, {
        taskQueue,
        workflowId: nextId('restore'),
        args: [{ backupId: 41, intoDatabase: 'rc_restore_deploy' }],
      });
      await slow.started;
      worker.shutdown();
      await running;
      const atShutdown = [...slow.outcomes];
      // The new deployment's worker picks up whatever is left.
      const next = await kit.createWorker(activities, { taskQueue });
      const result = await next.worker.runUntil(handle.result());
      return { atShutdown, outcomes: slow.outcomes, result };
    }

    void test('when the worker has the default WORKER_SHUTDOWN_GRACE_SECONDS, then the restore in flight finishes before it stops', async () => {
      const graceSeconds = loadConfig({}).WORKER_SHUTDOWN_GRACE_SECONDS;
      assert.equal(graceSeconds, 30);
      const { atShutdown, outcomes, result } = await restoreAcrossShutdown(graceSeconds * 1000);
      assert.deepEqual(atShutdown, ['finished'], 'the worker waited for the restore');
      assert.deepEqual(outcomes, ['finished'], 'and it did not run again');
      assert.equal(result.database, 'rc_restore_deploy');
    });

    void test('when the worker has no grace time (the SDK default), then the restore is cancelled and runs again from the start', async () => {
      const { atShutdown, outcomes, result } = await restoreAcrossShutdown(0);
      assert.deepEqual(atShutdown, ['cancelled']);
      assert.deepEqual(outcomes, ['cancelled', 'finished']);
      assert.equal(result.database, 'rc_restore_deploy');
    });
  });
});
