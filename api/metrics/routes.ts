/**
 * GET /metrics (Prometheus text format) and the request-duration middleware. The registry is this
 * process's (lib/metrics.ts): with `npm start` that includes the worker's device and backup metrics.
 */
import { Router, type RequestHandler } from 'express';
import { apiRequestDuration, metricsRegistry } from '../../lib/metrics';

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

export function metricsRoutes(): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metricsRegistry.contentType);
    res.send(await metricsRegistry.metrics());
  });
  return router;
}
