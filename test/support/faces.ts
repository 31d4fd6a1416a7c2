/**
 * Real face photos for the model tests, fetched once into .data/cache/faces by the same code the
 * setup step uses (`tsx scripts/setup-models.ts --faces`).
 */
import { resolve } from 'node:path';
import { ensureFaceImages, type FacePhoto } from '../../models/datasets/faces';
import { setupModels } from '../../models/setup/setup-models';

export const repoRoot = resolve(__dirname, '..', '..');
export const modelDir = resolve(repoRoot, 'models', 'onnx');

let cached: FacePhoto[] | undefined;

export function facePhotos(): FacePhoto[] {
  cached ??= ensureFaceImages({ repoRoot }).images;
  return cached;
}

export function facePhoto(id: string): string {
  const photo = facePhotos().find((p) => p.id === id);
  if (!photo) throw new Error(`no test photo ${id}`);
  return photo.path;
}

/** Runs the (idempotent, fast when done) model setup step so model tests work from a fresh clone. */
export function ensureModels(): string {
  setupModels({ repoRoot, modelDir, cacheDir: resolve(repoRoot, 'models', '.cache'), log: () => undefined });
  return modelDir;
}
