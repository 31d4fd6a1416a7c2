/**
 * Embedder recipes (models/pipeline/fusion.ts): mirror test-time augmentation and score-level fusion, on
 * arithmetic first, then through the real pipeline on real photos.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { createFacePipeline, type FacePipeline, type RgbImage } from '../../../models';
import { manifestEntry, readModelManifest } from '../../../models/manifest';
import { alignFace } from '../../../models/pipeline/align';
import { EMBEDDER_NAMES } from '../../../models/pipeline/embedderNames';
import {
  DLIB_TTA_SHIFTS,
  EMBEDDER_SPECS,
  FaceEmbedder,
  l2Normalise,
  NETWORK_SPECS,
  recipeDim,
  type EmbedderRecipe,
} from '../../../models/pipeline/embedders';
import {
  assertValidRecipe,
  fuseEmbeddings,
  InvalidRecipeError,
  jitterTransform,
  meanDirection,
  mirrorChip,
} from '../../../models/pipeline/fusion';
import { applySimilarity, warpSimilarity } from '../../../models/pipeline/geometry';
import { decodeImage, toRgbImage } from '../../../models/pipeline/image';
import { ensureModels, facePhoto } from '../../support/faces';

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** A deterministic unit vector of `dim` values. */
function unit(dim: number, seed: number): Float32Array {
  return l2Normalise(Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233)));
}

void describe('mirror test-time augmentation and fusion: arithmetic', () => {
  void it('when a chip is mirrored, then each row is reversed pixel by pixel, and mirroring twice gives it back', () => {
    const size = 3;
    // Pixel (x, y) has RGB (10y + x, 100 + x, 200 + y).
    const chip = Uint8Array.from({ length: size * size * 3 }, (_, i) => {
      const p = Math.floor(i / 3);
      const [x, y] = [p % size, Math.floor(p / size)];
      return [10 * y + x, 100 + x, 200 + y][i % 3] as number;
    });
    const mirrored = mirrorChip(chip, size);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < 3; c++)
          assert.equal(mirrored[(y * size + x) * 3 + c], chip[(y * size + (size - 1 - x)) * 3 + c]);
    assert.deepEqual(mirrorChip(mirrored, size), chip);
    assert.throws(() => mirrorChip(chip, 4), RangeError);
  });

  void it('when two unit vectors are averaged, then the result is the unit vector along their sum', () => {
    const a = unit(8, 1);
    const b = unit(8, 2);
    const m = meanDirection([a, b]);
    assert.ok(Math.abs(dot(m, m) - 1) < 1e-6);
    // Equidistant from both: the bisector.
    assert.ok(Math.abs(dot(m, a) - dot(m, b)) < 1e-6);
    assert.ok(dot(m, a) > dot(a, b));
    assert.throws(() => meanDirection([]), RangeError);
  });

  void it('when two faces are fused from networks of different sizes, then their cosine is the weighted mean of the networks’ cosines', () => {
    const weights = [0.7, 0.3];
    const [a1, a2, b1, b2] = [unit(128, 1), unit(256, 2), unit(128, 3), unit(256, 4)] as Float32Array[];
    const fa = fuseEmbeddings([
      { embedding: a1 as Float32Array, weight: weights[0] as number },
      { embedding: a2 as Float32Array, weight: weights[1] as number },
    ]);
    const fb = fuseEmbeddings([
      { embedding: b1 as Float32Array, weight: weights[0] as number },
      { embedding: b2 as Float32Array, weight: weights[1] as number },
    ]);
    assert.equal(fa.length, 384);
    assert.ok(Math.abs(dot(fa, fa) - 1) < 1e-6, 'a fused vector is a unit vector');
    const expected =
      0.7 * dot(a1 as Float32Array, b1 as Float32Array) + 0.3 * dot(a2 as Float32Array, b2 as Float32Array);
    assert.ok(Math.abs(dot(fa, fb) - expected) < 1e-6, `${dot(fa, fb)} vs ${expected}`);
    // Only the ratio of the weights counts.
    const scaled = fuseEmbeddings([
      { embedding: a1 as Float32Array, weight: 7 },
      { embedding: a2 as Float32Array, weight: 3 },
    ]);
    for (let i = 0; i < fa.length; i++) assert.ok(Math.abs((fa[i] as number) - (scaled[i] as number)) < 1e-7);
  });

  void it('when a recipe is malformed, then it is refused before any model loads', () => {
    const bad: EmbedderRecipe[] = [
      { name: 'none', parts: [], mirror: false },
      {
        name: 'twice',
        parts: [
          { network: 'dlib', weight: 1 },
          { network: 'dlib', weight: 1 },
        ],
        mirror: false,
      },
      { name: 'zero', parts: [{ network: 'dlib', weight: 0 }], mirror: false },
    ];
    for (const recipe of bad) assert.throws(() => assertValidRecipe(recipe), InvalidRecipeError, recipe.name);
    assert.doesNotThrow(() => assertValidRecipe(EMBEDDER_SPECS['dlib-flip'].recipe));
  });

  void it('when an embedder is configured by name, then its spec names its recipe and its vectors’ length', () => {
    for (const name of EMBEDDER_NAMES) {
      const spec = EMBEDDER_SPECS[name];
      assert.equal(spec.name, name);
      assert.equal(spec.recipe.name, name);
      assert.equal(spec.dim, recipeDim(spec.recipe));
    }
    assert.deepEqual(EMBEDDER_SPECS['dlib-flip'].recipe.parts, [{ network: 'dlib', weight: 1 }]);
    assert.equal(EMBEDDER_SPECS['dlib-flip'].recipe.mirror, true);
    assert.equal(EMBEDDER_SPECS['dlib-flip'].dim, 128);
    assert.equal(EMBEDDER_SPECS.dlib.recipe.mirror, false);
  });
});

void describe('chip jitter (dlib-tta)', () => {
  const imageToChip = { a: 0.8, b: 0.1, tx: -12, ty: 7 };
  const size = 150;
  const c = (size - 1) / 2;

  void it('when the jitter is none, then the transform is unchanged', () => {
    const t = jitterTransform(imageToChip, { scale: 1, rotateDeg: 0, dx: 0, dy: 0 }, size);
    for (const k of ['a', 'b', 'tx', 'ty'] as const) assert.ok(Math.abs(t[k] - imageToChip[k]) < 1e-12, k);
  });

  void it('when the chip is shifted, scaled or rotated, then every image point moves so in chip pixels about the centre', () => {
    const points = [
      { x: 10, y: 20 },
      { x: 140, y: -3 },
      { x: 75, y: 200 },
    ];
    for (const j of [
      { scale: 1, rotateDeg: 0, dx: 0.02, dy: 0 },
      { scale: 1, rotateDeg: 0, dx: 0, dy: -0.02 },
      { scale: 1.05, rotateDeg: 0, dx: 0, dy: 0 },
      { scale: 1, rotateDeg: 4, dx: 0, dy: 0 },
    ]) {
      const t = jitterTransform(imageToChip, j, size);
      const th = (j.rotateDeg * Math.PI) / 180;
      for (const p of points) {
        const q = applySimilarity(imageToChip, p);
        const ux = q.x - c;
        const uy = q.y - c;
        const expected = {
          x: c + j.scale * (Math.cos(th) * ux - Math.sin(th) * uy) + j.dx * size,
          y: c + j.scale * (Math.sin(th) * ux + Math.cos(th) * uy) + j.dy * size,
        };
        const got = applySimilarity(t, p);
        assert.ok(Math.hypot(got.x - expected.x, got.y - expected.y) < 1e-9, JSON.stringify({ j, p }));
      }
    }
    // dlib-tta's shifts are 3 chip pixels each way.
    assert.deepEqual(
      DLIB_TTA_SHIFTS.map((j) => [j.dx * size, j.dy * size]),
      [
        [3, 0],
        [-3, 0],
        [0, 3],
        [0, -3],
      ],
    );
  });
});

void describe('mirror test-time augmentation and fusion: real models on real photos', () => {
  let modelDir = '';
  let flip: FacePipeline;
  let plain: FacePipeline;
  let dlibNetwork: FaceEmbedder;
  let image: RgbImage;
  let mirrored: RgbImage;

  before(async () => {
    modelDir = ensureModels();
    [flip, plain] = await Promise.all([
      createFacePipeline({ modelDir, embedder: 'dlib-flip' }),
      createFacePipeline({ modelDir, embedder: 'dlib' }),
    ]);
    const entry = manifestEntry(readModelManifest(modelDir), NETWORK_SPECS.dlib.modelId);
    dlibNetwork = await FaceEmbedder.create(NETWORK_SPECS.dlib, `${modelDir}/${entry.file}`);
    image = await decodeImage(facePhoto('face_recognition/obama'));
    mirrored = await toRgbImage(
      sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).flop(),
    );
  });

  after(async () => {
    await Promise.all([flip.dispose(), plain.dispose(), dlibNetwork.dispose()]);
  });

  async function largestEmbedding(pipeline: FacePipeline, input: RgbImage): Promise<Float32Array> {
    const faces = await pipeline.embedFaces(input);
    const face = [...faces].sort((a, b) => b.box.width - a.box.width)[0];
    assert.ok(face, 'the portrait has a face');
    return face.embedding;
  }

  void it('when dlib-flip embeds a face, then it is the mean direction of dlib on the chip and on its mirror', async () => {
    const [face] = await flip.detectFaces(image);
    assert.ok(face);
    const [embedded] = await flip.embedDetected(image, [face]);
    const chip = alignFace(image, face.landmarks, NETWORK_SPECS.dlib.crop).pixels;
    const [a, b] = await dlibNetwork.embed([chip, mirrorChip(chip, NETWORK_SPECS.dlib.crop.size)]);
    const expected = meanDirection([a as Float32Array, b as Float32Array]);
    assert.equal(flip.embeddingDim, 128);
    assert.equal(embedded?.embedding.length, 128);
    for (let i = 0; i < 128; i++)
      assert.ok(Math.abs((embedded?.embedding[i] ?? 0) - (expected[i] ?? 0)) < 1e-5, `value ${i}`);
    // Not simply the plain embedding: the mirror counts.
    const [single] = await plain.embedDetected(image, [face]);
    assert.ok(dot(single?.embedding ?? new Float32Array(128), expected) < 0.9999);
  });

  void it('when dlib-tta embeds a face, then it is the mean direction of dlib on five shifted chips and their mirrors', async () => {
    const tta = await createFacePipeline({ modelDir, embedder: 'dlib-tta' });
    try {
      const [face] = await tta.detectFaces(image);
      assert.ok(face);
      const [embedded] = await tta.embedDetected(image, [face]);
      const { size } = NETWORK_SPECS.dlib.crop;
      const aligned = alignFace(image, face.landmarks, NETWORK_SPECS.dlib.crop);
      const views = [
        aligned.pixels,
        ...DLIB_TTA_SHIFTS.map((j) =>
          warpSimilarity(image, jitterTransform(aligned.imageToCrop, j, size), size, size),
        ),
      ];
      const vectors = await dlibNetwork.embed([...views, ...views.map((v) => mirrorChip(v, size))]);
      const expected = meanDirection(vectors);
      assert.equal(vectors.length, 10);
      for (let i = 0; i < 128; i++)
        assert.ok(Math.abs((embedded?.embedding[i] ?? 0) - (expected[i] ?? 0)) < 1e-5, `value ${i}`);
      const [flipped] = await flip.embedDetected(image, [face]);
      const closeness = dot(flipped?.embedding ?? new Float32Array(128), expected);
      assert.ok(closeness > 0.98 && closeness < 0.99999, `dlib-tta vs dlib-flip cosine ${closeness}`);
    } finally {
      await tta.dispose();
    }
  });

  void it('when the photo itself is mirrored, then dlib-flip describes the face almost as before, closer than dlib alone', async (t) => {
    const flipSame = dot(await largestEmbedding(flip, image), await largestEmbedding(flip, mirrored));
    const plainSame = dot(await largestEmbedding(plain, image), await largestEmbedding(plain, mirrored));
    t.diagnostic(`photo vs its mirror image: dlib-flip ${flipSame.toFixed(4)}, dlib ${plainSame.toFixed(4)}`);
    assert.ok(
      flipSame > 0.99,
      `dlib-flip: cosine ${flipSame.toFixed(4)} between a photo and its mirror image`,
    );
    assert.ok(flipSame > plainSame, `dlib-flip ${flipSame.toFixed(4)} vs dlib ${plainSame.toFixed(4)}`);
  });

  void it('when a fusion recipe embeds two photos, then their cosine is the weighted mean of each network’s cosine', async () => {
    const recipe: EmbedderRecipe = {
      name: 'dlib+mobileface',
      parts: [
        { network: 'dlib', weight: 0.75 },
        { network: 'mobileface', weight: 0.25 },
      ],
      mirror: false,
    };
    const fused = await createFacePipeline({ modelDir, embedder: recipe });
    const mobile = await createFacePipeline({ modelDir, embedder: 'mobileface' });
    try {
      assert.equal(fused.embedderName, 'dlib+mobileface');
      assert.equal(fused.embeddingDim, 128 + 256);
      const other = await decodeImage(facePhoto('face_recognition/obama2'));
      const cos = async (p: FacePipeline): Promise<number> =>
        dot(await largestEmbedding(p, image), await largestEmbedding(p, other));
      const [f, d, m] = [await cos(fused), await cos(plain), await cos(mobile)];
      assert.ok(Math.abs(f - (0.75 * d + 0.25 * m)) < 1e-5, `fused ${f} vs 0.75·${d} + 0.25·${m}`);
    } finally {
      await Promise.all([fused.dispose(), mobile.dispose()]);
    }
  });
});
