/**
 * Recognition measures on embedded, labelled faces, shared by the face benchmark and its tests:
 * verification pairs, closed-set rank-1, open-set decisions with a threshold and a margin, simulated
 * tracks for track-level votes, and the calibration of an operating point on one split of identities.
 */
import { Matcher, type RosterEmbedding } from '../pipeline/matcher';
import { l2Normalise } from '../pipeline/embedders';
import { rate, seededShuffle, thresholdAtFar, type Rate } from './stats';

export interface EmbeddedPhoto {
  identity: string;
  path: string;
  embedding: Float32Array;
  /** A quality score of the face (higher is better), for quality-aware enrolment. */
  quality?: number;
}

/**
 * How a person's enrolment photos are scored: the best of them (nearest photo, the Matcher), the cosine
 * to their mean direction (centroid), or the mean of the cosines to each (the unnormalised mean vector).
 */
export const TEMPLATE_MODES = ['max', 'mean', 'mean-score'] as const;
export type TemplateMode = (typeof TEMPLATE_MODES)[number];

export interface OperatingPoint {
  /** Cosine similarity a face must reach. */
  threshold: number;
  /** Lead the best person needs over the runner-up. */
  minMargin: number;
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

export function groupByIdentity(faces: readonly EmbeddedPhoto[]): Map<string, EmbeddedPhoto[]> {
  const groups = new Map<string, EmbeddedPhoto[]>();
  for (const face of faces) {
    const group = groups.get(face.identity);
    if (group) group.push(face);
    else groups.set(face.identity, [face]);
  }
  return groups;
}

/**
 * Every pair of faces: genuine when both show the same person (each file is its own photo, so every
 * genuine pair is cross-photo), impostor otherwise.
 */
export function pairScores(faces: readonly EmbeddedPhoto[]): { genuine: number[]; impostor: number[] } {
  const genuine: number[] = [];
  const impostor: number[] = [];
  for (let i = 0; i < faces.length; i++) {
    const p = faces[i] as EmbeddedPhoto;
    for (let j = i + 1; j < faces.length; j++) {
      const q = faces[j] as EmbeddedPhoto;
      if (p.path === q.path) continue;
      (p.identity === q.identity ? genuine : impostor).push(dot(p.embedding, q.embedding));
    }
  }
  return { genuine, impostor };
}

export interface Enrolment {
  /** Enrolment photos per enrolled person. */
  enrolled: Map<string, EmbeddedPhoto[]>;
  /** The enrolled people's other photos. */
  probes: EmbeddedPhoto[];
}

/**
 * Enrolment from a pool of candidate photos: the first `pool` of a person's seeded order are offered, and
 * `perPerson` of them are enrolled — the first ones (`seeded`) or those of highest quality (`quality`); the
 * other candidates are set aside, so both choices leave the same probes.
 */
export interface EnrolmentPool {
  pool: number;
  choose: 'seeded' | 'quality';
}

/**
 * Enrols `perPerson` photos (a seeded choice) of every given identity that has more than that many,
 * so each enrolled person has at least one probe; the rest of their photos are probes. With a pool, the
 * person needs more than `pool` photos and the enrolled ones are chosen among the pool's.
 */
export function enrol(
  faces: readonly EmbeddedPhoto[],
  identities: readonly string[],
  perPerson: number,
  seed: number,
  pool?: EnrolmentPool,
): Enrolment {
  const groups = groupByIdentity(faces);
  const enrolled = new Map<string, EmbeddedPhoto[]>();
  const probes: EmbeddedPhoto[] = [];
  const offered = Math.max(perPerson, pool?.pool ?? perPerson);
  for (const identity of [...identities].sort()) {
    const photos = groups.get(identity) ?? [];
    if (photos.length <= offered) continue;
    const shuffled = seededShuffle(
      [...photos].sort((a, b) => a.path.localeCompare(b.path)),
      seed,
    );
    const candidates = shuffled.slice(0, offered);
    // Stable sort: equal quality keeps the seeded order.
    const chosen =
      pool?.choose === 'quality'
        ? [...candidates].sort((a, b) => (b.quality ?? 0) - (a.quality ?? 0)).slice(0, perPerson)
        : candidates.slice(0, perPerson);
    enrolled.set(identity, chosen);
    probes.push(...shuffled.slice(offered));
  }
  return { enrolled, probes };
}

export function rosterOf(
  enrolled: ReadonlyMap<string, readonly EmbeddedPhoto[]>,
  mode: TemplateMode,
): RosterEmbedding[] {
  return [...enrolled].flatMap(([personId, photos]) => {
    if (mode === 'max') return photos.map((p) => ({ personId, embedding: p.embedding }));
    const dim = photos[0]?.embedding.length ?? 0;
    const sum = new Float32Array(dim);
    for (const p of photos)
      for (let k = 0; k < dim; k++) sum[k] = (sum[k] as number) + (p.embedding[k] as number);
    // A dot product with the plain mean of unit vectors is the mean of the cosines with each of them.
    const embedding = mode === 'mean' ? l2Normalise(sum) : sum.map((x) => x / photos.length);
    return [{ personId, embedding }];
  });
}

/** Closed-set identification: every probe's best-scoring enrolled person, no threshold. */
export function rank1(enrolment: Enrolment, mode: TemplateMode): Rate {
  const dim = enrolment.probes[0]?.embedding.length ?? 0;
  const matcher = new Matcher(dim, rosterOf(enrolment.enrolled, mode), { threshold: -Infinity });
  let correct = 0;
  for (const probe of enrolment.probes) {
    const r = matcher.match(probe.embedding);
    if (r.kind === 'match' && r.personId === probe.identity) correct++;
  }
  return rate(correct, enrolment.probes.length);
}

/** One face shown to an open-set matcher, with what the matcher saw, so any operating point can be applied. */
export interface Decision {
  identity: string;
  /** True for an enrolled person's probe, false for a stranger. */
  enrolled: boolean;
  bestPersonId: string;
  score: number;
  margin: number;
}

export function openSetDecisions(
  enrolled: ReadonlyMap<string, readonly EmbeddedPhoto[]>,
  probes: readonly EmbeddedPhoto[],
  strangers: readonly EmbeddedPhoto[],
  mode: TemplateMode,
): Decision[] {
  const dim = probes[0]?.embedding.length ?? strangers[0]?.embedding.length ?? 0;
  const matcher = new Matcher(dim, rosterOf(enrolled, mode), { threshold: -Infinity });
  const decide = (face: EmbeddedPhoto, isEnrolled: boolean): Decision => {
    const r = matcher.match(face.embedding);
    const bestPersonId = r.kind === 'match' ? r.personId : (r.bestPersonId ?? '');
    return { identity: face.identity, enrolled: isEnrolled, bestPersonId, score: r.score, margin: r.margin };
  };
  return [...probes.map((p) => decide(p, true)), ...strangers.map((s) => decide(s, false))];
}

export function accepts(decision: Decision, op: OperatingPoint): boolean {
  return decision.score >= op.threshold && decision.margin >= op.minMargin;
}

export interface OpenSetCounts {
  /** Enrolled people's faces named correctly / named as someone else / not named. */
  hit: Rate;
  wrongPerson: Rate;
  missed: Rate;
  /** Faces of people who are not enrolled that were named as someone enrolled. */
  strangerAccepted: Rate;
}

export function countOpenSet(decisions: readonly Decision[], op: OperatingPoint): OpenSetCounts {
  let probes = 0;
  let hits = 0;
  let wrong = 0;
  let strangers = 0;
  let strangerAccepted = 0;
  for (const d of decisions) {
    const accepted = accepts(d, op);
    if (d.enrolled) {
      probes++;
      if (accepted && d.bestPersonId === d.identity) hits++;
      else if (accepted) wrong++;
    } else {
      strangers++;
      if (accepted) strangerAccepted++;
    }
  }
  return {
    hit: rate(hits, probes),
    wrongPerson: rate(wrong, probes),
    missed: rate(probes - hits - wrong, probes),
    strangerAccepted: rate(strangerAccepted, strangers),
  };
}

/**
 * The open-set protocol on one group of identities: the group is split in two (seeded); one half is
 * enrolled with `perPerson` photos while the other half and the extra strangers are strangers, then
 * the roles swap. Decisions of both folds are pooled, so every identity is enrolled once and a stranger once.
 */
export function openSetFolds(
  faces: readonly EmbeddedPhoto[],
  identities: readonly string[],
  extraStrangers: readonly EmbeddedPhoto[],
  perPerson: number,
  mode: TemplateMode,
  seed: number,
  pool?: EnrolmentPool,
): Decision[] {
  const shuffled = seededShuffle([...identities].sort(), seed);
  const half = Math.ceil(shuffled.length / 2);
  const folds = [shuffled.slice(0, half), shuffled.slice(half)];
  return folds.flatMap((enrolledIds, f) => {
    const others = new Set(folds[1 - f]);
    const { enrolled, probes } = enrol(faces, enrolledIds, perPerson, seed + f + 1, pool);
    const strangers = [...faces.filter((x) => others.has(x.identity)), ...extraStrangers];
    return openSetDecisions(enrolled, probes, strangers, mode);
  });
}

export interface TrackCounts {
  /** Tracks of an enrolled person in which that person got at least `votes` faces. */
  hit: Rate;
  /** Tracks (of anyone) in which a wrong enrolled person got at least `votes` faces. */
  falseAccepted: Rate;
  /** The same, for strangers' tracks only. */
  strangerAccepted: Rate;
}

/**
 * Simulated tracks: `length` faces of one person drawn (seeded) from their photos; a track names the
 * person who gets at least `votes` accepted faces. Different photos of a person vary more than the
 * frames of one walk past a camera, so this is a lower bound of how strongly faces in a real track agree.
 * People with fewer photos than `length` (the single-portrait stranger gallery) are not tracked.
 */
export function countTracks(
  decisions: readonly Decision[],
  op: OperatingPoint,
  votes: number,
  length: number,
  tracksPerPerson: number,
  seed: number,
): TrackCounts {
  const byPerson = new Map<string, Decision[]>();
  for (const d of decisions) {
    const key = `${d.enrolled ? 'probe' : 'stranger'}:${d.identity}`;
    const group = byPerson.get(key);
    if (group) group.push(d);
    else byPerson.set(key, [d]);
  }
  let genuineTracks = 0;
  let hits = 0;
  let tracks = 0;
  let falseAccepted = 0;
  let strangerTracks = 0;
  let strangerAccepted = 0;
  let trackSeed = seed;
  for (const [key, group] of [...byPerson].sort(([a], [b]) => a.localeCompare(b))) {
    if (group.length < length) continue;
    for (let t = 0; t < tracksPerPerson; t++) {
      const track = seededShuffle(group, trackSeed++).slice(0, length);
      const tally = new Map<string, number>();
      for (const d of track)
        if (accepts(d, op)) tally.set(d.bestPersonId, (tally.get(d.bestPersonId) ?? 0) + 1);
      const identity = group[0]?.identity ?? '';
      const named = [...tally].filter(([, n]) => n >= votes).map(([id]) => id);
      const wrong = named.some((id) => id !== identity);
      tracks++;
      if (wrong) falseAccepted++;
      if (key.startsWith('probe:')) {
        genuineTracks++;
        if (named.includes(identity)) hits++;
      } else {
        strangerTracks++;
        if (wrong) strangerAccepted++;
      }
    }
  }
  return {
    hit: rate(hits, genuineTracks),
    falseAccepted: rate(falseAccepted, tracks),
    strangerAccepted: rate(strangerAccepted, strangerTracks),
  };
}

/** What a calibration must achieve on its half of the identities. */
export interface CalibrationTargets {
  /** Impostor pairs (one face against one face) accepted. */
  pairFar: number;
  /** Open set: strangers' faces named as an enrolled person. */
  strangerAcceptRate: number;
  /** Open set: enrolled people's faces named as someone else, which the margin must keep under this. */
  wrongPersonRate: number;
  /** Simulated tracks that name a wrong person, which the votes must keep under this. */
  falseTrackRate: number;
  /**
   * Votes are never fewer than this: one face is one detection and one alignment, and with a few hundred
   * stranger faces a per-face rate of zero on the calibration half only bounds the true rate (to ~1%).
   */
  minVotes: number;
  marginGrid: readonly number[];
  trackLength: number;
  tracksPerPerson: number;
  enrolPhotos: number;
}

export const CALIBRATION_TARGETS: CalibrationTargets = {
  pairFar: 0.001,
  strangerAcceptRate: 0.005,
  wrongPersonRate: 0.001,
  falseTrackRate: 0.001,
  minVotes: 2,
  marginGrid: [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1],
  trackLength: 5,
  tracksPerPerson: 20,
  enrolPhotos: 3,
};

export interface Calibration extends OperatingPoint {
  votes: number;
  /** Which rule set the threshold: the pair FAR or the open-set stranger rate. */
  thresholdFrom: 'pair-far' | 'stranger-rate';
  /**
   * True when wrong-person names remain above target that no margin of the grid removes (confident
   * look-alikes): the margin is then the smallest that removes all the ones a margin can remove.
   */
  wrongPersonBeyondMargin: boolean;
  /** True when even `trackLength` votes leave too many false tracks. */
  votesAtLimit: boolean;
}

/** Threshold rounded up to 3 decimals: readable in a review and never less strict than measured. */
export function roundThresholdUp(threshold: number): number {
  const thousandths = Math.ceil(threshold * 1000);
  return thousandths / 1000 >= threshold ? thousandths / 1000 : (thousandths + 1) / 1000;
}

/**
 * Chooses the operating point on one half of the identities: the lowest (rounded) threshold that meets
 * both the pair FAR and the open-set stranger rate (with no margin, so any margin only lowers them), then
 * the smallest margin of the grid that keeps wrong-person names under target (or, when no margin can,
 * that removes every wrong name a margin removes, instead of paying hits for nothing), then the fewest
 * track votes (at least `minVotes`) that keep false tracks under target.
 */
export function calibrate(
  impostorPairs: readonly number[],
  decisions: readonly Decision[],
  targets: CalibrationTargets,
  seed: number,
): Calibration {
  const pairThreshold = thresholdAtFar(impostorPairs, targets.pairFar);
  const strangerThreshold = thresholdAtFar(
    decisions.filter((d) => !d.enrolled).map((d) => d.score),
    targets.strangerAcceptRate,
  );
  const threshold = roundThresholdUp(Math.max(pairThreshold, strangerThreshold));
  const thresholdFrom = pairThreshold >= strangerThreshold ? 'pair-far' : 'stranger-rate';
  const grid = [...targets.marginGrid].sort((a, b) => a - b);
  const wrongAt = grid.map((m) => countOpenSet(decisions, { threshold, minMargin: m }).wrongPerson.rate);
  const reachable = Math.max(targets.wrongPersonRate, Math.min(...wrongAt));
  const minMargin = grid[wrongAt.findIndex((w) => w <= reachable)] as number;
  const wrongPersonBeyondMargin = reachable > targets.wrongPersonRate;
  const op = { threshold, minMargin };
  let votes = Math.min(targets.minVotes, targets.trackLength);
  while (
    votes < targets.trackLength &&
    countTracks(decisions, op, votes, targets.trackLength, targets.tracksPerPerson, seed).falseAccepted.rate >
      targets.falseTrackRate
  )
    votes++;
  const votesAtLimit =
    countTracks(decisions, op, votes, targets.trackLength, targets.tracksPerPerson, seed).falseAccepted.rate >
    targets.falseTrackRate;
  return { threshold, minMargin, votes, thresholdFrom, wrongPersonBeyondMargin, votesAtLimit };
}
