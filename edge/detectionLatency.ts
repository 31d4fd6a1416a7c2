/**
 * Face detection time per analysed frame, summarised for the heartbeat (median, 95th percentile, maximum
 * since the previous heartbeat). A bounded window of the newest samples: a Pi at 8 analysed frames/s
 * produces ~480 a minute, so 4,096 covers a heartbeat interval with room to spare without growing unbounded
 * while the server is unreachable.
 */
import type { HeartbeatBody } from '../lib/contracts';

export type DetectionLatencySummary = NonNullable<HeartbeatBody['detectionLatency']>;

const MAX_SAMPLES = 4096;

/** The q-quantile (0..1) of sorted values, nearest rank. */
function quantile(sorted: readonly number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

export class DetectionLatency {
  private samples: number[] = [];
  private frames = 0;

  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.frames++;
    this.samples.push(ms);
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
  }

  /** The summary since the last call, then starts a new interval; undefined when no frame was analysed. */
  take(): DetectionLatencySummary | undefined {
    if (this.samples.length === 0) return undefined;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms * 100) / 100;
    const summary = {
      frames: this.frames,
      p50Ms: round(quantile(sorted, 0.5)),
      p95Ms: round(quantile(sorted, 0.95)),
      maxMs: round(sorted[sorted.length - 1] as number),
    };
    this.samples = [];
    this.frames = 0;
    return summary;
  }
}
