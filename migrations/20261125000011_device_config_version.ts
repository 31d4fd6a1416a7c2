import type { Knex } from 'knex';

/**
 * devices.config holds the settings pushed to a device; config_version counts changes, so a heartbeat
 * response can say which version it carries and the device can report which one it applied.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    'ALTER TABLE devices ADD COLUMN config_version integer NOT NULL DEFAULT 0 CHECK (config_version >= 0)',
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE devices DROP COLUMN config_version');
}
