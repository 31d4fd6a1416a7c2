/**
 * The restore drill, on real components only: Postgres archives WAL with pgBackRest to a real S3 server
 * (versitygw over HTTPS, verified against its own CA), encrypted. A base backup, then one write, the chosen
 * instant, a second write; a restore to that instant has the first and not the second, and every table has
 * the row count it had at that instant. Nothing readable reaches the object store, and /metrics sees the
 * archiving (lib/opsMetrics.ts).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { config } from '../../lib/config';
import { createOpsSampler } from '../../lib/opsMetrics';
import { startPitrLab, type PitrLab } from '../../scripts/lib/pitrLab';

let lab: PitrLab;
let workDir: string;
const say = (m: string) => process.stderr.write(`[pitr] ${m}\n`);

async function one<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

void describe('point-in-time recovery from off-site backups', { timeout: 30 * 60_000 }, () => {
  before(
    async () => {
      workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-pitr-'));
      // The first run on a machine builds the S3 server from the Go module proxy (cached afterwards).
      lab = await startPitrLab({ workDir, cacheDir: config().ROLLCALL_CACHE_DIR, log: say });
    },
    { timeout: 25 * 60_000 },
  );

  after(async () => {
    await lab?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  void test('when the cluster is restored to an instant between two writes, then the earlier write is there, the later is not, and the row counts are those of that instant', async () => {
    const base = await lab.pitr.backup('full');
    assert.equal(base.type, 'full');
    // pgBackRest picks the newest base backup that stopped before the target, at one-second precision.
    await new Promise((r) => setTimeout(r, Math.max(0, base.stoppedAt.getTime() + 1_100 - Date.now())));

    const marker = `drill-${crypto.randomBytes(6).toString('hex')}`;
    await lab.db('audit_log').insert({
      actor: 'restore-drill',
      action: 'drill.before',
      entity: 'drill',
      entity_id: `${marker}-before`,
    });
    // The instant, from the server's own clock after the first commit.
    const [{ target }] = await one<{ target: string }>(
      lab.url,
      `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS target`,
    );
    const countsAtTarget = await lab.counts();
    await new Promise((r) => setTimeout(r, 50));
    await lab.db('audit_log').insert({
      actor: 'restore-drill',
      action: 'drill.after',
      entity: 'drill',
      entity_id: `${marker}-after`,
    });
    const countsAfter = await lab.counts();
    assert.equal(countsAfter['public.audit_log'], (countsAtTarget['public.audit_log'] ?? 0) + 1);
    await lab.flushWal();

    const restored = await lab.restore(target);
    say(`restore ${restored.restoreMs} ms, recovery to a serving server ${restored.startMs} ms`);
    try {
      const rows = await one<{ entity_id: string }>(
        restored.url,
        `SELECT entity_id FROM audit_log WHERE entity = 'drill' ORDER BY id`,
      );
      assert.deepEqual(
        rows.map((r) => r.entity_id),
        [`${marker}-before`],
      );
      assert.deepEqual(await lab.counts(restored.url), countsAtTarget);
      // The restored copy is a writable, promoted cluster that does not archive into the repository.
      const [{ recovering, archiving }] = await one<{ recovering: boolean; archiving: string }>(
        restored.url,
        `SELECT pg_is_in_recovery() AS recovering, current_setting('archive_mode') AS archiving`,
      );
      assert.equal(recovering, false);
      assert.equal(archiving, 'off');
    } finally {
      await restored.stop();
    }

    // Restored to the end of the archive instead, both writes are there.
    const latest = await lab.restore();
    try {
      const rows = await one<{ n: number }>(
        latest.url,
        `SELECT count(*)::int AS n FROM audit_log WHERE entity = 'drill'`,
      );
      assert.equal(rows[0]?.n, 2);
      assert.deepEqual(await lab.counts(latest.url), countsAfter);
    } finally {
      await latest.stop();
    }

    // Encrypted at rest: every object is OpenSSL-enveloped ciphertext and no plaintext marker appears.
    const objects = filesUnder(path.join(lab.s3.rootDir, lab.s3.bucket));
    assert.ok(
      objects.some((f) => f.includes(`${path.sep}archive${path.sep}`)),
      'WAL in the bucket',
    );
    assert.ok(
      objects.some((f) => f.includes(`${path.sep}backup${path.sep}`)),
      'base backup in the bucket',
    );
    for (const f of objects) {
      const bytes = fs.readFileSync(f);
      assert.equal(bytes.subarray(0, 8).toString('latin1'), 'Salted__', `${f} is not encrypted`);
      assert.equal(bytes.includes(marker), false, `${f} contains plaintext`);
    }
  });

  void test('when /metrics samples an archiving cluster, then WAL archiving is on and recent, and nothing waits', async () => {
    await lab.flushWal();
    const sample = await createOpsSampler({ db: lab.db, log: pino({ level: 'silent' }) })();
    assert.equal(sample.wal?.archiveMode, true);
    assert.ok(sample.wal?.lastArchivedAt, 'a last archived time');
    assert.ok(Date.now() - sample.wal.lastArchivedAt.getTime() < 5 * 60_000);
    assert.equal(sample.wal?.readySegments, 0);
    assert.equal(sample.wal?.failedCount, 0);
    assert.equal(sample.db?.maxConnections, 200);
    // No verified pg_dump backup in this database: the backup age stays absent, not 0.
    assert.equal(sample.lastVerifiedBackupAt, undefined);
  });

  void test('when pgBackRest lists the repository, then the base backup is there with its encrypted size', async () => {
    const sets = await lab.pitr.info();
    assert.ok(sets.length >= 1);
    assert.ok(sets.every((s) => s.repoSizeBytes > 0 && s.stoppedAt >= s.startedAt));
  });
});
