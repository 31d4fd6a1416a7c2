import type { Knex } from 'knex';

/**
 * OneRoster imports (activities/rosterImport.ts).
 *
 * - Rows that came from a school's roster remember where: `source` ('oneroster') and the roster's
 *   `sourced_id`, unique per source. Rows made by hand keep source NULL and are never touched by an import.
 * - students, users and courses gain `active`: a roster that drops or retires a row deactivates it instead
 *   of deleting it, because attendance history refers to it. An enrollment that ends is removed from
 *   `enrollments` (every reader takes a row there to mean "enrolled now"; no history refers to it), which
 *   bumps the course's roster version through the existing trigger.
 * - roster_import_runs: one row per uploaded bundle, with its files, the validated rows (staging), the
 *   planned changes and what became of each, so every workflow activity reads and writes by run id and is
 *   idempotent, and the workflow's history carries ids and counts, never the roster.
 */
const IMPORTED = ['students', 'users', 'courses', 'enrollments', 'schedules'];
const WITH_ACTIVE = ['students', 'users', 'courses'];

export async function up(knex: Knex): Promise<void> {
  for (const table of IMPORTED) {
    await knex.raw(`
      ALTER TABLE ${table} ADD COLUMN source text, ADD COLUMN sourced_id text,
        ADD CONSTRAINT ${table}_source_pair CHECK ((source IS NULL) = (sourced_id IS NULL));
      CREATE UNIQUE INDEX ${table}_source_idx ON ${table} (source, sourced_id) WHERE source IS NOT NULL;
    `);
  }
  for (const table of WITH_ACTIVE) {
    await knex.raw(`ALTER TABLE ${table} ADD COLUMN active boolean NOT NULL DEFAULT true`);
  }
  await knex.raw(`
    CREATE TABLE roster_import_runs (
      id text PRIMARY KEY,
      status text NOT NULL DEFAULT 'received'
        CHECK (status IN ('received', 'validating', 'rejected', 'planning', 'applying', 'applied', 'failed')),
      requested_by text NOT NULL,
      file_name text,
      workflow_id text,
      issues jsonb,
      summary jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz
    );
    CREATE TABLE roster_import_files (
      run_id text NOT NULL REFERENCES roster_import_runs(id) ON DELETE CASCADE,
      name text NOT NULL,
      content bytea NOT NULL,
      PRIMARY KEY (run_id, name)
    );
    CREATE TABLE roster_import_staging (
      run_id text NOT NULL REFERENCES roster_import_runs(id) ON DELETE CASCADE,
      entity text NOT NULL,
      sourced_id text NOT NULL,
      payload jsonb NOT NULL,
      PRIMARY KEY (run_id, entity, sourced_id)
    );
    CREATE TABLE roster_import_changes (
      run_id text NOT NULL REFERENCES roster_import_runs(id) ON DELETE CASCADE,
      seq integer NOT NULL,
      entity text NOT NULL,
      sourced_id text NOT NULL,
      action text NOT NULL CHECK (action IN ('create', 'update', 'deactivate', 'reactivate')),
      before jsonb,
      after jsonb,
      applied_at timestamptz,
      outcome text,
      PRIMARY KEY (run_id, seq)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(
    `DROP TABLE roster_import_changes, roster_import_staging, roster_import_files, roster_import_runs`,
  );
  for (const table of WITH_ACTIVE) await knex.raw(`ALTER TABLE ${table} DROP COLUMN active`);
  for (const table of IMPORTED) {
    await knex.raw(`
      DROP INDEX ${table}_source_idx;
      ALTER TABLE ${table} DROP CONSTRAINT ${table}_source_pair, DROP COLUMN source, DROP COLUMN sourced_id;
    `);
  }
}
