/**
 * OneRoster delta bundles without a database: the validator resolves references against the rows earlier
 * imports made, and the planner merges a delta into them (what it lists changes, nothing else ends) so that
 * the same delta a second time plans nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  desiredRoster,
  diffRoster,
  ROSTER_ENTITIES,
  type Desired,
  type Existing,
  type RosterEntity,
  type Staged,
} from '../../../activities/rosterImport';
import { parseRosterBundle, type KnownRoster, type RosterBundle } from '../../../lib/oneroster/bundle';
import { deltaBundle, generatedRooms, generateRosterBundle, type DeltaRow } from '../../support/oneroster';

const NOW = new Date();
const LATER = new Date(NOW.getTime() + 86_400_000);
const CLASSES = 10;
const bulk = () => generateRosterBundle({ now: NOW, students: 40, classes: CLASSES, teachers: 4 });
const ctx = { rooms: generatedRooms({ classes: CLASSES }), enrolledByHand: new Set<string>() };

function staged(b: RosterBundle): Staged {
  return {
    teachers: b.teachers,
    students: b.students,
    classes: b.classes,
    enrollments: b.enrollments,
    teacherAssignments: b.teacherAssignments,
    bellSchedule: b.bellSchedule,
    modes: b.modes,
  };
}

/** The tables as they are after `desired` was applied. */
function applied(desired: Desired): Record<RosterEntity, Existing> {
  const out = {} as Record<RosterEntity, Existing>;
  for (const e of ROSTER_ENTITIES)
    out[e] = new Map(
      [...desired[e]].map(([k, v]) => [k, e === 'enrollment' ? { ...v } : { ...v, sourced_id: k }]),
    );
  return out;
}

function parse(files: Map<string, string>, known?: KnownRoster): RosterBundle {
  const r = parseRosterBundle(files, known);
  assert.deepEqual(r.issues, []);
  return r.bundle!;
}

function knownFrom(b: RosterBundle): KnownRoster {
  return {
    students: new Set(b.students.map((s) => s.sourcedId)),
    teachers: new Set(b.teachers.map((t) => t.sourcedId)),
    classes: new Set(b.classes.map((c) => c.sourcedId)),
  };
}

const empty = (): Record<RosterEntity, Existing> => ({
  teacher: new Map(),
  student: new Map(),
  course: new Map(),
  enrollment: new Map(),
  schedule: new Map(),
});

/** New student s-09001 enrolled in one class, cls-002 renamed, s-00005 tobedeleted. */
function edits(b: RosterBundle): { rows: DeltaRow[]; newClass: string; endedEnrollments: number } {
  const template = b.enrollments.find((e) => e.studentSourcedId === 's-00003')!;
  return {
    newClass: template.classSourcedId,
    endedEnrollments: b.enrollments.filter((e) => e.studentSourcedId === 's-00005').length,
    rows: [
      {
        file: 'users.csv',
        sourcedId: 's-00003',
        edit: (f) => f.map((v, i) => (i === 0 || i === 6 ? 's-09001' : i === 8 ? 'Nadia' : v)),
      },
      {
        file: 'users.csv',
        sourcedId: 's-00005',
        edit: (f) => f.map((v, i) => (i === 1 ? 'tobedeleted' : v)),
      },
      {
        file: 'classes.csv',
        sourcedId: 'cls-002',
        edit: (f) => f.map((v, i) => (i === 3 ? 'Algebra II' : v)),
      },
      {
        file: 'enrollments.csv',
        sourcedId: template.sourcedId,
        edit: (f) => f.map((v, i) => (i === 0 ? 'enr-900001' : i === 5 ? 's-09001' : v)),
      },
    ],
  };
}

void describe('OneRoster delta bundles: validation', () => {
  void test('when a delta enrollment names a student and class earlier imports made, then it is valid only with them known', () => {
    const base = parse(bulk());
    const files = deltaBundle(bulk(), LATER, [
      {
        file: 'enrollments.csv',
        sourcedId: base.enrollments.find((e) => e.studentSourcedId === 's-00001')!.sourcedId,
        edit: (f) => f.map((v, i) => (i === 0 ? 'enr-900002' : i === 3 ? 'cls-010' : v)),
      },
    ]);
    assert.match(files.get('manifest.csv')!, /file\.enrollments,delta/);
    assert.match(files.get('manifest.csv')!, /file\.users,absent/);
    const b = parse(files, knownFrom(base));
    assert.deepEqual(b.modes, { users: 'absent', classes: 'absent', enrollments: 'delta' });
    assert.deepEqual(
      b.enrollments.map((e) => [e.classSourcedId, e.studentSourcedId, e.active]),
      [['cls-010', 's-00001', true]],
    );
    const unknown = parseRosterBundle(files).issues.map((i) => `${i.file}:${i.line}: ${i.reason}`);
    assert.deepEqual(unknown, [
      'enrollments.csv:2: classSourcedId cls-010 does not match any sourcedId in classes.csv nor any class imported before',
      'enrollments.csv:2: userSourcedId s-00001 does not match any sourcedId in users.csv nor any user imported before',
    ]);
  });

  void test('when a 1.2 delta lists users but no roles.csv, then each listed user keeps the role they were imported with', () => {
    const v12 = () =>
      generateRosterBundle({ now: NOW, students: 20, classes: 4, teachers: 2, version: '1.2' });
    const base = parse(v12());
    const files = deltaBundle(v12(), LATER, [
      { file: 'users.csv', sourcedId: 's-00002', edit: (f) => f.map((v, i) => (i === 6 ? 'Renamed' : v)) },
    ]);
    assert.match(files.get('manifest.csv')!, /file\.roles,absent/);
    const b = parse(files, knownFrom(base));
    assert.deepEqual(
      b.students.map((s) => [s.sourcedId, s.name.split(' ')[0]]),
      [['s-00002', 'Renamed']],
    );
    assert.match(
      parseRosterBundle(files).issues[0]!.reason,
      /user s-00002 has no primary role in roles\.csv/,
    );
  });

  void test('when a delta row lacks its status or dateLastModified, then the line says a delta needs them', () => {
    const files = deltaBundle(bulk(), LATER, [{ file: 'users.csv', sourcedId: 's-00002' }]);
    files.set('users.csv', files.get('users.csv')!.replace(/s-00002,active,[^,]+,/, 's-00002,,,'));
    const reasons = parseRosterBundle(files).issues.map((i) => `${i.file}:${i.line}: ${i.reason}`);
    assert.deepEqual(reasons, [
      'users.csv:2: status is required in a delta file (active or tobedeleted)',
      'users.csv:2: dateLastModified is required in a delta file',
    ]);
  });

  void test('when a bulk file is in the bundle, then references into it are not looked up among earlier imports', () => {
    const base = parse(bulk());
    const files = bulk();
    files.set(
      'manifest.csv',
      files.get('manifest.csv')!.replace('file.enrollments,bulk', 'file.enrollments,delta'),
    );
    files.set('users.csv', files.get('users.csv')!.replace(/\r\ns-00001,[^\r]*/, ''));
    const known = knownFrom(base);
    const reasons = parseRosterBundle(files, known).issues.map((i) => i.reason);
    assert.ok(reasons.length > 0);
    assert.ok(
      reasons.every((r) => r === 'userSourcedId s-00001 does not match any sourcedId in users.csv'),
      reasons.join('\n'),
    );
  });
});

void describe('OneRoster delta bundles: planning', () => {
  void test('when a delta adds a student and an enrollment, renames a class and retires a student, then exactly those changes are planned, and none the second time', () => {
    const base = parse(bulk());
    const before = applied(desiredRoster(staged(base), empty(), ctx));
    const { rows, newClass, endedEnrollments } = edits(base);
    const delta = staged(parse(deltaBundle(bulk(), LATER, rows), knownFrom(base)));
    const desired = desiredRoster(delta, before, ctx);
    const changes = diffRoster(desired, before);
    const got = changes.map((c) => `${c.entity} ${c.action} ${c.sourcedId}`);
    assert.deepEqual(got.filter((g) => !g.startsWith('enrollment deactivate')).sort(), [
      'course update cls-002',
      `enrollment create ${newClass}/s-09001`,
      'student create s-09001',
      'student deactivate s-00005',
    ]);
    assert.equal(got.filter((g) => g.startsWith('enrollment deactivate')).length, endedEnrollments);
    assert.ok(
      changes
        .filter((c) => c.entity === 'enrollment' && c.action === 'deactivate')
        .every((c) => c.before?.student_id === 's-00005'),
    );
    assert.equal(
      desired.course.get('cls-002')!.teacher_id,
      before.course.get('cls-002')!.teacher_id,
      'teacher kept',
    );
    assert.equal(desired.course.get('cls-003')!.active, true, 'a class the delta does not list stays active');
    assert.equal(desired.gaps.length, 0);

    const after = applied(desired);
    assert.deepEqual(diffRoster(desiredRoster(delta, after, ctx), after), []);
  });

  void test('when a delta without a bell schedule or terms lists a class, then its timetable rows keep their times and term', () => {
    const base = parse(bulk());
    const before = applied(desiredRoster(staged(base), empty(), ctx));
    const delta = staged(
      parse(
        deltaBundle(bulk(), LATER, [
          {
            file: 'classes.csv',
            sourcedId: 'cls-004',
            edit: (f) => f.map((v, i) => (i === 3 ? 'Renamed' : v)),
          },
        ]),
        knownFrom(base),
      ),
    );
    assert.equal(delta.classes[0]!.termStart, '', 'its terms are not in the delta');
    const desired = desiredRoster(delta, before, ctx);
    const slots = (d: Existing | Desired['schedule']) =>
      [...d]
        .filter(([, r]) => r.course_id === 'cls-004')
        .map(([k, r]) => [k, r.start_time, r.effective_from, r.active]);
    assert.deepEqual(slots(desired.schedule), slots(before.schedule));
    assert.ok(slots(desired.schedule).length > 0);
  });

  void test('when a delta ends an enrollment and moves a class to a free room and period, then only that enrollment and those timetable rows change', () => {
    const base = parse(bulk());
    const before = applied(desiredRoster(staged(base), empty(), ctx));
    const ended = base.enrollments[3]!;
    const bell = bulk();
    const delta = deltaBundle(bell, LATER, [
      {
        file: 'enrollments.csv',
        sourcedId: ended.sourcedId,
        edit: (f) => f.map((v, i) => (i === 1 ? 'tobedeleted' : v)),
      },
      {
        file: 'classes.csv',
        sourcedId: 'cls-001',
        edit: (f) => f.map((v, i) => (i === 13 ? '8' : i === 8 ? 'Room B102' : v)),
      },
    ]);
    const changes = diffRoster(desiredRoster(staged(parse(delta, knownFrom(base))), before, ctx), before);
    const got = changes.map((c) => `${c.entity} ${c.action} ${c.sourcedId}`);
    assert.ok(
      got.includes(`enrollment deactivate ${ended.classSourcedId}/${ended.studentSourcedId}`),
      got.join('\n'),
    );
    assert.deepEqual(
      got.filter((g) => g.startsWith('schedule')).sort(),
      [1, 2, 3, 4, 5]
        .flatMap((d) => [`schedule create cls-001/8/${d}`, `schedule deactivate cls-001/1/${d}`])
        .sort(),
    );
    assert.equal(got.length, 11, got.join('\n'));
  });
});
