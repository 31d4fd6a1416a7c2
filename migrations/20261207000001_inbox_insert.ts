import type { Knex } from 'knex';
import { TENANT_ROLE } from './20261206000001_schools';

/**
 * The inbox insert (every device batch) without per-row work it did not need.
 *
 * recognition_events rows are written by the API for the device it has just authenticated, so the API names
 * the row's school (the device's) and the tenancy trigger only runs for a row that names none (a plpgsql
 * call, to_jsonb of the row and a device look-up per record: a third of the insert's time). That the device
 * is of the row's school stays a database rule: the foreign key to the device is now (device_id, school_id)
 * → devices (id, school_id), one look-up that checks both. The key to schools goes: the device's own key
 * covers it, and it locked the one `schools` row FOR KEY SHARE from every concurrent batch of a school.
 *
 * The undelivered rows' index by received_at goes: claims read the per-session one, and so can the NOTIFY
 * trigger's check. (Delivery state leaves this table altogether in 20261208000001_inbox_pending.)
 *
 * Nothing in a school's scope writes the inbox (the API's insert runs as the owner, the relay too), so the
 * tenant role keeps SELECT and DELETE on it (reports, erasure) and loses INSERT and UPDATE.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE devices ADD CONSTRAINT devices_id_school_key UNIQUE (id, school_id);
    ALTER TABLE recognition_events
      DROP CONSTRAINT recognition_events_school_id_fkey,
      DROP CONSTRAINT recognition_events_device_id_fkey,
      ADD CONSTRAINT recognition_events_device_school_fkey FOREIGN KEY (device_id, school_id)
        REFERENCES devices (id, school_id) NOT VALID;
    ALTER TABLE recognition_events VALIDATE CONSTRAINT recognition_events_device_school_fkey;
    DROP TRIGGER recognition_events_school ON recognition_events;
    CREATE TRIGGER recognition_events_school BEFORE INSERT OR UPDATE OF device_id ON recognition_events
      FOR EACH ROW WHEN (NEW.school_id IS NULL)
      EXECUTE FUNCTION rollcall_assign_school('required', 'devices', 'device_id');
    REVOKE INSERT, UPDATE ON recognition_events FROM ${TENANT_ROLE};
    DROP INDEX recognition_events_undelivered_idx;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX recognition_events_undelivered_idx ON recognition_events (received_at) WHERE delivered_at IS NULL;
    GRANT INSERT, UPDATE ON recognition_events TO ${TENANT_ROLE};
    DROP TRIGGER recognition_events_school ON recognition_events;
    CREATE TRIGGER recognition_events_school BEFORE INSERT OR UPDATE OF device_id ON recognition_events
      FOR EACH ROW EXECUTE FUNCTION rollcall_assign_school('required', 'devices', 'device_id');
    ALTER TABLE recognition_events
      DROP CONSTRAINT recognition_events_device_school_fkey,
      ADD CONSTRAINT recognition_events_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices (id),
      ADD CONSTRAINT recognition_events_school_id_fkey FOREIGN KEY (school_id) REFERENCES schools (id);
    ALTER TABLE devices DROP CONSTRAINT devices_id_school_key;
  `);
}
