/**
 * Imports one OneRoster bundle (`roster-import:{runId}`): validate the whole bundle, diff it against the
 * database, apply the difference in bounded batches, summarise. The bundle, its rows and the planned changes
 * stay in Postgres under the run id (activities/rosterImport.ts); the history carries ids and counts only.
 * Progress: the `progress` query.
 */
import { proxyActivities, setHandler } from '@temporalio/workflow';
import type { RosterImportActivities, RosterImportSummary } from '../activities/rosterImport';
import { rosterImportProgressQuery, type RosterImportProgress } from './rosterImportMessages';

export interface RosterImportInput {
  runId: string;
}

const {
  validateRosterImport,
  planRosterImport,
  applyRosterImportBatch,
  finishRosterImport,
  markRosterImportFailed,
} = proxyActivities<RosterImportActivities>({
  // A bundle of a few thousand rows parses and diffs in seconds; a district's in well under the limit.
  startToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 10,
  },
});

const { syncTimetableAfterImport } = proxyActivities<RosterImportActivities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 10,
  },
});

async function importRoster(
  ref: { runId: string },
  progress: RosterImportProgress,
): Promise<RosterImportSummary> {
  const validation = await validateRosterImport(ref);
  if (validation.ok) {
    progress.phase = 'planning';
    const plan = await planRosterImport(ref);
    progress.issueCount = plan.issueCount;
    if (plan.ok) {
      progress.phase = 'applying';
      progress.changesPlanned = plan.changes;
      progress.batchesTotal = plan.batches;
      // In order: a later batch may depend on an earlier one (a course on its teacher).
      for (let batch = 0; batch < plan.batches; batch++) {
        await applyRosterImportBatch({ ...ref, batch });
        progress.batchesDone = batch + 1;
      }
    }
  } else progress.issueCount = validation.issueCount;

  progress.phase = 'finishing';
  const summary = await finishRosterImport(ref);
  progress.phase = summary.status;
  return summary;
}

/** An activity failure wraps the error that says what went wrong. */
function innermostMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

export async function rosterImport(input: RosterImportInput): Promise<RosterImportSummary> {
  const progress: RosterImportProgress = {
    runId: input.runId,
    phase: 'validating',
    issueCount: 0,
    changesPlanned: 0,
    batchesDone: 0,
    batchesTotal: 0,
  };
  setHandler(rosterImportProgressQuery, () => progress);
  const ref = { runId: input.runId };

  let summary: RosterImportSummary;
  try {
    summary = await importRoster(ref, progress);
  } catch (err) {
    // Out of retries (the database gone for long, a bug): the run says so instead of "applying" forever.
    // Batches already applied stay; importing the bundle again applies the rest (the diff starts afresh).
    progress.phase = 'failed';
    await markRosterImportFailed({ ...ref, reason: innermostMessage(err) });
    throw err;
  }
  // New, moved or paused timetable rows need their Temporal Schedules; the summary does not wait for it.
  if (Object.values(summary.changes.schedule).some((n) => n > 0)) await syncTimetableAfterImport();
  return summary;
}
