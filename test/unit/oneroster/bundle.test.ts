/**
 * The OneRoster CSV reader, zip reader and bundle validator: RFC 4180 quirks, archives that must be refused
 * with a reason, and bundles whose every bad row is reported with file, line and reason.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCsv } from '../../../lib/oneroster/csv';
import { parseRosterBundle } from '../../../lib/oneroster/bundle';
import { bundleFromZip, BundleInputError } from '../../../lib/oneroster/runs';
import { readZip, writeZip, ZipError } from '../../../lib/oneroster/zip';
import { bundleZip, dropRow, editRow, generateRosterBundle } from '../../support/oneroster';

/** A fixed clock: the bundle's dates are relative to it, whatever today is. */
const NOW = new Date(Date.UTC(2031, 8, 15, 12));
const small = (over: Partial<Parameters<typeof generateRosterBundle>[0]> = {}) =>
  generateRosterBundle({ now: NOW, students: 40, classes: 10, teachers: 4, ...over });

void describe('CSV (RFC 4180)', () => {
  void test('when fields are quoted with commas, doubled quotes and line breaks, then they read back exactly with their starting lines', () => {
    const t = parseCsv('\uFEFFa,b,c\r\n1,"x, y","say ""hi"""\r\n2,"two\nlines",z\n\n3,,\n');
    assert.deepEqual(t.header, ['a', 'b', 'c']);
    assert.deepEqual(
      t.records.map((r) => [r.line, r.fields]),
      [
        [2, ['1', 'x, y', 'say "hi"']],
        [3, ['2', 'two\nlines', 'z']],
        [6, ['3', '', '']],
      ],
    );
    assert.deepEqual(t.problems, []);
  });

  void test('when quoting is broken, then the record is reported with its line', () => {
    const t = parseCsv('a,b\n1,x"y\n2,"open\n');
    assert.deepEqual(
      t.problems.map((p) => p.line),
      [2, 3],
    );
  });
});

void describe('zip archives', () => {
  void test('when a bundle is zipped (also inside one folder), then its CSV files come back', () => {
    const files = small();
    const inFolder = writeZip(new Map([...files].map(([k, v]) => [`export/${k}`, Buffer.from(v)])));
    for (const zip of [bundleZip(files), inFolder]) {
      const got = bundleFromZip(zip);
      assert.deepEqual([...got.keys()].sort(), [...files.keys()].sort());
      assert.equal(got.get('users.csv')!.toString('utf8'), files.get('users.csv'));
    }
  });

  void test('when the upload is not a zip, is truncated, corrupt, or lacks manifest.csv, then it is refused with a reason', () => {
    const good = bundleZip(small());
    const corrupt = Buffer.from(good);
    corrupt[60] = corrupt[60]! ^ 0xff;
    for (const [what, buf] of [
      ['text', Buffer.from('sourcedId,status\n')],
      ['empty', Buffer.alloc(0)],
      ['truncated', good.subarray(0, good.length - 30)],
      ['corrupt', corrupt],
      ['no manifest', writeZip({ 'users.csv': 'sourcedId\n' })],
    ] as const) {
      assert.throws(() => bundleFromZip(buf), BundleInputError, what);
    }
  });

  void test('when an entry inflates past its limit (a zip bomb), then reading stops with ZipError', () => {
    const bomb = writeZip({ 'manifest.csv': Buffer.alloc(5_000_000, 0x41) });
    assert.ok(bomb.length < 20_000);
    assert.throws(
      () => readZip(bomb, { maxEntries: 10, maxEntryBytes: 1_000_000, maxTotalBytes: 1_000_000 }),
      ZipError,
    );
    // A directory that lies about the size is caught while inflating.
    const lying = Buffer.from(bomb);
    const cd = lying.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    lying.writeUInt32LE(1000, cd + 24);
    assert.throws(() => readZip(lying), ZipError);
  });
});

void describe('bundle validation', () => {
  void test('when the generated bundle (1.1 and 1.2) is validated, then it is valid and maps students, teachers, classes and enrollments', () => {
    for (const version of ['1.1', '1.2'] as const) {
      const r = parseRosterBundle(new Map(generateRosterBundle({ now: NOW, version })));
      assert.deepEqual(r.issues, [], version);
      const b = r.bundle!;
      assert.equal(b.students.length, 400);
      assert.equal(b.classes.length, 36);
      assert.equal(b.teachers.length, 12);
      assert.equal(b.enrollments.length, 400 * 6);
      assert.deepEqual(b.ignored, { users: 1, enrollments: 0 });
      assert.ok(b.classes.every((c) => c.teacherSourcedId && c.termStart < c.termEnd));
      assert.equal(b.bellSchedule.length, 8);
      assert.ok(
        b.students.some((s) => s.name.includes('Smith, Jr.')),
        'quoted names survive',
      );
    }
  });

  void test('when rows are bad, then every one is reported with file, line and reason and no roster is produced', () => {
    const files = small();
    editRow(files, 'users.csv', 's-00003', (f) => f.map((v, i) => (i === 5 ? 'wizard' : v)));
    editRow(files, 'academicSessions.csv', 'as-sem1', (f) => f.map((v, i) => (i === 6 ? '2031-02-30' : v)));
    editRow(files, 'enrollments.csv', 'enr-000020', (f) => f.map((v, i) => (i === 3 ? 'cls-999' : v)));
    editRow(files, 'classes.csv', 'cls-002', (f) => f.map((v, i) => (i === 1 ? 'inactive' : v)));
    editRow(files, 'users.csv', 's-00005', (f) => f.map((v, i) => (i === 8 ? '' : v)));
    editRow(files, 'users.csv', 't-0002', (f) => f.map((v, i) => (i === 12 ? '' : v)));
    files.set('orgs.csv', `${files.get('orgs.csv')!}org-school,active,,Dup,school,,\r\n`);
    const r = parseRosterBundle(files);
    assert.equal(r.bundle, undefined);
    const got = r.issues.map((i) => `${i.file}:${i.line}: ${i.reason}`);
    const expect = [
      /^orgs\.csv:4: duplicate sourcedId org-school \(first on line 3\)$/,
      /^academicSessions\.csv:3: endDate "2031-02-30" is not a date/,
      /^classes\.csv:3: status "inactive" is not active or tobedeleted$/,
      /^users\.csv:\d+: role "wizard" is not one of/,
      /^users\.csv:\d+: givenName is required$/,
      /^users\.csv:3: a teacher needs an email/,
      /^enrollments\.csv:\d+: classSourcedId cls-999 does not match any sourcedId in classes\.csv$/,
    ];
    assert.equal(got.length, expect.length, got.join('\n'));
    for (const re of expect)
      assert.ok(
        got.some((g) => re.test(g)),
        `${re} in\n${got.join('\n')}`,
      );
  });

  void test('when the manifest is missing, a file is neither bulk, delta nor absent, or a listed file is not there, then the bundle is refused before the rows', () => {
    const noManifest = small();
    noManifest.delete('manifest.csv');
    assert.match(parseRosterBundle(noManifest).issues[0]!.reason, /manifest\.csv is missing/);
    const weekly = small();
    weekly.set('manifest.csv', weekly.get('manifest.csv')!.replace('file.users,bulk', 'file.users,weekly'));
    assert.match(
      parseRosterBundle(weekly).issues[0]!.reason,
      /file\.users is "weekly": not bulk, delta or absent/,
    );
    const absent = small();
    absent.delete('enrollments.csv');
    assert.match(
      parseRosterBundle(absent).issues[0]!.reason,
      /enrollments\.csv is listed as bulk but not in the bundle/,
    );
  });

  void test('when a header lacks a required column or a row has the wrong field count, then the line says so', () => {
    const files = small();
    files.set('courses.csv', files.get('courses.csv')!.replace('orgSourcedId', 'orgId'));
    editRow(files, 'orgs.csv', 'org-district', (f) => [...f, 'extra']);
    const reasons = parseRosterBundle(files).issues.map((i) => `${i.file}:${i.line}: ${i.reason}`);
    assert.ok(
      reasons.includes('courses.csv:1: header lacks required column(s): orgSourcedId'),
      reasons.join('\n'),
    );
    assert.ok(reasons.includes('orgs.csv:2: has 8 fields, the header has 7'), reasons.join('\n'));
  });

  void test('when rows are tobedeleted or missing, then the roster marks them inactive or leaves them out', () => {
    const files = small();
    editRow(files, 'users.csv', 's-00001', (f) => f.map((v, i) => (i === 1 ? 'tobedeleted' : v)));
    editRow(files, 'classes.csv', 'cls-003', (f) => f.map((v, i) => (i === 1 ? 'tobedeleted' : v)));
    dropRow(files, 'enrollments.csv', 'enr-000030');
    const b = parseRosterBundle(files).bundle!;
    assert.equal(b.students.find((s) => s.sourcedId === 's-00001')!.active, false);
    assert.equal(b.classes.find((c) => c.sourcedId === 'cls-003')!.active, false);
    assert.equal(
      b.enrollments.some((e) => e.sourcedId === 'enr-000030'),
      false,
    );
  });

  void test('when a 1.2 user has no primary role in roles.csv, then that user row is reported', () => {
    const files = generateRosterBundle({ now: NOW, students: 20, classes: 4, teachers: 2, version: '1.2' });
    dropRow(files, 'roles.csv', 'role-s-00004');
    const issues = parseRosterBundle(files).issues;
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.match(issues[0]!.reason, /user s-00004 has no primary role/);
  });
});
