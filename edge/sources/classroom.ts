/**
 * A scripted classroom for demos, tests and the benchmark: scenes of real face photos composited (sharp)
 * onto a classroom-sized canvas, each shown for a number of frames. Scenes are rendered once and then
 * replayed at the camera's frame rate.
 */
import sharp from 'sharp';
import { toRgbImage, type RgbImage } from '../../models';
import { pacer, type Frame, type FrameSource } from './types';

export interface ClassroomScene {
  /** Photos of the people in view (portraits are scaled to a seat, left to right). */
  people: string[];
  frames: number;
  label?: string;
}

export async function renderScene(
  people: readonly string[],
  width: number,
  height: number,
): Promise<RgbImage> {
  const slot = Math.floor(width / Math.max(1, people.length));
  const h = Math.floor(height * 0.8);
  const composites = await Promise.all(
    people.map(async (photo, i) => {
      const tile = await sharp(photo)
        .rotate()
        .resize(slot - 8, h, { fit: 'inside' })
        .toBuffer({ resolveWithObject: true });
      return {
        input: tile.data,
        left: i * slot + Math.floor((slot - tile.info.width) / 2),
        top: Math.floor((height - tile.info.height) / 2),
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
  private rendered: RgbImage[] | undefined;
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
      this.scenes.map((s) => renderScene(s.people, this.width, this.height)),
    );
    const tick = pacer(this.opts.fps);
    let seq = 0;
    do {
      for (const [i, scene] of this.scenes.entries()) {
        this.sceneIndex = i;
        for (let f = 0; f < scene.frames; f++) {
          await tick(signal);
          if (signal.aborted) return;
          yield { image: this.rendered[i] as RgbImage, capturedAt: new Date(), seq: seq++ };
        }
      }
    } while (this.opts.loop ?? true);
  }

  async close(): Promise<void> {}
}
