/**
 * Students (admin): `/api/v1/admin/students` in the shape of api/admin/crud.ts. Deactivating a student ends
 * the effect of their enrollments: the rows move to `inactive_enrollments` (reason student_deactivated), the
 * delete bumps each course's roster version and devices stop receiving the student's embeddings at their
 * next sync; marks, consents and embeddings stay. Reactivating restores exactly those enrollments.
 */
import type { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { key, text } from '../../lib/contracts/text';
import { studentIdSchema } from '../validate';
import {
  applyListQuery,
  entityRoutes,
  isoTimes,
  listFields,
  sourceView,
  sourcedColumns,
  writeAnswer,
  type AdminCrudDeps,
  type Effects,
} from './crud';

export const studentAdminParams = z.strictObject({ id: studentIdSchema });
export const studentAdminListQuery = z.strictObject({
  ...listFields,
  course_id: key().optional().describe('only students enrolled (now) in this course'),
});
const email = z.email().max(254).nullable().optional().describe('omitted or null: none');
export const studentCreateBody = z.strictObject({ id: studentIdSchema, name: text(200), email });
export const studentUpdateBody = z.strictObject({ name: text(200), email });

export const studentAdminView = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  active: z.boolean(),
  course_ids: z.array(z.string()).describe('courses the student is enrolled in now'),
  created_at: z.iso.datetime(),
  ...sourceView,
});
type StudentView = z.infer<typeof studentAdminView>;
export const studentAdminAnswer = writeAnswer('student', studentAdminView);
export const studentAdminListAnswer = z.object({ students: z.array(studentAdminView) });

const select = (db: Knex) =>
  db('students as s').select(
    's.id',
    's.name',
    's.email',
    's.active',
    's.created_at',
    db.raw(
      `coalesce((SELECT array_agg(e.course_id ORDER BY e.course_id) FROM enrollments e WHERE e.student_id = s.id), '{}') AS course_ids`,
    ),
    ...sourcedColumns('s', db),
  );

const toView = (row: StudentView) => isoTimes(row, ['created_at']);

/** Moves the student's enrollments aside; the delete trigger bumps the courses' roster versions. */
async function endEnrollments(trx: Knex.Transaction, id: string): Promise<Effects> {
  const ended = await trx.raw<{ rows: { course_id: string }[] }>(
    `WITH moved AS (DELETE FROM enrollments WHERE student_id = ?
                     RETURNING course_id, student_id, enrolled_at, source, sourced_id)
     INSERT INTO inactive_enrollments (course_id, student_id, enrolled_at, source, sourced_id, reason)
     SELECT course_id, student_id, enrolled_at, source, sourced_id, 'student_deactivated' FROM moved
     ON CONFLICT (course_id, student_id) DO UPDATE
       SET enrolled_at = EXCLUDED.enrolled_at, source = EXCLUDED.source, sourced_id = EXCLUDED.sourced_id,
           reason = EXCLUDED.reason, deactivated_at = now()
     RETURNING course_id`,
    [id],
  );
  const courses = ended.rows.map((r) => r.course_id).sort();
  return {
    notices: [
      courses.length
        ? `ended ${courses.length} enrollment(s) (${courses.join(', ')}): devices drop the student's faces at their next roster sync; attendance history is kept`
        : 'the student had no enrollments; attendance history is kept',
    ],
  };
}

/** Restores the enrollments the deactivation ended (not ones ended one by one before). */
async function restoreEnrollments(trx: Knex.Transaction, id: string): Promise<Effects> {
  const restored = await trx.raw<{ rows: { course_id: string }[] }>(
    `WITH parked AS (DELETE FROM inactive_enrollments WHERE student_id = ? AND reason = 'student_deactivated'
                      RETURNING course_id, student_id, enrolled_at, source, sourced_id)
     INSERT INTO enrollments (course_id, student_id, enrolled_at, source, sourced_id)
     SELECT course_id, student_id, enrolled_at, source, sourced_id FROM parked
     ON CONFLICT DO NOTHING
     RETURNING course_id`,
    [id],
  );
  const courses = restored.rows.map((r) => r.course_id).sort();
  return {
    notices: courses.length
      ? [`restored ${courses.length} enrollment(s) (${courses.join(', ')}) that the deactivation ended`]
      : [],
  };
}

export function studentAdminRoutes(deps: AdminCrudDeps): Router {
  return entityRoutes(deps, {
    entity: 'student',
    plural: 'students',
    table: 'students',
    params: studentAdminParams,
    listQuery: studentAdminListQuery,
    createBody: studentCreateBody,
    updateBody: studentUpdateBody,
    async list(db, q) {
      const rows = await select(db)
        .modify((qb) => {
          const { course_id } = q as z.infer<typeof studentAdminListQuery>;
          if (course_id)
            void qb.whereExists(
              db('enrollments as e').whereRaw('e.student_id = s.id').where('e.course_id', course_id),
            );
          applyListQuery(qb, q, 's.active', ['s.id', 's.name', 's.email']);
        })
        .orderBy('s.id');
      return (rows as StudentView[]).map(toView);
    },
    async read(db, id) {
      const row = (await select(db).where('s.id', id).first()) as StudentView | undefined;
      return row && toView(row);
    },
    columns: (body) => ({ name: body.name, email: body.email ?? null }),
    onDeactivate: endEnrollments,
    onReactivate: restoreEnrollments,
  });
}
