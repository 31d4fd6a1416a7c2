/**
 * The device's estimate of the server's clock. A Pi has no battery-backed clock: until NTP has synced (or
 * when it cannot reach a time server) its wall clock may be minutes or years off, and the server rejects a
 * record stamped more than CLOCK_SKEW_SECONDS ahead of its own clock.
 *
 * Every answer that carries `server_time` (schedule, heartbeat) is a sample: the server's instant against
 * the midpoint of the request on the device. Samples are anchored to the monotonic clock, so an NTP step of
 * the wall clock between two samples does not corrupt the estimate; of the recent samples, the one with the
 * shortest round trip wins (its midpoint is the most certain, as in NTP's clock filter).
 */

export interface ClockSources {
  /** The device's wall clock (Date.now). */
  wallMs: () => number;
  /** A clock that never jumps (performance.now). */
  monotonicMs: () => number;
}

interface Sample {
  /** Server time minus the monotonic clock at the request's midpoint. */
  serverMinusMonotonicMs: number;
  roundTripMs: number;
}

/** Samples kept: with a heartbeat a minute, the last eight minutes. */
const KEEP_SAMPLES = 8;

export class EdgeClock {
  private readonly samples: Sample[] = [];
  private readonly sources: ClockSources;

  constructor(sources: Partial<ClockSources> = {}) {
    this.sources = {
      wallMs: sources.wallMs ?? (() => Date.now()),
      monotonicMs: sources.monotonicMs ?? (() => performance.now()),
    };
  }

  /** A monotonic instant, taken before a request is sent and after its answer arrived. */
  mark(): number {
    return this.sources.monotonicMs();
  }

  /** One sample: the server's time in an answer to a request sent at `sentMark` and answered at `receivedMark`. */
  observe(serverTime: string, sentMark: number, receivedMark: number): void {
    const serverMs = Date.parse(serverTime);
    if (!Number.isFinite(serverMs) || receivedMark < sentMark) return;
    this.samples.push({
      serverMinusMonotonicMs: serverMs - (sentMark + receivedMark) / 2,
      roundTripMs: receivedMark - sentMark,
    });
    if (this.samples.length > KEEP_SAMPLES) this.samples.shift();
  }

  get measured(): boolean {
    return this.samples.length > 0;
  }

  /**
   * How far the device's wall clock is ahead of the server's (negative: behind), in ms; 0 until measured
   * (the device then trusts its own clock).
   */
  offsetMs(): number {
    const best = this.best();
    if (!best) return 0;
    return this.sources.wallMs() - (best.serverMinusMonotonicMs + this.sources.monotonicMs());
  }

  /** The server's time now, as well as the device knows it. */
  now(): Date {
    return new Date(this.sources.wallMs() - this.offsetMs());
  }

  /** An instant read from the device's wall clock (a frame's capture time), in the server's time. */
  toServerTime(deviceTime: Date): Date {
    return new Date(deviceTime.getTime() - this.offsetMs());
  }

  private best(): Sample | undefined {
    let best: Sample | undefined;
    for (const s of this.samples) if (!best || s.roundTripMs <= best.roundTripMs) best = s;
    return best;
  }
}
