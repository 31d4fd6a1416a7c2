/**
 * Runs an embedder's recipe (models/pipeline/embedders.ts): which networks embed a face, how their vectors
 * are combined, and whether each network also embeds the mirror image of its chip (test-time augmentation).
 * The result is always one unit vector per face, so the Matcher, enrolment (one embedding per photo per model
 * id) and the roster handle every embedder alike.
 *
 * - Mirror TTA: the chip and its left-right mirror are embedded in one batch and their mean direction is the
 *   face's vector (a face and its mirror image then get the same vector; dlib's own "jitter" does the same
 *   with random crops).
 * - Fusion: each network's unit vector is scaled by √(weight / total) and the scaled vectors are joined, so
 *   the cosine of two joined vectors is the weighted mean of the networks' cosines: score-level fusion with
 *   one matrix product. Weights proportional to 1 / (spread of a network's impostor cosines) make it the mean
 *   of z-normalised scores up to a constant, which only moves the calibrated threshold.
 */
import type * as ort from 'onnxruntime-node';
import { alignFace } from './align';
import { warpSimilarity, type SimilarityTransform } from './geometry';
import type { FaceLandmarks } from './detectors/types';
import {
  FaceEmbedder,
  l2Normalise,
  NETWORK_SPECS,
  recipeDim,
  type ChipJitter,
  type EmbedderRecipe,
  type NetworkSpec,
} from './embedders';
import type { RgbImage } from './image';

export class InvalidRecipeError extends Error {
  override readonly name = 'InvalidRecipeError';
}

export function assertValidRecipe(recipe: EmbedderRecipe): EmbedderRecipe {
  if (recipe.parts.length === 0) throw new InvalidRecipeError(`embedder ${recipe.name} has no network`);
  const networks = new Set(recipe.parts.map((p) => p.network));
  if (networks.size !== recipe.parts.length)
    throw new InvalidRecipeError(`embedder ${recipe.name} names a network twice`);
  for (const part of recipe.parts) {
    if (!Object.hasOwn(NETWORK_SPECS, part.network))
      throw new InvalidRecipeError(`embedder ${recipe.name}: unknown network ${part.network}`);
    if (!(part.weight > 0) || !Number.isFinite(part.weight))
      throw new InvalidRecipeError(`embedder ${recipe.name}: weight of ${part.network} must be positive`);
  }
  return recipe;
}

/** The left-right mirror image of a square interleaved-RGB chip. */
export function mirrorChip(pixels: Uint8Array, size: number): Uint8Array {
  if (pixels.length !== size * size * 3)
    throw new RangeError(`chip has ${pixels.length} bytes, expected ${size * size * 3} for ${size}x${size}`);
  const out = new Uint8Array(pixels.length);
  for (let y = 0; y < size; y++) {
    const row = y * size * 3;
    for (let x = 0; x < size; x++) {
      const from = row + (size - 1 - x) * 3;
      const to = row + x * 3;
      out[to] = pixels[from] as number;
      out[to + 1] = pixels[from + 1] as number;
      out[to + 2] = pixels[from + 2] as number;
    }
  }
  return out;
}

/** The unit vector along the sum of unit vectors (their mean direction). */
export function meanDirection(vectors: readonly Float32Array[]): Float32Array {
  const first = vectors[0];
  if (!first) throw new RangeError('meanDirection of no vectors');
  const sum = new Float32Array(first.length);
  for (const v of vectors) {
    if (v.length !== sum.length) throw new RangeError(`vectors of ${v.length} and ${sum.length} values`);
    for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] as number) + (v[i] as number);
  }
  return l2Normalise(sum);
}

/**
 * Joins unit vectors of several networks, each scaled by √(weight / total weight): a unit vector whose dot
 * product with another joined the same way is Σ weightᵢ·cosᵢ / Σ weightᵢ.
 */
export function fuseEmbeddings(parts: readonly { embedding: Float32Array; weight: number }[]): Float32Array {
  const total = parts.reduce((sum, p) => sum + p.weight, 0);
  const out = new Float32Array(parts.reduce((sum, p) => sum + p.embedding.length, 0));
  let offset = 0;
  for (const { embedding, weight } of parts) {
    const unit = l2Normalise(embedding);
    const scale = Math.sqrt(weight / total);
    for (let i = 0; i < unit.length; i++) out[offset + i] = (unit[i] as number) * scale;
    offset += unit.length;
  }
  return out;
}

/** The image → chip transform followed by a jitter about the chip's centre. */
export function jitterTransform(
  imageToChip: SimilarityTransform,
  jitter: ChipJitter,
  size: number,
): SimilarityTransform {
  const theta = (jitter.rotateDeg * Math.PI) / 180;
  const ja = jitter.scale * Math.cos(theta);
  const jb = jitter.scale * Math.sin(theta);
  const c = (size - 1) / 2;
  const jtx = c + jitter.dx * size - (ja * c - jb * c);
  const jty = c + jitter.dy * size - (jb * c + ja * c);
  const t = imageToChip;
  return {
    a: ja * t.a - jb * t.b,
    b: ja * t.b + jb * t.a,
    tx: ja * t.tx - jb * t.ty + jtx,
    ty: jb * t.tx + ja * t.ty + jty,
  };
}

/** Runs a recipe: aligns each face for each network, embeds (with mirrors), averages and fuses. */
export class RecipeEmbedder {
  private constructor(
    readonly recipe: EmbedderRecipe,
    private readonly networks: readonly { embedder: FaceEmbedder; weight: number }[],
  ) {}

  static async create(
    recipe: EmbedderRecipe,
    modelPath: (spec: NetworkSpec) => string,
    sessionOptions: ort.InferenceSession.SessionOptions = {},
  ): Promise<RecipeEmbedder> {
    assertValidRecipe(recipe);
    const networks = await Promise.all(
      recipe.parts.map(async (part) => {
        const spec = NETWORK_SPECS[part.network];
        return {
          embedder: await FaceEmbedder.create(spec, modelPath(spec), sessionOptions),
          weight: part.weight,
        };
      }),
    );
    return new RecipeEmbedder(recipe, networks);
  }

  get dim(): number {
    return recipeDim(this.recipe);
  }

  /** One unit vector per face, in order. Networks run one after the other: each already uses every thread. */
  async embed(image: RgbImage, faces: readonly FaceLandmarks[]): Promise<Float32Array[]> {
    if (faces.length === 0) return [];
    const perNetwork: Float32Array[][] = [];
    for (const { embedder } of this.networks) {
      const { crop } = embedder.spec;
      const aligned = faces.map((landmarks) => alignFace(image, landmarks, crop));
      const views: Uint8Array[][] = [aligned.map((a) => a.pixels)];
      for (const jitter of this.recipe.jitter ?? [])
        views.push(
          aligned.map((a) =>
            warpSimilarity(image, jitterTransform(a.imageToCrop, jitter, a.size), a.size, a.size),
          ),
        );
      if (this.recipe.mirror)
        for (const view of [...views]) views.push(view.map((c) => mirrorChip(c, crop.size)));
      if (views.length === 1) {
        perNetwork.push(await embedder.embed(views[0] as Uint8Array[]));
        continue;
      }
      const vectors = await embedder.embed(views.flat());
      perNetwork.push(
        faces.map((_, i) =>
          meanDirection(views.map((_, v) => vectors[v * faces.length + i] as Float32Array)),
        ),
      );
    }
    if (this.networks.length === 1) return perNetwork[0] as Float32Array[];
    return faces.map((_, i) =>
      fuseEmbeddings(
        this.networks.map((n, k) => ({
          embedding: (perNetwork[k] as Float32Array[])[i] as Float32Array,
          weight: n.weight,
        })),
      ),
    );
  }

  async dispose(): Promise<void> {
    await Promise.all(this.networks.map((n) => n.embedder.dispose()));
  }
}
