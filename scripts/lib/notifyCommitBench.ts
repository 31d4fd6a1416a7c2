/**
 * `npx tsx scripts/lib/notifyCommitBench.ts` — why the inbox trigger NOTIFYs only when the inbox was empty
 * (migration 20261205000020_ingest; deploy/SCALING.md "One batch's CPU"). 20 clients insert 10-row batches
 * into a table shaped like recognition_events (primary key, two indexes, the statement trigger) on a scratch
 * Postgres, once with a NOTIFY per insert and once with the trigger's current rule, twice each; prints commits
 * per second, insert latency and Postgres CPU per insert. A NOTIFYing commit holds a database-wide lock
 * through its WAL flush, so the first variant commits in single file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startLocalPostgres } from '../../lib/postgres';
import { freePort } from '../../lib/process';
import { sampleCpu } from './cpuMeter';

const CLIENTS = 20;
const INSERTS_PER_CLIENT = 150;

const TRIGGER_BODIES: Record<string, string> = {
  'NOTIFY on every insert': `IF EXISTS (SELECT 1 FROM inserted) THEN PERFORM pg_notify('inbox', ''); END IF;`,
  'NOTIFY when the inbox was empty': `IF EXISTS (SELECT 1 FROM inserted) AND NOT EXISTS (
       SELECT 1 FROM ev e WHERE e.delivered_at IS NULL AND e.received_at < now()) THEN
       PERFORM pg_notify('inbox', ''); END IF;`,
};

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-notify-'));
  const server = await startLocalPostgres({ dataDir, port: await freePort() });
  const postmaster = Number(
    fs.readFileSync(path.join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0],
  );
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    for (const round of [1, 2]) {
      for (const [variant, body] of Object.entries(TRIGGER_BODIES)) {
        await admin.query(`
          DROP TABLE IF EXISTS ev;
          CREATE TABLE ev (event_id text PRIMARY KEY, session_id text NOT NULL,
                           received_at timestamptz NOT NULL DEFAULT now(), delivered_at timestamptz);
          CREATE INDEX ON ev (session_id);
          CREATE INDEX ON ev (received_at) WHERE delivered_at IS NULL;
          CREATE OR REPLACE FUNCTION ev_notify() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN ${body} RETURN NULL; END $$;
          CREATE TRIGGER ev_notify AFTER INSERT ON ev REFERENCING NEW TABLE AS inserted
            FOR EACH STATEMENT EXECUTE FUNCTION ev_notify();`);
        const listener = new pg.Client({ connectionString: server.adminUrl });
        await listener.connect();
        await listener.query('LISTEN inbox');
        let notifications = 0;
        listener.on('notification', () => notifications++);
        const clients = await Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            const c = new pg.Client({ connectionString: server.adminUrl });
            await c.connect();
            return c;
          }),
        );
        const latencies: number[] = [];
        const cpuBefore = sampleCpu([{ name: 'postgres', pid: postmaster }]).get('postgres') ?? 0;
        const started = Date.now();
        await Promise.all(
          clients.map(async (c, ci) => {
            for (let i = 0; i < INSERTS_PER_CLIENT; i++) {
              const ids = Array.from({ length: 10 }, (_, k) => `${round}-${variant}-${ci}-${i}-${k}`);
              const t = process.hrtime.bigint();
              await c.query(
                'INSERT INTO ev (event_id, session_id) SELECT id, $2 FROM unnest($1::text[]) AS id',
                [ids, `session-${ci}`],
              );
              latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
            }
          }),
        );
        const ms = Date.now() - started;
        const cpuMs = (sampleCpu([{ name: 'postgres', pid: postmaster }]).get('postgres') ?? 0) - cpuBefore;
        const n = latencies.length;
        latencies.sort((a, b) => a - b);
        process.stdout.write(
          `${variant} (round ${round}): ${((n / ms) * 1000).toFixed(0)} commits/s, latency P50 ` +
            `${latencies[Math.floor(n * 0.5)].toFixed(1)} ms / P95 ${latencies[Math.floor(n * 0.95)].toFixed(1)} ms, ` +
            `Postgres CPU ${(cpuMs / n).toFixed(2)} ms per insert, ${notifications} notifications\n`,
        );
        await Promise.all(clients.map((c) => c.end()));
        await listener.end();
      }
    }
  } finally {
    await admin.end();
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
