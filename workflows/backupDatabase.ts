/**
 * One backup run (daily via the `maintenance:backup` Schedule, or by an operator): record the run, dump
 * the database, prove the dump by restoring it into a scratch database and comparing every table's row
 * count, then apply the retention policy. A run that fails verification is recorded as failed and the
 * workflow fails, so the Schedule's history shows it.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { BackupActivities, DumpResult, PruneResult, VerifyResult } from '../activities/backups';

export interface BackupDatabaseInput {
  trigger?: 'schedule' | 'manual';
  /** Override the configured retention for this run. */
  keepDaily?: number;
  keepMonthly?: number;
}

export interface BackupDatabaseResult {
  backupId: number;
  dump: DumpResult;
  verify: VerifyResult;
  retention: PruneResult;
}

const { beginBackup, failBackup, pruneBackups } = proxyActivities<BackupActivities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 10,
  },
});

// Dumps and restores of a school's database take seconds to minutes; heartbeats notice a dead worker fast.
const { dumpDatabase, verifyBackup } = proxyActivities<BackupActivities>({
  startToCloseTimeout: '3 hours',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '30 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 3,
  },
});

export async function backupDatabase(input: BackupDatabaseInput = {}): Promise<BackupDatabaseResult> {
  const info = workflowInfo();
  const trigger = input.trigger ?? (info.workflowId.startsWith('maintenance:backup') ? 'schedule' : 'manual');
  const { backupId } = await beginBackup({ runKey: `${info.workflowId}/${info.runId}`, trigger });
  let dump: DumpResult;
  let verify: VerifyResult;
  try {
    dump = await dumpDatabase({ backupId });
    verify = await verifyBackup({ backupId });
  } catch (err) {
    await failBackup({
      backupId,
      error:
        err instanceof Error
          ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`
          : String(err),
    });
    throw err;
  }
  if (!verify.ok) {
    const error = `restore check failed: ${verify.problems.slice(0, 5).join('; ')}`;
    await failBackup({ backupId, error });
    throw ApplicationFailure.create({ message: error, nonRetryable: true, details: [verify] });
  }
  const retention = await pruneBackups({ keepDaily: input.keepDaily, keepMonthly: input.keepMonthly });
  return { backupId, dump, verify, retention };
}
