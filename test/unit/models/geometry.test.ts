import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applySimilarity,
  estimateSimilarity,
  invertSimilarity,
  iou,
} from '../../../models/pipeline/geometry';
import { poseFromLandmarks } from '../../../models/pipeline/quality';
import { ARCFACE_TEMPLATE_112 } from '../../../models/pipeline/align';

void describe('geometry', () => {
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
