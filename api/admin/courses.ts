/**
 * Courses (class sections with a teacher, admin): `/api/v1/admin/courses` in the shape of api/admin/crud.ts.
 * Deactivating a course pauses its active timetable rows (marked `paused_with_course`) and starts
 * timetable:sync, so its Temporal Schedules pause; enrollments and history stay. Reactivating resumes the
 * rows it paused; a row that would now clash with another class in its room stays paused and is named.
 */
import type { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { key, text } from '../../lib/contracts/text';
import { AppError } from '../errors';
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

export const courseAdminParams = z.strictObject({ id: key() });
export const courseAdminListQuery = z.strictObject({
  ...listFields,
  teacher_id: key().optional().describe("only this teacher's courses"),
});
const teacherId = key()
  .nullable()
  .optional()
  .describe('a user with the teacher role; omitted or null: none yet');
export const courseCreateBody = z.strictObject({ id: key(), name: text(200), teacher_id: teacherId });
export const courseUpdateBody = z.strictObject({ name: text(200), teacher_id: teacherId });

export const courseAdminView = z.object({
  id: z.string(),
  name: z.string(),
  teacher_id: z.string().nullable(),
  active: z.boolean(),
  roster_version: z.number().describe("moves whenever the course's students or their faces change"),
  student_count: z.number(),
  active_schedule_ids: z.array(z.number()),
  created_at: z.iso.datetime(),
  ...sourceView,
});
type CourseView = z.infer<typeof courseAdminView>;
export const courseAdminAnswer = writeAnswer('course', courseAdminView);
export const courseAdminListAnswer = z.object({ courses: z.array(courseAdminView) });

const select = (db: Knex) =>
  db('courses as c').select(
    'c.id',
    'c.name',
    'c.teacher_id',
    'c.active',
    db.raw('c.roster_version::int AS roster_version'),
    db.raw('(SELECT count(*)::int FROM enrollments e WHERE e.course_id = c.id) AS student_count'),
    db.raw(
      `coalesce((SELECT array_agg(s.id ORDER BY s.id) FROM schedules s WHERE s.course_id = c.id AND s.active), '{}') AS active_schedule_ids`,
    ),
    'c.created_at',
    ...sourcedColumns('c', db),
  );

const toView = (row: CourseView) => isoTimes(row, ['created_at']);

async function assertTeacher(db: Knex, body: { teacher_id?: string | null }): Promise<void> {
  if (!body.teacher_id) return;
  const user = await db('users').where({ id: body.teacher_id }).first('role', 'active', 'disabled_at');
  if (!user) throw new AppError(422, 'unknown_teacher', `user ${body.teacher_id} does not exist`);
  if (user.role !== 'teacher')
    throw new AppError(422, 'not_a_teacher', `user ${body.teacher_id} is not a teacher (role ${user.role})`);
  if (!user.active || user.disabled_at)
    throw new AppError(422, 'teacher_inactive', `user ${body.teacher_id} is disabled or inactive`);
}

async function pauseTimetable(trx: Knex.Transaction, id: string): Promise<Effects> {
  const paused: number[] = await trx('schedules')
    .where({ course_id: id, active: true })
    .update({ active: false, paused_with_course: true, updated_at: trx.fn.now() })
    .returning('id')
    .then((rows: { id: number }[]) => rows.map((r) => r.id).sort((a, b) => a - b));
  return {
    notices: [
      paused.length
        ? `paused ${paused.length} timetable row(s) (${paused.join(', ')}); enrollments and attendance history are kept`
        : 'the course had no active timetable rows; enrollments and attendance history are kept',
    ],
    timetableChanged: paused.length > 0,
  };
}

async function resumeTimetable(trx: Knex.Transaction, id: string): Promise<Effects> {
  const ids: number[] = await trx('schedules')
    .where({ course_id: id, active: false, paused_with_course: true })
    .orderBy('id')
    .pluck('id');
  const resumed: number[] = [];
  const clashing: number[] = [];
  for (const scheduleId of ids) {
    try {
      // A savepoint per row: one clash leaves the others resumed.
      await trx.transaction((sp) =>
        sp('schedules').where({ id: scheduleId }).update({ active: true, updated_at: sp.fn.now() }),
      );
      resumed.push(scheduleId);
    } catch (err) {
      if ((err as { code?: string }).code !== '23P01') throw err;
      clashing.push(scheduleId);
    }
  }
  await trx('schedules')
    .where({ course_id: id, paused_with_course: true })
    .update({ paused_with_course: false });
  return {
    notices: [
      ...(resumed.length ? [`resumed ${resumed.length} timetable row(s) (${resumed.join(', ')})`] : []),
      ...(clashing.length
        ? [
            `timetable row(s) ${clashing.join(', ')} stay paused: they now clash with another active class in the same room; move them (PUT /api/v1/admin/schedules/{id})`,
          ]
        : []),
    ],
    timetableChanged: resumed.length > 0,
  };
}

export function courseAdminRoutes(deps: AdminCrudDeps): Router {
  return entityRoutes(deps, {
    entity: 'course',
    plural: 'courses',
    table: 'courses',
    params: courseAdminParams,
    listQuery: courseAdminListQuery,
    createBody: courseCreateBody,
    updateBody: courseUpdateBody,
    async list(db, q) {
      const { teacher_id } = q as z.infer<typeof courseAdminListQuery>;
      const rows = await select(db)
        .modify((qb) => {
          if (teacher_id) void qb.where('c.teacher_id', teacher_id);
          applyListQuery(qb, q, 'c.active', ['c.id', 'c.name']);
        })
        .orderBy('c.id');
      return (rows as CourseView[]).map(toView);
    },
    async read(db, id) {
      const row = (await select(db).where('c.id', id).first()) as CourseView | undefined;
      return row && toView(row);
    },
    assertWritable: assertTeacher,
    columns: (body) => ({ name: body.name, teacher_id: body.teacher_id ?? null }),
    onDeactivate: pauseTimetable,
    onReactivate: resumeTimetable,
  });
}
