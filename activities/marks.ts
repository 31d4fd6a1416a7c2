/**
 * The one writer of attendance marks. A mark is one row per (session, student); its first insert is
 * idempotent on (event_id, marked_at), later changes (overrides, corrections) update that row and leave
 * an audit_log entry. Device sightings and finalisation never overwrite a teacher's override. The one
 * deletion: a teacher withdrawing an override that created the mark (clearOverride), audited too.
 */
import type { Knex } from 'knex';
import type { AttendanceStatus, MarkSource } from '../workflows/messages';

export interface MarkToRecord {
  eventId: string;
  studentId: string;
  status: AttendanceStatus;
  markedAt: string;
  source: MarkSource;
  confidence?: number;
  deviceId?: string;
  actor?: string;
  reason?: string;
}

export interface RecordMarksInput {
  sessionId: string;
  courseId: string;
  marks: MarkToRecord[];
}

export interface RecordMarksResult {
  inserted: number;
  updated: number;
  unchanged: number;
}

interface ExistingMark {
  event_id: string;
  status: AttendanceStatus;
  source: MarkSource;
  marked_at: Date;
  device_id: string | null;
}

const PG_NO_PARTITION = '23514';

/** Writes marks in one transaction, creating a missing monthly partition on demand. */
export async function recordMarks(db: Knex, input: RecordMarksInput): Promise<RecordMarksResult> {
  try {
    return await db.transaction((trx) => writeMarks(trx, input));
  } catch (e) {
    if ((e as { code?: string }).code !== PG_NO_PARTITION) throw e;
    const months = new Set(input.marks.map((m) => m.markedAt.slice(0, 7)));
    for (const month of months) {
      await db.raw('SELECT ensure_attendance_partitions(?::timestamptz, 0)', [`${month}-01T00:00:00Z`]);
    }
    return await db.transaction((trx) => writeMarks(trx, input));
  }
}

/**
 * Serialises every transaction that writes marks of one session (device marks, overrides, finalisation,
 * late uploads after the workflow ended): the read-then-insert below then sees the other writer's rows.
 * The session_marks trigger is the backstop that makes a second mark per (session, student) impossible.
 */
export async function lockSessionMarks(trx: Knex.Transaction, sessionId: string): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`marks:${sessionId}`]);
}

async function writeMarks(trx: Knex.Transaction, input: RecordMarksInput): Promise<RecordMarksResult> {
  const result: RecordMarksResult = { inserted: 0, updated: 0, unchanged: 0 };
  if (input.marks.length === 0) return result;
  await lockSessionMarks(trx, input.sessionId);
  const rows: (ExistingMark & { student_id: string })[] = await trx('attendance_logs')
    .select('student_id', 'event_id', 'status', 'source', 'marked_at', 'device_id')
    .where('session_id', input.sessionId)
    .whereIn(
      'student_id',
      input.marks.map((m) => m.studentId),
    )
    .forUpdate();
  const existing = new Map(rows.map((r) => [r.student_id, r]));

  const fresh = input.marks.filter((m) => !existing.has(m.studentId));
  if (fresh.length > 0) {
    const inserted = await trx('attendance_logs')
      .insert(
        fresh.map((m) => ({
          event_id: m.eventId,
          session_id: input.sessionId,
          student_id: m.studentId,
          course_id: input.courseId,
          status: m.status,
          marked_at: m.markedAt,
          confidence: m.confidence ?? null,
          device_id: m.deviceId ?? null,
          source: m.source,
        })),
      )
      .onConflict(['event_id', 'marked_at'])
      .ignore()
      .returning(['student_id', 'status']);
    result.inserted += inserted.length;
    result.unchanged += fresh.length - inserted.length;
    const overrides = fresh.filter((m) => m.source === 'override');
    await audit(trx, input.sessionId, overrides, () => null);
  }

  for (const m of input.marks) {
    const row = existing.get(m.studentId);
    if (!row) continue;
    // A teacher's override always wins and is never undone by a device or finalisation; a sighting
    // replaces an assumed absence, or an earlier sighting's later one (late → present).
    const wins =
      m.source === 'override' ||
      (m.source === 'device' &&
        (row.source === 'finalise' ||
          (row.source === 'device' && Date.parse(m.markedAt) < row.marked_at.getTime())));
    const changed =
      row.status !== m.status ||
      row.source !== m.source ||
      row.marked_at.getTime() !== Date.parse(m.markedAt);
    if (!wins || !changed) {
      result.unchanged++;
      continue;
    }
    // An override keeps the original sighting time; a device correction moves it to the earlier sighting.
    const markedAt = m.source === 'override' ? row.marked_at : new Date(m.markedAt);
    await trx('attendance_logs')
      .where({ session_id: input.sessionId, student_id: m.studentId, event_id: row.event_id })
      .update({
        status: m.status,
        source: m.source,
        marked_at: markedAt,
        confidence: m.confidence ?? null,
        device_id: m.deviceId ?? null,
        updated_at: trx.fn.now(),
      });
    result.updated++;
    // The device stays in the before-state: recognition_accuracy_ratio counts overrides per device.
    await audit(trx, input.sessionId, [m], () => ({
      status: row.status,
      source: row.source,
      device_id: row.device_id,
    }));
  }
  return result;
}

export interface ClearOverrideInput {
  sessionId: string;
  studentId: string;
  /** The override's own event id (`override:{sessionId}:{studentId}`): only a mark it created is withdrawn. */
  eventId: string;
  actor: string;
  reason: string;
}

/**
 * Withdraws a teacher's override that created the student's mark, so the student is unmarked again: the row
 * and its per-student claim in session_marks go in one transaction with an `attendance.clear` audit row (before:
 * the mark, after: unmarked). Only a row that is still that override's own is deleted, so a sighting or a
 * finalisation mark can never be removed this way. Idempotent: a retry after the commit finds nothing to clear.
 */
export async function clearOverride(db: Knex, input: ClearOverrideInput): Promise<{ cleared: boolean }> {
  return db.transaction(async (trx) => {
    await lockSessionMarks(trx, input.sessionId);
    const own = { session_id: input.sessionId, student_id: input.studentId, event_id: input.eventId };
    const row: { status: AttendanceStatus; source: MarkSource } | undefined = await trx('attendance_logs')
      .where({ ...own, source: 'override' })
      .forUpdate()
      .first('status', 'source');
    if (!row) return { cleared: false };
    await trx('attendance_logs')
      .where({ ...own, source: 'override' })
      .delete();
    await trx('session_marks').where(own).delete();
    await trx('audit_log').insert({
      actor: input.actor,
      action: 'attendance.clear',
      entity: 'attendance',
      entity_id: `${input.sessionId}/${input.studentId}`,
      before: JSON.stringify({ status: row.status, source: row.source }),
      after: JSON.stringify({ status: 'unmarked', source: 'override' }),
      reason: input.reason,
    });
    return { cleared: true };
  });
}

async function audit(
  trx: Knex.Transaction,
  sessionId: string,
  marks: MarkToRecord[],
  before: (m: MarkToRecord) => object | null,
): Promise<void> {
  if (marks.length === 0) return;
  await trx('audit_log').insert(
    marks.map((m) => ({
      actor: m.actor ?? m.source,
      action: m.source === 'override' ? 'attendance.override' : 'attendance.correct',
      entity: 'attendance',
      entity_id: `${sessionId}/${m.studentId}`,
      before: before(m) === null ? null : JSON.stringify(before(m)),
      after: JSON.stringify({ status: m.status, source: m.source }),
      reason: m.reason ?? null,
    })),
  );
}
