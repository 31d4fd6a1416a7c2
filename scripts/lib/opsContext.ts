/**
 * What the operator CLIs (scripts/device.ts, scripts/backup.ts) need: the database (DATABASE_URL, or the
 * local server `npm start` runs, started and stopped again if it was down) and a Temporal client for the
 * running Rollcall (TEMPORAL_ADDRESS or 127.0.0.1:TEMPORAL_PORT).
 */
import os from 'node:os';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { config, type Config } from '../../lib/config';
import { createDb } from '../../lib/db';
import { ensurePostgres } from '../../lib/infra';
import { logger } from '../../lib/logger';
import { isPortOpen } from '../../lib/process';
import { connectClient } from '../../lib/temporal/connection';
import { AppError } from '../../api/errors';

export interface OpsContext {
  cfg: Config;
  log: Logger;
  db: Knex;
  databaseUrl: string;
  temporal(): Promise<Client>;
  /** `cli:<user>` for audit rows. */
  actor: string;
  close(): Promise<void>;
}

export async function openOpsContext(): Promise<OpsContext> {
  const cfg = config();
  const log = logger();
  const pgWasRunning = cfg.DATABASE_URL !== undefined || (await isPortOpen(cfg.PG_PORT));
  const pg = await ensurePostgres(cfg, log);
  const db = createDb(pg.url, 4);
  let client: Client | undefined;
  return {
    cfg,
    log,
    db,
    databaseUrl: pg.url,
    actor: `cli:${os.userInfo().username}`,
    temporal: async () => {
      client ??= await connectClient(cfg, cfg.TEMPORAL_ADDRESS ?? `127.0.0.1:${cfg.TEMPORAL_PORT}`);
      return client;
    },
    close: async () => {
      await client?.connection.close();
      await db.destroy();
      if (!pgWasRunning) await pg.stop();
    },
  };
}

export class UsageError extends Error {}

/**
 * Runs a CLI main: usage errors exit 2 with the usage text; a refusal the API would give (AppError) prints
 * its code and message and exits 1, like any other failure.
 */
export function runCli(usage: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`${err.message}\n\n${usage}\n`);
        process.exit(2);
      }
      if (err instanceof AppError) {
        process.stderr.write(`${err.code}: ${err.message}\n`);
        process.exit(1);
      }
      const e = err as { message?: string; code?: string };
      process.stderr.write(`error: ${e.message ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
