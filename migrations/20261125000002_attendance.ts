import type { Knex } from 'knex';

/**
 * Sessions and marks. attendance_logs is range-partitioned by month on marked_at; a partitioned table's
 * unique keys must contain the partition key, so idempotency is UNIQUE (event_id, marked_at): a retried
 * mark carries the same event id and the same timestamp.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE class_sessions (
      id text PRIMARY KEY,
      schedule_id integer NOT NULL REFERENCES schedules(id),
      session_date date NOT NULL,
      course_id text NOT NULL REFERENCES courses(id),
      room_id text NOT NULL REFERENCES classrooms(id),
      starts_at timestamptz NOT NULL,
      ends_at timestamptz NOT NULL,
      late_after_minutes integer NOT NULL,
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
      opened_at timestamptz NOT NULL DEFAULT now(),
      closed_at timestamptz,
      summary jsonb,
      UNIQUE (schedule_id, session_date)
    );
    CREATE INDEX class_sessions_course_idx ON class_sessions (course_id, session_date);
    CREATE INDEX class_sessions_room_idx ON class_sessions (room_id, session_date);

    CREATE TABLE attendance_logs (
      id bigint GENERATED ALWAYS AS IDENTITY,
      event_id text NOT NULL,
      session_id text NOT NULL REFERENCES class_sessions(id),
      student_id text NOT NULL REFERENCES students(id),
      course_id text NOT NULL REFERENCES courses(id),
      status text NOT NULL CHECK (status IN ('present', 'late', 'absent', 'excused')),
      marked_at timestamptz NOT NULL,
      confidence real CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
      device_id text,
      source text NOT NULL CHECK (source IN ('device', 'finalise', 'override')),
      recorded_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (id, marked_at),
      UNIQUE (event_id, marked_at)
    ) PARTITION BY RANGE (marked_at);
    CREATE INDEX attendance_student_date_idx ON attendance_logs (student_id, marked_at);
    CREATE INDEX attendance_course_date_idx ON attendance_logs (course_id, marked_at);
    CREATE INDEX attendance_session_idx ON attendance_logs (session_id, student_id);

    -- Creates the monthly partitions (UTC months) from the month of from_ts through months_ahead months
    -- after it; returns the names of those it created. Idempotent; the partition maintenance workflow and
    -- the attendance writer (for a record dated in a month nobody prepared) both call it.
    CREATE FUNCTION ensure_attendance_partitions(from_ts timestamptz, months_ahead integer)
    RETURNS SETOF text LANGUAGE plpgsql AS $$
    DECLARE
      first_month timestamptz := date_trunc('month', from_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
      lo timestamptz;
      hi timestamptz;
      part text;
    BEGIN
      FOR i IN 0..months_ahead LOOP
        lo := first_month + make_interval(months => i);
        hi := lo + interval '1 month';
        part := format('attendance_logs_y%sm%s', to_char(lo AT TIME ZONE 'UTC', 'YYYY'), to_char(lo AT TIME ZONE 'UTC', 'MM'));
        IF to_regclass(part) IS NULL THEN
          -- Two writers may race to create the same month; the loser's error is harmless.
          BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF attendance_logs FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
            RETURN NEXT part;
          EXCEPTION WHEN duplicate_table OR invalid_object_definition THEN
            NULL;
          END;
        END IF;
      END LOOP;
    END $$;
    SELECT ensure_attendance_partitions(now(), 3);

    -- Every recognition the API accepted, as the device sent it: the raw evidence behind a mark, the basis
    -- of the "duplicate" answer to a retried upload and of the "classes not registered" report. Subject to
    -- the retention setting.
    CREATE TABLE recognition_events (
      event_id text PRIMARY KEY,
      session_id text NOT NULL,
      device_id text NOT NULL REFERENCES devices(id),
      student_id text NOT NULL,
      seen_at timestamptz NOT NULL,
      confidence real NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX recognition_events_session_idx ON recognition_events (session_id);
    CREATE INDEX recognition_events_received_idx ON recognition_events (received_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE recognition_events;
    DROP TABLE attendance_logs;
    DROP FUNCTION ensure_attendance_partitions(timestamptz, integer);
    DROP TABLE class_sessions;
  `);
}
