import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  justAbove,
  rateAtOrAbove,
  seededShuffle,
  splitByIdentity,
  tarAtFar,
  thresholdAtFar,
  wilsonInterval,
} from '../../../models/bench/stats';

void describe('benchmark statistics', () => {
  void it('when 8 of 10 succeed, then the Wilson interval matches the textbook value', () => {
    const ci = wilsonInterval(8, 10);
    assert.ok(Math.abs(ci.low - 0.4902) < 1e-3 && Math.abs(ci.high - 0.9433) < 1e-3);
  });

  void it('when FAR is 10% of 10 impostors, then exactly one impostor scores at or above the threshold', () => {
    const impostors = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
    const t = thresholdAtFar(impostors, 0.1);
    assert.equal(impostors.filter((s) => s >= t).length, 1);
    assert.ok(t > 0.9 && t <= 0.95);
  });

  void it('when impostors tie at the cut-off, then the tie is rejected as a whole and FAR stays under target', () => {
    // 20% of 10 allows two accepts, but the 2nd, 3rd and 4th highest tie at 0.8: only the 0.9 is accepted.
    const impostors = [0.9, 0.8, 0.8, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0];
    const t = thresholdAtFar(impostors, 0.2);
    assert.equal(rateAtOrAbove(impostors, t).count, 1);
    assert.ok(t > 0.8 && t < 0.80001);
    // A genuine score exactly at the tied value is rejected too; anything above it is accepted.
    const { tar, far } = tarAtFar([0.8, 0.85, 0.95], impostors, 0.2);
    assert.deepEqual([tar.count, far.count], [2, 1]);
  });

  void it('when every impostor ties, then no FAR below 100% accepts any of them', () => {
    const impostors = [0.3, 0.3, 0.3, 0.3];
    assert.equal(rateAtOrAbove(impostors, thresholdAtFar(impostors, 0.5)).count, 0);
    assert.equal(thresholdAtFar(impostors, 1), -Infinity);
  });

  void it('when FAR is below 1/n, then the threshold sits just above the highest impostor', () => {
    const impostors = [0.2, 0.7, 0.4];
    assert.equal(thresholdAtFar(impostors, 0.001), justAbove(0.7));
    assert.ok(justAbove(0.7) > 0.7 && justAbove(0.7) - 0.7 < 1e-15);
    assert.ok(justAbove(-0.5) > -0.5 && justAbove(0) > 0);
  });

  void it('when the threshold is chosen on one half, then TAR and FAR are measured on the other', () => {
    const chooseOn = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
    const { threshold, tar, far } = tarAtFar([0.5, 0.95, 0.99], [0.92, 0.2, 0.3, 0.1], 0.1, chooseOn);
    assert.equal(threshold, justAbove(0.9));
    assert.deepEqual([tar.count, tar.total, far.count, far.total], [2, 3, 1, 4]);
  });

  void it('when identities are split, then the halves are disjoint, cover everyone, and repeat for a seed', () => {
    const people = Array.from({ length: 25 }, (_, i) => `att/s${String(i + 1).padStart(2, '0')}`);
    const photos = people.flatMap((p) => [p, p, p]); // one entry per photo: a person is split, not a photo
    const a = splitByIdentity(photos, 7);
    assert.equal(a.calibration.length, 13);
    assert.equal(a.report.length, 12);
    assert.equal(new Set([...a.calibration, ...a.report]).size, 25);
    assert.ok(a.calibration.every((p) => !a.report.includes(p)));
    assert.deepEqual(splitByIdentity([...photos].reverse(), 7), a);
    assert.notDeepEqual(splitByIdentity(photos, 8).calibration, a.calibration);
  });

  void it('when shuffling with a seed, then the order is a permutation and the same every time', () => {
    const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const once = seededShuffle(items, 42);
    assert.deepEqual(once, seededShuffle(items, 42));
    assert.deepEqual([...once].sort(), items);
    assert.notDeepEqual(once, items);
  });
});
