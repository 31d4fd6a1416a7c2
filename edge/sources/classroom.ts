/**
 * A scripted classroom for demos, tests and the benchmark: scenes of real face photos composited (sharp)
 * onto a classroom-sized canvas, each shown for a number of frames. Scenes are rendered once and then
 * replayed at the camera's frame rate. A scene with `walk` is rendered at a few positions along the way
 * and played back and forth over them, so faces move (and their crops change) from frame to frame with a
 * bounded number of rendered images.
 */
import sharp from 'sharp';
import { toRgbImage, type RgbImage } from '../../models';
import { pacer, type Frame, type FrameSource } from './types';

export interface ClassroomScene {
  /** Photos of the people in view (portraits are scaled to a seat, left to right). */
  people: string[];
  frames: number;
  label?: string;
  /** Everyone moves together by up to (dx, dy) pixels and back, in `steps` rendered positions. */
  walk?: { dx: number; dy: number; steps: number };
}

/** Which rendered position of a walking scene frame `f` shows (back and forth over `steps`). */
export function walkStep(f: number, steps: number): number {
  if (steps <= 1) return 0;
  const period = 2 * (steps - 1);
  const p = f % period;
  return p < steps ? p : period - p;
}

/** `people`: photo files, or encoded images (the benchmark passes photos it padded or rescaled). */
export async function renderScene(
  people: readonly (string | Buffer)[],
  width: number,
  height: number,
  offset: { x: number; y: number } = { x: 0, y: 0 },
): Promise<RgbImage> {
  const slot = Math.floor(width / Math.max(1, people.length));
  const h = Math.floor(height * 0.8);
  const composites = await Promise.all(
    people.map(async (photo, i) => {
      const tile = await sharp(photo)
        .rotate()
        .resize(slot - 8, h, { fit: 'inside' })
        .toBuffer({ resolveWithObject: true });
      const left = i * slot + Math.floor((slot - tile.info.width) / 2) + Math.round(offset.x);
      const top = Math.floor((height - tile.info.height) / 2) + Math.round(offset.y);
      return {
        input: tile.data,
        // Kept on the canvas (sharp refuses composites outside it).
        left: Math.max(0, Math.min(width - tile.info.width, left)),
        top: Math.max(0, Math.min(height - tile.info.height, top)),
      };
    }),
  );
  return toRgbImage(
    sharp({ create: { width, height, channels: 3, background: { r: 92, g: 86, b: 78 } } }).composite(
      composites,
    ),
  );
}

export class ClassroomSource implements FrameSource {
  readonly name = 'classroom';
  readonly dropped = 0;
  private rendered: RgbImage[][] | undefined;
  sceneIndex = -1;

  constructor(
    private readonly scenes: readonly ClassroomScene[],
    readonly width: number,
    readonly height: number,
    private readonly opts: { fps: number; loop?: boolean },
  ) {
    if (scenes.length === 0) throw new Error('a classroom needs at least one scene');
  }

  get currentScene(): ClassroomScene | undefined {
    return this.scenes[this.sceneIndex];
  }

  async *frames(signal: AbortSignal): AsyncIterable<Frame> {
    this.rendered ??= await Promise.all(
      this.scenes.map((s) => {
        const steps = s.walk ? Math.max(1, s.walk.steps) : 1;
        return Promise.all(
          Array.from({ length: steps }, (_, k) => {
            const t = steps > 1 ? k / (steps - 1) : 0;
            const offset = s.walk ? { x: s.walk.dx * t, y: s.walk.dy * t } : { x: 0, y: 0 };
            return renderScene(s.people, this.width, this.height, offset);
          }),
        );
      }),
    );
    const tick = pacer(this.opts.fps);
    let seq = 0;
    do {
      for (const [i, scene] of this.scenes.entries()) {
        this.sceneIndex = i;
        const positions = this.rendered[i] as RgbImage[];
        for (let f = 0; f < scene.frames; f++) {
          await tick(signal);
          if (signal.aborted) return;
          const image = positions[walkStep(f, positions.length)] as RgbImage;
          yield { image, capturedAt: new Date(), seq: seq++ };
        }
      }
    } while (this.opts.loop ?? true);
  }

  async close(): Promise<void> {}
}
