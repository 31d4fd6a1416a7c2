/**
 * Recognition as tracks, not frames. Each analysed frame's faces are associated with the face tracks of
 * the frames before (overlap with the track's predicted box, else a short move of its centre); a track
 * that is not seen for a few analysed frames, or for a few seconds, ends.
 *
 * A face votes for its best student when its score reaches the threshold with a lead of at least minMargin
 * over the runner-up, and no other face of the same frame scores higher for that student (one person is
 * never two faces at once). A track yields at most one sighting, and only once
 *   - `votes` of its last 2·votes − 1 compared faces voted for the same student (a majority of them),
 *   - the mean score those faces give that student reaches the threshold (the track's estimate, steadier
 *     than any one frame: a stranger who hovers just under the threshold crosses it now and then, a student
 *     stays above it), and
 *   - none of its faces ever voted for anyone else: a track whose votes disagree is poisoned and never marks.
 * So one stray frame's false accept never marks a stranger, and neither do accepts scattered over a long
 * stay. Faces the pipeline did not compare (low quality) move a track but do not count either way.
 *
 * The 30 s debounce (debounce.ts) stays after this stage: a student whose track ends and who is found
 * again yields a new sighting, which the debouncer holds back within its window.
 */
import type { Box } from '../models';

/** The decision rules of a vote and of a track (calibrated per embedder in the model manifest). */
export interface RecognitionRules {
  /** Cosine similarity a face must reach to vote for its best student. */
  threshold: number;
  /** Lead in cosine similarity the best student needs over the runner-up. */
  minMargin: number;
  /** Agreeing votes a track needs before it yields its sighting. */
  votes: number;
}

/** The roster's best student for one face. */
export interface Candidate {
  studentId: string;
  score: number;
  /** Lead of the best student's score over the runner-up's. */
  margin: number;
}

export interface FaceObservation {
  box: Box;
  /** Absent when the face was not compared with the roster (it failed the quality gate). */
  best?: Candidate;
}

export interface TrackingOptions {
  /** A track not seen in more than this many consecutive analysed frames ends. */
  maxMissedFrames: number;
  /** … or not seen for longer than this (a stalled camera must not join two people into one track). */
  maxGapMs: number;
  /** Least overlap (IoU) of a face with a track's predicted box to continue the track. */
  minIoU: number;
  /** Without that overlap: the largest move of the centre, in face widths, that still continues it. */
  maxCentreShift: number;
  /** Bound on live tracks (a detector gone wild must not grow memory without end). */
  maxTracks: number;
}

/** Sized for 1–4 analysed frames a second: a head turned away for a second keeps its track. */
export const DEFAULT_TRACKING: TrackingOptions = {
  maxMissedFrames: 3,
  maxGapMs: 4_000,
  minIoU: 0.3,
  maxCentreShift: 0.75,
  maxTracks: 64,
};

export interface TrackSighting {
  studentId: string;
  /** Mean score of the deciding votes. */
  confidence: number;
  /** When the first of the deciding votes was seen. */
  seenAt: Date;
  trackId: number;
}

export interface TrackerFrameResult {
  sightings: TrackSighting[];
  /** Compared faces of this frame that voted for a student, and those that did not. */
  votes: number;
  nonVotes: number;
}

export interface TrackerStats {
  tracksStarted: number;
  tracksPoisoned: number;
  tracksDecided: number;
}

/** The voting state of one track. */
export interface TrackVotes {
  /** The one student this track's faces voted for so far. */
  identity?: string;
  poisoned: boolean;
  decided: boolean;
  /** The last 2·votes − 1 compared faces: whom each voted for (null: nobody), its best student and score, when. */
  recent: { votedFor: string | null; best: string; score: number; at: number }[];
}

export interface TrackView {
  id: number;
  box: Box;
  identity?: string;
  poisoned: boolean;
  decided: boolean;
}

interface Track extends TrackVotes {
  id: number;
  box: Box;
  /** Centre motion in pixels per analysed frame (smoothed), for the predicted box. */
  vx: number;
  vy: number;
  seenCount: number;
  lastFrame: number;
  lastSeenMs: number;
}

export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** Distance between the boxes' centres in widths of the larger box. */
export function centreShift(a: Box, b: Box): number {
  const dx = a.x + a.width / 2 - (b.x + b.width / 2);
  const dy = a.y + a.height / 2 - (b.y + b.height / 2);
  return Math.hypot(dx, dy) / Math.max(a.width, b.width, 1);
}

/**
 * How well a face continues a track whose box is predicted at `predicted`: above 1 for an overlap of at
 * least minIoU (more overlap, higher), in (0, 1) for a short move of similar size, 0 for no association.
 */
export function affinity(predicted: Box, face: Box, opts: TrackingOptions): number {
  const overlap = iou(predicted, face);
  if (overlap >= opts.minIoU) return 1 + overlap;
  const ratio = face.width / Math.max(predicted.width, 1);
  if (ratio < 0.5 || ratio > 2) return 0;
  const shift = centreShift(predicted, face);
  return shift < opts.maxCentreShift ? 1 - shift / opts.maxCentreShift : 0;
}

/**
 * Greedy one-to-one association, best affinity first: for each face, the index of the track it continues
 * (undefined: a new track).
 */
export function associate(
  predicted: readonly Box[],
  faces: readonly Box[],
  opts: TrackingOptions,
): (number | undefined)[] {
  const pairs: { track: number; face: number; affinity: number }[] = [];
  predicted.forEach((p, track) =>
    faces.forEach((f, face) => {
      const a = affinity(p, f, opts);
      if (a > 0) pairs.push({ track, face, affinity: a });
    }),
  );
  pairs.sort((a, b) => b.affinity - a.affinity);
  const trackOf: (number | undefined)[] = faces.map(() => undefined);
  const taken = new Set<number>();
  for (const p of pairs) {
    if (taken.has(p.track) || trackOf[p.face] !== undefined) continue;
    taken.add(p.track);
    trackOf[p.face] = p.track;
  }
  return trackOf;
}

/** The student a compared face votes for under the rules, or undefined. */
export function voteOf(best: Candidate, rules: RecognitionRules): string | undefined {
  return best.score >= rules.threshold && best.margin >= rules.minMargin ? best.studentId : undefined;
}

/**
 * For each face, whether another face of the same frame scores higher for the same best student: such a
 * face cannot be that student and does not vote.
 */
export function outscoredFaces(faces: readonly FaceObservation[]): boolean[] {
  const top = new Map<string, number>();
  for (const f of faces)
    if (f.best) top.set(f.best.studentId, Math.max(top.get(f.best.studentId) ?? -Infinity, f.best.score));
  const winner = new Set<string>();
  return faces.map((f) => {
    if (!f.best || f.best.score < (top.get(f.best.studentId) as number)) return f.best !== undefined;
    // Two faces with the very same score: only the first is the student.
    if (winner.has(f.best.studentId)) return true;
    winner.add(f.best.studentId);
    return false;
  });
}

/**
 * Adds one compared face to a track's votes; returns the track's sighting when this face decides it.
 * `outscored`: another face of the frame scored higher for the same student (then this face does not
 * vote). Mutates `track`.
 */
export function addObservation(
  track: TrackVotes,
  best: Candidate,
  atMs: number,
  rules: RecognitionRules,
  outscored = false,
): Omit<TrackSighting, 'trackId'> | undefined {
  const vote = outscored ? undefined : voteOf(best, rules);
  track.recent.push({ votedFor: vote ?? null, best: best.studentId, score: best.score, at: atMs });
  if (track.recent.length > 2 * rules.votes - 1) track.recent.shift();
  if (vote !== undefined) {
    if (track.identity === undefined) track.identity = vote;
    else if (track.identity !== vote) track.poisoned = true;
  }
  if (track.poisoned || track.decided || track.identity === undefined) return undefined;
  const identity = track.identity;
  const agreeing = track.recent.filter((r) => r.votedFor === identity);
  if (agreeing.length < rules.votes) return undefined;
  const forIdentity = track.recent.filter((r) => r.best === identity);
  const mean = forIdentity.reduce((sum, r) => sum + r.score, 0) / forIdentity.length;
  if (mean < rules.threshold) return undefined;
  track.decided = true;
  return {
    studentId: identity,
    confidence: agreeing.reduce((sum, r) => sum + r.score, 0) / agreeing.length,
    seenAt: new Date(Math.min(...agreeing.map((r) => r.at))),
  };
}

function shifted(box: Box, dx: number, dy: number): Box {
  return { x: box.x + dx, y: box.y + dy, width: box.width, height: box.height };
}

export class FaceTracker {
  private tracks: Track[] = [];
  private frame = 0;
  private nextId = 1;
  readonly stats: TrackerStats = { tracksStarted: 0, tracksPoisoned: 0, tracksDecided: 0 };

  constructor(
    private rulesInUse: RecognitionRules,
    private readonly opts: TrackingOptions = DEFAULT_TRACKING,
  ) {}

  get rules(): RecognitionRules {
    return this.rulesInUse;
  }

  /** New rules end every track: votes counted under the old rules do not count under the new ones. */
  setRules(rules: RecognitionRules): void {
    const r = this.rulesInUse;
    if (r.threshold === rules.threshold && r.minMargin === rules.minMargin && r.votes === rules.votes) return;
    this.rulesInUse = rules;
    this.reset();
  }

  /** Forgets every track (a new class, a new roster: its students are decided afresh). */
  reset(): void {
    this.tracks = [];
  }

  get activeTracks(): readonly TrackView[] {
    return this.tracks.map(({ id, box, identity, poisoned, decided }) => ({
      id,
      box,
      ...(identity === undefined ? {} : { identity }),
      poisoned,
      decided,
    }));
  }

  /** One analysed frame's faces, in any order. */
  observe(faces: readonly FaceObservation[], at: Date): TrackerFrameResult {
    const frame = ++this.frame;
    const now = at.getTime();
    const live = this.tracks.filter((t) => now - t.lastSeenMs <= this.opts.maxGapMs);
    const predicted = live.map((t) =>
      shifted(t.box, t.vx * (frame - t.lastFrame), t.vy * (frame - t.lastFrame)),
    );
    const trackOf = associate(
      predicted,
      faces.map((f) => f.box),
      this.opts,
    );
    const result: TrackerFrameResult = { sightings: [], votes: 0, nonVotes: 0 };
    const outscored = outscoredFaces(faces);
    const started: Track[] = [];
    faces.forEach((face, i) => {
      const index = trackOf[i];
      let track: Track;
      if (index === undefined) {
        track = this.start(face.box, frame, now);
        started.push(track);
      } else {
        track = live[index] as Track;
        this.move(track, face.box, frame, now);
      }
      if (!face.best) return;
      const wasPoisoned = track.poisoned;
      const sighting = addObservation(track, face.best, now, this.rulesInUse, outscored[i]);
      if (outscored[i] || voteOf(face.best, this.rulesInUse) === undefined) result.nonVotes++;
      else result.votes++;
      if (track.poisoned && !wasPoisoned) this.stats.tracksPoisoned++;
      if (sighting) {
        this.stats.tracksDecided++;
        result.sightings.push({ ...sighting, trackId: track.id });
      }
    });
    this.tracks = [...live.filter((t) => frame - t.lastFrame <= this.opts.maxMissedFrames), ...started]
      .sort((a, b) => b.lastFrame - a.lastFrame)
      .slice(0, this.opts.maxTracks);
    return result;
  }

  private start(box: Box, frame: number, now: number): Track {
    this.stats.tracksStarted++;
    return {
      id: this.nextId++,
      box,
      vx: 0,
      vy: 0,
      seenCount: 1,
      lastFrame: frame,
      lastSeenMs: now,
      poisoned: false,
      decided: false,
      recent: [],
    };
  }

  private move(track: Track, box: Box, frame: number, now: number): void {
    const frames = Math.max(1, frame - track.lastFrame);
    const vx = (box.x + box.width / 2 - (track.box.x + track.box.width / 2)) / frames;
    const vy = (box.y + box.height / 2 - (track.box.y + track.box.height / 2)) / frames;
    // The first move sets the velocity; later ones are smoothed (detector boxes jitter by a few pixels).
    track.vx = track.seenCount === 1 ? vx : (track.vx + vx) / 2;
    track.vy = track.seenCount === 1 ? vy : (track.vy + vy) / 2;
    track.box = box;
    track.seenCount++;
    track.lastFrame = frame;
    track.lastSeenMs = now;
  }
}
