/**
 * Activities of the class session workflow: open the session row, write marks, finalise (absentees +
 * summary). Each is idempotent, so Temporal may retry any of them after a worker dies mid-way.
 */
import type { Knex } from 'knex';
import { ApplicationFailure } from '@temporalio/common';
import { sessionWorkflowId, type AttendanceStatus, type MarkSource } from '../workflows/messages';
import { recordMarks, type RecordMarksInput, type RecordMarksResult } from './marks';

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

export function createSessionActivities(db: Knex, timing: SessionTimingSettings) {
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

    async recordMarks(input: RecordMarksInput): Promise<RecordMarksResult> {
      return recordMarks(db, input);
    },

    /** Marks every enrolled student without a mark absent (once), then writes the summary and closes. */
    async finaliseSession(input: { sessionId: string }): Promise<SessionSummary> {
      return db.transaction(async (trx) => {
        const session = await trx('class_sessions').where({ id: input.sessionId }).forUpdate().first();
        if (!session) {
          throw ApplicationFailure.create({
            message: `session ${input.sessionId} does not exist`,
            nonRetryable: true,
          });
        }
        const absentees: string[] = await trx('enrollments as e')
          .where('e.course_id', session.course_id)
          .whereNotExists(
            trx('attendance_logs as a').whereRaw('a.session_id = ? AND a.student_id = e.student_id', [
              input.sessionId,
            ]),
          )
          .orderBy('e.student_id')
          .pluck('e.student_id');
        if (absentees.length > 0) {
          await trx.raw('SELECT ensure_attendance_partitions(?, 0)', [session.ends_at]);
          await trx('attendance_logs')
            .insert(
              absentees.map((studentId) => ({
                event_id: `absent:${input.sessionId}:${studentId}`,
                session_id: input.sessionId,
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
          .where({ session_id: input.sessionId })
          .select('status')
          .count<{ status: AttendanceStatus; n: number }[]>('* as n')
          .groupBy('status');
        const by = (s: AttendanceStatus) => counts.find((c) => c.status === s)?.n ?? 0;
        const enrolledCount = await trx('enrollments')
          .where({ course_id: session.course_id })
          .count<{ n: number }[]>('* as n');
        const summary: SessionSummary = {
          sessionId: input.sessionId,
          enrolled: Number(enrolledCount[0].n),
          present: Number(by('present')),
          late: Number(by('late')),
          absent: Number(by('absent')),
          excused: Number(by('excused')),
          absentees,
        };
        const { absentees: _newlyAbsent, ...stored } = summary;
        await trx('class_sessions')
          .where({ id: input.sessionId })
          .update({
            status: 'closed',
            closed_at: session.closed_at ?? trx.fn.now(),
            summary: JSON.stringify(stored),
          });
        return summary;
      });
    },
  };
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
