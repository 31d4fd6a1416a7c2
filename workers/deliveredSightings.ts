/**
 * What the inbox relay has delivered, per session and student: the earliest sighting it handed to the
 * session's workflow. The workflow keeps each student's earliest sighting and nothing else of them
 * (workflows/classSession.ts: a later sighting of a student already marked by a device, or under a teacher's
 * override, changes nothing, and a withdrawn override falls back to the sighting it shadowed), so once a
 * sighting inside the session's window is delivered, the student's later sightings are marked delivered
 * without a signal. A camera sees each face many times a lesson: Temporal's cost (and Temporal Cloud's bill)
 * then follows the marks, not the sightings, and every sighting stays in `recognition_events`.
 *
 * Memory of this relay only: a restarted relay, or another relay, delivers a sighting it has no record of,
 * which is only a signal the workflow ignores. Bounded by `maxSessions` (least recently used first).
 */
export class DeliveredSightings {
  private readonly sessions = new Map<string, Map<string, number>>();

  constructor(private readonly maxSessions = 10_000) {}

  /** Whether an earlier or equal sighting of this student in this session has been delivered. */
  covers(sessionId: string, studentId: string, seenAtMs: number): boolean {
    const earliest = this.sessions.get(sessionId)?.get(studentId);
    return earliest !== undefined && earliest <= seenAtMs;
  }

  /** Records sightings the session's workflow has received (only those inside its window: see the relay). */
  delivered(sessionId: string, sightings: readonly { studentId: string; seenAtMs: number }[]): void {
    if (sightings.length === 0) return;
    const students = this.sessions.get(sessionId) ?? new Map<string, number>();
    // Most recently used last: re-inserting keeps the eviction order.
    this.sessions.delete(sessionId);
    this.sessions.set(sessionId, students);
    for (const { studentId, seenAtMs } of sightings) {
      const earliest = students.get(studentId);
      if (earliest === undefined || seenAtMs < earliest) students.set(studentId, seenAtMs);
    }
    for (const oldest of this.sessions.keys()) {
      if (this.sessions.size <= this.maxSessions) break;
      this.sessions.delete(oldest);
    }
  }

  /** Forgets a session (its workflow has ended: later sightings go through the amendment path). */
  forget(sessionId: string): void {
    this.sessions.delete(sessionId);
  }
}
