/**
 * Activities of backupDatabase / restoreDatabase. A backup counts as good only after it was restored into a
 * scratch database and every table's row count matched the counts taken inside the dump's own snapshot.
 * Long steps heartbeat (progress in bytes) so a dead worker is noticed within the heartbeat timeout.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import pg from 'pg';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  compareCounts,
  countRows,
  databaseNameOf,
  findPgTools,
  fsyncFile,
  selectForRetention,
  serverMajorVersion,
  sha256File,
  splitPassword,
  withDatabase,
  type PgTools,
} from '../lib/backups';
import { dropDatabase, ensureDatabase } from '../lib/db';
import { backupRuns, markBackupSucceeded } from '../lib/metrics';

export interface BackupSettings {
  backupDir: string;
  keepDaily: number;
  keepMonthly: number;
  log: Logger;
  /** The database to back up; default: the one the knex instance is connected to. */
  databaseUrl?: string;
}

export interface DumpResult {
  backupId: number;
  filePath: string;
  sizeBytes: number;
  sha256: string;
  tables: number;
  rows: number;
  dumpMs: number;
}

export interface VerifyResult {
  backupId: number;
  ok: boolean;
  problems: string[];
  verifyMs: number;
}

export interface PruneResult {
  kept: number[];
  pruned: number[];
  /** Files of failed runs removed. */
  cleaned: number[];
}

export interface RestoreResult {
  backupId: number;
  database: string;
  tables: number;
  rows: number;
  restoreMs: number;
}

const SAFE_DB_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function connectionStringOf(db: Knex): string {
  const conn: unknown = (db.client as { config?: { connection?: unknown } }).config?.connection;
  if (typeof conn === 'string') return conn;
  if (
    conn &&
    typeof conn === 'object' &&
    typeof (conn as { connectionString?: unknown }).connectionString === 'string'
  ) {
    return (conn as { connectionString: string }).connectionString;
  }
  throw new Error('the knex connection has no connection string; pass BackupSettings.databaseUrl');
}

/** Runs a pg tool, heartbeating every few seconds with `progress()`; kills it if the activity is cancelled. */
function runTool(
  binary: string,
  args: string[],
  password: string | undefined,
  progress: () => unknown,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      env: { ...process.env, ...(password ? { PGPASSWORD: password } : {}), PGAPPNAME: 'rollcall-backup' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(progress()), 5_000);
    // Cancellation (or a lost heartbeat) reaches us through the heartbeats; stop the tool with the activity.
    ctx.cancelled.catch(() => child.kill('SIGTERM'));
    child.on('error', (err) => {
      clearInterval(beat);
      reject(err);
    });
    child.on('close', (code) => {
      clearInterval(beat);
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(binary)} exited ${code}: ${stderr.trim()}`));
    });
  });
}

function insideDir(dir: string, file: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(file));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

export function createBackupActivities(db: Knex, settings: BackupSettings) {
  const log = settings.log.child({ component: 'backups' });
  const databaseUrl = () => settings.databaseUrl ?? connectionStringOf(db);

  async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: url, application_name: 'rollcall-backup' });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  async function tools(client: pg.Client): Promise<PgTools> {
    try {
      return await findPgTools(await serverMajorVersion(client));
    } catch (err) {
      throw ApplicationFailure.create({ message: (err as Error).message, nonRetryable: true });
    }
  }

  async function loadBackup(backupId: number) {
    const row = await db('backups').where({ id: backupId }).first();
    if (!row)
      throw ApplicationFailure.create({ message: `backup ${backupId} does not exist`, nonRetryable: true });
    return row as {
      id: number;
      status: string;
      file_path: string | null;
      sha256: string | null;
      size_bytes: number | null;
      table_counts: Record<string, number> | null;
      snapshot_at: Date | null;
      dump_ms: number | null;
    };
  }

  /** Restores a backup file into `database` (which must exist and be empty) and counts its rows. */
  async function restoreInto(
    backupId: number,
    database: string,
  ): Promise<{ counts: Record<string, number>; ms: number }> {
    const backup = await loadBackup(backupId);
    if (!backup.file_path || !fs.existsSync(backup.file_path)) {
      throw ApplicationFailure.create({
        message: `backup ${backupId} has no file (status ${backup.status})`,
        nonRetryable: true,
      });
    }
    const started = Date.now();
    const ctx = Context.current();
    ctx.heartbeat({ step: 'checksum' });
    const sha = await sha256File(backup.file_path);
    if (sha !== backup.sha256) {
      throw ApplicationFailure.create({
        message: `backup ${backupId}: checksum mismatch (file changed or damaged)`,
        nonRetryable: true,
      });
    }
    const target = splitPassword(withDatabase(databaseUrl(), database));
    const pgTools = await withClient(databaseUrl(), tools);
    await runTool(
      pgTools.pgRestore,
      [
        '--no-owner',
        '--no-privileges',
        '--exit-on-error',
        '--single-transaction',
        `--dbname=${target.url}`,
        backup.file_path,
      ],
      target.password,
      () => ({ step: 'restore', database }),
    );
    const counts = await withClient(withDatabase(databaseUrl(), database), countRows);
    return { counts, ms: Date.now() - started };
  }

  return {
    async beginBackup(input: {
      runKey: string;
      trigger: 'schedule' | 'manual';
    }): Promise<{ backupId: number }> {
      const [row] = await db('backups')
        .insert({
          run_key: input.runKey,
          trigger: input.trigger,
          status: 'running',
          database_name: databaseNameOf(databaseUrl()),
        })
        .onConflict('run_key')
        .merge({ run_key: input.runKey })
        .returning('id');
      return { backupId: Number(row.id) };
    },

    /**
     * pg_dump (custom format) inside an exported snapshot, with the row counts taken in the same snapshot:
     * the verification then compares exactly what the dump contains, however busy the database is.
     */
    async dumpDatabase(input: { backupId: number }): Promise<DumpResult> {
      const started = Date.now();
      fs.mkdirSync(settings.backupDir, { recursive: true });
      const source = splitPassword(databaseUrl());
      const dbName = databaseNameOf(source.url);
      const client = new pg.Client({ connectionString: databaseUrl(), application_name: 'rollcall-backup' });
      await client.connect();
      try {
        const pgTools = await tools(client);
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const snap = await client.query<{ id: string; at: Date; version: string }>(
          'SELECT pg_export_snapshot() AS id, now() AS at, current_setting($1) AS version',
          ['server_version'],
        );
        const { id: snapshot, at: snapshotAt, version } = snap.rows[0];
        const counts = await countRows(client);
        const stamp = snapshotAt
          .toISOString()
          .replace(/[-:]/g, '')
          .replace(/\.\d+Z$/, 'Z');
        const file = path.join(settings.backupDir, `rollcall-${dbName}-${stamp}-${input.backupId}.dump`);
        const partial = `${file}.partial`;
        await runTool(
          pgTools.pgDump,
          ['--format=custom', `--snapshot=${snapshot}`, `--file=${partial}`, `--dbname=${source.url}`],
          source.password,
          () => ({ step: 'dump', bytes: fs.statSync(partial, { throwIfNoEntry: false })?.size ?? 0 }),
        );
        await client.query('COMMIT');
        fsyncFile(partial);
        fs.renameSync(partial, file);
        const sizeBytes = fs.statSync(file).size;
        const sha256 = await sha256File(file);
        const dumpMs = Date.now() - started;
        await db('backups')
          .where({ id: input.backupId })
          .update({
            status: 'dumped',
            file_path: file,
            size_bytes: sizeBytes,
            sha256,
            server_version: version,
            pg_dump_version: String(pgTools.major),
            table_counts: JSON.stringify(counts),
            snapshot_at: snapshotAt,
            dumped_at: db.fn.now(),
            dump_ms: dumpMs,
          });
        const rows = Object.values(counts).reduce((a, b) => a + b, 0);
        log.info(
          { backupId: input.backupId, file, sizeBytes, tables: Object.keys(counts).length, rows, dumpMs },
          'database dumped',
        );
        return {
          backupId: input.backupId,
          filePath: file,
          sizeBytes,
          sha256,
          tables: Object.keys(counts).length,
          rows,
          dumpMs,
        };
      } finally {
        await client.end();
      }
    },

    /** Restores into a scratch database, compares every table's row count, drops the scratch database. */
    async verifyBackup(input: { backupId: number }): Promise<VerifyResult> {
      const scratch = `rollcall_verify_${input.backupId}_${crypto.randomBytes(3).toString('hex')}`;
      await ensureDatabase(databaseUrl(), scratch);
      try {
        const backup = await loadBackup(input.backupId);
        const { counts, ms } = await restoreInto(input.backupId, scratch);
        const problems = compareCounts(backup.table_counts ?? {}, counts);
        if (problems.length === 0) {
          await db('backups')
            .where({ id: input.backupId })
            .update({ status: 'verified', verified_at: db.fn.now(), verify_ms: ms });
          markBackupSucceeded(
            backup.snapshot_at ?? new Date(),
            Number(backup.size_bytes ?? 0),
            ((backup.dump_ms ?? 0) + ms) / 1000,
          );
          log.info(
            { backupId: input.backupId, verifyMs: ms, tables: Object.keys(counts).length },
            'backup verified by restore',
          );
        }
        return { backupId: input.backupId, ok: problems.length === 0, problems, verifyMs: ms };
      } finally {
        await dropDatabase(databaseUrl(), scratch);
      }
    },

    async failBackup(input: { backupId: number; error: string }): Promise<void> {
      await db('backups')
        .where({ id: input.backupId })
        .update({ status: 'failed', error: input.error.slice(0, 4000) });
      backupRuns.inc({ outcome: 'failed' });
      log.error({ backupId: input.backupId, error: input.error }, 'backup failed');
    },

    /** Applies the retention policy to verified backups; also removes files of failed runs. */
    async pruneBackups(input: { keepDaily?: number; keepMonthly?: number }): Promise<PruneResult> {
      const keepDaily = input.keepDaily ?? settings.keepDaily;
      const keepMonthly = input.keepMonthly ?? settings.keepMonthly;
      const verified = await db('backups')
        .where({ status: 'verified' })
        .select('id', 'snapshot_at', 'file_path');
      const { keep, prune } = selectForRetention(
        verified.map((b: { id: number; snapshot_at: Date }) => ({
          id: Number(b.id),
          snapshotAt: new Date(b.snapshot_at),
        })),
        keepDaily,
        keepMonthly,
      );
      const removeFile = (file: string | null) => {
        // Only ever delete inside the backup directory, whatever a row says.
        if (file && insideDir(settings.backupDir, file)) fs.rmSync(file, { force: true });
      };
      for (const id of prune) {
        removeFile(verified.find((b: { id: number }) => Number(b.id) === id)?.file_path ?? null);
        await db('backups').where({ id }).update({ status: 'pruned', pruned_at: db.fn.now() });
      }
      const failed = await db('backups')
        .where({ status: 'failed' })
        .whereNotNull('file_path')
        .select('id', 'file_path');
      for (const f of failed) {
        removeFile(f.file_path);
        fs.rmSync(`${f.file_path}.partial`, { force: true });
        await db('backups').where({ id: f.id }).update({ file_path: null });
      }
      if (prune.length > 0) log.info({ pruned: prune, kept: keep.length }, 'old backups pruned');
      return { kept: keep, pruned: prune, cleaned: failed.map((f: { id: number }) => Number(f.id)) };
    },

    /** Operator restore into a new or empty database (never the live one). */
    async restoreBackup(input: { backupId: number; intoDatabase: string }): Promise<RestoreResult> {
      if (!SAFE_DB_NAME.test(input.intoDatabase)) {
        throw ApplicationFailure.create({
          message: `invalid database name ${input.intoDatabase}`,
          nonRetryable: true,
        });
      }
      if (input.intoDatabase === databaseNameOf(databaseUrl())) {
        throw ApplicationFailure.create({
          message: 'refusing to restore over the live database; restore into a new one and switch',
          nonRetryable: true,
        });
      }
      await ensureDatabase(databaseUrl(), input.intoDatabase);
      const existing = await withClient(withDatabase(databaseUrl(), input.intoDatabase), countRows);
      if (Object.keys(existing).length > 0) {
        throw ApplicationFailure.create({
          message: `database ${input.intoDatabase} is not empty`,
          nonRetryable: true,
        });
      }
      const backup = await loadBackup(input.backupId);
      const { counts, ms } = await restoreInto(input.backupId, input.intoDatabase);
      const problems = compareCounts(backup.table_counts ?? {}, counts);
      if (problems.length > 0) {
        throw ApplicationFailure.create({
          message: `restored rows differ: ${problems.slice(0, 5).join('; ')}`,
          nonRetryable: true,
        });
      }
      log.info({ backupId: input.backupId, database: input.intoDatabase, restoreMs: ms }, 'backup restored');
      return {
        backupId: input.backupId,
        database: input.intoDatabase,
        tables: Object.keys(counts).length,
        rows: Object.values(counts).reduce((a, b) => a + b, 0),
        restoreMs: ms,
      };
    },
  };
}

export type BackupActivities = ReturnType<typeof createBackupActivities>;
