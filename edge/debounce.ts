/**
 * One record per student per sighting window: the first sighting of a student in a class emits a record
 * with a fresh event id (crypto.randomUUID, the idempotency key of every retry), further sightings within
 * the window are swallowed. Emitting at once (rather than at the end of the window) puts the mark in the
 * durable outbox within a frame of the student being seen.
 */
import crypto from 'node:crypto';
import type { OutboxRecord } from './outbox';

export interface Sighting {
  studentId: string;
  confidence: number;
}

export interface SessionRef {
  sessionId: string;
  courseId: string;
}

export class Debouncer {
  private readonly lastEmitted = new Map<string, number>();
  suppressed = 0;

  constructor(private readonly windowMs: number) {}

  offer(sighting: Sighting, at: Date, session: SessionRef): OutboxRecord | undefined {
    const key = `${session.sessionId}\0${sighting.studentId}`;
    const t = at.getTime();
    const last = this.lastEmitted.get(key);
    if (last !== undefined && t - last < this.windowMs && t >= last) {
      this.suppressed++;
      return undefined;
    }
    this.lastEmitted.set(key, t);
    if (this.lastEmitted.size > 10_000) this.prune(t);
    return {
      event_id: crypto.randomUUID(),
      student_id: sighting.studentId,
      session_id: session.sessionId,
      course_id: session.courseId,
      timestamp: at.toISOString(),
      confidence: Math.max(0, Math.min(1, Math.round(sighting.confidence * 1e4) / 1e4)),
    };
  }

  private prune(now: number): void {
    for (const [k, t] of this.lastEmitted) if (now - t >= this.windowMs) this.lastEmitted.delete(k);
  }
}
