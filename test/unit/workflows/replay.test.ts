/**
 * Determinism guard: every recorded history under test/fixtures/histories must replay against today's
 * workflow code. A change that would break running workflows fails here with a DeterminismViolationError;
 * such a change needs workflow versioning (patched()) instead. Refresh the fixtures deliberately with
 * `RECORD_HISTORIES=1 npm test -- test/unit/workflows/classSession.test.ts`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

const dir = path.join(__dirname, '..', '..', 'fixtures', 'histories');
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

void describe('replay of recorded workflow histories', () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
  } catch {
    // already installed in this process
  }

  void test('when the fixtures are listed, then there is at least one history per workflow type recorded', () => {
    assert.ok(files.length >= 2, `found ${files.join(', ')}`);
  });

  for (const file of files) {
    void test(`when ${file} is replayed, then the current code makes the same decisions`, async () => {
      const history = temporal.api.history.v1.History.fromObject(
        JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')),
      );
      assert.ok((history.events?.length ?? 0) > 10);
      await Worker.runReplayHistory({ workflowsPath: require.resolve('../../../workflows') }, history, file);
    });
  }
});
