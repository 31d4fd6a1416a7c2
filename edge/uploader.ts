/**
 * Drains the outbox to POST /api/v1/attendance: every interval (60 s), or at once when a full batch is
 * waiting. Each batch is retried with backoff (honouring Retry-After) until the server answers for it;
 * a batch the server refuses as a whole (400/413) is split in halves until the bad record is isolated and
 * dead-lettered, so one malformed record never holds back the others.
 */
import type { Logger } from 'pino';
import { ApiClient, ApiError, isRetryableApiError } from './api';
import { abortableSleep, withBackoff, type BackoffOptions } from './backoff';
import type { DrainReport, Outbox, OutboxRecord, RecordOutcome } from './outbox';

export interface UploaderOptions {
  intervalMs: number;
  batchSize?: number;
  backoff?: Omit<BackoffOptions, 'signal' | 'isRetryable' | 'onRetry'>;
}

export class Uploader {
  private wake: (() => void) | undefined;
  private readonly batchSize: number;
  lastDrain: DrainReport | undefined;
  lastError: string | undefined;

  constructor(
    private readonly outbox: Outbox,
    private readonly api: ApiClient,
    private readonly log: Logger,
    private readonly opts: UploaderOptions,
  ) {
    this.batchSize = Math.min(500, opts.batchSize ?? 500);
    outbox.onAppend((depth) => {
      if (depth >= this.batchSize) this.wake?.();
    });
  }

  /** Sends one batch until the server answers for every record in it. */
  async send(records: OutboxRecord[], signal?: AbortSignal): Promise<RecordOutcome[]> {
    try {
      return await withBackoff(() => this.api.attendance(records, signal), {
        ...this.opts.backoff,
        ...(signal ? { signal } : {}),
        isRetryable: isRetryableApiError,
        onRetry: ({ attempt, delayMs, err }) => {
          this.lastError = (err as Error).message;
          this.log.warn(
            { attempt, delayMs: Math.round(delayMs), err: this.lastError, records: records.length },
            'upload failed; retrying',
          );
        },
      });
    } catch (err) {
      if (!(err instanceof ApiError) || err.retryable) throw err;
      if (records.length > 1) {
        const half = Math.ceil(records.length / 2);
        return [
          ...(await this.send(records.slice(0, half), signal)),
          ...(await this.send(records.slice(half), signal)),
        ];
      }
      return [{ event_id: (records[0] as OutboxRecord).event_id, status: 'rejected', reason: err.message }];
    }
  }

  async drainOnce(signal?: AbortSignal): Promise<DrainReport> {
    const report = await this.outbox.drain((records) => this.send(records, signal), {
      batchSize: this.batchSize,
      ...(signal ? { signal } : {}),
    });
    this.lastDrain = report;
    if (report.batches > 0) {
      this.lastError = undefined;
      this.log.info({ ...report, queueDepth: this.outbox.depth }, 'outbox drained');
    }
    if (report.rejected > 0)
      this.log.warn({ rejected: report.rejected, file: this.outbox.deadLetterFile }, 'records dead-lettered');
    return report;
  }

  /** The drain loop; returns when `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.drainOnce(signal);
      } catch (err) {
        if (signal.aborted) break;
        this.log.error({ err }, 'outbox drain failed');
      }
      const wakeUp = new Promise<void>((resolve) => (this.wake = resolve));
      await Promise.race([abortableSleep(this.opts.intervalMs, signal).catch(() => undefined), wakeUp]);
      this.wake = undefined;
    }
  }
}
