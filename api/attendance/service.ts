/**
 * Accepting a batch of recognitions from a device: assertValid → resolve each record's session in the
 * device's room → assertKnownAndEnrolled → log the raw events idempotently → signal each session workflow
 * (signalWithStart). A batch counts as accepted only when Temporal has durably taken every signal.
 */
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { classSession } from '../../workflows/classSession';
import {
  parseSessionId,
  recognitionsSignal,
  sessionWorkflowId,
  type Recognition,
} from '../../workflows/messages';
import { CourseIdKey, RoomIdKey, SessionDateKey } from '../../workflows/searchAttributes';
import type { AuthenticatedDevice } from '../auth/device';
import { AppError } from '../errors';
import { withinDeadline } from '../../lib/temporal/connection';
import type { AttendanceBatch, RecordOutcome } from './schema';
import { countAttendanceRecords } from '../../lib/metrics';

export interface AttendanceDeps {
  db: Knex;
  temporal: Client;
  taskQueue: string;
  earlyMinutes: number;
  graceMinutes: number;
  log: Logger;
}

interface SlotRow {
  idx: number;
  schedule_id: number | null;
  course_id: string | null;
  session_date: string | null;
}

interface Resolved {
  eventId: string;
  studentId: string;
  sessionId: string;
  scheduleId: number;
  sessionDate: string;
  courseId: string;
  seenAt: string;
  confidence: number;
}

/**
 * How long one signalWithStart may take before the API gives up and answers 503. Without a limit the
 * client's gRPC retries (≈20 s) would hold the device's request while Temporal is down; a signal that lands
 * after the limit is harmless because the workflow ignores event ids it has seen.
 */
export const SIGNAL_DEADLINE_MS = 5_000;

export interface BatchResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: RecordOutcome[];
}

export async function acceptBatch(
  deps: AttendanceDeps,
  device: AuthenticatedDevice,
  batch: AttendanceBatch,
): Promise<BatchResult> {
  if (batch.device_id !== device.id) {
    throw new AppError(403, 'forbidden', `device key belongs to ${device.id}, not ${batch.device_id}`);
  }
  const { db } = deps;
  const studentIds = [...new Set(batch.records.map((r) => r.student_id))];
  // Two independent look-ups, one round trip of latency: each record's class slot, each student's courses.
  const [slots, students] = await Promise.all([
    db.raw<{ rows: SlotRow[] }>(
      `SELECT r.idx::int AS idx, slot.schedule_id, slot.course_id, slot.session_date::text AS session_date
         FROM unnest(?::timestamptz[]) WITH ORDINALITY AS r(ts, idx)
         LEFT JOIN LATERAL schedule_slot_at(?, r.ts, ?, ?) slot ON true`,
      [batch.records.map((r) => r.timestamp), device.roomId, deps.earlyMinutes, deps.graceMinutes],
    ),
    db.raw<{ rows: { id: string; courses: string[] }[] }>(
      `SELECT s.id, coalesce(array_agg(e.course_id) FILTER (WHERE e.course_id IS NOT NULL), '{}') AS courses
         FROM students s LEFT JOIN enrollments e ON e.student_id = s.id
        WHERE s.id = ANY(?) GROUP BY s.id`,
      [studentIds],
    ),
  ]);
  const studentRows = students.rows;
  const coursesOf = new Map(studentRows.map((s) => [s.id, new Set(s.courses)]));

  const outcomes: RecordOutcome[] = [];
  const resolved: Resolved[] = [];
  const seenInBatch = new Set<string>();
  batch.records.forEach((rec, i) => {
    const reject = (reason: string) => outcomes.push({ event_id: rec.event_id, status: 'rejected', reason });
    const slot = slots.rows.find((s) => s.idx === i + 1);
    if (seenInBatch.has(rec.event_id)) return reject('event_id repeated within this batch');
    seenInBatch.add(rec.event_id);
    if (!slot?.schedule_id || !slot.course_id || !slot.session_date) {
      return reject(`no class is scheduled in room ${device.roomId} at ${rec.timestamp}`);
    }
    const sessionId = sessionWorkflowId(slot.schedule_id, slot.session_date);
    if (rec.session_id !== undefined && rec.session_id !== sessionId) {
      return reject(
        parseSessionId(rec.session_id)
          ? `session_id ${rec.session_id} is not the class in this room at that time`
          : 'session_id is malformed',
      );
    }
    if (rec.course_id !== undefined && rec.course_id !== slot.course_id) {
      return reject(
        `course_id ${rec.course_id} is not the class in this room at that time (${slot.course_id})`,
      );
    }
    const courses = coursesOf.get(rec.student_id);
    if (!courses) return reject(`unknown student ${rec.student_id}`);
    if (!courses.has(slot.course_id))
      return reject(`student ${rec.student_id} is not enrolled in ${slot.course_id}`);
    resolved.push({
      eventId: rec.event_id,
      studentId: rec.student_id,
      sessionId,
      scheduleId: slot.schedule_id,
      sessionDate: slot.session_date,
      courseId: slot.course_id,
      seenAt: new Date(rec.timestamp).toISOString(),
      confidence: rec.confidence,
    });
  });

  let fresh = new Set<string>();
  if (resolved.length > 0) {
    const inserted: { event_id: string }[] = await db('recognition_events')
      .insert(
        resolved.map((r) => ({
          event_id: r.eventId,
          session_id: r.sessionId,
          device_id: device.id,
          student_id: r.studentId,
          seen_at: r.seenAt,
          confidence: r.confidence,
        })),
      )
      .onConflict('event_id')
      .ignore()
      .returning('event_id');
    fresh = new Set(inserted.map((r) => r.event_id));
  }

  // Duplicates are signalled again on purpose: a retry after a failed signal must still reach the workflow,
  // which ignores event ids it has already seen.
  const bySession = new Map<string, Resolved[]>();
  for (const r of resolved) bySession.set(r.sessionId, [...(bySession.get(r.sessionId) ?? []), r]);
  await Promise.all(
    [...bySession.entries()].map(async ([sessionId, records]) => {
      const first = records[0];
      const payload: Recognition[] = records.map((r) => ({
        eventId: r.eventId,
        studentId: r.studentId,
        seenAt: r.seenAt,
        confidence: r.confidence,
      }));
      try {
        await withinDeadline(deps.temporal, SIGNAL_DEADLINE_MS, () =>
          deps.temporal.workflow.signalWithStart<
            typeof classSession,
            [{ deviceId: string; records: Recognition[] }]
          >('classSession', {
            workflowId: sessionId,
            taskQueue: deps.taskQueue,
            args: [{ scheduleId: first.scheduleId, sessionDate: first.sessionDate }],
            signal: recognitionsSignal,
            signalArgs: [{ deviceId: device.id, records: payload }],
            typedSearchAttributes: [
              { key: CourseIdKey, value: first.courseId },
              { key: RoomIdKey, value: device.roomId },
              { key: SessionDateKey, value: first.sessionDate },
            ],
          }),
        );
      } catch (err) {
        deps.log.error({ err, sessionId, deviceId: device.id }, 'signalWithStart failed');
        throw new AppError(
          503,
          'temporal_unavailable',
          'attendance could not be queued; retry later',
          undefined,
          {
            'Retry-After': '5',
          },
        );
      }
    }),
  );

  for (const r of resolved) {
    outcomes.push({
      event_id: r.eventId,
      status: fresh.has(r.eventId) ? 'accepted' : 'duplicate',
      session_id: r.sessionId,
    });
  }
  const order = new Map(batch.records.map((r, i) => [r.event_id, i]));
  outcomes.sort((a, b) => (order.get(a.event_id) ?? 0) - (order.get(b.event_id) ?? 0));
  const count = (s: RecordOutcome['status']) => outcomes.filter((o) => o.status === s).length;
  const result = {
    accepted: count('accepted'),
    duplicates: count('duplicate'),
    rejected: count('rejected'),
    results: outcomes,
  };
  countAttendanceRecords('accepted', result.accepted);
  countAttendanceRecords('duplicate', result.duplicates);
  countAttendanceRecords('rejected', result.rejected);
  return result;
}
