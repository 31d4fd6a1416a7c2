/**
 * Hot-path statements (every device request runs them) sent straight to a connection of knex's pool as named
 * prepared statements: Postgres parses and plans each once per connection instead of once per request, and
 * the query builder's per-query work is skipped. Same pool, same errors (pg's, with their SQLSTATE), so the
 * error middleware maps an unavailable Postgres to 503 as for any other query. Never inside a transaction (it
 * takes its own connection). Everything else uses knex.
 */
import type { Knex } from 'knex';
import type pg from 'pg';

export interface PreparedQuery {
  /** Unique per statement text: Postgres keeps one plan per name and connection. */
  name: string;
  text: string;
}

interface PoolClient {
  acquireConnection(): Promise<pg.Client>;
  releaseConnection(connection: pg.Client): Promise<unknown>;
}

export async function runPrepared<R extends pg.QueryResultRow>(
  db: Knex,
  query: PreparedQuery,
  values: unknown[],
): Promise<R[]> {
  const pool = db.client as unknown as PoolClient;
  const connection = await pool.acquireConnection();
  try {
    const result = await connection.query<R>({ name: query.name, text: query.text, values });
    return result.rows;
  } finally {
    await pool.releaseConnection(connection);
  }
}

/**
 * Opens up to `connections` connections of the pool and runs each statement once on every one of them with
 * parameters that touch no row, so the first requests after a start (a 9 AM herd hitting a new replica)
 * find connections open and statements parsed and planned rather than paying for it in their latency.
 */
export async function warmPrepared(
  db: Knex,
  statements: readonly { query: PreparedQuery; values: unknown[] }[],
  connections: number,
): Promise<void> {
  const pool = db.client as unknown as PoolClient;
  const held = await Promise.all(Array.from({ length: connections }, () => pool.acquireConnection()));
  try {
    await Promise.all(
      held.map(async (connection) => {
        for (const { query, values } of statements)
          await connection.query({ name: query.name, text: query.text, values });
      }),
    );
  } finally {
    await Promise.all(held.map((c) => pool.releaseConnection(c)));
  }
}
