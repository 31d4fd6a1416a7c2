/**
 * Enrolls one student's face: consent first, then the photos (by ref into the staging directory, never
 * their bytes) are encoded and sealed by one activity, then the photos are discarded whatever happened,
 * because a photo without a purpose is biometric data we should not hold. Id: `enroll:{studentId}`.
 */
import { ApplicationFailure, CancellationScope, proxyActivities } from '@temporalio/workflow';
import type { EnrollmentActivities, EnrollmentReport } from '../activities/enrollment';

export interface EnrollStudentInput {
  studentId: string;
  /** Paths relative to the enrollment staging directory. */
  photoRefs: string[];
  /** Who asked (user id, `cli:<user>`), recorded in the audit log. */
  by: string;
}

/** Mirrors MAX_PHOTOS_PER_ENROLLMENT in lib/enrollment.ts (workflow code cannot import Node modules). */
const MAX_PHOTOS = 10;
const NON_RETRYABLE = ['ConsentMissing', 'UnknownStudent', 'InvalidEnrollment'];

const { checkEnrollmentConsent, discardEnrollmentPhotos } = proxyActivities<EnrollmentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 10,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
});

// Loading the models on a cold worker takes seconds, each photo ~0.1 s (Pi: ~1 s); heartbeats per photo.
const { encodeEnrollmentPhotos } = proxyActivities<EnrollmentActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
});

export async function enrollStudent(input: EnrollStudentInput): Promise<EnrollmentReport> {
  const refs = input.photoRefs ?? [];
  if (
    refs.length === 0 ||
    refs.length > MAX_PHOTOS ||
    typeof input.by !== 'string' ||
    input.by.length === 0
  ) {
    throw ApplicationFailure.create({
      type: 'InvalidEnrollment',
      message: `an enrollment needs 1–${MAX_PHOTOS} photo refs and who asked (got ${refs.length} refs)`,
      nonRetryable: true,
    });
  }
  try {
    await checkEnrollmentConsent({ studentId: input.studentId });
    return await encodeEnrollmentPhotos({ studentId: input.studentId, photoRefs: refs, by: input.by });
  } finally {
    // Runs on failure and cancellation too.
    await CancellationScope.nonCancellable(() => discardEnrollmentPhotos({ photoRefs: refs }));
  }
}
