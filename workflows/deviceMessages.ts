/**
 * Messages of the device workflow, declared once for the workflow, the API, the CLI and the tests.
 * Payloads are small telemetry values; never keys.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** What a device reports every minute (POST /api/v1/heartbeat). */
export interface DeviceHeartbeat {
  queueDepth: number;
  version: string;
  cpuTempC?: number;
  rosterVersion?: string;
  fps?: number;
  /** The configVersion the device has applied (the one its last heartbeat response carried). */
  configVersion?: number;
  uptimeSeconds?: number;
  droppedEvents?: number;
}

/** Settings an operator can push to a device; delivered in its next heartbeat response. */
export interface DeviceConfig {
  /** Cosine similarity a face must reach to count as a match. */
  recognitionThreshold: number;
  /** Process every (frameSkip + 1)-th frame. */
  frameSkip: number;
  fps: number;
}

export type DeviceConfigPatch = Partial<DeviceConfig>;

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
  alerts: { offline: boolean; overheating: boolean };
  /** How many runs (continue-as-new generations) this device's history has had. */
  generation: number;
}

export const DEFAULT_DEVICE_CONFIG: DeviceConfig = { recognitionThreshold: 0.5, frameSkip: 2, fps: 8 };

export const CONFIG_LIMITS = {
  recognitionThreshold: { min: 0.05, max: 0.99 },
  frameSkip: { min: 0, max: 30 },
  fps: { min: 1, max: 30 },
} as const;

/** Throws a readable error for a bad patch; used by the update validator and by the API's schema. */
export function assertValidConfigPatch(patch: DeviceConfigPatch): void {
  if (typeof patch !== 'object' || patch === null) throw new Error('config must be an object');
  const keys = Object.keys(patch);
  if (keys.length === 0) throw new Error('config must change at least one setting');
  for (const key of keys) {
    if (!(key in CONFIG_LIMITS)) throw new Error(`unknown setting ${key}`);
    const limits = CONFIG_LIMITS[key as keyof DeviceConfig];
    const value = patch[key as keyof DeviceConfig];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < limits.min || value > limits.max) {
      throw new Error(`${key} must be a number between ${limits.min} and ${limits.max}`);
    }
    if (key !== 'recognitionThreshold' && !Number.isInteger(value))
      throw new Error(`${key} must be an integer`);
  }
}

export const heartbeatSignal = defineSignal<[DeviceHeartbeat]>('heartbeat');
export const decommissionSignal = defineSignal<[DecommissionRequest]>('decommission');
export const configureUpdate = defineUpdate<ConfigureResult, [DeviceConfigPatch]>('configure');
export const deviceStateQuery = defineQuery<DeviceView>('state');

/** `device:{deviceId}` — one long-lived workflow per device. */
export function deviceWorkflowId(deviceId: string): string {
  return `device:${deviceId}`;
}

/** Device ids are short slugs (they appear in workflow ids, metrics labels and log lines). */
export const DEVICE_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
