/**
 * Failures that no retry can cure: the data itself is wrong (SQLSTATE class 22, e.g. a NUL byte or a
 * date out of range) or breaks an integrity rule (class 23: a foreign key, a check, a unique key). An
 * activity that kept retrying them would hold its workflow (and the session's lock) forever; the session's
 * recordMarks quarantines such marks instead. Everything else (a database that is down) stays retryable.
 */

export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23)[0-9A-Z]{3}$/.test(code);
}
