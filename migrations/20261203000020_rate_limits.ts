import type { Knex } from 'knex';

/**
 * Rate-limit counters shared by every API replica (lib/rateLimiter.ts): one row per limited subject
 * (`<rule>:<sha256 of the subject>`, so no e-mail or address is stored), counting hits until `expires_at`,
 * when the next hit opens a new window. Expired rows carry no information and are swept. UNLOGGED: counters
 * are written on every device request and worth nothing after a crash (Postgres empties the table then).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE UNLOGGED TABLE rate_limit_counters (
      key text PRIMARY KEY,
      hits integer NOT NULL CHECK (hits >= 0),
      expires_at timestamptz NOT NULL
    )
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE rate_limit_counters');
}
