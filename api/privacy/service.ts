/**
 * Erasure of a student's biometric data (admin), all in one transaction with its audit_log row: revoke the
 * biometric consent (so no enrollment can store faces again without a new one — the enrollment activity
 * re-checks consent under a lock), delete every face embedding and bump the roster version of each of the
 * student's courses (devices see a new ETag and drop the faces at their next sync); then, still before the
 * commit, stop a running enrollment and delete staged photos. Nothing is erased unless the audit row is
 * written. The audit row records counts, never data. Attendance marks are not biometric and are kept.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { enrollWorkflowId } from '../../lib/enrollment';
import { AppError } from '../errors';

export interface ErasureResult {
  student_id: string;
  consents_revoked: number;
  embeddings_deleted: number;
  photos_deleted: number;
  courses_bumped: string[];
  enrollment_cancelled: boolean;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Staging batches are `<studentId>-<ms>-<12 hex>` (lib/enrollment stagePhotos). */
async function deleteStagedPhotos(stagingDir: string, studentId: string): Promise<number> {
  const mine = new RegExp(`^${escapeRegExp(studentId)}-\\d+-[0-9a-f]{12}$`);
  let entries: string[];
  try {
    entries = await fsp.readdir(stagingDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let deleted = 0;
  for (const name of entries.filter((e) => mine.test(e))) {
    const dir = path.join(stagingDir, name);
    deleted += (await fsp.readdir(dir).catch(() => [] as string[])).filter((f) => !f.startsWith('.')).length;
    await fsp.rm(dir, { recursive: true, force: true });
  }
  return deleted;
}

export async function eraseBiometrics(
  deps: { db: Knex; temporal: Client; stagingDir: string },
  studentId: string,
  actor: string,
  reason: string | undefined,
): Promise<ErasureResult> {
  return deps.db.transaction(async (trx) => {
    if (!(await trx('students').where({ id: studentId }).first('id')))
      throw new AppError(404, 'not_found', `student ${studentId} does not exist`);
    // The audit row first: a value it cannot hold (a NUL in the reason) fails the request before anything
    // is erased, and an erasure can never commit without its audit row.
    const [audit] = await trx('audit_log')
      .insert({
        actor,
        action: 'biometrics.erase',
        entity: 'student',
        entity_id: studentId,
        reason: reason ?? null,
      })
      .returning('id');
    const consentsRevoked = await trx('consents')
      .where({ student_id: studentId, kind: 'biometric_enrollment' })
      .whereNull('revoked_at')
      .update({ revoked_at: trx.fn.now() });
    const embeddingsDeleted = await trx('face_embeddings').where({ student_id: studentId }).delete();
    const courses: string[] = await trx('courses')
      .whereIn('id', trx('enrollments').where({ student_id: studentId }).select('course_id'))
      .increment('roster_version', 1)
      .returning('id')
      .then((rows: { id: string }[]) => rows.map((r) => r.id).sort());
    // Effects outside the database come last, once every row is written. A running enrollment cannot store
    // faces meanwhile: its activity re-checks consent under a lock this transaction holds until it commits.
    let enrollmentCancelled = false;
    try {
      await deps.temporal.workflow.getHandle(enrollWorkflowId(studentId)).terminate('biometric data erased');
      enrollmentCancelled = true;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    const photosDeleted = await deleteStagedPhotos(deps.stagingDir, studentId);
    await trx('audit_log')
      .where({ id: (audit as { id: string }).id })
      .update({
        after: JSON.stringify({
          consentsRevoked,
          embeddingsDeleted,
          photosDeleted,
          coursesBumped: courses,
          enrollmentCancelled,
        }),
      });
    return {
      student_id: studentId,
      consents_revoked: consentsRevoked,
      embeddings_deleted: embeddingsDeleted,
      photos_deleted: photosDeleted,
      courses_bumped: courses,
      enrollment_cancelled: enrollmentCancelled,
    };
  });
}
