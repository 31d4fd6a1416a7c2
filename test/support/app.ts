/** A whole Rollcall (API + worker) on a test database and a test Temporal server. */
import type { Express } from 'express';
import type { Worker } from '@temporalio/worker';
import pino from 'pino';
import { createApp, type AppDeps } from '../../api/app';
import { createWorker, stopWorker } from '../../workers/worker';
import { startInboxRelay, type InboxRelay } from '../../workers/relay';
import type { SessionTimingSettings } from '../../activities/sessions';
import { createTestDatabase, startTestTemporal, type TestDatabase, type TestTemporal } from './stack';
import { settleTimetableSyncFollowUps } from '../../api/admin/schedules';

export interface TestRollcall {
  app: Express;
  database: TestDatabase;
  temporal: TestTemporal;
  taskQueue: string;
  worker: Worker;
  /** The inbox relay (as the worker process runs it): delivers what the API committed. */
  relay: InboxRelay;
  restartWorker(): Promise<void>;
  stop(): Promise<void>;
}

export const FAST_TIMING: SessionTimingSettings = {
  earlyMinutes: 15,
  graceMinutes: 10,
  amendMinutes: 60,
  flushMs: 200,
};

export async function startTestRollcall(
  timing: SessionTimingSettings = FAST_TIMING,
  opts: Pick<AppDeps, 'rateLimits' | 'now' | 'amendMinutes' | 'metricsToken' | 'trustProxy'> = {},
): Promise<TestRollcall> {
  const database = await createTestDatabase();
  const temporal = await startTestTemporal();
  const taskQueue = `rollcall-test-${process.pid}`;
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const newWorker = async () => {
    const worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: 'default',
      taskQueue,
      db: database.db,
      timing,
      // Test activities are short: a worker restart in a test cancels a slow one after 2 s, not 30.
      shutdownGraceSeconds: 2,
    });
    return { worker, running: worker.run() };
  };
  let current = await newWorker();
  const app = createApp({
    db: database.db,
    temporal: temporal.client,
    taskQueue,
    log,
    bodyLimit: '256kb',
    earlyMinutes: timing.earlyMinutes,
    graceMinutes: timing.graceMinutes,
    amendMinutes: timing.amendMinutes,
    ...opts,
  });
  const relay = startInboxRelay({
    db: database.db,
    temporal: temporal.client,
    taskQueue,
    log,
    earlyMinutes: timing.earlyMinutes,
    graceMinutes: timing.graceMinutes,
    listenUrl: database.url,
  });
  const handle: TestRollcall = {
    app,
    database,
    temporal,
    taskQueue,
    worker: current.worker,
    relay,
    restartWorker: async () => {
      await stopWorker(current.worker, current.running);
      current = await newWorker();
      handle.worker = current.worker;
    },
    stop: async () => {
      await relay.stop();
      await settleTimetableSyncFollowUps();
      await stopWorker(current.worker, current.running);
      await temporal.stop();
      await database.drop();
    },
  };
  return handle;
}

/** Polls until fn returns a truthy value or the time runs out (then fails with the last value). */
export async function eventually<T>(
  fn: () => Promise<T>,
  what: string,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
