/**
 * A small demo school: three rooms, three courses, 60 students, a weekly timetable, and a class in room
 * R100 that runs "now" (from a few minutes ago for an hour), so that a newcomer's `npm start` has a live
 * session to send recognitions to. Idempotent: re-running adds nothing twice.
 */
import type { Knex } from 'knex';
import { hashDeviceKey } from '../../lib/deviceKeys';
import { hashPassword } from '../../lib/passwords';

/** Published demo credentials: seeded only when DEMO_SEED is on, never in production. */
export const DEMO_DEVICE_KEYS: Record<string, string> = {
  'pi-r100': 'demo-key-pi-r100',
  'pi-r101': 'demo-key-pi-r101',
  'pi-r102': 'demo-key-pi-r102',
};

/** Published demo password of every demo user (admin@demo.school, district@…, teacher1@…, teacher2@…); DEMO_SEED only. */
export const DEMO_PASSWORD = 'rollcall-demo';

export const DEMO_USERS = {
  /** The school's admin (school `main`): every request of theirs is held to the school by row-level security. */
  admin: 'admin@demo.school',
  /** A district admin (no school): spans every school. */
  district: 'district@demo.school',
  teacher1: 'teacher1@demo.school',
  teacher2: 'teacher2@demo.school',
} as const;

const FIRST = ['Ada', 'Ben', 'Chloe', 'Dev', 'Ema', 'Finn', 'Grace', 'Hugo', 'Iris', 'Jonah', 'Kira', 'Liam'];
const LAST = ['Okafor', 'Silva', 'Novak', 'Tanaka', 'Ahmed'];

export function demoStudentId(n: number): string {
  return `S${String(n).padStart(3, '0')}`;
}

export interface SeedResult {
  nowScheduleId: number;
}

export async function seedDemoSchool(db: Knex, now: Date = new Date()): Promise<SeedResult> {
  return db.transaction(async (trx) => {
    await trx('users')
      .insert([
        { id: 'u-admin', email: 'admin@demo.school', name: 'Avery Admin', role: 'admin', school_id: 'main' },
        { id: 'u-district', email: 'district@demo.school', name: 'Dana District', role: 'admin' },
        { id: 'u-teacher1', email: 'teacher1@demo.school', name: 'Tariq Teacher', role: 'teacher' },
        { id: 'u-teacher2', email: 'teacher2@demo.school', name: 'Tess Teacher', role: 'teacher' },
      ])
      .onConflict('id')
      .ignore();
    // Only users without a password get the demo one: a password changed since is left alone.
    await trx('users')
      .whereIn('id', ['u-admin', 'u-district', 'u-teacher1', 'u-teacher2'])
      .whereNull('password_hash')
      .update({ password_hash: await hashPassword(DEMO_PASSWORD) });
    await trx('classrooms')
      .insert([
        { id: 'R100', name: 'Demo room', building: 'Main', timezone: 'UTC' },
        { id: 'R101', name: 'Lab 101', building: 'Main', timezone: 'UTC' },
        { id: 'R102', name: 'Room 102', building: 'Main', timezone: 'UTC' },
      ])
      .onConflict('id')
      .ignore();
    await trx('courses')
      .insert([
        { id: 'DEMO100', name: 'Demo class', teacher_id: 'u-teacher1' },
        { id: 'CS101', name: 'Introduction to Computing', teacher_id: 'u-teacher1' },
        { id: 'MATH201', name: 'Linear Algebra', teacher_id: 'u-teacher2' },
      ])
      .onConflict('id')
      .ignore();
    const students = Array.from({ length: 60 }, (_, i) => ({
      id: demoStudentId(i + 1),
      name: `${FIRST[i % FIRST.length]} ${LAST[i % LAST.length]}`,
    }));
    await trx('students').insert(students).onConflict('id').ignore();
    const enroll = (course: string, from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => ({
        course_id: course,
        student_id: demoStudentId(from + i),
      }));
    await trx('enrollments')
      .insert([...enroll('DEMO100', 1, 30), ...enroll('CS101', 1, 50), ...enroll('MATH201', 21, 60)])
      .onConflict(['course_id', 'student_id'])
      .ignore();
    await trx('devices')
      .insert(
        Object.entries(DEMO_DEVICE_KEYS).map(([id, key]) => ({
          id,
          room_id: `R${id.slice(-3)}`,
          key_hash: hashDeviceKey(key),
        })),
      )
      .onConflict('id')
      .ignore();

    const weekly = [
      ...[1, 3, 5].map((d) => ({
        course_id: 'CS101',
        room_id: 'R101',
        day_of_week: d,
        start_time: '09:00',
        end_time: '10:30',
      })),
      ...[2, 4].map((d) => ({
        course_id: 'MATH201',
        room_id: 'R102',
        day_of_week: d,
        start_time: '10:00',
        end_time: '11:30',
      })),
    ];
    for (const row of weekly) {
      const found = await trx('schedules').where(row).first();
      if (!found)
        await trx('schedules').insert({ ...row, effective_from: '2026-01-01', late_after_minutes: 10 });
    }

    // The class running now: started 5 minutes ago (whole minutes), lasts an hour, today only.
    const start = new Date(Math.floor(now.getTime() / 60_000) * 60_000 - 5 * 60_000);
    const end = new Date(
      Math.min(
        start.getTime() + 60 * 60_000,
        Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate(), 23, 59),
      ),
    );
    const today = start.toISOString().slice(0, 10);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const isoDow = ((start.getUTCDay() + 6) % 7) + 1;
    const existing = await trx('schedules')
      .where({ course_id: 'DEMO100', room_id: 'R100', day_of_week: isoDow, effective_from: today })
      .first();
    if (existing) return { nowScheduleId: existing.id as number };
    const [row] = await trx('schedules')
      .insert({
        course_id: 'DEMO100',
        room_id: 'R100',
        day_of_week: isoDow,
        start_time: hhmm(start),
        end_time: hhmm(end),
        effective_from: today,
        effective_to: today,
        late_after_minutes: 10,
      })
      .returning('id');
    return { nowScheduleId: row.id as number };
  });
}
