import type { Knex } from 'knex';

/**
 * The inbox's delivery state moves out of `recognition_events` into `inbox_pending`, a narrow queue of the
 * events still to deliver (one row per undelivered event, deleted once delivered), and `inbox_leases`, one
 * row per session a relay holds (in flight, or waiting for a retry after a failed delivery).
 *
 * Before, each event's row was written three times: the insert, the claim's lease and the delivered mark.
 * The mark changed `delivered_at`, which the undelivered-rows index names in its predicate, so it could never
 * be a HOT update: a new version of the wide row and a new entry in each of its indexes, for every event
 * (measured under the 10,000 batches/min herd: more Postgres time than the API's insert itself), and the
 * lease rewrote every row it claimed. Now the insert adds a small queue row beside the event (same
 * transaction), a claim writes one lease row per session (not per event) and delivery deletes the queue rows
 * (no index entry written) and the lease. `recognition_events` is written once and never updated by delivery.
 *
 * - Every committed event is pending until delivered: a statement trigger on `recognition_events` inserts
 *   its queue rows, so no writer (an API replica of the previous release during a rolling upgrade included)
 *   can commit an event the relays would never see. It also sends the relays' NOTIFY, only when nothing older
 *   was waiting (migration 20261205000020_ingest explains why).
 * - A queue row never outlives its event: deleting events (retention, erasure) deletes their queue rows.
 * - Both trigger functions run as their owner: the tenant role (row-level security) may delete events it
 *   can see and has no privilege on the queue, which holds no school's data beyond ids.
 * - A lease names its holder (a claim's random id), so a relay whose lease ran out and was taken over
 *   cannot end or extend its successor's.
 * - Queue rows die young: both tables are vacuumed after 5 % of them (or 1,000 rows) has died, not the
 *   default 20 %; leases keep room on each page for their HOT rewrites.
 * - Events undelivered at migration time are queued, their sessions' live leases kept. Receive → delivered stays
 *   a metric (`rollcall_inbox_delivery_lag_seconds`); the per-row `delivered_at` goes with its columns.
 *
 * Stop the relays of the previous release before migrating (they read the dropped columns); API replicas
 * of either release may run throughout.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE inbox_pending (
      session_id text NOT NULL,
      received_at timestamptz NOT NULL,
      event_id text NOT NULL,
      PRIMARY KEY (session_id, received_at, event_id)
    ) WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold = 1000);
    INSERT INTO inbox_pending (session_id, received_at, event_id)
      SELECT session_id, received_at, event_id FROM recognition_events WHERE delivered_at IS NULL;
    CREATE TABLE inbox_leases (
      session_id text PRIMARY KEY,
      lease_until timestamptz NOT NULL,
      delivery_attempts integer NOT NULL,
      holder uuid NOT NULL
    ) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold = 1000);
    INSERT INTO inbox_leases (session_id, lease_until, delivery_attempts, holder)
      SELECT session_id, max(lease_until), max(delivery_attempts), gen_random_uuid() FROM recognition_events
       WHERE delivered_at IS NULL AND lease_until > now() GROUP BY session_id;

    DROP TRIGGER recognition_events_notify_inbox ON recognition_events;
    DROP FUNCTION notify_recognition_inbox();
    CREATE FUNCTION queue_recognition_events() RETURNS trigger LANGUAGE plpgsql
      SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM inserted) THEN
        RETURN NULL;
      END IF;
      -- Nothing waiting yet (read through the key, which skips delivered rows' dead entries cheaply).
      PERFORM 1 FROM inbox_pending p ORDER BY p.session_id, p.received_at, p.event_id LIMIT 1;
      IF NOT FOUND THEN
        PERFORM pg_notify('rollcall_inbox', '');
      END IF;
      INSERT INTO inbox_pending (session_id, received_at, event_id)
        SELECT i.session_id, i.received_at, i.event_id FROM inserted i;
      RETURN NULL;
    END $$;
    CREATE TRIGGER recognition_events_queue
      AFTER INSERT ON recognition_events REFERENCING NEW TABLE AS inserted
      FOR EACH STATEMENT EXECUTE FUNCTION queue_recognition_events();

    CREATE FUNCTION unqueue_recognition_events() RETURNS trigger LANGUAGE plpgsql
      SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      DELETE FROM inbox_pending p USING deleted d
       WHERE p.session_id = d.session_id AND p.received_at = d.received_at AND p.event_id = d.event_id;
      RETURN NULL;
    END $$;
    CREATE TRIGGER recognition_events_unqueue
      AFTER DELETE ON recognition_events REFERENCING OLD TABLE AS deleted
      FOR EACH STATEMENT EXECUTE FUNCTION unqueue_recognition_events();

    DROP INDEX recognition_events_undelivered_session_idx;
    ALTER TABLE recognition_events
      DROP COLUMN delivered_at,
      DROP COLUMN lease_until,
      DROP COLUMN delivery_attempts;
  `);
}

/** Back to per-row delivery state: queued events come back undelivered, every other event delivered. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE recognition_events
      ADD COLUMN delivered_at timestamptz DEFAULT '-infinity',
      ADD COLUMN lease_until timestamptz,
      ADD COLUMN delivery_attempts integer NOT NULL DEFAULT 0;
    ALTER TABLE recognition_events ALTER COLUMN delivered_at DROP DEFAULT;
    UPDATE recognition_events e
       SET delivered_at = NULL, lease_until = l.lease_until, delivery_attempts = coalesce(l.delivery_attempts, 0)
      FROM inbox_pending p LEFT JOIN inbox_leases l ON l.session_id = p.session_id
     WHERE p.event_id = e.event_id AND p.session_id = e.session_id;
    CREATE INDEX recognition_events_undelivered_session_idx ON recognition_events (session_id, received_at)
      WHERE delivered_at IS NULL;

    DROP TRIGGER recognition_events_unqueue ON recognition_events;
    DROP FUNCTION unqueue_recognition_events();
    DROP TRIGGER recognition_events_queue ON recognition_events;
    DROP FUNCTION queue_recognition_events();
    CREATE FUNCTION notify_recognition_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM inserted)
         AND NOT EXISTS (SELECT 1 FROM recognition_events e
                          WHERE e.delivered_at IS NULL AND e.received_at < now()) THEN
        PERFORM pg_notify('rollcall_inbox', '');
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER recognition_events_notify_inbox
      AFTER INSERT ON recognition_events REFERENCING NEW TABLE AS inserted
      FOR EACH STATEMENT EXECUTE FUNCTION notify_recognition_inbox();
    DROP TABLE inbox_leases;
    DROP TABLE inbox_pending;
  `);
}
