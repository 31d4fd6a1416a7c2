/**
 * The two maintenance Temporal Schedules, created or brought up to date idempotently at start-up:
 *   maintenance:partitions  monthly (1st, 03:15 UTC) → ensurePartitions  (also triggered once at start-up)
 *   maintenance:backup      daily (02:30 UTC)        → backupDatabase
 *   maintenance:retention   daily (03:45 UTC)        → purgeRecognitionEvents (RECOGNITION_RETENTION_DAYS, then
 *                                                      the finished imports' rosters: ROSTER_IMPORT_RETENTION_DAYS)
 *   timetable:sync          hourly (:07)             → syncTimetable (also run at start-up and on admin edits)
 * Overlap SKIP (a slow backup never stacks), a catch-up window so a run missed while the server was down
 * still happens when it comes back.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
  type ScheduleOptionsAction,
} from '@temporalio/client';
import type { BackupDatabaseInput } from '../../workflows/backupDatabase';
import type { EnsurePartitionsInput } from '../../workflows/ensurePartitions';

export const PARTITIONS_SCHEDULE_ID = 'maintenance:partitions';
export const BACKUP_SCHEDULE_ID = 'maintenance:backup';
export const RETENTION_SCHEDULE_ID = 'maintenance:retention';
export const TIMETABLE_SCHEDULE_ID = 'timetable:sync';

export interface MaintenanceScheduleSettings {
  taskQueue: string;
  partitionMonthsAhead: number;
  /** UTC hour and minute of the daily backup. */
  backupAt?: { hour: number; minute: number };
}

export interface MaintenanceSchedulesResult {
  created: string[];
  updated: string[];
}

function definitions(s: MaintenanceScheduleSettings): ScheduleOptions[] {
  const backupAt = s.backupAt ?? { hour: 2, minute: 30 };
  const partitions: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: 'ensurePartitions',
    workflowId: PARTITIONS_SCHEDULE_ID,
    taskQueue: s.taskQueue,
    args: [{ monthsAhead: s.partitionMonthsAhead } satisfies EnsurePartitionsInput],
    workflowExecutionTimeout: '1 hour',
  };
  const backup: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: 'backupDatabase',
    workflowId: BACKUP_SCHEDULE_ID,
    taskQueue: s.taskQueue,
    args: [{ trigger: 'schedule' } satisfies BackupDatabaseInput],
    workflowExecutionTimeout: '12 hours',
  };
  const retention: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: 'purgeRecognitionEvents',
    workflowId: RETENTION_SCHEDULE_ID,
    taskQueue: s.taskQueue,
    args: [{}],
    workflowExecutionTimeout: '2 hours',
  };
  const timetable: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: 'syncTimetable',
    workflowId: TIMETABLE_SCHEDULE_ID,
    taskQueue: s.taskQueue,
    args: [],
    workflowExecutionTimeout: '30 minutes',
  };
  return [
    {
      scheduleId: RETENTION_SCHEDULE_ID,
      spec: { calendars: [{ hour: 3, minute: 45, comment: 'daily' }] },
      action: retention,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' },
      memo: {
        purpose:
          'delete raw recognition events past the retention period (marks are kept) and the uploaded rosters of finished OneRoster imports (run summaries and change audits are kept)',
      },
    },
    {
      // A safety net: admin edits start a sync at once; this catches rows changed behind the API's back.
      scheduleId: TIMETABLE_SCHEDULE_ID,
      spec: { calendars: [{ minute: 7, hour: '*', comment: 'hourly' }] },
      action: timetable,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      memo: { purpose: 'one Temporal Schedule per timetable row' },
    },
    {
      scheduleId: PARTITIONS_SCHEDULE_ID,
      spec: { calendars: [{ dayOfMonth: 1, hour: 3, minute: 15, comment: 'monthly, 1st 03:15 UTC' }] },
      action: partitions,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '30 days' },
      memo: { purpose: `keep ${s.partitionMonthsAhead} months of attendance partitions ahead` },
    },
    {
      scheduleId: BACKUP_SCHEDULE_ID,
      spec: { calendars: [{ hour: backupAt.hour, minute: backupAt.minute, comment: 'daily' }] },
      action: backup,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' },
      memo: { purpose: 'pg_dump, verified by restore, pruned by retention' },
    },
  ];
}

/** Creates the Schedules, or updates spec/action/policies of existing ones (a changed config applies). */
export async function ensureMaintenanceSchedules(
  client: Client,
  settings: MaintenanceScheduleSettings,
): Promise<MaintenanceSchedulesResult> {
  const result: MaintenanceSchedulesResult = { created: [], updated: [] };
  for (const def of definitions(settings)) {
    try {
      await client.schedule.create(def);
      result.created.push(def.scheduleId);
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(def.scheduleId).update((previous) => ({
        ...previous,
        spec: def.spec,
        action: def.action,
        policies: { ...previous.policies, ...def.policies },
      }));
      result.updated.push(def.scheduleId);
    }
  }
  return result;
}

/** Runs ensurePartitions now (start-up / deploy), through the Schedule so it shows in its history. */
export async function triggerPartitionsNow(client: Client): Promise<void> {
  await client.schedule.getHandle(PARTITIONS_SCHEDULE_ID).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
}

/**
 * What every entrypoint does at start-up (idempotent, so each API replica may): bring the Schedules to the
 * configuration and run ensurePartitions once, as a deploy should.
 */
export async function startMaintenance(
  client: Client,
  cfg: { TEMPORAL_TASK_QUEUE: string; PARTITION_MONTHS_AHEAD: number },
): Promise<MaintenanceSchedulesResult> {
  const result = await ensureMaintenanceSchedules(client, {
    taskQueue: cfg.TEMPORAL_TASK_QUEUE,
    partitionMonthsAhead: cfg.PARTITION_MONTHS_AHEAD,
  });
  await triggerPartitionsNow(client);
  return result;
}
