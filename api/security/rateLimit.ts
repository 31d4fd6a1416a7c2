/**
 * Rate limits over lib/rateLimiter (counters in Postgres, one limit across API replicas). Device routes share
 * one set of limiters per app, looked up by `requireDevice` (so every device route, present and future, is
 * covered): per device, and wrong keys per client IP. Login has its own (api/auth/routes.ts).
 */
import type { Application, Response } from 'express';
import type { RateLimitResult, RateLimiter } from '../../lib/rateLimiter';
import { AppError } from '../errors';

export function tooManyRequests(retryAfterSeconds: number, what: string): AppError {
  return new AppError(
    429,
    'rate_limited',
    `too many requests from this ${what}; retry in ${retryAfterSeconds} s`,
    { retryAfterSeconds },
    {
      'Retry-After': String(retryAfterSeconds),
    },
  );
}

/**
 * Counts one hit on each limiter (every one, even when an earlier one is over: a client that keeps knocking
 * keeps all its windows full) and answers as `answerLimits` does.
 */
export async function enforceLimits(
  res: Response,
  hits: readonly { limiter: RateLimiter; subject: string }[],
  what: string,
): Promise<void> {
  const results: RateLimitResult[] = [];
  for (const h of hits) results.push(await h.limiter.hit(h.subject));
  answerLimits(res, results, what);
}

/** RateLimit-* headers describe the tightest of `results`; throws 429 with the longest Retry-After when any is over. */
export function answerLimits(res: Response, results: readonly RateLimitResult[], what: string): void {
  const tightest = results.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  res.setHeader('RateLimit-Limit', String(tightest.limit));
  res.setHeader('RateLimit-Remaining', String(tightest.remaining));
  const over = results.filter((r) => !r.ok);
  if (over.length > 0) throw tooManyRequests(Math.max(...over.map((r) => r.retryAfterSeconds)), what);
}

export interface DeviceLimiters {
  /** Requests per device (all device routes). */
  perDevice: RateLimiter;
  /** Wrong device keys per client IP; once used up, every device request from that IP is 429. */
  authFailuresPerIp: RateLimiter;
}

const deviceLimiters = new WeakMap<Application, DeviceLimiters>();

export function setDeviceLimiters(app: Application, limiters: DeviceLimiters): void {
  deviceLimiters.set(app, limiters);
}

export function deviceLimitersOf(app: Application): DeviceLimiters | undefined {
  return deviceLimiters.get(app);
}
