/** Report queries: plain rows out, no HTTP here. Dates are session dates (the room's local calendar). */
import type { Knex } from 'knex';

export interface DateRange {
  from?: string;
  to?: string;
}

function inRange(qb: Knex.QueryBuilder, column: string, range: DateRange): void {
  if (range.from) qb.where(column, '>=', range.from);
  if (range.to) qb.where(column, '<=', range.to);
}

const PCT = `round(100.0 * count(*) FILTER (WHERE a.status IN ('present', 'late'))
                   / nullif(count(*) FILTER (WHERE a.status <> 'excused'), 0), 1)`;

/** `onlyCourses`: restrict to these courses (a teacher's view); undefined for all. */
export async function studentHistory(
  db: Knex,
  studentId: string,
  range: DateRange,
  onlyCourses?: readonly string[],
) {
  const scoped = (qb: Knex.QueryBuilder) => void (onlyCourses && qb.whereIn('a.course_id', onlyCourses));
  const records = await db('attendance_logs as a')
    .join('class_sessions as c', 'c.id', 'a.session_id')
    .join('courses as co', 'co.id', 'a.course_id')
    .where('a.student_id', studentId)
    .modify(scoped)
    .modify((qb) => inRange(qb, 'c.session_date', range))
    .orderBy([{ column: 'c.starts_at' }])
    .select(
      'a.session_id',
      'c.session_date',
      'a.course_id',
      'co.name as course_name',
      'a.status',
      'a.marked_at',
      'a.source',
    );
  const courses = await db('attendance_logs as a')
    .join('class_sessions as c', 'c.id', 'a.session_id')
    .where('a.student_id', studentId)
    .modify(scoped)
    .modify((qb) => inRange(qb, 'c.session_date', range))
    .groupBy('a.course_id')
    .orderBy('a.course_id')
    .select(
      'a.course_id',
      db.raw('count(*)::int AS sessions'),
      db.raw("count(*) FILTER (WHERE a.status = 'present')::int AS present"),
      db.raw("count(*) FILTER (WHERE a.status = 'late')::int AS late"),
      db.raw("count(*) FILTER (WHERE a.status = 'absent')::int AS absent"),
      db.raw("count(*) FILTER (WHERE a.status = 'excused')::int AS excused"),
      db.raw(`${PCT}::float AS attendance_pct`),
    );
  return { records, courses };
}

/** Sessions × students: one row per enrolled student, a status per session, and the student's percentage. */
export async function courseMatrix(db: Knex, courseId: string, range: DateRange) {
  const sessions: { session_id: string; session_date: string; starts_at: Date; status: string }[] = await db(
    'class_sessions as c',
  )
    .where('c.course_id', courseId)
    .modify((qb) => inRange(qb, 'c.session_date', range))
    .orderBy('c.starts_at')
    .select('c.id as session_id', 'c.session_date', 'c.starts_at', 'c.status');
  const marks = await db('attendance_logs as a')
    .join('class_sessions as c', 'c.id', 'a.session_id')
    .where('a.course_id', courseId)
    .modify((qb) => inRange(qb, 'c.session_date', range))
    .orderBy([{ column: 'c.starts_at' }, { column: 'a.student_id' }])
    .select(
      'a.session_id',
      'a.student_id',
      'a.status',
      'a.marked_at',
      'a.source',
      'a.confidence',
      'a.device_id',
      'c.session_date',
    );
  const students: { student_id: string; name: string }[] = await db('enrollments as e')
    .join('students as s', 's.id', 'e.student_id')
    .where('e.course_id', courseId)
    .orderBy('e.student_id')
    .select('e.student_id', 's.name');
  const byStudent = new Map<string, Map<string, string>>();
  for (const m of marks) {
    if (!byStudent.has(m.student_id)) byStudent.set(m.student_id, new Map());
    byStudent.get(m.student_id)!.set(m.session_id, m.status);
  }
  const rows = students.map((st) => {
    const statuses = byStudent.get(st.student_id) ?? new Map<string, string>();
    const counted = [...statuses.values()].filter((s) => s !== 'excused');
    const attended = counted.filter((s) => s === 'present' || s === 'late').length;
    return {
      student_id: st.student_id,
      name: st.name,
      statuses: Object.fromEntries(sessions.map((s) => [s.session_id, statuses.get(s.session_id) ?? null])),
      attendance_pct: counted.length > 0 ? Math.round((1000 * attended) / counted.length) / 10 : null,
    };
  });
  return { sessions, students: rows, records: marks };
}

/**
 * Timetabled classes that happened (started before now) but for which no device sent anything: the
 * camera was off, offline, or in the wrong room. Gibbon calls this "classes not registered".
 */
export async function unregisteredClasses(db: Knex, range: Required<DateRange>) {
  const r = await db.raw(
    `SELECT s.id AS schedule_id, s.course_id, s.room_id, d::date::text AS session_date,
            (d::date + s.start_time) AT TIME ZONE r.timezone AS starts_at,
            'session:' || s.id || ':' || d::date::text AS session_id,
            CASE WHEN cs.id IS NULL THEN 'no_session' ELSE 'no_device_data' END AS reason
       FROM schedules s
       JOIN classrooms r ON r.id = s.room_id
       CROSS JOIN generate_series(?::date, ?::date, interval '1 day') d
       LEFT JOIN class_sessions cs ON cs.schedule_id = s.id AND cs.session_date = d::date
      WHERE s.day_of_week = extract(isodow FROM d)
        AND d::date BETWEEN s.effective_from AND coalesce(s.effective_to, 'infinity'::date)
        AND (d::date + s.start_time) AT TIME ZONE r.timezone < now()
        AND NOT EXISTS (SELECT 1 FROM recognition_events e WHERE e.session_id = 'session:' || s.id || ':' || d::date::text)
      ORDER BY starts_at, s.id`,
    [range.from, range.to],
  );
  return r.rows as Record<string, unknown>[];
}

/** Students whose latest N or more sessions of a course were all absences (excused breaks a run). */
export async function consecutiveAbsences(db: Knex, min: number, courseId?: string) {
  const r = await db.raw(
    `WITH ordered AS (
       SELECT a.student_id, a.course_id, c.session_date, a.status,
              count(*) FILTER (WHERE a.status <> 'absent')
                OVER (PARTITION BY a.student_id, a.course_id ORDER BY c.starts_at DESC
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS breaks
         FROM attendance_logs a JOIN class_sessions c ON c.id = a.session_id
        WHERE (?::text IS NULL OR a.course_id = ?::text))
     SELECT o.student_id, s.name AS student_name, o.course_id, count(*)::int AS consecutive_absences,
            min(o.session_date)::text AS since, max(o.session_date)::text AS last_absent
       FROM ordered o JOIN students s ON s.id = o.student_id
      WHERE o.breaks = 0
      GROUP BY o.student_id, s.name, o.course_id
     HAVING count(*) >= ?
      ORDER BY consecutive_absences DESC, o.student_id`,
    [courseId ?? null, courseId ?? null, min],
  );
  return r.rows as Record<string, unknown>[];
}
