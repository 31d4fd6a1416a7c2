/**
 * A FIFO lock for workflow code: handlers and loops that await activities run one after another, so two
 * of them never interleave their effects on the same state. Deterministic (plain promise chaining).
 */
export class Lock {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
