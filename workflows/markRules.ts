/**
 * The rules that turn a sighting into a mark, in one place for the session workflow and for the API's
 * late-upload path (a batch for a session whose workflow has already ended). Pure functions: no I/O,
 * deterministic, safe in workflow code.
 */
import type { AttendanceStatus } from './messages';

export interface SessionTiming {
  startsAt: string;
  endsAt: string;
  lateAfterMinutes: number;
  earlyMinutes: number;
  graceMinutes: number;
}

/** Whether a sighting at `seenAtMs` belongs to the session: from `early` before the start to `grace` after the end. */
export function withinSessionWindow(t: SessionTiming, seenAtMs: number): boolean {
  if (!Number.isFinite(seenAtMs)) return false;
  const from = Date.parse(t.startsAt) - t.earlyMinutes * 60_000;
  const to = Date.parse(t.endsAt) + t.graceMinutes * 60_000;
  return seenAtMs >= from && seenAtMs <= to;
}

/** present up to `lateAfterMinutes` after the start, late after that. */
export function sightingStatus(
  t: Pick<SessionTiming, 'startsAt' | 'lateAfterMinutes'>,
  seenAtMs: number,
): AttendanceStatus {
  return seenAtMs <= Date.parse(t.startsAt) + t.lateAfterMinutes * 60_000 ? 'present' : 'late';
}
