import type { Knex } from 'knex';

/**
 * "Which class is this" has one answer, and a student has one mark per session.
 *
 * - Active timetable rows of one room may not overlap (same weekday, overlapping effective dates and
 *   times; back-to-back slots [09:00, 10:00) and [10:00, 11:00) do not). An exclusion constraint, so the
 *   admin API's 409 cannot be raced past.
 * - schedule_slots_at ranks every candidate slot of a room at an instant: the slot whose own time covers
 *   it first, then one about to start (early arrivals), then one just ended (grace). Paused rows
 *   (active = false) are never candidates. schedule_slot_at keeps its signature and returns the first.
 * - session_marks holds one row per (session, student): attendance_logs is partitioned by month and cannot
 *   carry that unique key itself, so a trigger claims the pair before every insert; a second mark for the
 *   pair with another event id fails with unique_violation, a retried insert of the same event passes
 *   (and is then ignored by ON CONFLICT on the event id).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE EXTENSION IF NOT EXISTS btree_gist;
    CREATE TYPE timerange AS RANGE (subtype = time);

    DO $$
    DECLARE clash text;
    BEGIN
      SELECT string_agg(format('%s/%s', a.id, b.id), ', ') INTO clash
        FROM schedules a JOIN schedules b
          ON a.id < b.id AND a.room_id = b.room_id AND a.day_of_week = b.day_of_week
         AND a.active AND b.active
         AND daterange(a.effective_from, a.effective_to, '[]') && daterange(b.effective_from, b.effective_to, '[]')
         AND timerange(a.start_time, a.end_time, '[)') && timerange(b.start_time, b.end_time, '[)');
      IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'overlapping active timetable rows in one room (schedule ids %): pause or correct them, then migrate again', clash;
      END IF;
    END $$;

    ALTER TABLE schedules ADD CONSTRAINT schedules_no_overlap EXCLUDE USING gist (
      room_id WITH =,
      day_of_week WITH =,
      daterange(effective_from, effective_to, '[]') WITH &&,
      timerange(start_time, end_time, '[)') WITH &&
    ) WHERE (active);

    CREATE FUNCTION schedule_slots_at(p_room text, p_ts timestamptz, early_min integer DEFAULT 0, grace_min integer DEFAULT 0)
    RETURNS TABLE (schedule_id integer, course_id text, session_date date, starts_at timestamptz, ends_at timestamptz,
                   late_after_minutes integer, rank integer)
    LANGUAGE sql STABLE AS $$
      SELECT c.id, c.course_id, c.local_date,
             (c.local_date + c.start_time) AT TIME ZONE c.timezone,
             (c.local_date + c.end_time) AT TIME ZONE c.timezone,
             c.late_after_minutes,
             (row_number() OVER (ORDER BY
                CASE WHEN c.local_time >= c.start_time AND c.local_time < c.end_time THEN 0
                     WHEN c.local_time < c.start_time THEN 1 ELSE 2 END,
                least(abs(extract(epoch FROM c.local_time - c.start_time)),
                      abs(extract(epoch FROM c.local_time - c.end_time)))))::integer
      FROM (
        SELECT s.*, r.timezone, (p_ts AT TIME ZONE r.timezone)::date AS local_date,
               (p_ts AT TIME ZONE r.timezone)::time AS local_time
          FROM schedules s JOIN classrooms r ON r.id = s.room_id
         WHERE s.room_id = p_room AND s.active
      ) c
      WHERE c.day_of_week = extract(isodow FROM c.local_date)
        AND c.local_date BETWEEN c.effective_from AND coalesce(c.effective_to, 'infinity'::date)
        AND c.local_time BETWEEN c.start_time - make_interval(mins => early_min)
                             AND c.end_time + make_interval(mins => grace_min)
      ORDER BY 7
    $$;

    CREATE OR REPLACE FUNCTION schedule_slot_at(p_room text, p_ts timestamptz, early_min integer DEFAULT 0, grace_min integer DEFAULT 0)
    RETURNS TABLE (schedule_id integer, course_id text, session_date date, starts_at timestamptz, ends_at timestamptz,
                   late_after_minutes integer)
    LANGUAGE sql STABLE AS $$
      SELECT schedule_id, course_id, session_date, starts_at, ends_at, late_after_minutes
        FROM schedule_slots_at(p_room, p_ts, early_min, grace_min) ORDER BY rank LIMIT 1
    $$;

    CREATE TABLE session_marks (
      session_id text NOT NULL REFERENCES class_sessions(id),
      student_id text NOT NULL REFERENCES students(id),
      event_id text NOT NULL,
      claimed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (session_id, student_id)
    );
    INSERT INTO session_marks (session_id, student_id, event_id)
      SELECT DISTINCT ON (session_id, student_id) session_id, student_id, event_id
        FROM attendance_logs ORDER BY session_id, student_id, recorded_at;

    CREATE FUNCTION claim_session_mark() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE holder text;
    BEGIN
      INSERT INTO session_marks (session_id, student_id, event_id)
        VALUES (NEW.session_id, NEW.student_id, NEW.event_id)
        ON CONFLICT (session_id, student_id) DO NOTHING;
      IF NOT FOUND THEN
        SELECT event_id INTO holder FROM session_marks
         WHERE session_id = NEW.session_id AND student_id = NEW.student_id;
        IF holder IS DISTINCT FROM NEW.event_id THEN
          RAISE EXCEPTION 'student % already has a mark in session % (event %)', NEW.student_id, NEW.session_id, holder
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'session_marks_pkey';
        END IF;
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER attendance_logs_one_mark BEFORE INSERT ON attendance_logs
      FOR EACH ROW EXECUTE FUNCTION claim_session_mark();

    -- Marks the database refused for their data, kept for an operator instead of retried forever.
    CREATE TABLE quarantined_marks (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      session_id text NOT NULL,
      student_id text NOT NULL,
      event_id text NOT NULL,
      mark text NOT NULL,
      error_code text NOT NULL,
      error text NOT NULL,
      quarantined_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (session_id, event_id)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE quarantined_marks;
    DROP TRIGGER attendance_logs_one_mark ON attendance_logs;
    DROP FUNCTION claim_session_mark();
    DROP TABLE session_marks;
    CREATE OR REPLACE FUNCTION schedule_slot_at(p_room text, p_ts timestamptz, early_min integer DEFAULT 0, grace_min integer DEFAULT 0)
    RETURNS TABLE (schedule_id integer, course_id text, session_date date, starts_at timestamptz, ends_at timestamptz,
                   late_after_minutes integer)
    LANGUAGE sql STABLE AS $$
      SELECT s.id, s.course_id, (p_ts AT TIME ZONE r.timezone)::date,
             ((p_ts AT TIME ZONE r.timezone)::date + s.start_time) AT TIME ZONE r.timezone,
             ((p_ts AT TIME ZONE r.timezone)::date + s.end_time) AT TIME ZONE r.timezone,
             s.late_after_minutes
      FROM schedules s JOIN classrooms r ON r.id = s.room_id
      WHERE s.room_id = p_room
        AND s.day_of_week = extract(isodow FROM p_ts AT TIME ZONE r.timezone)
        AND (p_ts AT TIME ZONE r.timezone)::date BETWEEN s.effective_from AND coalesce(s.effective_to, 'infinity'::date)
        AND (p_ts AT TIME ZONE r.timezone)::time
            BETWEEN s.start_time - make_interval(mins => early_min) AND s.end_time + make_interval(mins => grace_min)
      ORDER BY s.start_time
      LIMIT 1
    $$;
    DROP FUNCTION schedule_slots_at(text, timestamptz, integer, integer);
    ALTER TABLE schedules DROP CONSTRAINT schedules_no_overlap;
    DROP TYPE timerange;
  `);
}
