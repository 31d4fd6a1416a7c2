/**
 * Quality gates applied before a face is trusted for enrollment or attendance: size, sharpness and
 * pose. Each failed gate gives a stable code and a human-readable reason.
 */
import { alignFace } from './align';
import type { FaceLandmarks } from './detectors/types';
import { toGrey, type RgbImage } from './image';

export type QualityIssueCode =
  'FACE_TOO_SMALL' | 'TOO_BLURRY' | 'POSE_TOO_TURNED' | 'POSE_TOO_TILTED' | 'LOW_DETECTOR_SCORE';

export interface QualityIssue {
  code: QualityIssueCode;
  message: string;
}

export interface QualityThresholds {
  /** Distance between the eye centres in image pixels. */
  minEyeDistancePx: number;
  /** Laplacian variance on the 112x112 aligned crop. */
  minSharpness: number;
  /** |nose offset from the eye midline| / eye distance; ~0 frontal, ~0.5 near profile. */
  maxYaw: number;
  /** Allowed range of (nose − eyes)/(mouth − eyes) along the face axis; ~0.49 frontal. */
  pitchRange: readonly [number, number];
  minDetectorScore: number;
}

export const DEFAULT_QUALITY_THRESHOLDS: QualityThresholds = {
  minEyeDistancePx: 14,
  minSharpness: 40,
  maxYaw: 0.3,
  pitchRange: [0.25, 0.75],
  minDetectorScore: 0.6,
};

export interface FaceQuality {
  ok: boolean;
  issues: QualityIssue[];
  eyeDistancePx: number;
  sharpness: number;
  yaw: number;
  pitch: number;
  rollDegrees: number;
  detectorScore: number;
}

const QUALITY_CROP = { size: 112, zoom: 1 } as const;
/** Only the face's centre, so black borders from the warp do not count as edges. */
const SHARPNESS_MARGIN = 20;

export function laplacianVariance(grey: Float32Array, size: number, margin: number): number {
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = Math.max(1, margin); y < size - Math.max(1, margin); y++) {
    for (let x = Math.max(1, margin); x < size - Math.max(1, margin); x++) {
      const i = y * size + x;
      const lap =
        (grey[i - 1] ?? 0) +
        (grey[i + 1] ?? 0) +
        (grey[i - size] ?? 0) +
        (grey[i + size] ?? 0) -
        4 * (grey[i] ?? 0);
      sum += lap;
      sumSq += lap * lap;
      n++;
    }
  }
  const mean = sum / n;
  return sumSq / n - mean * mean;
}

export function poseFromLandmarks(l: FaceLandmarks): {
  eyeDistance: number;
  yaw: number;
  pitch: number;
  rollDegrees: number;
} {
  const ex = l.rightEye.x - l.leftEye.x;
  const ey = l.rightEye.y - l.leftEye.y;
  const eyeDistance = Math.hypot(ex, ey) || 1;
  // Unit vectors along the eye line (u) and down the face (v).
  const ux = ex / eyeDistance;
  const uy = ey / eyeDistance;
  const mid = { x: (l.leftEye.x + l.rightEye.x) / 2, y: (l.leftEye.y + l.rightEye.y) / 2 };
  const along = (p: { x: number; y: number }): number => (p.x - mid.x) * ux + (p.y - mid.y) * uy;
  const down = (p: { x: number; y: number }): number => -(p.x - mid.x) * uy + (p.y - mid.y) * ux;
  const mouthDown = down(l.mouth) || 1;
  return {
    eyeDistance,
    yaw: along(l.nose) / eyeDistance,
    pitch: down(l.nose) / mouthDown,
    rollDegrees: (Math.atan2(ey, ex) * 180) / Math.PI,
  };
}

export function assessQuality(
  image: RgbImage,
  landmarks: FaceLandmarks,
  detectorScore: number,
  thresholds: QualityThresholds = DEFAULT_QUALITY_THRESHOLDS,
): FaceQuality {
  const pose = poseFromLandmarks(landmarks);
  const crop = alignFace(image, landmarks, QUALITY_CROP);
  const sharpness = laplacianVariance(
    toGrey(crop.pixels, QUALITY_CROP.size ** 2),
    QUALITY_CROP.size,
    SHARPNESS_MARGIN,
  );
  const issues: QualityIssue[] = [];
  if (pose.eyeDistance < thresholds.minEyeDistancePx) {
    issues.push({
      code: 'FACE_TOO_SMALL',
      message: `eyes are ${pose.eyeDistance.toFixed(1)} px apart, need at least ${thresholds.minEyeDistancePx} px: move closer or use a higher resolution`,
    });
  }
  if (sharpness < thresholds.minSharpness) {
    issues.push({
      code: 'TOO_BLURRY',
      message: `sharpness ${sharpness.toFixed(0)} is below ${thresholds.minSharpness}: the face is blurred or out of focus`,
    });
  }
  if (Math.abs(pose.yaw) > thresholds.maxYaw) {
    issues.push({
      code: 'POSE_TOO_TURNED',
      message: `head turned sideways (yaw ${pose.yaw.toFixed(2)}, limit ${thresholds.maxYaw}): look at the camera`,
    });
  }
  const [minPitch, maxPitch] = thresholds.pitchRange;
  if (pose.pitch < minPitch || pose.pitch > maxPitch) {
    issues.push({
      code: 'POSE_TOO_TILTED',
      message: `head tilted up or down (pitch ratio ${pose.pitch.toFixed(2)}): look straight at the camera`,
    });
  }
  if (detectorScore < thresholds.minDetectorScore) {
    issues.push({
      code: 'LOW_DETECTOR_SCORE',
      message: `detector confidence ${detectorScore.toFixed(2)} is below ${thresholds.minDetectorScore}`,
    });
  }
  return {
    ok: issues.length === 0,
    issues,
    eyeDistancePx: pose.eyeDistance,
    sharpness,
    yaw: pose.yaw,
    pitch: pose.pitch,
    rollDegrees: pose.rollDegrees,
    detectorScore,
  };
}
