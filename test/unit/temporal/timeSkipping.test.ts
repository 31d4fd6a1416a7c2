/**
 * Proves the Java time-skipping test server (lib/temporal/testServer.ts) works with the TypeScript
 * SDK: workflows that wait hours of workflow time finish in seconds of wall time, and signals race
 * timers correctly while time is skipped.
 *
 * Needs Java + (first run only) Maven with access to Maven Central.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createTimeSkippingEnv, ensureTimeSkippingServer } from '../../../lib/temporal/testServer';
import { approveSignal, awaitApproval, sleepy, statusQuery } from '../../fixtures/workflows/sleepy';

const HOUR = 60 * 60 * 1000;
/** Sanity bound only: the real assertions are on workflow results and server time. */
const WALL_BOUND_MS = 30_000;

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let queueSeq = 0;

async function withWorker<T>(fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `time-skipping-${process.pid}-${++queueSeq}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: bundle,
  });
  return await worker.runUntil(fn(taskQueue));
}

void describe('Temporal time-skipping test server (Java, from Maven Central)', () => {
  before(
    async () => {
      // ERROR: the worker warns at WARN that this test registers no activities.
      Runtime.install({ logger: new DefaultLogger('ERROR') });
      const t0 = Date.now();
      await ensureTimeSkippingServer();
      const t1 = Date.now();
      env = await createTimeSkippingEnv();
      const t2 = Date.now();
      bundle = await bundleWorkflowCode({
        workflowsPath: require.resolve('../../fixtures/workflows/sleepy'),
        logger: new DefaultLogger('WARN'),
      });
      const t3 = Date.now();
      process.stderr.write(
        `setup: ensureTimeSkippingServer ${t1 - t0} ms, createTimeSkippingEnv (JVM start) ${t2 - t1} ms, ` +
          `bundleWorkflowCode ${t3 - t2} ms\n`,
      );
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await env?.teardown();
  });

  void test('ensureTimeSkippingServer is idempotent and cheap once cached', async () => {
    const started = Date.now();
    const first = await ensureTimeSkippingServer();
    const second = await ensureTimeSkippingServer();
    const elapsed = Date.now() - started;
    assert.equal(first, second);
    const stat = fs.statSync(first);
    assert.ok((stat.mode & 0o111) !== 0, 'wrapper must be executable');
    const script = fs.readFileSync(first, 'utf8');
    assert.match(script, /^#!\/bin\/sh\n/);
    // The SDK SIGKILLs the PID it spawned: the wrapper has to become the JVM.
    assert.match(script, /\nexec .* io\.temporal\.testserver\.TestServer "\$@"\n$/);
    assert.ok(elapsed < 1_000, `cached ensure took ${elapsed} ms`);
    assert.equal(env.supportsTimeSkipping, true);
  });

  void test('a workflow sleeping 2 hours completes in seconds of wall time', async () => {
    const serverBefore = await env.currentTimeMs();
    const wallStart = Date.now();
    const result = await withWorker((taskQueue) =>
      env.client.workflow.execute(sleepy, {
        taskQueue,
        workflowId: `sleepy-${Date.now()}`,
        args: [2 * HOUR],
      }),
    );
    const wallMs = Date.now() - wallStart;
    const serverAfter = await env.currentTimeMs();

    assert.equal(result.message, 'rested');
    assert.ok(
      result.wokeAtMs - result.startedAtMs >= 2 * HOUR,
      `workflow clock advanced only ${result.wokeAtMs - result.startedAtMs} ms`,
    );
    assert.ok(result.wokeAtMs - result.startedAtMs < 2 * HOUR + WALL_BOUND_MS);
    assert.ok(
      serverAfter - serverBefore >= 2 * HOUR,
      `server clock advanced only ${serverAfter - serverBefore} ms`,
    );
    assert.ok(wallMs < WALL_BOUND_MS, `took ${wallMs} ms of wall time`);
    process.stderr.write(`sleepy(2h): ${wallMs} ms wall, server clock +${serverAfter - serverBefore} ms\n`);
  });

  void test('a signal sent after 1 h of skipped time beats the 24 h timer', async () => {
    const outcome = await withWorker(async (taskQueue) => {
      const handle = await env.client.workflow.start(awaitApproval, {
        taskQueue,
        workflowId: `approval-signal-${Date.now()}`,
        args: [24 * HOUR],
      });
      // Queries are answered by the worker, so this also waits for the first workflow task.
      assert.equal(await handle.query(statusQuery), 'waiting');
      const serverBefore = await env.currentTimeMs();
      await env.sleep(HOUR); // skip server time manually (result() is not being awaited yet)
      const serverAfter = await env.currentTimeMs();
      assert.ok(
        serverAfter - serverBefore >= HOUR,
        `env.sleep skipped only ${serverAfter - serverBefore} ms`,
      );
      assert.equal(
        await handle.query(statusQuery),
        'waiting',
        'the 24 h timer must not have fired after 1 h',
      );
      await handle.signal(approveSignal, 'alice');
      await handle.signal(approveSignal, 'bob'); // first approval wins
      const result = await handle.result();
      assert.equal(await handle.query(statusQuery), 'approved');
      return result;
    });

    assert.equal(outcome.outcome, 'approved');
    assert.equal(outcome.approvedBy, 'alice');
    const decidedAfter = outcome.decidedAtMs - outcome.startedAtMs;
    assert.ok(decidedAfter >= HOUR, `decided after ${decidedAfter} ms, expected >= 1 h`);
    assert.ok(decidedAfter < 2 * HOUR, `decided after ${decidedAfter} ms: the timer must not have fired`);
  });

  void test('without a signal the 24 h timer fires (time skipped while awaiting the result)', async () => {
    const wallStart = Date.now();
    const { result, signalAfterCompletion } = await withWorker(async (taskQueue) => {
      const handle = await env.client.workflow.start(awaitApproval, {
        taskQueue,
        workflowId: `approval-timeout-${Date.now()}`,
        args: [24 * HOUR],
      });
      const res = await handle.result();
      const late = await handle.signal(approveSignal, 'too-late').then(
        () => null,
        (err: unknown) => err,
      );
      return { result: res, signalAfterCompletion: late };
    });
    const wallMs = Date.now() - wallStart;

    assert.equal(result.outcome, 'timed-out');
    assert.equal(result.approvedBy, null);
    assert.ok(result.decidedAtMs - result.startedAtMs >= 24 * HOUR);
    assert.ok(signalAfterCompletion instanceof WorkflowNotFoundError, `got ${String(signalAfterCompletion)}`);
    assert.ok(wallMs < WALL_BOUND_MS, `took ${wallMs} ms of wall time`);
  });
});
