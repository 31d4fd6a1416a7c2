/** Reconciles Temporal Schedules with the timetable (`timetable:sync`); the activity does the work idempotently. */
import { proxyActivities } from '@temporalio/workflow';
import type { TimetableActivities, TimetableSyncResult } from '../activities/timetable';

const { syncTimetable: syncSchedules } = proxyActivities<TimetableActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumInterval: '1 minute', maximumAttempts: 10 },
});

export async function syncTimetable(): Promise<TimetableSyncResult> {
  return await syncSchedules();
}
