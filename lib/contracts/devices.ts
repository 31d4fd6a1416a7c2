/** POST /api/v1/heartbeat: what a device reports every minute and the settings the answer carries. */
import { z } from 'zod';
import {
  DEVICE_CONFIG_FIELDS,
  DEVICE_CONFIG_KEYS,
  type DeviceConfig,
  type DeviceConfigField,
  type DeviceConfigKey,
  type DeviceConfigPatch,
} from './deviceConfig';
import { text } from './text';

const finite = z.number().finite();

/**
 * Bound of a reported clock offset: a Pi without a battery-backed clock that never reached NTP starts in
 * 1970, some 57 years (1.8e12 ms) behind; beyond a century the value is nonsense.
 */
export const MAX_CLOCK_OFFSET_MS = 100 * 366 * 24 * 3_600_000;

export const heartbeatBodySchema = z.strictObject({
  queueDepth: z.number().int().min(0).max(10_000_000).describe('Records waiting in the outbox'),
  version: text(64).describe('Edge software version'),
  cpuTempC: finite.min(-40).max(150).optional(),
  rosterVersion: text(128, { allowEmpty: true })
    .optional()
    .describe('Roster version of the class the device recognises'),
  fps: finite.min(0).max(240).optional().describe('Camera frames per second the device receives'),
  configVersion: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('The configVersion the device has applied (the one a heartbeat answer carried)'),
  uptimeSeconds: z.number().int().min(0).optional(),
  droppedEvents: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('Records refused since the edge started because its outbox was full (OUTBOX_MAX_RECORDS)'),
  clockOffsetMs: z
    .number()
    .int()
    .min(-MAX_CLOCK_OFFSET_MS)
    .max(MAX_CLOCK_OFFSET_MS)
    .optional()
    .describe(
      "How far the device's clock is ahead of the server's (negative: behind), in ms, measured from the server_time of the schedule and heartbeat answers. The device subtracts it from the timestamps it sends; absent until measured",
    ),
  deadLetters: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      "Records in the device's dead-letter file: rejected by the server (or unreadable on the device), never retried. `npm run edge -- dead-letters` lists them on the device",
    ),
  lastDeadLetterReason: text(500, { allowEmpty: true })
    .optional()
    .describe("Why the newest dead-lettered record was rejected (the server's per-record reason)"),
  lastDeadLetterAt: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('When the newest record was dead-lettered (device clock)'),
  detectionLatency: z
    .strictObject({
      frames: z.number().int().min(1).max(10_000_000),
      p50Ms: finite.min(0).max(600_000),
      p95Ms: finite.min(0).max(600_000),
      maxMs: finite.min(0).max(600_000),
    })
    .optional()
    .describe(
      'Face detection time per analysed frame since the previous heartbeat (median, 95th percentile, maximum). Absent when no frame was analysed, or from an edge that does not measure it',
    ),
});

function fieldSchema(field: DeviceConfigField) {
  return (field.integer ? z.number().int() : z.number())
    .min(field.min)
    .max(field.max)
    .describe(field.meaning);
}

type Shape<T> = { [K in DeviceConfigKey]: T };
function shape<T>(make: (field: DeviceConfigField) => T): Shape<T> {
  return Object.fromEntries(DEVICE_CONFIG_KEYS.map((k) => [k, make(DEVICE_CONFIG_FIELDS[k])])) as Shape<T>;
}

/**
 * The explicit settings of a device, as the heartbeat answer carries them: a field is present only when an
 * admin set it; absent means the device uses its own default (calibrated, or from its environment).
 */
export const deviceConfigSchema = z.object(shape((f) => fieldSchema(f).optional()));

/** An admin's change: a number sets a field, null clears it (the device's default again). */
export const deviceConfigPatchSchema = z
  .strictObject(shape((f) => fieldSchema(f).nullable().optional()))
  .refine((b) => Object.keys(b).length > 0, { message: 'change at least one setting' });

export const heartbeatAnswerSchema = z.object({
  config: deviceConfigSchema,
  configVersion: z
    .number()
    .int()
    .min(0)
    .describe('Counts config changes; the device reports the one it applied'),
  server_time: z.iso
    .datetime({ offset: true })
    .optional()
    .describe("The server's clock when it answered; the device measures its clock offset from it"),
});

export type HeartbeatBody = z.infer<typeof heartbeatBodySchema>;
export type HeartbeatAnswer = z.infer<typeof heartbeatAnswerSchema>;

// The zod schemas and the plain types the workflow uses must stay the same shape.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const sameConfig: Same<z.infer<typeof deviceConfigSchema>, DeviceConfig> = true;
const samePatch: Same<z.infer<typeof deviceConfigPatchSchema>, DeviceConfigPatch> = true;
void sameConfig;
void samePatch;
