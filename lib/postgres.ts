/**
 * A Postgres server that the project owns: Debian's postgresql binaries (installed by the machine image or
 * .ci/run), a data directory under the project's data dir, a chosen port. Used only when DATABASE_URL is
 * not set. Backups need pg_dump of the server's own version, which is why we do not use an embedded
 * Postgres 18 beside Debian's 15 client tools.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, runChecked } from './process';

export interface PgBinaries {
  binDir: string;
  version: number;
}

/** The newest /usr/lib/postgresql/N/bin that has pg_ctl, or the directory of pg_ctl on PATH. */
export function findPgBinaries(): PgBinaries {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .map(Number)
        .filter((n) => Number.isFinite(n) && fs.existsSync(path.join(root, String(n), 'bin', 'pg_ctl')))
        .sort((a, b) => b - a)
    : [];
  if (versions.length > 0)
    return { binDir: path.join(root, String(versions[0]), 'bin'), version: versions[0] };
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'pg_ctl')) && fs.existsSync(path.join(dir, 'initdb'))) {
      return { binDir: fs.realpathSync(dir), version: 0 };
    }
  }
  throw new Error(
    'PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH). ' +
      'Install them with `apt-get install -y postgresql`, or set DATABASE_URL to an existing server.',
  );
}

/** Postgres refuses to run as root; as root we run it as the `postgres` system user. */
export function runAsIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but there is no `postgres` system user to run the server as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export interface LocalPostgres {
  /** Connection URL of the maintenance database (`postgres`). */
  adminUrl: string;
  port: number;
  dataDir: string;
  bin: PgBinaries;
  urlFor(database: string): string;
  stop(): Promise<void>;
}

/** A command prefix that runs a process (and all it starts) only on CPU nothing else wants. */
export const BACKGROUND = ['chrt', '--idle', '0', 'nice', '-n', '19'];

export interface LocalPostgresOptions {
  dataDir: string;
  port: number;
  log?: (msg: string) => void;
  /** More `-c name=value` settings, for this start only (a restored cluster starts with archive_mode=off). */
  settings?: Record<string, string>;
  /** How long pg_ctl waits for the server to accept connections (a restore replays WAL first); 60 s. */
  startTimeoutSeconds?: number;
  /**
   * Run the server and every backend it forks in the background: scheduled only when nothing else wants the
   * CPU (SCHED_IDLE and nice 19, what cgroup v2 `cpu.idle` gives a pod). Benchmarks rank their processes.
   */
  background?: boolean;
}

export async function startLocalPostgres(opts: LocalPostgresOptions): Promise<LocalPostgres> {
  const bin = findPgBinaries();
  const ids = runAsIds();
  const pgData = path.join(opts.dataDir, 'pgdata');
  const spawnOpts = { ...ids, env: { ...process.env, LC_ALL: 'C.UTF-8' } };
  fs.mkdirSync(opts.dataDir, { recursive: true });
  if (ids.uid !== undefined) fs.chownSync(opts.dataDir, ids.uid, ids.gid ?? ids.uid);

  if (!fs.existsSync(path.join(pgData, 'PG_VERSION'))) {
    opts.log?.(`initialising a Postgres ${bin.version || ''} cluster in ${pgData}`);
    await runChecked(
      path.join(bin.binDir, 'initdb'),
      ['-D', pgData, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'],
      spawnOpts,
    );
  }
  const pgCtl = path.join(bin.binDir, 'pg_ctl');
  const status = await run(pgCtl, ['-D', pgData, 'status'], spawnOpts);
  if (status.code !== 0) {
    const serverOpts = [
      `-p ${opts.port}`,
      `-c listen_addresses=127.0.0.1`,
      `-k ${pgData}`,
      `-c max_connections=200`,
      `-c fsync=on`,
      // pg_ctl hands -o to a shell: each value is single-quoted.
      ...Object.entries(opts.settings ?? {}).map(([k, v]) => `-c '${k}=${v.replace(/'/g, `'\\''`)}'`),
    ].join(' ');
    const startTimeout = String(opts.startTimeoutSeconds ?? 60);
    const [command, ...wrapped] = opts.background ? [...BACKGROUND, pgCtl] : [pgCtl];
    await runChecked(
      command,
      [
        ...wrapped,
        '-D',
        pgData,
        '-l',
        path.join(pgData, 'server.log'),
        '-o',
        serverOpts,
        '-w',
        '-t',
        startTimeout,
        'start',
      ],
      spawnOpts,
    );
  }
  const port = readPort(pgData) ?? opts.port;
  const urlFor = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  return {
    adminUrl: urlFor('postgres'),
    port,
    dataDir: pgData,
    bin,
    urlFor,
    stop: async () => {
      await run(pgCtl, ['-D', pgData, '-m', 'fast', '-w', 'stop'], spawnOpts);
    },
  };
}

/** The port of a running server, from postmaster.pid (line 4). */
function readPort(pgData: string): number | undefined {
  try {
    const lines = fs.readFileSync(path.join(pgData, 'postmaster.pid'), 'utf8').split(os.EOL);
    const n = Number(lines[3]);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
