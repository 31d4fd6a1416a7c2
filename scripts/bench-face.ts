/**
 * Face pipeline benchmark: accuracy on real photos (plus augmentations) and speed.
 * Usage: tsx scripts/bench-face.ts [--quick]
 *
 * Data: face_recognition's portraits (two people, Obama in three different photos) and the six
 * face-api group photos, where every detected face is treated as its own identity (a face is never
 * paired with another face of the same photo as "genuine"; cross-photo repeats of one person, if
 * any, would count as impostors and can only make the numbers look worse). Each face region is
 * augmented (flip, light, rotation, scale, blur) into several probe images.
 */
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureFaceImages } from '../models/datasets/faces';
import { AUGMENTATIONS, augment, type Augmentation } from '../models/bench/augment';
import { formatRate, rateAtOrAbove, thresholdAtFar } from '../models/bench/stats';
import {
  createFacePipeline,
  Matcher,
  type DetectorName,
  type EmbedderName,
  type FacePipeline,
} from '../models';
import { decodeImage, type RgbImage } from '../models/pipeline/image';
import { l2Normalise } from '../models/pipeline/embedders';
import { setupModels } from '../models/setup/setup-models';

const repoRoot = resolve(__dirname, '..');
const modelDir = join(repoRoot, 'models', 'onnx');

interface PipelineChoice {
  label: string;
  detector: DetectorName;
  embedder: EmbedderName;
  licence: string;
}

const CHOICES: readonly PipelineChoice[] = [
  {
    label: 'blazeface+mobileface',
    detector: 'blazeface',
    embedder: 'mobileface',
    licence: 'Apache-2.0 + MIT packaging',
  },
  {
    label: 'blazeface+faceres',
    detector: 'blazeface',
    embedder: 'faceres',
    licence: 'Apache-2.0 + MIT packaging',
  },
  {
    label: 'ultraface+faceplugin',
    detector: 'ultraface',
    embedder: 'faceplugin',
    licence: 'provenance risk (template LICENSE)',
  },
  {
    label: 'blazeface+faceplugin',
    detector: 'blazeface',
    embedder: 'faceplugin',
    licence: 'provenance risk (embedder)',
  },
];

/** One face instance found in a source photo: the unit augmentations are made from. */
interface FaceInstance {
  identity: string;
  origin: string;
  region: RgbImage;
}

interface Sample {
  identity: string;
  origin: string;
  augmentation: Augmentation;
  embedding: Float32Array;
}

/** Cuts a square around each detected face (2x the box) so augmentations keep context. */
async function faceInstances(pipeline: FacePipeline): Promise<FaceInstance[]> {
  const photos = ensureFaceImages({ repoRoot }).images;
  const out: FaceInstance[] = [];
  for (const photo of photos) {
    const image = await decodeImage(photo.path);
    const faces = (await pipeline.detectFaces(image)).filter(
      (f) => f.quality.eyeDistancePx >= 14 && Math.abs(f.quality.yaw) < 1,
    );
    // A portrait has one subject: the largest face.
    const chosen = photo.identity ? faces.sort((a, b) => b.box.width - a.box.width).slice(0, 1) : faces;
    chosen.forEach((face, k) => {
      const side = Math.round(Math.max(face.box.width, face.box.height) * 2);
      const left = Math.max(0, Math.round(face.box.x + face.box.width / 2 - side / 2));
      const top = Math.max(0, Math.round(face.box.y + face.box.height / 2 - side / 2));
      const width = Math.min(side, image.width - left);
      const height = Math.min(side, image.height - top);
      const data = new Uint8Array(width * height * 3);
      for (let y = 0; y < height; y++) {
        data.set(
          image.data.subarray(
            ((top + y) * image.width + left) * 3,
            ((top + y) * image.width + left + width) * 3,
          ),
          y * width * 3,
        );
      }
      out.push({
        identity: photo.identity ?? `${photo.id}#${k}`,
        origin: photo.origin,
        region: { width, height, data },
      });
    });
  }
  return out;
}

async function embedSamples(
  pipeline: FacePipeline,
  instances: readonly FaceInstance[],
): Promise<{ samples: Sample[]; missed: number }> {
  const samples: Sample[] = [];
  let missed = 0;
  for (const instance of instances) {
    for (const augmentation of AUGMENTATIONS) {
      const faces = await pipeline.embedFaces(await augment(instance.region, augmentation));
      const face = faces.sort((a, b) => b.box.width * b.score - a.box.width * a.score)[0];
      if (!face) {
        missed++;
        continue;
      }
      samples.push({
        identity: instance.identity,
        origin: instance.origin,
        augmentation,
        embedding: face.embedding,
      });
    }
  }
  return { samples, missed };
}

function summarise(scores: readonly number[]): string {
  if (scores.length === 0) return 'none';
  const sorted = [...scores].sort((a, b) => a - b);
  const at = (q: number): string =>
    (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2);
  return `min ${at(0)}, median ${at(0.5)}, max ${at(1)}`;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] ?? 0) * (b[i] ?? 0);
  return s;
}

/** Identities are split in two by a stable hash-free rule: alternate in sorted order. */
function splitOf(identity: string, identities: readonly string[]): 'A' | 'B' {
  return identities.indexOf(identity) % 2 === 0 ? 'A' : 'B';
}

interface AccuracyReport {
  label: string;
  instances: number;
  samples: number;
  missed: number;
  identities: number;
  genuineCrossPhoto: number[];
  rows: Record<string, string>;
  thresholdFar1: number;
}

function evaluate(
  label: string,
  samples: readonly Sample[],
  instances: number,
  missed: number,
): AccuracyReport {
  const identities = [...new Set(samples.map((s) => s.identity))].sort();
  const genuine: Record<'A' | 'B', number[]> = { A: [], B: [] };
  const impostor: Record<'A' | 'B', number[]> = { A: [], B: [] };
  const genuineCrossPhoto: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    for (let j = i + 1; j < samples.length; j++) {
      const p = samples[i] as Sample;
      const q = samples[j] as Sample;
      const score = dot(p.embedding, q.embedding);
      const sp = splitOf(p.identity, identities);
      if (p.identity === q.identity) {
        genuine[sp].push(score);
        if (p.origin !== q.origin) genuineCrossPhoto.push(score);
      } else if (sp === splitOf(q.identity, identities)) {
        impostor[sp].push(score);
      }
    }
  }
  // Thresholds are chosen on split A's impostors and reported on split B (and vice versa for a check).
  const rows: Record<string, string> = {};
  let thresholdFar1 = 0;
  for (const far of [0.01, 0.001]) {
    const t = thresholdAtFar(impostor.A, far);
    if (far === 0.01) thresholdFar1 = t;
    const tar = rateAtOrAbove(genuine.B, t);
    const farB = rateAtOrAbove(impostor.B, t);
    rows[`TAR @ FAR ${far * 100}% (thr ${t.toFixed(3)} from A)`] =
      `${formatRate(tar.count, tar.total)}; FAR on B ${formatRate(farB.count, farB.total)}`;
  }
  const cross = rateAtOrAbove(genuineCrossPhoto, thresholdFar1);
  rows['cross-photo genuine accepted @ thr(FAR 1%)'] = formatRate(cross.count, cross.total);
  // The threshold shipped as the embedder default: FAR 1% on all impostor pairs (A and B pooled).
  const pooledThreshold = thresholdAtFar([...impostor.A, ...impostor.B], 0.01);
  const crossPooled = rateAtOrAbove(genuineCrossPhoto, pooledThreshold);
  rows[`pooled threshold at FAR 1% → cross-photo genuine accepted`] =
    `thr ${pooledThreshold.toFixed(3)}: ${formatRate(crossPooled.count, crossPooled.total)}`;

  // Closed-set identification: enroll each identity's first original, probe with everything else.
  const enrolled = new Map<string, Sample>();
  for (const s of samples)
    if (s.augmentation === 'original' && !enrolled.has(s.identity)) enrolled.set(s.identity, s);
  const dim = samples[0]?.embedding.length ?? 0;
  const roster = [...enrolled.values()].map((s) => ({ personId: s.identity, embedding: s.embedding }));
  const closed = new Matcher(dim, roster, { threshold: -1 });
  const probes = samples.filter((s) => enrolled.get(s.identity) !== s && enrolled.has(s.identity));
  const top1 = probes.filter((s) => {
    const r = closed.match(s.embedding);
    return r.kind === 'match' && r.personId === s.identity;
  }).length;
  rows[`top-1 identification, roster ${roster.length}`] = formatRate(top1, probes.length);

  // Open set: only split A is enrolled; split B people must be rejected at the FAR-1% threshold.
  const open = new Matcher(
    dim,
    roster.filter((r) => splitOf(r.personId, identities) === 'A'),
    { threshold: thresholdFar1 },
  );
  const enrolledProbes = probes.filter((s) => splitOf(s.identity, identities) === 'A');
  const strangers = samples.filter((s) => splitOf(s.identity, identities) === 'B');
  const correct = enrolledProbes.filter((s) => {
    const r = open.match(s.embedding);
    return r.kind === 'match' && r.personId === s.identity;
  }).length;
  const rejected = strangers.filter((s) => open.match(s.embedding).kind === 'unknown').length;
  rows['open-set: enrolled probes correctly identified'] = formatRate(correct, enrolledProbes.length);
  rows['open-set: non-enrolled probes rejected'] = formatRate(rejected, strangers.length);
  return {
    label,
    instances,
    samples: samples.length,
    missed,
    identities: identities.length,
    genuineCrossPhoto,
    rows,
    thresholdFar1,
  };
}

function randomUnitRows(count: number, dim: number): { personId: string; embedding: Float32Array }[] {
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff - 0.5;
  };
  return Array.from({ length: count }, (_, i) => ({
    personId: `p${i % Math.ceil(count / 3)}`,
    embedding: l2Normalise(Float32Array.from({ length: dim }, rand)),
  }));
}

async function timeIt(iterations: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  await fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn();
  return Number(process.hrtime.bigint() - start) / 1e6 / iterations;
}

interface SpeedReport {
  detectMs: number;
  embedPerFaceMs: number;
  match50Us: number;
  match5000Us: number;
  facesPerSecond: number;
}

async function measureSpeed(pipeline: FacePipeline, iterations: number): Promise<SpeedReport> {
  const groups = ensureFaceImages({ repoRoot }).images.filter((p) => p.identity === null);
  const images = await Promise.all(groups.map((g) => decodeImage(g.path)));
  let detectTotal = 0;
  let embedTotal = 0;
  let faceCount = 0;
  for (let round = 0; round < iterations; round++) {
    for (const image of images) {
      let t = process.hrtime.bigint();
      const faces = await pipeline.detectFaces(image);
      detectTotal += Number(process.hrtime.bigint() - t) / 1e6;
      t = process.hrtime.bigint();
      await pipeline.embedDetected(image, faces);
      embedTotal += Number(process.hrtime.bigint() - t) / 1e6;
      faceCount += faces.length;
    }
  }
  const probe =
    randomUnitRows(1, pipeline.embeddingDim)[0]?.embedding ?? new Float32Array(pipeline.embeddingDim);
  const m50 = new Matcher(pipeline.embeddingDim, randomUnitRows(50, pipeline.embeddingDim), {
    threshold: 0.3,
  });
  const m5000 = new Matcher(pipeline.embeddingDim, randomUnitRows(5000, pipeline.embeddingDim), {
    threshold: 0.3,
  });
  return {
    detectMs: detectTotal / (iterations * images.length),
    embedPerFaceMs: embedTotal / Math.max(1, faceCount),
    match50Us: (await timeIt(2000, () => m50.match(probe))) * 1000,
    match5000Us: (await timeIt(200, () => m5000.match(probe))) * 1000,
    facesPerSecond: faceCount / ((detectTotal + embedTotal) / 1000),
  };
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  setupModels({
    repoRoot,
    modelDir,
    cacheDir: join(repoRoot, 'models', '.cache'),
    log: (m) => console.error(m),
  });
  const accuracy: AccuracyReport[] = [];
  const speed = new Map<string, SpeedReport>();
  for (const choice of CHOICES) {
    console.error(`benchmarking ${choice.label}…`);
    // Group photos are 1920 px wide: the 2x2 tiles keep 200 px faces large enough for BlazeFace-256.
    const pipeline = await createFacePipeline({
      modelDir,
      detector: choice.detector,
      embedder: choice.embedder,
      tileGrid: 2,
      intraOpNumThreads: 2,
    });
    const instances = await faceInstances(pipeline);
    const { samples, missed } = await embedSamples(pipeline, instances);
    accuracy.push(evaluate(choice.label, samples, instances.length, missed));
    speed.set(choice.label, await measureSpeed(pipeline, quick ? 1 : 3));
    await pipeline.dispose();
  }
  const peakRssMb = process.resourceUsage().maxRSS / 1024;

  console.log('## Face pipeline benchmark\n');
  console.log(
    `Machine: ${process.arch}, ${cpus().length} cores, Node ${process.version}; onnxruntime-node CPU, 2 threads.\n`,
  );
  console.log('### Data\n');
  for (const r of accuracy) {
    console.log(
      `- ${r.label}: ${r.instances} face instances → ${r.samples} samples (${AUGMENTATIONS.length} variants each, ${r.missed} variants with no face found), ${r.identities} identities; cross-photo genuine sample pairs: ${r.genuineCrossPhoto.length} from 3 distinct photo pairs of one person (score ${summarise(r.genuineCrossPhoto)})`,
    );
  }
  console.log(
    '\n### Accuracy (95% Wilson intervals; pairs are not independent, so the intervals are optimistic)\n',
  );
  const metricNames = Object.keys(accuracy[0]?.rows ?? {}).map((k) => k.replace(/\(thr [^)]*\)/, '').trim());
  console.log(`| metric | ${accuracy.map((r) => r.label).join(' | ')} |`);
  console.log(`|---|${accuracy.map(() => '---').join('|')}|`);
  metricNames.forEach((name, i) => {
    console.log(`| ${name} | ${accuracy.map((r) => Object.entries(r.rows)[i]?.[1] ?? '').join(' | ')} |`);
  });
  console.log(
    `| threshold at FAR 1% (split A) | ${accuracy.map((r) => r.thresholdFar1.toFixed(3)).join(' | ')} |`,
  );
  console.log(`| licence | ${CHOICES.map((c) => c.licence).join(' | ')} |`);
  console.log('\n### Speed (group photos 1920 px, BlazeFace with 2x2 tiles)\n');
  console.log(
    '| pipeline | detect ms/image | align+embed ms/face | match vs 50 (µs) | match vs 5,000 (µs) | end-to-end faces/s |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const [label, s] of speed) {
    console.log(
      `| ${label} | ${s.detectMs.toFixed(1)} | ${s.embedPerFaceMs.toFixed(1)} | ${s.match50Us.toFixed(1)} | ${s.match5000Us.toFixed(0)} | ${s.facesPerSecond.toFixed(1)} |`,
    );
  }
  console.log(
    `\nPeak RSS of the whole benchmark process (all pipelines loaded in turn): ${peakRssMb.toFixed(0)} MB`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
