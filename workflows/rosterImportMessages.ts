/** The roster import workflow's id and query, shared by the workflow, the API and the CLI. */
import { defineQuery } from '@temporalio/workflow';

export type RosterImportPhase =
  'validating' | 'planning' | 'applying' | 'finishing' | 'applied' | 'rejected' | 'failed';

export interface RosterImportProgress {
  runId: string;
  phase: RosterImportPhase;
  /** Reasons the bundle was rejected (bad rows, conflicts); the list itself is on the run row. */
  issueCount: number;
  changesPlanned: number;
  batchesDone: number;
  batchesTotal: number;
}

export const rosterImportProgressQuery = defineQuery<RosterImportProgress>('progress');

export function rosterImportWorkflowId(runId: string): string {
  return `roster-import:${runId}`;
}
