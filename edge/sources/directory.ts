/** Replays a folder of images (name order, looping) as camera frames of a fixed size. */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { toRgbImage, type RgbImage } from '../../models';
import { pacer, type Frame, type FrameSource } from './types';

const IMAGE = /\.(jpe?g|png|webp)$/i;

export async function toFrame(input: string | Buffer, width: number, height: number): Promise<RgbImage> {
  return toRgbImage(
    sharp(input)
      .rotate()
      .resize(width, height, { fit: 'contain', background: { r: 40, g: 40, b: 40 } }),
  );
}

export class DirectorySource implements FrameSource {
  readonly name = 'directory';
  readonly dropped = 0;
  private readonly files: string[];

  constructor(
    dir: string,
    readonly width: number,
    readonly height: number,
    private readonly opts: { fps: number; loop?: boolean },
  ) {
    if (!fs.existsSync(dir)) throw new Error(`FRAME_DIRECTORY ${dir} does not exist`);
    this.files = fs
      .readdirSync(dir)
      .filter((f) => IMAGE.test(f))
      .sort()
      .map((f) => path.join(dir, f));
    if (this.files.length === 0) throw new Error(`FRAME_DIRECTORY ${dir} has no .jpg/.png/.webp images`);
  }

  async *frames(signal: AbortSignal): AsyncIterable<Frame> {
    const tick = pacer(this.opts.fps);
    let seq = 0;
    do {
      for (const file of this.files) {
        if (signal.aborted) return;
        const image = await toFrame(file, this.width, this.height);
        await tick(signal);
        if (signal.aborted) return;
        yield { image, capturedAt: new Date(), seq: seq++ };
      }
    } while (this.opts.loop ?? true);
  }

  async close(): Promise<void> {}
}
