/**
 * The rosterImport workflow on the time-skipping test server with mocked activities: it validates, plans,
 * applies every batch in order and summarises; a rejected bundle goes straight to the summary; progress is
 * readable by query. Records the workflow's history fixture.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RosterImportActivities, RosterImportSummary } from '../../../activities/rosterImport';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { rosterImport } from '../../../workflows/rosterImport';
import { rosterImportProgressQuery, rosterImportWorkflowId } from '../../../workflows/rosterImportMessages';
import { maybeRecordHistory } from '../../support/histories';
import { createWorkflowTestKit, type WorkflowTestKit } from '../../support/workflowEnv';

let kit: WorkflowTestKit;

function summary(runId: string, status: 'applied' | 'rejected', totalChanges: number): RosterImportSummary {
  const z = () => ({ create: 0, update: 0, deactivate: 0, reactivate: 0 });
  return {
    runId,
    status,
    issueCount: status === 'rejected' ? 3 : 0,
    totalChanges,
    changes: {
      teacher: z(),
      student: { ...z(), create: Math.max(0, totalChanges - 1) },
      course: z(),
      enrollment: z(),
      schedule: { ...z(), create: totalChanges > 0 ? 1 : 0 },
    },
    failed: [],
    needsTimetable: [],
    ignored: { users: 0, enrollments: 0 },
  };
}

function fakeActivities(opts: { valid: boolean; batches: number; planFails?: boolean }) {
  const calls: string[] = [];
  const activities: RosterImportActivities = {
    validateRosterImport: async ({ runId }) => {
      calls.push(`validate ${runId}`);
      return { ok: opts.valid, issueCount: opts.valid ? 0 : 3 };
    },
    planRosterImport: async () => {
      calls.push('plan');
      if (opts.planFails)
        throw ApplicationFailure.create({ message: 'the database refused the plan', nonRetryable: true });
      return { ok: true, issueCount: 0, changes: opts.batches * 10, batches: opts.batches };
    },
    applyRosterImportBatch: async ({ batch }) => {
      calls.push(`apply ${batch}`);
      return { applied: 10, failed: 0 };
    },
    markRosterImportFailed: async ({ reason }) => {
      calls.push(`failed: ${reason}`);
    },
    syncTimetableAfterImport: async () => {
      calls.push('sync timetable');
    },
    finishRosterImport: async ({ runId }) => {
      calls.push('finish');
      return summary(runId, opts.valid ? 'applied' : 'rejected', opts.valid ? opts.batches * 10 : 0);
    },
  };
  return { calls, activities };
}

void describe('rosterImport workflow (time-skipping, mocked activities)', () => {
  before(
    async () => {
      kit = await createWorkflowTestKit();
    },
    { timeout: 120_000 },
  );
  after(async () => kit?.teardown());

  void test('when the bundle is valid, then every batch is applied in order and the summary is the result', async () => {
    const fake = fakeActivities({ valid: true, batches: 3 });
    const runId = '00000000-0000-4000-8000-000000000001';
    const { result, progress } = await kit.withWorker(fake.activities, async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(rosterImport, {
        taskQueue,
        workflowId: rosterImportWorkflowId(runId),
        args: [{ runId }],
      });
      const result = await handle.result();
      const progress = await handle.query(rosterImportProgressQuery);
      await maybeRecordHistory('rosterImport-applied', handle);
      return { result, progress };
    });
    assert.deepEqual(fake.calls, [
      `validate ${runId}`,
      'plan',
      'apply 0',
      'apply 1',
      'apply 2',
      'finish',
      'sync timetable',
    ]);
    assert.equal(result.totalChanges, 30);
    assert.deepEqual(progress, {
      runId,
      phase: 'applied',
      issueCount: 0,
      changesPlanned: 30,
      batchesDone: 3,
      batchesTotal: 3,
    });
  });

  void test('when the bundle is invalid, then nothing is planned or applied and the summary says rejected', async () => {
    const fake = fakeActivities({ valid: false, batches: 3 });
    const runId = '00000000-0000-4000-8000-000000000002';
    const { result, progress } = await kit.withWorker(fake.activities, async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(rosterImport, {
        taskQueue,
        workflowId: rosterImportWorkflowId(runId),
        args: [{ runId }],
      });
      return { result: await handle.result(), progress: await handle.query(rosterImportProgressQuery) };
    });
    assert.deepEqual(fake.calls, [`validate ${runId}`, 'finish']);
    assert.equal(result.status, 'rejected');
    assert.equal(progress.phase, 'rejected');
    assert.equal(progress.issueCount, 3);
  });

  void test('when an activity fails for good, then the run is marked failed and the workflow fails', async () => {
    const fake = fakeActivities({ valid: true, batches: 1, planFails: true });
    const runId = '00000000-0000-4000-8000-000000000003';
    const { error, progress } = await kit.withWorker(fake.activities, async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(rosterImport, {
        taskQueue,
        workflowId: rosterImportWorkflowId(runId),
        args: [{ runId }],
      });
      const error = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      const progress = await handle.query(rosterImportProgressQuery);
      await maybeRecordHistory('rosterImport-failed', handle);
      return { error, progress };
    });
    assert.ok(error instanceof WorkflowFailedError);
    assert.deepEqual(fake.calls, [`validate ${runId}`, 'plan', 'failed: the database refused the plan']);
    assert.equal(progress.phase, 'failed');
  });
});
