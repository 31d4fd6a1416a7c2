/**
 * One device's life: provisioned → online ⇄ offline → decommissioned. Heartbeats (signals) keep it online;
 * ten minutes of silence mark it offline and raise one alert, the next heartbeat resolves it. A CPU
 * running hot raises one alert per episode. Operators push settings with the `configure` update; the API
 * hands them to the device in its next heartbeat response. A `decommission` signal revokes the key and
 * ends the workflow.
 *
 * Handlers only change state and queue effects; the main loop runs the effects' activities one at a time,
 * so transitions are persisted in the order they happened. The state (including effects not yet run)
 * travels through continue-as-new.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeviceActivities, DeviceAlert } from '../activities/devices';
import {
  applyConfigPatch,
  assertValidConfigPatch,
  configureUpdate,
  decommissionSignal,
  deviceStateQuery,
  heartbeatSignal,
  type DecommissionRequest,
  type DeviceConfig,
  type DeviceConfigPatch,
  type DeviceHeartbeat,
  type DeviceStatus,
  type DeviceView,
  LEGACY_DEVICE_CONFIG_DEFAULTS,
  withoutLegacyDefaults,
} from './deviceMessages';
import { DeviceIdKey, RoomIdKey } from './searchAttributes';
import { workflowNowMs } from './time';
import { Lock } from './lock';

export interface DeviceSettings {
  offlineAfterMs: number;
  cpuTempAlertC: number;
  /** An overheating episode ends when the CPU is this much below the alert threshold (hysteresis). */
  cpuTempClearMarginC: number;
}

export const DEFAULT_DEVICE_SETTINGS: DeviceSettings = {
  offlineAfterMs: 10 * 60_000,
  cpuTempAlertC: 70,
  cpuTempClearMarginC: 5,
};

type Effect =
  | { kind: 'status'; status: DeviceStatus; lastSeenAt?: string }
  | { kind: 'alert'; alert: Omit<DeviceAlert, 'deviceId' | 'roomId'> };

export interface DeviceState {
  roomId: string;
  status: DeviceStatus;
  lastSeenMs?: number;
  lastHeartbeat?: DeviceHeartbeat;
  heartbeats: number;
  /** Only what an admin set explicitly (absent = the device's own default). */
  config: DeviceConfig;
  /**
   * False (or absent) in state from older code, whose config also holds the defaults that code filled in;
   * the next `configure` removes them (withoutLegacyDefaults) and sets this.
   */
  configExplicitOnly?: boolean;
  configVersion: number;
  appliedConfigVersion: number;
  alerts: { offline: boolean; overheating: boolean };
  effects: Effect[];
  decommission?: DecommissionRequest;
  generation: number;
}

export interface DeviceWorkflowInput {
  deviceId: string;
  /** Known at provisioning; a first-contact signalWithStart leaves it to the loadDevice activity. */
  roomId?: string;
  settings?: Partial<DeviceSettings>;
  /** Carried through continue-as-new. */
  state?: DeviceState;
  /** Test knob: continue-as-new once history reaches this many events (Temporal suggests it at ~4k+). */
  maxHistoryEventsBeforeContinue?: number;
}

export interface DeviceOutcome {
  deviceId: string;
  status: DeviceStatus;
  heartbeats: number;
  reason: 'decommissioned' | 'unknown_device';
}

const { loadDevice, recordDeviceStatus, saveDeviceConfig, revokeDevice } = proxyActivities<DeviceActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// Alerts reach outside systems (a webhook); a dead webhook must not stall the device's state machine.
const { raiseDeviceAlert } = proxyActivities<DeviceActivities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
  },
});

function explicitConfig(state: DeviceState): DeviceConfig {
  return state.configExplicitOnly ? state.config : withoutLegacyDefaults(state.config);
}

function isoOf(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/** Applies one heartbeat to the state, queueing the effects it causes. Pure: no activities, no clock. */
export function applyHeartbeat(
  state: DeviceState,
  hb: DeviceHeartbeat,
  nowMs: number,
  settings: DeviceSettings,
): void {
  if (state.status === 'decommissioned' || state.decommission) return;
  state.heartbeats++;
  state.lastSeenMs = nowMs;
  state.lastHeartbeat = hb;
  if (typeof hb.configVersion === 'number' && hb.configVersion > state.appliedConfigVersion) {
    state.appliedConfigVersion = Math.min(hb.configVersion, state.configVersion);
  }
  if (state.status !== 'online') {
    state.effects.push({ kind: 'status', status: 'online', lastSeenAt: isoOf(nowMs) });
    if (state.alerts.offline) {
      state.alerts.offline = false;
      state.effects.push({
        kind: 'alert',
        alert: { kind: 'offline', state: 'resolved', message: 'device is back online', at: isoOf(nowMs)! },
      });
    }
    state.status = 'online';
  }
  const temp = hb.cpuTempC;
  if (typeof temp === 'number') {
    if (!state.alerts.overheating && temp > settings.cpuTempAlertC) {
      state.alerts.overheating = true;
      state.effects.push({
        kind: 'alert',
        alert: {
          kind: 'overheating',
          state: 'raised',
          message: `CPU at ${temp} °C (alert above ${settings.cpuTempAlertC} °C)`,
          at: isoOf(nowMs)!,
          cpuTempC: temp,
        },
      });
    } else if (state.alerts.overheating && temp <= settings.cpuTempAlertC - settings.cpuTempClearMarginC) {
      state.alerts.overheating = false;
      state.effects.push({
        kind: 'alert',
        alert: {
          kind: 'overheating',
          state: 'resolved',
          message: `CPU back to ${temp} °C`,
          at: isoOf(nowMs)!,
          cpuTempC: temp,
        },
      });
    }
  }
}

function goOffline(state: DeviceState, nowMs: number, settings: DeviceSettings): void {
  state.status = 'offline';
  state.effects.push({ kind: 'status', status: 'offline', lastSeenAt: isoOf(state.lastSeenMs) });
  if (!state.alerts.offline) {
    state.alerts.offline = true;
    state.effects.push({
      kind: 'alert',
      alert: {
        kind: 'offline',
        state: 'raised',
        message: `no heartbeat for ${Math.round((nowMs - (state.lastSeenMs ?? nowMs)) / 60_000)} min (limit ${Math.round(settings.offlineAfterMs / 60_000)} min)`,
        at: isoOf(nowMs)!,
        lastSeenAt: isoOf(state.lastSeenMs),
      },
    });
  }
}

export async function device(input: DeviceWorkflowInput): Promise<DeviceOutcome> {
  const settings: DeviceSettings = { ...DEFAULT_DEVICE_SETTINGS, ...input.settings };
  const lock = new Lock();
  // Messages that arrive before the state is loaded wait in these buffers (signalWithStart on first contact).
  const early: { heartbeats: { hb: DeviceHeartbeat; at: number }[]; decommission?: DecommissionRequest } = {
    heartbeats: [],
  };
  let state: DeviceState | undefined = input.state;

  setHandler(heartbeatSignal, (hb) => {
    if (state) applyHeartbeat(state, hb, workflowNowMs(), settings);
    else early.heartbeats.push({ hb, at: workflowNowMs() });
  });
  setHandler(decommissionSignal, (req) => {
    if (state) state.decommission ??= req;
    else early.decommission ??= req;
  });
  setHandler(deviceStateQuery, (): DeviceView => {
    const s = state;
    return {
      deviceId: input.deviceId,
      roomId: s?.roomId ?? input.roomId ?? '',
      status: s?.status ?? 'provisioned',
      lastSeenAt: isoOf(s?.lastSeenMs),
      lastHeartbeat: s?.lastHeartbeat,
      heartbeats: s?.heartbeats ?? 0,
      config: s ? explicitConfig(s) : {},
      configVersion: s?.configVersion ?? 0,
      appliedConfigVersion: s?.appliedConfigVersion ?? 0,
      alerts: { ...(s?.alerts ?? { offline: false, overheating: false }) },
      generation: s?.generation ?? 0,
    };
  });
  setHandler(
    configureUpdate,
    (patch: DeviceConfigPatch) =>
      lock.run(async () => {
        await condition(() => state !== undefined);
        const s = state!;
        const config = applyConfigPatch(explicitConfig(s), patch);
        const configVersion = s.configVersion + 1;
        // Persist first: the API answers heartbeats from the devices row, so the update is only done once
        // the next heartbeat response is sure to carry the new settings.
        await saveDeviceConfig({ deviceId: input.deviceId, config, configVersion });
        s.config = config;
        s.configExplicitOnly = true;
        s.configVersion = configVersion;
        return { config, configVersion };
      }),
    {
      validator: (patch: DeviceConfigPatch) => {
        assertValidConfigPatch(patch);
        if (state?.status === 'decommissioned' || state?.decommission)
          throw new Error('device is decommissioned');
      },
    },
  );

  if (!state) {
    const record = await loadDevice({ deviceId: input.deviceId });
    if (!record || record.status === 'decommissioned') {
      // A late heartbeat's signalWithStart after decommissioning (or a typo'd id) must not revive anything.
      log.warn('device workflow started for an unknown or decommissioned device; ending', {
        deviceId: input.deviceId,
      });
      await condition(allHandlersFinished);
      return {
        deviceId: input.deviceId,
        status: record?.status ?? 'decommissioned',
        heartbeats: 0,
        reason: 'unknown_device',
      };
    }
    const explicitOnly = patched('device-config-explicit-only');
    state = {
      roomId: record.roomId,
      // Whatever the row said, this workflow has not heard the device yet: start from the last known
      // status so an offline device stays offline (no duplicate alert) until it speaks.
      status: record.status,
      lastSeenMs: record.lastSeenAt ? Date.parse(record.lastSeenAt) : undefined,
      heartbeats: 0,
      // Older code filled in defaults here; runs it started replay that way and are cleaned at the next
      // configure. New runs keep exactly the explicit settings of the devices row.
      ...(explicitOnly
        ? { config: { ...record.config }, configExplicitOnly: true }
        : { config: { ...LEGACY_DEVICE_CONFIG_DEFAULTS, ...record.config } }),
      configVersion: record.configVersion,
      appliedConfigVersion: record.configVersion,
      alerts: { offline: record.status === 'offline', overheating: false },
      effects: [],
      generation: 0,
    };
    for (const { hb, at } of early.heartbeats.splice(0)) applyHeartbeat(state, hb, at, settings);
    if (early.decommission) state.decommission = early.decommission;
  }
  const s: DeviceState = state;
  upsertSearchAttributes([
    { key: DeviceIdKey, value: input.deviceId },
    { key: RoomIdKey, value: s.roomId },
  ]);

  const runEffects = () =>
    lock.run(async () => {
      while (s.effects.length > 0) {
        const effect = s.effects[0];
        if (effect.kind === 'status') {
          await recordDeviceStatus({
            deviceId: input.deviceId,
            status: effect.status,
            lastSeenAt: effect.lastSeenAt,
          });
        } else {
          try {
            await raiseDeviceAlert({ deviceId: input.deviceId, roomId: s.roomId, ...effect.alert });
          } catch (err) {
            if (!(err instanceof ActivityFailure)) throw err;
            log.error('alert could not be delivered; state kept', {
              deviceId: input.deviceId,
              kind: effect.alert.kind,
            });
          }
        }
        s.effects.shift();
      }
    });

  const historyLimitReached = () =>
    workflowInfo().continueAsNewSuggested ||
    (input.maxHistoryEventsBeforeContinue !== undefined &&
      workflowInfo().historyLength >= input.maxHistoryEventsBeforeContinue);

  for (;;) {
    await runEffects();
    if (s.decommission) break;
    if (historyLimitReached()) {
      await condition(allHandlersFinished);
      // Handlers that finished just now may have queued effects; they travel with the state.
      s.generation++;
      return await continueAsNew<typeof device>({ ...input, state: s });
    }
    const heard = s.heartbeats;
    const wake = () =>
      s.heartbeats !== heard || s.effects.length > 0 || s.decommission !== undefined || historyLimitReached();
    if (s.status === 'online' && s.lastSeenMs !== undefined) {
      const remaining = s.lastSeenMs + settings.offlineAfterMs - workflowNowMs();
      if (remaining <= 0) {
        goOffline(s, workflowNowMs(), settings);
        continue;
      }
      await condition(wake, remaining);
    } else {
      await condition(wake);
    }
  }

  // Decommission: revoke first (the key stops working), then close any open alert so nothing dangles.
  const req = s.decommission ?? { by: 'unknown' };
  await lock.run(() => revokeDevice({ deviceId: input.deviceId, by: req.by, reason: req.reason }));
  s.status = 'decommissioned';
  if (s.alerts.offline) {
    s.alerts.offline = false;
    s.effects.push({
      kind: 'alert',
      alert: {
        kind: 'offline',
        state: 'resolved',
        message: 'device decommissioned',
        at: isoOf(workflowNowMs())!,
      },
    });
  }
  if (s.alerts.overheating) {
    s.alerts.overheating = false;
    s.effects.push({
      kind: 'alert',
      alert: {
        kind: 'overheating',
        state: 'resolved',
        message: 'device decommissioned',
        at: isoOf(workflowNowMs())!,
      },
    });
  }
  await runEffects();
  await condition(allHandlersFinished);
  return {
    deviceId: input.deviceId,
    status: 'decommissioned',
    heartbeats: s.heartbeats,
    reason: 'decommissioned',
  };
}
