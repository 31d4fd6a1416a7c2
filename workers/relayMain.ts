/**
 * A standalone inbox relay process (`npm run relay`), for deployments that run relays apart from the
 * workers (then set RELAY_IN_WORKER=false on the workers). Any number may run: claims never overlap and a
 * relay that dies leaves only leases (RELAY_LEASE_SECONDS). Needs DATABASE_URL and TEMPORAL_ADDRESS.
 */
import { config } from '../lib/config';
import { createDb } from '../lib/db';
import { logger } from '../lib/logger';
import { serveMetrics } from '../lib/metrics';
import { Client, Connection } from '@temporalio/client';
import { temporalConnectionOptions } from '../lib/temporal/connection';
import { relayConfig, startInboxRelay } from './relay';

async function main(): Promise<void> {
  const cfg = config();
  const log = logger();
  if (!cfg.DATABASE_URL || !cfg.TEMPORAL_ADDRESS) {
    log.fatal('a standalone relay needs DATABASE_URL and TEMPORAL_ADDRESS (npm start runs one in-process)');
    process.exit(2);
  }
  const db = createDb(cfg.DATABASE_URL, cfg.DB_POOL_MAX);
  // Lazy: a relay starts (and keeps its rows) while Temporal is down, and delivers once it is back.
  const temporal = new Client({
    connection: Connection.lazy(temporalConnectionOptions(cfg, cfg.TEMPORAL_ADDRESS)),
    namespace: cfg.TEMPORAL_NAMESPACE,
  });
  const relay = startInboxRelay({
    db,
    temporal,
    log,
    listenUrl: cfg.DATABASE_URL_DIRECT ?? cfg.DATABASE_URL,
    ...relayConfig(cfg),
  });
  const metricsServer =
    cfg.RELAY_METRICS_PORT > 0 ? await serveMetrics(cfg.RELAY_METRICS_PORT, cfg.METRICS_TOKEN) : undefined;
  const stop = async () => {
    log.info('relay draining');
    metricsServer?.close();
    await relay.stop();
    await temporal.connection.close();
    await db.destroy();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err) => {
  logger().fatal({ err }, 'relay failed');
  process.exit(1);
});
