/**
 * Every Prometheus metric Rollcall exposes, in one registry. Activities (worker process) and the API set
 * them; GET /metrics (api/metrics/routes.ts) serves the registry of the process it runs in. `npm start`
 * runs worker and API in one process, so one scrape sees everything; in a split deployment each process
 * has its own registry: scrape the API for request/heartbeat metrics and expose the worker's registry
 * (serveMetrics in workers) for device-status and backup metrics.
 */
import http from 'node:http';
import { metricsAccess, metricsRequestOf } from './metricsAccess';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const metricsRegistry = new Registry();
metricsRegistry.setDefaultLabels({ service: 'rollcall' });
collectDefaultMetrics({ register: metricsRegistry, prefix: 'rollcall_process_' });

export const deviceOffline = new Gauge({
  name: 'rollcall_device_offline',
  help: '1 while a device is offline (no heartbeat within the offline limit), else 0',
  labelNames: ['device', 'room'] as const,
  registers: [metricsRegistry],
});

export const deviceCpuTemp = new Gauge({
  name: 'rollcall_device_cpu_temp_celsius',
  help: 'CPU temperature a device reported in its last heartbeat',
  labelNames: ['device'] as const,
  registers: [metricsRegistry],
});

export const deviceQueueDepth = new Gauge({
  name: 'rollcall_device_queue_depth',
  help: 'Recognitions waiting in a device outbox at its last heartbeat',
  labelNames: ['device'] as const,
  registers: [metricsRegistry],
});

export const deviceClockOffset = new Gauge({
  name: 'rollcall_device_clock_offset_seconds',
  help: "How far a device's clock was ahead of the server's at its last heartbeat (negative: behind); the device corrects its timestamps by it",
  labelNames: ['device'] as const,
  registers: [metricsRegistry],
});

export const deviceDeadLetters = new Gauge({
  name: 'rollcall_device_dead_letters',
  help: "Records in a device's dead-letter file (rejected by the server, never retried) at its last heartbeat",
  labelNames: ['device'] as const,
  registers: [metricsRegistry],
});

export const deviceLastHeartbeat = new Gauge({
  name: 'rollcall_device_last_heartbeat_timestamp_seconds',
  help: 'Unix time of the last heartbeat the API accepted from a device',
  labelNames: ['device'] as const,
  registers: [metricsRegistry],
});

export const deviceAlerts = new Counter({
  name: 'rollcall_device_alerts_total',
  help: 'Device alerts raised and resolved',
  labelNames: ['kind', 'state'] as const,
  registers: [metricsRegistry],
});

let lastBackupSuccessMs: number | undefined;

/**
 * When the newest verified backup was taken: the backups table is the truth (a restarted process or another
 * replica knows it too); this process's own last success covers the moment between a verify and the next
 * sample. Undefined while no verified backup exists, so the backup gauges are absent rather than 0.
 */
/**
 * Empties a gauge before a collect fills it: no series at all until a value is known (prom-client's reset()
 * leaves a 0 in a gauge without labels, which would read as "0 seconds old").
 */
function clearGauge(g: Gauge<string>, labelless: boolean): void {
  g.reset();
  if (labelless) g.remove();
}

async function newestBackupMs(): Promise<number | undefined> {
  const fromDb = (await opsSnapshot())?.lastVerifiedBackupAt?.getTime();
  const newest = Math.max(fromDb ?? -Infinity, lastBackupSuccessMs ?? -Infinity);
  return Number.isFinite(newest) ? newest : undefined;
}

export const backupLastSuccess = new Gauge({
  name: 'rollcall_backup_last_success_timestamp_seconds',
  help: 'Unix time at which the newest verified backup was taken (absent until one exists)',
  registers: [metricsRegistry],
  async collect() {
    const newest = await newestBackupMs();
    clearGauge(this, true);
    if (newest !== undefined) this.set(newest / 1000);
  },
});

export const backupAge = new Gauge({
  name: 'rollcall_backup_age_seconds',
  help: 'Seconds since the newest verified backup was taken (absent until one exists)',
  registers: [metricsRegistry],
  async collect() {
    const newest = await newestBackupMs();
    clearGauge(this, true);
    if (newest !== undefined) this.set((Date.now() - newest) / 1000);
  },
});

export const backupSize = new Gauge({
  name: 'rollcall_backup_size_bytes',
  help: 'Size of the last verified backup file',
  registers: [metricsRegistry],
});

export const backupDuration = new Gauge({
  name: 'rollcall_backup_duration_seconds',
  help: 'Wall time of the last backup run (dump + verify)',
  registers: [metricsRegistry],
});

export const backupRuns = new Counter({
  name: 'rollcall_backup_runs_total',
  help: 'Backup runs by outcome',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

/** Records a verified backup (takenAt: when the dump's snapshot was taken). */
export function markBackupSucceeded(takenAt: Date, sizeBytes: number, durationSeconds: number): void {
  if (lastBackupSuccessMs === undefined || takenAt.getTime() > lastBackupSuccessMs) {
    lastBackupSuccessMs = takenAt.getTime();
  }
  backupSize.set(sizeBytes);
  backupDuration.set(durationSeconds);
  backupRuns.inc({ outcome: 'verified' });
}

export const apiRequestDuration = new Histogram({
  name: 'api_request_duration_seconds',
  help: 'API request duration by method, route pattern and status code',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});

export const attendanceRecords = new Counter({
  name: 'attendance_records_total',
  help: 'Attendance records received by the API, by outcome (accepted, duplicate, rejected)',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

/** Hook for the attendance API: count the records of one batch by outcome. */
export function countAttendanceRecords(outcome: 'accepted' | 'duplicate' | 'rejected', n = 1): void {
  if (n > 0) attendanceRecords.inc({ outcome }, n);
}

/** The inbox relay (workers/relay.ts): how long a committed recognition waited until its workflow had it. */
export const inboxDeliveryLag = new Histogram({
  name: 'rollcall_inbox_delivery_lag_seconds',
  help: 'Recognitions: time from the API committing them (202) to the relay delivering them to their session workflow',
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60, 120, 300],
  registers: [metricsRegistry],
});

export const inboxDeliveries = new Counter({
  name: 'rollcall_inbox_deliveries_total',
  help: 'Recognitions handled by the inbox relay, by outcome (signalled, redundant = a later sighting of a student already delivered, marked delivered without a signal, amended = written to an ended session, failed = retried later, undeliverable)',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

export function countInboxDeliveries(
  outcome: 'signalled' | 'redundant' | 'amended' | 'failed' | 'undeliverable',
  n: number,
): void {
  if (n > 0) inboxDeliveries.inc({ outcome }, n);
}

export const inboxSignals = new Counter({
  name: 'rollcall_inbox_signals_total',
  help: "recognitions signals the inbox relay sent to session workflows (each is a Temporal history event and workflow task: Temporal's cost, and Temporal Cloud's bill, per signal)",
  registers: [metricsRegistry],
});

export const quarantinedMarks = new Counter({
  name: 'rollcall_quarantined_marks_total',
  help: 'Attendance marks the database refused for their data (kept in quarantined_marks for an operator)',
  registers: [metricsRegistry],
});

/** A bare /metrics endpoint for processes without the API (a worker in a split deployment). */
/**
 * A standalone process's /metrics (METRICS_TOKEN `token`, else loopback clients only) and /health/live
 * (no data: the liveness probe, which cannot carry a secret).
 */
export function serveMetrics(
  port: number,
  token: string | undefined,
  host = '0.0.0.0',
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url === '/health/live' && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const access = metricsAccess(token, metricsRequestOf(req));
    if (!access.ok) {
      res.writeHead(access.status, { ...access.headers, 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: access.code, message: access.message, details: null } }));
      return;
    }
    metricsRegistry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': metricsRegistry.contentType }).end(body),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

// ---------------------------------------------------------------------------------------------------------
// Facts read at scrape time from Postgres and Temporal (lib/opsMetrics.ts samples them). They hold across
// restarts and replicas, unlike a process's memory: an alert on them means what it says. Without a sampler
// (a process that did not register one) these gauges are absent, never 0.

export interface OpsSnapshot {
  lastVerifiedBackupAt?: Date;
  db?: { connections: number; maxConnections: number };
  wal?: {
    archiveMode: boolean;
    lastArchivedAt?: Date;
    lastFailedAt?: Date;
    failedCount: number;
    /** Segments waiting for archive_command (.ready files); undefined without the pg_monitor right. */
    readySegments?: number;
    oldestReadySeconds?: number;
  };
  devices?: { id: string; roomId: string; status: string; provisionedAt: Date; lastSeenAt?: Date }[];
  /** Device marks and teachers' overrides of them, per course and device, over RECOGNITION_WINDOW_DAYS. */
  recognition?: { courseId: string; deviceId: string; deviceMarks: number; overridden: number }[];
  schedules?: { id: string; paused: boolean; lastActionAt?: Date; nextActionAt?: Date }[];
  taskQueues?: {
    taskQueue: string;
    type: 'workflow' | 'activity';
    backlog: number;
    backlogAgeSeconds: number;
    pollers: number;
  }[];
}

/** Window of recognition_accuracy_ratio. */
export const RECOGNITION_WINDOW_DAYS = 7;

const OPS_SNAPSHOT_TTL_MS = 10_000;
let opsSampler: (() => Promise<OpsSnapshot>) | undefined;
let opsCache: { at: number; value: Promise<OpsSnapshot | undefined> } | undefined;

/** Registers the sampler this process's /metrics reads (api/main.ts, scripts/start.ts); undefined removes it. */
export function setOpsSampler(sampler: (() => Promise<OpsSnapshot>) | undefined): void {
  opsSampler = sampler;
  opsCache = undefined;
}

/** One sample per scrape (every gauge below asks; the first one samples, the rest share it). */
export function opsSnapshot(): Promise<OpsSnapshot | undefined> {
  if (!opsSampler) return Promise.resolve(undefined);
  const now = Date.now();
  if (!opsCache || now - opsCache.at > OPS_SNAPSHOT_TTL_MS) {
    opsCache = { at: now, value: opsSampler().catch(() => undefined) };
  }
  return opsCache.value;
}

export const opsSampleErrors = new Counter({
  name: 'rollcall_ops_sample_errors_total',
  help: 'Scrape-time samples of Postgres or Temporal that failed, by part (its gauges are absent meanwhile)',
  labelNames: ['part'] as const,
  registers: [metricsRegistry],
});

const seconds = (d: Date) => d.getTime() / 1000;

/** A gauge whose value(s) come from the ops snapshot; `fill` sets them, absent parts leave it empty. */
function sampledGauge<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
  fill: (g: Gauge<L>, s: OpsSnapshot) => void,
): Gauge<L> {
  return new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [metricsRegistry],
    async collect() {
      const s = await opsSnapshot();
      clearGauge(this, labelNames.length === 0);
      if (s) fill(this, s);
    },
  });
}

sampledGauge(
  'rollcall_db_connections',
  'Server processes connected to Postgres (pg_stat_activity)',
  [],
  (g, s) => {
    if (s.db) g.set(s.db.connections);
  },
);
sampledGauge('rollcall_db_connections_max', "Postgres's max_connections", [], (g, s) => {
  if (s.db) g.set(s.db.maxConnections);
});

sampledGauge(
  'rollcall_wal_archive_mode',
  '1 when Postgres archives WAL (archive_mode on), else 0',
  [],
  (g, s) => {
    if (s.wal) g.set(s.wal.archiveMode ? 1 : 0);
  },
);
sampledGauge(
  'rollcall_wal_last_archived_timestamp_seconds',
  'Unix time of the last WAL segment archive_command stored (pg_stat_archiver)',
  [],
  (g, s) => {
    if (s.wal?.lastArchivedAt) g.set(seconds(s.wal.lastArchivedAt));
  },
);
sampledGauge(
  'rollcall_wal_last_failed_timestamp_seconds',
  'Unix time archive_command last failed (pg_stat_archiver)',
  [],
  (g, s) => {
    if (s.wal?.lastFailedAt) g.set(seconds(s.wal.lastFailedAt));
  },
);
sampledGauge(
  'rollcall_wal_archive_failed_count',
  'archive_command failures since the statistics were reset (pg_stat_archiver.failed_count)',
  [],
  (g, s) => {
    if (s.wal) g.set(s.wal.failedCount);
  },
);
sampledGauge(
  'rollcall_wal_ready_segments',
  'WAL segments waiting to be archived (.ready files in pg_wal/archive_status)',
  [],
  (g, s) => {
    if (s.wal?.readySegments !== undefined) g.set(s.wal.readySegments);
  },
);
sampledGauge(
  'rollcall_wal_oldest_ready_age_seconds',
  'Age of the oldest WAL segment waiting to be archived (0 when none waits): the data a lost primary would lose',
  [],
  (g, s) => {
    if (s.wal?.oldestReadySeconds !== undefined) g.set(s.wal.oldestReadySeconds);
  },
);

sampledGauge(
  'rollcall_device_provisioned_timestamp_seconds',
  'Unix time a device (not decommissioned) was provisioned',
  ['device', 'room'],
  (g, s) => {
    for (const d of s.devices ?? []) g.set({ device: d.id, room: d.roomId }, seconds(d.provisionedAt));
  },
);
sampledGauge(
  'rollcall_device_last_seen_timestamp_seconds',
  'Unix time of the last heartbeat or upload of a device (devices.last_seen); absent while never seen',
  ['device', 'room'],
  (g, s) => {
    for (const d of s.devices ?? [])
      if (d.lastSeenAt) g.set({ device: d.id, room: d.roomId }, seconds(d.lastSeenAt));
  },
);

sampledGauge(
  'recognition_device_marks',
  `Marks a device made (still standing or since overridden) in the last ${RECOGNITION_WINDOW_DAYS} days`,
  ['course', 'device'],
  (g, s) => {
    for (const r of s.recognition ?? []) g.set({ course: r.courseId, device: r.deviceId }, r.deviceMarks);
  },
);
sampledGauge(
  'recognition_overridden_marks',
  `Device marks a teacher changed by an override, last ${RECOGNITION_WINDOW_DAYS} days`,
  ['course', 'device'],
  (g, s) => {
    for (const r of s.recognition ?? []) g.set({ course: r.courseId, device: r.deviceId }, r.overridden);
  },
);
sampledGauge(
  'recognition_accuracy_ratio',
  `1 - overridden device marks / device marks per course and device, last ${RECOGNITION_WINDOW_DAYS} days (absent without device marks)`,
  ['course', 'device'],
  (g, s) => {
    for (const r of s.recognition ?? [])
      if (r.deviceMarks > 0)
        g.set({ course: r.courseId, device: r.deviceId }, 1 - r.overridden / r.deviceMarks);
  },
);

sampledGauge(
  'rollcall_schedule_next_action_timestamp_seconds',
  'Unix time a Temporal Schedule fires next; in the past means it did not fire',
  ['schedule'],
  (g, s) => {
    for (const x of s.schedules ?? []) if (x.nextActionAt) g.set({ schedule: x.id }, seconds(x.nextActionAt));
  },
);
sampledGauge(
  'rollcall_schedule_last_action_timestamp_seconds',
  'Unix time a Temporal Schedule last started its workflow',
  ['schedule'],
  (g, s) => {
    for (const x of s.schedules ?? []) if (x.lastActionAt) g.set({ schedule: x.id }, seconds(x.lastActionAt));
  },
);
sampledGauge('rollcall_schedule_paused', '1 while a Temporal Schedule is paused', ['schedule'], (g, s) => {
  for (const x of s.schedules ?? []) g.set({ schedule: x.id }, x.paused ? 1 : 0);
});

sampledGauge(
  'rollcall_task_queue_backlog',
  'Tasks waiting in a Temporal task queue (approximate, from DescribeTaskQueue)',
  ['task_queue', 'type'],
  (g, s) => {
    for (const q of s.taskQueues ?? []) g.set({ task_queue: q.taskQueue, type: q.type }, q.backlog);
  },
);
sampledGauge(
  'rollcall_task_queue_backlog_age_seconds',
  'How long the oldest waiting task has waited (its schedule-to-start latency so far)',
  ['task_queue', 'type'],
  (g, s) => {
    for (const q of s.taskQueues ?? []) g.set({ task_queue: q.taskQueue, type: q.type }, q.backlogAgeSeconds);
  },
);
sampledGauge(
  'rollcall_task_queue_pollers',
  'Workers that polled a task queue recently',
  ['task_queue', 'type'],
  (g, s) => {
    for (const q of s.taskQueues ?? []) g.set({ task_queue: q.taskQueue, type: q.type }, q.pollers);
  },
);

export const faceDetectionLatency = new Gauge({
  name: 'face_detection_latency_seconds',
  help: 'Face detection time per analysed frame on a device, over the interval before its last heartbeat, by quantile (0.5, 0.95, 1 = max)',
  labelNames: ['device', 'quantile'] as const,
  registers: [metricsRegistry],
});

export const faceDetectionFrames = new Gauge({
  name: 'face_detection_frames',
  help: 'Frames a device analysed in the interval its face_detection_latency_seconds covers',
  labelNames: ['device'] as const,
  registers: [metricsRegistry],
});

/** A heartbeat's detection-time summary (lib/contracts: detectionLatency) as the device's gauges. */
export function recordDetectionLatency(
  device: string,
  d: { frames: number; p50Ms: number; p95Ms: number; maxMs: number },
): void {
  faceDetectionLatency.set({ device, quantile: '0.5' }, d.p50Ms / 1000);
  faceDetectionLatency.set({ device, quantile: '0.95' }, d.p95Ms / 1000);
  faceDetectionLatency.set({ device, quantile: '1' }, d.maxMs / 1000);
  faceDetectionFrames.set({ device }, d.frames);
}
