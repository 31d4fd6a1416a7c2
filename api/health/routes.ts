import type { Router } from 'express';
import { featureRouter } from '../router';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import { requireUser } from '../auth/user';

async function probe(
  fn: () => Promise<unknown>,
  timeoutMs = 2000,
): Promise<{ ok: boolean; ms: number; error?: string }> {
  const started = process.hrtime.bigint();
  try {
    await Promise.race([
      fn(),
      new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), timeoutMs).unref()),
    ]);
    return { ok: true, ms: Number(process.hrtime.bigint() - started) / 1e6 };
  } catch (e) {
    return { ok: false, ms: Number(process.hrtime.bigint() - started) / 1e6, error: (e as Error).message };
  }
}

export function healthRoutes(db: Knex, temporal: Client): Router {
  const router = featureRouter();
  const checks = async () => ({
    database: await probe(() => db.raw('SELECT 1')),
    temporal: await probe(() => temporal.workflowService.getSystemInfo({})),
  });
  router.get('/health', (_req, res) => void res.json({ status: 'ok' }));
  router.get('/health/live', (_req, res) => void res.json({ status: 'ok' }));
  router.get('/health/ready', async (_req, res) => {
    const c = await checks();
    // Only Postgres: batches go to the inbox and wait there while Temporal is down, so a replica must not
    // leave the load balancer then (the relay delivers later). Temporal's state is reported, and detailed.
    const ok = c.database.ok;
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ready' : 'not_ready',
      checks: { database: c.database.ok, temporal: c.temporal.ok },
    });
  });
  // Probes and the load balancer use the others unauthenticated; the detailed view (latencies, errors,
  // memory) is for operators only.
  router.get('/health/detailed', requireUser(['admin']), async (_req, res) => {
    const c = await checks();
    const ok = c.database.ok && c.temporal.ok;
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ok' : 'degraded',
      uptimeSeconds: Math.round(process.uptime()),
      memory: { rssBytes: process.memoryUsage().rss },
      checks: c,
    });
  });
  return router;
}
