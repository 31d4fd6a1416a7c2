import type { Box, Point } from '../geometry';
import type { RgbImage } from '../image';

/** Landmarks named as seen in the image: `leftEye` is the eye with the smaller x. */
export interface FaceLandmarks {
  leftEye: Point;
  rightEye: Point;
  nose: Point;
  /** Mouth centre; BlazeFace gives only this point for the mouth. */
  mouth: Point;
  /** Mouth corners, when the detector provides them (68-point landmarks do). */
  mouthLeft?: Point;
  mouthRight?: Point;
}

export interface DetectedFace {
  box: Box;
  score: number;
  landmarks: FaceLandmarks;
}

export interface FaceDetector {
  readonly name: string;
  detect(image: RgbImage): Promise<DetectedFace[]>;
  dispose(): Promise<void>;
}

export function sigmoid(logit: number): number {
  return 1 / (1 + Math.exp(-Math.max(-80, Math.min(80, logit))));
}
