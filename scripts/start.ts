/**
 * `npm start`: Postgres, Temporal (with Web UI), migrations + demo seed, the worker and the API in one
 * process tree; prints where everything is and stops it all on Ctrl-C.
 */
import http from 'node:http';
import { NativeConnection } from '@temporalio/worker';
import { assertSafeListenAddress, config } from '../lib/config';
import { createDb } from '../lib/db';
import { ensurePostgres, ensureTemporal } from '../lib/infra';
import { logger } from '../lib/logger';
import { migrateLatest } from '../lib/migrate';
import { connectClient, temporalConnectionOptions } from '../lib/temporal/connection';
import { appSettingsFrom, createApp } from '../api/app';
import { createWorker, installWorkerRuntime, sessionTimingFrom, stopWorker } from '../workers/worker';
import { DEMO_DEVICE_KEYS, DEMO_PASSWORD, seedDemoSchool } from '../migrations/seeds/demoSchool';
import { runEdgeDemo } from '../edge/demo';
import { repoRoot } from '../lib/paths';
import { runChecked } from '../lib/process';
import path from 'node:path';
import { syncTimetable } from '../workflows/syncTimetable';
import { startMaintenance } from '../lib/temporal/maintenanceSchedules';
import { startOpsMetrics } from '../lib/opsMetrics';
import { relayConfig, startInboxRelay } from '../workers/relay';

async function main(): Promise<void> {
  const cfg = config();
  const log = logger();
  const stops: (() => Promise<unknown>)[] = [];
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping…');
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log.warn({ err }, 'error while stopping');
      }
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  // npm start signs with the public development keys unless told otherwise: refuse a reachable address
  // before starting anything.
  try {
    assertSafeListenAddress(cfg);
  } catch (err) {
    process.stderr.write(`\n${(err as Error).message}\n\n`);
    process.exit(2);
  }
  try {
    const pg = await ensurePostgres(cfg, log);
    stops.push(pg.stop);
    const db = createDb(pg.url, cfg.DB_POOL_MAX);
    stops.push(() => db.destroy());
    const applied = await migrateLatest(db);
    log.info({ applied }, 'migrations up to date');
    const seed = cfg.DEMO_SEED ? await seedDemoSchool(db) : undefined;

    const temporal = await ensureTemporal(cfg, log);
    stops.push(temporal.stop);
    const client = await connectClient(cfg, temporal.address);
    stops.push(() => client.connection.close());
    installWorkerRuntime();
    const workerConnection = await NativeConnection.connect(temporalConnectionOptions(cfg, temporal.address));
    stops.push(() => workerConnection.close());
    const worker = await createWorker({
      connection: workerConnection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      taskQueue: cfg.TEMPORAL_TASK_QUEUE,
      db,
      timing: sessionTimingFrom(cfg),
    });
    const workerRun = worker.run();
    stops.push(() => stopWorker(worker, workerRun));
    workerRun.catch((err) => {
      log.fatal({ err }, 'worker failed');
      void shutdown(1);
    });

    // The inbox relay: delivers what the API committed to recognition_events to the session workflows.
    const relay = startInboxRelay({
      db,
      temporal: client,
      log,
      listenUrl: pg.url,
      ...relayConfig(cfg),
    });
    stops.push(() => relay.stop());

    // One Temporal Schedule per timetable row, reconciled now (and whenever the timetable changes).
    const synced = await client.workflow.execute(syncTimetable, {
      workflowId: 'timetable:sync',
      taskQueue: cfg.TEMPORAL_TASK_QUEUE,
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    log.info(
      { created: synced.created.length, updated: synced.updated.length, deleted: synced.deleted.length },
      'timetable synced',
    );

    // maintenance:partitions (monthly) and maintenance:backup (daily); partitions also once now (deploy).
    if (cfg.MAINTENANCE_SCHEDULES) {
      log.info(await startMaintenance(client, cfg), 'maintenance schedules ready');
    }

    startOpsMetrics({ db, temporal: client, taskQueues: [cfg.TEMPORAL_TASK_QUEUE], log });
    const app = createApp({ db, temporal: client, log, ...appSettingsFrom(cfg) });
    const server = http.createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(cfg.API_PORT, cfg.API_HOST, resolve);
    });
    stops.push(() => new Promise((r) => server.close(r)));

    const api = `http://${cfg.API_HOST}:${cfg.API_PORT}`;
    const lines = [
      '',
      'Rollcall is ready.',
      `  API           ${api}   (health: ${api}/health/ready)`,
      `  Temporal UI   ${temporal.uiUrl ? `${temporal.uiUrl}   (no authentication: this machine only)` : '(external cluster: see your Temporal UI)'}`,
      `  Temporal gRPC ${temporal.address}   namespace ${cfg.TEMPORAL_NAMESPACE}, task queue ${cfg.TEMPORAL_TASK_QUEUE}`,
      `  Postgres      ${pg.local ? pg.url : '(DATABASE_URL)'}`,
    ];
    if (seed) {
      lines.push(
        `  Demo: device pi-r100 (key ${DEMO_DEVICE_KEYS['pi-r100']}) is in room R100, where course DEMO100 runs now`,
        `        (schedule ${seed.nowScheduleId}). Try the curl lines in the README's quick start.`,
      );
    }
    if (seed && cfg.EDGE_DEMO) {
      lines.push(
        '  A simulated Pi (pi-r100) is enrolling demo faces and will mark them in R100: see [edge-demo] lines,',
      );
      lines.push(`  then ${api}/api/v1/attendance/course/DEMO100 (admin@demo.school / ${DEMO_PASSWORD}).`);
    }
    lines.push('Press Ctrl-C to stop.', '');
    process.stdout.write(lines.join('\n') + '\n');
    log.info({ api, temporalUi: temporal.uiUrl }, 'ready');
    if (seed && cfg.EDGE_DEMO) {
      // The face models and the public demo photos (PyPI's face_recognition sdist) are prepared first. The
      // stack stays up if the demo cannot run (say, PyPI unreachable): it is a showcase, not a dependency.
      try {
        await runChecked(
          process.execPath,
          ['--import', 'tsx', path.join(repoRoot, 'scripts', 'setup-models.ts'), '--faces'],
          {
            cwd: repoRoot,
          },
        );
        const demo = await runEdgeDemo({ apiBaseUrl: api });
        stops.push(() => demo.stop());
      } catch (err) {
        log.warn({ err }, 'the simulated Pi could not start; the stack runs without it');
      }
    }
  } catch (err) {
    log.fatal({ err }, 'start-up failed');
    await shutdown(1);
  }
}

void main();
