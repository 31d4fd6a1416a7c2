/**
 * What the web app needs beyond the reports: a teacher's courses and today's classes (timetabled, whether
 * or not a device has sent anything yet), and the audit trail of one session's marks. Teachers see only
 * their own courses (courses.teacher_id); admins see the whole school. Read-only: marks are written by the
 * session workflow's activities alone (corrections go through POST /api/v1/sessions/:id/overrides).
 */
import type { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { assertCourseAccess, currentUser, requireUser } from '../auth/user';
import { AppError } from '../errors';
import { featureRouter } from '../router';
import { sessionParams } from '../sessions/routes';
import { parseOr400 } from '../validate';
import { addDirectoryRoutes } from './directory';
import { sessionCounts } from './overview';

const counts = z.object({
  present: z.number(),
  late: z.number(),
  absent: z.number(),
  excused: z.number(),
  unmarked: z.number(),
});

export const todayResponse = z.object({
  generated_at: z.string(),
  courses: z.array(z.object({ course_id: z.string(), name: z.string(), enrolled: z.number() })),
  classes: z.array(
    z.object({
      session_id: z.string().describe("session:{scheduleId}:{YYYY-MM-DD} (the room's local date)"),
      schedule_id: z.number(),
      course_id: z.string(),
      course_name: z.string(),
      room_id: z.string(),
      room_name: z.string(),
      starts_at: z.string(),
      ends_at: z.string(),
      status: z.string().describe('scheduled (no session yet), or the session status (open, finalised, …)'),
      enrolled: z.number(),
      counts,
    }),
  ),
});

export const auditResponse = z.object({
  session_id: z.string(),
  entries: z.array(
    z.object({
      at: z.string(),
      actor: z.string(),
      actor_name: z.string().nullable(),
      action: z.string(),
      student_id: z.string(),
      before: z.record(z.string(), z.unknown()).nullable(),
      after: z.record(z.string(), z.unknown()).nullable(),
      reason: z.string().nullable(),
    }),
  ),
});

interface ClassRow {
  session_id: string;
  schedule_id: number;
  course_id: string;
  course_name: string;
  room_id: string;
  room_name: string;
  starts_at: Date;
  ends_at: Date;
  status: string | null;
  enrolled: number;
  present: number;
  late: number;
  absent: number;
  excused: number;
}

/** Today's classes in each room's own calendar: active timetable rows for today, and sessions that exist. */
async function todaysClasses(db: Knex, teacher: string | null): Promise<ClassRow[]> {
  const r = await db.raw<{ rows: ClassRow[] }>(
    `WITH today AS (
       SELECT s.id AS schedule_id, s.course_id, s.room_id,
              'session:' || s.id || ':' || d.local_date::text AS session_id,
              (d.local_date + s.start_time) AT TIME ZONE r.timezone AS starts_at,
              (d.local_date + s.end_time) AT TIME ZONE r.timezone AS ends_at
         FROM schedules s
         JOIN classrooms r ON r.id = s.room_id
         CROSS JOIN LATERAL (SELECT (now() AT TIME ZONE r.timezone)::date AS local_date) d
        WHERE s.active AND s.day_of_week = extract(isodow FROM d.local_date)
          AND d.local_date BETWEEN s.effective_from AND coalesce(s.effective_to, 'infinity'::date)
       UNION
       SELECT cs.schedule_id, cs.course_id, cs.room_id, cs.id, cs.starts_at, cs.ends_at
         FROM class_sessions cs JOIN classrooms r ON r.id = cs.room_id
        WHERE cs.session_date = (now() AT TIME ZONE r.timezone)::date)
     SELECT t.session_id, t.schedule_id, t.course_id, c.name AS course_name, t.room_id, r.name AS room_name,
            coalesce(cs.starts_at, t.starts_at) AS starts_at, coalesce(cs.ends_at, t.ends_at) AS ends_at,
            cs.status,
            (SELECT count(*) FROM enrollments e WHERE e.course_id = t.course_id)::int AS enrolled,
            count(a.*) FILTER (WHERE a.status = 'present')::int AS present,
            count(a.*) FILTER (WHERE a.status = 'late')::int AS late,
            count(a.*) FILTER (WHERE a.status = 'absent')::int AS absent,
            count(a.*) FILTER (WHERE a.status = 'excused')::int AS excused
       FROM (SELECT DISTINCT ON (session_id) * FROM today ORDER BY session_id) t
       JOIN courses c ON c.id = t.course_id
       JOIN classrooms r ON r.id = t.room_id
       LEFT JOIN class_sessions cs ON cs.id = t.session_id
       LEFT JOIN attendance_logs a ON a.session_id = t.session_id
      WHERE (?::text IS NULL OR c.teacher_id = ?::text)
      GROUP BY t.session_id, t.schedule_id, t.course_id, c.name, t.room_id, r.name, cs.starts_at, cs.ends_at,
               t.starts_at, t.ends_at, cs.status
      ORDER BY 7, t.room_id`,
    [teacher, teacher],
  );
  return r.rows;
}

export function classRoutes(deps: { db: Knex }): Router {
  const { db } = deps;
  const router = featureRouter();

  router.get('/api/v1/dashboard/today', requireUser(['admin', 'teacher']), async (req, res) => {
    const user = currentUser(req);
    const teacher = user.role === 'teacher' ? user.id : null;
    const courses: { course_id: string; name: string; enrolled: number }[] = await db('courses as c')
      .modify((qb) => void (teacher && qb.where('c.teacher_id', teacher)))
      .orderBy('c.id')
      .select(
        'c.id as course_id',
        'c.name',
        db.raw('(SELECT count(*) FROM enrollments e WHERE e.course_id = c.id)::int AS enrolled'),
      );
    const classes = (await todaysClasses(db, teacher)).map((r) => ({
      session_id: r.session_id,
      schedule_id: r.schedule_id,
      course_id: r.course_id,
      course_name: r.course_name,
      room_id: r.room_id,
      room_name: r.room_name,
      starts_at: new Date(r.starts_at).toISOString(),
      ends_at: new Date(r.ends_at).toISOString(),
      status: r.status ?? 'scheduled',
      enrolled: r.enrolled,
      counts: sessionCounts(r),
    }));
    res.json({ generated_at: new Date().toISOString(), courses, classes });
  });

  router.get('/api/v1/sessions/:id/audit', requireUser(['admin', 'teacher']), async (req, res) => {
    const { id } = parseOr400(sessionParams, req.params, 'params');
    const session = await db('class_sessions').where({ id }).first('course_id');
    if (!session) throw new AppError(404, 'not_found', `session ${id} does not exist`);
    await assertCourseAccess(db, currentUser(req), session.course_id);
    // Attendance audit rows are keyed `{sessionId}/{studentId}` (activities/marks.ts).
    const rows: {
      at: Date;
      actor: string;
      actor_name: string | null;
      action: string;
      entity_id: string;
      before: Record<string, unknown> | null;
      after: Record<string, unknown> | null;
      reason: string | null;
    }[] = await db('audit_log as l')
      .leftJoin('users as u', 'u.id', 'l.actor')
      .where('l.entity', 'attendance')
      .whereRaw('left(l.entity_id, ?) = ?', [id.length + 1, `${id}/`])
      .orderBy('l.id', 'desc')
      .limit(200)
      .select(
        'l.at',
        'l.actor',
        'u.name as actor_name',
        'l.action',
        'l.entity_id',
        'l.before',
        'l.after',
        'l.reason',
      );
    res.json({
      session_id: id,
      entries: rows.map((r) => ({
        at: new Date(r.at).toISOString(),
        actor: r.actor,
        actor_name: r.actor_name,
        action: r.action,
        student_id: r.entity_id.slice(id.length + 1),
        before: r.before,
        after: r.after,
        reason: r.reason,
      })),
    });
  });

  addDirectoryRoutes(router, db);
  return router;
}
