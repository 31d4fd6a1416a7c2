/**
 * Device lifecycle as use cases shared by the admin API and the CLI (scripts/device.ts): provision (a
 * one-time key; only its hash is stored), rotate the key, configure (the workflow's `configure` update),
 * decommission (the key is revoked at once; the workflow resolves alerts and completes), list; and the device-facing heartbeat, which
 * signals the device workflow and answers with the settings an admin set for the device (only those).
 */
import type { Knex } from 'knex';
import { WorkflowIdConflictPolicy, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { generateDeviceKey, hashDeviceKey } from '../../lib/deviceKeys';
import {
  deviceClockOffset,
  deviceCpuTemp,
  deviceDeadLetters,
  deviceLastHeartbeat,
  deviceQueueDepth,
  recordDetectionLatency,
} from '../../lib/metrics';
import { storableText } from '../../lib/storableText';
import { withinDeadline } from '../../lib/temporal/connection';
import type { device, DeviceSettings } from '../../workflows/device';
import {
  configureUpdate,
  decommissionSignal,
  deviceWorkflowId,
  heartbeatSignal,
  type ConfigureResult,
  type DeviceConfig,
  type DeviceConfigPatch,
  type DeviceHeartbeat,
  type DeviceStatus,
} from '../../workflows/deviceMessages';
import { DeviceIdKey, RoomIdKey } from '../../workflows/searchAttributes';
import type { HeartbeatAnswer } from '../../lib/contracts';
import type { AuthenticatedDevice } from '../auth/device';
import { AppError } from '../errors';

export interface DeviceAdminDeps {
  db: Knex;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  /** Offline limit and temperature threshold: handed to new device workflows and sent with every heartbeat. */
  settings?: Partial<DeviceSettings>;
  /** CLOCK_SKEW_SECONDS in ms, sent with every heartbeat signal (the workflow alerts beyond it). */
  clockSkewMs?: number;
}

/** A heartbeat that cannot reach Temporal within this answers 503 (the device retries next minute). */
export const HEARTBEAT_SIGNAL_DEADLINE_MS = 5_000;

export interface ProvisionedDevice {
  deviceId: string;
  roomId: string;
  /** Shown once; only its SHA-256 is stored. */
  apiKey: string;
  workflowId: string;
}

export interface DeviceListing {
  deviceId: string;
  roomId: string;
  status: DeviceStatus;
  lastSeenAt: string | null;
  configVersion: number;
  config: DeviceConfig;
  createdAt: string;
  /** From the latest heartbeat that reported them (null: never reported, e.g. older edge software). */
  clockOffsetMs: number | null;
  deadLetters: number | null;
  lastDeadLetter: { reason: string; at: string | null } | null;
}

function startOptions(deps: DeviceAdminDeps, deviceId: string, roomId?: string) {
  return {
    workflowId: deviceWorkflowId(deviceId),
    taskQueue: deps.taskQueue,
    args: [{ deviceId, roomId, settings: deps.settings }] as Parameters<typeof device>,
    typedSearchAttributes: [
      { key: DeviceIdKey, value: deviceId },
      ...(roomId ? [{ key: RoomIdKey, value: roomId }] : []),
    ],
  };
}

async function audit(
  db: Knex,
  by: string,
  action: string,
  deviceId: string,
  after: object,
  reason?: string,
  before?: object,
): Promise<void> {
  await db('audit_log').insert({
    actor: by,
    action,
    entity: 'device',
    entity_id: deviceId,
    before: before === undefined ? null : JSON.stringify(before),
    after: JSON.stringify(after),
    reason: reason ?? null,
  });
}

export async function provisionDevice(
  deps: DeviceAdminDeps,
  input: { deviceId: string; roomId: string; by: string },
): Promise<ProvisionedDevice> {
  const apiKey = generateDeviceKey();
  const reprovisioned = await deps.db.transaction(async (trx) => {
    const room = await trx('classrooms').where({ id: input.roomId }).first('id');
    if (!room) throw new AppError(422, 'unknown_room', `room ${input.roomId} does not exist`);
    const existing = await trx('devices').where({ id: input.deviceId }).forUpdate().first('status');
    if (existing && existing.status !== 'decommissioned') {
      throw new AppError(
        409,
        'device_exists',
        `device ${input.deviceId} is already provisioned; rotate its key instead`,
      );
    }
    const row = {
      id: input.deviceId,
      room_id: input.roomId,
      key_hash: hashDeviceKey(apiKey),
      status: 'provisioned',
      // Nothing set explicitly: the device runs its calibrated defaults until an admin configures it.
      config: JSON.stringify({}),
      config_version: 0,
      last_seen: null,
    };
    // A decommissioned id may be provisioned again (a repaired Pi back in service): a fresh start.
    if (existing) await trx('devices').where({ id: input.deviceId }).update(row);
    else await trx('devices').insert(row);
    await audit(trx, input.by, 'device.provision', input.deviceId, { roomId: input.roomId });
    return existing !== undefined;
  });
  const handle = await deps.temporal.workflow.start('device', {
    ...startOptions(deps, input.deviceId, input.roomId),
    // A decommissioned id's old workflow may still be winding down (its decommission signal not yet handled):
    // it must not revoke the new key, so it gives way to a fresh one.
    workflowIdConflictPolicy: reprovisioned
      ? WorkflowIdConflictPolicy.TERMINATE_EXISTING
      : WorkflowIdConflictPolicy.USE_EXISTING,
  });
  deps.log.info({ deviceId: input.deviceId, roomId: input.roomId, by: input.by }, 'device provisioned');
  return { deviceId: input.deviceId, roomId: input.roomId, apiKey, workflowId: handle.workflowId };
}

export async function rotateDeviceKey(
  deps: DeviceAdminDeps,
  input: { deviceId: string; by: string },
): Promise<{ deviceId: string; apiKey: string }> {
  const apiKey = generateDeviceKey();
  const n = await deps
    .db('devices')
    .where({ id: input.deviceId })
    .whereNot({ status: 'decommissioned' })
    .update({ key_hash: hashDeviceKey(apiKey) });
  if (n === 0) throw new AppError(404, 'device_not_found', `no active device ${input.deviceId}`);
  await audit(deps.db, input.by, 'device.rotate_key', input.deviceId, {});
  deps.log.info(
    { deviceId: input.deviceId, by: input.by },
    'device key rotated; the old key stops working now',
  );
  return { deviceId: input.deviceId, apiKey };
}

export async function configureDevice(
  deps: DeviceAdminDeps,
  deviceId: string,
  patch: DeviceConfigPatch,
): Promise<ConfigureResult> {
  const row = await deps.db('devices').where({ id: deviceId }).first('room_id', 'status');
  if (!row || row.status === 'decommissioned')
    throw new AppError(404, 'device_not_found', `no active device ${deviceId}`);
  // The workflow may not exist yet (a device seeded before workflows existed): start it, then update.
  const handle = await deps.temporal.workflow.start('device', {
    ...startOptions(deps, deviceId, row.room_id),
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
  });
  try {
    return await handle.executeUpdate(configureUpdate, { args: [patch] });
  } catch (err) {
    // Rejected by the workflow's validator or failed by its handler (a device decommissioned meanwhile).
    if (err instanceof WorkflowUpdateFailedError) {
      throw new AppError(409, 'device_unavailable', err.cause?.message ?? err.message);
    }
    throw err;
  }
}

/**
 * Revokes the key and writes the audit row in one transaction, then tells the device workflow (which
 * resolves open alerts and completes). The key is dead before this returns: a decommission the API answers
 * never leaves it valid, whatever happens to the signal afterwards. Repeating it (the signal failed, say)
 * only signals again.
 */
export async function decommissionDevice(
  deps: DeviceAdminDeps,
  input: { deviceId: string; by: string; reason?: string },
): Promise<{ deviceId: string; workflowId: string }> {
  const roomId = await deps.db.transaction(async (trx) => {
    const row = await trx('devices').where({ id: input.deviceId }).forUpdate().first('room_id', 'status');
    if (!row) throw new AppError(404, 'device_not_found', `no device ${input.deviceId}`);
    if (row.status !== 'decommissioned') {
      await trx('devices').where({ id: input.deviceId }).update({ key_hash: null, status: 'decommissioned' });
      await audit(
        trx,
        input.by,
        'device.decommission',
        input.deviceId,
        { status: 'decommissioned' },
        input.reason,
        { status: row.status },
      );
    }
    return row.room_id as string;
  });
  const handle = await deps.temporal.workflow.signalWithStart('device', {
    ...startOptions(deps, input.deviceId, roomId),
    signal: decommissionSignal,
    signalArgs: [{ by: input.by, reason: input.reason }],
  });
  deps.log.info({ deviceId: input.deviceId, by: input.by }, 'device decommissioned; key revoked');
  return { deviceId: input.deviceId, workflowId: handle.workflowId };
}

export async function listDevices(db: Knex): Promise<DeviceListing[]> {
  const rows = await db('devices')
    .orderBy('id')
    .select(
      'id',
      'room_id',
      'status',
      'last_seen',
      'config',
      'config_version',
      'created_at',
      'clock_offset_ms',
      'dead_letters',
      'last_dead_letter_reason',
      'last_dead_letter_at',
    );
  return rows.map((r) => ({
    deviceId: r.id,
    roomId: r.room_id,
    status: r.status,
    lastSeenAt: r.last_seen ? new Date(r.last_seen).toISOString() : null,
    configVersion: r.config_version,
    config: r.config ?? {},
    createdAt: new Date(r.created_at).toISOString(),
    clockOffsetMs: r.clock_offset_ms === null ? null : Number(r.clock_offset_ms),
    deadLetters: r.dead_letters,
    lastDeadLetter:
      r.last_dead_letter_reason === null
        ? null
        : {
            reason: r.last_dead_letter_reason,
            at: r.last_dead_letter_at ? new Date(r.last_dead_letter_at).toISOString() : null,
          },
  }));
}

/** A device-clock instant Postgres can store (a Pi may report anything), else null. */
function storableInstant(iso: string | undefined): Date | null {
  const ms = iso === undefined ? NaN : Date.parse(iso);
  // Postgres refuses year 0; nothing a device dead-letters predates 1970 or lies beyond year 9999.
  return Number.isFinite(ms) && ms >= 0 && ms < Date.UTC(10_000, 0, 1) ? new Date(ms) : null;
}

/** The devices row's view of a heartbeat: last_seen, and what it reports about the clock and dead letters. */
function heartbeatColumns(db: Knex, hb: DeviceHeartbeat): Record<string, unknown> {
  return {
    last_seen: db.fn.now(),
    ...(hb.clockOffsetMs === undefined ? {} : { clock_offset_ms: hb.clockOffsetMs }),
    ...(hb.deadLetters === undefined
      ? {}
      : {
          dead_letters: hb.deadLetters,
          last_dead_letter_reason:
            hb.lastDeadLetterReason === undefined ? null : storableText(hb.lastDeadLetterReason, 500),
          last_dead_letter_at: storableInstant(hb.lastDeadLetterAt),
        }),
  };
}

/**
 * One heartbeat: note it (last_seen, gauges), hand it to the device workflow (started on first contact),
 * and answer with the settings stored by the last `configure`. The workflow writes status transitions;
 * last_seen is written here because it changes every minute and would only bloat workflow history.
 */
export async function acceptHeartbeat(
  deps: DeviceAdminDeps,
  dev: AuthenticatedDevice,
  hb: DeviceHeartbeat,
): Promise<HeartbeatAnswer> {
  // Detection timings are for /metrics only; the workflow's history need not carry them every minute.
  const { detectionLatency, ...forWorkflow } = hb;
  try {
    await withinDeadline(deps.temporal, HEARTBEAT_SIGNAL_DEADLINE_MS, () =>
      deps.temporal.workflow.signalWithStart('device', {
        ...startOptions(deps, dev.id, dev.roomId),
        signal: heartbeatSignal,
        // The server's limits travel with every heartbeat, so a changed setting reaches workflows that were
        // started long ago (their first run's settings are carried through continue-as-new).
        signalArgs:
          deps.clockSkewMs === undefined
            ? [forWorkflow]
            : [
                forWorkflow,
                {
                  clockSkewMs: deps.clockSkewMs,
                  ...(deps.settings?.offlineAfterMs === undefined
                    ? {}
                    : { offlineAfterMs: deps.settings.offlineAfterMs }),
                  ...(deps.settings?.cpuTempAlertC === undefined
                    ? {}
                    : { cpuTempAlertC: deps.settings.cpuTempAlertC }),
                },
              ],
      }),
    );
  } catch (err) {
    deps.log.error({ err, deviceId: dev.id }, 'heartbeat signal failed');
    throw new AppError(
      503,
      'temporal_unavailable',
      'heartbeat could not be recorded; retry later',
      undefined,
      { 'Retry-After': '30' },
    );
  }
  const row = await deps
    .db('devices')
    .where({ id: dev.id })
    .update(heartbeatColumns(deps.db, hb))
    .returning(['config', 'config_version']);
  deviceLastHeartbeat.set({ device: dev.id }, Date.now() / 1000);
  deviceQueueDepth.set({ device: dev.id }, hb.queueDepth);
  if (typeof hb.cpuTempC === 'number') deviceCpuTemp.set({ device: dev.id }, hb.cpuTempC);
  if (typeof hb.clockOffsetMs === 'number')
    deviceClockOffset.set({ device: dev.id }, hb.clockOffsetMs / 1000);
  if (typeof hb.deadLetters === 'number') deviceDeadLetters.set({ device: dev.id }, hb.deadLetters);
  if (detectionLatency) recordDetectionLatency(dev.id, detectionLatency);
  const current = row[0] ?? { config: {}, config_version: 0 };
  // Only what an admin set: an absent field leaves the device on its own (calibrated) default. The
  // server's time lets the device measure its clock's offset.
  return {
    config: current.config ?? {},
    configVersion: current.config_version,
    server_time: new Date().toISOString(),
  };
}
