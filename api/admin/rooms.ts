/**
 * Rooms (classrooms, admin): `/api/v1/admin/rooms` in the shape of api/admin/crud.ts. The OneRoster import
 * does not make rooms, so they have no source. A room with active timetable rows cannot be deactivated
 * (409 naming them: pause or move them first); its devices stay where they are (decommission them with the
 * device CLI/API). A new time zone moves the room's classes with it: timetable:sync reschedules them.
 */
import type { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { key, text } from '../../lib/contracts/text';
import { AppError } from '../errors';
import { applyListQuery, entityRoutes, listFields, writeAnswer, type AdminCrudDeps } from './crud';

export const roomAdminParams = z.strictObject({ id: key() });
export const roomAdminListQuery = z.strictObject({ ...listFields });
const timezone = key({
  max: 64,
  pattern: /^[A-Za-z0-9_+\-/]+$/,
  message: 'an IANA time zone name (Europe/Lisbon)',
});
const building = text(200).nullable().optional().describe('omitted or null: none');
export const roomCreateBody = z.strictObject({
  id: key(),
  name: text(200),
  building,
  timezone: timezone.default('UTC'),
});
export const roomUpdateBody = z.strictObject({ name: text(200), building, timezone });

export const roomAdminView = z.object({
  id: z.string(),
  name: z.string(),
  building: z.string().nullable(),
  timezone: z.string(),
  active: z.boolean(),
  active_schedule_ids: z.array(z.number()),
  device_ids: z.array(z.string()).describe('devices in the room that are not decommissioned'),
});
type RoomView = z.infer<typeof roomAdminView>;
export const roomAdminAnswer = writeAnswer('room', roomAdminView);
export const roomAdminListAnswer = z.object({ rooms: z.array(roomAdminView) });

const select = (db: Knex) =>
  db('classrooms as r').select(
    'r.id',
    'r.name',
    'r.building',
    'r.timezone',
    'r.active',
    db.raw(
      `coalesce((SELECT array_agg(s.id ORDER BY s.id) FROM schedules s WHERE s.room_id = r.id AND s.active), '{}') AS active_schedule_ids`,
    ),
    db.raw(
      `coalesce((SELECT array_agg(d.id ORDER BY d.id) FROM devices d WHERE d.room_id = r.id AND d.status <> 'decommissioned'), '{}') AS device_ids`,
    ),
  );

async function assertTimezone(db: Knex, body: { timezone: string }): Promise<void> {
  if (!(await db('pg_timezone_names').where({ name: body.timezone }).first('name')))
    throw new AppError(422, 'unknown_timezone', `${body.timezone} is not a time zone Postgres knows`);
}

export function roomAdminRoutes(deps: AdminCrudDeps): Router {
  return entityRoutes(deps, {
    entity: 'room',
    plural: 'rooms',
    table: 'classrooms',
    params: roomAdminParams,
    listQuery: roomAdminListQuery,
    createBody: roomCreateBody,
    updateBody: roomUpdateBody,
    async list(db, q) {
      return (await select(db)
        .modify((qb) => applyListQuery(qb, q, 'r.active', ['r.id', 'r.name', 'r.building']))
        .orderBy('r.id')) as RoomView[];
    },
    async read(db, id) {
      return (await select(db).where('r.id', id).first()) as RoomView | undefined;
    },
    assertWritable: assertTimezone,
    columns: (body) => ({ name: body.name, building: body.building ?? null, timezone: body.timezone }),
    async afterUpdate(_trx, before, after) {
      const moved = before.timezone !== after.timezone;
      const scheduled = after.active_schedule_ids.length > 0;
      return {
        notices:
          moved && scheduled
            ? [`the room's classes now run at their times in ${after.timezone}; their Schedules follow`]
            : [],
        timetableChanged: moved && scheduled,
      };
    },
    async assertCanDeactivate(trx, id) {
      const active: number[] = await trx('schedules')
        .where({ room_id: id, active: true })
        .orderBy('id')
        .pluck('id');
      if (active.length)
        throw new AppError(
          409,
          'room_in_use',
          `room ${id} has active timetable rows (${active.join(', ')}); pause or move them first (PUT /api/v1/admin/schedules/{id})`,
        );
    },
    async onDeactivate(trx, id) {
      const devices: string[] = await trx('devices')
        .where({ room_id: id })
        .whereNot('status', 'decommissioned')
        .orderBy('id')
        .pluck('id');
      return {
        notices: devices.length
          ? [`devices ${devices.join(', ')} are still in this room; decommission or move them separately`]
          : [],
      };
    },
  });
}
