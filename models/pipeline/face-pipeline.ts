/**
 * The face pipeline shared by the edge device and enrollment:
 * decode → detect → quality → align → embed (L2-normalised; the embedder may mirror and fuse, see fusion.ts).
 */
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { recognitionDefaults, type RecognitionDefaults } from '../calibration';
import { manifestEntry, readModelManifest, type ModelId, type ModelManifest } from '../manifest';
import { BlazeFaceDetector } from './detectors/blazeface';
import type { DetectedFace, FaceDetector } from './detectors/types';
import { UltraFaceDetector } from './detectors/ultraface';
import { DEFAULT_EMBEDDER } from './embedderNames';
import { EMBEDDER_SPECS, type EmbedderName, type EmbedderRecipe } from './embedders';
import { RecipeEmbedder } from './fusion';
import { decodeImage, type ImageInput } from './image';
import {
  assessQuality,
  DEFAULT_QUALITY_THRESHOLDS,
  type FaceQuality,
  type QualityThresholds,
} from './quality';

export type DetectorName = 'blazeface' | 'blazeface-front' | 'ultraface';

export interface FacePipelineConfig {
  modelDir: string;
  /** 'blazeface' is the 256 "back" model (smaller faces); 'blazeface-front' the 128 one. */
  detector?: DetectorName;
  /** A configured embedder by name, or a recipe of networks (benchmarks compare recipes that ship under no name). */
  embedder?: EmbedderName | EmbedderRecipe;
  /** BlazeFace only: n x n overlapping tiles in addition to the whole frame (classroom frames). */
  tileGrid?: number;
  detectorScoreThreshold?: number;
  quality?: Partial<QualityThresholds>;
  /** onnxruntime threads per session; the Pi has 4 cores, CI 2. */
  intraOpNumThreads?: number;
}

export interface PipelineFace extends DetectedFace {
  quality: FaceQuality;
}

export interface EmbeddedFace extends PipelineFace {
  embedding: Float32Array;
}

export interface FacePipeline {
  readonly detectorName: string;
  /** The model id its embeddings are stored and calibrated under (an EmbedderName unless built from a recipe). */
  readonly embedderName: string;
  readonly embeddingDim: number;
  detectFaces(image: ImageInput): Promise<PipelineFace[]>;
  embedFaces(image: ImageInput): Promise<EmbeddedFace[]>;
  /** Embeds already detected faces of a decoded image (lets callers time or filter stages). */
  embedDetected(
    image: Awaited<ReturnType<typeof decodeImage>>,
    faces: readonly PipelineFace[],
  ): Promise<EmbeddedFace[]>;
  /** The calibrated operating point shipped for this embedder (manifest); throws CalibrationError if none. */
  recognitionDefaults(): RecognitionDefaults;
  dispose(): Promise<void>;
}

export { DEFAULT_EMBEDDER };

export const DEFAULT_DETECTOR: DetectorName = 'blazeface';

function modelPath(modelDir: string, manifest: ModelManifest, id: ModelId): string {
  return join(modelDir, manifestEntry(manifest, id).file);
}

async function createDetector(
  config: FacePipelineConfig,
  manifest: ModelManifest,
  sessionOptions: ort.InferenceSession.SessionOptions,
): Promise<FaceDetector> {
  const detector = config.detector ?? DEFAULT_DETECTOR;
  const scoreThreshold = config.detectorScoreThreshold;
  switch (detector) {
    case 'ultraface':
      return UltraFaceDetector.create({
        detectorPath: modelPath(config.modelDir, manifest, 'ultraface'),
        landmarkPath: modelPath(config.modelDir, manifest, 'faceplugin-landmark'),
        sessionOptions,
        ...(scoreThreshold === undefined ? {} : { scoreThreshold }),
      });
    case 'blazeface':
    case 'blazeface-front': {
      const front = detector === 'blazeface-front';
      return BlazeFaceDetector.create({
        modelPath: modelPath(config.modelDir, manifest, front ? 'blazeface-front' : 'blazeface-back'),
        inputSize: front ? 128 : 256,
        tileGrid: config.tileGrid ?? 1,
        sessionOptions,
        ...(scoreThreshold === undefined ? {} : { scoreThreshold }),
      });
    }
  }
}

export async function createFacePipeline(config: FacePipelineConfig): Promise<FacePipeline> {
  const manifest = readModelManifest(config.modelDir);
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    // Errors only: the optimiser's notes about unused initialisers of converted graphs are noise in logs.
    logSeverityLevel: 3,
    ...(config.intraOpNumThreads ? { intraOpNumThreads: config.intraOpNumThreads } : {}),
    // Idle onnxruntime threads sleep instead of spinning. Spinning buys microseconds on an idle machine and
    // costs the camera loop, the uploader and the heartbeat their core: with another process busy, a batch of
    // 10 dlib chips took 87–115 ms and 104–112 CPU-ms spinning, 64 ms and 62–66 CPU-ms not (2 threads, 2 cores).
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const recipe =
    typeof config.embedder === 'object'
      ? config.embedder
      : EMBEDDER_SPECS[config.embedder ?? DEFAULT_EMBEDDER].recipe;
  const embedderName = recipe.name;
  const [detector, embedder] = await Promise.all([
    createDetector(config, manifest, sessionOptions),
    RecipeEmbedder.create(
      recipe,
      (spec) => modelPath(config.modelDir, manifest, spec.modelId),
      sessionOptions,
    ),
  ]);
  const thresholds: QualityThresholds = { ...DEFAULT_QUALITY_THRESHOLDS, ...config.quality };

  const detectDecoded = async (image: Awaited<ReturnType<typeof decodeImage>>): Promise<PipelineFace[]> => {
    const faces = await detector.detect(image);
    return faces.map((face) => ({
      ...face,
      quality: assessQuality(image, face.landmarks, face.score, thresholds),
    }));
  };

  const embedDetected = async (
    image: Awaited<ReturnType<typeof decodeImage>>,
    faces: readonly PipelineFace[],
  ): Promise<EmbeddedFace[]> => {
    const embeddings = await embedder.embed(
      image,
      faces.map((face) => face.landmarks),
    );
    return faces.map((face, i) => ({ ...face, embedding: embeddings[i] as Float32Array }));
  };

  return {
    detectorName: detector.name,
    embedderName,
    embeddingDim: embedder.dim,
    detectFaces: async (input) => detectDecoded(await decodeImage(input)),
    embedFaces: async (input) => {
      const image = await decodeImage(input);
      return embedDetected(image, await detectDecoded(image));
    },
    embedDetected,
    recognitionDefaults: () => recognitionDefaults(manifest, embedderName),
    dispose: async () => {
      await Promise.all([detector.dispose(), embedder.dispose()]);
    },
  };
}
