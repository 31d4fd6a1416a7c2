/**
 * The one retry helper of the edge: exponential backoff with full jitter, capped, honouring a server's
 * Retry-After, abortable. Every network call of the device goes through it.
 */

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** Give up after this many attempts (default: never; the caller's signal stops it). */
  maxAttempts?: number;
  /** Longest Retry-After we obey, so a misconfigured proxy cannot park the device for a day. */
  maxRetryAfterMs?: number;
  signal?: AbortSignal;
  isRetryable?: (err: unknown) => boolean;
  onRetry?: (info: { attempt: number; delayMs: number; err: unknown }) => void;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** An error that says how long the server asked us to wait (HTTP Retry-After). */
export interface RetryAfterHint {
  retryAfterMs?: number;
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Delay before retry number `attempt` (1-based): full jitter over min(max, initial·factor^(attempt−1)). */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, err?: unknown): number {
  const initial = opts.initialMs ?? 1000;
  const max = opts.maxMs ?? 5 * 60_000;
  const cap = Math.min(max, initial * (opts.factor ?? 2) ** (attempt - 1));
  const jittered = (opts.random ?? Math.random)() * cap;
  const hint = (err as RetryAfterHint | undefined)?.retryAfterMs;
  if (typeof hint === 'number' && Number.isFinite(hint) && hint >= 0) {
    // The server's wish is the floor; a little jitter on top keeps a fleet of Pis from retrying in step.
    return Math.min(hint, opts.maxRetryAfterMs ?? 15 * 60_000) + jittered * 0.1;
  }
  return jittered;
}

export async function withBackoff<T>(
  fn: (attempt: number) => Promise<T>,
  opts: BackoffOptions = {},
): Promise<T> {
  const sleep = opts.sleep ?? abortableSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (opts.isRetryable && !opts.isRetryable(err)) throw err;
      if (opts.maxAttempts !== undefined && attempt >= opts.maxAttempts) throw err;
      const delayMs = backoffDelay(attempt, opts, err);
      opts.onRetry?.({ attempt, delayMs, err });
      await sleep(delayMs, opts.signal);
    }
  }
}

/** Parses an HTTP Retry-After value (delta-seconds or HTTP-date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
