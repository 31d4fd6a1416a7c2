/**
 * What the API, the worker and the CLI share about enrollment: where photos are staged, which model
 * encodes them, which cipher seals the embeddings. Photos cross process boundaries only as files in the
 * staging directory, named by refs relative to it; workflow histories carry the refs, never the bytes.
 */
import crypto from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { EmbedderName } from '../models';
import type { Config } from './config';
import { embeddingCipherFromConfig, type EmbeddingCipher } from './crypto/embeddings';
import { repoRoot } from './paths';

export interface EnrollmentSettings {
  /** Absolute directory under which every photo ref resolves. */
  stagingDir: string;
  keepPhotos: boolean;
  modelDir: string;
  /** The embedder whose name is stored as face_embeddings.model_id. */
  embedder: EmbedderName;
  cipher: EmbeddingCipher;
}

export const MAX_PHOTOS_PER_ENROLLMENT = 10;

export function enrollmentSettingsFromConfig(cfg: Config): EnrollmentSettings {
  return {
    stagingDir: path.resolve(
      cfg.ENROLLMENT_STAGING_DIR ?? path.join(cfg.ROLLCALL_DATA_DIR, 'enrollment-staging'),
    ),
    keepPhotos: cfg.ENROLLMENT_KEEP_PHOTOS,
    modelDir: path.join(repoRoot, 'models', 'onnx'),
    embedder: cfg.FACE_EMBEDDER,
    cipher: embeddingCipherFromConfig(cfg),
  };
}

/** `enroll:{studentId}`: one enrollment at a time per student. */
export function enrollWorkflowId(studentId: string): string {
  return `enroll:${studentId}`;
}

export const STUDENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export class PhotoRefError extends Error {
  override readonly name = 'PhotoRefError';
}

/** Resolves a ref inside the staging directory; refuses absolute refs and anything escaping it. */
export function resolvePhotoRef(stagingDir: string, ref: string): string {
  if (path.isAbsolute(ref) || ref.includes('\0'))
    throw new PhotoRefError(`photo ref ${JSON.stringify(ref)} must be relative`);
  const full = path.resolve(stagingDir, ref);
  if (!full.startsWith(stagingDir + path.sep))
    throw new PhotoRefError(`photo ref ${JSON.stringify(ref)} leaves the staging directory`);
  return full;
}

export type ImageKind = 'jpg' | 'png' | 'webp';

/** Sniffs the container from magic bytes: uploads are never trusted by their declared type. */
export function sniffImage(bytes: Uint8Array): ImageKind | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpg';
  if (
    bytes.length >= 8 &&
    Buffer.from(bytes.subarray(0, 8)).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  ) {
    return 'png';
  }
  if (
    bytes.length >= 12 &&
    Buffer.from(bytes.subarray(0, 4)).toString('latin1') === 'RIFF' &&
    Buffer.from(bytes.subarray(8, 12)).toString('latin1') === 'WEBP'
  ) {
    return 'webp';
  }
  return undefined;
}

/**
 * Writes photos into a fresh batch directory (owner-only permissions: they are biometric data) and returns
 * their refs. Files are written under a temporary name and renamed, so a worker never reads half a photo.
 */
export async function stagePhotos(
  stagingDir: string,
  studentId: string,
  photos: readonly Uint8Array[],
): Promise<string[]> {
  const batch = `${studentId}-${Date.now()}-${crypto.randomBytes(6).toString('hex')}`;
  const dir = path.join(stagingDir, batch);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const refs: string[] = [];
  try {
    for (const [i, bytes] of photos.entries()) {
      const kind = sniffImage(bytes);
      if (!kind) throw new PhotoRefError(`photo ${i} is not a JPEG, PNG or WebP image`);
      const name = `${String(i + 1).padStart(2, '0')}.${kind}`;
      const tmp = path.join(dir, `.${name}.tmp`);
      await fsp.writeFile(tmp, bytes, { mode: 0o600 });
      await fsp.rename(tmp, path.join(dir, name));
      refs.push(path.join(batch, name));
    }
  } catch (err) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw err;
  }
  return refs;
}

/** Deletes staged photos and the batch directories left empty; missing files are fine (idempotent). */
export async function discardStagedPhotos(stagingDir: string, refs: readonly string[]): Promise<number> {
  let removed = 0;
  const dirs = new Set<string>();
  for (const ref of refs) {
    const full = resolvePhotoRef(stagingDir, ref);
    try {
      await fsp.unlink(full);
      removed++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (path.dirname(full) !== stagingDir) dirs.add(path.dirname(full));
  }
  for (const dir of dirs) await fsp.rmdir(dir).catch(() => undefined);
  return removed;
}
