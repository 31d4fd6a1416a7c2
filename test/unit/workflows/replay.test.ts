/**
 * Determinism guard: every recorded history under test/fixtures/histories must replay against today's
 * workflow code, and every workflow the worker runs must have one. A change that would break running
 * workflows fails here with a DeterminismViolationError; such a change needs `patched()` (README, "Workflow
 * changes and versioning"). Workflow unit tests record the fixtures with RECORD_HISTORIES=1
 * (test/support/histories.ts), one test file at a time.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import * as workflows from '../../../workflows';
import { loadRecordedHistories } from '../../support/histories';

const recorded = loadRecordedHistories();
/** Every export of workflows/index.ts is a workflow the worker registers under its export name. */
const workflowTypes = Object.entries(workflows)
  .filter(([, fn]) => typeof fn === 'function')
  .map(([name]) => name)
  .sort();

void describe('replay of recorded workflow histories', () => {
  let bundle: WorkflowBundleWithSourceMap;
  before(
    async () => {
      try {
        Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
      } catch {
        // already installed in this process
      }
      bundle = await bundleWorkflowCode({
        workflowsPath: require.resolve('../../../workflows'),
        logger: new DefaultLogger('WARN'),
      });
    },
    { timeout: 120_000 },
  );

  void test('when the fixtures are listed, then every workflow type exported from workflows/index.ts has a recorded history', () => {
    assert.ok(workflowTypes.length >= 10, `workflow exports: ${workflowTypes.join(', ')}`);
    const withHistory = new Set(recorded.map((r) => r.workflowType));
    const missing = workflowTypes.filter((t) => !withHistory.has(t));
    assert.deepEqual(missing, [], `workflow types without a recorded history: ${missing.join(', ')}`);
    const unknown = recorded.filter((r) => !workflowTypes.includes(r.workflowType));
    assert.deepEqual(
      unknown.map((r) => `${r.file} (${r.workflowType})`),
      [],
      'histories of workflow types the worker no longer registers',
    );
  });

  for (const { file, history } of recorded) {
    void test(`when ${file} is replayed, then the current code makes the same decisions`, async () => {
      assert.ok((history.events?.length ?? 0) > 10, `${file} has only ${history.events?.length ?? 0} events`);
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, file);
    });
  }
});
