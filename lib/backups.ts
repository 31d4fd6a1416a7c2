/**
 * The mechanics of database backups: pg_dump/pg_restore of the server's own major version, row counts of
 * every table (inside the dump's snapshot, so a restore can be compared exactly), checksums, and the
 * retention rule. Activities (activities/backups.ts) put these together; nothing here knows Temporal.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { run } from './process';

export interface PgTools {
  pgDump: string;
  pgRestore: string;
  /** Server major version the tools match. */
  major: number;
}

/** Splits a connection URL into a password-free URL (safe in argv and logs) and the password (for env). */
export function splitPassword(url: string): { url: string; password?: string } {
  const u = new URL(url);
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  u.password = '';
  return { url: u.toString(), password };
}

export function databaseNameOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function serverMajorVersion(client: pg.Client): Promise<number> {
  const r = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Math.floor(Number(r.rows[0].v) / 10_000);
}

async function toolMajor(binary: string): Promise<number | undefined> {
  try {
    const r = await run(binary, ['--version']);
    const m = /\b(\d+)(?:\.\d+)?/.exec(r.stdout);
    return r.code === 0 && m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * pg_dump refuses a server newer than itself, and a dump from an older pg_dump may miss features: use the
 * tools of exactly the server's major version. Debian keeps each version in /usr/lib/postgresql/<N>/bin;
 * otherwise the ones on PATH if they match.
 */
export async function findPgTools(major: number): Promise<PgTools> {
  const candidates = [path.join('/usr/lib/postgresql', String(major), 'bin')];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(dir);
  for (const dir of candidates) {
    const pgDump = path.join(dir, 'pg_dump');
    const pgRestore = path.join(dir, 'pg_restore');
    if (!fs.existsSync(pgDump) || !fs.existsSync(pgRestore)) continue;
    if ((await toolMajor(pgDump)) === major) return { pgDump, pgRestore, major };
  }
  throw new Error(
    `no pg_dump/pg_restore of PostgreSQL ${major} (the server's version) in /usr/lib/postgresql/${major}/bin or on PATH; ` +
      `install postgresql-client-${major}`,
  );
}

/** Row counts of every ordinary table (partitions counted one by one, partitioned parents skipped). */
export async function countRows(client: pg.Client): Promise<Record<string, number>> {
  const tables = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      ORDER BY 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const t of tables.rows) {
    const qualified = `${client.escapeIdentifier(t.schema)}.${client.escapeIdentifier(t.name)}`;
    const r = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ONLY ${qualified}`);
    counts[`${t.schema}.${t.name}`] = Number(r.rows[0].n);
  }
  return counts;
}

/** Differences between two count maps, as readable lines (empty when equal). */
export function compareCounts(expected: Record<string, number>, actual: Record<string, number>): string[] {
  const problems: string[] = [];
  for (const [table, n] of Object.entries(expected)) {
    if (!(table in actual)) problems.push(`${table}: missing in the restore`);
    else if (actual[table] !== n) problems.push(`${table}: ${actual[table]} rows restored, ${n} dumped`);
  }
  for (const table of Object.keys(actual))
    if (!(table in expected)) problems.push(`${table}: not in the dump`);
  return problems;
}

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface RetentionCandidate {
  id: number;
  snapshotAt: Date;
}

/**
 * Keeps the newest backup of each of the `keepDaily` most recent UTC days that have one, and of each of
 * the `keepMonthly` most recent months; everything else goes. Pure, so the rule is easy to test.
 */
export function selectForRetention(
  backups: RetentionCandidate[],
  keepDaily: number,
  keepMonthly: number,
): { keep: number[]; prune: number[] } {
  const sorted = [...backups].sort((a, b) => b.snapshotAt.getTime() - a.snapshotAt.getTime() || b.id - a.id);
  const days = new Set<string>();
  const months = new Set<string>();
  const keep = new Set<number>();
  for (const b of sorted) {
    const day = b.snapshotAt.toISOString().slice(0, 10);
    const month = day.slice(0, 7);
    if (!days.has(day) && days.size < keepDaily) {
      days.add(day);
      keep.add(b.id);
    }
    if (!months.has(month) && months.size < keepMonthly) {
      months.add(month);
      keep.add(b.id);
    }
  }
  return {
    keep: sorted.filter((b) => keep.has(b.id)).map((b) => b.id),
    prune: sorted.filter((b) => !keep.has(b.id)).map((b) => b.id),
  };
}
