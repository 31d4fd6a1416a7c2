/**
 * Off-site backups with point-in-time recovery, by pgBackRest (Debian's `pgbackrest`) into an S3-compatible
 * bucket: base backups (full weekly, differential daily) and every WAL segment (`archive_command`), all
 * encrypted client-side (aes-256-cbc with a passphrase the object store never sees) and pruned by
 * retention. A restore is a base backup plus WAL replayed up to a chosen instant, into a NEW data directory:
 * the live cluster is never touched.
 *
 * This module writes pgBackRest's configuration and runs its commands as the cluster's owner; the
 * restore drill (test/integration/pitr.test.ts) and the RPO/RTO measurement (scripts/measure-pitr.ts) use
 * it, and deploy/RUNBOOK.md shows the same commands for an operator. Secrets live only in the
 * configuration file (mode 0600, owned by the cluster's user): never on a command line, never logged
 * (pgBackRest prints them as <redacted>).
 */
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../../lib/process';
import { runAsIds } from '../../lib/postgres';

export interface S3Repository {
  /** The endpoint's host name; the certificate must name it (pgBackRest checks DNS names). */
  host: string;
  port: number;
  bucket: string;
  region: string;
  accessKey: string;
  secretKey: string;
  /** A private CA (self-hosted object store); the system's CAs otherwise. */
  caFile?: string;
  /** Prefix inside the bucket, e.g. /rollcall. */
  path: string;
  uriStyle?: 'path' | 'host';
}

export interface PitrSettings {
  stanza: string;
  repo: S3Repository;
  /** Encrypts everything in the repository; losing it loses the backups. */
  cipherPass: string;
  /** Full backups kept (with the WAL needed to restore from each and everything after). */
  retentionFull: number;
  /** Differential backups kept. */
  retentionDiff: number;
  /** Parallel transfer processes for backup and restore. */
  processMax?: number;
}

/** Where the cluster pgBackRest backs up (or restores into) lives. */
export interface ClusterLocation {
  dataDir: string;
  port: number;
  socketDir: string;
}

export interface BackupSetInfo {
  label: string;
  type: 'full' | 'diff' | 'incr';
  startedAt: Date;
  stoppedAt: Date;
  sizeBytes: number;
  repoSizeBytes: number;
}

/** WAL settings the cluster needs (ALTER SYSTEM, then a restart for archive_mode). */
export function archiveSettings(configFile: string, stanza: string): Record<string, string> {
  return {
    archive_mode: 'on',
    archive_command: `pgbackrest --config=${configFile} --stanza=${stanza} archive-push %p`,
    // At most a minute of writes waits in an unfinished segment: the RPO bound when the primary is lost.
    archive_timeout: '60',
    wal_level: 'replica',
  };
}

export function pgBackRestConfig(settings: PitrSettings, cluster: ClusterLocation, workDir: string): string {
  const r = settings.repo;
  const global = [
    'repo1-type=s3',
    `repo1-s3-endpoint=${r.host}`,
    `repo1-storage-port=${r.port}`,
    `repo1-s3-bucket=${r.bucket}`,
    `repo1-s3-region=${r.region}`,
    `repo1-s3-key=${r.accessKey}`,
    `repo1-s3-key-secret=${r.secretKey}`,
    `repo1-s3-uri-style=${r.uriStyle ?? 'path'}`,
    ...(r.caFile ? [`repo1-storage-ca-file=${r.caFile}`] : []),
    `repo1-path=${r.path}`,
    'repo1-cipher-type=aes-256-cbc',
    `repo1-cipher-pass=${settings.cipherPass}`,
    `repo1-retention-full=${settings.retentionFull}`,
    `repo1-retention-diff=${settings.retentionDiff}`,
    'compress-type=lz4',
    `process-max=${settings.processMax ?? 2}`,
    'start-fast=y',
    `log-path=${path.join(workDir, 'log')}`,
    `lock-path=${path.join(workDir, 'lock')}`,
    `spool-path=${path.join(workDir, 'spool')}`,
    'log-level-console=warn',
    'log-level-file=off',
  ];
  const stanza = [
    `pg1-path=${cluster.dataDir}`,
    `pg1-port=${cluster.port}`,
    `pg1-socket-path=${cluster.socketDir}`,
    'pg1-user=postgres',
  ];
  return `[global]\n${global.join('\n')}\n\n[${settings.stanza}]\n${stanza.join('\n')}\n`;
}

export class PgBackRest {
  private constructor(
    readonly configFile: string,
    readonly stanza: string,
  ) {}

  /** Writes the configuration (0600, owned by the cluster's user) and pgBackRest's working directories. */
  static install(workDir: string, settings: PitrSettings, cluster: ClusterLocation): PgBackRest {
    const ids = runAsIds();
    const own = (p: string) => {
      if (ids.uid !== undefined) fs.chownSync(p, ids.uid, ids.gid ?? ids.uid);
    };
    fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
    own(workDir);
    for (const d of ['log', 'lock', 'spool']) {
      fs.mkdirSync(path.join(workDir, d), { recursive: true, mode: 0o700 });
      own(path.join(workDir, d));
    }
    const configFile = path.join(workDir, 'pgbackrest.conf');
    fs.writeFileSync(configFile, pgBackRestConfig(settings, cluster, workDir), { mode: 0o600 });
    fs.chmodSync(configFile, 0o600);
    own(configFile);
    return new PgBackRest(configFile, settings.stanza);
  }

  archiveSettings(): Record<string, string> {
    return archiveSettings(this.configFile, this.stanza);
  }

  /** Runs `pgbackrest <args>` as the cluster's owner; rejects with its error output. */
  async run(args: string[]): Promise<string> {
    const r = await run('pgbackrest', [`--config=${this.configFile}`, `--stanza=${this.stanza}`, ...args], {
      ...runAsIds(),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' },
    });
    if (r.code !== 0) {
      throw new Error(
        `pgbackrest ${args[args.length - 1]} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-2000)}`,
      );
    }
    return r.stdout;
  }

  /** Creates the stanza in the repository (idempotent) and checks that WAL reaches it. */
  async setUp(): Promise<void> {
    await this.run(['stanza-create']);
    await this.run(['check']);
  }

  /** A base backup; expires what the retention no longer needs afterwards. */
  async backup(type: 'full' | 'diff' | 'incr'): Promise<BackupSetInfo> {
    await this.run([`--type=${type}`, 'backup']);
    const sets = await this.info();
    const last = sets[sets.length - 1];
    if (!last) throw new Error('pgbackrest reported no backup after a successful backup');
    return last;
  }

  async info(): Promise<BackupSetInfo[]> {
    const out = JSON.parse(await this.run(['--output=json', 'info'])) as {
      backup?: {
        label: string;
        type: 'full' | 'diff' | 'incr';
        timestamp: { start: number; stop: number };
        info: { size: number; repository: { delta: number } };
      }[];
    }[];
    return (out[0]?.backup ?? []).map((b) => ({
      label: b.label,
      type: b.type,
      startedAt: new Date(b.timestamp.start * 1000),
      stoppedAt: new Date(b.timestamp.stop * 1000),
      sizeBytes: b.info.size,
      repoSizeBytes: b.info.repository.delta,
    }));
  }

  /**
   * Restores into `dataDir` (created; must not exist or be empty): the newest suitable base backup, then WAL
   * up to `target` (a timestamptz text such as `2026-11-25 09:14:03.123456+00`), or to the end of the
   * archive. The cluster promotes itself when it reaches the target.
   */
  async restore(opts: { dataDir: string; target?: string }): Promise<void> {
    const ids = runAsIds();
    fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    if (ids.uid !== undefined) fs.chownSync(opts.dataDir, ids.uid, ids.gid ?? ids.uid);
    await this.run([
      `--pg1-path=${opts.dataDir}`,
      ...(opts.target ? ['--type=time', `--target=${opts.target}`, '--target-action=promote'] : []),
      'restore',
    ]);
  }
}
