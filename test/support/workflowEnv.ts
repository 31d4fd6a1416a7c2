/**
 * Workflow tests on the Java time-skipping test server: one environment and one workflow bundle per test
 * file, a fresh task queue per worker, activities supplied by the test (mocks).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { SearchAttributeType } from '@temporalio/common';
import { createTimeSkippingEnv } from '../../lib/temporal/testServer';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../../workflows/searchAttributes';

const V = temporal.api.enums.v1.IndexedValueType;
const INDEXED_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.KEYWORD]: V.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.TEXT]: V.INDEXED_VALUE_TYPE_TEXT,
  [SearchAttributeType.INT]: V.INDEXED_VALUE_TYPE_INT,
  [SearchAttributeType.DOUBLE]: V.INDEXED_VALUE_TYPE_DOUBLE,
  [SearchAttributeType.BOOL]: V.INDEXED_VALUE_TYPE_BOOL,
  [SearchAttributeType.DATETIME]: V.INDEXED_VALUE_TYPE_DATETIME,
  [SearchAttributeType.KEYWORD_LIST]: V.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

export interface WorkflowTestKit {
  env: TestWorkflowEnvironment;
  /** Runs fn while a worker with these activities polls a fresh task queue. */
  withWorker<T>(activities: object, fn: (taskQueue: string) => Promise<T>): Promise<T>;
  /** A worker the test runs and shuts down itself, on a fresh task queue unless one is given. */
  createWorker(
    activities: object,
    options?: TestWorkerOptions,
  ): Promise<{ worker: Worker; taskQueue: string }>;
  teardown(): Promise<void>;
}

export type TestWorkerOptions = Partial<
  Pick<WorkerOptions, 'taskQueue' | 'shutdownGraceTime' | 'maxCachedWorkflows'>
>;

let runtimeReady = false;
let seq = 0;

export async function createWorkflowTestKit(): Promise<WorkflowTestKit> {
  if (!runtimeReady) {
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
    } catch {
      // Already installed by this process: keep it.
    }
    runtimeReady = true;
  }
  const env = await createTimeSkippingEnv();
  // The Java test server knows only the built-in search attributes; workflows upsert ours.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      ALL_SEARCH_ATTRIBUTE_KEYS.map((k) => [k.name, INDEXED_TYPE[k.type]]),
    ),
  });
  const bundle: WorkflowBundleWithSourceMap = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: new DefaultLogger('WARN'),
  });
  const createWorker = async (activities: object, options: TestWorkerOptions = {}) => {
    const taskQueue = options.taskQueue ?? `wf-test-${process.pid}-${++seq}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      workflowBundle: bundle,
      activities,
      ...options,
      taskQueue,
    });
    return { worker, taskQueue };
  };
  return {
    env,
    withWorker: async (activities, fn) => {
      const { worker, taskQueue } = await createWorker(activities);
      return worker.runUntil(fn(taskQueue));
    },
    createWorker,
    teardown: () => env.teardown(),
  };
}
