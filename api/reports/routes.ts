import { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { sendTable } from '../csv';
import { AppError } from '../errors';
import { parseOr400 } from '../validate';

const dateRange = z.strictObject({
  from: z.iso.date().optional(),
  to: z.iso.date().optional(),
  format: z.enum(['json', 'csv']).optional(),
});
const idParam = z.strictObject({ id: z.string().min(1).max(64) });

const MARK_COLUMNS = ['session_id', 'session_date', 'student_id', 'student_name', 'status', 'marked_at', 'source', 'confidence', 'device_id'];

export function reportRoutes(db: Knex): Router {
  const router = Router();

  router.get('/api/v1/attendance/course/:id', async (req, res) => {
    const { id } = parseOr400(idParam, req.params, 'params');
    const q = parseOr400(dateRange, req.query, 'query');
    const course = await db('courses').where({ id }).first('id', 'name', 'teacher_id');
    if (!course) throw new AppError(404, 'not_found', `course ${id} does not exist`);
    const marks = await db('attendance_logs as a')
      .join('class_sessions as c', 'c.id', 'a.session_id')
      .join('students as s', 's.id', 'a.student_id')
      .where('a.course_id', id)
      .modify((qb) => {
        if (q.from) qb.where('c.session_date', '>=', q.from);
        if (q.to) qb.where('c.session_date', '<=', q.to);
      })
      .orderBy([{ column: 'c.session_date' }, { column: 'a.session_id' }, { column: 'a.student_id' }])
      .select(
        'a.session_id',
        'c.session_date',
        'a.student_id',
        's.name as student_name',
        'a.status',
        'a.marked_at',
        'a.source',
        'a.confidence',
        'a.device_id',
      );
    sendTable(req, res, `course-${id}`, MARK_COLUMNS, marks, { course, from: q.from ?? null, to: q.to ?? null, records: marks });
  });

  router.get('/api/v1/sessions/:id', async (req, res) => {
    const { id } = parseOr400(idParam, req.params, 'params');
    const session = await db('class_sessions').where({ id }).first();
    if (!session) throw new AppError(404, 'not_found', `session ${id} does not exist`);
    const roster = await db('enrollments as e')
      .join('students as s', 's.id', 'e.student_id')
      .leftJoin('attendance_logs as a', function () {
        this.on('a.student_id', 'e.student_id').andOn('a.session_id', db.raw('?', [id]));
      })
      .where('e.course_id', session.course_id)
      .orderBy('e.student_id')
      .select('e.student_id', 's.name as student_name', db.raw("coalesce(a.status, 'unmarked') as status"), 'a.marked_at', 'a.source', 'a.confidence', 'a.device_id');
    sendTable(req, res, `session-${id.replace(/[^A-Za-z0-9-]/g, '_')}`, ['student_id', 'student_name', 'status', 'marked_at', 'source', 'confidence', 'device_id'], roster, {
      session,
      roster,
    });
  });

  return router;
}
