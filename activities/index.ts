import type { Knex } from 'knex';
import { createSessionActivities, type SessionTimingSettings } from './sessions';
import { createTimetableActivities } from './timetable';
import { config } from '../lib/config';
import { enrollmentSettingsFromConfig, type EnrollmentSettings } from '../lib/enrollment';
import { createEnrollmentActivities } from './enrollment';
import { createPrivacyActivities } from './privacy';
import { logger } from '../lib/logger';
import { createDeviceActivities, type DeviceActivitySettings } from './devices';
import path from 'node:path';
import { createBackupActivities, type BackupSettings } from './backups';
import { createPartitionActivities } from './partitions';
import { createRosterImportActivities } from './rosterImport';

export interface ActivityDeps {
  db: Knex;
  timing: SessionTimingSettings;
  /** Task queue the class Schedules start their launchers on (this worker's); config's when omitted. */
  taskQueue?: string;
  /** Staging dir, models, cipher; read from config when omitted. */
  enrollment?: EnrollmentSettings;
  /** Alert webhook and logger of the device workflow; from config when omitted. */
  devices?: DeviceActivitySettings;
  /** Backup directory and retention; from config when omitted. */
  backups?: BackupSettings;
}

/** Every activity the worker registers, built from its dependencies (knex, settings). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSessionActivities(deps.db, deps.timing, logger()),
    ...createTimetableActivities(deps.db, {
      taskQueue: deps.taskQueue ?? config().TEMPORAL_TASK_QUEUE,
      earlyMinutes: deps.timing.earlyMinutes,
    }),
    ...createEnrollmentActivities(deps.db, deps.enrollment ?? enrollmentSettingsFromConfig(config())),
    ...createPrivacyActivities(deps.db, {
      cipher: (deps.enrollment ?? enrollmentSettingsFromConfig(config())).cipher,
      retentionDays: config().RECOGNITION_RETENTION_DAYS,
      rosterImportRetentionDays: config().ROSTER_IMPORT_RETENTION_DAYS,
    }),
    ...createDeviceActivities(
      deps.db,
      deps.devices ?? { alertWebhookUrl: config().ALERT_WEBHOOK_URL, log: logger() },
    ),
    ...createPartitionActivities(deps.db),
    ...createRosterImportActivities(deps.db, { log: logger() }),
    ...createBackupActivities(
      deps.db,
      deps.backups ?? {
        backupDir: config().BACKUP_DIR ?? path.join(config().ROLLCALL_DATA_DIR, 'backups'),
        keepDaily: config().BACKUP_KEEP_DAILY,
        keepMonthly: config().BACKUP_KEEP_MONTHLY,
        log: logger(),
      },
    ),
  };
}

export type Activities = ReturnType<typeof createActivities>;
