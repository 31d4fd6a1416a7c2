/**
 * The shipped recognition operating point of each embedder: cosine threshold, margin over the runner-up
 * and the votes a track needs. It is measured by `npm run bench:face -- --write-calibration` on labelled
 * faces, committed as models/calibration.json (with the figures, data, split and date it came from) so a
 * change is reviewed like code, and copied by the setup step into models/onnx/manifest.json, where the
 * pipeline, enrollment and the edge read it with `recognitionDefaults`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readModelManifest, type ModelManifest } from './manifest';

export const CALIBRATION_FILE = join('models', 'calibration.json');

export interface RecognitionDefaults {
  /** Cosine similarity a face must reach to be named. */
  threshold: number;
  /** Lead the best person needs over the runner-up; less is "ambiguous". */
  minMargin: number;
  /** Faces of one track that must name the same person before the track counts as a sighting. */
  votes: number;
}

const jsonValue = z.json();

const embedderCalibrationSchema = z.object({
  threshold: z.number().min(-1).max(1),
  minMargin: z.number().min(0).max(2),
  votes: z.number().int().min(1),
  detector: z.string().min(1),
  /** How several enrolment photos of one person are scored; the Matcher takes the best of them. */
  template: z.literal('max'),
  measuredAt: z.string().min(1),
  data: z.string().min(1),
  /** Split seed and the identities of each half. */
  split: jsonValue,
  /** The targets the operating point was chosen for. */
  targets: jsonValue,
  /** Bench figures: what each half gave, per data set. */
  figures: jsonValue,
});
export type EmbedderCalibration = z.infer<typeof embedderCalibrationSchema>;

const calibrationFileSchema = z.object({
  formatVersion: z.literal(1),
  generatedBy: z.string(),
  embedders: z.record(z.string(), embedderCalibrationSchema),
});
export type CalibrationFile = z.infer<typeof calibrationFileSchema>;

export class CalibrationError extends Error {
  override readonly name = 'CalibrationError';
}

export function parseCalibration(text: string, source: string): CalibrationFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new CalibrationError(`${source} is not JSON`, { cause });
  }
  const parsed = calibrationFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new CalibrationError(`${source} is not a valid calibration file: ${problems}`);
  }
  return parsed.data;
}

export function readCalibrationFile(path: string): CalibrationFile {
  return parseCalibration(readFileSync(path, 'utf8'), path);
}

/**
 * The operating point shipped for `embedder`, from the manifest (or the manifest in `modelDir`). Throws
 * when the embedder was never calibrated: an uncalibrated threshold is not a default anyone should run.
 */
export function recognitionDefaults(
  modelDirOrManifest: string | ModelManifest,
  embedder: string,
): RecognitionDefaults {
  const manifest =
    typeof modelDirOrManifest === 'string' ? readModelManifest(modelDirOrManifest) : modelDirOrManifest;
  const entry = manifest.recognition?.[embedder];
  if (!entry) {
    throw new CalibrationError(
      `no calibrated operating point for embedder ${embedder} in the model manifest: run "npm run bench:face -- --write-calibration", commit ${CALIBRATION_FILE}, and re-run the setup step`,
    );
  }
  return { threshold: entry.threshold, minMargin: entry.minMargin, votes: entry.votes };
}
