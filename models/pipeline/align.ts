/**
 * Similarity alignment of a detected face onto an embedder's crop, in the framing that embedder
 * was trained on: the ArcFace 5-point template (MobileFaceNet-family embedders) or dlib's face chip
 * (dlib's ResNet, get_face_chip_details).
 */
import type { FaceLandmarks } from './detectors/types';
import {
  estimateSimilarity,
  invertSimilarity,
  warpSimilarity,
  type Point,
  type SimilarityTransform,
} from './geometry';
import type { RgbImage } from './image';

/** ArcFace reference points for a 112x112 crop, as seen in the image (left eye = smaller x). */
export const ARCFACE_TEMPLATE_112 = {
  leftEye: { x: 38.2946, y: 51.6963 },
  rightEye: { x: 73.5318, y: 51.5014 },
  nose: { x: 56.0252, y: 71.7366 },
  mouthLeft: { x: 41.5493, y: 92.3655 },
  mouthRight: { x: 70.7299, y: 92.2041 },
} as const;

export interface ArcFaceCrop {
  template?: 'arcface';
  /** Output side in pixels. */
  size: number;
  /** 1 = the ArcFace framing; below 1 zooms out to include more hair and chin (loose crops). */
  zoom: number;
}

/** dlib's face chip: get_face_chip_details(shape, size, padding). */
export interface DlibCrop {
  template: 'dlib';
  size: number;
  /** Border around dlib's unit template, as a fraction of it (0.25 for dlib's face recognition net). */
  padding: number;
}

export type CropGeometry = ArcFaceCrop | DlibCrop;

export interface AlignedFace {
  pixels: Uint8Array;
  size: number;
  imageToCrop: SimilarityTransform;
}

function templatePoint(p: Point, crop: ArcFaceCrop): Point {
  const k = (crop.zoom * crop.size) / 112;
  return { x: (p.x - 56) * k + crop.size / 2, y: (p.y - 56) * k + crop.size / 2 };
}

/**
 * Uses both mouth corners when the detector has them; otherwise the mouth centre against the
 * midpoint of the template corners (BlazeFace gives 4 usable points: eyes, nose tip, mouth).
 */
export function alignmentPairs(landmarks: FaceLandmarks, crop: ArcFaceCrop): { from: Point[]; to: Point[] } {
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

/**
 * dlib's 5-point template (get_face_chip_details in dlib/image_transforms/interpolation.h) on the
 * unit square, in the order of shape_predictor_5_face_landmarks' parts: outer and inner corner of
 * the eye on the image's right, outer and inner corner of the eye on the image's left, base of the nose.
 */
export const DLIB_TEMPLATE_5: readonly Point[] = [
  { x: 0.8595674595992, y: 0.2134981538014 },
  { x: 0.6460604764104, y: 0.2289674387677 },
  { x: 0.1205750620789, y: 0.2137274526848 },
  { x: 0.3340850613712, y: 0.2290642403242 },
  { x: 0.4901123135679, y: 0.6277975316475 },
];

const midpoint = (p: Point, q: Point): Point => ({ x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 });

/**
 * The detector's points in dlib's unit frame. Our detectors give eye centres, the nose tip and the
 * mouth centre, not dlib's eye corners and nose base, so each comes from dlib's own geometry:
 * - eye centre = midpoint of that eye's two corners in the 5-point template above (dlib's 68-point
 *   mean face shape, the same frame, puts the mean of the six eye points within 0.006 of it);
 * - nose tip = point 30 of dlib's 68-point mean face shape (get_face_chip_details' 68-point branch),
 *   whose point 33, the nose base, is the 5-point template's last point to 0.0003;
 * - mouth centre = midpoint of the inner lips' centres, points 62 and 66 of that mean shape.
 */
export const DLIB_KEYPOINT_TEMPLATE = {
  leftEye: midpoint(DLIB_TEMPLATE_5[2] as Point, DLIB_TEMPLATE_5[3] as Point),
  rightEye: midpoint(DLIB_TEMPLATE_5[0] as Point, DLIB_TEMPLATE_5[1] as Point),
  nose: { x: 0.490127, y: 0.515625 },
  mouth: midpoint({ x: 0.490127, y: 0.785343 }, { x: 0.490127, y: 0.831803 }),
} as const;

/**
 * dlib's chip geometry, reproduced exactly: a least-squares similarity from the padded template in
 * chip pixels onto the image points (fitted in that direction, as dlib does), turned into a chip
 * rectangle of side size·scale centred on the image of the chip centre, whose corner pixels map to
 * the rectangle's corners (so the pixel spacing is (size·scale − 1)/(size − 1), a hair more than the
 * fitted scale). Returns the image → chip transform.
 */
export function dlibChipTransform(
  imagePoints: readonly Point[],
  unitTemplate: readonly Point[],
  size: number,
  padding: number,
): SimilarityTransform {
  const chipPoints = unitTemplate.map((p) => ({
    x: ((padding + p.x) / (2 * padding + 1)) * size,
    y: ((padding + p.y) / (2 * padding + 1)) * size,
  }));
  const fit = estimateSimilarity(chipPoints, imagePoints);
  const scale = Math.hypot(fit.a, fit.b);
  const spacing = (size * scale - 1) / (size - 1);
  const a = (spacing * fit.a) / scale;
  const b = (spacing * fit.b) / scale;
  // The chip centre's image, fit(size/2, size/2), is where pixel (size-1)/2 lands.
  const centreX = fit.a * (size / 2) - fit.b * (size / 2) + fit.tx;
  const centreY = fit.b * (size / 2) + fit.a * (size / 2) + fit.ty;
  const c = (size - 1) / 2;
  const chipToImage = { a, b, tx: centreX - (a * c - b * c), ty: centreY - (b * c + a * c) };
  return invertSimilarity(chipToImage);
}

function dlibPairs(landmarks: FaceLandmarks): { image: Point[]; unit: Point[] } {
  const t = DLIB_KEYPOINT_TEMPLATE;
  return {
    image: [landmarks.leftEye, landmarks.rightEye, landmarks.nose, landmarks.mouth],
    unit: [t.leftEye, t.rightEye, t.nose, t.mouth],
  };
}

export function alignFace(image: RgbImage, landmarks: FaceLandmarks, crop: CropGeometry): AlignedFace {
  let imageToCrop: SimilarityTransform;
  if (crop.template === 'dlib') {
    const pairs = dlibPairs(landmarks);
    imageToCrop = dlibChipTransform(pairs.image, pairs.unit, crop.size, crop.padding);
  } else {
    const { from, to } = alignmentPairs(landmarks, crop);
    imageToCrop = estimateSimilarity(from, to);
  }
  return { pixels: warpSimilarity(image, imageToCrop, crop.size, crop.size), size: crop.size, imageToCrop };
}
