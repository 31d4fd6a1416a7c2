import type { Knex } from 'knex';

/**
 * devices.config now holds only the settings an admin set explicitly; an absent field means the device runs
 * its own default (the model manifest's calibrated recognition values, its own FRAME_SKIP / CAMERA_FPS).
 * Older code filled in recognitionThreshold 0.5, frameSkip 2 and fps 8 at provisioning, and every heartbeat
 * answer carried them, so 0.5 overrode each device's calibrated threshold. Those values are removed: an
 * admin's explicit setting equal to one of them cannot be told apart and goes too (set it again if meant).
 * The device workflow cleans the same values out of state recorded by older code (workflows/device.ts).
 */
const LEGACY_DEFAULTS = { recognitionThreshold: 0.5, frameSkip: 2, fps: 8 };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `UPDATE devices d
        SET config = (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
                        FROM jsonb_each(d.config) e
                       WHERE (?::jsonb -> e.key) IS DISTINCT FROM e.value)`,
    [JSON.stringify(LEGACY_DEFAULTS)],
  );
}

export async function down(knex: Knex): Promise<void> {
  // Older code knows neither the margin nor the vote count, and expects the filled-in defaults.
  await knex.raw(
    `UPDATE devices SET config = ?::jsonb || (config - 'recognitionMinMargin' - 'recognitionVotes')`,
    [JSON.stringify(LEGACY_DEFAULTS)],
  );
}
