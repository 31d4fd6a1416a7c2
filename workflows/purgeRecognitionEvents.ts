/** Retention of raw recognition events (RECOGNITION_RETENTION_DAYS); meant for a daily maintenance Schedule. */
import { proxyActivities } from '@temporalio/workflow';
import type { PrivacyActivities } from '../activities/privacy';

const { purgeRecognitionEvents: purge } = proxyActivities<PrivacyActivities>({
  startToCloseTimeout: '30 minutes',
  retry: { maximumInterval: '5 minutes', maximumAttempts: 10 },
});

export async function purgeRecognitionEvents(
  input: { retentionDays?: number } = {},
): Promise<{ deleted: number; cutoff: string }> {
  return await purge(input);
}
