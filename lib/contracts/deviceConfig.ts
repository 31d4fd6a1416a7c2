/**
 * The settings an admin can push to a device, with one meaning on the server and on the device.
 *
 * A device config holds only what an admin set explicitly. A field that is absent means "the device's own
 * default": for the recognition fields that is the model manifest's calibrated value (bench:face), for the
 * others the device's environment. So the server never overrides a calibrated default by accident.
 *
 * Plain TypeScript without zod on purpose: the device workflow validates `configure` updates with it, and
 * workflow code stays free of libraries (lib/contracts/devices.ts builds the zod schemas from this table).
 */

export interface DeviceConfigField {
  min: number;
  max: number;
  integer: boolean;
  /** What the value means, on both sides; it becomes the field's description in the OpenAPI document. */
  meaning: string;
}

export const DEVICE_CONFIG_FIELDS = {
  recognitionThreshold: {
    min: 0.05,
    max: 0.99,
    integer: false,
    meaning:
      "Cosine similarity a face must reach to count as a vote for its best student. Absent: the model manifest's calibrated threshold.",
  },
  recognitionMinMargin: {
    min: 0,
    max: 0.5,
    integer: false,
    meaning:
      "Lead in cosine similarity the best student needs over the runner-up for a vote. Absent: the model manifest's calibrated margin.",
  },
  recognitionVotes: {
    min: 1,
    max: 30,
    integer: true,
    meaning:
      "Agreeing votes one face track needs before it marks its student (at most once per track). Absent: the model manifest's calibrated count.",
  },
  frameSkip: {
    min: 0,
    max: 30,
    integer: true,
    meaning:
      "Camera frames skipped between two analysed frames: 0 analyses every frame, 2 every third. Absent: the device's FRAME_SKIP.",
  },
  fps: {
    min: 1,
    max: 30,
    integer: true,
    meaning:
      "Camera frames per second; the camera is opened at this rate at the next start of the edge service. Absent: the device's CAMERA_FPS.",
  },
} as const satisfies Record<string, DeviceConfigField>;

export type DeviceConfigKey = keyof typeof DEVICE_CONFIG_FIELDS;
export const DEVICE_CONFIG_KEYS = Object.keys(DEVICE_CONFIG_FIELDS) as DeviceConfigKey[];

/** The explicit settings of one device (absent = the device's own default). */
export type DeviceConfig = { [K in DeviceConfigKey]?: number };

/** A change: a number sets a field, null clears it (back to the device's default), absent keeps it. */
export type DeviceConfigPatch = { [K in DeviceConfigKey]?: number | null };

function isConfigKey(key: string): key is DeviceConfigKey {
  return Object.prototype.hasOwnProperty.call(DEVICE_CONFIG_FIELDS, key);
}

/** Throws a readable error for a bad patch; the workflow's update validator and the API's schema agree. */
export function assertValidConfigPatch(patch: unknown): asserts patch is DeviceConfigPatch {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
    throw new Error('config must be an object');
  const entries = Object.entries(patch);
  if (entries.length === 0) throw new Error('config must change at least one setting');
  for (const [key, value] of entries) {
    if (!isConfigKey(key)) throw new Error(`unknown setting ${key}`);
    if (value === null) continue;
    const field: DeviceConfigField = DEVICE_CONFIG_FIELDS[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < field.min || value > field.max)
      throw new Error(`${key} must be a number between ${field.min} and ${field.max} (or null to clear it)`);
    if (field.integer && !Number.isInteger(value)) throw new Error(`${key} must be an integer`);
  }
}

/** The config after a patch: numbers set, nulls clear. */
export function applyConfigPatch(config: DeviceConfig, patch: DeviceConfigPatch): DeviceConfig {
  const next: DeviceConfig = { ...config };
  for (const key of DEVICE_CONFIG_KEYS) {
    const value = patch[key];
    if (value === null) delete next[key];
    else if (value !== undefined) next[key] = value;
  }
  return next;
}
