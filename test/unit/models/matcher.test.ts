import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EmbeddingDimensionError, Matcher } from '../../../models';
import { l2Normalise } from '../../../models/pipeline/embedders';

function unit(...values: number[]): Float32Array {
  return l2Normalise(Float32Array.from(values));
}

void describe('Matcher', () => {
  const roster = [
    { personId: 'ada', embedding: unit(1, 0, 0) },
    { personId: 'ada', embedding: unit(0.9, 0.1, 0) },
    { personId: 'bob', embedding: unit(0, 1, 0) },
    { personId: 'cyd', embedding: unit(0, 0, 1) },
  ];

  void it('when the probe is close to one person, then it matches them with the margin over the runner-up', () => {
    const matcher = new Matcher(3, roster, { threshold: 0.5 });
    const result = matcher.match(unit(0.95, 0.3, 0));
    assert.equal(result.kind, 'match');
    assert.equal(result.kind === 'match' && result.personId, 'ada');
    assert.equal(result.kind === 'match' && result.secondPersonId, 'bob');
    const adaBest = Math.max(...[unit(1, 0, 0), unit(0.9, 0.1, 0)].map((e) => dot(e, unit(0.95, 0.3, 0))));
    assert.ok(Math.abs(result.score - adaBest) < 1e-6);
    assert.ok(Math.abs(result.margin - (adaBest - dot(unit(0, 1, 0), unit(0.95, 0.3, 0)))) < 1e-6);
  });

  void it('when the best score is under the threshold, then the probe is unknown', () => {
    const matcher = new Matcher(3, roster, { threshold: 0.9 });
    const result = matcher.match(unit(1, 1, 1));
    assert.equal(result.kind, 'unknown');
    assert.equal(result.kind === 'unknown' && result.reason, 'below-threshold');
  });

  void it('when two people score almost the same, then a minimum margin makes it ambiguous', () => {
    const singlePhotoRoster = roster.filter((_, row) => row !== 1);
    const matcher = new Matcher(3, singlePhotoRoster, { threshold: 0.3, minMargin: 0.05 });
    const result = matcher.match(unit(1, 1.02, 0.1));
    assert.equal(result.kind, 'unknown');
    assert.equal(result.kind === 'unknown' && result.reason, 'ambiguous');
  });

  void it('when the roster is empty, then every probe is unknown', () => {
    const result = new Matcher(3, [], { threshold: 0.3 }).match(unit(1, 0, 0));
    assert.deepEqual([result.kind, result.kind === 'unknown' && result.reason], ['unknown', 'empty-roster']);
  });

  void it('when scoring all rows, then it is one dot product per enrolled embedding', () => {
    const scores = new Matcher(3, roster, { threshold: 0 }).scoreAll(unit(0, 1, 0));
    assert.equal(scores.length, 4);
    assert.ok(Math.abs((scores[2] ?? 0) - 1) < 1e-6);
  });

  void it('when an embedding has the wrong size, then a typed error names the problem', () => {
    assert.throws(() => new Matcher(4, roster, { threshold: 0 }), EmbeddingDimensionError);
    assert.throws(
      () => new Matcher(3, roster, { threshold: 0 }).match(new Float32Array(2)),
      EmbeddingDimensionError,
    );
  });
});

function dot(a: Float32Array, b: Float32Array): number {
  return a.reduce((s, v, i) => s + v * (b[i] ?? 0), 0);
}
