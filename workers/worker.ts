import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities, type ActivityDeps } from '../activities';
import { config } from '../lib/config';
import type { SessionTimingSettings } from '../activities/sessions';

/** The connection, plus every activity dependency (settings left out are read from config). */
export interface WorkerDeps extends ActivityDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  log?: Logger;
  /** How long activities in flight at shutdown may run on before they are cancelled; config's when omitted. */
  shutdownGraceSeconds?: number;
}

let runtimeInstalled = false;
/**
 * The SDK's runtime: quiet (warnings and up), and without its own signal handlers, because each entrypoint
 * owns its shutdown order (stop taking work, drain, then close connections).
 */
export function installWorkerRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  } catch (err) {
    // Already instantiated (a connection was made first, or a test installed its own): keep that one.
    if ((err as Error).name !== 'IllegalStateError') throw err;
  }
}

/**
 * Stops polling, waits for in-flight tasks to finish (activities: up to the worker's shutdown grace time, then
 * they are cancelled), resolves when the worker has released its connection.
 */
export async function stopWorker(worker: Worker, running: Promise<void>): Promise<void> {
  if (worker.getState() === 'RUNNING') worker.shutdown();
  await running;
}

/** The one Rollcall worker: all workflows (bundled from workflows/index.ts) and all activities. */
export async function createWorker(deps: WorkerDeps): Promise<Worker> {
  installWorkerRuntime();
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities(deps),
    // The SDK's default (0) cancels activities the moment shutdown starts, so every deploy would cut short
    // whatever backup, restore or enrollment was running and make Temporal retry it from the start.
    shutdownGraceTime: (deps.shutdownGraceSeconds ?? config().WORKER_SHUTDOWN_GRACE_SECONDS) * 1000,
  });
}

export function sessionTimingFrom(cfg: {
  SESSION_EARLY_MINUTES: number;
  SESSION_GRACE_MINUTES: number;
  SESSION_AMEND_HOURS: number;
  ATTENDANCE_FLUSH_SECONDS: number;
}): SessionTimingSettings {
  return {
    earlyMinutes: cfg.SESSION_EARLY_MINUTES,
    graceMinutes: cfg.SESSION_GRACE_MINUTES,
    amendMinutes: Math.round(cfg.SESSION_AMEND_HOURS * 60),
    flushMs: Math.round(cfg.ATTENDANCE_FLUSH_SECONDS * 1000),
  };
}
