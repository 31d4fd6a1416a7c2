/**
 * Rate limits as middleware over lib/tokenBucket. Device routes share one limiter per app, looked up by
 * `requireDevice` once it knows the device (so every device route, present and future, is covered).
 */
import type { Application, Request, RequestHandler } from 'express';
import type { TokenBuckets } from '../../lib/tokenBucket';
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

export function rateLimited(
  limiter: TokenBuckets,
  keyOf: (req: Request) => string,
  what = 'client',
): RequestHandler {
  return (req, res, next) => {
    const r = limiter.take(keyOf(req));
    res.setHeader('RateLimit-Limit', String(limiter.capacity));
    res.setHeader('RateLimit-Remaining', String(r.remaining));
    if (!r.ok) return next(tooManyRequests(r.retryAfterSeconds, what));
    next();
  };
}

const deviceLimiters = new WeakMap<Application, TokenBuckets>();

export function setDeviceLimiter(app: Application, limiter: TokenBuckets): void {
  deviceLimiters.set(app, limiter);
}

export function deviceLimiterOf(app: Application): TokenBuckets | undefined {
  return deviceLimiters.get(app);
}
