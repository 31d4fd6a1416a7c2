/**
 * A realistic OneRoster 1.1 (or 1.2) CSV bundle for tests and demos: a district and a school, a school year
 * with two semesters around the given clock, teachers, hundreds of students, dozens of classes with rooms
 * and periods, and a bell schedule (rollcall_periods.csv). Deterministic for a seed; dates come from `now`.
 *
 *   npx tsx test/support/oneroster.ts <outdir> [--zip] [--students N] [--classes N] [--version 1.2]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { csvLine, parseCsv } from '../../lib/oneroster/csv';
import { ONEROSTER_11_FILES, ONEROSTER_12_FILES } from '../../lib/oneroster/manifest';
import { writeZip } from '../../lib/oneroster/zip';

export interface BundleOptions {
  now: Date;
  students?: number;
  classes?: number;
  teachers?: number;
  seed?: number;
  version?: '1.1' | '1.2';
  /** Every n-th class has no location, so the import reports it as still needing a room and times. */
  unplacedEvery?: number;
}

export const PERIODS_PER_DAY = 8;

/** The rooms the generated classes name (create them before importing to get timetable rows). */
export function generatedRooms(opts: Pick<BundleOptions, 'classes'> = {}): { id: string; name: string }[] {
  const n = Math.ceil((opts.classes ?? 36) / PERIODS_PER_DAY);
  return Array.from({ length: n }, (_, i) => ({ id: `RM${101 + i}`, name: `Room B${101 + i}` }));
}

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

const day = (d: Date, offset: number) =>
  new Date(d.getTime() + offset * 86_400_000).toISOString().slice(0, 10);
const GIVEN = [
  'Ada',
  'Ben',
  'Chloé',
  'Dev',
  'Ema',
  'Finn',
  'Grace',
  'Hugo',
  'Iris',
  'Jonah',
  'Kira',
  'Liam',
  'Maya',
  'Noah',
  "O'Neil",
  'Priya',
];
const FAMILY = [
  'Okafor',
  'Silva',
  'Novak',
  'Tanaka',
  'Ahmed',
  'García',
  'Müller',
  'Smith, Jr.',
  'Kowalski',
  'Nguyen',
];
const SUBJECTS = [
  'Mathematics',
  'English',
  'Biology',
  'Chemistry',
  'Physics',
  'History',
  'Geography',
  'Art',
  'Music',
  'Computer Science',
  'French',
  'Physical Education',
];

function csv(header: string[], rows: string[][]): string {
  return [csvLine(header), ...rows.map(csvLine)].join('\r\n') + '\r\n';
}

/** The bundle's files by name (CSV text). */
export function generateRosterBundle(opts: BundleOptions): Map<string, string> {
  const rand = rng(opts.seed ?? 42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const nStudents = opts.students ?? 400;
  const nClasses = opts.classes ?? 36;
  const nTeachers = opts.teachers ?? Math.max(1, Math.ceil(nClasses / 3));
  const version = opts.version ?? '1.1';
  const unplacedEvery = opts.unplacedEvery ?? 12;
  const modified = new Date(opts.now.getTime() - 86_400_000).toISOString();
  const yearStart = day(opts.now, -60);
  const yearEnd = day(opts.now, 240);
  const sem1End = day(opts.now, 80);
  const sem2Start = day(opts.now, 81);
  const schoolYear = yearEnd.slice(0, 4);

  const files = new Map<string, string>();
  const fileKinds: readonly string[] = version === '1.2' ? ONEROSTER_12_FILES : ONEROSTER_11_FILES;
  const present = new Set([
    'academicSessions',
    'classes',
    'courses',
    'enrollments',
    'orgs',
    'users',
    ...(version === '1.2' ? ['roles'] : []),
  ]);
  files.set(
    'manifest.csv',
    csv(
      ['propertyName', 'value'],
      [
        ['manifest.version', '1.0'],
        ['oneroster.version', version],
        ...fileKinds.map((k) => [`file.${k}`, present.has(k) ? 'bulk' : 'absent']),
        ['source.systemName', 'Generated SIS'],
        ['source.systemCode', 'gen-sis'],
      ],
    ),
  );
  files.set(
    'orgs.csv',
    csv(
      ['sourcedId', 'status', 'dateLastModified', 'name', 'type', 'identifier', 'parentSourcedId'],
      [
        ['org-district', 'active', modified, 'Riverside District', 'district', 'RD', ''],
        ['org-school', 'active', modified, 'Riverside High School', 'school', 'RHS', 'org-district'],
      ],
    ),
  );
  files.set(
    'academicSessions.csv',
    csv(
      [
        'sourcedId',
        'status',
        'dateLastModified',
        'title',
        'type',
        'startDate',
        'endDate',
        'parentSourcedId',
        'schoolYear',
      ],
      [
        [
          'as-year',
          'active',
          modified,
          `School year ${schoolYear}`,
          'schoolYear',
          yearStart,
          yearEnd,
          '',
          schoolYear,
        ],
        ['as-sem1', 'active', modified, 'Semester 1', 'semester', yearStart, sem1End, 'as-year', schoolYear],
        ['as-sem2', 'active', modified, 'Semester 2', 'semester', sem2Start, yearEnd, 'as-year', schoolYear],
      ],
    ),
  );
  files.set(
    'courses.csv',
    csv(
      [
        'sourcedId',
        'status',
        'dateLastModified',
        'schoolYearSourcedId',
        'title',
        'courseCode',
        'grades',
        'orgSourcedId',
        'subjects',
        'subjectCodes',
      ],
      SUBJECTS.map((s, i) => [
        `crs-${String(i + 1).padStart(2, '0')}`,
        'active',
        modified,
        'as-year',
        s,
        s.slice(0, 4).toUpperCase(),
        '10,11',
        'org-school',
        s,
        '',
      ]),
    ),
  );

  const rooms = generatedRooms({ classes: nClasses });
  const classRows: string[][] = [];
  for (let c = 0; c < nClasses; c++) {
    const subject = c % SUBJECTS.length;
    const placed = unplacedEvery <= 0 || (c + 1) % unplacedEvery !== 0;
    // Class c meets in room c / 8 in period c % 8 + 1 every weekday: no two classes share a room and time.
    const room = rooms[Math.floor(c / PERIODS_PER_DAY)]!;
    classRows.push([
      `cls-${String(c + 1).padStart(3, '0')}`,
      'active',
      modified,
      `${SUBJECTS[subject]} ${String.fromCharCode(65 + Math.floor(c / SUBJECTS.length))}`,
      '10,11',
      `crs-${String(subject + 1).padStart(2, '0')}`,
      `${SUBJECTS[subject]!.slice(0, 4).toUpperCase()}-${c + 1}`,
      'scheduled',
      placed ? room.name : '',
      'org-school',
      c % 3 === 0 ? 'as-sem1' : c % 3 === 1 ? 'as-sem2' : 'as-year',
      SUBJECTS[subject]!,
      '',
      placed ? String((c % PERIODS_PER_DAY) + 1) : '',
    ]);
  }
  files.set(
    'classes.csv',
    csv(
      [
        'sourcedId',
        'status',
        'dateLastModified',
        'title',
        'grades',
        'courseSourcedId',
        'classCode',
        'classType',
        'location',
        'schoolSourcedId',
        'termSourcedIds',
        'subjects',
        'subjectCodes',
        'periods',
      ],
      classRows,
    ),
  );

  interface U {
    id: string;
    role: string;
    given: string;
    family: string;
    email: string;
    identifier: string;
  }
  const users: U[] = [];
  for (let t = 0; t < nTeachers; t++) {
    const id = `t-${String(t + 1).padStart(4, '0')}`;
    users.push({
      id,
      role: 'teacher',
      given: pick(GIVEN),
      family: pick(FAMILY),
      email: `${id}@riverside.example`,
      identifier: `T${t + 1}`,
    });
  }
  for (let s = 0; s < nStudents; s++) {
    const id = `s-${String(s + 1).padStart(5, '0')}`;
    users.push({
      id,
      role: 'student',
      given: pick(GIVEN),
      family: pick(FAMILY),
      email: s % 4 === 0 ? '' : `${id}@students.riverside.example`,
      identifier: String(100000 + s),
    });
  }
  users.push({
    id: 'a-0001',
    role: 'administrator',
    given: 'Avery',
    family: 'Admin',
    email: 'office@riverside.example',
    identifier: 'A1',
  });
  const base = ['sourcedId', 'status', 'dateLastModified', 'enabledUser'];
  const names = [
    'username',
    'userIds',
    'givenName',
    'familyName',
    'middleName',
    'identifier',
    'email',
    'sms',
    'phone',
    'agentSourcedIds',
    'grades',
    'password',
  ];
  if (version === '1.1') {
    files.set(
      'users.csv',
      csv(
        [...base, 'orgSourcedIds', 'role', ...names],
        users.map((u) => [
          u.id,
          'active',
          modified,
          'true',
          'org-school',
          u.role,
          u.id,
          '',
          u.given,
          u.family,
          '',
          u.identifier,
          u.email,
          '',
          '',
          '',
          u.role === 'student' ? '10' : '',
          '',
        ]),
      ),
    );
  } else {
    files.set(
      'users.csv',
      csv(
        [
          ...base,
          ...names,
          'userMasterIdentifier',
          'resourceSourcedIds',
          'preferredGivenName',
          'preferredMiddleName',
          'preferredFamilyName',
          'primaryOrgSourcedId',
          'pronouns',
        ],
        users.map((u) => [
          u.id,
          'active',
          modified,
          'true',
          u.id,
          '',
          u.given,
          u.family,
          '',
          u.identifier,
          u.email,
          '',
          '',
          '',
          u.role === 'student' ? '10' : '',
          '',
          '',
          '',
          '',
          '',
          '',
          'org-school',
          '',
        ]),
      ),
    );
    files.set(
      'roles.csv',
      csv(
        [
          'sourcedId',
          'status',
          'dateLastModified',
          'userSourcedId',
          'roleType',
          'role',
          'beginDate',
          'endDate',
          'orgSourcedId',
          'userProfileSourcedId',
        ],
        users.map((u) => [
          `role-${u.id}`,
          'active',
          modified,
          u.id,
          'primary',
          u.role,
          '',
          '',
          'org-school',
          '',
        ]),
      ),
    );
  }

  const enrollments: string[][] = [];
  let e = 0;
  const enr = (cls: string, user: string, role: string, primary: string) =>
    enrollments.push([
      `enr-${String(++e).padStart(6, '0')}`,
      'active',
      modified,
      cls,
      'org-school',
      user,
      role,
      primary,
      '',
      '',
    ]);
  for (let c = 0; c < nClasses; c++) {
    const cls = classRows[c]![0]!;
    enr(cls, users[c % nTeachers]!.id, 'teacher', 'true');
    if (c % 5 === 0 && nTeachers > 1) enr(cls, users[(c + 1) % nTeachers]!.id, 'teacher', 'false');
  }
  const perStudent = Math.min(6, nClasses);
  for (let s = 0; s < nStudents; s++) {
    const chosen = new Set<number>();
    while (chosen.size < perStudent) chosen.add(Math.floor(rand() * nClasses));
    for (const c of [...chosen].sort((a, b) => a - b))
      enr(classRows[c]![0]!, users[nTeachers + s]!.id, 'student', 'false');
  }
  files.set(
    'enrollments.csv',
    csv(
      [
        'sourcedId',
        'status',
        'dateLastModified',
        'classSourcedId',
        'schoolSourcedId',
        'userSourcedId',
        'role',
        'primary',
        'beginDate',
        'endDate',
      ],
      enrollments,
    ),
  );

  files.set(
    'rollcall_periods.csv',
    csv(
      ['period', 'days', 'startTime', 'endTime'],
      Array.from({ length: PERIODS_PER_DAY }, (_, p) => {
        const start = 8 * 60 + p * 55;
        const hhmm = (m: number) =>
          `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
        return [String(p + 1), '1 2 3 4 5', hhmm(start), hhmm(start + 50)];
      }),
    ),
  );
  return files;
}

/** Replaces the whole row of `file` whose first field is `sourcedId` (tests edit bundles with it). */
export function editRow(
  files: Map<string, string>,
  file: string,
  sourcedId: string,
  edit: (fields: string[]) => string[],
): void {
  const lines = files.get(file)!.split('\r\n');
  const i = lines.findIndex((l) => l.startsWith(`${sourcedId},`));
  if (i < 0) throw new Error(`${file} has no row ${sourcedId}`);
  lines[i] = csvLine(edit(parseCsv(`x\r\n${lines[i]!}`).records[0]!.fields));
  files.set(file, lines.join('\r\n'));
}

/** Removes the row of `file` whose first field is `sourcedId`. */
export function dropRow(files: Map<string, string>, file: string, sourcedId: string): void {
  const lines = files
    .get(file)!
    .split('\r\n')
    .filter((l) => !l.startsWith(`${sourcedId},`));
  files.set(file, lines.join('\r\n'));
}

/** One row of a delta bundle: the bulk bundle's row `sourcedId` of `file`, edited (a new sourcedId makes a new row). */
export interface DeltaRow {
  file: string;
  sourcedId: string;
  edit?: (fields: string[]) => string[];
}

/**
 * A delta bundle derived from a bulk one (OneRoster CSV delta mode): each file holds only the given rows,
 * each with a status and a dateLastModified of `now`; the manifest lists those files as delta and every other
 * file as absent (the spec allows no file without rows).
 */
export function deltaBundle(
  bulk: ReadonlyMap<string, string>,
  now: Date,
  rows: DeltaRow[],
): Map<string, string> {
  const byFile = new Map<string, string[][]>();
  for (const r of rows) {
    const table = parseCsv(bulk.get(r.file)!);
    const found = table.records.find((rec) => rec.fields[0] === r.sourcedId);
    if (!found) throw new Error(`${r.file} has no row ${r.sourcedId}`);
    const fields = (r.edit ?? ((f) => f))([...found.fields]);
    fields[1] = fields[1] || 'active';
    fields[2] = now.toISOString();
    byFile.set(r.file, [...(byFile.get(r.file) ?? []), fields]);
  }
  const out = new Map<string, string>();
  for (const [file, list] of byFile) out.set(file, csv(parseCsv(bulk.get(file)!).header, list));
  const manifest = parseCsv(bulk.get('manifest.csv')!).records.map(({ fields: [name, value] }) =>
    name!.startsWith('file.')
      ? [name!, out.has(`${name!.slice(5)}.csv`) ? 'delta' : 'absent']
      : [name!, value!],
  );
  out.set('manifest.csv', csv(['propertyName', 'value'], manifest));
  return out;
}

export function bundleZip(files: ReadonlyMap<string, string>): Buffer {
  return writeZip(new Map([...files].map(([k, v]) => [k, Buffer.from(v, 'utf8')])));
}

if (require.main === module) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      zip: { type: 'boolean' },
      students: { type: 'string' },
      classes: { type: 'string' },
      version: { type: 'string' },
    },
  });
  const out = positionals[0];
  if (!out) {
    process.stderr.write(
      'usage: npx tsx test/support/oneroster.ts <outdir> [--zip] [--students N] [--classes N] [--version 1.1|1.2]\n',
    );
    process.exit(2);
  }
  const files = generateRosterBundle({
    now: new Date(),
    students: values.students ? Number(values.students) : undefined,
    classes: values.classes ? Number(values.classes) : undefined,
    version: values.version === '1.2' ? '1.2' : '1.1',
  });
  fs.mkdirSync(out, { recursive: true });
  if (values.zip) fs.writeFileSync(path.join(out, 'oneroster.zip'), bundleZip(files));
  else for (const [name, text] of files) fs.writeFileSync(path.join(out, name), text);
  process.stdout.write(
    `wrote ${files.size} files to ${out} (rooms to create: ${generatedRooms({
      classes: values.classes ? Number(values.classes) : undefined,
    })
      .map((r) => `${r.id} "${r.name}"`)
      .join(', ')})\n`,
  );
}
