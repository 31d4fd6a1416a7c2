/**
 * The Pi camera: `rpicam-vid` (or `libcamera-vid` on older Raspberry Pi OS) streaming raw I420 frames to
 * stdout, read in fixed-size chunks (w·h·1.5 bytes) and converted to RGB. Only the newest frame is kept:
 * when recognition is slower than the camera, older frames are dropped and counted, never queued.
 * (node-libcamera runs the apps through a buffered shell exec, fine for stills but not for a frame loop.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { RgbImage } from '../../models';
import { CameraUnavailableError, type Frame, type FrameSource } from './types';

const CANDIDATES = ['rpicam-vid', 'libcamera-vid'];

function onPath(name: string, pathEnv: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of pathEnv.split(path.delimiter).filter(Boolean)) {
    const full = path.join(dir, name);
    if (isExecutable(full)) return full;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Finds the capture binary at start-up, with an error that says what to install. */
export function findCameraBinary(explicit: string | undefined, pathEnv = process.env.PATH ?? ''): string {
  const names = explicit ? [explicit] : CANDIDATES;
  for (const n of names) {
    const found = onPath(n, pathEnv);
    if (found) return found;
  }
  throw new CameraUnavailableError(
    explicit
      ? `CAMERA_COMMAND ${explicit} is not an executable on PATH`
      : `FRAME_SOURCE=libcamera needs ${CANDIDATES.join(' or ')} on PATH (Raspberry Pi OS: sudo apt install rpicam-apps). ` +
          'On other machines use FRAME_SOURCE=directory or FRAME_SOURCE=classroom.',
  );
}

/** BT.601 limited-range I420 → interleaved RGB. */
export function i420ToRgb(
  yuv: Uint8Array,
  width: number,
  height: number,
  out = new Uint8Array(width * height * 3),
): Uint8Array {
  const ySize = width * height;
  const cw = width >> 1;
  const uOff = ySize;
  const vOff = ySize + (ySize >> 2);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const crow = (y >> 1) * cw;
    for (let x = 0; x < width; x++) {
      const c = 1.164 * ((yuv[row + x] as number) - 16);
      const u = (yuv[uOff + crow + (x >> 1)] as number) - 128;
      const v = (yuv[vOff + crow + (x >> 1)] as number) - 128;
      const o = (row + x) * 3;
      out[o] = clamp(c + 1.596 * v);
      out[o + 1] = clamp(c - 0.392 * u - 0.813 * v);
      out[o + 2] = clamp(c + 2.017 * u);
    }
  }
  return out;
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v | 0;
}

export class LibcameraSource implements FrameSource {
  readonly name = 'libcamera';
  private child: ChildProcess | undefined;
  private droppedFrames = 0;

  constructor(
    private readonly binary: string,
    readonly width: number,
    readonly height: number,
    private readonly fps: number,
  ) {}

  get dropped(): number {
    return this.droppedFrames;
  }

  async *frames(signal: AbortSignal): AsyncIterable<Frame> {
    const frameBytes = this.width * this.height * 1.5;
    const child = spawn(
      this.binary,
      [
        '-t',
        '0',
        '-n',
        '--codec',
        'yuv420',
        '--width',
        String(this.width),
        '--height',
        String(this.height),
        '--framerate',
        String(this.fps),
        '-o',
        '-',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let latest: { data: Buffer; at: Date } | undefined;
    let wake: (() => void) | undefined;
    let ended = false;
    child.stdout?.on('data', (chunk: Buffer) => {
      pending.push(chunk);
      pendingBytes += chunk.length;
      while (pendingBytes >= frameBytes) {
        const all = Buffer.concat(pending);
        if (latest) this.droppedFrames++;
        latest = { data: all.subarray(0, frameBytes), at: new Date() };
        pending = [all.subarray(frameBytes)];
        pendingBytes = all.length - frameBytes;
      }
      wake?.();
    });
    child.on('exit', () => {
      ended = true;
      wake?.();
    });
    signal.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
    let seq = 0;
    while (!signal.aborted) {
      if (!latest) {
        if (ended)
          throw new CameraUnavailableError(
            `${path.basename(this.binary)} exited: ${stderr.trim() || 'no output'}`,
          );
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const { data, at } = latest;
      latest = undefined;
      const image: RgbImage = {
        width: this.width,
        height: this.height,
        data: i420ToRgb(data, this.width, this.height),
      };
      yield { image, capturedAt: at, seq: seq++ };
    }
  }

  async close(): Promise<void> {
    this.child?.kill('SIGTERM');
  }
}
