import type { Knex } from 'knex';

/**
 * "Which class is this", for many instants at once: `schedule_slots_for(room, instants[], early, grace)` ranks
 * each instant's candidate slots (its 1-based position in the array as `idx`) by the rule of migration
 * 20261202000001_time_edges, and `schedule_slots_at` becomes that function for one instant (one definition of
 * the rule).
 *
 * A device batch asked `schedule_slots_at` once per record: for 10 records, ten scans of the room's timetable
 * rows, ten joins to the room, ten sorts. One call for the batch reads the room's rows once and ranks all
 * records in one window (measured in the 10,000 batches/min herd, pg_stat_statements: the batch's look-up
 * statement 1.3–2.2 → 0.54–0.55 ms of Postgres time a batch).
 */
const SLOTS_FOR = `
    CREATE FUNCTION schedule_slots_for(p_room text, p_ts timestamptz[], early_min integer DEFAULT 0,
                                       grace_min integer DEFAULT 0)
    RETURNS TABLE (idx integer, schedule_id integer, course_id text, session_date date, starts_at timestamptz,
                   ends_at timestamptz, late_after_minutes integer, rank integer)
    LANGUAGE sql STABLE AS $$
      SELECT c.idx, c.id, c.course_id, c.local_date,
             (c.local_date + c.start_time) AT TIME ZONE c.timezone,
             (c.local_date + c.end_time) AT TIME ZONE c.timezone,
             c.late_after_minutes,
             (row_number() OVER (PARTITION BY c.idx ORDER BY
                CASE WHEN c.local_time >= c.start_time AND c.local_time < c.end_time THEN 0
                     WHEN c.local_time < c.start_time THEN 1 ELSE 2 END,
                least(abs(extract(epoch FROM c.local_time - c.start_time)),
                      abs(extract(epoch FROM c.local_time - c.end_time)))))::integer
      FROM (
        SELECT s.*, r.timezone, t.idx::integer AS idx, (t.ts AT TIME ZONE r.timezone)::date AS local_date,
               (t.ts AT TIME ZONE r.timezone)::time AS local_time
          FROM classrooms r
          JOIN schedules s ON s.room_id = r.id AND s.active
         CROSS JOIN unnest(p_ts) WITH ORDINALITY AS t(ts, idx)
         WHERE r.id = p_room
      ) c
      WHERE c.day_of_week = extract(isodow FROM c.local_date)
        AND c.local_date BETWEEN c.effective_from AND coalesce(c.effective_to, 'infinity'::date)
        AND c.local_time BETWEEN c.start_time - make_interval(mins => early_min)
                             AND c.end_time + make_interval(mins => grace_min)
      ORDER BY 1, 8
    $$;`;

/** schedule_slots_at as migration 20261202000001_time_edges defined it (restored by down). */
const SLOTS_AT_BEFORE = `
    CREATE OR REPLACE FUNCTION schedule_slots_at(p_room text, p_ts timestamptz, early_min integer DEFAULT 0, grace_min integer DEFAULT 0)
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
    $$;`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ${SLOTS_FOR}
    CREATE OR REPLACE FUNCTION schedule_slots_at(p_room text, p_ts timestamptz, early_min integer DEFAULT 0, grace_min integer DEFAULT 0)
    RETURNS TABLE (schedule_id integer, course_id text, session_date date, starts_at timestamptz, ends_at timestamptz,
                   late_after_minutes integer, rank integer)
    LANGUAGE sql STABLE AS $$
      SELECT f.schedule_id, f.course_id, f.session_date, f.starts_at, f.ends_at, f.late_after_minutes, f.rank
        FROM schedule_slots_for(p_room, ARRAY[p_ts], early_min, grace_min) f
       ORDER BY f.rank
    $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ${SLOTS_AT_BEFORE}
    DROP FUNCTION schedule_slots_for(text, timestamptz[], integer, integer);
  `);
}
