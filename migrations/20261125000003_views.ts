import type { Knex } from 'knex';

/** The seed project's views and functions, written against this schema. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- The timetable slot running in a room at a moment (local time of the room), widened by early_min
    -- before the start and grace_min after the end; the session date is the room's local date.
    CREATE FUNCTION schedule_slot_at(p_room text, p_ts timestamptz, early_min integer DEFAULT 0, grace_min integer DEFAULT 0)
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

    CREATE VIEW current_schedule AS
      SELECT r.id AS room_id, slot.*
      FROM classrooms r CROSS JOIN LATERAL schedule_slot_at(r.id, now()) slot;

    CREATE FUNCTION get_enrolled_students_for_class(p_room text, p_ts timestamptz)
    RETURNS TABLE (student_id text, name text, course_id text)
    LANGUAGE sql STABLE AS $$
      SELECT st.id, st.name, e.course_id
      FROM schedule_slot_at(p_room, p_ts) slot
      JOIN enrollments e ON e.course_id = slot.course_id
      JOIN students st ON st.id = e.student_id
      ORDER BY st.id
    $$;

    CREATE VIEW student_attendance_summary AS
      SELECT a.student_id, a.course_id,
             count(*) AS sessions,
             count(*) FILTER (WHERE a.status = 'present') AS present,
             count(*) FILTER (WHERE a.status = 'late') AS late,
             count(*) FILTER (WHERE a.status = 'absent') AS absent,
             count(*) FILTER (WHERE a.status = 'excused') AS excused,
             round(100.0 * count(*) FILTER (WHERE a.status IN ('present', 'late'))
                   / nullif(count(*) FILTER (WHERE a.status <> 'excused'), 0), 1) AS attendance_pct
      FROM attendance_logs a
      GROUP BY a.student_id, a.course_id;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP VIEW student_attendance_summary;
    DROP FUNCTION get_enrolled_students_for_class(text, timestamptz);
    DROP VIEW current_schedule;
    DROP FUNCTION schedule_slot_at(text, timestamptz, integer, integer);
  `);
}
