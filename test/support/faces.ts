/**
 * Real face photos for the model tests, fetched once into .data/cache/faces by the same code the
 * setup step uses (`tsx scripts/setup-models.ts --faces`).
 */
import { resolve } from 'node:path';
import { ensureFaceImages, type FacePhoto } from '../../models/datasets/faces';

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
