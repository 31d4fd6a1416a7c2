/**
 * A throwaway point-in-time-recovery setup on this machine, all real components: an S3 server (versitygw,
 * HTTPS with its own CA), a Postgres cluster archiving WAL to it with pgBackRest (encrypted), Rollcall's
 * schema migrated into database `rollcall`. The restore drill test and `scripts/measure-pitr.ts` share it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import pg from 'pg';
import { countRows } from '../../lib/backups';
import { createDb, ensureDatabase } from '../../lib/db';
import { migrateLatest } from '../../lib/migrate';
import { PgBackRest, type ClusterLocation } from './pitr';
import { startLocalPostgres, type LocalPostgres } from '../../lib/postgres';
import { freePort } from '../../lib/process';
import { startLocalS3, type LocalS3 } from './s3Server';

export const LAB_DATABASE = 'rollcall';

export interface RestoredCluster {
  server: LocalPostgres;
  url: string;
  /** Wall time of `pgbackrest restore` (fetch + decrypt + decompress the base backup, write the WAL plan). */
  restoreMs: number;
  /** Wall time from the server's start to accepting connections (WAL replay, promotion). */
  startMs: number;
  stop(): Promise<void>;
}

export interface PitrLab {
  s3: LocalS3;
  primary: LocalPostgres;
  pitr: PgBackRest;
  db: Knex;
  url: string;
  /** Switches to a new WAL segment and waits until it is in the repository. */
  flushWal(timeoutMs?: number): Promise<{ segment: string; waitedMs: number }>;
  counts(url?: string): Promise<Record<string, number>>;
  restore(target?: string): Promise<RestoredCluster>;
  stop(): Promise<void>;
}

export interface PitrLabOptions {
  workDir: string;
  cacheDir: string;
  log?: (m: string) => void;
}

/** The postgres user must reach the data directories: the lab's folders are world-traversable. */
function mkdirReachable(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
}

export async function startPitrLab(opts: PitrLabOptions): Promise<PitrLab> {
  const log = opts.log ?? (() => undefined);
  const workDir = path.resolve(opts.workDir);
  mkdirReachable(workDir);
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    const s3 = await startLocalS3({ dir: path.join(workDir, 's3'), cacheDir: opts.cacheDir, log });
    cleanups.push(() => s3.stop());
    // The CA must be readable by the postgres user (archive_command runs as it).
    const caFile = path.join(workDir, 's3-ca.crt');
    fs.copyFileSync(s3.caFile, caFile);
    fs.chmodSync(caFile, 0o644);

    const port = await freePort();
    const primaryDir = path.join(workDir, 'primary');
    mkdirReachable(primaryDir);
    const cluster: ClusterLocation = {
      dataDir: path.join(primaryDir, 'pgdata'),
      port,
      socketDir: path.join(primaryDir, 'pgdata'),
    };
    const pitr = PgBackRest.install(
      path.join(workDir, 'pgbackrest'),
      {
        stanza: 'rollcall',
        repo: {
          host: s3.host,
          port: s3.port,
          bucket: s3.bucket,
          region: s3.region,
          accessKey: s3.accessKey,
          secretKey: s3.secretKey,
          caFile,
          path: '/rollcall',
        },
        cipherPass: crypto.randomBytes(32).toString('base64url'),
        retentionFull: 2,
        retentionDiff: 7,
      },
      cluster,
    );
    // WAL archiving is a start-time setting: the first start initialises, the second archives.
    let primary = await startLocalPostgres({ dataDir: primaryDir, port, log });
    cleanups.push(() => primary.stop());
    const admin = new pg.Client({ connectionString: primary.adminUrl });
    await admin.connect();
    for (const [k, v] of Object.entries(pitr.archiveSettings())) {
      await admin.query(`ALTER SYSTEM SET ${k} = ${admin.escapeLiteral(v)}`);
    }
    await admin.end();
    await primary.stop();
    primary = await startLocalPostgres({ dataDir: primaryDir, port, log });
    await pitr.setUp();

    await ensureDatabase(primary.adminUrl, LAB_DATABASE);
    const url = primary.urlFor(LAB_DATABASE);
    const db = createDb(url, 4);
    cleanups.push(() => db.destroy());
    await migrateLatest(db);

    const query = async <T extends pg.QueryResultRow>(sql: string, dbUrl = url): Promise<T[]> => {
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      try {
        return (await c.query<T>(sql)).rows;
      } finally {
        await c.end();
      }
    };

    const lab: PitrLab = {
      s3,
      primary,
      pitr,
      db,
      url,
      async flushWal(timeoutMs = 60_000) {
        const started = Date.now();
        const [row] = await query<{ segment: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS segment');
        const segment = (row as { segment: string }).segment;
        for (;;) {
          const [s] = await query<{ last: string | null }>(
            'SELECT last_archived_wal AS last FROM pg_stat_archiver',
          );
          // Segment names sort in WAL order (same timeline).
          if (s?.last && s.last >= segment) return { segment, waitedMs: Date.now() - started };
          if (Date.now() - started > timeoutMs)
            throw new Error(`WAL segment ${segment} not archived in time`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      async counts(dbUrl = url) {
        const c = new pg.Client({ connectionString: dbUrl });
        await c.connect();
        try {
          // UNLOGGED tables (rate-limit counters) are not WAL-logged, so no physical backup has them.
          const unlogged = await c.query<{ name: string }>(
            `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relpersistence = 'u'`,
          );
          const skip = new Set(unlogged.rows.map((r) => r.name));
          return Object.fromEntries(Object.entries(await countRows(c)).filter(([t]) => !skip.has(t)));
        } finally {
          await c.end();
        }
      },
      async restore(target?: string) {
        const dir = path.join(workDir, `restore-${crypto.randomBytes(3).toString('hex')}`);
        mkdirReachable(dir);
        const t0 = Date.now();
        await pitr.restore({ dataDir: path.join(dir, 'pgdata'), ...(target ? { target } : {}) });
        const restoreMs = Date.now() - t0;
        const t1 = Date.now();
        // Never archive from a restored copy into the production repository.
        const server = await startLocalPostgres({
          dataDir: dir,
          port: await freePort(),
          log,
          settings: { archive_mode: 'off' },
          startTimeoutSeconds: 3600,
        });
        // pg_ctl returns once read-only connections are accepted (hot standby); serving means promoted.
        for (;;) {
          const [r] = await query<{ recovering: boolean }>(
            'SELECT pg_is_in_recovery() AS recovering',
            server.adminUrl,
          );
          if (r && !r.recovering) break;
          if (Date.now() - t1 > 3_600_000) throw new Error('the restored cluster did not finish recovery');
          await new Promise((res) => setTimeout(res, 50));
        }
        const startMs = Date.now() - t1;
        const stop = async () => {
          await server.stop();
          fs.rmSync(dir, { recursive: true, force: true });
        };
        cleanups.push(stop);
        return { server, url: server.urlFor(LAB_DATABASE), restoreMs, startMs, stop };
      },
      stop: stopAll,
    };
    return lab;
  } catch (err) {
    await stopAll();
    throw err;
  }
}
