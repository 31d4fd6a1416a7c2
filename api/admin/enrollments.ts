/**
 * Enrollments (admin): a student in a course, named by the pair.
 *
 *   GET  /api/v1/admin/enrollments                                   list (active, q, course_id, student_id)
 *   GET  /api/v1/admin/enrollments/:course_id/:student_id            one
 *   POST /api/v1/admin/enrollments                                   enroll (201; already enrolled → 409)
 *   POST /api/v1/admin/enrollments/:course_id/:student_id/deactivate end it
 *   POST /api/v1/admin/enrollments/:course_id/:student_id/reactivate restore it
 *
 * The pair is the whole row, so there is nothing to PUT. `enrollments` holds the enrollments in effect (every
 * reader takes a row there to mean "enrolled now"); an ended one waits in `inactive_enrollments` with its
 * origin. Both moves fire the roster-version triggers, so devices re-sync the class's faces. Audited as
 * entity `enrollment`, id `{course_id}/{student_id}`.
 */
import type { Request, Response, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { key } from '../../lib/contracts/text';
import { currentUser, requireUser } from '../auth/user';
import { AppError } from '../errors';
import { featureRouter } from '../router';
import { parseOr400, studentIdSchema } from '../validate';
import {
  activationBody,
  applyListQuery,
  audit,
  importNotice,
  isoTimes,
  listFields,
  sourceView,
  tableRules,
  writeAnswer,
  type AdminCrudDeps,
} from './crud';

export const enrollmentParams = z.strictObject({ course_id: key(), student_id: studentIdSchema });
export const enrollmentListQuery = z.strictObject({
  ...listFields,
  course_id: key().optional().describe("only this course's enrollments"),
  student_id: studentIdSchema.optional().describe("only this student's enrollments"),
});
export const enrollmentBody = z.strictObject({ course_id: key(), student_id: studentIdSchema });

export const enrollmentView = z.object({
  course_id: z.string(),
  student_id: z.string(),
  student_name: z.string(),
  active: z.boolean(),
  enrolled_at: z.iso.datetime(),
  deactivated_at: z.iso.datetime().nullable(),
  deactivated_because: z
    .enum(['enrollment_deactivated', 'student_deactivated'])
    .nullable()
    .describe('the enrollment was ended itself, or with its student'),
  roster_version: z.number().describe("the course's roster version"),
  ...sourceView,
});
type EnrollmentView = z.infer<typeof enrollmentView>;
export const enrollmentAnswer = writeAnswer('enrollment', enrollmentView);
export const enrollmentListAnswer = z.object({ enrollments: z.array(enrollmentView) });

const BOTH = `(
  SELECT course_id, student_id, true AS active, enrolled_at, NULL::timestamptz AS deactivated_at,
         NULL::text AS deactivated_because, source, sourced_id FROM enrollments
  UNION ALL
  SELECT course_id, student_id, false, enrolled_at, deactivated_at, reason, source, sourced_id
    FROM inactive_enrollments
) AS x`;

const select = (db: Knex) =>
  db
    .from(db.raw(BOTH))
    .join('students as s', 's.id', 'x.student_id')
    .join('courses as c', 'c.id', 'x.course_id')
    .select(
      'x.course_id',
      'x.student_id',
      's.name as student_name',
      'x.active',
      'x.enrolled_at',
      'x.deactivated_at',
      'x.deactivated_because',
      db.raw('c.roster_version::int AS roster_version'),
      'x.source',
      'x.sourced_id',
      db.raw('(x.source IS NOT NULL) AS managed_by_import'),
    );

const toView = (row: EnrollmentView) => isoTimes(row, ['enrolled_at', 'deactivated_at']);

async function read(db: Knex, courseId: string, studentId: string): Promise<EnrollmentView | undefined> {
  const row = (await select(db).where({ 'x.course_id': courseId, 'x.student_id': studentId }).first()) as
    EnrollmentView | undefined;
  return row && toView(row);
}

/** The student and the course exist and are active (422 otherwise); locks both rows for the change. */
async function assertEnrollable(trx: Knex.Transaction, courseId: string, studentId: string): Promise<void> {
  const student = await trx('students').where({ id: studentId }).forShare().first('active');
  if (!student) throw new AppError(422, 'unknown_student', `student ${studentId} does not exist`);
  if (!student.active)
    throw new AppError(
      422,
      'student_inactive',
      `student ${studentId} is inactive; reactivate the student first`,
    );
  const course = await trx('courses').where({ id: courseId }).forShare().first('active');
  if (!course) throw new AppError(422, 'unknown_course', `course ${courseId} does not exist`);
  if (!course.active)
    throw new AppError(422, 'course_inactive', `course ${courseId} is inactive; reactivate the course first`);
}

export function enrollmentAdminRoutes(deps: AdminCrudDeps): Router {
  const router = featureRouter();
  const admin = requireUser(['admin']);
  const { db } = deps;
  const base = '/api/v1/admin/enrollments';
  const idOf = (courseId: string, studentId: string) => `${courseId}/${studentId}`;

  router.get(base, admin, async (req, res) => {
    const q = parseOr400(enrollmentListQuery, req.query, 'query');
    const rows = await select(db)
      .modify((qb) => {
        if (q.course_id) void qb.where('x.course_id', q.course_id);
        if (q.student_id) void qb.where('x.student_id', q.student_id);
        applyListQuery(qb, q, 'x.active', ['x.student_id', 's.name', 'x.course_id', 'c.name']);
      })
      .orderBy(['x.course_id', 'x.student_id']);
    res.json({ enrollments: (rows as EnrollmentView[]).map(toView) });
  });

  router.get(`${base}/:course_id/:student_id`, admin, async (req, res) => {
    const p = parseOr400(enrollmentParams, req.params, 'params');
    const view = await read(db, p.course_id, p.student_id);
    if (!view) throw new AppError(404, 'not_found', `${p.student_id} was never enrolled in ${p.course_id}`);
    res.json({ enrollment: view });
  });

  router.post(base, admin, async (req, res) => {
    const body = parseOr400(enrollmentBody, req.body, 'body');
    const actor = currentUser(req).id;
    const id = idOf(body.course_id, body.student_id);
    const created = await tableRules(`enrollment ${id}`, () =>
      db.transaction(async (trx) => {
        await assertEnrollable(trx, body.course_id, body.student_id);
        const before = await read(trx, body.course_id, body.student_id);
        if (before?.active)
          throw new AppError(
            409,
            'already_enrolled',
            `${body.student_id} is already enrolled in ${body.course_id}`,
          );
        // An ended enrollment of the pair (if any) is cleared by the table's trigger.
        await trx('enrollments').insert(body);
        const after = (await read(trx, body.course_id, body.student_id))!;
        await audit(trx, { actor, entity: 'enrollment', action: 'create', id, before, after });
        return after;
      }),
    );
    res
      .status(201)
      .location(`${base}/${encodeURIComponent(body.course_id)}/${encodeURIComponent(body.student_id)}`)
      .json({ enrollment: created, notices: [] });
  });

  const setActive = (active: boolean) => async (req: Request, res: Response) => {
    const p = parseOr400(enrollmentParams, req.params, 'params');
    const { reason } = parseOr400(activationBody, req.body ?? {}, 'body');
    const actor = currentUser(req).id;
    const id = idOf(p.course_id, p.student_id);
    const pair = { course_id: p.course_id, student_id: p.student_id };
    const answer = await tableRules(`enrollment ${id}`, () =>
      db.transaction(async (trx) => {
        if (active) await assertEnrollable(trx, p.course_id, p.student_id);
        // Lock whichever row the pair has, so two admins cannot move it twice.
        const from = active ? 'inactive_enrollments' : 'enrollments';
        const row = await trx(from).where(pair).forUpdate().first();
        const before = await read(trx, p.course_id, p.student_id);
        if (!before)
          throw new AppError(404, 'not_found', `${p.student_id} was never enrolled in ${p.course_id}`);
        if (!row)
          return {
            enrollment: before,
            notices: [`enrollment ${id} is already ${active ? 'active' : 'inactive'}: nothing changed`],
          };
        const origin = { enrolled_at: row.enrolled_at, source: row.source, sourced_id: row.sourced_id };
        if (active) await trx('enrollments').insert({ ...pair, ...origin });
        else {
          await trx('inactive_enrollments')
            .insert({ ...pair, ...origin, reason: 'enrollment_deactivated' })
            .onConflict(['course_id', 'student_id'])
            .merge();
          await trx('enrollments').where(pair).delete();
        }
        const after = (await read(trx, p.course_id, p.student_id))!;
        await audit(trx, {
          actor,
          entity: 'enrollment',
          action: active ? 'reactivate' : 'deactivate',
          id,
          before,
          after,
          reason,
        });
        return {
          enrollment: after,
          notices: [
            `the roster version of ${p.course_id} is now ${after.roster_version}: devices ${active ? 'receive' : 'drop'} the student's faces at their next sync`,
            ...importNotice('enrollment', id, before),
          ],
        };
      }),
    );
    res.json(answer);
  };
  router.post(`${base}/:course_id/:student_id/deactivate`, admin, setActive(false));
  router.post(`${base}/:course_id/:student_id/reactivate`, admin, setActive(true));

  return router;
}
