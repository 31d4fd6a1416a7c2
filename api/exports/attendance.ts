/**
 * Attendance export: the marks of a date range, read a keyset page of class sessions at a time (a year of a
 * big school never sits in memory at once; pg has no cursor stream without pg-query-stream), and turned
 * straight into CSV records: each database row becomes one line of text and nothing else. Two shapes: a plain CSV of every mark, and a
 * OneRoster 1.2 CSV bundle in which each class session is a gradebook line item and each mark a result
 * (OneRoster has no attendance entity; README "Exporting attendance").
 *
 * Pages are separate statements, not one snapshot: a mark written while an export runs may or may not be
 * in it. Results are written only for line items already written, so a bundle never refers to a session
 * it does not contain.
 */
import type { Knex } from 'knex';
import { csvCell, csvRecord } from '../csv';
import { csvField } from '../../lib/oneroster/csv';
import { ONEROSTER_12_FILES } from '../../lib/oneroster/manifest';

export type AttendanceStatus = 'present' | 'late' | 'absent' | 'excused';

export interface ExportFilter {
  from: string;
  to: string;
  /** One course; undefined for every course in `onlyCourses`. */
  courseId?: string;
  /** A teacher's courses; undefined for all (admin). */
  onlyCourses?: readonly string[];
}

/**
 * Sessions per page. Marks are read a page of sessions at a time through the (session_id, student_id) index,
 * so a page holds at most this many classes' marks and no statement sorts the whole range.
 */
export const SESSIONS_PER_PAGE = 250;

/** A mark as the export reads it (column names are the plain CSV's). */
export interface MarkRow {
  session_id: string;
  session_date: string;
  course_id: string;
  course_name: string;
  class_sourced_id: string;
  room_id: string;
  student_id: string;
  student_name: string;
  student_sourced_id: string | null;
  status: AttendanceStatus;
  marked_at: Date;
  source: string;
  override_reason: string | null;
}

export interface SessionRow {
  session_id: string;
  session_date: string;
  course_name: string;
  class_sourced_id: string;
}

function scoped(qb: Knex.QueryBuilder, f: ExportFilter): void {
  if (f.courseId) qb.where('c.course_id', f.courseId);
  if (f.onlyCourses) qb.whereIn('c.course_id', f.onlyCourses);
}

/** Class sessions dated in the range (with or without marks), in keyset pages ordered by (date, id). */
export async function* sessionPages(
  db: Knex,
  f: ExportFilter,
  pageSize = SESSIONS_PER_PAGE,
): AsyncGenerator<SessionRow[], void, undefined> {
  let last: SessionRow | undefined;
  for (;;) {
    const after = last;
    const rows: SessionRow[] = await db('class_sessions as c')
      .join('courses as co', 'co.id', 'c.course_id')
      .whereBetween('c.session_date', [f.from, f.to])
      .modify((qb) => scoped(qb, f))
      .modify((qb) => {
        if (after)
          qb.whereRaw('(c.session_date, c.id) > (?::date, ?)', [after.session_date, after.session_id]);
      })
      .orderBy([{ column: 'c.session_date' }, { column: 'c.id' }])
      .limit(pageSize)
      .select(
        'c.id as session_id',
        db.raw('c.session_date::text AS session_date'),
        'co.name as course_name',
        db.raw('coalesce(co.sourced_id, co.id) AS class_sourced_id'),
      );
    if (rows.length > 0) yield rows;
    if (rows.length < pageSize) return;
    last = rows[rows.length - 1];
  }
}

/** The marks of the sessions in the range, a page of sessions at a time, ordered by (date, session, student). */
export async function* markPages(
  db: Knex,
  f: ExportFilter,
  pageSize = SESSIONS_PER_PAGE,
): AsyncGenerator<MarkRow[], void, undefined> {
  for await (const sessions of sessionPages(db, f, pageSize)) {
    const rows: MarkRow[] = await db('attendance_logs as a')
      .join('class_sessions as c', 'c.id', 'a.session_id')
      .join('courses as co', 'co.id', 'a.course_id')
      .join('students as s', 's.id', 'a.student_id')
      // The reason of the override that set the mark: its latest attendance.override audit row.
      .joinRaw(
        `LEFT JOIN LATERAL (
           SELECT l.reason FROM audit_log l
            WHERE l.entity = 'attendance' AND l.entity_id = a.session_id || '/' || a.student_id
              AND l.action = 'attendance.override'
            ORDER BY l.id DESC LIMIT 1) o ON a.source = 'override'`,
      )
      .whereIn(
        'a.session_id',
        sessions.map((x) => x.session_id),
      )
      .orderBy([{ column: 'c.session_date' }, { column: 'a.session_id' }, { column: 'a.student_id' }])
      .select(
        'a.session_id',
        db.raw('c.session_date::text AS session_date'),
        'a.course_id',
        'co.name as course_name',
        db.raw('coalesce(co.sourced_id, co.id) AS class_sourced_id'),
        'c.room_id',
        'a.student_id',
        's.name as student_name',
        's.sourced_id as student_sourced_id',
        'a.status',
        'a.marked_at',
        'a.source',
        'o.reason as override_reason',
      );
    if (rows.length > 0) yield rows;
  }
}

// ---- plain CSV ----

export const PLAIN_COLUMNS = [
  'session_id',
  'session_date',
  'course_id',
  'course_name',
  'room_id',
  'student_id',
  'student_name',
  'student_sourced_id',
  'status',
  'marked_at',
  'source',
  'override_reason',
] as const;

export function plainRecord(m: MarkRow): string {
  return csvRecord([
    m.session_id,
    m.session_date,
    m.course_id,
    m.course_name,
    m.room_id,
    m.student_id,
    m.student_name,
    m.student_sourced_id,
    m.status,
    m.marked_at,
    m.source,
    m.override_reason,
  ]);
}

// ---- OneRoster 1.2 CSV bundle ----

/** Free text in a OneRoster file (a title, a comment). */
interface FreeText {
  text: string | null;
}
type OneRosterField = string | number | null | FreeText;

/**
 * One record of a OneRoster file. Identifiers and codes go out exactly (RFC 4180 quoting only, so they
 * match the school's own sourcedIds); free text is also neutralised against spreadsheet formulas, like
 * every other CSV of the API.
 */
export function oneRosterRecord(fields: readonly OneRosterField[]): string {
  return (
    fields
      .map((f) => (f === null ? '' : typeof f === 'object' ? csvCell(f.text) : csvField(String(f))))
      .join(',') + '\r\n'
  );
}

/** The gradebook category every attendance line item belongs to. */
export const ATTENDANCE_CATEGORY = { sourcedId: 'rollcall-attendance', title: 'Attendance' };

/**
 * How a mark becomes a gradebook result: attended = 1, late = 0.5, absent = 0, all "fully graded";
 * excused is "exempt" with no score (a gradebook leaves it out of averages, as Rollcall's percentages do).
 * The status itself travels as textScore.
 */
export const STATUS_RESULT: Record<AttendanceStatus, { scoreStatus: string; score: number | null }> = {
  present: { scoreStatus: 'fully graded', score: 1 },
  late: { scoreStatus: 'fully graded', score: 0.5 },
  absent: { scoreStatus: 'fully graded', score: 0 },
  excused: { scoreStatus: 'exempt', score: null },
};

/**
 * Column headers of the OneRoster CSV binding (1.1 CSV Tables, carried into 1.2), in the binding's order;
 * `textScore` is the 1.2 addition to results. `status` and `dateLastModified` stay empty: bulk files.
 */
export const ONEROSTER_HEADERS = {
  'manifest.csv': ['propertyName', 'value'],
  'categories.csv': ['sourcedId', 'status', 'dateLastModified', 'title'],
  'lineItems.csv': [
    'sourcedId',
    'status',
    'dateLastModified',
    'title',
    'description',
    'assignDate',
    'dueDate',
    'classSourcedId',
    'categorySourcedId',
    'gradingPeriodSourcedId',
    'resultValueMin',
    'resultValueMax',
  ],
  'results.csv': [
    'sourcedId',
    'status',
    'dateLastModified',
    'lineItemSourcedId',
    'studentSourcedId',
    'scoreStatus',
    'score',
    'scoreDate',
    'comment',
    'textScore',
  ],
} as const;

/** The bundle carries three of the 1.2 manifest's files in bulk; the rest are absent. */
const BULK_FILES = new Set(['categories', 'lineItems', 'results']);

export function manifestCsv(): string {
  const rows: [string, string][] = [
    ['manifest.version', '1.0'],
    ['oneroster.version', '1.2'],
    ...ONEROSTER_12_FILES.map((f): [string, string] => [`file.${f}`, BULK_FILES.has(f) ? 'bulk' : 'absent']),
    ['source.systemName', 'Rollcall'],
    ['source.systemCode', 'rollcall'],
  ];
  return [ONEROSTER_HEADERS['manifest.csv'], ...rows].map(oneRosterRecord).join('');
}

export function categoriesCsv(): string {
  return (
    oneRosterRecord(ONEROSTER_HEADERS['categories.csv']) +
    oneRosterRecord([ATTENDANCE_CATEGORY.sourcedId, null, null, { text: ATTENDANCE_CATEGORY.title }])
  );
}

/** One class session as a line item: assigned and due on its date, scored 0 to 1. */
export function lineItemRecord(s: SessionRow): string {
  return oneRosterRecord([
    s.session_id,
    null,
    null,
    { text: `Attendance ${s.course_name} ${s.session_date}` },
    null,
    s.session_date,
    s.session_date,
    s.class_sourced_id,
    ATTENDANCE_CATEGORY.sourcedId,
    null,
    0,
    1,
  ]);
}

/** One mark as a result of its session's line item; the student by their OneRoster sourcedId when imported. */
export function resultRecord(m: MarkRow): string {
  const r = STATUS_RESULT[m.status];
  return oneRosterRecord([
    `${m.session_id}/${m.student_id}`,
    null,
    null,
    m.session_id,
    m.student_sourced_id ?? m.student_id,
    r.scoreStatus,
    r.score,
    m.marked_at.toISOString().slice(0, 10),
    { text: m.override_reason },
    m.status,
  ]);
}
