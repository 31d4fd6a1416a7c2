/**
 * Accepting a batch of recognitions from a device: assertValid → resolve each record's session in the
 * device's room → assertKnownAndEnrolled → commit the raw events to the inbox (recognition_events,
 * idempotent by event id). A batch counts as accepted once that insert has committed: the inbox relay
 * (workers/relay.ts, woken by the insert's NOTIFY) delivers the records to the session workflows, so
 * Temporal being down delays marks but never refuses a device; Postgres being down is a 503.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { parseSessionId, sessionWorkflowId } from '../../workflows/messages';
import type { AuthenticatedDevice } from '../auth/device';
import { AppError } from '../errors';
import type { AttendanceBatch, RecordOutcome } from '../../lib/contracts';
import { countAttendanceRecords } from '../../lib/metrics';
import { runPrepared, type PreparedQuery } from '../../lib/preparedQuery';

export interface AttendanceDeps {
  db: Knex;
  earlyMinutes: number;
  graceMinutes: number;
  /** How long after finalisation a session still takes late uploads (the worker's SESSION_AMEND_HOURS). */
  amendMinutes: number;
  /** How far ahead of the server's clock a device's timestamp may be. */
  clockSkewMs: number;
  log: Logger;
  /** The server's clock (tests move it). */
  now?: () => number;
}

interface SlotRow {
  idx: number;
  schedule_id: number;
  course_id: string;
  session_date: string;
  ends_at: Date;
  rank: number;
}

/** A slot as the lookup's JSON carries it (instants as ISO text). */
type SlotJson = Omit<SlotRow, 'ends_at'> & { ends_at: string };

/**
 * The two look-ups of a batch, as one prepared statement: $1 the plausible records' instants, $2 the room,
 * $3/$4 the early and grace minutes, $5 the batch's student ids. Slots name their instant by its 1-based
 * position in $1 (`idx`); one schedule_slots_for call ranks them all (migration 20261208000002).
 */
const LOOKUP: PreparedQuery = {
  name: 'attendance_lookup_batch',
  text: `SELECT
      (SELECT coalesce(json_agg(x ORDER BY x.idx, x.rank), '[]')
         FROM (SELECT slot.idx, slot.schedule_id, slot.course_id, slot.session_date::text AS session_date,
                      slot.ends_at, slot.rank
                 FROM schedule_slots_for($2::text, $1::timestamptz[], $3::int, $4::int) slot) x) AS slots,
      (SELECT coalesce(json_agg(y), '[]')
         FROM (SELECT s.id, coalesce(array_agg(e.course_id) FILTER (WHERE e.course_id IS NOT NULL), '{}') AS courses
                 FROM students s LEFT JOIN enrollments e ON e.student_id = s.id
                WHERE s.id = ANY($5::text[]) GROUP BY s.id) y) AS students`,
};

/**
 * The inbox insert, one statement whatever the batch size: idempotent by event id, returns the new ids. Names
 * the device's school ($7), so no tenancy trigger runs per record (migration 20261207000001_inbox_insert).
 */
const INSERT: PreparedQuery = {
  name: 'attendance_inbox_insert_school',
  text: `INSERT INTO recognition_events (event_id, session_id, device_id, student_id, seen_at, confidence, school_id)
         SELECT e.event_id, e.session_id, $3::text, e.student_id, e.seen_at, e.confidence, $7::text
           FROM unnest($1::text[], $2::text[], $4::text[], $5::timestamptz[], $6::real[])
                AS e(event_id, session_id, student_id, seen_at, confidence)
         ON CONFLICT (event_id) DO NOTHING
         RETURNING event_id`,
};

/** The ingest's prepared statements with parameters that read and write nothing (lib/preparedQuery warmPrepared). */
export const INGEST_WARMUP: readonly { query: PreparedQuery; values: unknown[] }[] = [
  { query: LOOKUP, values: [[], '', 0, 0, []] },
  { query: INSERT, values: [[], [], '', [], [], [], ''] },
];

interface Resolved {
  eventId: string;
  studentId: string;
  sessionId: string;
  seenAt: string;
  confidence: number;
}

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
  const nowMs = (deps.now ?? Date.now)();
  const studentIds = [...new Set(batch.records.map((r) => r.student_id))];
  // Only instants the server can believe reach SQL (year 0000 or 9999 never do): see timestampProblem.
  const problems = batch.records.map((r) => timestampProblem(r.timestamp, nowMs, deps));
  const plausible = batch.records.flatMap((r, i) => (problems[i] ? [] : [{ ts: r.timestamp, idx: i + 1 }]));
  // One round trip: each record's candidate class slots (ranked: the slot whose time covers the sighting
  // first) and each student's courses.
  const [lookup] = await runPrepared<{ slots: SlotJson[]; students: { id: string; courses: string[] }[] }>(
    db,
    LOOKUP,
    [plausible.map((p) => p.ts), device.roomId, deps.earlyMinutes, deps.graceMinutes, studentIds],
  );
  const coursesOf = new Map(lookup.students.map((s) => [s.id, new Set(s.courses)]));

  const candidatesOf = new Map<number, SlotRow[]>();
  for (const slot of lookup.slots) {
    // The slot's instant is the idx-th plausible record; candidatesOf is keyed by the record's own index.
    const row = { ...slot, idx: plausible[slot.idx - 1]!.idx, ends_at: new Date(slot.ends_at) };
    candidatesOf.set(row.idx, [...(candidatesOf.get(row.idx) ?? []), row]);
  }
  const amendMs = (deps.graceMinutes + deps.amendMinutes) * 60_000;

  // One outcome per record, in request order.
  const outcomes: RecordOutcome[] = new Array<RecordOutcome>(batch.records.length);
  const resolved: (Resolved & { index: number })[] = [];
  const seenInBatch = new Set<string>();
  batch.records.forEach((rec, i) => {
    const reject = (reason: string) => {
      outcomes[i] = { event_id: rec.event_id, status: 'rejected', reason };
    };
    if (seenInBatch.has(rec.event_id)) return reject('event_id repeated within this batch');
    seenInBatch.add(rec.event_id);
    const problem = problems[i];
    if (problem) return reject(problem);
    const courses = coursesOf.get(rec.student_id);
    // Back-to-back or early/grace windows can offer two classes: the one whose time covers the sighting
    // wins, and in the gap between classes the one this student is enrolled in.
    const candidates = candidatesOf.get(i + 1) ?? [];
    const slot = candidates.find((c) => courses?.has(c.course_id)) ?? candidates[0];
    if (!slot) {
      return reject(`no class is scheduled in room ${device.roomId} at ${rec.timestamp}`);
    }
    if (slot.ends_at.getTime() + amendMs < nowMs) {
      return reject(
        `the class at ${rec.timestamp} ended at ${slot.ends_at.toISOString()}; its amendment window is over`,
      );
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
    if (!courses) return reject(`unknown student ${rec.student_id}`);
    if (!courses.has(slot.course_id))
      return reject(`student ${rec.student_id} is not enrolled in ${slot.course_id}`);
    resolved.push({
      index: i,
      eventId: rec.event_id,
      studentId: rec.student_id,
      sessionId,
      seenAt: new Date(rec.timestamp).toISOString(),
      confidence: rec.confidence,
    });
  });

  let fresh = new Set<string>();
  const conflicting = new Set<string>();
  if (resolved.length > 0) {
    const inserted = await runPrepared<{ event_id: string }>(db, INSERT, [
      resolved.map((r) => r.eventId),
      resolved.map((r) => r.sessionId),
      device.id,
      resolved.map((r) => r.studentId),
      resolved.map((r) => r.seenAt),
      resolved.map((r) => r.confidence),
      device.schoolId,
    ]);
    fresh = new Set(inserted.map((r) => r.event_id));
    // A known event id is a retry only if it describes the same sighting; an id reused for another
    // student, session or instant is a device bug, answered per record instead of silently dropped.
    const known = resolved.filter((r) => !fresh.has(r.eventId));
    if (known.length > 0) {
      const stored: { event_id: string; student_id: string; session_id: string; seen_at: Date }[] = await db(
        'recognition_events',
      )
        .whereIn(
          'event_id',
          known.map((r) => r.eventId),
        )
        .select('event_id', 'student_id', 'session_id', 'seen_at');
      const byId = new Map(stored.map((r) => [r.event_id, r]));
      for (const r of known) {
        const s = byId.get(r.eventId);
        if (
          s &&
          (s.student_id !== r.studentId ||
            s.session_id !== r.sessionId ||
            s.seen_at.getTime() !== Date.parse(r.seenAt))
        )
          conflicting.add(r.eventId);
      }
    }
  }
  for (const r of resolved) {
    if (conflicting.has(r.eventId)) {
      outcomes[r.index] = {
        event_id: r.eventId,
        status: 'rejected',
        reason: 'event_id was already used for a different sighting',
      };
    }
  }
  // Accepted or duplicate: either way the record is in the inbox, where the relay delivers it.
  for (const r of resolved.filter((x) => !conflicting.has(x.eventId))) {
    outcomes[r.index] = {
      event_id: r.eventId,
      status: fresh.has(r.eventId) ? 'accepted' : 'duplicate',
      session_id: r.sessionId,
    };
  }
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

/**
 * Why a record's timestamp cannot be believed, or undefined. The instant must lie within
 * [now − (grace + amendment window + a day of classes), now + clock skew]: a Pi whose clock runs ahead
 * (or a forged record) cannot mark a class that has not happened, and nothing older than any session that
 * still takes amendments reaches the database (a year-0000 instant is not even a valid SQL timestamp).
 */
export function timestampProblem(
  timestamp: string,
  nowMs: number,
  limits: Pick<AttendanceDeps, 'graceMinutes' | 'amendMinutes' | 'clockSkewMs'>,
): string | undefined {
  const t = Date.parse(timestamp);
  if (!Number.isFinite(t)) return `timestamp ${timestamp} is not a valid instant`;
  if (t > nowMs + limits.clockSkewMs) {
    return `timestamp ${timestamp} is ${Math.round((t - nowMs) / 1000)} s ahead of the server's clock (allowed ${limits.clockSkewMs / 1000} s): check the device's clock`;
  }
  const oldestMs = nowMs - (limits.graceMinutes + limits.amendMinutes + 24 * 60) * 60_000;
  if (t < oldestMs) return `timestamp ${timestamp} is older than any class that still takes attendance`;
  return undefined;
}
