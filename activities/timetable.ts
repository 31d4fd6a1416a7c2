/**
 * Keeps one Temporal Schedule per `schedules` row. Each fires `launchClassSession` SESSION_EARLY_MINUTES
 * before the class starts (calendar spec in the room's time zone, bounded by effective_from/to); a paused
 * row pauses its Schedule; a deleted or expired row deletes it. A hash of the row in the Schedule's memo
 * makes the sync idempotent: unchanged rows cost one describe, not an update.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
} from '@temporalio/client';

export const CLASS_SCHEDULE_PREFIX = 'class:';

export interface TimetableRow {
  id: number;
  course_id: string;
  room_id: string;
  day_of_week: number;
  start_time: string;
  end_time: string;
  effective_from: string;
  effective_to: string | null;
  active: boolean;
  timezone: string;
}

export interface TimetableSyncOptions {
  taskQueue: string;
  earlyMinutes: number;
  /** Today in UTC (YYYY-MM-DD); rows that ended before it are removed. */
  today?: string;
}

export interface TimetableSyncResult {
  created: string[];
  updated: string[];
  deleted: string[];
  unchanged: number;
  paused: string[];
}

export function classScheduleId(scheduleId: number): string {
  return `${CLASS_SCHEDULE_PREFIX}${scheduleId}`;
}

/** Fire time = start − early window, as a local wall-clock time (clamped to the same day). */
export function fireTime(startTime: string, earlyMinutes: number): { hour: number; minute: number } {
  const [h, m] = startTime.split(':').map(Number);
  const total = Math.max(0, h * 60 + m - earlyMinutes);
  return { hour: Math.floor(total / 60), minute: total % 60 };
}

const DAY_NAMES = ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY'] as const;

export function scheduleOptionsFor(row: TimetableRow, opts: TimetableSyncOptions): ScheduleOptions {
  const { hour, minute } = fireTime(row.start_time, opts.earlyMinutes);
  return {
    scheduleId: classScheduleId(row.id),
    spec: {
      calendars: [{ dayOfWeek: DAY_NAMES[row.day_of_week - 1], hour, minute }],
      timezone: row.timezone,
      startAt: new Date(`${row.effective_from}T00:00:00Z`),
      endAt: row.effective_to
        ? new Date(Date.parse(`${row.effective_to}T00:00:00Z`) + 2 * 86_400_000)
        : undefined,
    },
    action: {
      type: 'startWorkflow',
      workflowType: 'launchClassSession',
      workflowId: `launch:${row.id}`,
      taskQueue: opts.taskQueue,
      args: [{ scheduleId: row.id }],
    },
    policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL, catchupWindow: '1 hour' },
    state: { paused: !row.active, note: row.active ? undefined : 'timetable row paused' },
    memo: { rowHash: rowHash(row, opts) },
  };
}

export function rowHash(
  row: TimetableRow,
  opts: Pick<TimetableSyncOptions, 'earlyMinutes' | 'taskQueue'>,
): string {
  const { active: _active, ...shape } = row;
  return crypto
    .createHash('sha256')
    .update(JSON.stringify({ shape, early: opts.earlyMinutes, tq: opts.taskQueue }))
    .digest('hex')
    .slice(0, 16);
}

export async function loadTimetable(db: Knex): Promise<TimetableRow[]> {
  return db('schedules as s')
    .join('classrooms as r', 'r.id', 's.room_id')
    .select(
      's.id',
      's.course_id',
      's.room_id',
      's.day_of_week',
      db.raw("to_char(s.start_time, 'HH24:MI') AS start_time"),
      db.raw("to_char(s.end_time, 'HH24:MI') AS end_time"),
      db.raw('s.effective_from::text AS effective_from'),
      db.raw('s.effective_to::text AS effective_to'),
      's.active',
      'r.timezone',
    )
    .orderBy('s.id');
}

export async function syncTimetableSchedules(
  db: Knex,
  client: Client,
  opts: TimetableSyncOptions,
): Promise<TimetableSyncResult> {
  const today = opts.today ?? new Date().toISOString().slice(0, 10);
  const rows = (await loadTimetable(db)).filter((r) => !r.effective_to || r.effective_to >= today);
  const wanted = new Map(rows.map((r) => [classScheduleId(r.id), r]));
  const result: TimetableSyncResult = { created: [], updated: [], deleted: [], unchanged: 0, paused: [] };

  for (const [id, row] of wanted) {
    const options = scheduleOptionsFor(row, opts);
    const handle = client.schedule.getHandle(id);
    let current;
    try {
      current = await handle.describe();
    } catch (e) {
      if (!(e instanceof ScheduleNotFoundError)) throw e;
    }
    if (!current) {
      await client.schedule.create(options);
      result.created.push(id);
      if (!row.active) result.paused.push(id);
      continue;
    }
    const sameShape = current.memo?.rowHash === options.memo?.rowHash;
    if (!sameShape) {
      // A Schedule's memo (our row hash) cannot be updated in place, and a class Schedule keeps no state
      // worth saving beyond what the row says, so a changed row recreates its Schedule.
      await handle.delete();
      await client.schedule.create(options);
      result.updated.push(id);
    } else if (current.state.paused === row.active) {
      if (row.active) await handle.unpause('timetable row resumed');
      else await handle.pause('timetable row paused');
      result.updated.push(id);
    } else {
      result.unchanged++;
    }
    if (!row.active) result.paused.push(id);
  }

  for await (const s of client.schedule.list()) {
    if (s.scheduleId.startsWith(CLASS_SCHEDULE_PREFIX) && !wanted.has(s.scheduleId)) {
      await client.schedule.getHandle(s.scheduleId).delete();
      result.deleted.push(s.scheduleId);
    }
  }
  return result;
}

export function createTimetableActivities(db: Knex, opts: Omit<TimetableSyncOptions, 'today'>) {
  return {
    async syncTimetable(): Promise<TimetableSyncResult> {
      return syncTimetableSchedules(db, Context.current().client, opts);
    },

    /** The class date of a launch: the room-local date of the fire time plus the early window. */
    async resolveSessionDate(input: {
      scheduleId: number;
      firedAt: string;
    }): Promise<{ sessionDate: string; courseId: string; roomId: string }> {
      const r = await db.raw<{ rows: { session_date: string; course_id: string; room_id: string }[] }>(
        `SELECT ((?::timestamptz + make_interval(mins => ?)) AT TIME ZONE c.timezone)::date::text AS session_date,
                s.course_id, s.room_id
           FROM schedules s JOIN classrooms c ON c.id = s.room_id WHERE s.id = ?`,
        [input.firedAt, opts.earlyMinutes, input.scheduleId],
      );
      const row = r.rows[0];
      if (!row)
        throw ApplicationFailure.create({
          message: `schedule ${input.scheduleId} does not exist`,
          nonRetryable: true,
        });
      return { sessionDate: row.session_date, courseId: row.course_id, roomId: row.room_id };
    },
  };
}

export type TimetableActivities = ReturnType<typeof createTimetableActivities>;
