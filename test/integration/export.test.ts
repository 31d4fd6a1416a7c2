/**
 * The attendance export on the real stack (real Postgres and Temporal, the demo school): marks written by
 * the session workflow's own activities (openSession, recordMarks — the one writer of marks), then the plain
 * CSV byte for byte, the OneRoster bundle read back with the project's zip reader, teacher scoping, bad
 * input answered 4xx naming the problem, and an audit row per export. Session dates are relative to today
 * (test/support/dates.ts), so the suite passes on any date.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import request from 'supertest';
import { createSessionActivities } from '../../activities/sessions';
import type { MarkToRecord } from '../../activities/marks';
import { csvRecord } from '../../api/csv';
import { ONEROSTER_HEADERS, PLAIN_COLUMNS, SESSIONS_PER_PAGE } from '../../api/exports/attendance';
import { parseCsv } from '../../lib/oneroster/csv';
import { readZip } from '../../lib/oneroster/zip';
import { seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { FAST_TIMING, startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';
import { isoDate } from '../support/dates';
import { assertErrorShape } from '../support/errors';

const DAY = 86_400_000;
const today = new Date();
/** The UTC calendar day `n` days from today (negative: past). */
const day = (n: number) => isoDate(new Date(today.getTime() + n * DAY));
/** An instant on a day, at HH:MM UTC. */
const at = (date: string, hhmm: string) => `${date}T${hhmm}:00.000Z`;

const FROM = day(-20);
const TO = day(-1);

function binary(res: request.Response, done: (err: Error | null, body: Buffer) => void): void {
  const parts: Buffer[] = [];
  res.on('data', (c: Buffer) => parts.push(c));
  res.on('end', () => done(null, Buffer.concat(parts)));
}

void describe('attendance export (real Temporal + real Postgres)', () => {
  let rc: TestRollcall;
  /** Session ids by name, and the marks written, as the tests expect them back. */
  const sessions: Record<'csA' | 'csEmpty' | 'math' | 'demoOld', string> = {
    csA: '',
    csEmpty: '',
    math: '',
    demoOld: '',
  };
  const names = new Map<string, string>();

  before(async () => {
    rc = await startTestRollcall();
    const db = rc.database.db;
    await seedDemoSchool(db);
    // CS101 and S001 came from a OneRoster import: the bundle names them by their sourcedIds.
    await db('courses').where({ id: 'CS101' }).update({ source: 'oneroster', sourced_id: 'class-cs101' });
    await db('students').where({ id: 'S001' }).update({ source: 'oneroster', sourced_id: 'stu-s001' });
    for (const s of await db('students').select('id', 'name')) names.set(s.id, s.name);

    const acts = createSessionActivities(db, FAST_TIMING, pino({ level: 'silent' }));
    const scheduleOf = async (course: string) =>
      (await db('schedules').where({ course_id: course }).orderBy('id').first('id')).id as number;
    const open = async (course: string, date: string) =>
      (await acts.openSession({ scheduleId: await scheduleOf(course), sessionDate: date })).sessionId;
    const write = (sessionId: string, courseId: string, marks: MarkToRecord[]) =>
      acts.recordMarks({ sessionId, courseId, marks });

    sessions.csA = await open('CS101', day(-10));
    sessions.csEmpty = await open('CS101', day(-5));
    sessions.math = await open('MATH201', day(-3));
    sessions.demoOld = await open('DEMO100', day(-40));
    const d = day(-10);
    await write(sessions.csA, 'CS101', [
      {
        eventId: 'x-1',
        studentId: 'S001',
        status: 'present',
        markedAt: at(d, '09:02'),
        source: 'device',
        confidence: 0.91,
        deviceId: 'pi-r101',
      },
      {
        eventId: 'x-2',
        studentId: 'S002',
        status: 'late',
        markedAt: at(d, '09:20'),
        source: 'device',
        confidence: 0.88,
        deviceId: 'pi-r101',
      },
      { eventId: 'x-3', studentId: 'S003', status: 'absent', markedAt: at(d, '10:40'), source: 'finalise' },
    ]);
    // A teacher's correction (keeps the mark's time): its reason, with a comma and a formula-like start,
    // travels with the mark.
    await write(sessions.csA, 'CS101', [
      {
        eventId: 'ovr-1',
        studentId: 'S003',
        status: 'excused',
        markedAt: at(d, '11:00'),
        source: 'override',
        actor: 'u-teacher1',
        reason: '=doctor, note on file',
      },
    ]);
    await write(sessions.math, 'MATH201', [
      {
        eventId: 'x-4',
        studentId: 'S021',
        status: 'present',
        markedAt: at(day(-3), '10:01'),
        source: 'device',
      },
      {
        eventId: 'x-5',
        studentId: 'S022',
        status: 'absent',
        markedAt: at(day(-3), '11:40'),
        source: 'finalise',
      },
    ]);
    await write(sessions.demoOld, 'DEMO100', [
      {
        eventId: 'x-6',
        studentId: 'S001',
        status: 'present',
        markedAt: at(day(-40), '09:00'),
        source: 'device',
      },
    ]);
  });
  after(async () => rc?.stop());

  const get = async (who: 'admin' | 'teacher1' | 'teacher2', query: Record<string, string>) =>
    request(rc.app)
      .get('/api/v1/exports/attendance')
      .query(query)
      .set('Authorization', await bearerFor(rc.app, who));

  void test('when an admin exports a range as CSV, then every mark in it is one row, exactly, in date, session and student order', async () => {
    const res = await get('admin', { from: FROM, to: TO });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'] ?? '', /^text\/csv/);
    assert.equal(res.headers['content-disposition'], `attachment; filename="attendance-${FROM}-${TO}.csv"`);
    const row = (...v: unknown[]) => csvRecord(v);
    const d = day(-10);
    const expected =
      csvRecord(PLAIN_COLUMNS) +
      row(
        sessions.csA,
        d,
        'CS101',
        'Introduction to Computing',
        'R101',
        'S001',
        names.get('S001'),
        'stu-s001',
        'present',
        at(d, '09:02'),
        'device',
        null,
      ) +
      row(
        sessions.csA,
        d,
        'CS101',
        'Introduction to Computing',
        'R101',
        'S002',
        names.get('S002'),
        null,
        'late',
        at(d, '09:20'),
        'device',
        null,
      ) +
      row(
        sessions.csA,
        d,
        'CS101',
        'Introduction to Computing',
        'R101',
        'S003',
        names.get('S003'),
        null,
        'excused',
        at(d, '10:40'),
        'override',
        '=doctor, note on file',
      ) +
      row(
        sessions.math,
        day(-3),
        'MATH201',
        'Linear Algebra',
        'R102',
        'S021',
        names.get('S021'),
        null,
        'present',
        at(day(-3), '10:01'),
        'device',
        null,
      ) +
      row(
        sessions.math,
        day(-3),
        'MATH201',
        'Linear Algebra',
        'R102',
        'S022',
        names.get('S022'),
        null,
        'absent',
        at(day(-3), '11:40'),
        'finalise',
        null,
      );
    assert.equal(res.text, expected);
    assert.match(res.text, /,"'=doctor, note on file"\r\n/, 'the reason is quoted and neutralised');
  });

  void test('when an admin exports the OneRoster bundle, then it unzips to a 1.2 manifest, one category, a line item per session and a result per mark', async () => {
    const res = await request(rc.app)
      .get('/api/v1/exports/attendance')
      .query({ from: FROM, to: TO, format: 'oneroster' })
      .set('Authorization', await bearerFor(rc.app, 'admin'))
      .buffer(true)
      .parse(binary);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/zip');
    const files = readZip(res.body as Buffer);
    assert.deepEqual([...files.keys()], ['manifest.csv', 'categories.csv', 'lineItems.csv', 'results.csv']);
    const table = (name: keyof typeof ONEROSTER_HEADERS) => {
      const t = parseCsv(files.get(name)!.toString('utf8'));
      assert.deepEqual(t.header, [...ONEROSTER_HEADERS[name]], `${name} header`);
      assert.deepEqual(t.problems, []);
      return t.records.map((r) => Object.fromEntries(t.header.map((h, i) => [h, r.fields[i]])));
    };
    const manifest = new Map(table('manifest.csv').map((r) => [r.propertyName, r.value]));
    assert.equal(manifest.get('oneroster.version'), '1.2');
    assert.equal(manifest.get('file.lineItems'), 'bulk');
    assert.equal(manifest.get('file.results'), 'bulk');
    assert.equal(manifest.get('file.categories'), 'bulk');
    assert.equal(manifest.get('file.users'), 'absent');
    assert.deepEqual(
      table('categories.csv').map((c) => c.sourcedId),
      ['rollcall-attendance'],
    );

    const lineItems = table('lineItems.csv');
    assert.deepEqual(
      lineItems.map((l) => [
        l.sourcedId,
        l.classSourcedId,
        l.assignDate,
        l.dueDate,
        l.categorySourcedId,
        l.title,
      ]),
      [
        [
          sessions.csA,
          'class-cs101',
          day(-10),
          day(-10),
          'rollcall-attendance',
          `Attendance Introduction to Computing ${day(-10)}`,
        ],
        [
          sessions.csEmpty,
          'class-cs101',
          day(-5),
          day(-5),
          'rollcall-attendance',
          `Attendance Introduction to Computing ${day(-5)}`,
        ],
        [
          sessions.math,
          'MATH201',
          day(-3),
          day(-3),
          'rollcall-attendance',
          `Attendance Linear Algebra ${day(-3)}`,
        ],
      ],
    );
    const results = table('results.csv');
    assert.equal(results.length, 5);
    const items = new Set(lineItems.map((l) => l.sourcedId));
    assert.ok(
      results.every((r) => items.has(r.lineItemSourcedId)),
      'every result refers to a line item of the bundle',
    );
    assert.deepEqual(
      results.map((r) => [
        r.lineItemSourcedId,
        r.studentSourcedId,
        r.scoreStatus,
        r.score,
        r.textScore,
        r.comment,
      ]),
      [
        [sessions.csA, 'stu-s001', 'fully graded', '1', 'present', ''],
        [sessions.csA, 'S002', 'fully graded', '0.5', 'late', ''],
        [sessions.csA, 'S003', 'exempt', '', 'excused', "'=doctor, note on file"],
        [sessions.math, 'S021', 'fully graded', '1', 'present', ''],
        [sessions.math, 'S022', 'fully graded', '0', 'absent', ''],
      ],
    );
    assert.equal(
      new Set(results.map((r) => r.sourcedId)).size,
      results.length,
      'result sourcedIds are unique',
    );
  });

  void test("when a teacher exports, then only their own courses' marks come out and another teacher's course is 403", async () => {
    const mine = await get('teacher1', { from: FROM, to: TO });
    assert.equal(mine.status, 200);
    const courses = parseCsv(mine.text).records.map((r) => r.fields[2]);
    assert.deepEqual(courses, ['CS101', 'CS101', 'CS101']);
    const theirs = await get('teacher2', { from: FROM, to: TO });
    assert.deepEqual(
      parseCsv(theirs.text).records.map((r) => r.fields[2]),
      ['MATH201', 'MATH201'],
    );
    const other = await get('teacher1', { from: FROM, to: TO, course_id: 'MATH201', format: 'oneroster' });
    assertErrorShape(other, 403);
    assert.match(other.body.error.message, /MATH201 is not one of your courses/);
    const one = await get('teacher1', { from: day(-40), to: TO, course_id: 'DEMO100' });
    assert.equal(one.status, 200);
    assert.equal(
      parseCsv(one.text).records.length,
      1,
      'the older DEMO100 session is in a range that reaches it',
    );
  });

  void test('when the parameters are wrong, then the answer is a 4xx that names the problem and never a 5xx', async () => {
    const cases: [Record<string, string>, number, RegExp][] = [
      [{ to: TO }, 400, /query\.from/],
      [{ from: FROM }, 400, /query\.to/],
      [{ from: 'yesterday', to: TO }, 400, /query\.from/],
      [{ from: `${day(0).slice(0, 4)}-02-30`, to: TO }, 400, /query\.from/],
      [{ from: TO, to: FROM }, 400, /query\.to: .* is before query\.from/],
      [{ from: day(-400), to: TO }, 400, /covers \d+ days; at most 366/],
      [{ from: FROM, to: TO, format: 'xml' }, 400, /query\.format/],
      [{ from: FROM, to: TO, course_id: "x'; DROP TABLE courses;--" }, 400, /query\.course_id/],
      [{ from: FROM, to: TO, course_id: 'NOPE' }, 404, /course NOPE does not exist/],
      [{ from: FROM, to: TO, school: '1' }, 400, /query/],
    ];
    for (const [query, status, message] of cases) {
      const res = await get('admin', query);
      assertErrorShape(res, status);
      assert.match(res.body.error.message, message, JSON.stringify(query));
    }
    assertErrorShape(
      await request(rc.app).get('/api/v1/exports/attendance').query({ from: FROM, to: TO }),
      401,
    );
    const exactlyAYear = await get('admin', { from: day(-365), to: day(0) });
    assert.equal(exactlyAYear.status, 200, '366 days, both ends included, is one export');
  });

  void test('when a range holds more sessions than one page, then every session and mark comes out once, in order, in both formats', async () => {
    const db = rc.database.db;
    const acts = createSessionActivities(db, FAST_TIMING, pino({ level: 'silent' }));
    const schedules = (await db('schedules')
      .where({ course_id: 'CS101' })
      .orderBy('id')
      .pluck('id')) as number[];
    // 3 timetable rows × 90 days, three sessions a day (pages end mid-day), two marks each.
    const dates = Array.from({ length: 90 }, (_, i) => day(-200 + i));
    for (const date of dates)
      for (const scheduleId of schedules) {
        const { sessionId } = await acts.openSession({ scheduleId, sessionDate: date });
        await acts.recordMarks({
          sessionId,
          courseId: 'CS101',
          marks: ['S010', 'S011'].map((studentId, i) => ({
            eventId: `bulk-${sessionId}-${studentId}`,
            studentId,
            status: i === 0 ? 'present' : 'absent',
            markedAt: at(date, '09:05'),
            source: i === 0 ? 'device' : 'finalise',
          })),
        });
      }
    const sessionCount = dates.length * schedules.length;
    assert.ok(sessionCount > SESSIONS_PER_PAGE, `${sessionCount} sessions are more than one page`);
    const range = { from: dates[0]!, to: dates.at(-1)! };

    const csv = await get('admin', range);
    assert.equal(csv.status, 200);
    const keys = parseCsv(csv.text).records.map((r) => `${r.fields[1]}|${r.fields[0]}|${r.fields[5]}`);
    assert.equal(keys.length, sessionCount * 2);
    assert.equal(new Set(keys).size, keys.length, 'no mark twice');
    assert.deepEqual(keys, [...keys].sort(), 'ordered by date, session, student');

    const zip = await request(rc.app)
      .get('/api/v1/exports/attendance')
      .query({ ...range, format: 'oneroster' })
      .set('Authorization', await bearerFor(rc.app, 'admin'))
      .buffer(true)
      .parse(binary);
    const files = readZip(zip.body as Buffer);
    const lineItems = parseCsv(files.get('lineItems.csv')!.toString('utf8')).records.map((r) => r.fields[0]);
    const results = parseCsv(files.get('results.csv')!.toString('utf8')).records;
    assert.equal(new Set(lineItems).size, sessionCount);
    assert.equal(results.length, sessionCount * 2);
    assert.equal(new Set(results.map((r) => r.fields[0])).size, results.length);
  });

  void test('when exports ran, then each left an audit row with who, the range, the format and the row count', async () => {
    const rows = await rc.database
      .db('audit_log')
      .where({ action: 'export.attendance' })
      .orderBy('id')
      .select('actor', 'after');
    const oneroster = rows.find((r) => r.after.format === 'oneroster');
    assert.deepEqual(oneroster, {
      actor: 'u-admin',
      after: {
        from: FROM,
        to: TO,
        course_id: null,
        format: 'oneroster',
        rows: 5,
        lineItems: 3,
        completed: true,
      },
    });
    assert.ok(rows.some((r) => r.actor === 'u-teacher2' && r.after.rows === 2 && r.after.format === 'csv'));
    assert.ok(rows.every((r) => r.after.completed === true));
    assert.ok(
      !rows.some((r) => r.after.course_id === 'MATH201' && r.actor === 'u-teacher1'),
      'a refused export is no export',
    );
  });
});
