/**
 * The lists the web app's admin forms pick from: students with their enrollment state (for the enrollment
 * page: whose consent is on file, how many face embeddings are stored), and the school's courses and rooms
 * (for the timetable page). Read-only. Students follow the enrollment API's rule: an admin sees every
 * student, a teacher those enrolled in their own courses.
 */
import type { Knex } from 'knex';
import type { Router } from 'express';
import { z } from 'zod';
import { currentUser, requireUser } from '../auth/user';

export const studentsResponse = z.object({
  students: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      courses: z.array(z.string()),
      consent: z.boolean().describe('an active biometric enrollment consent is on file'),
      embeddings: z.number().describe('face embeddings stored (any model)'),
    }),
  ),
});

export const schoolResponse = z.object({
  courses: z.array(z.object({ id: z.string(), name: z.string() })),
  rooms: z.array(z.object({ id: z.string(), name: z.string(), timezone: z.string() })),
});

/** Adds the directory routes to the dashboard's router. */
export function addDirectoryRoutes(router: Router, db: Knex): void {
  router.get('/api/v1/dashboard/students', requireUser(['admin', 'teacher']), async (req, res) => {
    const user = currentUser(req);
    const rows: {
      id: string;
      name: string;
      courses: string[] | null;
      consent: boolean;
      embeddings: number;
    }[] = await db('students as s')
      .modify((qb) => {
        if (user.role !== 'admin')
          void qb.whereExists(
            db('enrollments as e')
              .join('courses as c', 'c.id', 'e.course_id')
              .whereRaw('e.student_id = s.id')
              .where('c.teacher_id', user.id),
          );
      })
      .orderBy('s.id')
      .select(
        's.id',
        's.name',
        db.raw(
          '(SELECT array_agg(e.course_id ORDER BY e.course_id) FROM enrollments e WHERE e.student_id = s.id) AS courses',
        ),
        db.raw(
          "EXISTS (SELECT 1 FROM consents k WHERE k.student_id = s.id AND k.kind = 'biometric_enrollment' AND k.revoked_at IS NULL) AS consent",
        ),
        db.raw('(SELECT count(*) FROM face_embeddings f WHERE f.student_id = s.id)::int AS embeddings'),
      );
    res.json({ students: rows.map((r) => ({ ...r, courses: r.courses ?? [] })) });
  });

  router.get('/api/v1/dashboard/school', requireUser(['admin']), async (_req, res) => {
    const [courses, rooms] = await Promise.all([
      db('courses').orderBy('id').select('id', 'name'),
      db('classrooms').orderBy('id').select('id', 'name', 'timezone'),
    ]);
    res.json({ courses, rooms });
  });
}
