/**
 * The daily retention job (`maintenance:retention`): raw recognition events past RECOGNITION_RETENTION_DAYS,
 * then the uploaded rosters (files, staging rows) of OneRoster imports finished more than
 * ROSTER_IMPORT_RETENTION_DAYS ago. The name is the Schedule's workflow type, kept from when it only purged.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { PrivacyActivities, RosterImportPruneResult } from '../activities/privacy';

const { purgeRecognitionEvents: purge, pruneRosterImports } = proxyActivities<PrivacyActivities>({
  startToCloseTimeout: '30 minutes',
  retry: { maximumInterval: '5 minutes', maximumAttempts: 10 },
});

export interface RetentionInput {
  /** Overrides RECOGNITION_RETENTION_DAYS. */
  retentionDays?: number;
  /** Overrides ROSTER_IMPORT_RETENTION_DAYS. */
  rosterImportRetentionDays?: number;
}

export interface RetentionResult {
  /** Recognition events deleted, and their cutoff. */
  deleted: number;
  cutoff: string;
  /** Absent only in runs that started before import pruning existed. */
  rosterImports?: RosterImportPruneResult;
}

export async function purgeRecognitionEvents(input: RetentionInput = {}): Promise<RetentionResult> {
  const events = await purge(input.retentionDays === undefined ? {} : { retentionDays: input.retentionDays });
  // Histories recorded before the pruning step replay without it.
  if (!patched('roster-import-pruning')) return events;
  const rosterImports = await pruneRosterImports(
    input.rosterImportRetentionDays === undefined ? {} : { retentionDays: input.rosterImportRetentionDays },
  );
  return { ...events, rosterImports };
}
