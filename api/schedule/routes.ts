/**
 * GET /api/v1/schedule?room_id= — what a device needs to know about its room: the class running now
 * (with the early window and grace applied, as the attendance path resolves it) and the next one, each
 * with the session id to fetch its roster and the roster version to cache against.
 */
import type { Router } from 'express';
import { featureRouter } from '../router';
import type { Knex } from 'knex';
import { scheduleQuerySchema, type ScheduleAnswer, type SessionInfo } from '../../lib/contracts';
import { sessionWorkflowId } from '../../workflows/messages';
import { requireDevice } from '../auth/device';
import { AppError } from '../errors';
import { parseOr400 } from '../validate';

interface SlotRow {
  schedule_id: number;
  course_id: string;
  course_name: string;
  session_date: string;
  starts_at: Date;
  ends_at: Date;
  late_after_minutes: number;
  roster_version: string | number;
}

function present(row: SlotRow | undefined): SessionInfo | null {
  if (!row) return null;
  return {
    session_id: sessionWorkflowId(row.schedule_id, row.session_date),
    schedule_id: row.schedule_id,
    course_id: row.course_id,
    course_name: row.course_name,
    session_date: row.session_date,
    starts_at: row.starts_at.toISOString(),
    ends_at: row.ends_at.toISOString(),
    late_after_minutes: row.late_after_minutes,
    roster_version: Number(row.roster_version),
  };
}

export function scheduleRoutes(deps: { db: Knex; earlyMinutes: number; graceMinutes: number }): Router {
  const router = featureRouter();
  router.get('/api/v1/schedule', requireDevice(deps.db, { inSchool: true }), async (req, res) => {
    const { room_id } = parseOr400(scheduleQuerySchema, req.query, 'query');
    if (room_id !== req.device!.roomId) {
      throw new AppError(
        403,
        'wrong_room',
        `device ${req.device!.id} belongs to room ${req.device!.roomId}, not ${room_id}`,
      );
    }
    const current = await deps.db.raw<{ rows: SlotRow[] }>(
      `SELECT slot.schedule_id, slot.course_id, c.name AS course_name, slot.session_date::text AS session_date,
              slot.starts_at, slot.ends_at, slot.late_after_minutes, c.roster_version
         FROM schedule_slot_at(?, now(), ?, ?) slot JOIN courses c ON c.id = slot.course_id`,
      [room_id, deps.earlyMinutes, deps.graceMinutes],
    );
    // The next start in the coming week, in the room's own time zone.
    const next = await deps.db.raw<{ rows: SlotRow[] }>(
      `SELECT s.id AS schedule_id, s.course_id, c.name AS course_name, d::date::text AS session_date,
              (d::date + s.start_time) AT TIME ZONE r.timezone AS starts_at,
              (d::date + s.end_time) AT TIME ZONE r.timezone AS ends_at,
              s.late_after_minutes, c.roster_version
         FROM classrooms r
         CROSS JOIN generate_series((now() AT TIME ZONE r.timezone)::date, (now() AT TIME ZONE r.timezone)::date + 7, interval '1 day') d
         JOIN schedules s ON s.room_id = r.id AND s.active AND s.day_of_week = extract(isodow FROM d)
              AND d::date BETWEEN s.effective_from AND coalesce(s.effective_to, 'infinity'::date)
         JOIN courses c ON c.id = s.course_id
        WHERE r.id = ? AND (d::date + s.start_time) AT TIME ZONE r.timezone > now()
        ORDER BY starts_at LIMIT 1`,
      [room_id],
    );
    const answer: ScheduleAnswer = {
      room_id,
      server_time: new Date().toISOString(),
      current: present(current.rows[0]),
      next: present(next.rows[0]),
      early_minutes: deps.earlyMinutes,
      grace_minutes: deps.graceMinutes,
    };
    res.json(answer);
  });
  return router;
}
