/**
 * Face embedders. A network is an ONNX model that turns an aligned crop into an L2-normalised vector; its
 * spec records the input layout, pixel normalisation and the crop it was trained on. An embedder — the name
 * that is configured, stored with every embedding (model id) and calibrated — runs one network or several,
 * with or without mirror test-time augmentation (its recipe; models/pipeline/fusion.ts runs it). The match
 * threshold is not here: it is calibrated per embedder (models/calibration.json → manifest).
 */
import * as ort from 'onnxruntime-node';
import type { ModelId } from '../manifest';
import type { CropGeometry } from './align';
import type { EmbedderName } from './embedderNames';

export type { EmbedderName } from './embedderNames';

export const NETWORK_NAMES = ['mobileface', 'faceres', 'faceplugin', 'dlib'] as const;
export type NetworkName = (typeof NETWORK_NAMES)[number];

export interface NetworkSpec {
  name: NetworkName;
  /** The ONNX file in the model manifest. */
  modelId: ModelId;
  dim: number;
  /** Alignment that fits this embedder: the ArcFace template or dlib's face chip. */
  crop: CropGeometry;
  inputName: string;
  outputName: string;
  layout: 'NHWC' | 'NCHW';
  normalise: (px: number) => number;
  /** Whether the model has a dynamic batch dimension (the converted TFJS models do). */
  batchable: boolean;
}

export const NETWORK_SPECS: Readonly<Record<NetworkName, NetworkSpec>> = {
  mobileface: {
    name: 'mobileface',
    modelId: 'mobileface',
    dim: 256,
    crop: { size: 112, zoom: 1 },
    inputName: 'data',
    outputName: 'batchnorm0/add_1',
    layout: 'NHWC',
    // The graph itself subtracts 127.5 and scales: it takes raw 0..255 pixels.
    normalise: (px) => px,
    batchable: true,
  },
  faceres: {
    name: 'faceres',
    modelId: 'faceres',
    dim: 1024,
    crop: { size: 224, zoom: 0.8 },
    inputName: 'input_1',
    outputName: 'global_pooling/Mean',
    layout: 'NHWC',
    // 0..255 as Human feeds it; 0..1 or -1..1 inputs collapse every face to a near-identical vector.
    normalise: (px) => px,
    batchable: true,
  },
  faceplugin: {
    name: 'faceplugin',
    modelId: 'faceplugin',
    dim: 512,
    crop: { size: 112, zoom: 1 },
    inputName: 'input',
    outputName: 'output',
    layout: 'NCHW',
    normalise: (px) => (px - 127) / 128,
    batchable: false,
  },
  dlib: {
    name: 'dlib',
    modelId: 'dlib-resnet',
    dim: 128,
    // dlib's get_face_chip_details(shape, 150, 0.25), from the detector's eyes, nose tip and mouth.
    crop: { template: 'dlib', size: 150, padding: 0.25 },
    inputName: 'chip',
    outputName: 'descriptor',
    layout: 'NCHW',
    // The graph subtracts dlib's per-channel means and divides by 256 itself.
    normalise: (px) => px,
    batchable: true,
  },
};

/** What an embedder computes for a face: one network or several, with or without mirrored chips. */
export interface EmbedderRecipe {
  /** The model id embeddings are stored and calibrated under. */
  name: string;
  /**
   * Networks whose unit vectors are joined, each scaled by √(weight / total weight), so the cosine of two
   * joined vectors is the weighted mean of the networks' cosines (one network: weight 1).
   */
  parts: readonly { network: NetworkName; weight: number }[];
  /** Also embed every chip's left-right mirror and use the mean direction of the two. */
  mirror: boolean;
  /**
   * More test-time augmentation: each face is also cut with these small moves of its chip (and, with
   * `mirror`, their mirrors), and the face's vector is the mean direction of all of them.
   */
  jitter?: readonly ChipJitter[];
}

/** A small similarity move of a chip about its centre: scale, rotation (degrees), shift (chip fractions). */
export interface ChipJitter {
  scale: number;
  rotateDeg: number;
  dx: number;
  dy: number;
}

/** Length of a recipe's vectors: its networks' dimensions joined. */
export function recipeDim(recipe: EmbedderRecipe): number {
  return recipe.parts.reduce((sum, p) => sum + NETWORK_SPECS[p.network].dim, 0);
}

export interface EmbedderSpec {
  name: EmbedderName;
  /** Values per embedding (what rosters and stored embeddings carry). */
  dim: number;
  recipe: EmbedderRecipe;
}

function embedder(
  name: EmbedderName,
  parts: EmbedderRecipe['parts'],
  mirror: boolean,
  jitter?: readonly ChipJitter[],
): EmbedderSpec {
  const recipe = { name, parts, mirror, ...(jitter ? { jitter } : {}) };
  return { name, dim: recipeDim(recipe), recipe };
}

/** dlib-tta's extra views: the chip moved by 2% of its side left, right, up and down (3 pixels of 150). */
export const DLIB_TTA_SHIFTS: readonly ChipJitter[] = [
  { scale: 1, rotateDeg: 0, dx: 0.02, dy: 0 },
  { scale: 1, rotateDeg: 0, dx: -0.02, dy: 0 },
  { scale: 1, rotateDeg: 0, dx: 0, dy: 0.02 },
  { scale: 1, rotateDeg: 0, dx: 0, dy: -0.02 },
];

export const EMBEDDER_SPECS: Readonly<Record<EmbedderName, EmbedderSpec>> = {
  dlib: embedder('dlib', [{ network: 'dlib', weight: 1 }], false),
  /**
   * dlib's ResNet with mirror test-time augmentation: on bench:face's report half (celebrities) TAR at FAR
   * 0.1% 83.6% vs 80.2%, rank-1 99.6% vs 99.0%, strangers accepted 0 vs 1 of 862 (att: 1 vs 3 of 724), for
   * one more 150×150 chip in the same batch (about 4 ms per face).
   */
  'dlib-flip': embedder('dlib-flip', [{ network: 'dlib', weight: 1 }], true),
  /**
   * dlib's ResNet on five views of the face — the chip and the chip shifted 2% each way — and their mirrors
   * (10 chips in one batch): the face's vector is their mean direction, so a landmark a few pixels off moves
   * it less. bench:face, celebrities: TAR at FAR 0.1% 86.4% vs dlib-flip's 83.6% (halves swapped: 85.8% vs
   * 85.0%), TAR at FAR 1% 96.1% vs 95.5%, strangers accepted 0 of 862 for both.
   */
  'dlib-tta': embedder('dlib-tta', [{ network: 'dlib', weight: 1 }], true, DLIB_TTA_SHIFTS),
  faceres: embedder('faceres', [{ network: 'faceres', weight: 1 }], false),
  mobileface: embedder('mobileface', [{ network: 'mobileface', weight: 1 }], false),
  faceplugin: embedder('faceplugin', [{ network: 'faceplugin', weight: 1 }], false),
};

export function l2Normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += (v[i] ?? 0) * (v[i] ?? 0);
  const norm = Math.sqrt(sum) || 1;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = (v[i] ?? 0) / norm;
  return out;
}

/** One network's ONNX session. */
export class FaceEmbedder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: NetworkSpec,
  ) {}

  static async create(
    spec: NetworkSpec,
    modelPath: string,
    sessionOptions: ort.InferenceSession.SessionOptions = {},
  ): Promise<FaceEmbedder> {
    return new FaceEmbedder(await ort.InferenceSession.create(modelPath, sessionOptions), spec);
  }

  get dim(): number {
    return this.spec.dim;
  }

  /** Embeds aligned RGB crops (spec.crop.size square); returns unit vectors in the same order. */
  async embed(crops: readonly Uint8Array[]): Promise<Float32Array[]> {
    if (crops.length === 0) return [];
    if (!this.spec.batchable && crops.length > 1) {
      const out: Float32Array[] = [];
      for (const crop of crops) out.push(...(await this.embed([crop])));
      return out;
    }
    const { size } = this.spec.crop;
    const plane = size * size;
    const input = new Float32Array(crops.length * plane * 3);
    const { normalise, layout } = this.spec;
    crops.forEach((crop, n) => {
      if (crop.length !== plane * 3)
        throw new RangeError(`crop has ${crop.length} bytes, expected ${plane * 3}`);
      const base = n * plane * 3;
      if (layout === 'NHWC') {
        for (let i = 0; i < plane * 3; i++) input[base + i] = normalise(crop[i] as number);
        return;
      }
      for (let c = 0; c < 3; c++) {
        const to = base + c * plane;
        for (let i = 0; i < plane; i++) input[to + i] = normalise(crop[3 * i + c] as number);
      }
    });
    const dims = this.spec.layout === 'NHWC' ? [crops.length, size, size, 3] : [crops.length, 3, size, size];
    const out = await this.session.run({ [this.spec.inputName]: new ort.Tensor('float32', input, dims) });
    const data = out[this.spec.outputName]?.data as Float32Array;
    return crops.map((_, n) => l2Normalise(data.subarray(n * this.spec.dim, (n + 1) * this.spec.dim)));
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
