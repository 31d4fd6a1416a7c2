/**
 * Activities of the enrollStudent workflow: check consent, turn staged photos into sealed embeddings,
 * discard the photos. Embeddings never leave this module except encrypted into Postgres; what returns to
 * the workflow (and so into its history) is a per-photo report of ids, counts and reasons.
 */
import { performance } from 'node:perf_hooks';
import { promises as fsp } from 'node:fs';
import type { Knex } from 'knex';
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import {
  createFacePipeline,
  ImageDecodeError,
  InvalidImageError,
  type EmbedderName,
  type FacePipeline,
  type FaceQuality,
} from '../models';
import {
  discardStagedPhotos,
  resolvePhotoRef,
  PhotoRefError,
  type EnrollmentSettings,
} from '../lib/enrollment';

export const ENROLLMENT_FAILURE = {
  consentMissing: 'ConsentMissing',
  unknownStudent: 'UnknownStudent',
  invalidInput: 'InvalidEnrollment',
} as const;

export type PhotoRejectionCode =
  'INVALID_REF' | 'PHOTO_MISSING' | 'UNREADABLE_IMAGE' | 'NO_FACE' | 'MULTIPLE_FACES' | 'LOW_QUALITY';

export interface PhotoReport {
  ref: string;
  status: 'accepted' | 'rejected';
  /** Present when rejected: a stable code and a sentence a person can act on. */
  reason?: { code: PhotoRejectionCode; message: string };
  quality?: Pick<FaceQuality, 'detectorScore' | 'sharpness' | 'yaw' | 'pitch' | 'eyeDistancePx'>;
  embeddingId?: string;
  encodeMs: number;
}

export interface EnrollmentReport {
  studentId: string;
  modelId: string;
  stored: number;
  rejected: number;
  /** Embeddings of this model that the new ones replaced (re-enrollment replaces, it never appends). */
  replaced: number;
  embeddingIds: string[];
  rosterVersions: { courseId: string; rosterVersion: number }[];
  photos: PhotoReport[];
}

export interface EncodePhotosInput {
  studentId: string;
  photoRefs: string[];
  by: string;
}

const pipelines = new Map<string, Promise<FacePipeline>>();

/**
 * One face pipeline per (model dir, embedder) per process, loaded on first use: a worker that never
 * enrolls anybody never loads the models, and concurrent activities share one set of ONNX sessions.
 */
export function sharedFacePipeline(modelDir: string, embedder: EmbedderName): Promise<FacePipeline> {
  const key = `${modelDir}\0${embedder}`;
  let p = pipelines.get(key);
  if (!p) {
    p = createFacePipeline({ modelDir, embedder, detector: 'blazeface' });
    pipelines.set(key, p);
    // A failed load (models not installed yet) must not poison every later attempt.
    p.catch(() => pipelines.delete(key));
  }
  return p;
}

function reject(ref: string, code: PhotoRejectionCode, message: string, started: number): PhotoReport {
  return {
    ref,
    status: 'rejected',
    reason: { code, message },
    encodeMs: Math.round(performance.now() - started),
  };
}

interface EncodedPhoto {
  report: PhotoReport;
  embedding?: Float32Array;
  quality?: number;
}

async function encodePhoto(
  pipeline: FacePipeline,
  settings: EnrollmentSettings,
  ref: string,
): Promise<EncodedPhoto> {
  const started = performance.now();
  let file: string;
  try {
    file = resolvePhotoRef(settings.stagingDir, ref);
  } catch (err) {
    if (err instanceof PhotoRefError) return { report: reject(ref, 'INVALID_REF', err.message, started) };
    throw err;
  }
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return {
      report: reject(ref, 'PHOTO_MISSING', 'the staged photo no longer exists (already discarded?)', started),
    };
  }
  let faces;
  try {
    faces = await pipeline.embedFaces(bytes);
  } catch (err) {
    if (err instanceof ImageDecodeError || err instanceof InvalidImageError) {
      return {
        report: reject(
          ref,
          'UNREADABLE_IMAGE',
          `the file could not be read as an image: ${err.message}`,
          started,
        ),
      };
    }
    throw err;
  }
  if (faces.length === 0) {
    return {
      report: reject(
        ref,
        'NO_FACE',
        'no face was found: use a well-lit, front-facing photo with the face clearly visible',
        started,
      ),
    };
  }
  if (faces.length > 1) {
    return {
      report: reject(
        ref,
        'MULTIPLE_FACES',
        `${faces.length} faces were found: an enrollment photo must show only the student`,
        started,
      ),
    };
  }
  const face = faces[0]!;
  const q = face.quality;
  const quality = {
    detectorScore: q.detectorScore,
    sharpness: Math.round(q.sharpness),
    yaw: Number(q.yaw.toFixed(3)),
    pitch: Number(q.pitch.toFixed(3)),
    eyeDistancePx: Math.round(q.eyeDistancePx),
  };
  if (!q.ok) {
    const report = reject(ref, 'LOW_QUALITY', q.issues.map((i) => i.message).join('; '), started);
    return { report: { ...report, quality } };
  }
  return {
    report: { ref, status: 'accepted', quality, encodeMs: Math.round(performance.now() - started) },
    embedding: face.embedding,
    quality: q.detectorScore,
  };
}

/** Active biometric consent, or a non-retryable failure the workflow (and the API) can name. */
async function assertConsent(db: Knex, studentId: string, lock: boolean): Promise<number> {
  const student = await db('students').where({ id: studentId }).first('id');
  if (!student) {
    throw ApplicationFailure.create({
      type: ENROLLMENT_FAILURE.unknownStudent,
      message: `student ${studentId} does not exist`,
      nonRetryable: true,
    });
  }
  const q = db('consents')
    .where({ student_id: studentId, kind: 'biometric_enrollment' })
    .whereNull('revoked_at')
    .orderBy('granted_at', 'desc')
    .first('id');
  // FOR SHARE: a revocation committing concurrently waits for the embeddings' transaction (or vice versa).
  const consent = lock ? await q.forShare() : await q;
  if (!consent) {
    throw ApplicationFailure.create({
      type: ENROLLMENT_FAILURE.consentMissing,
      message: `student ${studentId} has no active biometric enrollment consent: record it first (POST /api/v1/students/${studentId}/consent)`,
      nonRetryable: true,
    });
  }
  return Number(consent.id);
}

export function createEnrollmentActivities(db: Knex, settings: EnrollmentSettings) {
  const modelId = settings.embedder;
  return {
    async checkEnrollmentConsent(input: { studentId: string }): Promise<{ consentId: number }> {
      return { consentId: await assertConsent(db, input.studentId, false) };
    },

    /**
     * Detect → one face → quality gate → embed, per photo; then, in one transaction (consent re-checked
     * and locked): replace this student's embeddings of this model, bump the roster version of every
     * course they are in, write the audit row. Idempotent: a retry replaces what the first attempt stored.
     */
    async encodeEnrollmentPhotos(input: EncodePhotosInput): Promise<EnrollmentReport> {
      const pipeline = await sharedFacePipeline(settings.modelDir, settings.embedder);
      const encoded: EncodedPhoto[] = [];
      for (const [i, ref] of input.photoRefs.entries()) {
        encoded.push(await encodePhoto(pipeline, settings, ref));
        heartbeat({ photo: i + 1, of: input.photoRefs.length });
      }
      const accepted = encoded.filter((e) => e.embedding);
      const photos = encoded.map((e) => e.report);
      const base = { studentId: input.studentId, modelId, rejected: photos.length - accepted.length, photos };
      if (accepted.length === 0) {
        return { ...base, stored: 0, replaced: 0, embeddingIds: [], rosterVersions: [] };
      }

      return db.transaction(async (trx) => {
        const consentId = await assertConsent(trx, input.studentId, true);
        const replaced = await trx('face_embeddings')
          .where({ student_id: input.studentId, model_id: modelId })
          .del();
        const rows = accepted.map((e) => {
          const sealed = settings.cipher.seal(e.embedding!, { studentId: input.studentId, modelId });
          return {
            student_id: input.studentId,
            model_id: modelId,
            vector: sealed.sealed,
            key_id: sealed.keyId,
            quality: e.quality,
          };
        });
        const inserted: { id: number | string }[] = await trx('face_embeddings').insert(rows).returning('id');
        const ids = inserted.map((r) => String(r.id));
        accepted.forEach((e, i) => (e.report.embeddingId = ids[i]));
        const versions: { id: string; roster_version: number | string }[] = await trx('courses')
          .whereIn('id', trx('enrollments').where({ student_id: input.studentId }).select('course_id'))
          .increment('roster_version', 1)
          .returning(['id', 'roster_version']);
        const rosterVersions = versions
          .map((v) => ({ courseId: v.id, rosterVersion: Number(v.roster_version) }))
          .sort((a, b) => a.courseId.localeCompare(b.courseId));
        await trx('audit_log').insert({
          actor: input.by,
          action: 'enrollment.store',
          entity: 'student',
          entity_id: input.studentId,
          before: JSON.stringify({ modelId, embeddings: replaced }),
          after: JSON.stringify({
            modelId,
            embeddingIds: ids,
            keyId: settings.cipher.activeKeyId,
            consentId,
            rejected: base.rejected,
          }),
          reason: null,
        });
        return { ...base, stored: ids.length, replaced, embeddingIds: ids, rosterVersions };
      });
    },

    async discardEnrollmentPhotos(input: {
      photoRefs: string[];
    }): Promise<{ discarded: number; kept: number }> {
      if (settings.keepPhotos) return { discarded: 0, kept: input.photoRefs.length };
      const safe = input.photoRefs.filter((ref) => {
        try {
          resolvePhotoRef(settings.stagingDir, ref);
          return true;
        } catch {
          return false;
        }
      });
      return { discarded: await discardStagedPhotos(settings.stagingDir, safe), kept: 0 };
    },
  };
}

/** Heartbeats when running inside a Temporal activity; a no-op when the CLI runs this code directly. */
function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not in an activity context (scripts/encode-faces.ts --direct).
  }
}

export type EnrollmentActivities = ReturnType<typeof createEnrollmentActivities>;
