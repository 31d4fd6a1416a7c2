import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateEmbeddings } from '../../../models/bench/evaluate';
import { TEMPLATE_MODES, type EmbeddedPhoto } from '../../../models/bench/recognition';
import { splitByIdentity } from '../../../models/bench/stats';
import { l2Normalise } from '../../../models/pipeline/embedders';

const DIM = 40;

/** One axis per person, each photo a little off it; strangers have axes of their own. */
function photosOf(identity: string, axis: number, count: number): EmbeddedPhoto[] {
  return Array.from({ length: count }, (_, n) => {
    const v = Array.from({ length: DIM }, (_, k) => 0.04 * Math.sin(axis * 7.1 + n * 3.3 + k));
    v[axis] = 1;
    return {
      identity,
      path: `${identity}/${n}.jpg`,
      embedding: l2Normalise(Float32Array.from(v)),
      quality: n,
    };
  });
}

void describe('evaluateEmbeddings', () => {
  const people = Array.from({ length: 12 }, (_, i) => `set/p${String(i).padStart(2, '0')}`);
  const faces = people.flatMap((id, i) => photosOf(id, i, 8));
  const strangers = Array.from(
    { length: 20 },
    (_, i) => photosOf(`strangers/s${i}`, 12 + i, 1)[0] as EmbeddedPhoto,
  );
  const split = splitByIdentity(people, 3);
  const input = {
    sets: [{ name: 'set', split, faces }],
    strangers: { calibration: strangers.slice(0, 10), report: strangers.slice(10) },
    seed: 3,
  };

  void it('when every person is far from every other, then every template identifies and verifies everyone and accepts no stranger', () => {
    const e = evaluateEmbeddings(input);
    const [s] = e.sets;
    assert.ok(s);
    assert.equal(s.usable, 96);
    for (const mode of TEMPLATE_MODES) {
      assert.equal(s.rank1[mode].rate, 1, mode);
      assert.equal(s.templates[mode].counts.hit.rate, 1, mode);
      assert.equal(s.templates[mode].counts.strangerAccepted.count, 0, mode);
    }
    for (const t of s.tarAtFar) assert.equal(t.tar.rate, 1);
    assert.ok(s.impostorSpread.sd < 0.05 && Math.abs(s.impostorSpread.mean) < 0.1);
    assert.equal(e.shippedFrom, 'this run (not calibrated before)');
    assert.deepEqual(e.shipped, e.calibrated.max);
  });

  void it('when an operating point is shipped, then the shipped figures use it and the calibrated ones do not', () => {
    const shipped = { threshold: 0.999, minMargin: 0, votes: 2 };
    const e = evaluateEmbeddings({ ...input, shipped });
    const [s] = e.sets;
    assert.equal(e.shippedFrom, 'manifest');
    assert.deepEqual(s?.shipped.operatingPoint, shipped);
    assert.equal(s?.shipped.counts.hit.count, 0, 'no probe reaches 0.999');
    assert.equal(s?.templates.max.counts.hit.rate, 1);
  });
});
