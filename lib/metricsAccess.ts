/**
 * Who may read /metrics (device names, rooms, temperatures, route latencies): with METRICS_TOKEN, whoever
 * presents it as `Authorization: Bearer <token>`; without it, only a client on this machine's loopback
 * interface that did not come through a proxy (a reverse proxy on the same host would otherwise make every
 * internet client look local). Shared by the API's route and a standalone worker's metrics server.
 */
import crypto from 'node:crypto';
import { isLoopbackHost } from './config';

export interface MetricsRequest {
  authorization?: string;
  /** The socket's peer address (never X-Forwarded-For). */
  remoteAddress?: string;
  /** The request carries X-Forwarded-For, Forwarded or X-Real-IP: it was relayed by a proxy. */
  proxied: boolean;
}

export type MetricsDecision =
  | { ok: true }
  | { ok: false; status: 401 | 403; code: string; message: string; headers: Record<string, string> };

const digest = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest();

export function metricsAccess(token: string | undefined, req: MetricsRequest): MetricsDecision {
  if (token) {
    const given = /^Bearer (\S+)$/.exec(req.authorization?.trim() ?? '')?.[1];
    // Compared as digests: constant time, whatever the length given.
    if (given !== undefined && crypto.timingSafeEqual(digest(given), digest(token))) return { ok: true };
    return {
      ok: false,
      status: 401,
      code: 'unauthenticated',
      message: 'metrics need Authorization: Bearer <METRICS_TOKEN>',
      headers: { 'WWW-Authenticate': 'Bearer realm="rollcall-metrics"' },
    };
  }
  if (!req.proxied && req.remoteAddress !== undefined && isLoopbackHost(req.remoteAddress))
    return { ok: true };
  return {
    ok: false,
    status: 403,
    code: 'forbidden',
    message: 'metrics are served to loopback clients only; set METRICS_TOKEN to scrape from elsewhere',
    headers: {},
  };
}

/** Reads the parts of a Node request metricsAccess needs. */
export function metricsRequestOf(req: {
  headers: Record<string, string | string[] | undefined>;
  socket: { remoteAddress?: string };
}): MetricsRequest {
  const h = req.headers;
  const authorization = typeof h.authorization === 'string' ? h.authorization : undefined;
  return {
    authorization,
    remoteAddress: req.socket.remoteAddress,
    proxied: h['x-forwarded-for'] !== undefined || h.forwarded !== undefined || h['x-real-ip'] !== undefined,
  };
}
