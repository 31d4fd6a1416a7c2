/**
 * Our ONNX build of dlib's face recognition ResNet against dlib itself (PyPI dlib-bin), on real photos
 * from ../shared/faces (read at run time, never copied): the same chips through both networks, dlib's
 * chip geometry reproduced, and how far BlazeFace-keypoint chips are from dlib's own 5-point chips.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { createFacePipeline, type FacePipeline, type PipelineFace } from '../../../models';
import {
  buildDlibResnetOnnx,
  DLIB_WEIGHT_COUNT,
  DlibWeightsError,
} from '../../../models/convert/dlib-resnet';
import { manifestEntry, readModelManifest } from '../../../models/manifest';
import { alignFace, DLIB_TEMPLATE_5, dlibChipTransform } from '../../../models/pipeline/align';
import { NETWORK_SPECS, l2Normalise } from '../../../models/pipeline/embedders';
import {
  applySimilarity,
  invertSimilarity,
  type Point,
  type SimilarityTransform,
} from '../../../models/pipeline/geometry';
import { decodeImage, toRgbImage, type RgbImage } from '../../../models/pipeline/image';
import { ensureDlibReference, type DlibChipReference } from '../../support/dlibReference';
import { ensureModels, facePhotos, repoRoot } from '../../support/faces';

const FACES_DIR = resolve(repoRoot, '..', 'shared', 'faces');
const MAX_ABS_DIFF = 1e-4;
const SPEC = NETWORK_SPECS.dlib;
const CHIP = SPEC.crop.size;

interface Sample {
  id: string;
  frame: RgbImage;
  framePng: string;
  face: PipelineFace;
  chip: Uint8Array;
  chipPng: string;
}

/** Tight crops get a neutral border of their own size on each axis, as a camera frame gives context. */
async function paddedFrame(path: string): Promise<RgbImage> {
  const image = sharp(path, { failOn: 'error' });
  const { width = 0, height = 0 } = await image.metadata();
  const x = Math.round(width / 2);
  const y = Math.round(height / 2);
  return toRgbImage(
    image.extend({ top: y, bottom: y, left: x, right: x, background: { r: 128, g: 128, b: 128 } }),
  );
}

/** Celebrities' first two photos, the first AT&T portrait of eight people, and the large portraits. */
function photoList(): { id: string; path: string; tight: boolean }[] {
  const pick = (
    set: string,
    people: number,
    perPerson: number,
  ): { id: string; path: string; tight: boolean }[] =>
    readdirSync(join(FACES_DIR, set))
      .sort()
      .slice(0, people)
      .flatMap((person) =>
        readdirSync(join(FACES_DIR, set, person))
          .filter((f) => f.endsWith('.jpg'))
          .sort()
          .slice(0, perPerson)
          .map((f) => ({ id: `${set}/${person}/${f}`, path: join(FACES_DIR, set, person, f), tight: true })),
      );
  return [
    ...pick('celebrities', Infinity, 2),
    ...pick('att', 8, 1),
    ...facePhotos()
      .filter((p) => p.identity !== null)
      .map((p) => ({ id: p.id, path: p.path, tight: false })),
  ];
}

function writePng(pixels: Uint8Array, width: number, height: number, path: string): Promise<unknown> {
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(path);
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] ?? 0) * (b[i] ?? 0);
    na += (a[i] ?? 0) ** 2;
    nb += (b[i] ?? 0) ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

/** The image positions of a chip's top-left, top-right, bottom-left and bottom-right pixels. */
function chipCorners(imageToChip: SimilarityTransform): Point[] {
  const toImage = invertSimilarity(imageToChip);
  return [
    [0, 0],
    [CHIP - 1, 0],
    [0, CHIP - 1],
    [CHIP - 1, CHIP - 1],
  ].map(([x = 0, y = 0]) => applySimilarity(toImage, { x, y }));
}

/** dlib's chip corners from chip_details: the rectangle's corners rotated about its centre. */
function dlibCorners(ref: DlibChipReference): Point[] {
  const [left, top, right, bottom] = ref.chip.rect;
  const cx = (left + right) / 2;
  const cy = (top + bottom) / 2;
  const cos = Math.cos(ref.chip.angle);
  const sin = Math.sin(ref.chip.angle);
  return [
    [left, top],
    [right, top],
    [left, bottom],
    [right, bottom],
  ].map(([x = 0, y = 0]) => ({
    x: cx + cos * (x - cx) - sin * (y - cy),
    y: cy + sin * (x - cx) + cos * (y - cy),
  }));
}

const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

void describe('dlib face recognition ResNet: our ONNX build against dlib itself on real photos', () => {
  const facesFound = existsSync(join(FACES_DIR, 'celebrities')) && existsSync(join(FACES_DIR, 'att'));
  const skipReason = `labelled faces not found at ${FACES_DIR} (celebrities/ and att/): the dlib parity checks need real photos`;
  let scratch = '';
  let pipeline: FacePipeline | undefined;
  let session: ort.InferenceSession | undefined;
  const samples: Sample[] = [];
  let ours: Float32Array[] = [];
  let reference: number[][] = [];
  let dlibChips: (DlibChipReference | null)[] = [];

  before(async () => {
    if (!facesFound) return;
    const modelDir = ensureModels();
    const dlib = ensureDlibReference({ repoRoot, log: (m) => process.stderr.write(`[dlib parity] ${m}\n`) });
    scratch = mkdtempSync(join(tmpdir(), 'rollcall-dlib-parity-'));
    pipeline = await createFacePipeline({ modelDir, embedder: 'dlib' });
    for (const [n, photo] of photoList().entries()) {
      const frame = photo.tight ? await paddedFrame(photo.path) : await decodeImage(photo.path);
      const face = [...(await pipeline.detectFaces(frame))].sort((a, b) => b.box.width - a.box.width)[0];
      if (!face) continue;
      const sample: Sample = {
        id: photo.id,
        frame,
        framePng: join(scratch, `frame-${n}.png`),
        face,
        chip: alignFace(frame, face.landmarks, SPEC.crop).pixels,
        chipPng: join(scratch, `chip-${n}.png`),
      };
      await writePng(frame.data, frame.width, frame.height, sample.framePng);
      await writePng(sample.chip, CHIP, CHIP, sample.chipPng);
      samples.push(sample);
    }
    reference = dlib.descriptors(samples.map((s) => s.chipPng));
    dlibChips = dlib.chips(samples.map((s) => s.framePng));

    const entry = manifestEntry(readModelManifest(modelDir), SPEC.modelId);
    session = await ort.InferenceSession.create(join(modelDir, entry.file));
    ours = await runBatch(
      session,
      samples.map((s) => s.chip),
    );
  });

  after(async () => {
    await pipeline?.dispose();
    await session?.release();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  /** All chips in one run: the dynamic batch dimension is part of what is checked. */
  async function runBatch(s: ort.InferenceSession, chips: readonly Uint8Array[]): Promise<Float32Array[]> {
    const plane = CHIP * CHIP;
    const input = new Float32Array(chips.length * 3 * plane);
    chips.forEach((chip, n) => {
      for (let i = 0; i < plane; i++)
        for (let c = 0; c < 3; c++) input[(n * 3 + c) * plane + i] = chip[3 * i + c] ?? 0;
    });
    const out = await s.run({
      [SPEC.inputName]: new ort.Tensor('float32', input, [chips.length, 3, CHIP, CHIP]),
    });
    const data = out[SPEC.outputName]?.data as Float32Array;
    return chips.map((_, n) => data.slice(n * SPEC.dim, (n + 1) * SPEC.dim));
  }

  void it('when the same chips go through our ONNX and dlib, then every descriptor value agrees within 1e-4', (t) => {
    if (!facesFound) return t.skip(skipReason);
    assert.ok(samples.length >= 40, `only ${samples.length} faces detected`);
    assert.equal(reference.length, samples.length);
    let maxDiff = 0;
    let worst = '';
    samples.forEach((sample, n) => {
      const a = ours[n] as Float32Array;
      const b = reference[n] as number[];
      assert.equal(b.length, SPEC.dim);
      for (let i = 0; i < SPEC.dim; i++) {
        const d = Math.abs((a[i] ?? 0) - (b[i] ?? 0));
        if (d > maxDiff) [maxDiff, worst] = [d, sample.id];
      }
    });
    t.diagnostic(
      `max |ours - dlib| = ${maxDiff.toExponential(2)} over ${samples.length} chips x 128 (worst ${worst})`,
    );
    assert.ok(maxDiff <= MAX_ABS_DIFF, `max abs diff ${maxDiff} on ${worst}`);
  });

  void it('when the pipeline embeds a face with embedder dlib, then it returns the unit-length ONNX descriptor of its dlib chip', async (t) => {
    if (!facesFound || !pipeline) return t.skip(skipReason);
    const sample = samples[0] as Sample;
    const [embedded] = await pipeline.embedDetected(sample.frame, [sample.face]);
    assert.ok(embedded);
    assert.equal(pipeline.embeddingDim, 128);
    assert.equal(embedded.embedding.length, 128);
    const expected = l2Normalise(ours[0] as Float32Array);
    for (let i = 0; i < 128; i++)
      assert.ok(Math.abs((embedded.embedding[i] ?? 0) - (expected[i] ?? 0)) < 1e-5);
  });

  void it("when dlib's 5 points are given to dlibChipTransform, then it reproduces get_face_chip_details to 1e-6 px", (t) => {
    if (!facesFound) return t.skip(skipReason);
    let checked = 0;
    let maxError = 0;
    dlibChips.forEach((ref) => {
      if (!ref) return;
      const points = ref.points.map(([x, y]) => ({ x, y }));
      const corners = chipCorners(dlibChipTransform(points, DLIB_TEMPLATE_5, CHIP, 0.25));
      dlibCorners(ref).forEach((want, k) => {
        const got = corners[k] as Point;
        maxError = Math.max(maxError, Math.hypot(got.x - want.x, got.y - want.y));
      });
      checked++;
    });
    t.diagnostic(`${checked} faces, max corner error ${maxError.toExponential(2)} px`);
    assert.ok(checked >= 30, `dlib found only ${checked} faces`);
    assert.ok(maxError < 1e-6, `corner error ${maxError} px`);
  });

  void it("when BlazeFace keypoints build the chip, then it is close to dlib's own 5-point chip and its descriptor", (t) => {
    if (!facesFound) return t.skip(skipReason);
    const displacement: number[] = [];
    const cosines: number[] = [];
    samples.forEach((sample, n) => {
      const ref = dlibChips[n];
      if (!ref) return;
      const dlibTransform = dlibChipTransform(
        ref.points.map(([x, y]) => ({ x, y })),
        DLIB_TEMPLATE_5,
        CHIP,
        0.25,
      );
      const ourTransform = alignFace(sample.frame, sample.face.landmarks, SPEC.crop).imageToCrop;
      const theirs = chipCorners(dlibTransform);
      // In chip pixels of dlib's chip, so faces of every size weigh the same.
      const chipPxPerImagePx = Math.hypot(dlibTransform.a, dlibTransform.b);
      const corners = chipCorners(ourTransform);
      displacement.push(
        mean(corners.map((p, k) => Math.hypot(p.x - (theirs[k]?.x ?? 0), p.y - (theirs[k]?.y ?? 0)))) *
          chipPxPerImagePx,
      );
      cosines.push(cosine(ours[n] as Float32Array, ref.descriptor));
    });
    const sorted = [...cosines].sort((a, b) => a - b);
    t.diagnostic(
      `${cosines.length} faces found by both: mean corner displacement ${mean(displacement).toFixed(2)} px of ${CHIP}, ` +
        `descriptor cosine (ours on the BlazeFace chip vs dlib on its 5-point chip) mean ${mean(cosines).toFixed(4)}, ` +
        `min ${sorted[0]?.toFixed(4)}, median ${sorted[sorted.length >> 1]?.toFixed(4)}`,
    );
    assert.ok(cosines.length >= 30);
    assert.ok(mean(displacement) < 10, `mean corner displacement ${mean(displacement)} px`);
    assert.ok(mean(cosines) > 0.98, `mean cosine ${mean(cosines)}`);
    assert.ok((sorted[0] ?? 0) > 0.9, `min cosine ${sorted[0]}`);
  });
});

void describe('dlib ResNet builder', () => {
  void it("when the weights are not exactly the network's 5,614,592 values, then the build fails instead of guessing", () => {
    for (const count of [DLIB_WEIGHT_COUNT - 1, DLIB_WEIGHT_COUNT + 128]) {
      assert.throws(
        () => buildDlibResnetOnnx(new Float32Array(count), { source: 'test' }),
        (error: unknown) => error instanceof DlibWeightsError && error.message.includes(String(count)),
      );
    }
  });
});
