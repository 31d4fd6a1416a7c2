/**
 * Maintenance workflows on the real Temporal dev server and real Postgres: partitions for the coming
 * months (and a backfilled missed month) take records; the maintenance Schedules are created idempotently
 * and run; a backup is dumped, restored into a scratch database and verified, retention prunes what the
 * policy does not keep, and an operator restore produces a working copy.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import pino from 'pino';
import { createDb, dropDatabase } from '../../lib/db';
import {
  ensureMaintenanceSchedules,
  RETENTION_SCHEDULE_ID,
  TIMETABLE_SCHEDULE_ID,
  PARTITIONS_SCHEDULE_ID,
  BACKUP_SCHEDULE_ID,
  triggerPartitionsNow,
} from '../../lib/temporal/maintenanceSchedules';
import { seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { createWorker, stopWorker } from '../../workers/worker';
import type { backupDatabase } from '../../workflows/backupDatabase';
import type { ensurePartitions } from '../../workflows/ensurePartitions';
import type { restoreDatabase } from '../../workflows/restoreDatabase';
import { eventually, FAST_TIMING } from '../support/app';
import {
  createTestDatabase,
  startTestTemporal,
  type TestDatabase,
  type TestTemporal,
} from '../support/stack';

let database: TestDatabase;
let temporal: TestTemporal;
let worker: Worker;
let running: Promise<void>;
let backupDir: string;
const taskQueue = `maintenance-test-${process.pid}`;

function monthStart(offset: number, now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
}
function partitionName(d: Date): string {
  return `attendance_logs_y${d.toISOString().slice(0, 4)}m${d.toISOString().slice(5, 7)}`;
}

/** Inserts one attendance record dated `at` (with its session) and returns the partition it landed in. */
async function insertRecordAt(at: Date): Promise<string> {
  const db = database.db;
  const schedule = await db('schedules').orderBy('id').first('id', 'course_id', 'room_id');
  const date = at.toISOString().slice(0, 10);
  const sessionId = `session:${schedule.id}:${date}`;
  await db('class_sessions')
    .insert({
      id: sessionId,
      schedule_id: schedule.id,
      session_date: date,
      course_id: schedule.course_id,
      room_id: schedule.room_id,
      starts_at: at,
      ends_at: new Date(at.getTime() + 3_600_000),
      late_after_minutes: 10,
    })
    .onConflict('id')
    .ignore();
  const rows = await db('attendance_logs')
    .insert({
      event_id: `evt-${crypto.randomUUID()}`,
      session_id: sessionId,
      student_id: 'S001',
      course_id: schedule.course_id,
      status: 'present',
      marked_at: at,
      source: 'device',
    })
    .returning(db.raw('tableoid::regclass::text AS partition'));
  return (rows[0] as { partition: string }).partition;
}

void describe('maintenance workflows (real Temporal + real Postgres)', () => {
  before(async () => {
    database = await createTestDatabase();
    await seedDemoSchool(database.db);
    temporal = await startTestTemporal();
    backupDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-backups-'));
    const log = pino({ level: 'silent' });
    worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: 'default',
      taskQueue,
      db: database.db,
      timing: FAST_TIMING,
      devices: { log },
      backups: { backupDir, keepDaily: 30, keepMonthly: 12, log },
    });
    running = worker.run();
  });
  after(async () => {
    if (worker) await stopWorker(worker, running);
    await temporal?.stop();
    await database?.drop();
    if (backupDir) fs.rmSync(backupDir, { recursive: true, force: true });
  });

  void test('when ensurePartitions runs for 4 months ahead, then partitions exist through month +4 and a record dated in the new month lands in it', async () => {
    const expected = [0, 1, 2, 3, 4].map((i) => partitionName(monthStart(i)));
    const first = await temporal.client.workflow.execute<typeof ensurePartitions>('ensurePartitions', {
      taskQueue,
      workflowId: `partitions-${crypto.randomUUID()}`,
      args: [{ monthsAhead: 4 }],
    });
    for (const name of expected)
      assert.ok(first.partitions.includes(name), `${name} in ${first.partitions.join(', ')}`);
    // The migration prepared months 0..3; month +4 is new.
    assert.deepEqual(first.created, [expected[4]]);
    const again = await temporal.client.workflow.execute<typeof ensurePartitions>('ensurePartitions', {
      taskQueue,
      workflowId: `partitions-${crypto.randomUUID()}`,
      args: [{ monthsAhead: 4 }],
    });
    assert.deepEqual(again.created, [], 'idempotent: nothing created the second time');
    const at = new Date(monthStart(4).getTime() + 14 * 86_400_000 + 12 * 3_600_000);
    assert.equal(await insertRecordAt(at), expected[4]);
  });

  void test('when a month was missed, then a backfill run creates its partition and records dated then are accepted', async () => {
    const missed = monthStart(-2);
    const before = await database.db.raw('SELECT to_regclass(?) AS r', [partitionName(missed)]);
    assert.equal(before.rows[0].r, null, 'the month before the migration ran has no partition');
    const result = await temporal.client.workflow.execute<typeof ensurePartitions>('ensurePartitions', {
      taskQueue,
      workflowId: `partitions-backfill-${crypto.randomUUID()}`,
      args: [{ from: missed.toISOString(), monthsAhead: 3 }],
    });
    assert.deepEqual(result.created, [partitionName(missed), partitionName(monthStart(-1))]);
    assert.equal(await insertRecordAt(new Date(missed.getTime() + 9 * 86_400_000)), partitionName(missed));
  });

  void test('when the maintenance Schedules are ensured twice, then they exist once, are updated in place, and a trigger runs ensurePartitions', async () => {
    const settings = { taskQueue, partitionMonthsAhead: 3 };
    const created = await ensureMaintenanceSchedules(temporal.client, settings);
    const all = [RETENTION_SCHEDULE_ID, TIMETABLE_SCHEDULE_ID, PARTITIONS_SCHEDULE_ID, BACKUP_SCHEDULE_ID];
    assert.deepEqual(created, { created: all, updated: [] });
    const updated = await ensureMaintenanceSchedules(temporal.client, {
      ...settings,
      backupAt: { hour: 4, minute: 5 },
    });
    assert.deepEqual(updated, { created: [], updated: all });
    const ids: string[] = [];
    for await (const s of temporal.client.schedule.list()) ids.push(s.scheduleId);
    assert.deepEqual(
      ids.filter((id) => id.startsWith('maintenance:') || id === TIMETABLE_SCHEDULE_ID).sort(),
      [...all].sort(),
    );
    const backup = await temporal.client.schedule.getHandle(BACKUP_SCHEDULE_ID).describe();
    assert.deepEqual(backup.spec.calendars?.[0]?.hour, [{ start: 4, end: 4, step: 1 }]);

    await triggerPartitionsNow(temporal.client);
    const workflowId = await eventually(async () => {
      const d = await temporal.client.schedule.getHandle(PARTITIONS_SCHEDULE_ID).describe();
      return d.info.recentActions[0]?.action.workflow.workflowId;
    }, 'a scheduled ensurePartitions run');
    const result = await temporal.client.workflow.getHandle<typeof ensurePartitions>(workflowId).result();
    assert.ok(result.partitions.includes(partitionName(monthStart(3))));
    // Leave no Schedule firing into the rest of the suite.
    for (const id of [PARTITIONS_SCHEDULE_ID, BACKUP_SCHEDULE_ID])
      await temporal.client.schedule.getHandle(id).delete();
  });

  void test('when a backup runs, then it is restored into a scratch DB and verified, retention prunes beyond policy, and an operator restore works', async () => {
    const db = database.db;
    // History: two backups in month -2 (the newer one is that month's keeper), one in month -3, one failed.
    const fake = async (label: string, at: Date, status: 'verified' | 'failed') => {
      const file = path.join(backupDir, `fake-${label}.dump`);
      fs.writeFileSync(file, label);
      const [row] = await db('backups')
        .insert({
          run_key: `fake/${label}`,
          status,
          database_name: 'x',
          file_path: file,
          snapshot_at: at,
          size_bytes: label.length,
        })
        .returning('id');
      return { id: Number(row.id), file };
    };
    const m2 = monthStart(-2);
    const olderInM2 = await fake('m2-day5', new Date(m2.getTime() + 4 * 86_400_000), 'verified');
    const keeperM2 = await fake('m2-day10', new Date(m2.getTime() + 9 * 86_400_000), 'verified');
    const m3 = await fake('m3-day10', new Date(monthStart(-3).getTime() + 9 * 86_400_000), 'verified');
    const failed = await fake('failed', new Date(m2.getTime() + 12 * 86_400_000), 'failed');

    const t0 = Date.now();
    const result = await temporal.client.workflow.execute<typeof backupDatabase>('backupDatabase', {
      taskQueue,
      workflowId: `backup-${crypto.randomUUID()}`,
      args: [{ trigger: 'manual', keepDaily: 1, keepMonthly: 2 }],
    });
    const wallMs = Date.now() - t0;
    assert.equal(result.verify.ok, true, result.verify.problems.join('; '));
    const row = await db('backups').where({ id: result.backupId }).first();
    assert.equal(row.status, 'verified');
    assert.equal(row.trigger, 'manual');
    assert.ok(fs.existsSync(row.file_path));
    assert.ok(row.file_path.startsWith(backupDir));
    assert.equal(
      row.sha256,
      crypto.createHash('sha256').update(fs.readFileSync(row.file_path)).digest('hex'),
    );
    assert.equal(row.table_counts['public.students'], 60);
    assert.ok(
      Object.keys(row.table_counts).some((t) => t.startsWith('public.attendance_logs_y')),
      'partitions are counted one by one',
    );
    const scratch = await db.raw("SELECT datname FROM pg_database WHERE datname LIKE 'rollcall_verify_%'");
    assert.equal(scratch.rows.length, 0, 'the scratch database is dropped');

    assert.deepEqual(result.retention.pruned.sort(), [olderInM2.id, m3.id].sort());
    assert.deepEqual(result.retention.kept.sort(), [result.backupId, keeperM2.id].sort());
    assert.deepEqual(result.retention.cleaned, [failed.id]);
    assert.equal(fs.existsSync(olderInM2.file), false);
    assert.equal(fs.existsSync(m3.file), false);
    assert.equal(fs.existsSync(failed.file), false);
    assert.equal(fs.existsSync(keeperM2.file), true);
    assert.deepEqual((await db('backups').whereIn('id', [olderInM2.id, m3.id]).pluck('status')).sort(), [
      'pruned',
      'pruned',
    ]);
    process.stderr.write(
      `backup of the demo DB: ${row.size_bytes} bytes, ${result.dump.tables} tables, ${result.dump.rows} rows; ` +
        `dump ${result.dump.dumpMs} ms, restore+verify ${result.verify.verifyMs} ms, workflow ${wallMs} ms\n`,
    );

    const into = `rc_restore_${crypto.randomBytes(4).toString('hex')}`;
    const admin = process.env.ROLLCALL_TEST_ADMIN_URL!;
    try {
      const restored = await temporal.client.workflow.execute<typeof restoreDatabase>('restoreDatabase', {
        taskQueue,
        workflowId: `restore-${crypto.randomUUID()}`,
        args: [{ backupId: result.backupId, intoDatabase: into }],
      });
      assert.equal(restored.rows, result.dump.rows);
      const copy = createDb(new URL(`/${into}`, database.url).toString(), 2);
      try {
        assert.equal((await copy('students').count<{ n: number }[]>('* as n'))[0].n, 60);
        assert.equal(
          (await copy.raw('SELECT count(*)::int AS n FROM ensure_attendance_partitions(now(), 1)')).rows[0].n,
          0,
          'functions restored',
        );
      } finally {
        await copy.destroy();
      }
      const live = new URL(database.url).pathname.slice(1);
      await assert.rejects(
        temporal.client.workflow.execute<typeof restoreDatabase>('restoreDatabase', {
          taskQueue,
          workflowId: `restore-${crypto.randomUUID()}`,
          args: [{ backupId: result.backupId, intoDatabase: live }],
        }),
        (err: unknown) =>
          err instanceof WorkflowFailedError &&
          /refusing to restore over the live database/.test(
            String((err.cause?.cause as Error | undefined)?.message),
          ),
      );
    } finally {
      await dropDatabase(admin, into);
    }
  });
});
