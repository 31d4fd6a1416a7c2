/**
 * Failures that no retry can cure: the data itself is wrong (SQLSTATE class 22, e.g. a NUL byte or a
 * date out of range) or breaks an integrity rule (class 23: a foreign key, a check, a unique key). An
 * activity that keeps retrying them holds its workflow (and the session's lock) forever, so they become
 * non-retryable ApplicationFailures; everything else (a database that is down) stays retryable.
 */
import { ApplicationFailure } from '@temporalio/common';

export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23)[0-9A-Z]{3}$/.test(code);
}

/** Re-throws a data/integrity error as non-retryable; other errors unchanged. */
export function nonRetryableIfDataError(err: unknown): never {
  if (isDataError(err)) {
    const e = err as Error & { code: string };
    throw ApplicationFailure.create({
      message: `${e.code}: ${e.message}`,
      type: 'DataError',
      nonRetryable: true,
      cause: e,
    });
  }
  throw err;
}
