/**
 * Similarity alignment of a detected face onto an embedder's crop, using the ArcFace 5-point
 * template (the layout MobileFaceNet-family embedders were trained on).
 */
import type { FaceLandmarks } from './detectors/types';
import { estimateSimilarity, warpSimilarity, type Point, type SimilarityTransform } from './geometry';
import type { RgbImage } from './image';

/** ArcFace reference points for a 112x112 crop, as seen in the image (left eye = smaller x). */
export const ARCFACE_TEMPLATE_112 = {
  leftEye: { x: 38.2946, y: 51.6963 },
  rightEye: { x: 73.5318, y: 51.5014 },
  nose: { x: 56.0252, y: 71.7366 },
  mouthLeft: { x: 41.5493, y: 92.3655 },
  mouthRight: { x: 70.7299, y: 92.2041 },
} as const;

export interface CropGeometry {
  /** Output side in pixels. */
  size: number;
  /** 1 = the ArcFace framing; below 1 zooms out to include more hair and chin (loose crops). */
  zoom: number;
}

export interface AlignedFace {
  pixels: Uint8Array;
  size: number;
  imageToCrop: SimilarityTransform;
}

function templatePoint(p: Point, crop: CropGeometry): Point {
  const k = (crop.zoom * crop.size) / 112;
  return { x: (p.x - 56) * k + crop.size / 2, y: (p.y - 56) * k + crop.size / 2 };
}

/**
 * Uses both mouth corners when the detector has them; otherwise the mouth centre against the
 * midpoint of the template corners (BlazeFace gives 4 usable points: eyes, nose tip, mouth).
 */
export function alignmentPairs(landmarks: FaceLandmarks, crop: CropGeometry): { from: Point[]; to: Point[] } {
  const t = ARCFACE_TEMPLATE_112;
  const from: Point[] = [landmarks.leftEye, landmarks.rightEye, landmarks.nose];
  const to: Point[] = [t.leftEye, t.rightEye, t.nose];
  if (landmarks.mouthLeft && landmarks.mouthRight) {
    from.push(landmarks.mouthLeft, landmarks.mouthRight);
    to.push(t.mouthLeft, t.mouthRight);
  } else {
    from.push(landmarks.mouth);
    to.push({ x: (t.mouthLeft.x + t.mouthRight.x) / 2, y: (t.mouthLeft.y + t.mouthRight.y) / 2 });
  }
  return { from, to: to.map((p) => templatePoint(p, crop)) };
}

export function alignFace(image: RgbImage, landmarks: FaceLandmarks, crop: CropGeometry): AlignedFace {
  const { from, to } = alignmentPairs(landmarks, crop);
  const imageToCrop = estimateSimilarity(from, to);
  return { pixels: warpSimilarity(image, imageToCrop, crop.size, crop.size), size: crop.size, imageToCrop };
}
