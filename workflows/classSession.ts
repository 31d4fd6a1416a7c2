/**
 * One class session: the life of one timetable slot on one date. Receives the edge's recognition batches
 * as signals, keeps each enrolled student's earliest sighting, decides present/late, persists in coalesced
 * batches, accepts teachers' overrides, marks absentees once the class (plus grace) is over, and stays open
 * for an amendment window so that late uploads and corrections still land.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  log,
} from '@temporalio/workflow';
import type { SessionActivities, MarkToRecord, SessionInfo, SessionSummary } from '../activities/sessions';
import {
  overrideEventId,
  overrideUpdate,
  recognitionsSignal,
  rosterQuery,
  type AttendanceStatus,
  type MarkSource,
  type OverrideRequest,
  type Recognition,
  type RecognitionBatch,
  type RosterEntry,
  type RosterView,
} from './messages';
import { CourseIdKey, RoomIdKey, SessionDateKey } from './searchAttributes';
import { workflowNowMs } from './time';
import { Lock } from './lock';
import { sightingStatus, withinSessionWindow } from './markRules';

export interface ClassSessionInput {
  scheduleId: number;
  sessionDate: string;
}

const { openSession, recordMarks, finaliseSession, enrolledStudents, clearOverride } =
  proxyActivities<SessionActivities>({
    startToCloseTimeout: '30 seconds',
    // A mark the database refuses for its data is quarantined by recordMarks (activities/dataErrors.ts)
    // instead of holding the session's lock through endless retries; other failures are retried.
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
  });

const OVERRIDABLE: readonly AttendanceStatus[] = ['present', 'late', 'absent', 'excused'];
/** Flush early when this many marks are waiting, however recent the first one. */
const FLUSH_MAX_MARKS = 200;

interface Mark {
  studentId: string;
  status: AttendanceStatus;
  markedAt: number;
  eventId: string;
  source: MarkSource;
  confidence?: number;
  deviceId?: string;
  persisted: boolean;
  actor?: string;
  reason?: string;
}

export class SessionState {
  info?: SessionInfo;
  phase: RosterView['phase'] = 'opening';
  readonly marks = new Map<string, Mark>();
  readonly buffered: RecognitionBatch[] = [];
  readonly ignored = { notEnrolled: 0, outsideWindow: 0, duplicates: 0 };
  private enrolled = new Set<string>();
  private seenEvents = new Set<string>();
  /**
   * Recognitions of students missing from the enrolment snapshot taken when the session opened, held until
   * an activity has re-read the enrolment (a student may have joined the course since). Each student is
   * re-checked once per session.
   */
  private awaitingEnrolment: { deviceId: string; record: Recognition }[] = [];
  /**
   * Each student's earliest device sighting that arrived while a teacher's override stood (and so changed
   * nothing): if the teacher withdraws that override, the sighting becomes the mark. The inbox relay leaves
   * out a student's later sightings once it has delivered one, so this one may be the only one to come.
   */
  private readonly shadowed = new Map<string, Mark>();
  private recheckedStudents = new Set<string>();
  /** Off when replaying histories recorded before enrolment re-checks existed. */
  recheckEnrolment = true;

  open(info: SessionInfo): void {
    this.info = info;
    this.enrolled = new Set(info.enrolled);
    for (const m of info.existingMarks) {
      this.marks.set(m.studentId, {
        studentId: m.studentId,
        status: m.status,
        markedAt: Date.parse(m.markedAt),
        eventId: m.eventId,
        source: m.source,
        persisted: true,
      });
    }
    this.phase = info.closed ? 'finalised' : 'open';
    for (const batch of this.buffered.splice(0)) this.accept(batch);
  }

  isEnrolled(studentId: string): boolean {
    return this.enrolled.has(studentId);
  }

  /**
   * Why the student's mark cannot be withdrawn back to unmarked, or undefined if it can: only an override that
   * created the mark itself (nothing was seen or assumed before it), and only before finalisation — after it an
   * unmarked student is absent, and the teacher marks them absent instead.
   */
  clearRefusal(studentId: string): string | undefined {
    const m = this.marks.get(studentId);
    if (!m) return `student ${studentId} is already unmarked`;
    if (this.phase === 'finalised')
      return 'the session is finalised: an unmarked student counts as absent now; mark them absent instead';
    if (
      m.source !== 'override' ||
      !this.info ||
      m.eventId !== overrideEventId(this.info.sessionId, studentId)
    )
      return `student ${studentId} was seen by a device before the correction; set the status instead`;
    return undefined;
  }

  /** Applies one batch; returns nothing because signals cannot answer. */
  accept(batch: RecognitionBatch): void {
    if (!this.info) {
      this.buffered.push(batch);
      return;
    }
    for (const r of batch.records) this.acceptOne(batch.deviceId, r);
  }

  private acceptOne(deviceId: string, r: Recognition): void {
    const info = this.info!;
    if (this.seenEvents.has(r.eventId)) {
      this.ignored.duplicates++;
      return;
    }
    this.seenEvents.add(r.eventId);
    if (
      !this.enrolled.has(r.studentId) &&
      this.recheckEnrolment &&
      !this.recheckedStudents.has(r.studentId)
    ) {
      this.awaitingEnrolment.push({ deviceId, record: r });
      return;
    }
    if (!this.enrolled.has(r.studentId)) {
      this.ignored.notEnrolled++;
      log.warn('recognition of a student not enrolled in this session ignored', {
        studentId: r.studentId,
        deviceId,
      });
      return;
    }
    const seenAt = Date.parse(r.seenAt);
    if (!withinSessionWindow(info, seenAt)) {
      this.ignored.outsideWindow++;
      return;
    }
    const status = sightingStatus(info, seenAt);
    const existing = this.marks.get(r.studentId);
    if (existing) {
      // A teacher's word stands; an earlier sighting arriving out of order may improve late → present, and a
      // late upload corrects an absence that finalisation assumed.
      if (existing.source === 'override') {
        const shadow = this.shadowed.get(r.studentId);
        if (!shadow || seenAt < shadow.markedAt)
          this.shadowed.set(r.studentId, this.deviceMark(deviceId, r, status, seenAt));
        return this.countDuplicate();
      }
      const earlier = existing.source === 'device' && seenAt < existing.markedAt;
      const correctsAbsence = existing.source === 'finalise';
      if (!earlier && !correctsAbsence) return this.countDuplicate();
      if (earlier && existing.status === status) {
        // Same status: nothing worth rewriting once persisted.
        if (existing.persisted) return this.countDuplicate();
      }
    }
    this.marks.set(r.studentId, {
      ...this.deviceMark(deviceId, r, status, seenAt),
      eventId: existing?.persisted ? existing.eventId : r.eventId,
      reason: existing?.source === 'finalise' ? 'recognised after finalisation' : undefined,
    });
  }

  private deviceMark(deviceId: string, r: Recognition, status: AttendanceStatus, seenAt: number): Mark {
    return {
      studentId: r.studentId,
      status,
      markedAt: seenAt,
      eventId: r.eventId,
      source: 'device',
      confidence: r.confidence,
      deviceId,
      persisted: false,
      actor: `device:${deviceId}`,
    };
  }

  /**
   * Withdraws an override that created the student's mark (clearRefusal said it may): the student is unmarked,
   * or, if a device saw them while the override stood, marked by that sighting (`restoreSighting`: off when
   * replaying histories recorded before sightings under an override were kept).
   */
  withdrawOverride(studentId: string, restoreSighting: () => boolean): Mark {
    const withdrawn = this.marks.get(studentId)!;
    this.marks.delete(studentId);
    const shadow = this.shadowed.get(studentId);
    this.shadowed.delete(studentId);
    if (shadow && restoreSighting()) this.marks.set(studentId, shadow);
    return withdrawn;
  }

  /** Student ids whose recognitions wait for an enrolment re-check. */
  studentsToRecheck(): string[] {
    return [...new Set(this.awaitingEnrolment.map((a) => a.record.studentId))];
  }

  /** Applies a fresh enrolment list and replays the recognitions that waited for it. */
  applyEnrolment(enrolled: readonly string[], checked: readonly string[]): void {
    this.enrolled = new Set(enrolled);
    if (this.info) this.info = { ...this.info, enrolled: [...enrolled] };
    for (const id of checked) this.recheckedStudents.add(id);
    const waiting = this.awaitingEnrolment;
    this.awaitingEnrolment = [];
    for (const { deviceId, record } of waiting) {
      if (this.recheckedStudents.has(record.studentId)) {
        this.seenEvents.delete(record.eventId);
        this.acceptOne(deviceId, record);
      } else this.awaitingEnrolment.push({ deviceId, record });
    }
  }

  /** Whether anything received is not yet durable: marks to write or recognitions awaiting a re-check. */
  hasPendingWork(): boolean {
    return this.awaitingEnrolment.length > 0 || this.unpersisted().length > 0;
  }

  private countDuplicate(): void {
    this.ignored.duplicates++;
  }

  unpersisted(): Mark[] {
    return [...this.marks.values()].filter((m) => !m.persisted);
  }

  view(): RosterView {
    const counts: RosterView['counts'] = { present: 0, late: 0, absent: 0, excused: 0, unmarked: 0 };
    const students: RosterEntry[] = [];
    const ids = this.info ? [...this.info.enrolled] : [...this.marks.keys()];
    for (const studentId of ids.sort()) {
      const m = this.marks.get(studentId);
      const status = m ? m.status : 'unmarked';
      counts[status]++;
      students.push({
        studentId,
        status,
        markedAt: m ? new Date(m.markedAt).toISOString() : undefined,
        source: m?.source,
        persisted: m?.persisted ?? false,
      });
    }
    return {
      sessionId: this.info?.sessionId ?? '',
      phase: this.phase,
      startsAt: this.info?.startsAt,
      endsAt: this.info?.endsAt,
      counts,
      ignored: { ...this.ignored },
      students,
    };
  }
}

function toRecord(m: Mark): MarkToRecord {
  return {
    eventId: m.eventId,
    studentId: m.studentId,
    status: m.status,
    markedAt: new Date(m.markedAt).toISOString(),
    source: m.source,
    confidence: m.confidence,
    deviceId: m.deviceId,
    actor: m.actor,
    reason: m.reason,
  };
}

export async function classSession(input: ClassSessionInput): Promise<SessionSummary> {
  const state = new SessionState();
  const lock = new Lock();

  setHandler(recognitionsSignal, (batch) => state.accept(batch));
  setHandler(rosterQuery, () => state.view());
  setHandler(
    overrideUpdate,
    async (req: OverrideRequest) =>
      lock.run(async () => {
        // An override sent in the first instants of a session waits for it to open.
        await condition(() => state.info !== undefined);
        const info = state.info!;
        if (!state.isEnrolled(req.studentId)) {
          throw ApplicationFailure.create({
            message: `student ${req.studentId} is not enrolled in this session`,
            nonRetryable: true,
          });
        }
        if (req.status === 'unmarked') {
          // New in this version ('override-clear'): histories recorded before it cannot contain such an
          // update, because their validator refused `unmarked`; the marker records which runs took this path.
          patched('override-clear');
          const refusal = state.clearRefusal(req.studentId);
          if (refusal) throw ApplicationFailure.create({ message: refusal, nonRetryable: true });
          const withdrawn = state.withdrawOverride(req.studentId, () =>
            patched('override-clear-restores-sighting'),
          );
          await clearOverride({
            sessionId: info.sessionId,
            studentId: req.studentId,
            eventId: withdrawn.eventId,
            actor: req.by,
            reason: req.reason,
          });
          return state.view().students.find((s) => s.studentId === req.studentId)!;
        }
        const status = req.status;
        const previous = state.marks.get(req.studentId);
        const mark: Mark = {
          studentId: req.studentId,
          status,
          markedAt: previous?.markedAt ?? Math.min(workflowNowMs(), Date.parse(info.endsAt)),
          eventId: previous?.eventId ?? overrideEventId(info.sessionId, req.studentId),
          source: 'override',
          persisted: false,
          actor: req.by,
          reason: req.reason,
        };
        state.marks.set(req.studentId, mark);
        await recordMarks({ sessionId: info.sessionId, courseId: info.courseId, marks: [toRecord(mark)] });
        mark.persisted = true;
        return state.view().students.find((s) => s.studentId === req.studentId)!;
      }),
    {
      validator: (req: OverrideRequest) => {
        if (req.status !== 'unmarked' && !OVERRIDABLE.includes(req.status))
          throw new Error(`status must be one of ${OVERRIDABLE.join(', ')} or unmarked`);
        if (state.info && !state.isEnrolled(req.studentId)) {
          throw new Error(`student ${req.studentId} is not enrolled in this session`);
        }
        const refusal =
          req.status === 'unmarked' && state.info ? state.clearRefusal(req.studentId) : undefined;
        if (refusal) throw new Error(refusal);
        if (typeof req.reason !== 'string' || req.reason.trim().length === 0)
          throw new Error('reason is required');
        if (typeof req.by !== 'string' || req.by.length === 0) throw new Error('by is required');
      },
    },
  );

  // Histories recorded before enrolment re-checks existed ignored unknown students at once.
  state.recheckEnrolment = patched('enrolment-recheck');
  const info = await openSession(input);
  state.open(info);
  upsertSearchAttributes([
    { key: CourseIdKey, value: info.courseId },
    { key: RoomIdKey, value: info.roomId },
    { key: SessionDateKey, value: input.sessionDate },
  ]);

  const flush = () =>
    lock.run(async () => {
      const recheck = state.studentsToRecheck();
      if (recheck.length > 0) {
        state.applyEnrolment(await enrolledStudents({ courseId: info.courseId }), recheck);
      }
      const pending = state.unpersisted();
      if (pending.length === 0) return;
      await recordMarks({ sessionId: info.sessionId, courseId: info.courseId, marks: pending.map(toRecord) });
      for (const m of pending) if (state.marks.get(m.studentId) === m) m.persisted = true;
    });

  // Coalesce signals: wait for the first unpersisted mark, then a short debounce, then one activity.
  const drainUntil = async (deadlineMs: number) => {
    for (;;) {
      const remaining = deadlineMs - workflowNowMs();
      if (remaining <= 0) return;
      const hasWork = await condition(() => state.hasPendingWork(), remaining);
      if (!hasWork) return;
      await condition(() => state.unpersisted().length >= FLUSH_MAX_MARKS, info.flushMs);
      await flush();
    }
  };

  // Nothing received may be left behind: write until no handler runs and nothing waits to be written
  // (a signal or an override can arrive while the last write is in flight).
  const settle = async () => {
    for (;;) {
      await flush();
      await condition(allHandlersFinished);
      if (!state.hasPendingWork()) return;
    }
  };
  // Finalisation runs under the same lock as overrides' writes, then settles whatever arrived meanwhile;
  // if something did, the summary is written again.
  const finalise = async (): Promise<SessionSummary> => {
    for (;;) {
      await settle();
      const summary = await lock.run(() => finaliseSession({ sessionId: info.sessionId }));
      if (!state.hasPendingWork() && allHandlersFinished()) return summary;
    }
  };

  if (!info.closed) {
    await drainUntil(Date.parse(info.endsAt) + info.graceMinutes * 60_000);
    await finalise();
    // Finalisation marked everyone still unmarked absent (idempotently, in one transaction); mirror that.
    for (const m of state.info?.enrolled ?? info.enrolled) {
      if (!state.marks.has(m)) {
        state.marks.set(m, {
          studentId: m,
          status: 'absent',
          markedAt: Date.parse(info.endsAt),
          eventId: `absent:${info.sessionId}:${m}`,
          source: 'finalise',
          persisted: true,
        });
      }
    }
    state.phase = 'finalised';
  }

  // Amendment window: overrides and late uploads still land; the summary is rewritten if anything changed.
  await drainUntil(workflowNowMs() + info.amendMinutes * 60_000);
  return await finalise();
}
