/**
 * `npm run bench:herd` — the 9 AM herd: N simulated Pis (each its own device key and room, a class starting
 * at once) post 10-record batches as fast as the system accepts for a fixed time, against the real stack
 * (local Postgres, Temporal dev server, worker, inbox relay and API in this process, load over HTTP on
 * loopback).
 *
 *   npm run bench:herd -- --devices 100 --seconds 30 --batch 10            (closed loop: as fast as accepted)
 *   npm run bench:herd -- --devices 100 --seconds 30 --rate 10000          (open loop: 10,000 requests/min)
 *   npm run bench:herd -- --stack cluster                                  (production-shaped: Temporal server
 *        on Postgres built from the Go module proxy; API, relay and worker as separate processes)
 *   npm run bench:herd -- --stack cluster --warmup 15                        (another herd first, not measured:
 *        the API and Postgres meet the measured one warm)
 *   npm run bench:herd -- --stack cluster --api-replicas 1                   (API processes; default 2, as deployed)
 *   npm run bench:herd -- --stack cluster --coalesce-ms 15000                (the relay's RELAY_COALESCE_MS)
 *   npm run bench:herd -- --stack cluster --priority equal                   (delivery side not in the background)
 *   npm run bench:herd -- --stack inbox                                      (the 202 path alone: API and Postgres)
 *   npm run bench:herd -- --pg-stats                                         (the statements that cost Postgres most)
 *   npm run bench:herd -- --stack cluster --cpu-prof DIR                   (V8 CPU profiles of the API, relay
 *        and worker processes into DIR, written when they stop; open them in Chrome DevTools)
 *
 * Prints batches/min, latency to 202 (P50/P95/P99), errors, time until every first sighting is a mark in
 * Postgres, marks lost / duplicated, receive → delivered (inbox relay) and receive → mark latency.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { config } from '../lib/config';
import { createDb, dropDatabase, ensureDatabase } from '../lib/db';
import { migrateLatest } from '../lib/migrate';
import { startLocalPostgres, type LocalPostgres } from '../lib/postgres';
import { freePort } from '../lib/process';
import { resolveTemporalCli } from '../lib/temporal/cli';
import { startDevServer } from '../lib/temporal/devServer';
import { createApp } from '../api/app';
import { createWorker, installWorkerRuntime, stopWorker } from '../workers/worker';
import { startInboxRelay } from '../workers/relay';
import { metricsRegistry } from '../lib/metrics';
import { seedHerd, zoneKeepingOneDate } from './lib/herdSeed';
import { startClusterStack } from './lib/clusterStack';
import { cpuDelta, machineBusyMs, sampleCpu, type CpuGroup } from './lib/cpuMeter';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** The relay's signal and delivery counters from a Prometheus text exposition. */
function relayCounts(text: string) {
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  const outcome = (o: string) =>
    value(new RegExp(`^rollcall_inbox_deliveries_total\\{[^}]*outcome="${o}"[^}]*\\} (\\S+)$`, 'm'));
  return {
    signals: value(/^rollcall_inbox_signals_total(?:\{[^}]*\})? (\S+)$/m),
    signalled: outcome('signalled'),
    redundant: outcome('redundant'),
    amended: outcome('amended'),
    deliveryLag: histogramQuantiles(text, 'rollcall_inbox_delivery_lag_seconds', [0.5, 0.95, 0.99]),
  };
}

/**
 * Quantiles of a Prometheus histogram in exposition text, as `histogram_quantile` computes them (linear
 * within the bucket), or undefined when it has no observation.
 */
function histogramQuantiles(text: string, name: string, qs: number[]): number[] | undefined {
  const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} (\\S+)$`, 'gm'))]
    .map((m) => ({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), n: Number(m[2]) }))
    .sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.n ?? 0;
  if (total === 0) return undefined;
  return qs.map((q) => {
    const rank = q * total;
    const i = buckets.findIndex((b) => b.n >= rank);
    const lower = i > 0 ? buckets[i - 1] : { le: 0, n: 0 };
    const upper = buckets[i];
    if (upper.le === Infinity) return lower.le;
    return lower.le + ((upper.le - lower.le) * (rank - lower.n)) / Math.max(1, upper.n - lower.n);
  });
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

async function main(): Promise<void> {
  const devices = arg('devices', 100);
  const seconds = arg('seconds', 30);
  const batchSize = arg('batch', 10);
  const rate = arg('rate', 0);
  const coalesceMs = process.argv.includes('--coalesce-ms') ? arg('coalesce-ms', 5000) : undefined;
  // --api-replicas N: API processes of the cluster stack (default 2, the deployment's minimum), devices
  // spread over them as a load balancer does.
  const apiReplicas = arg('api-replicas', 2);
  const stackAt = process.argv.indexOf('--stack');
  const stack = stackAt > 0 ? process.argv[stackAt + 1] : 'dev';
  if (stack !== 'dev' && stack !== 'cluster' && stack !== 'inbox')
    throw new Error(`--stack ${stack}: dev, cluster or inbox`);
  // --priority ingest (the cluster stack's default): the API and Rollcall's Postgres at normal priority, the
  // delivery side (Temporal server, its Postgres, worker, relay) in the background (SCHED_IDLE, nice 19: CPU
  // nothing else wants), as CPU requests and cgroup cpu.idle would rank them in a cluster; --priority equal:
  // everything at the same priority.
  const priorityAt = process.argv.indexOf('--priority');
  const priority = priorityAt > 0 ? process.argv[priorityAt + 1] : 'ingest';
  if (priority !== 'ingest' && priority !== 'equal')
    throw new Error(`--priority ${priority}: ingest or equal`);
  const deliveryInBackground = stack === 'cluster' && priority === 'ingest';
  if (coalesceMs !== undefined && stack !== 'cluster')
    throw new Error('--coalesce-ms sets the cluster relay');
  const profAt = process.argv.indexOf('--cpu-prof');
  const profileDir = profAt > 0 ? path.resolve(process.argv[profAt + 1]) : undefined;
  if (profileDir && stack !== 'cluster') throw new Error("--cpu-prof profiles the cluster stack's processes");
  const studentsPerClass = 50;
  const cfg = config();
  const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);

  // --pg-stats: the statements that cost Postgres most during load + drain (pg_stat_statements).
  const pgStats = process.argv.includes('--pg-stats');
  const pg = await startLocalPostgres({
    dataDir: path.join(cfg.ROLLCALL_DATA_DIR, 'bench-postgres'),
    port: await freePort(),
    settings: pgStats
      ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' }
      : {},
  });
  const dbName = `bench_${Date.now()}`;
  await ensureDatabase(pg.adminUrl, dbName);
  const db = createDb(pg.urlFor(dbName), 20);
  await migrateLatest(db);
  const cli = await resolveTemporalCli({
    cacheDir: cfg.ROLLCALL_CACHE_DIR,
    version: cfg.TEMPORAL_CLI_VERSION,
    explicitPath: cfg.TEMPORAL_CLI_PATH,
  });
  say(`seeding ${devices} rooms × ${studentsPerClass} students`);
  const start = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000);
  const end = new Date(start.getTime() + 60 * 60_000);
  /** `devices` rooms with a class now; `ids` names them apart from another herd's. */
  const seedRooms = (ids: { prefix?: string; devicePrefix?: string } = {}) =>
    seedHerd(db, {
      rooms: devices,
      studentsPerClass,
      start,
      end,
      lateAfterMinutes: 10,
      timezone: zoneKeepingOneDate(start, end),
      ...ids,
    });
  const keys = await seedRooms();
  // --warmup S: other rooms' classes (an earlier herd) send for S seconds first, so the API processes and
  // Postgres meet the measured herd warm, as at 9 AM after a morning of classes; their answers are not measured
  // (their events are checked for loss and duplicates like the rest).
  const warmupSeconds = arg('warmup', 0);
  const warmKeys = warmupSeconds > 0 ? await seedRooms({ prefix: 'W', devicePrefix: 'warm' }) : [];

  const taskQueue = 'bench';
  let temporalPg: LocalPostgres | undefined;
  const started =
    stack === 'cluster' ? await clusterStack() : stack === 'inbox' ? await inboxStack() : await devStack();
  const ports = started.ports;

  /** The API in this process, on a free loopback port. */
  async function serveApi(client: Client): Promise<http.Server> {
    const app = createApp({
      db,
      temporal: client,
      taskQueue,
      log: pino({ level: 'silent' }),
      bodyLimit: '256kb',
      earlyMinutes: 15,
      graceMinutes: 10,
      // As on the cluster stack: the bench measures capacity, not the per-device limit.
      rateLimits: { devicePerMinute: 100_000, loginPerMinute: cfg.RATE_LIMIT_LOGIN_PER_MINUTE },
    });
    const httpServer = http.createServer(app);
    // As api/main.ts: idle keep-alive connections outlive the clients' pauses (an open-loop device waits
    // 6 s between batches at 1,000/min; Node's 5 s default closes the socket under its next request).
    httpServer.keepAliveTimeout = 65_000;
    httpServer.listen(0, '127.0.0.1');
    await new Promise((r) => httpServer.once('listening', r));
    return httpServer;
  }

  /** Temporal dev server (SQLite); worker, relay and API in this process. */
  async function devStack() {
    const server = await startDevServer({ cliPath: cli, port: await freePort(), namespace: 'default' });
    installWorkerRuntime();
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const native = await NativeConnection.connect({ address: server.address });
    const worker = await createWorker({
      connection: native,
      namespace: 'default',
      taskQueue,
      db,
      timing: { earlyMinutes: 15, graceMinutes: 10, amendMinutes: 60, flushMs: 2000 },
    });
    const running = worker.run();
    const relay = startInboxRelay({
      db,
      temporal: client,
      taskQueue,
      log: pino({ level: 'warn' }),
      earlyMinutes: 15,
      graceMinutes: 10,
      listenUrl: pg.urlFor(dbName),
    });
    const httpServer = await serveApi(client);
    return {
      ports: [(httpServer.address() as AddressInfo).port],
      processes: [
        { name: 'bench process (API, relay, worker, herd client)', pid: process.pid },
        { name: 'temporal', pid: server.process.pid! },
      ],
      relayMetrics: () => metricsRegistry.metrics(),
      stop: async () => {
        httpServer.close();
        await relay.stop();
        await stopWorker(worker, running);
        await native.close();
        await connection.close();
        await server.stop();
      },
    };
  }

  /**
   * The 202 path alone: the API in this process and Postgres, no relay, worker or Temporal (nothing is
   * delivered: the inbox fills). What accepting a batch costs, apart from delivering it.
   */
  async function inboxStack() {
    const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    const httpServer = await serveApi(client);
    return {
      ports: [(httpServer.address() as AddressInfo).port],
      processes: [{ name: 'bench process (API, herd client)', pid: process.pid }],
      relayMetrics: async () => '',
      stop: async () => {
        httpServer.close();
        await client.connection.close();
      },
    };
  }

  /** Temporal server on this Postgres; API, relay and worker as their own processes. */
  async function clusterStack() {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-cluster-'));
    const relayMetricsPort = await freePort();
    // Temporal's databases on a Postgres server of their own, as in a production deployment.
    temporalPg = await startLocalPostgres({
      dataDir: path.join(cfg.ROLLCALL_DATA_DIR, 'bench-temporal-postgres'),
      port: await freePort(),
      background: deliveryInBackground,
    });
    const cluster = await startClusterStack({
      pg,
      temporalPg,
      background: {
        temporal: deliveryInBackground,
        worker: deliveryInBackground,
        relay: deliveryInBackground,
      },
      appDatabase: dbName,
      apiReplicas,
      cacheDir: cfg.ROLLCALL_CACHE_DIR,
      workDir,
      cliPath: cli,
      taskQueue,
      // The bench measures capacity, not the per-device limit (100/min in production).
      env: {
        RATE_LIMIT_DEVICE_PER_MINUTE: '100000',
        SESSION_EARLY_MINUTES: '15',
        SESSION_GRACE_MINUTES: '10',
        SESSION_AMEND_HOURS: '1',
        ATTENDANCE_FLUSH_SECONDS: '2',
        RELAY_METRICS_PORT: String(relayMetricsPort),
        // --coalesce-ms: the relay's RELAY_COALESCE_MS (its default unless given).
        ...(coalesceMs !== undefined ? { RELAY_COALESCE_MS: String(coalesceMs) } : {}),
      },
      nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : undefined,
      log: say,
    });
    say(`cluster up (logs: ${cluster.logs.join(', ')})`);
    return {
      ports: cluster.apiUrls.map((u) => Number(new URL(u).port)),
      processes: [{ name: 'herd client (bench process)', pid: process.pid }, ...cluster.processes],
      relayMetrics: async () => (await fetch(`http://127.0.0.1:${relayMetricsPort}/metrics`)).text(),
      stop: cluster.stop,
    };
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: devices });
  // CPU per process over load + drain: what one batch costs each part of the stack, whatever else runs.
  const postmasterPid = Number(
    fs.readFileSync(path.join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0],
  );
  const cpuGroups: CpuGroup[] = [
    ...started.processes,
    ...(temporalPg
      ? [
          {
            name: 'postgres (Temporal databases)',
            pid: Number(
              fs.readFileSync(path.join(temporalPg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0],
            ),
          },
        ]
      : []),
    {
      // Rollcall's own connections are counted with the server: a backend that exits (an idle pooled
      // connection closed after the load) hands its CPU time to the postmaster, so they cannot be told apart.
      name: 'postgres (Rollcall database, server)',
      pid: postmasterPid,
      // A backend's command line: `postgres: <user> <database> <client> <state>`.
      classify: (cmdline) => {
        const database = /^postgres: \S+ (\S+) /.exec(cmdline)?.[1];
        return database?.startsWith(`${dbName}_temporal`) ? 'postgres (Temporal databases)' : undefined;
      },
    },
  ];
  if (pgStats) {
    await db.raw('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  }

  const post = (body: string, key: string, port: number) =>
    new Promise<number>((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/api/v1/attendance',
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${key}`,
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });

  const statuses = new Map<number, number>();
  const firstSightings = new Set<string>();
  let records = 0;
  const acceptedEvents: string[] = [];
  // Open loop (--rate, requests/min over all devices): each device sends on its own paced clock, so latency
  // is measured at an offered load rather than as fast as the server answers (closed loop, the default).
  const intervalMs = rate > 0 ? (devices * 60_000) / rate : 0;
  /** `herd` sends for `forSeconds`; each answer's latency goes to `measured` (when given) with its send time. */
  const drive = (
    herd: typeof keys,
    forSeconds: number,
    measured?: (ms: number, sentAt: number) => void,
  ): Promise<void> => {
    const deadline = Date.now() + forSeconds * 1000;
    return Promise.all(
      herd.map(async (d, i) => {
        let next = Date.now() + (intervalMs * i) / devices;
        while (Date.now() < deadline) {
          if (intervalMs > 0) {
            await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
            next += intervalMs;
            if (Date.now() >= deadline) break;
          }
          const batch = Array.from({ length: batchSize }, () => {
            const s = d.students[Math.floor(Math.random() * d.students.length)];
            return {
              event_id: crypto.randomUUID(),
              student_id: s,
              timestamp: new Date().toISOString(),
              confidence: 0.9,
            };
          });
          const sentAt = Date.now();
          const started = process.hrtime.bigint();
          const status = await post(
            JSON.stringify({ device_id: d.deviceId, records: batch }),
            d.key,
            ports[i % ports.length]!,
          );
          measured?.(Number(process.hrtime.bigint() - started) / 1e6, sentAt);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status === 202) {
            records += batch.length;
            for (const r of batch) acceptedEvents.push(r.event_id);
            for (const r of batch) firstSightings.add(r.student_id);
          }
        }
      }),
    ).then(() => undefined);
  };
  if (warmupSeconds > 0) {
    say(`warm-up: ${devices} other rooms for ${warmupSeconds} s`);
    await drive(warmKeys, warmupSeconds);
    // Answers and records counted from here are the measured herd's; its events and marks are checked with
    // the warm-up's.
    statuses.clear();
    records = 0;
  }
  if (pgStats) await db.raw('SELECT pg_stat_statements_reset()');
  const cpuBefore = sampleCpu(cpuGroups);
  const machineBefore = machineBusyMs();

  say(`load: ${devices} devices, ${batchSize}-record batches, ${seconds} s`);
  const latencies: number[] = [];
  /** Per 5 s of the load: the latencies of requests sent then (where in the herd the slow answers are). */
  const slices: number[][] = [];
  const t0 = Date.now();
  // Steady state: the last two thirds of the load, once every session is open and most first sightings are
  // marks (the whole run also carries those one-off costs), up to the end of the load.
  let steady: { cpu: Map<string, number>; requests: number } | undefined;
  const steadyTimer = setTimeout(
    () => (steady = { cpu: sampleCpu(cpuGroups), requests: latencies.length }),
    (seconds * 1000) / 3,
  );
  // CPU cores each group used in each 5 s of the load (which part of the stack the slow slices compete with).
  const sliceCpu: Map<string, number>[] = [];
  let lastSlice = sampleCpu(cpuGroups);
  const sliceTimer = setInterval(() => {
    const now = sampleCpu(cpuGroups);
    sliceCpu.push(new Map(cpuDelta(lastSlice, now).map(([name, ms]) => [name, ms / 5000])));
    lastSlice = now;
  }, 5000);
  await drive(keys, seconds, (ms, sentAt) => {
    latencies.push(ms);
    (slices[Math.floor((sentAt - t0) / 5000)] ??= []).push(ms);
  });
  const loadMs = Date.now() - t0;
  clearTimeout(steadyTimer);
  clearInterval(sliceTimer);
  const steadyCpu = steady && cpuDelta(steady.cpu, sampleCpu(cpuGroups));
  const steadyRequests = steady ? latencies.length - steady.requests : 0;
  const drainStart = Date.now();
  let marks = 0;
  while (stack !== 'inbox' && Date.now() - drainStart < 120_000) {
    marks = (await db('attendance_logs').count<{ n: number }[]>('* as n'))[0].n;
    const undelivered = (await db('inbox_pending').count<{ n: number }[]>('* as n'))[0].n;
    if (marks >= firstSightings.size && Number(undelivered) === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const drainMs = Date.now() - drainStart;
  const cpu = cpuDelta(cpuBefore, sampleCpu(cpuGroups));
  const machineMs = machineBusyMs() - machineBefore;
  // Every event answered 202 must be in the inbox and delivered (no longer queued).
  const inbox = (
    await db.raw(
      `SELECT count(e.event_id)::int AS stored, (count(e.event_id) - count(p.event_id))::int AS delivered
         FROM unnest(?::text[]) AS a(event_id) LEFT JOIN recognition_events e ON e.event_id = a.event_id
         LEFT JOIN inbox_pending p ON p.event_id = a.event_id AND p.session_id = e.session_id`,
      [acceptedEvents],
    )
  ).rows[0] as { stored: number; delivered: number };
  // The relay's own counters (its /metrics on the cluster stack, this process's registry on the dev stack).
  const relay = relayCounts(await started.relayMetrics());
  const dup = (
    await db.raw(
      'SELECT count(*)::int AS n FROM (SELECT 1 FROM attendance_logs GROUP BY session_id, student_id HAVING count(*) > 1) d',
    )
  ).rows[0].n;
  const lagRows = (
    await db.raw(`SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM a.recorded_at - e.received_at)) AS p
                    FROM attendance_logs a JOIN recognition_events e ON e.event_id = a.event_id`)
  ).rows[0].p as number[] | null;

  const sorted = latencies.sort((a, b) => a - b);
  const total = latencies.length;
  const ok = statuses.get(202) ?? 0;
  const rows: [string, string][] = [
    ['machine', `${os.cpus().length} cores`],
    [
      'stack',
      stack === 'cluster'
        ? `Temporal server on Postgres; API (${apiReplicas} replica${apiReplicas === 1 ? '' : 's'}), relay, worker as separate processes`
        : 'Temporal dev server (SQLite); API, relay, worker in one process',
    ],
    ...(stack === 'cluster'
      ? ([
          [
            'CPU priority',
            deliveryInBackground
              ? 'ingest first: API and its Postgres at normal priority; Temporal server, its Postgres, worker, relay in the background (SCHED_IDLE, nice 19)'
              : 'equal',
          ],
        ] as [string, string][])
      : []),
    ['devices (rooms, concurrent clients)', String(devices)],
    ['mode', rate > 0 ? `open loop, offered ${rate} requests/min` : 'closed loop (as fast as accepted)'],
    ['duration', `${(loadMs / 1000).toFixed(1)} s`],
    ...(warmupSeconds > 0
      ? ([['warm-up (not measured)', `${devices} other rooms, ${warmupSeconds} s before, same rate`]] as [
          string,
          string,
        ][])
      : []),
    ['requests', String(total)],
    ['batches (requests)/min', ((total / loadMs) * 60_000).toFixed(0)],
    ['records/min accepted', ((records / loadMs) * 60_000).toFixed(0)],
    [
      'latency to 202 P50 / P95 / P99',
      `${pct(sorted, 50).toFixed(1)} / ${pct(sorted, 95).toFixed(1)} / ${pct(sorted, 99).toFixed(1)} ms`,
    ],
    [
      'latency to 202 P95 by 5 s of load',
      [...slices]
        .map((x) =>
          x
            ? pct(
                x.sort((a, b) => a - b),
                95,
              ).toFixed(0)
            : '–',
        )
        .join(' / ') + ' ms',
    ],
    ...[...new Set(sliceCpu.flatMap((m) => [...m.keys()]))].map((name): [string, string] => [
      `cores used by 5 s of load: ${name}`,
      sliceCpu.map((m) => (m.get(name) ?? 0).toFixed(2)).join(' / '),
    ]),
    ['success (202)', `${((100 * ok) / total).toFixed(3)} %`],
    ['other statuses', JSON.stringify(Object.fromEntries([...statuses].filter(([s]) => s !== 202)))],
    ['first sightings (expected marks)', String(firstSightings.size)],
    ['marks in Postgres', String(marks)],
    ['time after load until every mark is in Postgres', `${(drainMs / 1000).toFixed(1)} s`],
    [
      'events answered 202 / in the inbox / delivered',
      `${acceptedEvents.length} / ${inbox.stored} / ${inbox.delivered}`,
    ],
    [
      'recognitions signals',
      `${relay.signals} (${(total / Math.max(1, relay.signals)).toFixed(1)} batches a signal)`,
    ],
    [
      'sightings signalled / redundant (delivered without a signal) / amended',
      `${relay.signalled} / ${relay.redundant} / ${relay.amended}`,
    ],
    ['marks lost', String(Math.max(0, firstSightings.size - marks))],
    ['marks duplicated', String(dup)],
    [
      "receive → delivered to the workflow P50 / P95 / P99 (the relay's histogram, interpolated)",
      relay.deliveryLag ? relay.deliveryLag.map((v) => `${(v * 1000).toFixed(0)} ms`).join(' / ') : 'n/a',
    ],
    [
      'receive → mark P50 / P95 / P99',
      lagRows ? lagRows.map((v) => `${(v * 1000).toFixed(0)} ms`).join(' / ') : 'n/a',
    ],
    ['RSS', `${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`],
    ...cpu
      .filter(([, ms]) => ms > 0)
      .map(([name, ms]): [string, string] => [
        `CPU per batch, load + drain: ${name}`,
        `${(ms / total).toFixed(2)} ms (${(ms / 1000).toFixed(1)} s)`,
      ]),
    [
      'CPU per batch, load + drain: all of the above',
      `${(cpu.reduce((a, [, ms]) => a + ms, 0) / total).toFixed(2)} ms`,
    ],
    ...(steadyCpu && steadyRequests > 0
      ? steadyCpu
          .filter(([, ms]) => ms > 0)
          .map(([name, ms]): [string, string] => [
            `CPU per batch, steady load: ${name}`,
            `${(ms / steadyRequests).toFixed(2)} ms`,
          ])
      : []),
    [
      'CPU per batch, steady load: all of the above',
      steadyCpu && steadyRequests > 0
        ? `${(steadyCpu.reduce((a, [, ms]) => a + ms, 0) / steadyRequests).toFixed(2)} ms (${steadyRequests} batches)`
        : 'n/a',
    ],
    [
      'machine busy during load + drain (ours and everything else)',
      `${(machineMs / 1000).toFixed(1)} CPU-s of ${(((loadMs + drainMs) / 1000) * os.cpus().length).toFixed(1)}`,
    ],
  ];
  process.stdout.write(
    `\n| metric | value |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`,
  );
  if (pgStats) {
    // Every database of the server (Rollcall's and Temporal's), by execution time; per batch answered.
    const top: { db: string; calls: number; ms: number; query: string }[] = (
      await db.raw(
        `SELECT d.datname AS db, s.calls::int AS calls, s.total_exec_time AS ms,
                left(regexp_replace(s.query, '\\s+', ' ', 'g'), 110) AS query
           FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
          ORDER BY s.total_exec_time DESC LIMIT 25`,
      )
    ).rows;
    process.stdout.write(
      `\n| database | calls | exec ms per batch | ms per call | statement |\n|---|---|---|---|---|\n${top
        .map(
          (t) =>
            `| ${t.db === dbName ? 'rollcall' : t.db.replace(dbName, '')} | ${t.calls} | ${(t.ms / total).toFixed(3)} | ${(t.ms / t.calls).toFixed(3)} | \`${t.query.replace(/\|/g, '\\|')}\` |`,
        )
        .join('\n')}\n`,
    );
  }

  agent.destroy();
  await started.stop();
  await db.destroy();
  // Each run's database goes with it: left behind, their autovacuum ran in the next runs' Postgres time.
  await dropDatabase(pg.adminUrl, dbName);
  await pg.stop();
  await temporalPg?.stop();
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
