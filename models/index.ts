/** Public API of the face models package: pipeline, matcher, errors and the model manifest. */
export { createFacePipeline, DEFAULT_DETECTOR, DEFAULT_EMBEDDER } from './pipeline/face-pipeline';
export type {
  DetectorName,
  EmbeddedFace,
  FacePipeline,
  FacePipelineConfig,
  PipelineFace,
} from './pipeline/face-pipeline';
export type { EmbedderName, EmbedderRecipe } from './pipeline/embedders';
export { Matcher } from './pipeline/matcher';
export type { MatchResult, MatcherOptions, RosterEmbedding } from './pipeline/matcher';
export { ImageDecodeError, InvalidImageError, EmbeddingDimensionError } from './pipeline/errors';
export { decodeImage, toRgbImage } from './pipeline/image';
export type { ImageInput, RgbImage } from './pipeline/image';
export type { Box, Point } from './pipeline/geometry';
export type { FaceLandmarks } from './pipeline/detectors/types';
export { DEFAULT_QUALITY_THRESHOLDS } from './pipeline/quality';
export type { FaceQuality, QualityIssue, QualityIssueCode, QualityThresholds } from './pipeline/quality';
export { ModelsNotInstalledError, readModelManifest } from './manifest';
export { CalibrationError, recognitionDefaults } from './calibration';
export type { RecognitionDefaults } from './calibration';
export type { ModelManifest, ModelManifestEntry } from './manifest';
