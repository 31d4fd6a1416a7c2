/**
 * Seeding for load and fault runs: N rooms, each with one course, its enrolled students, one device (own
 * key) and one timetable slot today. Shared by `npm run bench:herd` and the fault-matrix test, so both
 * exercise the same shape of school.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { hashDeviceKey } from '../../lib/deviceKeys';

export interface HerdSeedOptions {
  rooms: number;
  studentsPerClass: number;
  /** Class start and end (instants; stored as the room's local wall-clock HH:MM, so whole minutes). */
  start: Date;
  end: Date;
  lateAfterMinutes: number;
  /** IANA zone of the rooms (default UTC). Pick one where start and end fall on the same local date. */
  timezone?: string;
  /** Id prefixes: rooms `${prefix}R{n}`, courses `${prefix}C{n}`, students `${prefix}{n}-{i}`. */
  prefix?: string;
  /** Devices are `${devicePrefix}-pi-{n}`. */
  devicePrefix?: string;
}

export interface HerdRoom {
  roomId: string;
  courseId: string;
  deviceId: string;
  /** The device's plaintext key (only its hash is stored). */
  key: string;
  scheduleId: number;
  /** The class's date in the room's zone: the session workflow is `session:{scheduleId}:{sessionDate}`. */
  sessionDate: string;
  students: string[];
}

export interface LocalClock {
  date: string;
  hhmm: string;
  /** ISO day of week: 1 = Monday … 7 = Sunday. */
  isoDow: number;
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** The wall clock of `timezone` at `at`, in the shapes the schedules table stores. */
export function localClock(at: Date, timezone = 'UTC'): LocalClock {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
      hourCycle: 'h23',
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    hhmm: `${parts.hour}:${parts.minute}`,
    isoDow: WEEKDAYS.indexOf(parts.weekday) + 1,
  };
}

/**
 * A zone in which [from, to] stays on one local date: UTC, unless the run straddles UTC midnight, then a
 * zone twelve hours behind (sessions do not span midnight).
 */
export function zoneKeepingOneDate(from: Date, to: Date): string {
  return localClock(from).date === localClock(to).date ? 'UTC' : 'Etc/GMT+12';
}

export async function seedHerd(db: Knex, opts: HerdSeedOptions): Promise<HerdRoom[]> {
  const tz = opts.timezone ?? 'UTC';
  const prefix = opts.prefix ?? 'B';
  const devicePrefix = opts.devicePrefix ?? 'bench';
  const start = localClock(opts.start, tz);
  const end = localClock(opts.end, tz);
  if (start.date !== end.date) {
    throw new Error(`class ${start.date} ${start.hhmm} – ${end.date} ${end.hhmm} (${tz}) spans midnight`);
  }
  const rooms: HerdRoom[] = [];
  await db.transaction(async (trx) => {
    for (let r = 0; r < opts.rooms; r++) {
      const roomId = `${prefix}R${r}`;
      const courseId = `${prefix}C${r}`;
      const deviceId = `${devicePrefix}-pi-${r}`;
      const key = crypto.randomBytes(24).toString('base64url');
      const students = Array.from({ length: opts.studentsPerClass }, (_, i) => `${prefix}${r}-${i}`);
      await trx('classrooms').insert({ id: roomId, name: roomId, timezone: tz });
      await trx('courses').insert({ id: courseId, name: courseId });
      await trx('students').insert(students.map((id) => ({ id, name: id })));
      await trx('enrollments').insert(students.map((s) => ({ course_id: courseId, student_id: s })));
      await trx('devices').insert({ id: deviceId, room_id: roomId, key_hash: hashDeviceKey(key) });
      const [schedule] = await trx('schedules')
        .insert({
          course_id: courseId,
          room_id: roomId,
          day_of_week: start.isoDow,
          start_time: start.hhmm,
          end_time: end.hhmm,
          effective_from: start.date,
          late_after_minutes: opts.lateAfterMinutes,
        })
        .returning('id');
      rooms.push({
        roomId,
        courseId,
        deviceId,
        key,
        scheduleId: Number(schedule.id),
        sessionDate: start.date,
        students,
      });
    }
  });
  return rooms;
}
