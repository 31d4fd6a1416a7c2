/**
 * Activities of the class session workflow: open the session row, write marks, finalise (absentees +
 * summary). Each is idempotent, so Temporal may retry any of them after a worker dies mid-way.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ApplicationFailure } from '@temporalio/common';
import { quarantinedMarks } from '../lib/metrics';
import { storableText } from '../lib/storableText';
import { isDataError } from './dataErrors';
import { sessionWorkflowId, type AttendanceStatus, type MarkSource } from '../workflows/messages';
import {
  clearOverride,
  lockSessionMarks,
  recordMarks,
  type ClearOverrideInput,
  type RecordMarksInput,
  type RecordMarksResult,
} from './marks';

export type { MarkToRecord } from './marks';

export interface SessionTimingSettings {
  earlyMinutes: number;
  graceMinutes: number;
  amendMinutes: number;
  flushMs: number;
}

export interface SessionInfo extends SessionTimingSettings {
  sessionId: string;
  scheduleId: number;
  sessionDate: string;
  courseId: string;
  roomId: string;
  startsAt: string;
  endsAt: string;
  lateAfterMinutes: number;
  /** Ids only: the roster of a class is a few dozen short strings. */
  enrolled: string[];
  existingMarks: {
    studentId: string;
    status: AttendanceStatus;
    markedAt: string;
    eventId: string;
    source: MarkSource;
  }[];
  closed: boolean;
}

export interface SessionSummary {
  sessionId: string;
  enrolled: number;
  present: number;
  late: number;
  absent: number;
  excused: number;
  /** Students marked absent by this finalisation (empty when it had already run). */
  absentees: string[];
}

export function createSessionActivities(db: Knex, timing: SessionTimingSettings, logger: Logger) {
  const activityLog = logger.child({ component: 'sessions' });
  return {
    async openSession(input: { scheduleId: number; sessionDate: string }): Promise<SessionInfo> {
      const sessionId = sessionWorkflowId(input.scheduleId, input.sessionDate);
      const slot = await db.raw<{ rows: SlotRow[] }>(
        `SELECT s.id, s.course_id, s.room_id, s.late_after_minutes,
                (?::date + s.start_time) AT TIME ZONE r.timezone AS starts_at,
                (?::date + s.end_time) AT TIME ZONE r.timezone AS ends_at
           FROM schedules s JOIN classrooms r ON r.id = s.room_id WHERE s.id = ?`,
        [input.sessionDate, input.sessionDate, input.scheduleId],
      );
      const s = slot.rows[0];
      if (!s) {
        throw ApplicationFailure.create({
          message: `schedule ${input.scheduleId} does not exist`,
          nonRetryable: true,
        });
      }
      await db('class_sessions')
        .insert({
          id: sessionId,
          schedule_id: s.id,
          session_date: input.sessionDate,
          course_id: s.course_id,
          room_id: s.room_id,
          starts_at: s.starts_at,
          ends_at: s.ends_at,
          late_after_minutes: s.late_after_minutes,
        })
        .onConflict('id')
        .ignore();
      const session = await db('class_sessions').where({ id: sessionId }).first();
      const enrolled = await db('enrollments')
        .where({ course_id: session.course_id })
        .orderBy('student_id')
        .pluck('student_id');
      const marks = await db('attendance_logs')
        .where({ session_id: sessionId })
        .select('student_id', 'status', 'marked_at', 'event_id', 'source');
      return {
        ...timing,
        sessionId,
        scheduleId: s.id,
        sessionDate: input.sessionDate,
        courseId: session.course_id,
        roomId: session.room_id,
        startsAt: new Date(session.starts_at).toISOString(),
        endsAt: new Date(session.ends_at).toISOString(),
        lateAfterMinutes: session.late_after_minutes,
        enrolled,
        existingMarks: marks.map((m: MarkRow) => ({
          studentId: m.student_id,
          status: m.status,
          markedAt: new Date(m.marked_at).toISOString(),
          eventId: m.event_id,
          source: m.source,
        })),
        closed: session.status === 'closed',
      };
    },

    /**
     * Writes a batch of marks. A batch the database refuses for its data (a poison mark) is split and
     * written mark by mark; the marks that still fail go to quarantined_marks with the error and an alert,
     * so the session goes on instead of retrying one bad row forever.
     */
    async recordMarks(input: RecordMarksInput): Promise<RecordMarksResult & { quarantined: string[] }> {
      try {
        return { ...(await recordMarks(db, input)), quarantined: [] };
      } catch (err) {
        if (!isDataError(err)) throw err;
      }
      const total: RecordMarksResult & { quarantined: string[] } = {
        inserted: 0,
        updated: 0,
        unchanged: 0,
        quarantined: [],
      };
      for (const mark of input.marks) {
        try {
          const r = await recordMarks(db, { ...input, marks: [mark] });
          total.inserted += r.inserted;
          total.updated += r.updated;
          total.unchanged += r.unchanged;
        } catch (err) {
          if (!isDataError(err)) throw err;
          const e = err as Error & { code: string };
          // Text columns cannot hold the NUL byte that may be the very reason for the refusal.
          await db('quarantined_marks')
            .insert({
              session_id: storableText(input.sessionId),
              student_id: storableText(mark.studentId),
              event_id: storableText(mark.eventId),
              mark: storableText(JSON.stringify(mark)),
              error_code: e.code,
              error: storableText(e.message),
            })
            .onConflict(['session_id', 'event_id'])
            .ignore();
          quarantinedMarks.inc();
          activityLog.error(
            { sessionId: input.sessionId, studentId: mark.studentId, eventId: mark.eventId, code: e.code },
            'ALERT attendance mark quarantined: the database refused its data',
          );
          total.quarantined.push(mark.studentId);
        }
      }
      return total;
    },

    /** Withdraws an override that created the student's mark (the workflow's `override` update to `unmarked`). */
    async clearOverride(input: ClearOverrideInput): Promise<{ cleared: boolean }> {
      return clearOverride(db, input);
    },

    /** The course's enrolment now: the session re-checks it for a recognised student missing from its snapshot. */
    async enrolledStudents(input: { courseId: string }): Promise<string[]> {
      return db('enrollments').where({ course_id: input.courseId }).orderBy('student_id').pluck('student_id');
    },

    /** Marks every enrolled student without a mark absent (once), then writes the summary and closes. */
    async finaliseSession(input: { sessionId: string }): Promise<SessionSummary> {
      return finaliseSession(db, input.sessionId);
    },
  };
}

/**
 * Marks every enrolled student without a mark absent (once, idempotently), writes the summary and closes
 * the session. The session workflow's activity, and the API's path for a late upload to a session whose
 * workflow has ended (the summary must count it).
 */
export async function finaliseSession(db: Knex, sessionId: string): Promise<SessionSummary> {
  return db.transaction(async (trx) => {
    await lockSessionMarks(trx, sessionId);
    const session = await trx('class_sessions').where({ id: sessionId }).forUpdate().first();
    if (!session) {
      throw ApplicationFailure.create({
        message: `session ${sessionId} does not exist`,
        nonRetryable: true,
      });
    }
    const absentees: string[] = await trx('enrollments as e')
      .where('e.course_id', session.course_id)
      .whereNotExists(
        trx('attendance_logs as a').whereRaw('a.session_id = ? AND a.student_id = e.student_id', [sessionId]),
      )
      .orderBy('e.student_id')
      .pluck('e.student_id');
    if (absentees.length > 0) {
      await trx.raw('SELECT ensure_attendance_partitions(?, 0)', [session.ends_at]);
      await trx('attendance_logs')
        .insert(
          absentees.map((studentId) => ({
            event_id: `absent:${sessionId}:${studentId}`,
            session_id: sessionId,
            student_id: studentId,
            course_id: session.course_id,
            status: 'absent',
            marked_at: session.ends_at,
            source: 'finalise',
          })),
        )
        .onConflict(['event_id', 'marked_at'])
        .ignore();
    }
    const counts = await trx('attendance_logs')
      .where({ session_id: sessionId })
      .select('status')
      .count<{ status: AttendanceStatus; n: number }[]>('* as n')
      .groupBy('status');
    const by = (s: AttendanceStatus) => counts.find((c) => c.status === s)?.n ?? 0;
    const enrolledCount = await trx('enrollments')
      .where({ course_id: session.course_id })
      .count<{ n: number }[]>('* as n');
    const summary: SessionSummary = {
      sessionId: sessionId,
      enrolled: Number(enrolledCount[0].n),
      present: Number(by('present')),
      late: Number(by('late')),
      absent: Number(by('absent')),
      excused: Number(by('excused')),
      absentees,
    };
    const { absentees: _newlyAbsent, ...stored } = summary;
    await trx('class_sessions')
      .where({ id: sessionId })
      .update({
        status: 'closed',
        closed_at: session.closed_at ?? trx.fn.now(),
        summary: JSON.stringify(stored),
      });
    return summary;
  });
}

/**
 * Marks for a session whose workflow has ended (a teacher's correction, a batch that was in transit when
 * the amendment window closed): written by the session's own writer, then the summary is rewritten so it
 * counts them. The API's only way to write marks.
 */
export async function amendEndedSession(db: Knex, input: RecordMarksInput): Promise<RecordMarksResult> {
  // One transaction (the inner ones are savepoints): a reader never sees the amended marks without the
  // summary that counts them.
  return db.transaction(async (trx) => {
    const result = await recordMarks(trx, input);
    await finaliseSession(trx, input.sessionId);
    return result;
  });
}

export type SessionActivities = ReturnType<typeof createSessionActivities>;

interface SlotRow {
  id: number;
  course_id: string;
  room_id: string;
  late_after_minutes: number;
  starts_at: Date;
  ends_at: Date;
}

interface MarkRow {
  student_id: string;
  status: AttendanceStatus;
  marked_at: Date;
  event_id: string;
  source: MarkSource;
}
