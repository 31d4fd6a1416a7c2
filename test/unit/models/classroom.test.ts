import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FaceObservation } from '../../../edge/tracker';
import { config } from '../../../lib/config';
import { createFacePipeline, recognitionDefaults, type FacePipeline } from '../../../models';
import {
  castClassroom,
  countClassroom,
  DEFAULT_CLASSROOM_LAYOUT,
  planClassroom,
  playScene,
  runClassroom,
  seatAt,
  type ClassroomCast,
  type ClassroomPerson,
  type SceneOutcome,
} from '../../../models/bench/classroom';
import { splitByIdentity } from '../../../models/bench/stats';
import {
  findLabelledFaces,
  labelledFacesDir,
  type LabelledFace,
} from '../../../models/datasets/labelled-faces';
import { ensureModels, repoRoot } from '../../support/faces';

const photo = (identity: string, n: number, set: LabelledFace['set'] = 'att'): LabelledFace => ({
  set,
  identity,
  path: `/faces/${identity}/${String(n).padStart(2, '0')}.jpg`,
  padScale: set === 'strangers' ? 1 : 2,
});

const person = (
  identity: string,
  role: ClassroomPerson['role'],
  photos: number,
  origin = 'att',
): ClassroomPerson => ({
  identity,
  origin,
  role,
  photos: Array.from({ length: photos }, (_, n) =>
    photo(identity, n, origin === 'gallery' ? 'strangers' : 'att'),
  ),
});

void describe('classroom bench: counting marks', () => {
  const seat = (identity: string, role: 'student' | 'stranger', origin = 'att') => ({
    identity,
    origin,
    role,
    found: 20,
    compared: 20,
  });

  void it('when scenes hold right, late, wrong and off-seat marks, then each is counted where it belongs', () => {
    const scenes: SceneOutcome[] = [
      {
        label: 'scene 1',
        seats: [
          seat('S1', 'student'),
          seat('S2', 'student'),
          seat('X', 'stranger', 'celebrities'),
          seat('G1', 'stranger', 'gallery'),
        ],
        marks: [
          { seat: 0, studentId: 'S1', atMs: 750, trackId: 1 },
          // A second track of the same student later in the lesson: still one appearance, first mark counts.
          { seat: 0, studentId: 'S1', atMs: 30_000, trackId: 6 },
          { seat: 1, studentId: 'S1', atMs: 1_500, trackId: 2 },
          { seat: 2, studentId: 'S2', atMs: 5_000, trackId: 3 },
          { seat: undefined, studentId: 'S3', atMs: 100, trackId: 7 },
        ],
        frames: 160,
        tracksStarted: 5,
        tracksPoisoned: 1,
      },
      {
        label: 'scene 2',
        seats: [seat('S1', 'student'), seat('S2', 'student'), seat('G2', 'stranger', 'gallery')],
        marks: [
          { seat: 0, studentId: 'S1', atMs: 70_000, trackId: 1 },
          { seat: 1, studentId: 'S2', atMs: 2_250, trackId: 2 },
        ],
        frames: 160,
        tracksStarted: 3,
        tracksPoisoned: 0,
      },
    ];
    const c = countClassroom(scenes, 60_000);
    assert.equal(c.scenes, 2);
    assert.equal(c.frames, 320);
    assert.deepEqual(c.people, { appearances: 7, perScene: { min: 3, mean: 3.5, max: 4 } });
    assert.deepEqual(c.tracks, {
      started: 8,
      perScene: { min: 3, mean: 4, max: 5 },
      perPerson: 8 / 7,
      poisoned: 1,
    });
    assert.equal(c.students.people, 2);
    assert.equal(c.students.appearances, 4);
    assert.deepEqual(c.students.marked, { count: 2, total: 4, rate: 0.5 });
    assert.deepEqual(c.students.peopleMarked, { count: 0, total: 2, rate: 0 }, 'each missed one scene');
    assert.deepEqual(c.students.secondsToMark, { median: 0.75, p95: 2.25, max: 2.25 });
    assert.deepEqual(c.students.markedAsSomeoneElse, { count: 1, total: 4, rate: 0.25 });
    assert.deepEqual(c.students.missed, [
      { scene: 'scene 1', identity: 'S2' },
      { scene: 'scene 2', identity: 'S1' },
    ]);
    assert.equal(c.strangers.people, 3);
    assert.equal(c.strangers.appearances, 3);
    assert.deepEqual(c.strangers.marked, { count: 1, total: 3, rate: 1 / 3 });
    assert.equal(c.strangers.peopleMarked, 1);
    assert.deepEqual(c.strangers.byOrigin, {
      celebrities: { count: 1, total: 1, rate: 1 },
      gallery: { count: 0, total: 2, rate: 0 },
    });
    assert.deepEqual(c.strangers.marks, [{ scene: 'scene 1', identity: 'X', markedAs: 'S2', atSeconds: 5 }]);
    assert.equal(c.marksOffSeat, 1);
    assert.equal(c.wrongMarks, 3, 'off-seat, the student marked as S1, the stranger marked as S2');
  });

  void it('when no student is ever marked, then the time to mark is absent rather than zero', () => {
    const c = countClassroom(
      [
        {
          label: 'scene 1',
          seats: [seat('S1', 'student'), seat('G1', 'stranger', 'gallery')],
          marks: [],
          frames: 160,
          tracksStarted: 2,
          tracksPoisoned: 0,
        },
      ],
      60_000,
    );
    assert.equal(c.students.secondsToMark, null);
    assert.deepEqual(c.students.marked, { count: 0, total: 1, rate: 0 });
    assert.deepEqual(c.strangers.marked, { count: 0, total: 1, rate: 0 });
  });
});

void describe('classroom bench: playing a scene through the edge tracker', () => {
  const rules = { threshold: 0.9, minMargin: 0, votes: 3 };
  const layout = { width: 640, frames: 24, frameIntervalMs: 375 };
  // Three seats of 213 px: faces centred in each.
  const box = (seat: number) => ({ x: 213 * seat + 76, y: 200, width: 60, height: 60 });

  void it('when a student scores high in every image and a stranger once in a loop of six, then only the student is marked, on the third analysed frame', () => {
    const images: FaceObservation[][] = Array.from({ length: 6 }, (_, k) => [
      { box: box(0), best: { studentId: 'S1', score: 0.97, margin: 0.1 } },
      { box: box(1), best: { studentId: 'S1', score: 0.5, margin: 0.02 } },
      {
        box: box(2),
        best:
          k === 2
            ? { studentId: 'S2', score: 0.99, margin: 0.2 }
            : { studentId: 'S2', score: 0.3, margin: 0 },
      },
    ]);
    const outcome = playScene(
      {
        label: 'scene 1',
        seats: [
          { identity: 'S1', origin: 'att', role: 'student' },
          { identity: 'X', origin: 'att', role: 'stranger' },
          { identity: 'G', origin: 'gallery', role: 'stranger' },
        ],
        offsets: images.map(() => ({ x: 0, y: 0 })),
      },
      images,
      layout,
      rules,
      Date.UTC(2026, 0, 5, 9),
    );
    assert.deepEqual(outcome.marks, [{ seat: 0, studentId: 'S1', atMs: 750, trackId: 1 }]);
    assert.equal(outcome.frames, 24);
    assert.equal(outcome.tracksStarted, 3, 'one track a person for the whole scene');
    assert.deepEqual(
      outcome.seats.map((s) => [s.found, s.compared]),
      [
        [6, 6],
        [6, 6],
        [6, 6],
      ],
    );
    const c = countClassroom([outcome], 24 * 375);
    assert.deepEqual(c.students.marked, { count: 1, total: 1, rate: 1 });
    assert.deepEqual(c.strangers.marked, { count: 0, total: 2, rate: 0 });
  });

  void it('when a stranger keeps scoring above the threshold for a student, then the stranger is marked and counted as such', () => {
    const images: FaceObservation[][] = Array.from({ length: 5 }, () => [
      { box: box(0) },
      { box: box(1), best: { studentId: 'S1', score: 0.95, margin: 0.1 } },
    ]);
    const outcome = playScene(
      {
        label: 'scene 1',
        seats: [
          { identity: 'S1', origin: 'att', role: 'student' },
          { identity: 'X', origin: 'att', role: 'stranger' },
        ],
        offsets: images.map(() => ({ x: 0, y: 0 })),
      },
      images,
      { ...layout, width: 426 },
      rules,
      0,
    );
    const c = countClassroom([outcome], 24 * 375);
    assert.deepEqual(c.strangers.marks, [
      { scene: 'scene 1', identity: 'X', markedAs: 'S1', atSeconds: 0.75 },
    ]);
    assert.deepEqual(c.students.marked, { count: 0, total: 1, rate: 0 }, 'a face that was never compared');
    assert.deepEqual(
      outcome.seats.map((s) => [s.found, s.compared]),
      [
        [5, 0],
        [5, 5],
      ],
    );
  });

  void it('when a face sits in a slot moved by the scene offset, then it is attributed to that seat; outside every slot, to none', () => {
    assert.equal(seatAt({ x: 200, y: 0, width: 40, height: 40 }, 3, 640, { x: 0 }), 1);
    assert.equal(seatAt({ x: 200, y: 0, width: 40, height: 40 }, 3, 640, { x: 12 }), 0);
    assert.equal(seatAt({ x: 630, y: 0, width: 40, height: 40 }, 3, 640, { x: 0 }), undefined);
  });
});

void describe('classroom bench: casting and planning scenes', () => {
  void it('when the cast is drawn, then students and labelled strangers are the two halves of the report half only', () => {
    const ids = Array.from({ length: 8 }, (_, i) => `att/s0${i + 1}`);
    const report = ['att/s01', 'att/s03', 'att/s05', 'att/s07'];
    const photos = ids.flatMap((id) => [0, 1, 2].map((n) => photo(id, n)));
    const gallery = ['strangers/b', 'strangers/a'].map((id) => photo(id, 0, 'strangers'));
    const cast = castClassroom([{ name: 'att', photos, report }], gallery, 14);
    const { calibration, report: others } = splitByIdentity(report, 14);
    assert.deepEqual(
      cast.students.map((s) => s.identity),
      calibration,
    );
    assert.deepEqual(
      cast.strangers.map((s) => s.identity),
      others,
    );
    for (const p of [...cast.students, ...cast.strangers]) {
      assert.equal(p.photos.length, 3);
      assert.ok(p.photos.every((f) => f.identity === p.identity));
    }
    assert.deepEqual(
      cast.gallery.map((g) => [g.identity, g.origin, g.role, g.photos.length]),
      [
        ['strangers/a', 'gallery', 'stranger', 1],
        ['strangers/b', 'gallery', 'stranger', 1],
      ],
    );
  });

  const cast: ClassroomCast = {
    students: ['S1', 'S2', 'S3', 'S4'].map((id) => person(id, 'student', 7)),
    strangers: ['X1', 'X2', 'X3', 'X4'].map((id) => person(id, 'stranger', 10)),
    gallery: Array.from({ length: 50 }, (_, i) =>
      person(`G${String(i).padStart(2, '0')}`, 'stranger', 1, 'gallery'),
    ),
  };
  const layout = { ...DEFAULT_CLASSROOM_LAYOUT, distinctFrames: 8, photoFrames: 2 };
  const plan = {
    seed: 14,
    scenes: 6,
    seats: { min: 3, max: 5 },
    studentAppearances: 3,
    strangerAppearances: 2,
  };

  void it('when scenes are planned, then everyone is seated as asked, every scene mixes students and strangers, and nobody sits twice in one scene', () => {
    const scenes = planClassroom(cast, layout, plan);
    assert.equal(scenes.length, 6);
    const count = new Map<string, number>();
    for (const scene of scenes) {
      const ids = scene.seats.map((s) => s.person.identity);
      assert.ok(ids.length >= 3 && ids.length <= 5, `${scene.label}: ${ids.length} people`);
      assert.equal(new Set(ids).size, ids.length);
      assert.ok(scene.seats.some((s) => s.person.role === 'student'));
      assert.ok(scene.seats.some((s) => s.person.role === 'stranger'));
      for (const id of ids) count.set(id, (count.get(id) ?? 0) + 1);
    }
    for (const s of cast.students) assert.equal(count.get(s.identity), 3);
    for (const s of cast.strangers) assert.equal(count.get(s.identity), 2);
    assert.ok(cast.gallery.every((g) => (count.get(g.identity) ?? 0) <= 1));
    assert.deepEqual(planClassroom(cast, layout, plan), scenes, 'seeded: the same plan every time');
  });

  void it('when a seat is planned, then it shows its own photos, a new one every few images, with a face scale that moves, and the scene walks a closed loop', () => {
    const scenes = planClassroom(cast, layout, plan);
    for (const scene of scenes) {
      assert.equal(scene.offsets.length, 8);
      for (const seat of scene.seats) {
        assert.equal(seat.shots.length, 8);
        assert.ok(seat.shots.every((s) => seat.person.photos.includes(s.photo)));
        assert.ok(seat.shots.every((s) => s.scale <= 1 && s.scale >= 1 - layout.scaleJitter));
        assert.ok(new Set(seat.shots.map((s) => s.scale)).size > 1);
        if (seat.person.photos.length > 1) {
          for (let k = 0; k < 8; k += 2) {
            assert.equal(seat.shots[k]!.photo, seat.shots[k + 1]!.photo);
            if (k > 0) assert.notEqual(seat.shots[k]!.photo, seat.shots[k - 1]!.photo);
          }
        }
      }
      const step = (a: { x: number; y: number }, b: { x: number; y: number }) =>
        Math.hypot(a.x - b.x, a.y - b.y);
      const steps = scene.offsets.map((o, k) => step(o, scene.offsets[(k + 1) % 8]!));
      assert.ok(Math.max(...steps) < 15, `the loop's steps: ${steps.map((s) => s.toFixed(1)).join(', ')}`);
    }
    const s1 = scenes.flatMap((s) => s.seats).filter((s) => s.person.identity === 'S1');
    assert.notEqual(s1[0]!.shots[0]!.photo, s1[1]!.shots[0]!.photo, 'another scene, other photos');
  });

  void it('when the scenes cannot hold every student as often as asked, then planning says so', () => {
    assert.throws(
      () => planClassroom(cast, layout, { ...plan, scenes: 1, seats: { min: 3, max: 3 } }),
      /cannot seat/,
    );
  });
});

const lookup = findLabelledFaces(labelledFacesDir(repoRoot, config().ROLLCALL_FACES_DIR));
const skip = lookup.found ? false : `classroom scenes need the labelled faces: ${lookup.reason}`;

void describe('classroom bench on real faces (edge recognizer and tracker)', { skip }, () => {
  let pipeline: FacePipeline;
  before(
    async () => {
      const modelDir = ensureModels();
      pipeline = await createFacePipeline({ modelDir, intraOpNumThreads: 2 });
    },
    { timeout: 120_000 },
  );
  after(async () => pipeline?.dispose());

  void it(
    'when two att students and two att strangers share two short scenes, then both students are marked and no stranger is',
    { timeout: 300_000 },
    async () => {
      assert.ok(lookup.found);
      const att = lookup.sets.att;
      const report = splitByIdentity(
        att.map((p) => p.identity),
        14,
      ).report.slice(0, 4);
      const cast = castClassroom([{ name: 'att', photos: att, report }], [], 14);
      const report14 = await runClassroom({
        pipeline,
        rules: recognitionDefaults(ensureModels(), pipeline.embedderName),
        cast,
        layout: { ...DEFAULT_CLASSROOM_LAYOUT, frames: 16, distinctFrames: 6, photoFrames: 2 },
        plan: {
          seed: 14,
          scenes: 2,
          seats: { min: 3, max: 3 },
          studentAppearances: 1,
          strangerAppearances: 1,
        },
      });
      assert.equal(report14.enrolment.roster.students, 2);
      assert.equal(report14.enrolment.roster.embeddings, 6);
      assert.equal(report14.speed.imagesRecognised, 12);
      assert.equal(report14.speed.framesPlayed, 32);
      assert.deepEqual(report14.counts.students.marked, { count: 2, total: 2, rate: 1 });
      assert.equal(report14.counts.strangers.appearances, 2);
      assert.equal(report14.counts.strangers.marked.count, 0);
      assert.equal(report14.counts.wrongMarks, 0);
      const shown = report14.scenes.flatMap((s) => s.seats);
      assert.ok(
        shown.every((s) => s.found > 0),
        'every seat was found by the detector',
      );
    },
  );
});
