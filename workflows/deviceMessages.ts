/**
 * Messages of the device workflow, declared once for the workflow, the API, the CLI and the tests.
 * Payloads are small telemetry values; never keys.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import {
  applyConfigPatch,
  assertValidConfigPatch,
  type DeviceConfig,
  type DeviceConfigPatch,
} from '../lib/contracts/deviceConfig';
import type { HeartbeatBody } from '../lib/contracts/devices';

/** What a device reports every minute (POST /api/v1/heartbeat). */
export type DeviceHeartbeat = HeartbeatBody;

/**
 * What the API adds to a heartbeat from its own configuration, so a changed limit reaches running device
 * workflows with the next heartbeat (and replays from history). Absent in signals from older API code.
 */
export interface HeartbeatLimits {
  /** CLOCK_SKEW_SECONDS in ms: a device clock further off than this raises a clock_skew alert. */
  clockSkewMs: number;
  /**
   * DEVICE_OFFLINE_MINUTES and DEVICE_CPU_TEMP_ALERT_C as the server has them now. A device workflow runs
   * for years through continue-as-new; limits fixed in its first run's input would never change, so the
   * newest heartbeat's limits replace them. Absent in signals from older API code.
   */
  offlineAfterMs?: number;
  cpuTempAlertC?: number;
}

export type { DeviceConfig, DeviceConfigPatch };
export { applyConfigPatch, assertValidConfigPatch };

export type DeviceStatus = 'provisioned' | 'online' | 'offline' | 'decommissioned';

export interface DecommissionRequest {
  by: string;
  reason?: string;
}

export interface ConfigureResult {
  config: DeviceConfig;
  configVersion: number;
}

export interface DeviceView {
  deviceId: string;
  roomId: string;
  status: DeviceStatus;
  lastSeenAt?: string;
  lastHeartbeat?: DeviceHeartbeat;
  heartbeats: number;
  config: DeviceConfig;
  configVersion: number;
  /** configVersion the device last reported as applied; below configVersion means a change is pending. */
  appliedConfigVersion: number;
  alerts: { offline: boolean; overheating: boolean; clockSkew: boolean };
  /** How far the device's clock was ahead of the server's at its last heartbeat (absent: not reported). */
  clockOffsetMs?: number;
  /** Records in the device's dead-letter file at its last heartbeat, and the newest reason. */
  deadLetters?: number;
  lastDeadLetterReason?: string;
  /** How many runs (continue-as-new generations) this device's history has had. */
  generation: number;
}

/**
 * What every device config held before a config held only explicit settings: the server filled in these
 * values, and every heartbeat answer carried them (so 0.5 overrode each device's calibrated threshold).
 * Only used to recognise them in state recorded by older code (see withoutLegacyDefaults).
 */
export const LEGACY_DEVICE_CONFIG_DEFAULTS = { recognitionThreshold: 0.5, frameSkip: 2, fps: 8 } as const;

/**
 * A config from older code with the filled-in defaults removed. An admin's explicit setting that equals one of
 * them cannot be told apart and is dropped too (the device then runs its own default; set it again if meant).
 */
export function withoutLegacyDefaults(config: DeviceConfig): DeviceConfig {
  const out: DeviceConfig = { ...config };
  const keys = Object.keys(LEGACY_DEVICE_CONFIG_DEFAULTS) as (keyof typeof LEGACY_DEVICE_CONFIG_DEFAULTS)[];
  for (const key of keys) if (out[key] === LEGACY_DEVICE_CONFIG_DEFAULTS[key]) delete out[key];
  return out;
}

export const heartbeatSignal = defineSignal<[DeviceHeartbeat, HeartbeatLimits?]>('heartbeat');
export const decommissionSignal = defineSignal<[DecommissionRequest]>('decommission');
export const configureUpdate = defineUpdate<ConfigureResult, [DeviceConfigPatch]>('configure');
export const deviceStateQuery = defineQuery<DeviceView>('state');

/** `device:{deviceId}` — one long-lived workflow per device. */
export function deviceWorkflowId(deviceId: string): string {
  return `device:${deviceId}`;
}

/** Device ids are short slugs (they appear in workflow ids, metrics labels and log lines). */
export const DEVICE_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
