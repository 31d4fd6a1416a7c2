/**
 * Samples the facts behind the operations gauges of lib/metrics.ts at scrape time: Postgres (connections,
 * WAL archiving, backups, devices, teachers' overrides of device marks) and Temporal (Schedules, task-queue
 * backlog). Each part has its own deadline and fails alone: its gauges go absent for that scrape and
 * `rollcall_ops_sample_errors_total{part}` counts it, so an alert on a missing series (`absent()`) or the
 * error counter tells the operator, instead of a misleading 0.
 */
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Logger } from 'pino';
import { opsSampleErrors, RECOGNITION_WINDOW_DAYS, setOpsSampler, type OpsSnapshot } from './metrics';

export interface OpsSamplerDeps {
  db: Knex;
  temporal?: Client;
  namespace?: string;
  taskQueues?: string[];
  log: Logger;
  /** Per part; a scrape should answer within Prometheus's scrape timeout (10 s by default). */
  timeoutMs?: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, part: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${part}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const date = (v: unknown): Date | undefined =>
  v === null || v === undefined ? undefined : v instanceof Date ? v : new Date(String(v));

type Row = Record<string, unknown>;

async function sampleDb(db: Knex): Promise<Pick<OpsSnapshot, 'db'>> {
  const { rows } = (await db.raw(`
    SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections,
           current_setting('max_connections')::int AS max_connections`)) as { rows: Row[] };
  const r = rows[0] as Row;
  return { db: { connections: Number(r.connections), maxConnections: Number(r.max_connections) } };
}

async function sampleWal(db: Knex, log: Logger): Promise<Pick<OpsSnapshot, 'wal'>> {
  const { rows } = (await db.raw(`
    SELECT current_setting('archive_mode') <> 'off' AS archive_mode,
           last_archived_time, last_failed_time, failed_count
      FROM pg_stat_archiver`)) as { rows: Row[] };
  const r = rows[0] as Row;
  const wal: NonNullable<OpsSnapshot['wal']> = {
    archiveMode: Boolean(r.archive_mode),
    lastArchivedAt: date(r.last_archived_time),
    lastFailedAt: date(r.last_failed_time),
    failedCount: Number(r.failed_count),
  };
  try {
    // Needs superuser or pg_monitor; without it the two gauges stay absent and the rest still reports.
    const ready = (await db.raw(`
      SELECT count(*) AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(modification)), 0) AS oldest
        FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'`)) as { rows: Row[] };
    const x = ready.rows[0] as Row;
    wal.readySegments = Number(x.n);
    wal.oldestReadySeconds = Number(x.oldest);
  } catch (err) {
    log.debug({ err }, 'pg_ls_archive_statusdir() not allowed; WAL backlog gauges absent');
  }
  return { wal };
}

async function sampleBackups(db: Knex): Promise<Pick<OpsSnapshot, 'lastVerifiedBackupAt'>> {
  const row = (await db('backups').where({ status: 'verified' }).max('snapshot_at as at').first()) as
    Row | undefined;
  return { lastVerifiedBackupAt: date(row?.at) };
}

async function sampleDevices(db: Knex): Promise<Pick<OpsSnapshot, 'devices'>> {
  const rows = (await db('devices')
    .whereNot({ status: 'decommissioned' })
    .select('id', 'room_id', 'status', 'created_at', 'last_seen')) as Row[];
  return {
    devices: rows.map((r) => ({
      id: String(r.id),
      roomId: String(r.room_id),
      status: String(r.status),
      provisionedAt: date(r.created_at) as Date,
      lastSeenAt: date(r.last_seen),
    })),
  };
}

/**
 * Device marks of the window: rows still marked by a device, plus rows a teacher overrode whose mark before
 * the override came from a device (audit_log keeps the before-state and, since #11, the device). A mark
 * overridden twice counts once. Marks made before #11 whose override lost the device show as "unknown".
 */
async function sampleRecognition(db: Knex): Promise<Pick<OpsSnapshot, 'recognition'>> {
  const { rows } = (await db.raw(
    `
    WITH marks AS (
      SELECT a.session_id, a.student_id, a.course_id, a.source, a.device_id
        FROM attendance_logs a
       WHERE a.marked_at >= now() - make_interval(days => ?) AND a.source IN ('device', 'override')
    ), overridden AS (
      SELECT DISTINCT ON (l.entity_id) l.entity_id, l.before->>'device_id' AS device_id
        FROM audit_log l
       WHERE l.action = 'attendance.override' AND l.before->>'source' = 'device'
         AND l.at >= now() - make_interval(days => ?)
       ORDER BY l.entity_id, l.at
    )
    SELECT m.course_id,
           COALESCE(CASE WHEN m.source = 'device' THEN m.device_id ELSE o.device_id END, 'unknown') AS device_id,
           count(*) AS device_marks,
           count(*) FILTER (WHERE m.source = 'override') AS overridden
      FROM marks m
      LEFT JOIN overridden o ON o.entity_id = m.session_id || '/' || m.student_id
     WHERE m.source = 'device' OR o.entity_id IS NOT NULL
     GROUP BY 1, 2`,
    // Overrides come after the mark: the audit window reaches one day further back than the marks'.
    [RECOGNITION_WINDOW_DAYS, RECOGNITION_WINDOW_DAYS + 1],
  )) as { rows: Row[] };
  return {
    recognition: rows.map((r) => ({
      courseId: String(r.course_id),
      deviceId: String(r.device_id),
      deviceMarks: Number(r.device_marks),
      overridden: Number(r.overridden),
    })),
  };
}

async function sampleSchedules(client: Client): Promise<Pick<OpsSnapshot, 'schedules'>> {
  const schedules: NonNullable<OpsSnapshot['schedules']> = [];
  for await (const s of client.schedule.list({ pageSize: 500 })) {
    const recent = s.info.recentActions;
    schedules.push({
      id: s.scheduleId,
      paused: s.state.paused,
      lastActionAt: recent.length > 0 ? recent[recent.length - 1]?.takenAt : undefined,
      nextActionAt: s.info.nextActionTimes[0],
    });
  }
  return { schedules };
}

async function sampleTaskQueues(
  client: Client,
  namespace: string,
  taskQueues: string[],
): Promise<Pick<OpsSnapshot, 'taskQueues'>> {
  const { TaskQueueType } = temporal.api.enums.v1;
  const out: NonNullable<OpsSnapshot['taskQueues']> = [];
  for (const name of taskQueues) {
    for (const [type, taskQueueType] of [
      ['workflow', TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
      ['activity', TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
    ] as const) {
      const r = await client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name },
        taskQueueType,
        reportStats: true,
      });
      const age = r.stats?.approximateBacklogAge;
      out.push({
        taskQueue: name,
        type,
        backlog: Number(r.stats?.approximateBacklogCount ?? 0),
        backlogAgeSeconds: age ? Number(age.seconds ?? 0) + (age.nanos ?? 0) / 1e9 : 0,
        pollers: r.pollers?.length ?? 0,
      });
    }
  }
  return { taskQueues: out };
}

/** One full sample; each failing part is logged (without secrets: errors only) and counted. */
export function createOpsSampler(deps: OpsSamplerDeps): () => Promise<OpsSnapshot> {
  const timeoutMs = deps.timeoutMs ?? 4_000;
  const log = deps.log.child({ component: 'ops-metrics' });
  const parts: [string, () => Promise<Partial<OpsSnapshot>>][] = [
    ['db', () => sampleDb(deps.db)],
    ['wal', () => sampleWal(deps.db, log)],
    ['backups', () => sampleBackups(deps.db)],
    ['devices', () => sampleDevices(deps.db)],
    ['recognition', () => sampleRecognition(deps.db)],
  ];
  const client = deps.temporal;
  if (client) {
    parts.push(['schedules', () => sampleSchedules(client)]);
    if (deps.taskQueues && deps.taskQueues.length > 0) {
      const queues = deps.taskQueues;
      parts.push([
        'task_queues',
        () => sampleTaskQueues(client, deps.namespace ?? client.options.namespace, queues),
      ]);
    }
  }
  return async () => {
    const results = await Promise.all(
      parts.map(async ([part, sample]) => {
        try {
          return await withTimeout(sample(), timeoutMs, part);
        } catch (err) {
          opsSampleErrors.inc({ part });
          log.warn({ part, err: (err as Error).message }, 'ops metrics sample failed');
          return {};
        }
      }),
    );
    return Object.assign({}, ...results) as OpsSnapshot;
  };
}

/** Registers the sampler for this process's /metrics. */
export function startOpsMetrics(deps: OpsSamplerDeps): void {
  setOpsSampler(createOpsSampler(deps));
}
