/**
 * Ultra-Light RFB-320 detector (faceplugin package) plus its 68-point landmark model, which gives
 * the boxes the eye/nose/mouth points alignment needs. Post-processing follows the package's
 * reference code: the whole frame squeezed to 320x240, (px-127)/128, greedy NMS at IoU 0.4.
 */
import * as ort from 'onnxruntime-node';
import type { Point } from '../geometry';
import { clipRect, cropAndResize, toGrey, type RgbImage } from '../image';
import { hardNms, type Candidate } from '../nms';
import type { DetectedFace, FaceDetector, FaceLandmarks } from './types';

export interface UltraFaceOptions {
  detectorPath: string;
  landmarkPath: string;
  scoreThreshold?: number;
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

const INPUT_WIDTH = 320;
const INPUT_HEIGHT = 240;
const LANDMARK_SIZE = 64;
const NMS_IOU = 0.4;

export class UltraFaceDetector implements FaceDetector {
  readonly name = 'ultraface-rfb320';
  private readonly scoreThreshold: number;

  private constructor(
    private readonly detector: ort.InferenceSession,
    private readonly landmarker: ort.InferenceSession,
    options: UltraFaceOptions,
  ) {
    this.scoreThreshold = options.scoreThreshold ?? 0.7;
  }

  static async create(options: UltraFaceOptions): Promise<UltraFaceDetector> {
    const sessionOptions = options.sessionOptions ?? {};
    const [detector, landmarker] = await Promise.all([
      ort.InferenceSession.create(options.detectorPath, sessionOptions),
      ort.InferenceSession.create(options.landmarkPath, sessionOptions),
    ]);
    return new UltraFaceDetector(detector, landmarker, options);
  }

  async detect(image: RgbImage): Promise<DetectedFace[]> {
    const whole = { left: 0, top: 0, width: image.width, height: image.height };
    const pixels = await cropAndResize(image, whole, INPUT_WIDTH, INPUT_HEIGHT);
    const plane = INPUT_WIDTH * INPUT_HEIGHT;
    const input = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) input[c * plane + i] = ((pixels[3 * i + c] ?? 0) - 127) / 128;
    }
    const out = await this.detector.run({
      input: new ort.Tensor('float32', input, [1, 3, INPUT_HEIGHT, INPUT_WIDTH]),
    });
    const scores = out.scores?.data as Float32Array;
    const boxes = out.boxes?.data as Float32Array;
    const candidates: Candidate[] = [];
    for (let i = 0; i < scores.length / 2; i++) {
      const score = scores[2 * i + 1] ?? 0;
      if (score < this.scoreThreshold) continue;
      const x1 = (boxes[4 * i] ?? 0) * image.width;
      const y1 = (boxes[4 * i + 1] ?? 0) * image.height;
      const x2 = (boxes[4 * i + 2] ?? 0) * image.width;
      const y2 = (boxes[4 * i + 3] ?? 0) * image.height;
      candidates.push({ score, box: { x: x1, y: y1, width: x2 - x1, height: y2 - y1 }, points: [] });
    }
    const faces: DetectedFace[] = [];
    for (const c of hardNms(candidates, NMS_IOU)) {
      const landmarks = await this.landmarks(image, c);
      if (landmarks) faces.push({ box: c.box, score: c.score, landmarks });
    }
    return faces;
  }

  async dispose(): Promise<void> {
    await Promise.all([this.detector.release(), this.landmarker.release()]);
  }

  private async landmarks(image: RgbImage, c: Candidate): Promise<FaceLandmarks | null> {
    const rect = clipRect(image, { left: c.box.x, top: c.box.y, width: c.box.width, height: c.box.height });
    if (!rect) return null;
    const crop = await cropAndResize(image, rect, LANDMARK_SIZE, LANDMARK_SIZE);
    const grey = toGrey(crop, LANDMARK_SIZE * LANDMARK_SIZE);
    for (let i = 0; i < grey.length; i++) grey[i] = (grey[i] ?? 0) / 256;
    const out = await this.landmarker.run({
      input: new ort.Tensor('float32', grey, [1, 1, LANDMARK_SIZE, LANDMARK_SIZE]),
    });
    const raw = out.output?.data as Float32Array;
    const point = (i: number): Point => ({
      x: rect.left + (raw[2 * i] ?? 0) * rect.width,
      y: rect.top + (raw[2 * i + 1] ?? 0) * rect.height,
    });
    const mean = (indices: number[]): Point => {
      const ps = indices.map(point);
      return {
        x: ps.reduce((s, p) => s + p.x, 0) / ps.length,
        y: ps.reduce((s, p) => s + p.y, 0) / ps.length,
      };
    };
    // iBUG 68-point layout: 36-41 and 42-47 eye rings, 30 nose tip, 48/54 outer and 60/64 inner mouth corners.
    const mouthLeft = mean([48, 60]);
    const mouthRight = mean([54, 64]);
    return {
      leftEye: mean([37, 38, 40, 41]),
      rightEye: mean([43, 44, 46, 47]),
      nose: point(30),
      mouth: { x: (mouthLeft.x + mouthRight.x) / 2, y: (mouthLeft.y + mouthRight.y) / 2 },
      mouthLeft,
      mouthRight,
    };
  }
}
