/**
 * GET /metrics (Prometheus text format) and the request-duration middleware. The registry is this
 * process's (lib/metrics.ts): with `npm start` that includes the worker's device and backup metrics.
 */
import type { RequestHandler, Router } from 'express';
import { featureRouter } from '../router';
import { apiRequestDuration, metricsRegistry } from '../../lib/metrics';
import { metricsAccess, metricsRequestOf } from '../../lib/metricsAccess';
import { AppError } from '../errors';

/** Observes every request under its route pattern (`/api/v1/sessions/:id`), never the raw URL. */
export function requestMetrics(): RequestHandler {
  return (req, res, next) => {
    const end = apiRequestDuration.startTimer();
    res.once('finish', () => {
      const pattern = (req.route as { path?: unknown } | undefined)?.path;
      const route = typeof pattern === 'string' ? `${req.baseUrl}${pattern}` : 'unmatched';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}

/** `token`: METRICS_TOKEN (undefined: loopback clients only, see lib/metricsAccess). */
export function metricsRoutes(token: string | undefined): Router {
  const router = featureRouter();
  router.get('/metrics', async (req, res) => {
    const access = metricsAccess(token, metricsRequestOf(req));
    if (!access.ok) throw new AppError(access.status, access.code, access.message, null, access.headers);
    res.setHeader('Content-Type', metricsRegistry.contentType);
    res.send(await metricsRegistry.metrics());
  });
  return router;
}
