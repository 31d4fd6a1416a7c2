import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CALIBRATION_TARGETS,
  calibrate,
  countOpenSet,
  countTracks,
  enrol,
  openSetFolds,
  dot,
  pairScores,
  rank1,
  rosterOf,
  roundThresholdUp,
  type Decision,
  type EmbeddedPhoto,
} from '../../../models/bench/recognition';
import { l2Normalise } from '../../../models/pipeline/embedders';

function face(identity: string, n: number, v: number[]): EmbeddedPhoto {
  return { identity, path: `${identity}/${n}.jpg`, embedding: l2Normalise(Float32Array.from(v)) };
}

/** Three people on three axes, each photo slightly off its axis. */
function people(photos: number): EmbeddedPhoto[] {
  return ['a', 'b', 'c'].flatMap((id, axis) =>
    Array.from({ length: photos }, (_, n) => {
      const v = [0.1 * ((n % 3) - 1), 0.05 * (n % 2), 0.02 * n];
      v[axis] = 1;
      return face(id, n, v);
    }),
  );
}

function decision(
  identity: string,
  enrolled: boolean,
  best: string,
  score: number,
  margin: number,
): Decision {
  return { identity, enrolled, bestPersonId: best, score, margin };
}

void describe('recognition measures', () => {
  void it('when all pairs are scored, then pairs of one person are genuine and the rest impostors', () => {
    const { genuine, impostor } = pairScores(people(4));
    assert.equal(genuine.length, 3 * 6);
    assert.equal(impostor.length, (12 * 11) / 2 - 18);
    assert.ok(Math.min(...genuine) > Math.max(...impostor));
  });

  void it('when people are enrolled, then 3 photos each are enrolled, the rest are probes, the same for a seed', () => {
    const faces = [
      ...people(5),
      face('d', 0, [1, 1, 1]),
      face('d', 1, [1, 1, 0.9]),
      face('d', 2, [1, 0.9, 1]),
    ];
    const e = enrol(faces, ['a', 'b', 'c', 'd'], 3, 11);
    assert.deepEqual([...e.enrolled.keys()], ['a', 'b', 'c']); // d has no photo left to probe with
    assert.equal(e.probes.length, 3 * 2);
    for (const [id, photos] of e.enrolled) {
      assert.equal(photos.length, 3);
      assert.ok(!e.probes.some((p) => photos.includes(p)) && photos.every((p) => p.identity === id));
    }
    assert.deepEqual(enrol(faces, ['c', 'a', 'b', 'd'], 3, 11), e);
    assert.equal(rank1(e, 'max').rate, 1);
  });

  void it('when a mean template is built, then each person has one unit row along their mean', () => {
    const e = enrol(people(4), ['a', 'b'], 3, 1);
    const rows = rosterOf(e.enrolled, 'mean');
    assert.deepEqual(
      rows.map((r) => r.personId),
      ['a', 'b'],
    );
    const a = rows[0]!.embedding;
    assert.ok(Math.abs(a.reduce((s, v) => s + v * v, 0) - 1) < 1e-6);
    assert.ok(a[0]! > 0.98);
    assert.equal(rosterOf(e.enrolled, 'max').length, 6);
  });

  void it('when a mean-score template is built, then a probe scores the mean of its cosines with the enrolment photos', () => {
    const e = enrol(people(5), ['a', 'b'], 3, 4);
    const [row] = rosterOf(e.enrolled, 'mean-score');
    const probe = e.probes.find((p) => p.identity === 'a');
    assert.ok(row && probe);
    const photos = e.enrolled.get('a') ?? [];
    const meanCosine = photos.reduce((s, p) => s + dot(p.embedding, probe.embedding), 0) / photos.length;
    assert.ok(Math.abs(dot(row.embedding, probe.embedding) - meanCosine) < 1e-6);
    // Unlike the mean direction, the row is not rescaled: photos that disagree lower every score.
    assert.ok(dot(row.embedding, row.embedding) < 1);
  });

  void it('when enrolment is chosen from a pool by quality, then the best photos are enrolled and the probes stay those of the seeded choice', () => {
    const faces = people(9).map((f, i) => ({ ...f, quality: (i * 7) % 9 }));
    const seeded = enrol(faces, ['a', 'b', 'c'], 3, 5, { pool: 6, choose: 'seeded' });
    const best = enrol(faces, ['a', 'b', 'c'], 3, 5, { pool: 6, choose: 'quality' });
    assert.deepEqual(best.probes, seeded.probes);
    assert.equal(best.probes.length, 3 * 3);
    for (const [id, photos] of best.enrolled) {
      const pool = faces.filter((f) => f.identity === id && !best.probes.includes(f));
      assert.equal(pool.length, 6);
      const top = [...pool].sort((x, y) => (y.quality ?? 0) - (x.quality ?? 0)).slice(0, 3);
      assert.deepEqual(photos.map((p) => p.quality).sort(), top.map((p) => p.quality).sort());
    }
    // A person with no photo beyond the pool is not enrolled.
    assert.equal(enrol(people(6), ['a'], 3, 5, { pool: 6, choose: 'seeded' }).enrolled.size, 0);
  });

  void it('when an operating point is applied, then each face is a hit, a wrong person, a miss, or a stranger accepted', () => {
    const decisions = [
      decision('a', true, 'a', 0.8, 0.3), // hit
      decision('a', true, 'b', 0.7, 0.2), // wrong person
      decision('b', true, 'b', 0.4, 0.3), // below threshold: missed
      decision('b', true, 'b', 0.9, 0.01), // ambiguous: missed
      decision('x', false, 'a', 0.75, 0.4), // stranger accepted
      decision('y', false, 'a', 0.3, 0.2), // stranger rejected
    ];
    const c = countOpenSet(decisions, { threshold: 0.5, minMargin: 0.05 });
    assert.deepEqual([c.hit.count, c.wrongPerson.count, c.missed.count, c.hit.total], [1, 1, 2, 4]);
    assert.deepEqual([c.strangerAccepted.count, c.strangerAccepted.total], [1, 2]);
  });

  void it('when calibrating, then the threshold meets the pair FAR and the stranger rate, rounded up', () => {
    // 1,000 strangers: the top 5 may pass (0.5%), so the threshold goes just above the 6th highest (0.6).
    const strangers = Array.from({ length: 1000 }, (_, i) =>
      decision(`s${i}`, false, 'a', i < 5 ? 0.9 : i === 5 ? 0.6 : 0.1, 0.5),
    );
    const probes = Array.from({ length: 100 }, (_, i) => decision('a', true, 'a', 0.8, 0.5 + i / 1000));
    const low = calibrate([0.1, 0.2, 0.3], [...probes, ...strangers], CALIBRATION_TARGETS, 1);
    assert.equal(low.threshold, 0.601);
    assert.equal(low.thresholdFrom, 'stranger-rate');
    // With one impostor pair at 0.7 and FAR 0.1% of 4 pairs, the pair rule wins.
    const high = calibrate([0.1, 0.2, 0.3, 0.7], [...probes, ...strangers], CALIBRATION_TARGETS, 1);
    assert.equal(high.threshold, 0.701);
    assert.equal(high.thresholdFrom, 'pair-far');
    assert.equal(roundThresholdUp(0.5), 0.5);
    assert.equal(roundThresholdUp(0.5000001), 0.501);
  });

  void it('when wrong-person names have small margins, then calibration picks the smallest margin that removes them', () => {
    const probes = [
      ...Array.from({ length: 990 }, () => decision('a', true, 'a', 0.8, 0.2)),
      ...Array.from({ length: 10 }, (_, i) => decision('a', true, 'b', 0.8, i < 5 ? 0.015 : 0.035)),
    ];
    const c = calibrate([0], probes, CALIBRATION_TARGETS, 1);
    // 1% wrong at margin 0; 0.5% at 0.02; 0 at 0.04 (target 0.1%).
    assert.equal(c.minMargin, 0.04);
    assert.equal(c.wrongPersonBeyondMargin, false);
    assert.equal(countOpenSet(probes, c).wrongPerson.count, 0);
    // A confident look-alike (margin 0.3) cannot be removed by any margin: take the margin that removes
    // the rest, not the top of the grid.
    const lookAlike = decision('a', true, 'b', 0.9, 0.3);
    const withLookAlike = [...probes, lookAlike, lookAlike];
    const d = calibrate([0], withLookAlike, CALIBRATION_TARGETS, 1);
    assert.equal(d.minMargin, 0.04);
    assert.equal(d.wrongPersonBeyondMargin, true);
  });

  void it('when a stranger is named in some of their photos, then tracks need more votes to stay clean', () => {
    // Stranger x looks like a in 2 of 10 photos; enrolled a is recognised in 9 of 10.
    const decisions = [
      ...Array.from({ length: 10 }, (_, i) => decision('x', false, 'a', i < 2 ? 0.9 : 0.1, 0.5)),
      ...Array.from({ length: 10 }, (_, i) => decision('a', true, 'a', i < 9 ? 0.9 : 0.1, 0.5)),
    ];
    const op = { threshold: 0.5, minMargin: 0 };
    const one = countTracks(decisions, op, 1, 5, 50, 3);
    const three = countTracks(decisions, op, 3, 5, 50, 3);
    assert.ok(one.strangerAccepted.rate > 0.3, JSON.stringify(one));
    assert.equal(three.strangerAccepted.count, 0);
    assert.equal(three.hit.rate, 1);
    // Calibration: one of stranger z's 5 photos passes; with 1,000 single-portrait strangers that is
    // under 0.5% of faces, but every track of z contains it, so one vote is not enough.
    const calibrationSet = [
      ...Array.from({ length: 5 }, (_, i) => decision('z', false, 'a', i === 0 ? 0.9 : 0.1, 0.5)),
      ...Array.from({ length: 1000 }, (_, i) => decision(`g${i}`, false, 'a', 0.2, 0.5)),
      ...Array.from({ length: 10 }, () => decision('a', true, 'a', 0.9, 0.5)),
    ];
    const targets = { ...CALIBRATION_TARGETS, tracksPerPerson: 50, minVotes: 1 };
    const c = calibrate([0], calibrationSet, targets, 3);
    assert.equal(c.threshold, 0.201);
    assert.equal(c.votes, 2);
    // Without any stranger named, the data alone would allow one vote; the floor keeps two.
    const clean = calibrationSet.filter((d) => d.identity !== 'z');
    assert.equal(calibrate([0], clean, targets, 3).votes, 1);
    assert.equal(calibrate([0], clean, CALIBRATION_TARGETS, 3).votes, CALIBRATION_TARGETS.minVotes);
    assert.equal(countTracks(calibrationSet, c, 1, 5, 50, 3).strangerAccepted.rate, 1);
    assert.equal(countTracks(calibrationSet, c, 2, 5, 50, 3).falseAccepted.count, 0);
  });

  void it('when open-set folds run, then every identity is enrolled once and a stranger once', () => {
    const faces = people(6);
    const gallery = [face('g', 0, [1, 1, 1])];
    const decisions = openSetFolds(faces, ['a', 'b', 'c'], gallery, 3, 'max', 5);
    const enrolledIds = new Set(decisions.filter((d) => d.enrolled).map((d) => d.identity));
    const strangerIds = new Set(decisions.filter((d) => !d.enrolled).map((d) => d.identity));
    assert.deepEqual([...enrolledIds].sort(), ['a', 'b', 'c']);
    assert.deepEqual([...strangerIds].sort(), ['a', 'b', 'c', 'g']);
    assert.equal(decisions.filter((d) => d.enrolled).length, 3 * 3);
    assert.equal(decisions.filter((d) => d.identity === 'g').length, 2);
  });
});
