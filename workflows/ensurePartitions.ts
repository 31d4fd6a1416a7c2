/**
 * Keeps the monthly attendance partitions ready: the current month and the next `monthsAhead` (≥ 3).
 * Run by the `maintenance:partitions` Schedule monthly and once at start-up. Idempotent, so a missed
 * month is simply created by the next run; `from` backfills an older month explicitly.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { EnsurePartitionsResult, PartitionActivities } from '../activities/partitions';
import { workflowNowMs } from './time';

export interface EnsurePartitionsInput {
  monthsAhead?: number;
  /** ISO instant of the first month to ensure (default: now). */
  from?: string;
}

export const DEFAULT_PARTITION_MONTHS_AHEAD = 3;

const { ensureAttendancePartitions } = proxyActivities<PartitionActivities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: 10,
  },
});

export async function ensurePartitions(input: EnsurePartitionsInput = {}): Promise<EnsurePartitionsResult> {
  const from = input.from ?? new Date(workflowNowMs()).toISOString();
  return await ensureAttendancePartitions({
    from,
    monthsAhead: input.monthsAhead ?? DEFAULT_PARTITION_MONTHS_AHEAD,
  });
}
