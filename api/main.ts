/**
 * A standalone API process, for deployments that scale the API apart from the workers
 * (`node --import tsx api/main.ts`). Needs DATABASE_URL and TEMPORAL_ADDRESS; never starts local servers.
 *
 *   node --import tsx api/main.ts           serve (SIGTERM: stop accepting, finish requests, close); at start-up
 *                                           it creates/updates the maintenance Schedules (partitions, backup,
 *                                           retention, timetable sync) so a split deployment needs no CronJobs
 *   node --import tsx api/main.ts migrate   apply pending migrations and exit (a Kubernetes initContainer;
 *                                           knex's migration lock makes concurrent replicas safe)
 */
import http from 'node:http';
import { assertSafeListenAddress, config } from '../lib/config';
import { createDb } from '../lib/db';
import { warmPrepared } from '../lib/preparedQuery';
import { DEVICE_AUTH_WARMUP } from './auth/device';
import { INGEST_WARMUP } from './attendance/service';
import { logger } from '../lib/logger';
import { migrateLatest } from '../lib/migrate';
import { connectClient } from '../lib/temporal/connection';
import { startMaintenance } from '../lib/temporal/maintenanceSchedules';
import { startOpsMetrics } from '../lib/opsMetrics';
import { appSettingsFrom, createApp } from './app';
import { settleTimetableSyncFollowUps } from './admin/schedules';

async function main(): Promise<void> {
  const cfg = config();
  const log = logger();
  // Before anything else: with the public development keys, only this machine may reach the API.
  try {
    assertSafeListenAddress(cfg);
  } catch (err) {
    log.fatal((err as Error).message);
    process.exit(2);
  }
  if (!cfg.DATABASE_URL) {
    log.fatal('a standalone API needs DATABASE_URL (npm start runs an all-in-one stack)');
    process.exit(2);
  }
  const db = createDb(cfg.DATABASE_URL, cfg.DB_POOL_MAX);
  if (process.argv[2] === 'migrate') {
    const applied = await migrateLatest(db);
    log.info({ applied }, 'migrations up to date');
    await db.destroy();
    return;
  }
  if (!cfg.TEMPORAL_ADDRESS) {
    log.fatal('a standalone API needs TEMPORAL_ADDRESS');
    process.exit(2);
  }
  const client = await connectClient(cfg, cfg.TEMPORAL_ADDRESS);
  if (cfg.MAINTENANCE_SCHEDULES) {
    // Idempotent create-or-update, so every replica may do it; a failure must not stop the API serving.
    try {
      log.info(await startMaintenance(client, cfg), 'maintenance schedules ready');
    } catch (err) {
      log.error({ err }, 'maintenance schedules could not be ensured; the next start retries');
    }
  }
  // Postgres and Temporal facts for /metrics (backups, WAL, devices, Schedules, task-queue backlog).
  startOpsMetrics({ db, temporal: client, taskQueues: [cfg.TEMPORAL_TASK_QUEUE], log });
  // Connections open and device statements planned before the first device request.
  await warmPrepared(db, [DEVICE_AUTH_WARMUP, ...INGEST_WARMUP], cfg.DB_POOL_MAX).catch((err: Error) =>
    log.warn({ err: err.message }, 'could not warm the database pool; the first requests will'),
  );
  const app = createApp({ db, temporal: client, log, ...appSettingsFrom(cfg) });
  const server = http.createServer(app);
  // Behind a load balancer: keep idle connections longer than its idle timeout (nginx: 60 s).
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.API_PORT, cfg.API_HOST, resolve);
  });
  log.info({ host: cfg.API_HOST, port: cfg.API_PORT }, 'api listening');

  const stop = async () => {
    log.info('api draining');
    await new Promise((r) => server.close(r));
    await settleTimetableSyncFollowUps();
    await client.connection.close();
    await db.destroy();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err) => {
  logger().fatal({ err }, 'api failed');
  process.exit(1);
});
