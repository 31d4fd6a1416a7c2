/**
 * A OneRoster 1.1 / 1.2 CSV bundle, read and validated whole: every bad row is reported with its file, line
 * and reason, and a bundle with any bad row yields no roster at all (the import then writes nothing).
 *
 * What Rollcall takes from it: users with role student (students), users with role teacher (teachers,
 * invited later), classes (our courses: a section with its primary teacher), student enrollments, and each
 * class's location, periods and term dates (for timetable rows, with the bell schedule below). orgs,
 * academicSessions and courses are validated for the references into them; demographics and the other
 * optional files are ignored.
 *
 * Each file is bulk, delta or absent, as its manifest line `file.<name>` says (OneRoster CSV, manifest). A
 * bulk file lists everything: a row that is missing means "no longer there", which the import turns into a
 * deactivation. A delta file lists only what changed (each row with its status and dateLastModified); rows
 * it does not list keep their state. An absent file changes nothing. A delta row may refer to a student,
 * teacher or class that an earlier import made (`known`, the school's rows by sourcedId) instead of one in
 * the bundle; a reference found in neither is a bad row. Rollcall keeps no orgs, terms or OneRoster courses,
 * so references into those files are checked only when the file is bulk (then it lists them all).
 *
 * Bell schedule: OneRoster names a class's periods ("1", "2-3") but not when they are. An optional extra
 * file `rollcall_periods.csv` (period,days,startTime,endTime; days as ISO weekdays "1 2 3 4 5") says so;
 * other OneRoster tools ignore files they do not know.
 */
import { parseCsv, type CsvRecord } from './csv';

export interface RosterIssue {
  file: string;
  /** 1-based line; 0 when the problem is the file itself (missing). */
  line: number;
  reason: string;
}

export interface RosterPerson {
  sourcedId: string;
  /** Line in users.csv, for messages about the row later (e.g. an e-mail already taken). */
  line: number;
  name: string;
  email: string | null;
  /** false: status tobedeleted (or, for teachers/students, enabledUser false). */
  active: boolean;
}

export interface RosterClass {
  sourcedId: string;
  line: number;
  title: string;
  /** The primary teacher (an active teacher enrollment marked primary, else the first by sourcedId). */
  teacherSourcedId: string | null;
  active: boolean;
  location: string | null;
  periods: string[];
  /** Term dates of the class (the span of its termSourcedIds); '' when no term is in the bundle (delta). */
  termStart: string;
  termEnd: string;
}

/** How a file's rows are meant, from the manifest's `file.<name>` line. */
export type FileMode = 'bulk' | 'delta' | 'absent';

/** The modes of the files that become Rollcall rows. */
export interface RosterModes {
  users: FileMode;
  classes: FileMode;
  enrollments: FileMode;
}

/** The sourcedIds of rows earlier imports made in this school (active or not): what delta rows may name. */
export interface KnownRoster {
  students: ReadonlySet<string>;
  teachers: ReadonlySet<string>;
  classes: ReadonlySet<string>;
}

export const NOTHING_KNOWN: KnownRoster = { students: new Set(), teachers: new Set(), classes: new Set() };

/** A class's primary teacher as this bundle's enrollments name it (also for classes not in classes.csv). */
export interface TeacherAssignment {
  classSourcedId: string;
  teacherSourcedId: string;
}

export interface RosterEnrollment {
  sourcedId: string;
  line: number;
  classSourcedId: string;
  studentSourcedId: string;
  active: boolean;
}

export interface BellPeriod {
  period: string;
  /** ISO weekdays, 1 = Monday. */
  days: number[];
  start: string;
  end: string;
}

export interface RosterBundle {
  oneRosterVersion: string;
  students: RosterPerson[];
  teachers: RosterPerson[];
  classes: RosterClass[];
  enrollments: RosterEnrollment[];
  teacherAssignments: TeacherAssignment[];
  bellSchedule: BellPeriod[];
  modes: RosterModes;
  /** Rows Rollcall has no use for (other roles), counted for the summary. */
  ignored: { users: number; enrollments: number };
}

export interface ParseResult {
  bundle?: RosterBundle;
  issues: RosterIssue[];
}

/** Ids become Rollcall row ids (the same rule as STUDENT_ID_PATTERN in lib/enrollment.ts). */
export const ROSTER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;
const EMAIL = /^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/;
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;

const USER_ROLES = new Set([
  'administrator',
  'aide',
  'counselor',
  'districtAdministrator',
  'guardian',
  'parent',
  'principal',
  'proctor',
  'relative',
  'siteAdministrator',
  'student',
  'systemAdministrator',
  'teacher',
]);
const ORG_TYPES = new Set(['department', 'school', 'district', 'local', 'state', 'national']);
const SESSION_TYPES = new Set(['gradingPeriod', 'semester', 'schoolYear', 'term']);
const CLASS_TYPES = new Set(['homeroom', 'scheduled']);

/** The files Rollcall needs, by manifest key (`file.<name>`). */
export const REQUIRED_FILES = [
  'orgs',
  'academicSessions',
  'courses',
  'classes',
  'users',
  'enrollments',
] as const;
export const BELL_SCHEDULE_FILE = 'rollcall_periods.csv';

function isRealDate(s: string): boolean {
  if (!DATE.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

function list(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** One CSV file as rows of named fields, with the checks every OneRoster file shares. */
class Sheet {
  readonly rows: { line: number; get: (col: string) => string; has: (col: string) => boolean }[] = [];
  readonly columns: Set<string>;
  constructor(
    readonly file: string,
    /** null: the manifest says the file is absent (no rows, nothing to check). */
    text: string | null,
    required: readonly string[],
    private readonly issues: RosterIssue[],
    /** A delta file: every row says its status and when it changed. */
    readonly delta = false,
  ) {
    if (text === null) {
      this.columns = new Set();
      return;
    }
    const table = parseCsv(text);
    this.columns = new Set(table.header);
    for (const p of table.problems) this.issue(p.line, p.reason);
    const missing = required.filter((c) => !this.columns.has(c));
    if (table.header.length === 0) this.issue(1, 'the file is empty (a header row is required)');
    else if (missing.length > 0) this.issue(1, `header lacks required column(s): ${missing.join(', ')}`);
    const index = new Map(table.header.map((h, i) => [h, i]));
    for (const rec of table.records) {
      if (rec.fields.length !== table.header.length) {
        this.issue(rec.line, `has ${rec.fields.length} fields, the header has ${table.header.length}`);
        continue;
      }
      // Postgres text and jsonb cannot hold NUL: refused here, with the line, rather than failing later.
      if (rec.fields.some((f) => f.includes('\u0000'))) {
        this.issue(rec.line, 'contains a NUL character');
        continue;
      }
      this.rows.push(this.row(rec, index));
    }
  }

  private row(rec: CsvRecord, index: Map<string, number>) {
    return {
      line: rec.line,
      get: (col: string) => {
        const i = index.get(col);
        return i === undefined ? '' : rec.fields[i]!.trim();
      },
      has: (col: string) => index.has(col),
    };
  }

  issue(line: number, reason: string): void {
    this.issues.push({ file: this.file, line, reason });
  }
}

type Row = Sheet['rows'][number];

/**
 * Checks the columns every row shares (sourcedId, status, dateLastModified), reporting what is wrong. False
 * only when the row has no usable id (missing or a duplicate); a row with other faults still counts as
 * present, so references to it do not add a second, misleading reason.
 */
function commonChecks(sheet: Sheet, row: Row, seen: Map<string, number>): boolean {
  const id = row.get('sourcedId');
  if (!id) {
    sheet.issue(row.line, 'sourcedId is required');
    return false;
  }
  const first = seen.get(id);
  if (first !== undefined) {
    sheet.issue(row.line, `duplicate sourcedId ${id} (first on line ${first})`);
    return false;
  }
  seen.set(id, row.line);
  const problems: string[] = [];
  if (!ROSTER_ID_PATTERN.test(id))
    problems.push(
      `sourcedId "${id.slice(0, 80)}" cannot be a Rollcall id (letters, digits, . _ -; first a letter or digit; at most 64)`,
    );
  const status = row.get('status');
  if (status === '' && sheet.delta)
    problems.push('status is required in a delta file (active or tobedeleted)');
  else if (status !== '' && status !== 'active' && status !== 'tobedeleted')
    problems.push(`status "${status}" is not active or tobedeleted`);
  const modified = row.get('dateLastModified');
  if (modified === '' && sheet.delta) problems.push('dateLastModified is required in a delta file');
  if (modified !== '' && (!DATETIME.test(modified) || Number.isNaN(Date.parse(modified))))
    problems.push(`dateLastModified "${modified}" is not an ISO 8601 date-time`);
  for (const p of problems) sheet.issue(row.line, p);
  return true;
}

function requireFields(sheet: Sheet, row: Row, fields: readonly string[]): boolean {
  let ok = true;
  for (const f of fields) {
    if (!row.get(f)) {
      sheet.issue(row.line, `${f} is required`);
      ok = false;
    } else if (CONTROL.test(row.get(f))) {
      sheet.issue(row.line, `${f} contains control characters`);
      ok = false;
    }
  }
  return ok;
}

function enumField(sheet: Sheet, row: Row, field: string, allowed: Set<string>, optional = false): boolean {
  const v = row.get(field);
  if (v === '' && optional) return true;
  if (!allowed.has(v)) {
    sheet.issue(row.line, `${field} "${v}" is not one of ${[...allowed].join(', ')}`);
    return false;
  }
  return true;
}

function dateField(sheet: Sheet, row: Row, field: string, optional: boolean): boolean {
  const v = row.get(field);
  if (v === '' && optional) return true;
  if (!isRealDate(v)) {
    sheet.issue(row.line, `${field} "${v}" is not a date (YYYY-MM-DD)`);
    return false;
  }
  return true;
}

/**
 * Where a reference may also point when the bundle does not have the row: `imported`, rows earlier imports
 * made (the target file is delta or absent); 'unchecked', a file Rollcall does not keep that is not bulk.
 */
type Elsewhere = { imported: (id: string) => boolean; noun: string } | 'unchecked' | undefined;

function refField(
  sheet: Sheet,
  row: Row,
  field: string,
  target: Map<string, unknown>,
  targetFile: string,
  opts: { optional?: boolean; many?: boolean; elsewhere?: Elsewhere } = {},
): boolean {
  const raw = row.get(field);
  const ids = opts.many ? list(raw) : raw ? [raw] : [];
  if (ids.length === 0) {
    if (opts.optional) return true;
    sheet.issue(row.line, `${field} is required`);
    return false;
  }
  let ok = true;
  const elsewhere = opts.elsewhere;
  for (const id of ids) {
    if (target.has(id) || elsewhere === 'unchecked') continue;
    if (elsewhere?.imported(id)) continue;
    sheet.issue(
      row.line,
      elsewhere
        ? `${field} ${id} does not match any sourcedId in ${targetFile} nor any ${elsewhere.noun} imported before`
        : `${field} ${id} does not match any sourcedId in ${targetFile}`,
    );
    ok = false;
  }
  return ok;
}

/** Files by base name (folders inside a zip are ignored, names are case-sensitive as in the spec). */
export function parseRosterBundle(
  files: ReadonlyMap<string, string>,
  known: KnownRoster = NOTHING_KNOWN,
): ParseResult {
  const issues: RosterIssue[] = [];
  const manifestText = files.get('manifest.csv');
  if (manifestText === undefined) {
    return { issues: [{ file: 'manifest.csv', line: 0, reason: 'manifest.csv is missing from the bundle' }] };
  }
  const manifest = new Sheet('manifest.csv', manifestText, ['propertyName', 'value'], issues);
  const props = new Map<string, { value: string; line: number }>();
  for (const r of manifest.rows) props.set(r.get('propertyName'), { value: r.get('value'), line: r.line });
  const version = props.get('oneroster.version');
  if (!version) manifest.issue(0, 'oneroster.version is missing');
  else if (!['1.0', '1.1', '1.2'].includes(version.value))
    manifest.issue(version.line, `oneroster.version "${version.value}" is not 1.1 or 1.2`);
  const modes = new Map<string, FileMode>();
  for (const name of REQUIRED_FILES) {
    const p = props.get(`file.${name}`);
    if (!p) manifest.issue(0, `file.${name} is missing (Rollcall needs ${name}.csv)`);
    else if (p.value !== 'bulk' && p.value !== 'delta' && p.value !== 'absent')
      manifest.issue(p.line, `file.${name} is "${p.value}": not bulk, delta or absent`);
    else {
      modes.set(name, p.value);
      if (p.value !== 'absent' && !files.has(`${name}.csv`))
        manifest.issue(p.line, `${name}.csv is listed as ${p.value} but not in the bundle`);
    }
  }
  const is12 = version?.value === '1.2';
  // 1.1 users carry their role; 1.2 moved it to roles.csv.
  const usersHaveRole = parseCsv(files.get('users.csv') ?? '').header.includes('role');
  if (is12 && modes.get('users') === 'bulk' && !usersHaveRole && !files.has('roles.csv'))
    manifest.issue(0, 'roles.csv is missing: OneRoster 1.2 users carry their role in roles.csv');
  if (issues.length > 0) return { issues };
  const mode = (name: (typeof REQUIRED_FILES)[number]) => modes.get(name)!;
  /** A file's text, or null when the manifest says it is absent. */
  const text = (name: (typeof REQUIRED_FILES)[number]) =>
    mode(name) === 'absent' ? null : (files.get(`${name}.csv`) ?? '');
  const isDelta = (name: (typeof REQUIRED_FILES)[number]) => mode(name) === 'delta';
  /** References into files Rollcall does not keep: checkable only against a bulk file. */
  const unkept = (name: 'orgs' | 'academicSessions' | 'courses'): Elsewhere =>
    mode(name) === 'bulk' ? undefined : 'unchecked';
  const knownUser = (id: string) =>
    known.students.has(id) ? 'student' : known.teachers.has(id) ? 'teacher' : undefined;
  const importedUsers: Elsewhere =
    mode('users') === 'bulk' ? undefined : { imported: (id) => knownUser(id) !== undefined, noun: 'user' };
  const importedClasses: Elsewhere =
    mode('classes') === 'bulk' ? undefined : { imported: (id) => known.classes.has(id), noun: 'class' };

  // orgs
  const orgs = new Map<string, Row>();
  {
    const sheet = new Sheet('orgs.csv', text('orgs'), ['sourcedId', 'name', 'type'], issues, isDelta('orgs'));
    const seen = new Map<string, number>();
    for (const row of sheet.rows) {
      if (!commonChecks(sheet, row, seen)) continue;
      requireFields(sheet, row, ['name']);
      enumField(sheet, row, 'type', ORG_TYPES);
      orgs.set(row.get('sourcedId'), row);
    }
    for (const row of sheet.rows)
      if (orgs.has(row.get('sourcedId')))
        refField(sheet, row, 'parentSourcedId', orgs, 'orgs.csv', {
          optional: true,
          elsewhere: unkept('orgs'),
        });
  }

  // academicSessions
  const sessions = new Map<string, { start: string; end: string }>();
  {
    const sheet = new Sheet(
      'academicSessions.csv',
      text('academicSessions'),
      ['sourcedId', 'title', 'type', 'startDate', 'endDate', 'schoolYear'],
      issues,
      isDelta('academicSessions'),
    );
    const seen = new Map<string, number>();
    const rows: Row[] = [];
    for (const row of sheet.rows) {
      if (!commonChecks(sheet, row, seen)) continue;
      let ok = requireFields(sheet, row, ['title']);
      ok = enumField(sheet, row, 'type', SESSION_TYPES) && ok;
      const dates = dateField(sheet, row, 'startDate', false) && dateField(sheet, row, 'endDate', false);
      if (dates && row.get('endDate') < row.get('startDate')) {
        sheet.issue(row.line, `endDate ${row.get('endDate')} is before startDate ${row.get('startDate')}`);
        ok = false;
      }
      if (!/^\d{4}$/.test(row.get('schoolYear'))) {
        sheet.issue(row.line, `schoolYear "${row.get('schoolYear')}" is not a year (YYYY)`);
        ok = false;
      }
      rows.push(row);
      if (ok && dates)
        sessions.set(row.get('sourcedId'), { start: row.get('startDate'), end: row.get('endDate') });
      else sessions.set(row.get('sourcedId'), { start: '', end: '' });
    }
    for (const row of rows)
      refField(sheet, row, 'parentSourcedId', sessions, 'academicSessions.csv', {
        optional: true,
        elsewhere: unkept('academicSessions'),
      });
  }

  // courses
  const courses = new Map<string, Row>();
  {
    const sheet = new Sheet(
      'courses.csv',
      text('courses'),
      ['sourcedId', 'title', 'orgSourcedId'],
      issues,
      isDelta('courses'),
    );
    const seen = new Map<string, number>();
    for (const row of sheet.rows) {
      if (!commonChecks(sheet, row, seen)) continue;
      requireFields(sheet, row, ['title']);
      refField(sheet, row, 'orgSourcedId', orgs, 'orgs.csv', { elsewhere: unkept('orgs') });
      refField(sheet, row, 'schoolYearSourcedId', sessions, 'academicSessions.csv', {
        optional: true,
        elsewhere: unkept('academicSessions'),
      });
      courses.set(row.get('sourcedId'), row);
    }
  }

  // classes
  const classRows = new Map<string, Row>();
  {
    const sheet = new Sheet(
      'classes.csv',
      text('classes'),
      ['sourcedId', 'title', 'courseSourcedId', 'classType', 'schoolSourcedId', 'termSourcedIds'],
      issues,
      isDelta('classes'),
    );
    const seen = new Map<string, number>();
    for (const row of sheet.rows) {
      if (!commonChecks(sheet, row, seen)) continue;
      requireFields(sheet, row, ['title']);
      enumField(sheet, row, 'classType', CLASS_TYPES);
      refField(sheet, row, 'courseSourcedId', courses, 'courses.csv', { elsewhere: unkept('courses') });
      refField(sheet, row, 'schoolSourcedId', orgs, 'orgs.csv', { elsewhere: unkept('orgs') });
      refField(sheet, row, 'termSourcedIds', sessions, 'academicSessions.csv', {
        many: true,
        elsewhere: unkept('academicSessions'),
      });
      if (CONTROL.test(row.get('location'))) sheet.issue(row.line, 'location contains control characters');
      classRows.set(row.get('sourcedId'), row);
    }
  }

  // roles (1.2): the primary role of each user
  const primaryRole = new Map<string, string>();
  if (!usersHaveRole && files.has('roles.csv')) {
    const sheet = new Sheet(
      'roles.csv',
      files.get('roles.csv') ?? '',
      ['sourcedId', 'userSourcedId', 'roleType', 'role', 'orgSourcedId'],
      issues,
      props.get('file.roles')?.value === 'delta',
    );
    const seen = new Map<string, number>();
    for (const row of sheet.rows) {
      if (!commonChecks(sheet, row, seen)) continue;
      enumField(sheet, row, 'roleType', new Set(['primary', 'secondary']));
      enumField(sheet, row, 'role', USER_ROLES);
      refField(sheet, row, 'orgSourcedId', orgs, 'orgs.csv', { elsewhere: unkept('orgs') });
      if (row.get('roleType') === 'primary' && row.get('status') !== 'tobedeleted') {
        const user = row.get('userSourcedId');
        if (primaryRole.has(user)) sheet.issue(row.line, `user ${user} has a second primary role`);
        else primaryRole.set(user, row.get('role'));
      }
    }
  }

  // users
  const users = new Map<string, { role: string; person: RosterPerson }>();
  const usersSheet = new Sheet(
    'users.csv',
    text('users'),
    ['sourcedId', 'enabledUser', 'username', 'givenName', 'familyName', ...(usersHaveRole ? ['role'] : [])],
    issues,
    isDelta('users'),
  );
  {
    const seen = new Map<string, number>();
    for (const row of usersSheet.rows) {
      if (!commonChecks(usersSheet, row, seen)) continue;
      const id = row.get('sourcedId');
      let ok = requireFields(usersSheet, row, ['username', 'givenName', 'familyName']);
      const enabled = row.get('enabledUser');
      if (enabled !== 'true' && enabled !== 'false') {
        usersSheet.issue(row.line, `enabledUser "${enabled}" is not true or false`);
        ok = false;
      }
      // A delta roles.csv lists only changed roles: a user it does not list keeps the role they were imported with.
      let role = usersHaveRole ? row.get('role') : (primaryRole.get(id) ?? knownUser(id) ?? '');
      if (usersHaveRole) ok = enumField(usersSheet, row, 'role', USER_ROLES) && ok;
      else if (!role && row.get('status') !== 'tobedeleted') {
        usersSheet.issue(row.line, `user ${id} has no primary role in roles.csv`);
        ok = false;
      }
      if (row.has('orgSourcedIds') && row.get('orgSourcedIds'))
        ok =
          refField(usersSheet, row, 'orgSourcedIds', orgs, 'orgs.csv', {
            many: true,
            elsewhere: unkept('orgs'),
          }) && ok;
      const email = row.get('email');
      if (email && !EMAIL.test(email)) {
        usersSheet.issue(row.line, `email "${email.slice(0, 80)}" is not an e-mail address`);
        ok = false;
      }
      if (role === 'teacher' && !email && row.get('status') !== 'tobedeleted') {
        usersSheet.issue(row.line, 'a teacher needs an email (Rollcall invites teachers by e-mail)');
        ok = false;
      }
      for (const f of ['preferredGivenName', 'preferredFamilyName', 'email'])
        if (CONTROL.test(row.get(f))) {
          usersSheet.issue(row.line, `${f} contains control characters`);
          ok = false;
        }
      const given = row.get('preferredGivenName') || row.get('givenName');
      const family = row.get('preferredFamilyName') || row.get('familyName');
      if (!ok) role = '';
      users.set(id, {
        role,
        person: {
          sourcedId: id,
          line: row.line,
          name: `${given} ${family}`.normalize('NFC').trim(),
          email: email || null,
          active: row.get('status') !== 'tobedeleted' && enabled !== 'false',
        },
      });
    }
  }

  // enrollments
  const enrollments: RosterEnrollment[] = [];
  const teachersOf = new Map<string, { user: string; primary: boolean; id: string }[]>();
  let ignoredEnrollments = 0;
  {
    const sheet = new Sheet(
      'enrollments.csv',
      text('enrollments'),
      ['sourcedId', 'classSourcedId', 'schoolSourcedId', 'userSourcedId', 'role'],
      issues,
      isDelta('enrollments'),
    );
    const seen = new Map<string, number>();
    const pairs = new Map<string, number>();
    for (const row of sheet.rows) {
      if (!commonChecks(sheet, row, seen)) continue;
      let ok = refField(sheet, row, 'classSourcedId', classRows, 'classes.csv', {
        elsewhere: importedClasses,
      });
      ok = refField(sheet, row, 'schoolSourcedId', orgs, 'orgs.csv', { elsewhere: unkept('orgs') }) && ok;
      ok = refField(sheet, row, 'userSourcedId', users, 'users.csv', { elsewhere: importedUsers }) && ok;
      ok = enumField(sheet, row, 'role', USER_ROLES) && ok;
      const primary = row.get('primary');
      if (primary !== '' && primary !== 'true' && primary !== 'false') {
        sheet.issue(row.line, `primary "${primary}" is not true or false`);
        ok = false;
      }
      const dates = dateField(sheet, row, 'beginDate', true) && dateField(sheet, row, 'endDate', true);
      if (dates && row.get('beginDate') && row.get('endDate') && row.get('endDate') < row.get('beginDate')) {
        sheet.issue(row.line, `endDate ${row.get('endDate')} is before beginDate ${row.get('beginDate')}`);
        ok = false;
      }
      if (!ok || !dates) continue;
      const role = row.get('role');
      const userRole = users.get(row.get('userSourcedId'))?.role ?? knownUser(row.get('userSourcedId')) ?? '';
      const active = row.get('status') !== 'tobedeleted';
      if (role !== 'student' && role !== 'teacher') {
        ignoredEnrollments++;
        continue;
      }
      if (userRole && userRole !== role) {
        sheet.issue(
          row.line,
          `user ${row.get('userSourcedId')} is enrolled as ${role} but users.csv gives role ${userRole}`,
        );
        continue;
      }
      const key = `${row.get('classSourcedId')}\0${row.get('userSourcedId')}`;
      const firstPair = pairs.get(key);
      if (firstPair !== undefined && active) {
        sheet.issue(
          row.line,
          `user ${row.get('userSourcedId')} is enrolled in class ${row.get('classSourcedId')} twice (first on line ${firstPair})`,
        );
        continue;
      }
      if (active) pairs.set(key, row.line);
      if (role === 'teacher') {
        if (!active) continue;
        const list = teachersOf.get(row.get('classSourcedId')) ?? [];
        list.push({ user: row.get('userSourcedId'), primary: primary === 'true', id: row.get('sourcedId') });
        teachersOf.set(row.get('classSourcedId'), list);
      } else {
        enrollments.push({
          sourcedId: row.get('sourcedId'),
          line: row.line,
          classSourcedId: row.get('classSourcedId'),
          studentSourcedId: row.get('userSourcedId'),
          active,
        });
      }
    }
  }

  // the bell schedule (optional, Rollcall's own)
  const bellSchedule: BellPeriod[] = [];
  if (files.has(BELL_SCHEDULE_FILE)) {
    const sheet = new Sheet(
      BELL_SCHEDULE_FILE,
      files.get(BELL_SCHEDULE_FILE) ?? '',
      ['period', 'days', 'startTime', 'endTime'],
      issues,
    );
    const seen = new Map<string, number>();
    for (const row of sheet.rows) {
      const period = row.get('period');
      if (!period) {
        sheet.issue(row.line, 'period is required');
        continue;
      }
      if (seen.has(period)) {
        sheet.issue(row.line, `period ${period} is defined twice (first on line ${seen.get(period)})`);
        continue;
      }
      seen.set(period, row.line);
      const days = row
        .get('days')
        .split(/[\s;,]+/)
        .filter(Boolean)
        .map(Number);
      const start = row.get('startTime');
      const end = row.get('endTime');
      if (days.length === 0 || days.some((d) => !Number.isInteger(d) || d < 1 || d > 7)) {
        sheet.issue(row.line, `days "${row.get('days')}" must list ISO weekdays 1–7 (1 = Monday)`);
        continue;
      }
      if (!TIME.test(start) || !TIME.test(end) || end <= start) {
        sheet.issue(
          row.line,
          `startTime/endTime "${start}"–"${end}" must be HH:MM with the end after the start`,
        );
        continue;
      }
      bellSchedule.push({ period, days: [...new Set(days)].sort(), start, end });
    }
  }

  if (issues.length > 0) return { issues: sortIssues(issues) };

  const students: RosterPerson[] = [];
  const teachers: RosterPerson[] = [];
  let ignoredUsers = 0;
  for (const u of users.values()) {
    if (u.role === 'student') students.push(u.person);
    else if (u.role === 'teacher') teachers.push(u.person);
    else ignoredUsers++;
  }
  /** The primary teacher (an active teacher enrollment marked primary, else the first by sourcedId). */
  const primaryTeacher = (classId: string): string | null =>
    [...(teachersOf.get(classId) ?? [])].sort(
      (a, b) => Number(b.primary) - Number(a.primary) || (a.id < b.id ? -1 : 1),
    )[0]?.user ?? null;
  const classes: RosterClass[] = [...classRows.values()].map((row) => {
    const id = row.get('sourcedId');
    const terms = list(row.get('termSourcedIds'))
      .map((t) => sessions.get(t))
      .filter((t): t is { start: string; end: string } => t !== undefined);
    return {
      sourcedId: id,
      line: row.line,
      title: row.get('title'),
      teacherSourcedId: primaryTeacher(id),
      active: row.get('status') !== 'tobedeleted',
      location: row.get('location') || null,
      periods: list(row.get('periods')),
      termStart: terms.map((t) => t.start).sort()[0] ?? '',
      termEnd:
        terms
          .map((t) => t.end)
          .sort()
          .at(-1) ?? '',
    };
  });
  const teacherAssignments = [...teachersOf.keys()].sort().map((classSourcedId) => ({
    classSourcedId,
    teacherSourcedId: primaryTeacher(classSourcedId)!,
  }));
  return {
    issues: [],
    bundle: {
      oneRosterVersion: version!.value,
      students,
      teachers,
      classes,
      enrollments,
      teacherAssignments,
      bellSchedule,
      modes: { users: mode('users'), classes: mode('classes'), enrollments: mode('enrollments') },
      ignored: { users: ignoredUsers, enrollments: ignoredEnrollments },
    },
  };
}

function sortIssues(issues: RosterIssue[]): RosterIssue[] {
  const order = [
    'manifest.csv',
    'orgs.csv',
    'academicSessions.csv',
    'courses.csv',
    'classes.csv',
    'roles.csv',
    'users.csv',
    'enrollments.csv',
    BELL_SCHEDULE_FILE,
  ];
  return [...issues].sort((a, b) => order.indexOf(a.file) - order.indexOf(b.file) || a.line - b.line);
}

/** Bundle files as text (UTF-8). */
export function bundleTextFiles(files: ReadonlyMap<string, Buffer>): Map<string, string> {
  return new Map([...files].map(([name, data]) => [name, data.toString('utf8')]));
}
