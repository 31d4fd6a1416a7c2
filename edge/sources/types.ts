import type { RgbImage } from '../../models';

export interface Frame {
  image: RgbImage;
  capturedAt: Date;
  seq: number;
}

/** Where frames come from: the Pi camera, a folder of images, or a scripted classroom. */
export interface FrameSource {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** Frames the consumer was too slow for (the source keeps only the newest). */
  readonly dropped: number;
  frames(signal: AbortSignal): AsyncIterable<Frame>;
  close(): Promise<void>;
}

export class CameraUnavailableError extends Error {
  override readonly name = 'CameraUnavailableError';
}

/**
 * Waits for the next tick of a fixed-rate clock (fps 0: no pacing, as fast as the consumer takes frames — but
 * each tick still yields to the event loop, so a consumer that skips frames (no class in the room) cannot
 * starve I/O: it once spun on resolved promises while the roster it waited for sat unread in a socket).
 */
export function pacer(fps: number): (signal: AbortSignal) => Promise<void> {
  if (fps <= 0) return () => new Promise((resolve) => setImmediate(resolve));
  const period = 1000 / fps;
  let next = Date.now();
  return (signal) => {
    next += period;
    const wait = next - Date.now();
    if (wait < -period) next = Date.now();
    return new Promise((resolve) => {
      if (wait <= 0 || signal.aborted) return resolve();
      // The listener goes when the timer fires: a frame loop adds one per frame, for days.
      const onAbort = () => (clearTimeout(t), resolve());
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, wait);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  };
}
