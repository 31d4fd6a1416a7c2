import type { Knex } from 'knex';

/**
 * recognition_events becomes the durable inbox in front of Temporal: the API answers 202 once a batch's rows
 * are committed here, and the relay (workers/relay.ts) delivers them to the session workflows.
 *
 * - delivered_at: when a relay handed the row to its workflow (NULL: still to deliver). Rows from before
 *   the inbox were signalled by the API before it answered; they read '-infinity' (a column default applied
 *   without rewriting the table, then dropped, so new rows start undelivered).
 * - lease_until / delivery_attempts: a relay claims rows FOR UPDATE SKIP LOCKED and leases them; rows of a
 *   relay that died are claimed again once the lease has passed, failed deliveries come back after a delay.
 * - Partial indexes keep the claim query on the undelivered rows only: oldest first, and per session (a
 *   row waits while an earlier row of its session is leased, so each session receives in order).
 * - A statement trigger NOTIFYs `rollcall_inbox` after every insert that added rows, so relays wake at the
 *   commit instead of at their next poll (notifications are sent only when the transaction commits).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE recognition_events
      ADD COLUMN delivered_at timestamptz DEFAULT '-infinity',
      ADD COLUMN lease_until timestamptz,
      ADD COLUMN delivery_attempts integer NOT NULL DEFAULT 0;
    ALTER TABLE recognition_events ALTER COLUMN delivered_at DROP DEFAULT;
    CREATE INDEX recognition_events_undelivered_idx ON recognition_events (received_at)
      WHERE delivered_at IS NULL;
    CREATE INDEX recognition_events_undelivered_session_idx ON recognition_events (session_id, received_at)
      WHERE delivered_at IS NULL;

    CREATE FUNCTION notify_recognition_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify('rollcall_inbox', '');
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER recognition_events_notify_inbox
      AFTER INSERT ON recognition_events REFERENCING NEW TABLE AS inserted
      FOR EACH STATEMENT EXECUTE FUNCTION notify_recognition_inbox();
  `);
}

/** Reverts to signalling from the API: rows still undelivered then are never delivered (drain relays first). */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER recognition_events_notify_inbox ON recognition_events;
    DROP FUNCTION notify_recognition_inbox();
    DROP INDEX recognition_events_undelivered_session_idx;
    DROP INDEX recognition_events_undelivered_idx;
    ALTER TABLE recognition_events
      DROP COLUMN delivered_at,
      DROP COLUMN lease_until,
      DROP COLUMN delivery_attempts;
  `);
}
