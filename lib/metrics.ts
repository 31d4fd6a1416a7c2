/**
 * Every Prometheus metric Rollcall exposes, in one registry. Activities (worker process) and the API set
 * them; GET /metrics (api/metrics/routes.ts) serves the registry of the process it runs in. `npm start`
 * runs worker and API in one process, so one scrape sees everything; in a split deployment each process
 * has its own registry: scrape the API for request/heartbeat metrics and expose the worker's registry
 * (serveMetrics in workers) for device-status and backup metrics.
 */
import http from 'node:http';
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

export const backupLastSuccess = new Gauge({
  name: 'rollcall_backup_last_success_timestamp_seconds',
  help: 'Unix time at which the last verified backup was taken',
  registers: [metricsRegistry],
});

let lastBackupSuccessMs: number | undefined;
export const backupAge = new Gauge({
  name: 'rollcall_backup_age_seconds',
  help: 'Seconds since the last verified backup was taken (absent until one is known to this process)',
  registers: [metricsRegistry],
  collect() {
    if (lastBackupSuccessMs !== undefined) this.set((Date.now() - lastBackupSuccessMs) / 1000);
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
    backupLastSuccess.set(lastBackupSuccessMs / 1000);
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

export const quarantinedMarks = new Counter({
  name: 'rollcall_quarantined_marks_total',
  help: 'Attendance marks the database refused for their data (kept in quarantined_marks for an operator)',
  registers: [metricsRegistry],
});

/** A bare /metrics endpoint for processes without the API (a worker in a split deployment). */
export function serveMetrics(port: number, host = '0.0.0.0'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
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
