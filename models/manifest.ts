/**
 * The model manifest written by the setup step (models/onnx/manifest.json) and read by the pipeline.
 * It records where every ONNX file came from, under which licence, and how to feed it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EmbedderCalibration } from './calibration';

export const MODEL_IDS = [
  'blazeface-front',
  'blazeface-back',
  'mobileface',
  'faceres',
  'ultraface',
  'faceplugin-landmark',
  'faceplugin',
  'dlib-resnet',
] as const;
export type ModelId = (typeof MODEL_IDS)[number];

export interface ModelSourceRecord {
  package: string;
  version: string;
  /** Files inside the package the model was built from, with their sha256. */
  files: Record<string, string>;
  licence: string;
  /** Anything a reviewer must know about provenance (e.g. an unreliable licence file). */
  licenceNote?: string;
  upstream: string;
  /** sha256 of the package tarball, when the setup step fetched it itself. */
  tarballSha256?: string;
}

export interface ModelManifestEntry {
  id: ModelId;
  file: string;
  sha256: string;
  obtainedBy:
    'extracted from tarball' | 'converted tfjs-graph to onnx' | 'built as onnx from float32 weights';
  source: ModelSourceRecord;
  input: { name: string; shape: (number | string)[]; layout: 'NHWC' | 'NCHW'; preprocessing: string };
  output: { name: string; shape: (number | string)[]; meaning: string }[];
}

export interface ModelManifest {
  formatVersion: 1;
  models: ModelManifestEntry[];
  /** Shipped operating point per embedder, copied from models/calibration.json (read it with recognitionDefaults). */
  recognition?: Record<string, EmbedderCalibration>;
}

export const MANIFEST_FILE = 'manifest.json';

export class ModelsNotInstalledError extends Error {
  override readonly name = 'ModelsNotInstalledError';
}

export function readModelManifest(modelDir: string): ModelManifest {
  try {
    return JSON.parse(readFileSync(join(modelDir, MANIFEST_FILE), 'utf8')) as ModelManifest;
  } catch (cause) {
    throw new ModelsNotInstalledError(
      `no model manifest in ${modelDir}: run "tsx scripts/setup-models.ts" first`,
      {
        cause,
      },
    );
  }
}

export function manifestEntry(manifest: ModelManifest, id: ModelId): ModelManifestEntry {
  const entry = manifest.models.find((m) => m.id === id);
  if (!entry)
    throw new ModelsNotInstalledError(`model ${id} is missing from the manifest: re-run the setup step`);
  return entry;
}
