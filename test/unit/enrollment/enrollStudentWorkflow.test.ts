/**
 * enrollStudent on the time-skipping test server with mocked activities: consent gates everything,
 * photos are discarded whatever happens, and the report comes back as the workflow result.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type {
  EnrollmentActivities,
  EnrollmentReport,
  EncodePhotosInput,
} from '../../../activities/enrollment';
import { createTimeSkippingEnv } from '../../../lib/temporal/testServer';
import type { enrollStudent } from '../../../workflows/enrollStudent';
import { maybeRecordHistory } from '../../support/histories';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let seq = 0;

interface Calls {
  consent: string[];
  encode: EncodePhotosInput[];
  discard: string[][];
}

function mocks(overrides: Partial<EnrollmentActivities> = {}): {
  calls: Calls;
  activities: EnrollmentActivities;
} {
  const calls: Calls = { consent: [], encode: [], discard: [] };
  const report = (input: EncodePhotosInput): EnrollmentReport => ({
    studentId: input.studentId,
    modelId: 'faceres',
    stored: 1,
    rejected: 1,
    replaced: 0,
    embeddingIds: ['41'],
    rosterVersions: [{ courseId: 'CS101', rosterVersion: 2 }],
    photos: [
      { ref: input.photoRefs[0]!, status: 'accepted', embeddingId: '41', encodeMs: 80 },
      {
        ref: input.photoRefs[1]!,
        status: 'rejected',
        reason: { code: 'NO_FACE', message: 'no face was found' },
        encodeMs: 40,
      },
    ],
  });
  const activities: EnrollmentActivities = {
    checkEnrollmentConsent: async ({ studentId }) => {
      calls.consent.push(studentId);
      return { consentId: 7 };
    },
    encodeEnrollmentPhotos: async (input) => {
      calls.encode.push(input);
      return report(input);
    },
    discardEnrollmentPhotos: async ({ photoRefs }) => {
      calls.discard.push(photoRefs);
      return { discarded: photoRefs.length, kept: 0 };
    },
    ...overrides,
  };
  // Wrap overrides so they are recorded too.
  const recorded = { ...activities };
  if (overrides.checkEnrollmentConsent) {
    recorded.checkEnrollmentConsent = async (input) => {
      calls.consent.push(input.studentId);
      return overrides.checkEnrollmentConsent!(input);
    };
  }
  if (overrides.encodeEnrollmentPhotos) {
    recorded.encodeEnrollmentPhotos = async (input) => {
      calls.encode.push(input);
      return overrides.encodeEnrollmentPhotos!(input);
    };
  }
  return { calls, activities: recorded };
}

/** Runs one enrollment to its end; `recordAs` names the history fixture it records (RECORD_HISTORIES=1). */
async function run(
  activities: EnrollmentActivities,
  args: Parameters<typeof enrollStudent>[0],
  recordAs?: string,
): Promise<EnrollmentReport> {
  const taskQueue = `enroll-wf-${process.pid}-${++seq}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: bundle,
    activities,
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start<typeof enrollStudent>('enrollStudent', {
      taskQueue,
      workflowId: `enroll:${args.studentId}:${seq}`,
      args: [args],
    });
    const report = await handle.result();
    if (recordAs) await maybeRecordHistory(recordAs, handle);
    return report;
  });
}

const input = { studentId: 'S001', photoRefs: ['S001-b/01.jpg', 'S001-b/02.jpg'], by: 'u-admin' };

void describe('enrollStudent workflow (time-skipping server, mocked activities)', () => {
  before(
    async () => {
      try {
        Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
      } catch {
        // Already installed in this process.
      }
      env = await createTimeSkippingEnv();
      bundle = await bundleWorkflowCode({
        workflowsPath: require.resolve('../../../workflows'),
        logger: new DefaultLogger('WARN'),
      });
    },
    { timeout: 180_000 },
  );
  after(async () => env?.teardown());

  void test('when consent is missing, then the workflow fails non-retryably without encoding, and the photos are discarded', async () => {
    const { calls, activities } = mocks({
      checkEnrollmentConsent: async () => {
        throw ApplicationFailure.create({
          type: 'ConsentMissing',
          message: 'student S001 has no active consent',
          nonRetryable: true,
        });
      },
    });
    const err = await run(activities, input).then(
      () => assert.fail('expected the workflow to fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.ok(err.cause instanceof ActivityFailure);
    const cause = err.cause.cause;
    assert.ok(cause instanceof ApplicationFailure);
    assert.equal(cause.type, 'ConsentMissing');
    assert.equal(cause.nonRetryable, true);
    assert.equal(calls.consent.length, 1, 'consent checked once: not retried');
    assert.equal(calls.encode.length, 0);
    assert.deepEqual(calls.discard, [input.photoRefs]);
  });

  void test('when consent is recorded, then the per-photo report is returned and the photos are discarded after encoding', async () => {
    const { calls, activities } = mocks();
    const report = await run(activities, input, 'enrollStudent-encoded');
    assert.equal(report.stored, 1);
    assert.deepEqual(
      report.photos.map((p) => [p.ref, p.status, p.reason?.code]),
      [
        ['S001-b/01.jpg', 'accepted', undefined],
        ['S001-b/02.jpg', 'rejected', 'NO_FACE'],
      ],
    );
    assert.deepEqual(calls.encode, [input]);
    assert.deepEqual(calls.discard, [input.photoRefs]);
  });

  void test('when encoding fails transiently once, then it is retried and the enrollment completes', async () => {
    let attempts = 0;
    const base = mocks();
    const { activities } = mocks({
      encodeEnrollmentPhotos: async (i) => {
        attempts++;
        if (attempts === 1) throw new Error('database connection reset');
        return base.activities.encodeEnrollmentPhotos(i);
      },
    });
    const report = await run(activities, { ...input, studentId: 'S002' });
    assert.equal(attempts, 2);
    assert.equal(report.studentId, 'S002');
  });

  void test('when no photo refs are given, then the workflow fails as invalid before any activity', async () => {
    const { calls, activities } = mocks();
    await assert.rejects(run(activities, { ...input, photoRefs: [] }), (e: unknown) => {
      assert.ok(e instanceof WorkflowFailedError);
      assert.ok(e.cause instanceof ApplicationFailure);
      assert.equal(e.cause.type, 'InvalidEnrollment');
      return true;
    });
    assert.equal(calls.consent.length + calls.encode.length + calls.discard.length, 0);
  });
});
