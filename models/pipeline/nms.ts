/** Overlap removal for raw detector candidates. */
import { intersectionOverMin, iou, type Box, type Point } from './geometry';

export interface Candidate {
  box: Box;
  score: number;
  points: Point[];
}

/**
 * MediaPipe-style weighted NMS: overlapping candidates are blended, weighted by score, which
 * steadies box and keypoints more than keeping the single best candidate.
 */
export function weightedNms(candidates: readonly Candidate[], iouThreshold: number): Candidate[] {
  const sorted = [...candidates].sort((p, q) => q.score - p.score);
  const used = new Array<boolean>(sorted.length).fill(false);
  const out: Candidate[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (used[i]) continue;
    const head = sorted[i] as Candidate;
    const group: Candidate[] = [];
    for (let j = i; j < sorted.length; j++) {
      const c = sorted[j] as Candidate;
      if (!used[j] && iou(head.box, c.box) >= iouThreshold) {
        used[j] = true;
        group.push(c);
      }
    }
    const total = group.reduce((s, c) => s + c.score, 0);
    const blend = (get: (c: Candidate) => number): number =>
      group.reduce((s, c) => s + get(c) * c.score, 0) / total;
    out.push({
      score: head.score,
      box: {
        x: blend((c) => c.box.x),
        y: blend((c) => c.box.y),
        width: blend((c) => c.box.width),
        height: blend((c) => c.box.height),
      },
      points: head.points.map((_, k) => ({
        x: blend((c) => c.points[k]?.x ?? 0),
        y: blend((c) => c.points[k]?.y ?? 0),
      })),
    });
  }
  return out;
}

/** Greedy NMS by intersection-over-smaller-box: merges detections of one face found in several tiles. */
export function suppressContained(candidates: readonly Candidate[], threshold: number): Candidate[] {
  const sorted = [...candidates].sort((p, q) => q.score - p.score);
  const kept: Candidate[] = [];
  for (const c of sorted) {
    if (kept.every((k) => intersectionOverMin(k.box, c.box) < threshold)) kept.push(c);
  }
  return kept;
}

/** Plain greedy NMS by IoU (UltraFace's reference post-processing). */
export function hardNms(candidates: readonly Candidate[], iouThreshold: number): Candidate[] {
  const sorted = [...candidates].sort((p, q) => q.score - p.score);
  const kept: Candidate[] = [];
  for (const c of sorted) {
    if (kept.every((k) => iou(k.box, c.box) < iouThreshold)) kept.push(c);
  }
  return kept;
}
