/**
 * Operator restore (scripts/backup.ts restore <id> --into <db>): checksum, pg_restore into a new or empty
 * database, row counts compared with the backup's. Never touches the live database; switching over is a
 * deliberate configuration change (DATABASE_URL) by the operator.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { BackupActivities, RestoreResult } from '../activities/backups';

export interface RestoreDatabaseInput {
  backupId: number;
  intoDatabase: string;
}

const { restoreBackup } = proxyActivities<BackupActivities>({
  startToCloseTimeout: '3 hours',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '30 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 3,
  },
});

export async function restoreDatabase(input: RestoreDatabaseInput): Promise<RestoreResult> {
  return await restoreBackup(input);
}
