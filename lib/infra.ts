/**
 * Brings up the real components a Rollcall process needs, honouring external ones when configured:
 * Postgres (DATABASE_URL, else a local server in the data dir) and Temporal (TEMPORAL_ADDRESS, else
 * `temporal server start-dev` with a SQLite file and the Web UI).
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config';
import { ensureDatabase } from './db';
import { startLocalPostgres } from './postgres';
import { resolveTemporalCli } from './temporal/cli';
import { startDevServer } from './temporal/devServer';

export interface Postgres {
  url: string;
  local: boolean;
  stop(): Promise<void>;
}

export async function ensurePostgres(cfg: Config, log: Logger, database = 'rollcall'): Promise<Postgres> {
  if (cfg.DATABASE_URL) return { url: cfg.DATABASE_URL, local: false, stop: async () => undefined };
  const pg = await startLocalPostgres({
    dataDir: path.join(cfg.ROLLCALL_DATA_DIR, 'postgres'),
    port: cfg.PG_PORT,
    log: (m) => log.info(m),
  });
  await ensureDatabase(pg.adminUrl, database);
  log.info({ port: pg.port, dataDir: pg.dataDir, version: pg.bin.version }, 'local Postgres ready');
  return { url: pg.urlFor(database), local: true, stop: pg.stop };
}

export interface Temporal {
  address: string;
  uiUrl?: string;
  stop(): Promise<void>;
}

export async function ensureTemporal(cfg: Config, log: Logger): Promise<Temporal> {
  if (cfg.TEMPORAL_ADDRESS) {
    return { address: cfg.TEMPORAL_ADDRESS, uiUrl: cfg.TEMPORAL_UI_URL, stop: async () => undefined };
  }
  const cliPath = await resolveTemporalCli({
    explicitPath: cfg.TEMPORAL_CLI_PATH,
    cacheDir: cfg.ROLLCALL_CACHE_DIR,
    version: cfg.TEMPORAL_CLI_VERSION,
    log: (m) => log.info(m),
  });
  const dir = path.join(cfg.ROLLCALL_DATA_DIR, 'temporal');
  const server = await startDevServer({
    cliPath,
    port: cfg.TEMPORAL_PORT,
    uiPort: cfg.TEMPORAL_UI_PORT,
    dbFile: path.join(dir, 'temporal.sqlite'),
    namespace: cfg.TEMPORAL_NAMESPACE,
    logFile: path.join(dir, 'server.log'),
  });
  log.info({ address: server.address, ui: server.uiUrl, cli: cliPath }, 'Temporal dev server ready');
  return { address: server.address, uiUrl: server.uiUrl, stop: server.stop };
}
