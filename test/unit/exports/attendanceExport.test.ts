/**
 * The attendance export's pure parts: status → gradebook result, OneRoster records (identifiers exact, free
 * text neutralised), the manifest, and the range rules of the query.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  categoriesCsv,
  lineItemRecord,
  manifestCsv,
  ONEROSTER_HEADERS,
  plainRecord,
  resultRecord,
  STATUS_RESULT,
  type MarkRow,
} from '../../../api/exports/attendance';
import { attendanceExportQuery, daysInRange, MAX_EXPORT_DAYS } from '../../../api/exports/routes';
import { parseCsv } from '../../../lib/oneroster/csv';

const mark = (over: Partial<MarkRow> = {}): MarkRow => ({
  session_id: 'session:7:2031-03-04',
  session_date: '2031-03-04',
  course_id: 'CS101',
  course_name: 'Computing, intro',
  class_sourced_id: 'class-cs101',
  room_id: 'R100',
  student_id: 'S001',
  student_name: 'Ada "Countess" Lovelace',
  student_sourced_id: 'stu-001',
  status: 'present',
  marked_at: new Date('2031-03-04T09:03:00.000Z'),
  source: 'device',
  override_reason: null,
  ...over,
});

const fields = (record: string) => parseCsv(`h\r\n${record}`).records[0]!.fields;

void describe('attendance export records', () => {
  void test('when a status becomes a result, then present 1, late 0.5, absent 0 are fully graded and excused is exempt without a score', () => {
    assert.deepEqual(STATUS_RESULT, {
      present: { scoreStatus: 'fully graded', score: 1 },
      late: { scoreStatus: 'fully graded', score: 0.5 },
      absent: { scoreStatus: 'fully graded', score: 0 },
      excused: { scoreStatus: 'exempt', score: null },
    });
    const header = ONEROSTER_HEADERS['results.csv'];
    const row = (m: MarkRow) => Object.fromEntries(header.map((h, i) => [h, fields(resultRecord(m))[i]]));
    assert.deepEqual(row(mark({ status: 'late' })), {
      sourcedId: 'session:7:2031-03-04/S001',
      status: '',
      dateLastModified: '',
      lineItemSourcedId: 'session:7:2031-03-04',
      studentSourcedId: 'stu-001',
      scoreStatus: 'fully graded',
      score: '0.5',
      scoreDate: '2031-03-04',
      comment: '',
      textScore: 'late',
    });
    const excused = row(
      mark({
        status: 'excused',
        source: 'override',
        override_reason: '=HYPERLINK("x")',
        student_sourced_id: null,
      }),
    );
    assert.equal(excused.score, '');
    assert.equal(excused.scoreStatus, 'exempt');
    assert.equal(excused.studentSourcedId, 'S001', 'a student made by hand is named by their Rollcall id');
    assert.equal(excused.comment, `'=HYPERLINK("x")`, 'a formula in free text is neutralised');
  });

  void test('when identifiers start like a formula, then OneRoster files keep them exactly; the plain CSV neutralises them', () => {
    const li = fields(
      lineItemRecord({
        session_id: '-s1',
        session_date: '2031-03-04',
        course_name: '=1+1',
        class_sourced_id: '+c',
      }),
    );
    const header = ONEROSTER_HEADERS['lineItems.csv'];
    assert.equal(li.length, header.length);
    const byName = Object.fromEntries(header.map((h, i) => [h, li[i]]));
    assert.equal(byName.sourcedId, '-s1');
    assert.equal(byName.classSourcedId, '+c');
    assert.equal(byName.title, 'Attendance =1+1 2031-03-04');
    assert.equal(byName.assignDate, '2031-03-04');
    assert.equal(byName.categorySourcedId, 'rollcall-attendance');
    assert.deepEqual([byName.resultValueMin, byName.resultValueMax], ['0', '1']);
    const plain = fields(plainRecord(mark({ student_name: '@evil', override_reason: 'a,b\nc' })));
    assert.equal(plain[6], "'@evil");
    assert.equal(plain[11], 'a,b\nc');
    assert.equal(plain[9], '2031-03-04T09:03:00.000Z');
  });

  void test('when the manifest is written, then it is OneRoster 1.2 with categories, lineItems and results in bulk and the rest absent', () => {
    const m = parseCsv(manifestCsv());
    assert.deepEqual(m.header, ['propertyName', 'value']);
    const props = new Map(m.records.map((r) => [r.fields[0], r.fields[1]]));
    assert.equal(props.get('manifest.version'), '1.0');
    assert.equal(props.get('oneroster.version'), '1.2');
    const bulk = [...props].filter(([k, v]) => k!.startsWith('file.') && v === 'bulk').map(([k]) => k);
    assert.deepEqual(bulk.sort(), ['file.categories', 'file.lineItems', 'file.results']);
    assert.ok(
      [...props].filter(([k]) => k!.startsWith('file.')).every(([, v]) => v === 'bulk' || v === 'absent'),
    );
    assert.equal(props.get('file.users'), 'absent');
    const c = parseCsv(categoriesCsv());
    assert.deepEqual(c.header, [...ONEROSTER_HEADERS['categories.csv']]);
    assert.deepEqual(
      c.records.map((r) => r.fields),
      [['rollcall-attendance', '', '', 'Attendance']],
    );
  });

  void test('when a range is checked, then both ends count and the query needs from and to as real dates', () => {
    assert.equal(daysInRange('2031-01-01', '2031-01-01'), 1);
    assert.equal(daysInRange('2032-01-01', '2032-12-31'), MAX_EXPORT_DAYS, 'a leap year is one export');
    assert.equal(daysInRange('2031-03-29', '2031-03-30'), 2);
    assert.equal(
      attendanceExportQuery.safeParse({ from: '2031-01-01', to: '2031-01-02' }).data?.format,
      'csv',
    );
    for (const bad of [
      {},
      { from: '2031-01-01' },
      { from: '2031-02-30', to: '2031-03-01' },
      { from: '2031-01-01', to: '2031-01-02', format: 'xml' },
      { from: '2031-01-01', to: '2031-01-02', extra: '1' },
    ])
      assert.equal(attendanceExportQuery.safeParse(bad).success, false, JSON.stringify(bad));
  });
});
