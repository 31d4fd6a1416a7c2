/**
 * Rate limits kept in Postgres, so every API replica enforces one limit. A rule allows `limit` hits per
 * subject (a device, a client IP, an e-mail address) in a fixed window of `windowSeconds` that opens at the
 * subject's first hit; the counter is one upsert (`rate_limit_counters`), atomic under concurrency, timed by
 * the database's clock (replicas' clocks never disagree about a window). Subjects are stored as SHA-256, so
 * the table holds no e-mail address or IP.
 */
import type { Knex } from 'knex';

export interface RateLimitRule {
  /** Names the rule in keys and messages: `device`, `login-ip-email`, … */
  name: string;
  limit: number;
  windowSeconds: number;
}

export interface RateLimitResult {
  ok: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window ends (≥ 1 when not ok, else 0). */
  retryAfterSeconds: number;
}

export class RateLimiter {
  private lastSweepMs = 0;

  constructor(
    private readonly db: Knex,
    readonly rule: RateLimitRule,
  ) {
    if (!(rule.limit >= 1) || !(rule.windowSeconds > 0))
      throw new RangeError('limit must be ≥ 1 and window > 0');
  }

  /**
   * The verdict on a counter: `counted` when this request's hit is in `hits` (a hit), else a check (blocked
   * once `limit` hits are used up).
   */
  result(hits: number, secondsLeft: number, counted: boolean): RateLimitResult {
    const ok = counted ? hits <= this.rule.limit : hits < this.rule.limit;
    return {
      ok,
      limit: this.rule.limit,
      remaining: Math.max(0, this.rule.limit - hits),
      retryAfterSeconds: ok ? 0 : Math.max(1, Math.ceil(secondsLeft)),
    };
  }

  /** Counts one hit for `subject` and says whether it is within the limit. */
  async hit(subject: string): Promise<RateLimitResult> {
    this.sweepNowAndThen();
    const { rows } = await this.db.raw<{ rows: { hits: number; seconds_left: number }[] }>(
      counterHitSql(`SELECT ${counterKeySql('?::text', '?::text')} AS key, ?::float8 AS window_seconds`),
      [this.rule.name, subject, this.rule.windowSeconds],
    );
    return this.result(rows[0]!.hits, rows[0]!.seconds_left, true);
  }

  /** Whether `subject` may be served now, without counting (blocked once `limit` hits are used up). */
  async check(subject: string): Promise<RateLimitResult> {
    const { rows } = await this.db.raw<{ rows: { hits: number; seconds_left: number }[] }>(
      counterCheckSql(counterKeySql('?::text', '?::text')),
      [this.rule.name, subject],
    );
    return rows[0] ? this.result(rows[0].hits, rows[0].seconds_left, false) : this.result(0, 0, false);
  }

  /**
   * Expired windows carry nothing: delete them about once a window (any rule's sweep clears all rules'). Every
   * hit calls it, including hits counted by a statement of its own (counterHitSql).
   */
  sweepNowAndThen(): void {
    const now = Date.now();
    if (now - this.lastSweepMs < this.rule.windowSeconds * 1000) return;
    this.lastSweepMs = now;
    // Best effort, off the request's path: a failed sweep is retried a window later.
    void this.db.raw('DELETE FROM rate_limit_counters WHERE expires_at <= now()').then(
      () => undefined,
      () => undefined,
    );
  }
}

/**
 * A counter's key as a SQL expression over two text expressions: `<rule>:<base64url SHA-256 of the subject>`,
 * so the table holds no subject in clear and a statement can count a subject it has only just looked up (the
 * device path counts the device its key names in the same statement: api/auth/device.ts).
 */
export function counterKeySql(rule: string, subject: string): string {
  return `(${rule} || ':' || translate(encode(sha256(convert_to(${subject}, 'UTF8')), 'base64'), '+/=', '-_'))`;
}

/**
 * One hit on each counter `source` names (a SELECT of `key` and `window_seconds`): a new or expired window
 * starts at 1, else the count goes up; RETURNING hits and the window's seconds left.
 */
export function counterHitSql(source: string): string {
  return `INSERT INTO rate_limit_counters AS c (key, hits, expires_at)
       SELECT s.key, 1, now() + make_interval(secs => s.window_seconds) FROM (${source}) s
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN c.expires_at <= now() THEN 1 ELSE least(c.hits, 2000000000) + 1 END,
         expires_at = CASE WHEN c.expires_at <= now() THEN EXCLUDED.expires_at ELSE c.expires_at END
       RETURNING hits, extract(epoch FROM expires_at - now())::float8 AS seconds_left`;
}

/** The live window of the counter keyed by the SQL expression `key`: hits and seconds left, or no row. */
export function counterCheckSql(key: string): string {
  return `SELECT hits, extract(epoch FROM expires_at - now())::float8 AS seconds_left
         FROM rate_limit_counters WHERE key = ${key} AND expires_at > now()`;
}
