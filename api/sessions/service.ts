/**
 * A teacher's override of one mark: through the session workflow's `override` update while the workflow
 * runs (validated there, written by its recordMarks activity), or — once the workflow has ended — through
 * the session's own writer (amendEndedSession: the mark with its audit_log row, then the summary rewritten).
 */
import type { Knex } from 'knex';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { amendEndedSession } from '../../activities/sessions';
import { overrideUpdate, parseSessionId, type OverrideStatus } from '../../workflows/messages';
import { assertCourseAccess, type AuthenticatedUser } from '../auth/user';
import { AppError } from '../errors';

export interface OverrideInput {
  student_id: string;
  status: OverrideStatus;
  reason: string;
}

export interface OverrideResult {
  session_id: string;
  student_id: string;
  status: OverrideStatus;
  source: 'override';
  by: string;
  /** `workflow`: the running session took it; `database`: the session had ended, written directly. */
  applied_via: 'workflow' | 'database';
}

function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

export async function overrideMark(
  deps: { db: Knex; temporal: Client },
  user: AuthenticatedUser,
  sessionId: string,
  input: OverrideInput,
): Promise<OverrideResult> {
  const parsed = parseSessionId(sessionId);
  if (!parsed)
    throw new AppError(400, 'invalid_session_id', 'session ids look like session:{scheduleId}:{YYYY-MM-DD}');
  const session = await deps.db('class_sessions').where({ id: sessionId }).first('course_id', 'ends_at');
  const courseId: string | undefined =
    session?.course_id ??
    (await deps.db('schedules').where({ id: parsed.scheduleId }).first('course_id'))?.course_id;
  if (!courseId) throw new AppError(404, 'not_found', `session ${sessionId} does not exist`);
  await assertCourseAccess(deps.db, user, courseId);
  const enrolled = await deps
    .db('enrollments')
    .where({ course_id: courseId, student_id: input.student_id })
    .first('student_id');
  if (!enrolled)
    throw new AppError(422, 'not_enrolled', `student ${input.student_id} is not enrolled in ${courseId}`);

  const result = {
    session_id: sessionId,
    student_id: input.student_id,
    status: input.status,
    source: 'override' as const,
    by: user.id,
  };
  try {
    await deps.temporal.workflow.getHandle(sessionId).executeUpdate(overrideUpdate, {
      args: [{ studentId: input.student_id, status: input.status, reason: input.reason, by: user.id }],
    });
    return { ...result, applied_via: 'workflow' };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError)
      throw new AppError(422, 'override_rejected', rootMessage(err));
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  // The workflow has ended (or never ran): the session row decides whether there is anything to amend.
  if (!session) throw new AppError(409, 'session_not_open', `session ${sessionId} has not started yet`);
  const status = input.status;
  if (status === 'unmarked')
    throw new AppError(
      422,
      'override_rejected',
      'the session has ended: an unmarked student counts as absent now; mark them absent instead',
    );
  const existing = await deps
    .db('attendance_logs')
    .where({ session_id: sessionId, student_id: input.student_id })
    .first('event_id', 'marked_at');
  const endsAt = new Date(session.ends_at).getTime();
  await amendEndedSession(deps.db, {
    sessionId,
    courseId,
    marks: [
      {
        eventId: existing?.event_id ?? `override:${sessionId}:${input.student_id}`,
        studentId: input.student_id,
        status,
        markedAt: new Date(
          existing ? new Date(existing.marked_at).getTime() : Math.min(Date.now(), endsAt),
        ).toISOString(),
        source: 'override',
        actor: user.id,
        reason: input.reason,
      },
    ],
  });
  return { ...result, applied_via: 'database' };
}
