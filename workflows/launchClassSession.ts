/**
 * Started by a class's Temporal Schedule. Schedules give their workflows ids with a timestamp suffix, so
 * this small launcher starts the real session under its stable id `session:{scheduleId}:{date}` — the same
 * id the API's signalWithStart uses — and finds it already running when a device's batch came first.
 */
import {
  ParentClosePolicy,
  proxyActivities,
  startChild,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import {
  defineSearchAttributeKey,
  SearchAttributeType,
  WorkflowExecutionAlreadyStartedError,
} from '@temporalio/common';
import type { TimetableActivities } from '../activities/timetable';
import { classSession } from './classSession';
import { sessionWorkflowId } from './messages';
import { CourseIdKey, RoomIdKey, SessionDateKey } from './searchAttributes';
import { workflowNowMs } from './time';

const { resolveSessionDate } = proxyActivities<TimetableActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '1 minute' },
});

const ScheduledStartTime = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

export interface LaunchResult {
  sessionId: string;
  started: boolean;
}

export async function launchClassSession(input: { scheduleId: number }): Promise<LaunchResult> {
  const firedAt = workflowInfo().typedSearchAttributes.get(ScheduledStartTime) ?? new Date(workflowNowMs());
  const slot = await resolveSessionDate({ scheduleId: input.scheduleId, firedAt: firedAt.toISOString() });
  const sessionId = sessionWorkflowId(input.scheduleId, slot.sessionDate);
  try {
    await startChild(classSession, {
      workflowId: sessionId,
      args: [{ scheduleId: input.scheduleId, sessionDate: slot.sessionDate }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      // A session that already ran to completion today is not reopened by a late or repeated firing.
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: [
        { key: CourseIdKey, value: slot.courseId },
        { key: RoomIdKey, value: slot.roomId },
        { key: SessionDateKey, value: slot.sessionDate },
      ],
    });
    return { sessionId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { sessionId, started: false };
    throw err;
  }
}
