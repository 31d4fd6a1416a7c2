import type { Knex } from 'knex';

/**
 * What the latest heartbeat said about a device's clock and its dead letters, so the admin device list
 * shows them (the API writes them with last_seen): how far the device's clock is ahead of the server's,
 * how many records the server rejected into its dead-letter file, and the newest reason. NULL: the device
 * has not reported it (older edge software).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE devices
      ADD COLUMN clock_offset_ms bigint,
      ADD COLUMN dead_letters integer CHECK (dead_letters >= 0),
      ADD COLUMN last_dead_letter_reason text,
      ADD COLUMN last_dead_letter_at timestamptz
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE devices
      DROP COLUMN clock_offset_ms,
      DROP COLUMN dead_letters,
      DROP COLUMN last_dead_letter_reason,
      DROP COLUMN last_dead_letter_at
  `);
}
