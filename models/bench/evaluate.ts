/**
 * The whole evaluation of one way of embedding faces (an embedder, a fusion, dlib's own reference…) on
 * labelled sets split by identity: rank-1, TAR at FAR on report-half pairs with thresholds chosen on the
 * calibration half, the operating point calibrated on the calibration half, and open-set figures on the
 * report half — for every template rule. `scripts/bench-face.ts` runs it once per method, so every method
 * is judged by the same code on the same split.
 */
import type { RecognitionDefaults } from '../calibration';
import {
  CALIBRATION_TARGETS,
  calibrate,
  countOpenSet,
  countTracks,
  enrol,
  openSetFolds,
  pairScores,
  rank1,
  TEMPLATE_MODES,
  type Calibration,
  type CalibrationTargets,
  type Decision,
  type EmbeddedPhoto,
  type EnrolmentPool,
  type OpenSetCounts,
  type TemplateMode,
  type TrackCounts,
} from './recognition';
import { tarAtFar, type Rate } from './stats';

export const FAR_TARGETS = [0.01, 0.001] as const;

export interface IdentitySplit {
  calibration: string[];
  report: string[];
}

export interface EvaluationSet {
  name: string;
  split: IdentitySplit;
  /** The faces that passed the method's own detection and quality gate, embedded. */
  faces: readonly EmbeddedPhoto[];
}

export interface EvaluationInput {
  sets: readonly EvaluationSet[];
  /** The stranger gallery, split like the identities. */
  strangers: { calibration: readonly EmbeddedPhoto[]; report: readonly EmbeddedPhoto[] };
  /** The operating point shipped for this method (manifest), if it has one. */
  shipped?: RecognitionDefaults;
  seed: number;
  targets?: CalibrationTargets;
  /** Enrol from a pool of candidates (quality-aware enrolment); default: the first seeded photos. */
  enrolmentPool?: EnrolmentPool;
}

export interface OpenSetReport {
  operatingPoint: RecognitionDefaults;
  enrolledIdentities: number;
  counts: OpenSetCounts;
  galleryAccepted: Rate;
  tracks: TrackCounts;
}

export interface SetEvaluation {
  set: string;
  usable: number;
  identities: number;
  rank1: Record<TemplateMode, Rate>;
  pairs: { calibrationImpostors: number; reportGenuine: number; reportImpostors: number };
  /** Mean and standard deviation of the calibration half's impostor cosines (z-normalisation for fusion). */
  impostorSpread: { mean: number; sd: number };
  tarAtFar: { far: number; threshold: number; tar: Rate; farOnReport: Rate }[];
  calibration: Record<TemplateMode, Calibration & { strangerAccepted: Rate; wrongPerson: Rate; hit: Rate }>;
  /** Report half, max template, at the shipped operating point. */
  shipped: OpenSetReport;
  /** Report half, each template at its own calibrated operating point. */
  templates: Record<TemplateMode, OpenSetReport>;
}

export interface Evaluation {
  shippedFrom: 'manifest' | 'this run (not calibrated before)';
  shipped: RecognitionDefaults;
  /** Per template: the strictest of the per-set operating points of the calibration half. */
  calibrated: Record<TemplateMode, RecognitionDefaults>;
  sets: SetEvaluation[];
}

export function operatingPoint(c: Calibration): RecognitionDefaults {
  return { threshold: c.threshold, minMargin: c.minMargin, votes: c.votes };
}

/** The strictest of the per-set operating points: each set must meet the targets on its own. */
export function strictest(points: readonly RecognitionDefaults[]): RecognitionDefaults {
  return {
    threshold: Math.max(...points.map((p) => p.threshold)),
    minMargin: Math.max(...points.map((p) => p.minMargin)),
    votes: Math.max(...points.map((p) => p.votes)),
  };
}

function spread(scores: readonly number[]): { mean: number; sd: number } {
  const mean = scores.reduce((s, x) => s + x, 0) / Math.max(1, scores.length);
  const variance = scores.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, scores.length);
  return { mean, sd: Math.sqrt(variance) };
}

function byTemplate<T>(make: (mode: TemplateMode) => T): Record<TemplateMode, T> {
  return Object.fromEntries(TEMPLATE_MODES.map((mode) => [mode, make(mode)])) as Record<TemplateMode, T>;
}

function openSetReport(
  decisions: readonly Decision[],
  op: RecognitionDefaults,
  enrolledIdentities: number,
  targets: CalibrationTargets,
  seed: number,
): OpenSetReport {
  const counts = countOpenSet(decisions, op);
  const gallery = decisions.filter((d) => !d.enrolled && d.identity.startsWith('strangers/'));
  return {
    operatingPoint: op,
    enrolledIdentities,
    counts,
    galleryAccepted: countOpenSet(gallery, op).strangerAccepted,
    tracks: countTracks(decisions, op, op.votes, targets.trackLength, targets.tracksPerPerson, seed),
  };
}

export function evaluateEmbeddings(input: EvaluationInput): Evaluation {
  const targets = input.targets ?? CALIBRATION_TARGETS;
  const { seed } = input;
  const perSet = input.sets.map((data) => {
    const inHalf = (ids: readonly string[]): EmbeddedPhoto[] => {
      const keep = new Set(ids);
      return data.faces.filter((f) => keep.has(f.identity));
    };
    const halves = { calibration: inHalf(data.split.calibration), report: inHalf(data.split.report) };
    const decisions = {
      calibration: byTemplate((mode) =>
        openSetFolds(
          halves.calibration,
          data.split.calibration,
          input.strangers.calibration,
          targets.enrolPhotos,
          mode,
          seed,
          input.enrolmentPool,
        ),
      ),
      report: byTemplate((mode) =>
        openSetFolds(
          halves.report,
          data.split.report,
          input.strangers.report,
          targets.enrolPhotos,
          mode,
          seed,
          input.enrolmentPool,
        ),
      ),
    };
    const pairs = { calibration: pairScores(halves.calibration), report: pairScores(halves.report) };
    const calibration = byTemplate((mode) =>
      calibrate(pairs.calibration.impostor, decisions.calibration[mode], targets, seed),
    );
    return { data, decisions, pairs, calibration };
  });

  const calibrated = byTemplate((mode) => strictest(perSet.map((s) => operatingPoint(s.calibration[mode]))));
  const shipped = input.shipped ?? calibrated.max;

  const sets = perSet.map(({ data, decisions, pairs, calibration }): SetEvaluation => {
    const everyone = enrol(
      data.faces,
      [...data.split.calibration, ...data.split.report],
      targets.enrolPhotos,
      seed,
      input.enrolmentPool,
    );
    const enrolledInReport = Math.ceil(data.split.report.length / 2);
    return {
      set: data.name,
      usable: data.faces.length,
      identities: data.split.calibration.length + data.split.report.length,
      rank1: byTemplate((mode) => rank1(everyone, mode)),
      impostorSpread: spread(pairs.calibration.impostor),
      pairs: {
        calibrationImpostors: pairs.calibration.impostor.length,
        reportGenuine: pairs.report.genuine.length,
        reportImpostors: pairs.report.impostor.length,
      },
      tarAtFar: FAR_TARGETS.map((far) => {
        const r = tarAtFar(pairs.report.genuine, pairs.report.impostor, far, pairs.calibration.impostor);
        return { far, threshold: r.threshold, tar: r.tar, farOnReport: r.far };
      }),
      calibration: byTemplate((mode) => {
        const c = countOpenSet(decisions.calibration[mode], calibration[mode]);
        return {
          ...calibration[mode],
          strangerAccepted: c.strangerAccepted,
          wrongPerson: c.wrongPerson,
          hit: c.hit,
        };
      }),
      shipped: openSetReport(decisions.report.max, shipped, enrolledInReport, targets, seed),
      templates: byTemplate((mode) =>
        openSetReport(decisions.report[mode], calibrated[mode], enrolledInReport, targets, seed),
      ),
    };
  });

  return {
    shippedFrom: input.shipped ? 'manifest' : 'this run (not calibrated before)',
    shipped,
    calibrated,
    sets,
  };
}
