import type { Knex } from 'knex';

/**
 * One row per backup run (scheduled or by an operator): where the dump is, its checksum, the row counts
 * of every table at the dump's snapshot (the verification compares a restore against them), and what the
 * retention policy did with it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE backups (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      run_key text NOT NULL UNIQUE,
      trigger text NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'manual')),
      status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'dumped', 'verified', 'failed', 'pruned')),
      database_name text NOT NULL,
      file_path text,
      size_bytes bigint,
      sha256 text CHECK (sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'),
      server_version text,
      pg_dump_version text,
      table_counts jsonb,
      started_at timestamptz NOT NULL DEFAULT now(),
      snapshot_at timestamptz,
      dumped_at timestamptz,
      verified_at timestamptz,
      pruned_at timestamptz,
      dump_ms integer,
      verify_ms integer,
      error text
    );
    CREATE INDEX backups_status_snapshot_idx ON backups (status, snapshot_at DESC);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE backups');
}
