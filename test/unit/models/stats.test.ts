import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { thresholdAtFar, wilsonInterval } from '../../../models/bench/stats';

void describe('benchmark statistics', () => {
  void it('when 8 of 10 succeed, then the Wilson interval matches the textbook value', () => {
    const ci = wilsonInterval(8, 10);
    assert.ok(Math.abs(ci.low - 0.4902) < 1e-3 && Math.abs(ci.high - 0.9433) < 1e-3);
  });

  void it('when FAR is 10% of 10 impostors, then exactly one impostor scores at or above the threshold', () => {
    const impostors = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
    const t = thresholdAtFar(impostors, 0.1);
    assert.equal(impostors.filter((s) => s >= t).length, 1);
  });
});
