/**
 * A standalone worker process, for deployments that scale workers apart from the API
 * (`node --import tsx workers/main.ts`). Needs DATABASE_URL and TEMPORAL_ADDRESS.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { config } from '../lib/config';
import { createDb } from '../lib/db';
import { logger } from '../lib/logger';
import { serveMetrics } from '../lib/metrics';
import { temporalConnectionOptions } from '../lib/temporal/connection';
import { createWorker, installWorkerRuntime, sessionTimingFrom, stopWorker } from './worker';
import { relayConfig, startInboxRelay } from './relay';

async function main(): Promise<void> {
  const cfg = config();
  const log = logger();
  if (!cfg.DATABASE_URL || !cfg.TEMPORAL_ADDRESS) {
    log.fatal(
      'a standalone worker needs DATABASE_URL and TEMPORAL_ADDRESS (npm start runs an all-in-one stack)',
    );
    process.exit(2);
  }
  installWorkerRuntime();
  const db = createDb(cfg.DATABASE_URL, cfg.DB_POOL_MAX);
  const connection = await NativeConnection.connect(temporalConnectionOptions(cfg, cfg.TEMPORAL_ADDRESS));
  const worker = await createWorker({
    connection,
    namespace: cfg.TEMPORAL_NAMESPACE,
    taskQueue: cfg.TEMPORAL_TASK_QUEUE,
    db,
    timing: sessionTimingFrom(cfg),
  });
  const running = worker.run();
  // The inbox relay beside the worker (RELAY_IN_WORKER), unless relays run as their own processes.
  const relayClient = cfg.RELAY_IN_WORKER
    ? new Client({
        connection: Connection.lazy(temporalConnectionOptions(cfg, cfg.TEMPORAL_ADDRESS)),
        namespace: cfg.TEMPORAL_NAMESPACE,
      })
    : undefined;
  const relay =
    relayClient &&
    startInboxRelay({
      db,
      temporal: relayClient,
      log,
      listenUrl: cfg.DATABASE_URL_DIRECT ?? cfg.DATABASE_URL,
      ...relayConfig(cfg),
    });
  // Device-status and backup metrics are set by activities, so a worker apart from the API exposes its own.
  const metricsServer =
    cfg.WORKER_METRICS_PORT > 0 ? await serveMetrics(cfg.WORKER_METRICS_PORT, cfg.METRICS_TOKEN) : undefined;
  const stop = async () => {
    log.info('worker draining');
    metricsServer?.close();
    await relay?.stop();
    await relayClient?.connection.close();
    await stopWorker(worker, running);
    await connection.close();
    await db.destroy();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  log.info({ taskQueue: cfg.TEMPORAL_TASK_QUEUE }, 'worker running');
  await running;
}

main().catch((err) => {
  logger().fatal({ err }, 'worker failed');
  process.exit(1);
});
