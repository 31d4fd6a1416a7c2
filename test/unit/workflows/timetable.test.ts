/**
 * The timetable's workflows on the time-skipping test server with mocked activities: launchClassSession
 * (fired by a class's Schedule) starts the session under its stable id or finds it already running, and
 * syncTimetable hands the reconciliation to its activity with retries. Both record their history fixtures.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { SessionActivities } from '../../../activities/sessions';
import type { TimetableActivities, TimetableSyncResult } from '../../../activities/timetable';
import { classSession } from '../../../workflows/classSession';
import { launchClassSession } from '../../../workflows/launchClassSession';
import { sessionWorkflowId } from '../../../workflows/messages';
import { CourseIdKey, RoomIdKey, SessionDateKey } from '../../../workflows/searchAttributes';
import { syncTimetable } from '../../../workflows/syncTimetable';
import { maybeRecordHistory } from '../../support/histories';
import { createWorkflowTestKit, type WorkflowTestKit } from '../../support/workflowEnv';

let kit: WorkflowTestKit;
let scheduleSeq = 500;

interface ResolveCall {
  scheduleId: number;
  firedAt: string;
}

/** resolveSessionDate answers one slot; openSession refuses, because the session itself is not under test. */
function fakeLaunchActivities(slot: { sessionDate: string; courseId: string; roomId: string }) {
  const resolved: ResolveCall[] = [];
  const activities: Pick<TimetableActivities, 'resolveSessionDate'> & Pick<SessionActivities, 'openSession'> =
    {
      resolveSessionDate: async (input) => {
        resolved.push(input);
        return slot;
      },
      openSession: async () => {
        throw ApplicationFailure.create({
          message: 'the session is not under test here',
          nonRetryable: true,
        });
      },
    };
  return { resolved, activities };
}

/** Sessions a test started would otherwise hold the shared test server's clock. */
async function endIfRunning(handle: WorkflowHandle): Promise<void> {
  const { status } = await handle.describe();
  if (status.name === 'RUNNING') await handle.terminate('test finished');
}

void describe('timetable workflows (time-skipping, mocked activities)', () => {
  before(
    async () => {
      kit = await createWorkflowTestKit();
    },
    { timeout: 120_000 },
  );
  after(async () => kit?.teardown());

  void test("when a class's Schedule fires, then the launcher starts the session under its stable id with the slot's search attributes", async () => {
    const scheduleId = ++scheduleSeq;
    const slot = { sessionDate: '2026-11-25', courseId: 'CS101', roomId: 'R101' };
    const fake = fakeLaunchActivities(slot);
    const launchedFrom = await kit.env.currentTimeMs();
    await kit.withWorker(fake.activities, async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(launchClassSession, {
        taskQueue,
        workflowId: `launch:${scheduleId}`,
        args: [{ scheduleId }],
      });
      const result = await handle.result();
      const sessionId = sessionWorkflowId(scheduleId, slot.sessionDate);
      assert.deepEqual(result, { sessionId, started: true });

      const session = kit.env.client.workflow.getHandle(sessionId);
      const described = await session.describe();
      assert.equal(described.type, 'classSession');
      assert.equal(described.typedSearchAttributes.get(CourseIdKey), 'CS101');
      assert.equal(described.typedSearchAttributes.get(RoomIdKey), 'R101');
      assert.equal(described.typedSearchAttributes.get(SessionDateKey), '2026-11-25');
      await endIfRunning(session);
      await maybeRecordHistory('launchClassSession-started', handle);
    });
    // Started by hand, not by a Schedule: the launcher takes its own start time as the firing time.
    assert.equal(fake.resolved.length, 1);
    assert.equal(fake.resolved[0]!.scheduleId, scheduleId);
    const firedAt = Date.parse(fake.resolved[0]!.firedAt);
    assert.ok(
      firedAt >= launchedFrom - 1000 && firedAt <= (await kit.env.currentTimeMs()),
      fake.resolved[0]!.firedAt,
    );
  });

  void test("when a device's batch started the session first, then the launcher finds it running and starts nothing", async () => {
    const scheduleId = ++scheduleSeq;
    const slot = { sessionDate: '2026-11-26', courseId: 'MATH201', roomId: 'R102' };
    const fake = fakeLaunchActivities(slot);
    const sessionId = sessionWorkflowId(scheduleId, slot.sessionDate);
    // The API's signalWithStart got there first; nobody polls its queue, so it just stays open.
    const early = await kit.env.client.workflow.start(classSession, {
      taskQueue: `unpolled-${process.pid}-${scheduleId}`,
      workflowId: sessionId,
      args: [{ scheduleId, sessionDate: slot.sessionDate }],
    });
    try {
      await kit.withWorker(fake.activities, async (taskQueue) => {
        const handle = await kit.env.client.workflow.start(launchClassSession, {
          taskQueue,
          workflowId: `launch:${scheduleId}`,
          args: [{ scheduleId }],
        });
        assert.deepEqual(await handle.result(), { sessionId, started: false });
        await maybeRecordHistory('launchClassSession-already-running', handle);
      });
      const described = await kit.env.client.workflow.getHandle(sessionId).describe();
      assert.equal(described.runId, early.firstExecutionRunId, 'the running session is left alone');
      assert.equal(described.status.name, 'RUNNING');
    } finally {
      await endIfRunning(early);
    }
  });

  void test('when the timetable sync fails transiently, then it is retried and returns what it reconciled', async () => {
    const synced: TimetableSyncResult = {
      created: ['class:7'],
      updated: ['class:3'],
      deleted: [],
      unchanged: 4,
      paused: ['class:9'],
    };
    let attempts = 0;
    const activities: Pick<TimetableActivities, 'syncTimetable'> = {
      syncTimetable: async () => {
        attempts++;
        if (attempts === 1) throw new Error('Temporal frontend unavailable');
        return synced;
      },
    };
    const result = await kit.withWorker(activities, async (taskQueue) => {
      const handle = await kit.env.client.workflow.start(syncTimetable, {
        taskQueue,
        workflowId: `timetable:sync:${process.pid}`,
      });
      const r = await handle.result();
      await maybeRecordHistory('syncTimetable-retried', handle);
      return r;
    });
    assert.equal(attempts, 2);
    assert.deepEqual(result, synced);
  });
});
