import type { Knex } from 'knex';

/**
 * The inbox's NOTIFY only when it can matter: when the inserted rows are the only undelivered ones (an idle
 * relay is waiting for them).
 *
 * A transaction that NOTIFYs takes one database-wide lock at commit and holds it until its commit record is
 * flushed (Postgres serialises the notification queue that way), so a NOTIFY on every batch serialised every
 * inbox commit behind the previous one's WAL flush — no group commit on the API's hottest write — and woke
 * the relays once per batch although, under load, they claim on their own cadence anyway. While older
 * undelivered rows exist a relay is either working through them or will claim again within its poll
 * interval (RELAY_POLL_MS), which also bounds the one race this leaves: rows committed while the relay
 * finishes the very batch that made the inbox empty wait at most one poll.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION notify_recognition_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM inserted)
         AND NOT EXISTS (SELECT 1 FROM recognition_events e
                          WHERE e.delivered_at IS NULL AND e.received_at < now()) THEN
        PERFORM pg_notify('rollcall_inbox', '');
      END IF;
      RETURN NULL;
    END $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION notify_recognition_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify('rollcall_inbox', '');
      END IF;
      RETURN NULL;
    END $$;
  `);
}
