/**
 * Recorded workflow histories: the fixtures test/unit/workflows/replay.test.ts replays against today's
 * workflow code. Workflow unit tests record them from their own runs (mocked activities, time-skipping
 * server) when RECORD_HISTORIES=1 — deliberately, one test file at a time (README, "Workflow changes and
 * versioning").
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export const HISTORIES_DIR = path.join(__dirname, '..', 'fixtures', 'histories');

export interface RecordedHistory {
  file: string;
  /** The workflow type of the history's WorkflowExecutionStarted event. */
  workflowType: string;
  history: temporal.api.history.v1.History;
}

/** With RECORD_HISTORIES=1, writes the workflow's history to `test/fixtures/histories/{name}.json`. */
export async function maybeRecordHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (!process.env.RECORD_HISTORIES) return;
  const history = temporal.api.history.v1.History.fromObject(await handle.fetchHistory());
  const json = temporal.api.history.v1.History.toObject(history, {
    longs: String,
    enums: String,
    bytes: String,
  });
  fs.writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), JSON.stringify(json, null, 1));
}

/** Every recorded history, by file name. */
export function loadRecordedHistories(): RecordedHistory[] {
  return fs
    .readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const history = temporal.api.history.v1.History.fromObject(
        JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')),
      );
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      return { file, workflowType: started?.workflowType?.name ?? '', history };
    });
}
