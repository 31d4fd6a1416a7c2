import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClassroomSource } from '../../../edge/sources/classroom';
import { pacer } from '../../../edge/sources/types';

void describe('frame sources', () => {
  void test('when frames are unpaced (fps 0) and the consumer skips them all, then I/O and timers still run', async () => {
    const tick = pacer(0);
    const signal = new AbortController().signal;
    let timerRan = false;
    setTimeout(() => (timerRan = true), 0);
    for (let i = 0; i < 1000 && !timerRan; i++) await tick(signal);
    assert.equal(timerRan, true, 'a timer due now runs while the loop takes ticks');
  });

  void test('when a looping classroom source is read as fast as possible, then a timer still fires between frames', async () => {
    const source = new ClassroomSource([{ people: [], frames: 2 }], 64, 48, { fps: 0, loop: true });
    const stop = new AbortController();
    let frames = 0;
    setTimeout(() => stop.abort(), 20);
    for await (const frame of source.frames(stop.signal)) {
      frames++;
      assert.equal(frame.seq, frames - 1);
      if (frames > 1_000_000) break;
    }
    assert.ok(stop.signal.aborted, `the abort timer ran (after ${frames} frames)`);
  });
});
