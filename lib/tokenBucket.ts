/**
 * In-memory token buckets, one per key (a device id, a client IP). A bucket holds up to `capacity` tokens
 * and refills `capacity` per `periodMs`; a request takes one. Per process: behind several API replicas
 * each enforces its own share, which is fine for abuse protection (not for billing).
 */
export interface TakeResult {
  ok: boolean;
  remaining: number;
  /** Seconds until one token is available again (0 when ok). */
  retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private lastSweepMs = 0;

  constructor(
    readonly capacity: number,
    readonly periodMs: number = 60_000,
    private readonly now: () => number = Date.now,
    /** Upper bound on tracked keys, so a flood of distinct keys cannot exhaust memory. */
    private readonly maxKeys = 100_000,
  ) {
    if (!(capacity >= 1) || !(periodMs > 0)) throw new RangeError('capacity must be ≥ 1 and period > 0');
    this.perMs = capacity / periodMs;
  }

  take(key: string, cost = 1): TakeResult {
    const now = this.now();
    this.sweep(now);
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
      b = { tokens: this.capacity, updatedMs: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.capacity, b.tokens + (now - b.updatedMs) * this.perMs);
    b.updatedMs = now;
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return { ok: true, remaining: Math.floor(b.tokens), retryAfterSeconds: 0 };
    }
    return {
      ok: false,
      remaining: 0,
      retryAfterSeconds: Math.max(1, Math.ceil((cost - b.tokens) / this.perMs / 1000)),
    };
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Full buckets carry no information: drop them once a period. */
  private sweep(now: number): void {
    if (now - this.lastSweepMs < this.periodMs) return;
    this.lastSweepMs = now;
    for (const [k, b] of this.buckets) {
      if (b.tokens + (now - b.updatedMs) * this.perMs >= this.capacity) this.buckets.delete(k);
    }
  }
}
