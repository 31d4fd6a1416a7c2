/**
 * Admin CRUD of the timetable: GET (list, optionally one room's or course's) and POST/PUT/DELETE
 * /api/v1/admin/schedules. Every change is audited and then
 * starts the `timetable:sync` workflow (USE_EXISTING), so the Temporal Schedules follow the table. A sync
 * that was already running when the row changed may have read the old table: the change waits for it and
 * starts one more (in the background; the answer does not wait for Temporal).
 */
import type { Router } from 'express';
import { featureRouter } from '../router';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { z } from 'zod';
import { calendarDate, key, wholeNumber } from '../../lib/contracts/text';
import type { syncTimetable } from '../../workflows/syncTimetable';
import { currentUser, requireUser } from '../auth/user';
import { AppError } from '../errors';
import { parseOr400 } from '../validate';

export const TIMETABLE_SYNC_WORKFLOW_ID = 'timetable:sync';

const time = key({ max: 8, pattern: /^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/, message: 'expected HH:MM' });
const minutes = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));

export const scheduleBody = z
  .strictObject({
    course_id: key(),
    room_id: key(),
    day_of_week: z.number().int().min(1).max(7).describe('ISO day: 1 = Monday … 7 = Sunday'),
    start_time: time,
    end_time: time,
    effective_from: calendarDate().optional(),
    effective_to: calendarDate().nullable().optional(),
    late_after_minutes: z.number().int().min(0).max(240).default(10),
    active: z.boolean().default(true),
  })
  .refine((s) => minutes(s.end_time) > minutes(s.start_time), {
    message: 'end_time must be after start_time',
    path: ['end_time'],
  })
  .refine((s) => !s.effective_to || !s.effective_from || s.effective_to >= s.effective_from, {
    message: 'effective_to must not be before effective_from',
    path: ['effective_to'],
  });
export const scheduleParams = z.strictObject({ id: wholeNumber(/^[1-9][0-9]{0,8}$/, 'from 1 to 999999999') });
export const scheduleListQuery = z.strictObject({
  room_id: key().optional().describe("only this room's rows"),
  course_id: key().optional().describe("only this course's rows"),
});
export const scheduleView = z.object({
  id: z.number(),
  course_id: z.string(),
  room_id: z.string(),
  day_of_week: z.number(),
  start_time: z.string(),
  end_time: z.string(),
  effective_from: z.string(),
  effective_to: z.string().nullable(),
  late_after_minutes: z.number(),
  active: z.boolean(),
});

type ScheduleBody = z.infer<typeof scheduleBody>;

const COLUMNS = [
  'id',
  'course_id',
  'room_id',
  'day_of_week',
  'start_time',
  'end_time',
  'effective_from',
  'effective_to',
  'late_after_minutes',
  'active',
];

const viewColumns = (db: Knex) => [
  ...COLUMNS.filter((c) => !c.startsWith('effective') && !c.endsWith('_time')),
  db.raw("to_char(start_time, 'HH24:MI') AS start_time"),
  db.raw("to_char(end_time, 'HH24:MI') AS end_time"),
  db.raw('effective_from::text AS effective_from'),
  db.raw('effective_to::text AS effective_to'),
];

async function view(db: Knex, id: number) {
  const row = await db('schedules')
    .where({ id })
    .first(...viewColumns(db));
  return row as z.infer<typeof scheduleView> | undefined;
}

async function assertReferences(db: Knex, body: ScheduleBody): Promise<void> {
  const course = await db('courses').where({ id: body.course_id }).first('id', 'active');
  if (!course) throw new AppError(422, 'unknown_course', `course ${body.course_id} does not exist`);
  const room = await db('classrooms').where({ id: body.room_id }).first('id', 'active');
  if (!room) throw new AppError(422, 'unknown_room', `room ${body.room_id} does not exist`);
  // A paused row may name them (it is how deactivating a course keeps its timetable); an active one may not.
  if (body.active && !course.active)
    throw new AppError(
      422,
      'course_inactive',
      `course ${body.course_id} is deactivated; reactivate it first`,
    );
  if (body.active && !room.active)
    throw new AppError(422, 'room_inactive', `room ${body.room_id} is deactivated; reactivate it first`);
}

function columns(body: ScheduleBody) {
  return {
    course_id: body.course_id,
    room_id: body.room_id,
    day_of_week: body.day_of_week,
    start_time: body.start_time,
    end_time: body.end_time,
    ...(body.effective_from ? { effective_from: body.effective_from } : {}),
    effective_to: body.effective_to ?? null,
    late_after_minutes: body.late_after_minutes,
    active: body.active,
  };
}

export interface ScheduleAdminDeps {
  db: Knex;
  temporal: Client;
  taskQueue: string;
  log: Logger;
}

/** Follow-up syncs still waiting for the run they follow (see requestTimetableSync). */
const followUps = new Set<Promise<unknown>>();

/**
 * Waits (at most `timeoutMs`) for follow-up syncs still in flight: called before the Temporal connection
 * closes, because a start on a closed gRPC channel throws outside any promise (an uncaught exception).
 */
export async function settleTimetableSyncFollowUps(timeoutMs = 10_000): Promise<void> {
  if (followUps.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled([...followUps]),
    new Promise((r) => (timer = setTimeout(r, timeoutMs).unref())),
  ]);
  clearTimeout(timer);
}

/**
 * Starts (or joins) timetable:sync after a change has committed; if the joined run began before this call,
 * it may have read the timetable before the change, so one more runs after it.
 */
export async function requestTimetableSync(
  deps: ScheduleAdminDeps,
): Promise<{ workflowId: string; runId: string }> {
  const committedBy = Date.now();
  const start = () =>
    deps.temporal.workflow.start<typeof syncTimetable>('syncTimetable', {
      workflowId: TIMETABLE_SYNC_WORKFLOW_ID,
      taskQueue: deps.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  const handle = await start();
  const desc = await handle.describe();
  if (desc.startTime.getTime() < committedBy && desc.status.name === 'RUNNING') {
    const followUp = handle
      .result()
      .catch(() => undefined)
      .then(start)
      .catch((err: unknown) => deps.log.error({ err }, 'follow-up timetable sync could not start'))
      .finally(() => followUps.delete(followUp));
    followUps.add(followUp);
  }
  return { workflowId: TIMETABLE_SYNC_WORKFLOW_ID, runId: desc.runId };
}

export function scheduleAdminRoutes(deps: ScheduleAdminDeps): Router {
  const router = featureRouter();
  const admin = requireUser(['admin']);

  const audit = (trx: Knex, actor: string, action: string, id: number, before: unknown, after: unknown) =>
    trx('audit_log').insert({
      actor,
      action,
      entity: 'schedule',
      entity_id: String(id),
      before: before === undefined ? null : JSON.stringify(before),
      after: after === undefined ? null : JSON.stringify(after),
    });

  const synced = async () => {
    try {
      return await requestTimetableSync(deps);
    } catch (err) {
      // The row is saved; the hourly/next sync will catch up. Say so instead of failing the write.
      deps.log.error({ err }, 'timetable sync could not be started');
      return null;
    }
  };

  /**
   * The table's own rules answered as the client's mistake: the exclusion constraint (schedules_no_overlap)
   * as a 409 that names the clash, and the date-order CHECK as a 422. The body's refinement catches an
   * effective_to before an explicit effective_from; only the database knows the omitted one (today on
   * create, the row's own on update).
   */
  const tableRules = async <T>(body: z.infer<typeof scheduleBody>, write: () => Promise<T>): Promise<T> => {
    try {
      return await write();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '23514' && body.effective_to)
        throw new AppError(
          422,
          'invalid_dates',
          `effective_to ${body.effective_to} is before effective_from (${body.effective_from ?? 'omitted: today on create, the row’s current value on update'})`,
        );
      if (code === '23514')
        throw new AppError(
          422,
          'invalid_schedule',
          `the timetable row breaks ${String((err as { constraint?: string }).constraint)}`,
        );
      if (code !== '23P01') throw err;
      throw new AppError(
        409,
        'schedule_overlap',
        `room ${body.room_id} already has an active class on weekday ${body.day_of_week} overlapping ${body.start_time}–${body.end_time} in those dates; change the times or pause the other row (active: false)`,
      );
    }
  };

  router.get('/api/v1/admin/schedules', admin, async (req, res) => {
    const q = parseOr400(scheduleListQuery, req.query, 'query');
    const schedules = (await deps
      .db('schedules')
      .modify((qb) => {
        if (q.room_id) void qb.where('room_id', q.room_id);
        if (q.course_id) void qb.where('course_id', q.course_id);
      })
      .orderBy(['room_id', 'day_of_week', 'start_time', 'id'])
      .select(...viewColumns(deps.db))) as z.infer<typeof scheduleView>[];
    res.json({ schedules });
  });

  router.post('/api/v1/admin/schedules', admin, async (req, res) => {
    const body = parseOr400(scheduleBody, req.body, 'body');
    await assertReferences(deps.db, body);
    const user = currentUser(req);
    const created = await tableRules(body, () =>
      deps.db.transaction(async (trx) => {
        const [row] = await trx('schedules').insert(columns(body)).returning('id');
        const after = await view(trx, row.id);
        await audit(trx, user.id, 'schedule.create', row.id, undefined, after);
        return after!;
      }),
    );
    res
      .status(201)
      .location(`/api/v1/admin/schedules/${created.id}`)
      .json({ schedule: created, timetable_sync: await synced() });
  });

  router.put('/api/v1/admin/schedules/:id', admin, async (req, res) => {
    const { id } = parseOr400(scheduleParams, req.params, 'params');
    const body = parseOr400(scheduleBody, req.body, 'body');
    await assertReferences(deps.db, body);
    const user = currentUser(req);
    const updated = await tableRules(body, () =>
      deps.db.transaction(async (trx) => {
        const before = await view(trx, id);
        if (!before) throw new AppError(404, 'not_found', `schedule ${id} does not exist`);
        await trx('schedules')
          .where({ id })
          .update({ ...columns(body), updated_at: trx.fn.now() });
        const after = await view(trx, id);
        await audit(trx, user.id, 'schedule.update', id, before, after);
        return after!;
      }),
    );
    res.json({ schedule: updated, timetable_sync: await synced() });
  });

  router.delete('/api/v1/admin/schedules/:id', admin, async (req, res) => {
    const { id } = parseOr400(scheduleParams, req.params, 'params');
    const user = currentUser(req);
    await deps.db.transaction(async (trx) => {
      const before = await view(trx, id);
      if (!before) throw new AppError(404, 'not_found', `schedule ${id} does not exist`);
      if (await trx('class_sessions').where({ schedule_id: id }).first('id')) {
        throw new AppError(
          409,
          'schedule_in_use',
          `schedule ${id} already has sessions; end it instead (PUT with effective_to, or active: false)`,
        );
      }
      await trx('schedules').where({ id }).delete();
      await audit(trx, user.id, 'schedule.delete', id, before, undefined);
    });
    res.json({ deleted: id, timetable_sync: await synced() });
  });

  return router;
}
