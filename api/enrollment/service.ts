/**
 * Enrollment use cases behind the routes: record or revoke consent, stage photos and start the
 * enrollStudent workflow, read back its outcome. Photos live only in the staging directory until the
 * workflow discards them; they are never logged and never put into workflow payloads.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  discardStagedPhotos,
  enrollWorkflowId,
  stagePhotos,
  PhotoRefError,
  type EnrollmentSettings,
} from '../../lib/enrollment';
import type { EnrollmentReport } from '../../activities/enrollment';
import type { enrollStudent } from '../../workflows/enrollStudent';
import { AppError } from '../errors';

export interface EnrollmentDeps {
  db: Knex;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  settings: EnrollmentSettings;
  uploadLimit: string;
}

export interface ConsentView {
  id: number;
  studentId: string;
  kind: 'biometric_enrollment';
  grantedBy: string;
  grantedAt: string;
}

async function assertStudent(db: Knex, studentId: string): Promise<void> {
  const found = await db('students').where({ id: studentId }).first('id');
  if (!found) throw new AppError(404, 'not_found', `student ${studentId} does not exist`);
}

async function activeConsent(db: Knex, studentId: string): Promise<ConsentView | undefined> {
  const row = await db('consents')
    .where({ student_id: studentId, kind: 'biometric_enrollment' })
    .whereNull('revoked_at')
    .orderBy('granted_at', 'desc')
    .first('id', 'granted_by', 'granted_at');
  return row
    ? {
        id: Number(row.id),
        studentId,
        kind: 'biometric_enrollment',
        grantedBy: row.granted_by,
        grantedAt: new Date(row.granted_at).toISOString(),
      }
    : undefined;
}

/** Idempotent: an active consent is returned as it is (created=false). */
export async function grantConsent(
  db: Knex,
  studentId: string,
  grantedBy: string,
): Promise<{ consent: ConsentView; created: boolean }> {
  await assertStudent(db, studentId);
  return db.transaction(async (trx) => {
    // Serialise concurrent grants for one student so that only one consent row is created.
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [`consent:${studentId}`]);
    const existing = await activeConsent(trx, studentId);
    if (existing) return { consent: existing, created: false };
    await trx('consents').insert({
      student_id: studentId,
      kind: 'biometric_enrollment',
      granted_by: grantedBy,
    });
    const consent = (await activeConsent(trx, studentId))!;
    await trx('audit_log').insert({
      actor: grantedBy,
      action: 'consent.grant',
      entity: 'student',
      entity_id: studentId,
      after: JSON.stringify({ consentId: consent.id, kind: consent.kind }),
    });
    return { consent, created: true };
  });
}

/**
 * Revoking consent deletes the student's embeddings with the audit row in one transaction; the delete's
 * trigger (face_embeddings_roster_delete) bumps the roster version of the student's courses in that same
 * transaction, so devices see a new ETag and drop the faces at their next roster fetch — all or nothing.
 */
export async function revokeConsent(
  db: Knex,
  studentId: string,
  revokedBy: string,
  reason: string | undefined,
): Promise<{ revoked: number; embeddingsDeleted: number }> {
  await assertStudent(db, studentId);
  return db.transaction(async (trx) => {
    const revoked = await trx('consents')
      .where({ student_id: studentId, kind: 'biometric_enrollment' })
      .whereNull('revoked_at')
      .update({ revoked_at: trx.fn.now() });
    const embeddingsDeleted = await trx('face_embeddings').where({ student_id: studentId }).del();
    await trx('audit_log').insert({
      actor: revokedBy,
      action: 'consent.revoke',
      entity: 'student',
      entity_id: studentId,
      after: JSON.stringify({ revoked, embeddingsDeleted }),
      reason: reason ?? null,
    });
    return { revoked, embeddingsDeleted };
  });
}

export interface StartedEnrollment {
  workflowId: string;
  runId: string;
  photos: number;
}

export async function startEnrollment(
  deps: EnrollmentDeps,
  studentId: string,
  photos: readonly Buffer[],
  by: string,
): Promise<StartedEnrollment> {
  await assertStudent(deps.db, studentId);
  if (!(await activeConsent(deps.db, studentId))) {
    throw new AppError(
      409,
      'consent_required',
      `student ${studentId} has no active biometric enrollment consent: POST /api/v1/students/${studentId}/consent first`,
    );
  }
  let refs: string[];
  try {
    refs = await stagePhotos(deps.settings.stagingDir, studentId, photos);
  } catch (err) {
    if (err instanceof PhotoRefError) throw new AppError(415, 'unsupported_image', err.message);
    throw err;
  }
  const workflowId = enrollWorkflowId(studentId);
  try {
    const handle = await deps.temporal.workflow.start<typeof enrollStudent>('enrollStudent', {
      taskQueue: deps.taskQueue,
      workflowId,
      args: [{ studentId, photoRefs: refs, by }],
    });
    return { workflowId, runId: handle.firstExecutionRunId, photos: refs.length };
  } catch (err) {
    await discardStagedPhotos(deps.settings.stagingDir, refs);
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new AppError(
        409,
        'enrollment_in_progress',
        `an enrollment of ${studentId} is already running (${workflowId})`,
      );
    }
    throw err;
  }
}

/** The innermost failure (WorkflowFailedError → ActivityFailure → ApplicationFailure) says what went wrong. */
function rootFailure(err: unknown): { type: string | null; message: string } {
  let e = err as { cause?: unknown; type?: string; message?: string };
  while (e.cause) e = e.cause as typeof e;
  return { type: e.type ?? null, message: e.message ?? String(err) };
}

export type EnrollmentStatus =
  | { workflowId: string; status: 'running' }
  | { workflowId: string; status: 'completed'; report: EnrollmentReport }
  | { workflowId: string; status: 'failed'; failure: { type: string | null; message: string } };

export async function enrollmentStatus(
  deps: EnrollmentDeps,
  studentId: string,
): Promise<EnrollmentStatus & { storedEmbeddings: number }> {
  await assertStudent(deps.db, studentId);
  const workflowId = enrollWorkflowId(studentId);
  const [{ n }] = await deps
    .db('face_embeddings')
    .where({ student_id: studentId, model_id: deps.settings.embedder })
    .count<{ n: number }[]>('* as n');
  const handle = deps.temporal.workflow.getHandle<typeof enrollStudent>(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new AppError(404, 'not_found', `no enrollment of ${studentId} was started`);
    throw err;
  }
  const storedEmbeddings = Number(n);
  switch (description.status.name) {
    case 'RUNNING':
      return { workflowId, status: 'running', storedEmbeddings };
    case 'COMPLETED':
      return { workflowId, status: 'completed', report: await handle.result(), storedEmbeddings };
    default:
      try {
        await handle.result();
      } catch (err) {
        return { workflowId, status: 'failed', failure: rootFailure(err), storedEmbeddings };
      }
      return {
        workflowId,
        status: 'failed',
        failure: { type: null, message: description.status.name },
        storedEmbeddings,
      };
  }
}
