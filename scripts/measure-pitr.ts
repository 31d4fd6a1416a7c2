/**
 * Measures RPO and RTO of the off-site backups (pgBackRest → S3, scripts/lib/pitr.ts) on this machine, with real
 * components only (scripts/lib/pitrLab.ts): a cluster archiving WAL to a local S3 server, a base backup, a
 * writer committing a timestamped row every 100 ms, then the primary is killed (SIGKILL) and its disk thrown
 * away, and the cluster is restored from the object store alone.
 *
 *   RPO = time of the last write the primary committed − time of the last write the restore has
 *   RTO = start of `pgbackrest restore` → the restored cluster answers a query on Rollcall's tables
 *         (the operator's steps around it — a host, DATABASE_URL, a restart — are not in it)
 *
 *   tsx scripts/measure-pitr.ts                 the demo school
 *   tsx scripts/measure-pitr.ts --rows 1000000  plus that many recognition_events rows
 *   options: --write-seconds N (default 100: the writer runs N s before the kill)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { config } from '../lib/config';
import { seedDemoSchool } from '../migrations/seeds/demoSchool';
import { startPitrLab } from './lib/pitrLab';

const say = (m: string) => process.stderr.write(`[measure-pitr] ${m}\n`);

function dirSize(dir: string): number {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .reduce(
      (n, e) =>
        n + (e.isDirectory() ? dirSize(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size),
      0,
    );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rows: { type: 'string', default: '0' }, 'write-seconds': { type: 'string', default: '100' } },
  });
  const rows = Number(values.rows);
  const writeSeconds = Number(values['write-seconds']);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-measure-pitr-'));
  const lab = await startPitrLab({ workDir, cacheDir: config().ROLLCALL_CACHE_DIR, log: say });
  try {
    await seedDemoSchool(lab.db);
    if (rows > 0) {
      say(`inserting ${rows} recognition_events rows`);
      const t = Date.now();
      const device = (await lab.db('devices').orderBy('id').first('id')) as { id: string };
      await lab.db.raw(
        `INSERT INTO recognition_events (event_id, session_id, device_id, student_id, seen_at, confidence, received_at)
         SELECT 'evt-' || g, 'session:1:' || to_char(now() - (g % 180) * interval '1 day', 'YYYY-MM-DD'), ?,
                'S' || lpad((g % 2000)::text, 4, '0'), now() - (g % 180) * interval '1 day', 0.5 + (g % 50) / 100.0,
                now() - (g % 180) * interval '1 day'
           FROM generate_series(1, ?) g`,
        [device.id, rows],
      );
      say(`inserted in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    await lab.db.raw('CREATE TABLE drill_writes (id bigserial PRIMARY KEY, at timestamptz NOT NULL)');
    const [{ size }] = (await lab.db.raw(`SELECT pg_database_size(current_database()) AS size`)).rows as {
      size: string;
    }[];
    const counts = await lab.counts();
    const totalRows = Object.values(counts).reduce((a, b) => a + b, 0);

    const tBackup = Date.now();
    const base = await lab.pitr.backup('full');
    const backupMs = Date.now() - tBackup;
    say(
      `full backup ${base.label}: ${(backupMs / 1000).toFixed(1)} s, ${base.repoSizeBytes} bytes in the repository`,
    );

    // The writer: one committed, timestamped row every 100 ms until the primary dies.
    say(`writing for ${writeSeconds} s, then killing the primary`);
    const writer = new pg.Client({ connectionString: lab.url });
    await writer.connect();
    writer.on('error', () => undefined);
    let lastCommitted: Date | undefined;
    const until = Date.now() + writeSeconds * 1000;
    while (Date.now() < until) {
      const r = await writer.query<{ at: Date }>(
        'INSERT INTO drill_writes (at) VALUES (clock_timestamp()) RETURNING at',
      );
      lastCommitted = r.rows[0]?.at;
      await new Promise((res) => setTimeout(res, 100));
    }
    const [{ archived }] = (
      await writer.query<{ archived: Date | null }>(
        'SELECT last_archived_time AS archived FROM pg_stat_archiver',
      )
    ).rows;
    // The primary dies with its disk: only the object store is left.
    const pid = Number(
      fs.readFileSync(path.join(lab.primary.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0],
    );
    process.kill(pid, 'SIGKILL');
    await writer.end().catch(() => undefined);
    await lab.db.destroy().catch(() => undefined);
    await new Promise((res) => setTimeout(res, 1000));
    fs.rmSync(lab.primary.dataDir, { recursive: true, force: true });

    const tRestore = Date.now();
    const restored = await lab.restore();
    const c = new pg.Client({ connectionString: restored.url });
    await c.connect();
    const [{ last, n }] = (
      await c.query<{ last: Date | null; n: number }>(
        'SELECT max(at) AS last, count(*)::int AS n FROM drill_writes',
      )
    ).rows;
    await c.query('SELECT count(*) FROM attendance_logs');
    const rtoMs = Date.now() - tRestore;
    await c.end();
    const rpoSeconds = lastCommitted && last ? (lastCommitted.getTime() - last.getTime()) / 1000 : NaN;
    const repoBytes = dirSize(path.join(lab.s3.rootDir, lab.s3.bucket));
    await restored.stop();

    const figures = {
      scenario: rows > 0 ? `demo school + ${rows} recognition_events rows` : 'demo school',
      databaseBytes: Number(size),
      rowsInAllTables: totalRows,
      fullBackupSeconds: backupMs / 1000,
      repositoryBytes: repoBytes,
      writesRestored: n,
      lastArchivedBeforeKill: archived?.toISOString() ?? null,
      rpoSeconds,
      rtoSeconds: rtoMs / 1000,
      restoreSeconds: restored.restoreMs / 1000,
      recoverySeconds: restored.startMs / 1000,
    };
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  } finally {
    await lab.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[measure-pitr] failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
