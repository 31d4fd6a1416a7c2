/**
 * Names and payload types of every message the workflows accept, declared once so that the workflows,
 * the API and the tests cannot drift apart. Payloads carry ids, never embeddings or images.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export type AttendanceStatus = 'present' | 'late' | 'absent' | 'excused';
export type MarkSource = 'device' | 'finalise' | 'override';

export interface Recognition {
  eventId: string;
  studentId: string;
  /** ISO-8601 instant at which the device saw the student. */
  seenAt: string;
  confidence: number;
}

export interface RecognitionBatch {
  deviceId: string;
  records: Recognition[];
}

/**
 * What a teacher's override sets: a status, or `unmarked` to withdraw an override that itself created the
 * student's mark (the undo of correcting an unmarked student), only while the session has not been finalised.
 */
export type OverrideStatus = AttendanceStatus | 'unmarked';

/** The event id of a mark that an override created (no sighting or finalisation came before it). */
export function overrideEventId(sessionId: string, studentId: string): string {
  return `override:${sessionId}:${studentId}`;
}

export interface OverrideRequest {
  studentId: string;
  status: OverrideStatus;
  reason: string;
  by: string;
}

export interface RosterEntry {
  studentId: string;
  status: AttendanceStatus | 'unmarked';
  markedAt?: string;
  source?: MarkSource;
  persisted: boolean;
}

export interface RosterView {
  sessionId: string;
  phase: 'opening' | 'open' | 'finalised';
  startsAt?: string;
  endsAt?: string;
  counts: Record<AttendanceStatus | 'unmarked', number>;
  ignored: { notEnrolled: number; outsideWindow: number; duplicates: number };
  students: RosterEntry[];
}

export const recognitionsSignal = defineSignal<[RecognitionBatch]>('recognitions');
export const overrideUpdate = defineUpdate<RosterEntry, [OverrideRequest]>('override');
export const rosterQuery = defineQuery<RosterView>('roster');

/** `session:{scheduleId}:{YYYY-MM-DD}` — one workflow per timetable slot and local date. */
export function sessionWorkflowId(scheduleId: number, sessionDate: string): string {
  return `session:${scheduleId}:${sessionDate}`;
}

export function parseSessionId(id: string): { scheduleId: number; sessionDate: string } | undefined {
  const m = /^session:(\d{1,9}):(\d{4}-\d{2}-\d{2})$/.exec(id);
  return m ? { scheduleId: Number(m[1]), sessionDate: m[2] } : undefined;
}
