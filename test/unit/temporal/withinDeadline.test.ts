/** withinDeadline: a Temporal client call that cannot finish is abandoned at the limit, not after retries. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { isDependencyUnavailable } from '../../../api/errors';
import { TemporalDeadlineError, withinDeadline } from '../../../lib/temporal/connection';

const fakeClient = {
  withDeadline: <R>(_deadline: number, fn: () => Promise<R>) => fn(),
} as unknown as Client;

void describe('withinDeadline', () => {
  void test('when the call hangs (server down, retries sleeping), then it rejects at the limit', async () => {
    const started = Date.now();
    await assert.rejects(
      withinDeadline(fakeClient, 200, () => new Promise<never>(() => undefined)),
      (err: unknown) => err instanceof TemporalDeadlineError && isDependencyUnavailable(err),
    );
    const took = Date.now() - started;
    assert.ok(took >= 190 && took < 2_000, `took ${took} ms`);
  });

  void test('when the call answers in time, then its value comes back', async () => {
    assert.equal(await withinDeadline(fakeClient, 1_000, async () => 42), 42);
  });
});
