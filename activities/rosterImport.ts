/**
 * The OneRoster import's activities (workflows/rosterImport.ts). Everything lives in Postgres under the
 * run id: the uploaded files, the validated rows (staging), the planned changes and their outcomes. Each
 * activity reads and writes by run id and can be retried at any point:
 *
 *   validate  parse the whole bundle; bad rows → run rejected with every reason; else staging rows
 *   plan      merge staging into the rows earlier imports made (source 'oneroster'): a bulk file replaces
 *             them, a delta file changes only the rows it lists, an absent file keeps them; then diff; conflicts with rows
 *             made by hand (an id or e-mail already taken) reject the run; else numbered changes
 *   apply     one bounded transaction per batch of changes, each change in its own savepoint, marked
 *             applied in the same transaction (a retried batch skips what it already did)
 *   finish    the summary, an audit row, and a timetable sync when timetable rows changed
 *
 * Deactivation, never deletion, of rows with history: students, teachers and courses get active = false,
 * timetable rows are paused; an enrollment that ended is removed (readers take `enrollments` to mean
 * "enrolled now"; attendance history does not refer to it), which bumps the course's roster version.
 */
import type { Knex } from 'knex';
import { schoolDb } from '../lib/tenancy';
import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import {
  parseRosterBundle,
  type BellPeriod,
  type FileMode,
  type KnownRoster,
  type RosterClass,
  type RosterEnrollment,
  type RosterIssue,
  type RosterModes,
  type RosterPerson,
  type TeacherAssignment,
} from '../lib/oneroster/bundle';

export const ROSTER_SOURCE = 'oneroster';
export const ROSTER_TIMETABLE_SYNC_WORKFLOW_ID = 'timetable:sync';
const APPLY_BATCH_SIZE = 250;
/** Reasons kept on the run (and answered by the API); the count is always exact. */
const MAX_STORED_ISSUES = 5000;

export type RosterEntity = 'teacher' | 'student' | 'course' | 'enrollment' | 'schedule';
export type RosterAction = 'create' | 'update' | 'deactivate' | 'reactivate';
export const ROSTER_ENTITIES: RosterEntity[] = ['teacher', 'student', 'course', 'enrollment', 'schedule'];

export interface RosterRunRef {
  runId: string;
}

export interface RosterValidation {
  ok: boolean;
  issueCount: number;
}

export interface RosterPlan {
  ok: boolean;
  issueCount: number;
  changes: number;
  batches: number;
}

export interface RosterBatchResult {
  applied: number;
  failed: number;
}

export type ChangeCounts = Record<RosterEntity, Record<RosterAction, number>>;

export interface TimetableGap {
  classSourcedId: string;
  title: string;
  reason: string;
}

export interface RosterImportSummary {
  runId: string;
  status: 'applied' | 'rejected';
  issueCount: number;
  /** Changes made, by kind (0 everywhere when the database already matched the bundle). */
  totalChanges: number;
  changes: ChangeCounts;
  /** Changes that could not be made (e.g. a timetable row clashing with a hand-made one), with reasons. */
  failed: { entity: string; sourcedId: string; reason: string }[];
  /** Classes that still need a room and times (no location, unknown room, periods without a bell schedule). */
  needsTimetable: TimetableGap[];
  ignored: { users: number; enrollments: number };
}

export interface Staged {
  teachers: RosterPerson[];
  students: RosterPerson[];
  classes: RosterClass[];
  enrollments: RosterEnrollment[];
  teacherAssignments: TeacherAssignment[];
  bellSchedule: BellPeriod[];
  modes: RosterModes;
}

const ALL_BULK: RosterModes = { users: 'bulk', classes: 'bulk', enrollments: 'bulk' };

interface Change {
  entity: RosterEntity;
  sourcedId: string;
  action: RosterAction;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface RosterImportSettings {
  log?: Logger;
  /** Start timetable:sync after timetable rows changed (the worker's own task queue). Default true. */
  syncTimetable?: boolean;
}

function emptyCounts(): ChangeCounts {
  const z = () => ({ create: 0, update: 0, deactivate: 0, reactivate: 0 });
  return { teacher: z(), student: z(), course: z(), enrollment: z(), schedule: z() };
}

async function reject(db: Knex, runId: string, issues: RosterIssue[]): Promise<void> {
  await db('roster_import_runs')
    .where({ id: runId })
    .update({
      status: 'rejected',
      issues: JSON.stringify({ count: issues.length, list: issues.slice(0, MAX_STORED_ISSUES) }),
      finished_at: db.fn.now(),
    });
}

async function runStatus(db: Knex, runId: string): Promise<string> {
  const run = await db('roster_import_runs').where({ id: runId }).first('status');
  if (!run) throw new Error(`roster import run ${runId} does not exist`);
  return run.status as string;
}

async function storedIssueCount(db: Knex, runId: string): Promise<number> {
  const run = await db('roster_import_runs').where({ id: runId }).first('issues');
  return Number((run?.issues as { count?: number } | null)?.count ?? 0);
}

async function loadStaged(db: Knex, runId: string): Promise<Staged> {
  const rows: { entity: string; payload: unknown }[] = await db('roster_import_staging')
    .where({ run_id: runId })
    .orderBy(['entity', 'sourced_id'])
    .select('entity', 'payload');
  const run = await db('roster_import_runs').where({ id: runId }).first('summary');
  const of = <T>(e: string) => rows.filter((r) => r.entity === e).map((r) => r.payload as T);
  return {
    teachers: of<RosterPerson>('teacher'),
    students: of<RosterPerson>('student'),
    classes: of<RosterClass>('class'),
    enrollments: of<RosterEnrollment>('enrollment'),
    teacherAssignments: of<TeacherAssignment>('classTeacher'),
    bellSchedule: of<BellPeriod>('period'),
    // Runs validated before delta bundles existed were bulk.
    modes: (run?.summary as { modes?: RosterModes } | null)?.modes ?? ALL_BULK,
  };
}

/** The rows earlier imports made in the school (the run's scope), by sourcedId: what delta rows may name. */
async function knownRoster(db: Knex): Promise<KnownRoster> {
  const ids = async (table: string) =>
    new Set<string>(await db(table).where({ source: ROSTER_SOURCE }).pluck('sourced_id'));
  return { students: await ids('students'), teachers: await ids('users'), classes: await ids('courses') };
}

/** What the roster wants each table to hold (rows with source 'oneroster'), keyed by sourced_id. */
export interface Desired {
  teacher: Map<string, Record<string, unknown>>;
  student: Map<string, Record<string, unknown>>;
  course: Map<string, Record<string, unknown>>;
  enrollment: Map<string, Record<string, unknown>>;
  schedule: Map<string, Record<string, unknown>>;
  gaps: TimetableGap[];
}

/** Course + student: enrollments are keyed by the pair (the table's primary key), not by their sourcedId. */
export function enrollmentKey(courseId: string, studentId: string): string {
  return `${courseId}/${studentId}`;
}

export interface PlanContext {
  rooms: { id: string; name: string }[];
  /** Pairs enrolled by hand (enrollmentKey): the roster agrees with them, and the import does not own them. */
  enrolledByHand: ReadonlySet<string>;
}

type Row = Record<string, unknown>;

function withoutKey(r: Row): Row {
  const { sourced_id: _s, ...rest } = r;
  return rest;
}

/**
 * What the roster wants each table to hold. A bulk file says it all; a delta file (or an absent one) starts
 * from the rows earlier imports made and changes only those it lists, so nothing ends merely because a
 * delta does not mention it.
 */
export function desiredRoster(
  staged: Staged,
  existing: Record<RosterEntity, Existing>,
  ctx: PlanContext,
): Desired {
  const { modes } = staged;
  const start = (entity: RosterEntity, mode: FileMode) =>
    new Map<string, Row>(
      mode === 'bulk' ? [] : [...existing[entity]].map(([k, v]) => [k, withoutKey(v)] as [string, Row]),
    );
  const person = (p: RosterPerson) => ({ name: p.name, email: p.email, active: p.active });
  const teacher = start('teacher', modes.users);
  for (const t of staged.teachers) teacher.set(t.sourcedId, person(t));
  const student = start('student', modes.users);
  for (const s of staged.students) student.set(s.sourcedId, person(s));

  // A class's teacher: the one this bundle's enrollments name; else, unless enrollments.csv is bulk (which
  // names every teacher), the one it has.
  const assigned = new Map<string, string>();
  for (const c of staged.classes) if (c.teacherSourcedId) assigned.set(c.sourcedId, c.teacherSourcedId);
  for (const a of staged.teacherAssignments) assigned.set(a.classSourcedId, a.teacherSourcedId);
  const course = start('course', modes.classes);
  for (const c of staged.classes)
    course.set(c.sourcedId, { name: c.title, teacher_id: null, active: c.active });
  for (const [id, row] of course) {
    const kept = modes.enrollments === 'bulk' ? null : existing.course.get(id)?.teacher_id;
    const t = assigned.get(id) ?? (typeof kept === 'string' ? kept : null);
    // A retired teacher may never have been created: the course then has none until the roster names one.
    course.set(id, { ...row, teacher_id: t && teacher.get(t)?.active === true ? t : null });
  }

  const enrollment = start('enrollment', modes.enrollments);
  // Ended rows first: a pair that ended and was enrolled again in the same file stays enrolled.
  const ordered = [...staged.enrollments].sort((a, b) => Number(a.active) - Number(b.active));
  for (const e of ordered) {
    const key = enrollmentKey(e.classSourcedId, e.studentSourcedId);
    if (!e.active) enrollment.delete(key);
    else
      enrollment.set(key, {
        course_id: e.classSourcedId,
        student_id: e.studentSourcedId,
        enrollment_id: e.sourcedId,
      });
  }
  for (const [key, e] of enrollment)
    if (
      ctx.enrolledByHand.has(key) ||
      student.get(String(e.student_id))?.active !== true ||
      course.get(String(e.course_id))?.active !== true
    )
      enrollment.delete(key);

  // Timetable rows: a class's location names a room (its id or name), its periods name bell periods.
  const { rooms } = ctx;
  const roomFor = (location: string): { room?: string; reason?: string } => {
    if (rooms.some((r) => r.id === location)) return { room: location };
    const byName = rooms.filter((r) => r.name.toLowerCase() === location.toLowerCase());
    if (byName.length === 1) return { room: byName[0]!.id };
    if (byName.length > 1)
      return {
        reason: `location "${location}" names ${byName.length} rooms (${byName.map((r) => r.id).join(', ')}): use the room id`,
      };
    return { reason: `location "${location}" is not a Rollcall room (create the room, then import again)` };
  };
  // A delta without rollcall_periods.csv keeps the times the school's timetable rows already have, and a class
  // whose terms are not in the bundle keeps its term dates (Rollcall keeps no terms of its own).
  const bell = new Map(staged.bellSchedule.map((p) => [p.period, p]));
  const termOf = new Map<string, { start: string; end: string }>();
  for (const [key, r] of [...existing.schedule].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const courseId = String(r.course_id);
    const period = key.slice(key.indexOf('/') + 1, key.lastIndexOf('/'));
    if (modes.classes !== 'bulk' && staged.bellSchedule.length === 0) {
      const slot = bell.get(period);
      if (!slot)
        bell.set(period, {
          period,
          days: [Number(r.day_of_week)],
          start: String(r.start_time),
          end: String(r.end_time),
        });
      else if (!slot.days.includes(Number(r.day_of_week)))
        slot.days = [...slot.days, Number(r.day_of_week)].sort();
    }
    const term = termOf.get(courseId);
    const from = String(r.effective_from);
    const to = String(r.effective_to);
    termOf.set(courseId, {
      start: term && term.start < from ? term.start : from,
      end: term && term.end > to ? term.end : to,
    });
  }
  const listed = new Set(staged.classes.map((c) => c.sourcedId));
  const schedule = start('schedule', modes.classes);
  for (const [key, r] of schedule)
    if (listed.has(String(r.course_id)) || course.get(String(r.course_id))?.active !== true)
      schedule.delete(key);
  const gaps: TimetableGap[] = [];
  for (const c of staged.classes) {
    if (!c.active) continue;
    const gap = (reason: string) => gaps.push({ classSourcedId: c.sourcedId, title: c.title, reason });
    if (!c.location) {
      gap('no location in classes.csv: needs a room and times');
      continue;
    }
    const { room, reason } = roomFor(c.location);
    if (!room) {
      gap(reason!);
      continue;
    }
    if (c.periods.length === 0) {
      gap('no periods in classes.csv: needs times');
      continue;
    }
    const unknown = c.periods.filter((p) => !bell.has(p));
    if (unknown.length > 0) {
      gap(`period(s) ${unknown.join(', ')} have no times (add them to rollcall_periods.csv)`);
      continue;
    }
    const term = c.termStart ? { start: c.termStart, end: c.termEnd } : termOf.get(c.sourcedId);
    if (!term) {
      gap('its terms are not in academicSessions.csv and it has no timetable yet: needs term dates');
      continue;
    }
    for (const p of c.periods) {
      const slot = bell.get(p)!;
      for (const day of slot.days) {
        schedule.set(`${c.sourcedId}/${p}/${day}`, {
          course_id: c.sourcedId,
          room_id: room,
          day_of_week: day,
          start_time: slot.start,
          end_time: slot.end,
          effective_from: term.start,
          effective_to: term.end,
          active: true,
        });
      }
    }
  }
  return { teacher, student, course, enrollment, schedule, gaps };
}

async function planContext(db: Knex): Promise<PlanContext> {
  const byHand = await db('enrollments').whereNull('source').select('course_id', 'student_id');
  return {
    rooms: await db('classrooms').select('id', 'name'),
    enrolledByHand: new Set(
      byHand.map((r: { course_id: string; student_id: string }) => enrollmentKey(r.course_id, r.student_id)),
    ),
  };
}

export type Existing = Map<string, Record<string, unknown>>;

async function existingState(db: Knex): Promise<Record<RosterEntity, Existing>> {
  const keyed = (rows: Record<string, unknown>[], key: (r: Record<string, unknown>) => string) =>
    new Map(rows.map((r) => [key(r), r]));
  const mine = { source: ROSTER_SOURCE };
  return {
    teacher: keyed(await db('users').where(mine).select('sourced_id', 'name', 'email', 'active'), (r) =>
      String(r.sourced_id),
    ),
    student: keyed(await db('students').where(mine).select('sourced_id', 'name', 'email', 'active'), (r) =>
      String(r.sourced_id),
    ),
    course: keyed(await db('courses').where(mine).select('sourced_id', 'name', 'teacher_id', 'active'), (r) =>
      String(r.sourced_id),
    ),
    enrollment: keyed(
      await db('enrollments')
        .where(mine)
        .select('course_id', 'student_id', db.raw('sourced_id AS enrollment_id')),
      (r) => enrollmentKey(String(r.course_id), String(r.student_id)),
    ),
    schedule: keyed(
      await db('schedules')
        .where(mine)
        .select(
          'sourced_id',
          'course_id',
          'room_id',
          'day_of_week',
          db.raw("to_char(start_time, 'HH24:MI') AS start_time"),
          db.raw("to_char(end_time, 'HH24:MI') AS end_time"),
          db.raw('effective_from::text AS effective_from'),
          db.raw('effective_to::text AS effective_to'),
          'active',
        ),
      (r) => String(r.sourced_id),
    ),
  };
}

function same(want: Record<string, unknown>, have: Record<string, unknown>): boolean {
  return Object.keys(want).every((k) => (want[k] ?? null) === (have[k] ?? null));
}

/** The changes that make the imported rows match the roster, in the order they can be applied. */
export function diffRoster(desired: Desired, existing: Record<RosterEntity, Existing>): Change[] {
  const ups: Record<RosterEntity, Change[]> = {
    teacher: [],
    student: [],
    course: [],
    enrollment: [],
    schedule: [],
  };
  const downs: Record<RosterEntity, Change[]> = {
    teacher: [],
    student: [],
    course: [],
    enrollment: [],
    schedule: [],
  };
  for (const entity of ROSTER_ENTITIES) {
    const want = desired[entity];
    const have = existing[entity];
    const hasActive = entity !== 'enrollment';
    for (const [id, after] of [...want].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const before = have.get(id);
      const wantActive = !hasActive || after.active === true;
      if (!before) {
        if (wantActive) ups[entity].push({ entity, sourcedId: id, action: 'create', before: null, after });
        continue;
      }
      const { sourced_id: _s, ...current } = before;
      if (same(after, current)) continue;
      if (hasActive && before.active === true && !wantActive) {
        downs[entity].push({ entity, sourcedId: id, action: 'deactivate', before: current, after });
      } else if (hasActive && before.active !== true && wantActive) {
        ups[entity].push({ entity, sourcedId: id, action: 'reactivate', before: current, after });
      } else ups[entity].push({ entity, sourcedId: id, action: 'update', before: current, after });
    }
    // An imported row the roster no longer has ends: one a bulk file left out, an enrollment a delta ended, a
    // timetable row of a class a delta changed (desiredRoster keeps everything else a delta does not list).
    for (const [id, before] of [...have].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (want.has(id)) continue;
      const { sourced_id: _s, ...current } = before;
      if (hasActive && before.active !== true) continue;
      downs[entity].push({
        entity,
        sourcedId: id,
        action: 'deactivate',
        before: current,
        after: hasActive ? { ...current, active: false } : null,
      });
    }
  }
  // Timetable rows that end go before the ones that start (a slot may move into a freed time), enrollments
  // that end before new ones, and people and courses are retired last.
  return [
    ...ups.teacher,
    ...ups.student,
    ...ups.course,
    ...downs.schedule,
    ...ups.schedule,
    ...downs.enrollment,
    ...ups.enrollment,
    ...downs.course,
    ...downs.student,
    ...downs.teacher,
  ];
}

/** Rows made by hand that a creation would collide with: the run is rejected with these reasons. */
async function conflicts(db: Knex, changes: Change[], staged: Staged): Promise<RosterIssue[]> {
  const issues: RosterIssue[] = [];
  const line = (list: { sourcedId: string; line: number }[], id: string) =>
    list.find((x) => x.sourcedId === id)?.line ?? 0;
  const creates = (e: RosterEntity) =>
    changes.filter((c) => c.entity === e && c.action === 'create').map((c) => c.sourcedId);
  for (const [entity, table, file, list] of [
    ['teacher', 'users', 'users.csv', staged.teachers],
    ['student', 'students', 'users.csv', staged.students],
    ['course', 'courses', 'classes.csv', staged.classes],
  ] as const) {
    const ids = creates(entity);
    for (let i = 0; i < ids.length; i += 1000) {
      const taken: string[] = await db(table)
        .whereIn('id', ids.slice(i, i + 1000))
        .pluck('id');
      for (const id of taken)
        issues.push({
          file,
          line: line(list, id),
          reason: `sourcedId ${id} is already the id of a ${entity} that was not imported from OneRoster`,
        });
    }
  }
  // E-mail addresses are unique among users (case-insensitively, as sign-in compares them).
  const emails = changes
    .filter((c) => c.entity === 'teacher' && c.after && c.action !== 'deactivate')
    .map((c) => ({ id: c.sourcedId, email: String(c.after!.email).toLowerCase() }));
  const byEmail = new Map<string, string[]>();
  for (const e of emails) byEmail.set(e.email, [...(byEmail.get(e.email) ?? []), e.id]);
  const holders: { id: string; email: string; source: string | null; sourced_id: string | null }[] =
    emails.length
      ? await db('users')
          .whereRaw('lower(email) = ANY(?)', [[...byEmail.keys()]])
          .select('id', 'email', 'source', 'sourced_id')
      : [];
  for (const [email, ids] of byEmail) {
    for (const id of ids.slice(1))
      issues.push({
        file: 'users.csv',
        line: line(staged.teachers, id),
        reason: `email ${email} is also the email of teacher ${ids[0]}`,
      });
    for (const h of holders.filter((x) => x.email.toLowerCase() === email)) {
      if (h.source === ROSTER_SOURCE && h.sourced_id === ids[0]) continue;
      issues.push({
        file: 'users.csv',
        line: line(staged.teachers, ids[0]!),
        reason: `email ${email} already belongs to user ${h.id}`,
      });
    }
  }
  return issues;
}

const TABLE: Record<RosterEntity, string> = {
  teacher: 'users',
  student: 'students',
  course: 'courses',
  enrollment: 'enrollments',
  schedule: 'schedules',
};

async function applyChange(trx: Knex.Transaction, c: Change): Promise<void> {
  const table = TABLE[c.entity];
  const source = { source: ROSTER_SOURCE, sourced_id: c.sourcedId };
  if (c.entity === 'enrollment') {
    const row = (c.after ?? c.before)!;
    const pair = { course_id: row.course_id, student_id: row.student_id, source: ROSTER_SOURCE };
    if (c.action === 'create') await trx(table).insert({ ...pair, sourced_id: row.enrollment_id });
    else if (c.action === 'update') await trx(table).where(pair).update({ sourced_id: row.enrollment_id });
    else await trx(table).where(pair).delete();
    return;
  }
  const after = { ...c.after! };
  if (c.entity === 'teacher') {
    if (c.action === 'create')
      await trx(table).insert({ id: c.sourcedId, role: 'teacher', ...after, ...source });
    else await trx(table).where(source).update(after);
    return;
  }
  if (c.entity === 'schedule') {
    if (c.action === 'create') await trx(table).insert({ ...after, ...source });
    else
      await trx(table)
        .where(source)
        .update({ ...after, updated_at: trx.fn.now() });
    return;
  }
  if (c.action === 'create') await trx(table).insert({ id: c.sourcedId, ...after, ...source });
  else await trx(table).where(source).update(after);
  // Devices re-read a course whose roster version moved (enrollment changes bump it by trigger).
  if (c.entity === 'course' && c.action !== 'create')
    await trx('courses').where(source).increment('roster_version', 1);
}

function failureReason(err: unknown): string {
  const e = err as { code?: string; constraint?: string; message?: string };
  if (e.code === '23P01') return 'clashes with another active class in the same room and time';
  if (e.code === '23505') return `already exists (${e.constraint ?? 'unique key'})`;
  if (e.code === '23503') return `refers to a row that does not exist (${e.constraint ?? 'foreign key'})`;
  if (e.code?.startsWith('22') || e.code?.startsWith('23')) return `refused by the database (${e.code})`;
  throw err;
}

export function createRosterImportActivities(base: Knex, settings: RosterImportSettings = {}) {
  /**
   * A run's statements run in its school's scope (lib/tenancy.ts): row-level security lets the bundle of one
   * school neither see nor deactivate another school's rows, and what it creates is the run's school's.
   */
  const runDb = async (runId: string): Promise<Knex> => {
    const run = await base('roster_import_runs').where({ id: runId }).first('school_id');
    if (!run) throw new Error(`roster import run ${runId} does not exist`);
    return schoolDb(base, run.school_id as string);
  };
  return {
    async validateRosterImport({ runId }: RosterRunRef): Promise<RosterValidation> {
      const db = await runDb(runId);
      const status = await runStatus(db, runId);
      if (status === 'rejected') return { ok: false, issueCount: await storedIssueCount(db, runId) };
      if (status !== 'received' && status !== 'validating') return { ok: true, issueCount: 0 };
      await db('roster_import_runs').where({ id: runId }).update({ status: 'validating' });
      const files: { name: string; content: Buffer }[] = await db('roster_import_files')
        .where({ run_id: runId })
        .select('name', 'content');
      const parsed = parseRosterBundle(
        new Map(files.map((f) => [f.name, f.content.toString('utf8')])),
        await knownRoster(db),
      );
      if (!parsed.bundle) {
        await reject(db, runId, parsed.issues);
        return { ok: false, issueCount: parsed.issues.length };
      }
      const b = parsed.bundle;
      await db.transaction(async (trx) => {
        await trx('roster_import_staging').where({ run_id: runId }).delete();
        const rows = [
          ...b.teachers.map((p) => ['teacher', p.sourcedId, p] as const),
          ...b.students.map((p) => ['student', p.sourcedId, p] as const),
          ...b.classes.map((c) => ['class', c.sourcedId, c] as const),
          ...b.enrollments.map((e) => ['enrollment', e.sourcedId, e] as const),
          ...b.teacherAssignments.map((a) => ['classTeacher', a.classSourcedId, a] as const),
          ...b.bellSchedule.map((p) => ['period', p.period, p] as const),
        ].map(([entity, sourced_id, payload]) => ({
          run_id: runId,
          entity,
          sourced_id,
          payload: JSON.stringify(payload),
        }));
        await trx.batchInsert('roster_import_staging', rows, 500).transacting(trx);
        await trx('roster_import_runs')
          .where({ id: runId })
          .update({
            status: 'planning',
            summary: JSON.stringify({
              ignored: b.ignored,
              oneRosterVersion: b.oneRosterVersion,
              modes: b.modes,
            }),
          });
      });
      return { ok: true, issueCount: 0 };
    },

    async planRosterImport({ runId }: RosterRunRef): Promise<RosterPlan> {
      const db = await runDb(runId);
      const status = await runStatus(db, runId);
      const planned = async (): Promise<RosterPlan> => {
        const [{ n }] = await db('roster_import_changes')
          .where({ run_id: runId })
          .count<{ n: string }[]>('* as n');
        const changes = Number(n);
        return { ok: true, issueCount: 0, changes, batches: Math.ceil(changes / APPLY_BATCH_SIZE) };
      };
      if (status === 'rejected')
        return { ok: false, issueCount: await storedIssueCount(db, runId), changes: 0, batches: 0 };
      if (status !== 'planning') return planned();
      const staged = await loadStaged(db, runId);
      const existing = await existingState(db);
      const desired = desiredRoster(staged, existing, await planContext(db));
      const changes = diffRoster(desired, existing);
      const issues = await conflicts(db, changes, staged);
      if (issues.length > 0) {
        await db.transaction(async (trx) => {
          await reject(trx, runId, issues);
        });
        return { ok: false, issueCount: issues.length, changes: 0, batches: 0 };
      }
      await db.transaction(async (trx) => {
        await trx('roster_import_changes').where({ run_id: runId }).delete();
        const rows = changes.map((c, seq) => ({
          run_id: runId,
          seq,
          entity: c.entity,
          sourced_id: c.sourcedId,
          action: c.action,
          before: c.before ? JSON.stringify(c.before) : null,
          after: c.after ? JSON.stringify(c.after) : null,
        }));
        await trx.batchInsert('roster_import_changes', rows, 500).transacting(trx);
        const run = await trx('roster_import_runs').where({ id: runId }).first('summary');
        await trx('roster_import_runs')
          .where({ id: runId })
          .update({
            status: 'applying',
            summary: JSON.stringify({ ...(run?.summary as object | null), needsTimetable: desired.gaps }),
          });
      });
      return {
        ok: true,
        issueCount: 0,
        changes: changes.length,
        batches: Math.ceil(changes.length / APPLY_BATCH_SIZE),
      };
    },

    async applyRosterImportBatch({
      runId,
      batch,
    }: RosterRunRef & { batch: number }): Promise<RosterBatchResult> {
      const db = await runDb(runId);
      return db.transaction(async (trx) => {
        const rows: (Omit<Change, 'sourcedId'> & { seq: number; sourced_id: string })[] = await trx(
          'roster_import_changes',
        )
          .where({ run_id: runId })
          .whereBetween('seq', [batch * APPLY_BATCH_SIZE, (batch + 1) * APPLY_BATCH_SIZE - 1])
          .whereNull('applied_at')
          .orderBy('seq')
          .forUpdate()
          .select('seq', 'entity', 'sourced_id', 'action', 'before', 'after');
        let failed = 0;
        for (const r of rows) {
          let outcome = 'applied';
          try {
            await trx.transaction((sp) => applyChange(sp, { ...r, sourcedId: r.sourced_id }));
          } catch (err) {
            outcome = `failed: ${failureReason(err)}`;
            failed++;
          }
          await trx('roster_import_changes')
            .where({ run_id: runId, seq: r.seq })
            .update({ applied_at: trx.fn.now(), outcome });
        }
        return { applied: rows.length - failed, failed };
      });
    },

    /**
     * Starts timetable:sync for the timetable rows an import changed (or joins the one running). A sync that
     * began before the changes may have read the old table: this waits for it, heartbeating (so a worker
     * shutdown cancels the wait and Temporal retries it), then starts one more.
     */
    async syncTimetableAfterImport(): Promise<void> {
      if (settings.syncTimetable === false) return;
      const ctx = Context.current();
      const changedAt = Date.now();
      const start = () =>
        ctx.client.workflow.start('syncTimetable', {
          workflowId: ROSTER_TIMETABLE_SYNC_WORKFLOW_ID,
          taskQueue: ctx.info.taskQueue,
          workflowIdConflictPolicy: 'USE_EXISTING',
        });
      const handle = await start();
      const desc = await handle.describe();
      if (desc.status.name !== 'RUNNING' || desc.startTime.getTime() >= changedAt) return;
      let ended = false;
      const result = handle.result().then(
        () => (ended = true),
        () => (ended = true),
      );
      while (!ended) {
        ctx.heartbeat();
        await Promise.race([result, ctx.sleep(2000)]);
      }
      await start();
    },

    /** The workflow ran out of retries: the run is marked failed (once) and audited. */
    async markRosterImportFailed({ runId, reason }: RosterRunRef & { reason: string }): Promise<void> {
      const db = await runDb(runId);
      await db.transaction(async (trx) => {
        const run = await trx('roster_import_runs')
          .where({ id: runId })
          .forUpdate()
          .first('status', 'requested_by');
        if (!run || ['applied', 'rejected', 'failed'].includes(run.status)) return;
        await trx('roster_import_runs')
          .where({ id: runId })
          .update({
            status: 'failed',
            summary: trx.raw(`coalesce(summary, '{}'::jsonb) || ?::jsonb`, [
              JSON.stringify({ failure: reason.slice(0, 2000) }),
            ]),
            finished_at: trx.fn.now(),
          });
        await trx('audit_log').insert({
          actor: run.requested_by,
          action: 'roster_import.failed',
          entity: 'roster_import',
          entity_id: runId,
          reason: reason.slice(0, 2000),
        });
      });
    },

    async finishRosterImport({ runId }: RosterRunRef): Promise<RosterImportSummary> {
      const db = await runDb(runId);
      const run = await db('roster_import_runs')
        .where({ id: runId })
        .first('status', 'requested_by', 'issues', 'summary');
      if (!run) throw new Error(`roster import run ${runId} does not exist`);
      const stored = (run.summary ?? {}) as Partial<RosterImportSummary>;
      const changes = emptyCounts();
      const failed: RosterImportSummary['failed'] = [];
      const rows: {
        entity: RosterEntity;
        sourced_id: string;
        action: RosterAction;
        outcome: string | null;
      }[] = await db('roster_import_changes')
        .where({ run_id: runId })
        .orderBy('seq')
        .select('entity', 'sourced_id', 'action', 'outcome');
      for (const r of rows) {
        if (r.outcome === 'applied') changes[r.entity][r.action]++;
        else
          failed.push({
            entity: r.entity,
            sourcedId: r.sourced_id,
            reason: (r.outcome ?? 'not applied').replace(/^failed: /, ''),
          });
      }
      const rejected = run.status === 'rejected';
      const summary: RosterImportSummary = {
        runId,
        status: rejected ? 'rejected' : 'applied',
        issueCount: Number((run.issues as { count?: number } | null)?.count ?? 0),
        totalChanges: rows.filter((r) => r.outcome === 'applied').length,
        changes,
        failed,
        needsTimetable: stored.needsTimetable ?? [],
        ignored: stored.ignored ?? { users: 0, enrollments: 0 },
      };
      const firstFinish = await db.transaction(async (trx) => {
        const updated = await trx('roster_import_runs')
          .where({ id: runId })
          .whereIn('status', ['applying', 'rejected'])
          .whereNotExists(
            trx('audit_log')
              .where({ entity: 'roster_import', entity_id: runId })
              .whereIn('action', ['roster_import.applied', 'roster_import.rejected']),
          )
          .update({
            status: rejected ? 'rejected' : 'applied',
            summary: JSON.stringify({ ...stored, ...summary }),
            finished_at: trx.fn.now(),
          });
        if (updated === 0) return false;
        await trx('audit_log').insert({
          actor: run.requested_by,
          action: rejected ? 'roster_import.rejected' : 'roster_import.applied',
          entity: 'roster_import',
          entity_id: runId,
          after: JSON.stringify({
            issueCount: summary.issueCount,
            totalChanges: summary.totalChanges,
            changes,
            failed: failed.length,
            needsTimetable: summary.needsTimetable.length,
          }),
        });
        return true;
      });
      if (!firstFinish)
        settings.log?.debug({ runId }, 'roster import was already finished; summary recomputed');
      return summary;
    },
  };
}

export type RosterImportActivities = ReturnType<typeof createRosterImportActivities>;
