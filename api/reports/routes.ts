import type { Router } from 'express';
import { featureRouter } from '../router';
import type { Knex } from 'knex';
import { z } from 'zod';
import { calendarDate, key, wholeNumber } from '../../lib/contracts/text';
import { sessionParams } from '../sessions/routes';
import { sendTable } from '../csv';
import {
  assertCourseAccess,
  assertStudentAccess,
  currentUser,
  requireUser,
  visibleCourseIds,
} from '../auth/user';
import { AppError } from '../errors';
import { parseOr400 } from '../validate';
import { consecutiveAbsences, courseMatrix, studentHistory, unregisteredClasses } from './queries';

const format = z.enum(['json', 'csv']).optional();
export const dateRange = z.strictObject({
  from: calendarDate().optional(),
  to: calendarDate().optional(),
  format,
});
export const idParam = z.strictObject({ id: key() });
export const sessionQuery = z.strictObject({ format });
export const absencesQuery = z.strictObject({
  min: wholeNumber(/^(?:[1-9][0-9]?|100)$/, 'from 1 to 100').default(3),
  course_id: key().optional(),
  format,
});

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

export function reportRoutes(db: Knex): Router {
  const router = featureRouter();
  // Every report is people-facing: admins see all, teachers only their own courses (README "Security").
  router.use(
    ['/api/v1/attendance/student', '/api/v1/attendance/course', '/api/v1/sessions', '/api/v1/reports'],
    requireUser(['admin', 'teacher']),
  );

  router.get('/api/v1/attendance/student/:id', async (req, res) => {
    const { id } = parseOr400(idParam, req.params, 'params');
    const q = parseOr400(dateRange, req.query, 'query');
    const student = await db('students').where({ id }).first('id', 'name');
    if (!student) throw new AppError(404, 'not_found', `student ${id} does not exist`);
    const user = currentUser(req);
    await assertStudentAccess(db, user, id);
    const { records, courses } = await studentHistory(db, id, q, await visibleCourseIds(db, user));
    sendTable(
      req,
      res,
      `student-${id}`,
      ['session_date', 'course_id', 'course_name', 'status', 'marked_at', 'source', 'session_id'],
      records,
      {
        student,
        from: q.from ?? null,
        to: q.to ?? null,
        courses,
        records,
      },
    );
  });

  router.get('/api/v1/attendance/course/:id', async (req, res) => {
    const { id } = parseOr400(idParam, req.params, 'params');
    const q = parseOr400(dateRange, req.query, 'query');
    const course = await db('courses').where({ id }).first('id', 'name', 'teacher_id');
    if (!course) throw new AppError(404, 'not_found', `course ${id} does not exist`);
    await assertCourseAccess(db, currentUser(req), id);
    const m = await courseMatrix(db, id, q);
    // CSV is the teacher's grid: a row per student, a column per session date, and the percentage.
    const dateCols = m.sessions.map((s) => s.session_id);
    const header = ['student_id', 'name', ...dateCols, 'attendance_pct'];
    const rows = m.students.map((s) => ({
      student_id: s.student_id,
      name: s.name,
      ...s.statuses,
      attendance_pct: s.attendance_pct,
    }));
    sendTable(req, res, `course-${id}`, header, rows, {
      course,
      from: q.from ?? null,
      to: q.to ?? null,
      ...m,
    });
  });

  router.get('/api/v1/sessions/:id', async (req, res) => {
    const { id } = parseOr400(sessionParams, req.params, 'params');
    parseOr400(sessionQuery, req.query, 'query');
    const session = await db('class_sessions').where({ id }).first();
    if (!session) throw new AppError(404, 'not_found', `session ${id} does not exist`);
    await assertCourseAccess(db, currentUser(req), session.course_id);
    const roster = await db('enrollments as e')
      .join('students as s', 's.id', 'e.student_id')
      .leftJoin('attendance_logs as a', function () {
        this.on('a.student_id', 'e.student_id').andOn('a.session_id', db.raw('?', [id]));
      })
      .where('e.course_id', session.course_id)
      .orderBy('e.student_id')
      .select(
        'e.student_id',
        's.name as student_name',
        db.raw("coalesce(a.status, 'unmarked') as status"),
        'a.marked_at',
        'a.source',
        'a.confidence',
        'a.device_id',
      );
    const columns = [
      'student_id',
      'student_name',
      'status',
      'marked_at',
      'source',
      'confidence',
      'device_id',
    ];
    sendTable(req, res, `session-${id.replace(/[^A-Za-z0-9-]/g, '_')}`, columns, roster, { session, roster });
  });

  router.get('/api/v1/reports/unregistered-classes', async (req, res) => {
    const q = parseOr400(dateRange, req.query, 'query');
    const to = q.to ?? today();
    const from = q.from ?? new Date(Date.parse(to) - 6 * 86_400_000).toISOString().slice(0, 10);
    if (Date.parse(to) - Date.parse(from) > 366 * 86_400_000)
      throw new AppError(400, 'range_too_large', 'at most one year at a time');
    if (from > to) throw new AppError(400, 'validation_failed', 'query.from: must not be after query.to');
    const visible = await visibleCourseIds(db, currentUser(req));
    const rows = (await unregisteredClasses(db, { from, to })).filter(
      (r) => !visible || visible.includes(String(r.course_id)),
    );
    sendTable(
      req,
      res,
      'unregistered-classes',
      ['session_date', 'starts_at', 'course_id', 'room_id', 'schedule_id', 'session_id', 'reason'],
      rows,
      {
        from,
        to,
        classes: rows,
      },
    );
  });

  router.get('/api/v1/reports/consecutive-absences', async (req, res) => {
    const q = parseOr400(absencesQuery, req.query, 'query');
    const user = currentUser(req);
    if (q.course_id) await assertCourseAccess(db, user, q.course_id);
    const visible = await visibleCourseIds(db, user);
    const rows = (await consecutiveAbsences(db, q.min, q.course_id)).filter(
      (r) => !visible || visible.includes(String(r.course_id)),
    );
    sendTable(
      req,
      res,
      'consecutive-absences',
      ['student_id', 'student_name', 'course_id', 'consecutive_absences', 'since', 'last_absent'],
      rows,
      {
        min: q.min,
        course_id: q.course_id ?? null,
        students: rows,
      },
    );
  });

  return router;
}
