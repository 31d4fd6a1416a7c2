import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applySimilarity,
  estimateSimilarity,
  invertSimilarity,
  iou,
  warpSimilarity,
  type SimilarityTransform,
} from '../../../models/pipeline/geometry';
import { poseFromLandmarks } from '../../../models/pipeline/quality';
import { ARCFACE_TEMPLATE_112 } from '../../../models/pipeline/align';

/** Bilinear sampling written the plain way, pixel by pixel with every bounds check: the meaning of a warp. */
function referenceWarp(
  src: { width: number; height: number; data: Uint8Array },
  m: SimilarityTransform,
  w: number,
  h: number,
): Uint8Array {
  const inv = invertSimilarity(m);
  const out = new Uint8Array(w * h * 3);
  const at = (x: number, y: number, c: number) =>
    x < 0 || y < 0 || x >= src.width || y >= src.height
      ? 0
      : (src.data[(y * src.width + x) * 3 + c] as number);
  for (let v = 0; v < h; v++)
    for (let u = 0; u < w; u++) {
      const sx = inv.a * u - inv.b * v + inv.tx;
      const sy = inv.b * u + inv.a * v + inv.ty;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= src.width || y0 >= src.height) continue;
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        acc += (1 - fx) * (1 - fy) * at(x0, y0, c);
        acc += fx * (1 - fy) * at(x0 + 1, y0, c);
        acc += (1 - fx) * fy * at(x0, y0 + 1, c);
        acc += fx * fy * at(x0 + 1, y0 + 1, c);
        out[(v * w + u) * 3 + c] = Math.round(acc);
      }
    }
  return out;
}

void describe('geometry', () => {
  void it('when a chip is warped inside, across and beyond the image edges, then every byte equals plain bilinear sampling', () => {
    const width = 61;
    const height = 47;
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const src = {
      width,
      height,
      data: Uint8Array.from({ length: width * height * 3 }, () => Math.floor(random() * 256)),
    };
    const transforms: SimilarityTransform[] = [
      { a: 1, b: 0, tx: 0, ty: 0 },
      { a: 2.3, b: 0.4, tx: -20, ty: -15 },
      { a: 0.7, b: -0.2, tx: 10, ty: 30 },
      { a: 1.1, b: 0.05, tx: -55, ty: -40 },
      { a: 3, b: 1, tx: 5, ty: -90 },
    ];
    let inside = 0;
    for (const m of transforms) {
      const got = warpSimilarity(src, m, 40, 40);
      assert.deepEqual(got, referenceWarp(src, m, 40, 40));
      inside += got.filter((x) => x !== 0).length;
    }
    assert.ok(inside > 1000, 'the transforms sample real pixels, not only the black outside');
  });

  void it('when points are a rotated, scaled, shifted copy, then the similarity transform is recovered exactly', () => {
    const truth = { a: 1.5 * Math.cos(0.3), b: 1.5 * Math.sin(0.3), tx: 12, ty: -7 };
    const from = [
      { x: 0, y: 0 },
      { x: 10, y: 2 },
      { x: 4, y: 9 },
      { x: -3, y: 5 },
    ];
    const found = estimateSimilarity(
      from,
      from.map((p) => applySimilarity(truth, p)),
    );
    for (const key of ['a', 'b', 'tx', 'ty'] as const)
      assert.ok(Math.abs(found[key] - truth[key]) < 1e-9, key);
    const back = applySimilarity(invertSimilarity(found), applySimilarity(found, { x: 3, y: 4 }));
    assert.ok(Math.abs(back.x - 3) < 1e-9 && Math.abs(back.y - 4) < 1e-9);
  });

  void it('when boxes overlap by half, then IoU is one third', () => {
    assert.ok(
      Math.abs(iou({ x: 0, y: 0, width: 2, height: 2 }, { x: 1, y: 0, width: 2, height: 2 }) - 1 / 3) < 1e-12,
    );
  });

  void it('when landmarks are the ArcFace template, then the pose reads as frontal', () => {
    const t = ARCFACE_TEMPLATE_112;
    const mouth = { x: (t.mouthLeft.x + t.mouthRight.x) / 2, y: (t.mouthLeft.y + t.mouthRight.y) / 2 };
    const pose = poseFromLandmarks({ leftEye: t.leftEye, rightEye: t.rightEye, nose: t.nose, mouth });
    assert.ok(Math.abs(pose.yaw) < 0.05);
    assert.ok(Math.abs(pose.rollDegrees) < 1);
    assert.ok(pose.pitch > 0.4 && pose.pitch < 0.6);
  });
});
