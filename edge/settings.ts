/**
 * What the device runs with, from three sources, each field on its own:
 *   1. the server's device config — only the fields an admin set explicitly (lib/contracts/deviceConfig.ts);
 *   2. the device's environment (RECOGNITION_*, FRAME_SKIP, CAMERA_FPS);
 *   3. for the recognition rules, the model manifest's calibrated values (bench:face).
 * The last config the server sent is kept on disk, so a reboot without network runs the same settings (and
 * an admin's fps, which only applies when the camera opens, takes effect at the next start).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { deviceConfigSchema, type DeviceConfig } from '../lib/contracts';
import { CalibrationError, recognitionDefaults } from '../models';
import type { EdgeConfig } from './config';
import { readJsonFile, writeFileAtomic } from './durableFile';
import type { RecognitionRules } from './tracker';

export interface EdgeSettings {
  rules: RecognitionRules;
  /** Camera frames skipped between two analysed frames (0: every frame). */
  frameSkip: number;
  /** Camera frames per second (applies when the camera opens). */
  fps: number;
}

export type LocalSettings = Pick<
  EdgeConfig,
  'RECOGNITION_THRESHOLD' | 'RECOGNITION_MIN_MARGIN' | 'RECOGNITION_VOTES' | 'FRAME_SKIP' | 'CAMERA_FPS'
>;

/**
 * The calibrated rules of `embedder` from the model manifest in `modelDir` (bench:face's operating point,
 * copied in by the setup step), or undefined when the manifest has none for it.
 */
export function calibratedRules(
  modelDir: string,
  embedder: string,
  log?: Logger,
): RecognitionRules | undefined {
  try {
    return recognitionDefaults(modelDir, embedder);
  } catch (err) {
    if (!(err instanceof CalibrationError)) throw err;
    log?.warn(
      { err: err.message },
      'no calibrated recognition rules; RECOGNITION_* or the server must set them',
    );
    return undefined;
  }
}

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

/**
 * The settings in force: explicit server config, else the environment, else the calibration. `calibrated`
 * is undefined when the manifest has no operating point for the embedder; then every rule must be given
 * explicitly (an uncalibrated threshold is not a default anyone should run).
 */
export function effectiveSettings(
  calibrated: RecognitionRules | undefined,
  local: LocalSettings,
  remote: DeviceConfig,
): EdgeSettings {
  const pick = (name: string, ...values: (number | undefined)[]): number => {
    const value = values.find((v) => v !== undefined);
    if (value === undefined)
      throw new SettingsError(
        `no ${name}: the model manifest has no calibrated value for this embedder, and neither the server nor the environment sets one`,
      );
    return value;
  };
  return {
    rules: {
      threshold: pick(
        'recognition threshold',
        remote.recognitionThreshold,
        local.RECOGNITION_THRESHOLD,
        calibrated?.threshold,
      ),
      minMargin: pick(
        'recognition margin',
        remote.recognitionMinMargin,
        local.RECOGNITION_MIN_MARGIN,
        calibrated?.minMargin,
      ),
      votes: pick('vote count', remote.recognitionVotes, local.RECOGNITION_VOTES, calibrated?.votes),
    },
    frameSkip: remote.frameSkip ?? local.FRAME_SKIP,
    fps: remote.fps ?? local.CAMERA_FPS,
  };
}

const storedConfigSchema = z.object({ config: deviceConfigSchema, configVersion: z.number().int().min(0) });
export type StoredDeviceConfig = z.infer<typeof storedConfigSchema>;

/** The last device config the server sent (atomic write, like the roster cache). */
export class DeviceConfigStore {
  readonly file: string;

  constructor(dataDir: string) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = path.join(dataDir, 'device-config.json');
  }

  load(): StoredDeviceConfig | undefined {
    try {
      const parsed = storedConfigSchema.safeParse(readJsonFile(this.file));
      return parsed.success ? parsed.data : undefined;
    } catch {
      // A corrupted disk: the next heartbeat answer brings the config again.
      return undefined;
    }
  }

  save(stored: StoredDeviceConfig): void {
    writeFileAtomic(this.file, JSON.stringify(stored));
  }
}
