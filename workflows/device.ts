/**
 * One device's life: provisioned → online ⇄ offline → decommissioned. Heartbeats (signals) keep it online;
 * ten minutes of silence mark it offline and raise one alert, the next heartbeat resolves it. A CPU
 * running hot raises one alert per episode, and so does a device clock further off than CLOCK_SKEW_SECONDS
 * (the limit travels with each heartbeat from the API). Operators push settings with the `configure` update; the API
 * hands them to the device in its next heartbeat response. A `decommission` signal (the API sends it once it
 * has revoked the key itself) revokes the key, idempotently, resolves open alerts and ends the workflow.
 *
 * Handlers only change state and queue effects; the main loop runs the effects' activities one at a time,
 * so transitions are persisted in the order they happened. The state (including effects not yet run)
 * travels through continue-as-new.
 */
import {
  ActivityFailure,
  ApplicationFailure,
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
  type HeartbeatLimits,
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
  /**
   * A device clock further off than this raises a clock_skew alert; the heartbeat's limits (the API's
   * CLOCK_SKEW_SECONDS) take precedence, this applies to heartbeats without them.
   */
  clockSkewMs: number;
}

export const DEFAULT_DEVICE_SETTINGS: DeviceSettings = {
  offlineAfterMs: 10 * 60_000,
  cpuTempAlertC: 70,
  cpuTempClearMarginC: 5,
  clockSkewMs: 120_000,
};

/** A clock_skew episode ends when the offset is back within this share of the limit (hysteresis). */
export const CLOCK_SKEW_CLEAR_RATIO = 0.9;

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
  /** clockSkew is absent in state from code before the clock_skew alert. */
  alerts: { offline: boolean; overheating: boolean; clockSkew?: boolean };
  /** The server's alert limits from the newest heartbeat that carried them (they outrank input.settings). */
  serverLimits?: Partial<Pick<DeviceSettings, 'offlineAfterMs' | 'cpuTempAlertC'>>;
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

/** The answer to a configure for a device that is not (or no longer) provisioned; retrying cannot help. */
function deviceUnavailable(deviceId: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'DeviceUnavailable',
    message: `device ${deviceId} is unknown or decommissioned`,
    nonRetryable: true,
  });
}

function explicitConfig(state: DeviceState): DeviceConfig {
  return state.configExplicitOnly ? state.config : withoutLegacyDefaults(state.config);
}

function isoOf(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/**
 * Applies one heartbeat to the state, queueing the effects it causes. Pure: no activities, no clock.
 * `clockSkewMs`: the limit to judge the reported clock offset against; undefined skips the check (a
 * heartbeat without an offset, or one that older code handled without it, see the device workflow).
 */
export function applyHeartbeat(
  state: DeviceState,
  hb: DeviceHeartbeat,
  nowMs: number,
  settings: DeviceSettings,
  clockSkewMs?: number,
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
  const offset = hb.clockOffsetMs;
  if (typeof offset === 'number' && clockSkewMs !== undefined) {
    const off = Math.abs(offset);
    const describe = `${(off / 1000).toFixed(1)} s ${offset > 0 ? 'ahead of' : 'behind'} the server's`;
    if (!state.alerts.clockSkew && off > clockSkewMs) {
      state.alerts.clockSkew = true;
      state.effects.push({
        kind: 'alert',
        alert: {
          kind: 'clock_skew',
          state: 'raised',
          message: `clock ${describe} (limit ${clockSkewMs / 1000} s); the device corrects its timestamps, check its NTP`,
          at: isoOf(nowMs)!,
          clockOffsetMs: offset,
        },
      });
    } else if (state.alerts.clockSkew && off <= clockSkewMs * CLOCK_SKEW_CLEAR_RATIO) {
      state.alerts.clockSkew = false;
      state.effects.push({
        kind: 'alert',
        alert: {
          kind: 'clock_skew',
          state: 'resolved',
          message: `clock back to ${describe}`,
          at: isoOf(nowMs)!,
          clockOffsetMs: offset,
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
  const startSettings: DeviceSettings = { ...DEFAULT_DEVICE_SETTINGS, ...input.settings };
  /** The limits in force: the first run's settings, replaced by what the newest heartbeat carried. */
  const settingsOf = (s: DeviceState | undefined): DeviceSettings => ({
    ...startSettings,
    ...s?.serverLimits,
  });
  const rememberLimits = (s: DeviceState, limits: HeartbeatLimits | undefined) => {
    if (limits?.offlineAfterMs === undefined && limits?.cpuTempAlertC === undefined) return;
    s.serverLimits = {
      ...(limits.offlineAfterMs === undefined ? {} : { offlineAfterMs: limits.offlineAfterMs }),
      ...(limits.cpuTempAlertC === undefined ? {} : { cpuTempAlertC: limits.cpuTempAlertC }),
    };
  };
  const lock = new Lock();
  // Messages that arrive before the state is loaded wait in these buffers (signalWithStart on first contact).
  const early: {
    heartbeats: { hb: DeviceHeartbeat; limits?: HeartbeatLimits; at: number }[];
    decommission?: DecommissionRequest;
  } = { heartbeats: [] };
  let state: DeviceState | undefined = input.state;
  /** Set when loadDevice found no active device: the workflow ends, and configure must not wait. */
  let unknownDevice = false;

  // Code before the clock_skew alert ignored the offset: a heartbeat that code handled must replay without
  // the alert's activity, so the check runs only where the patch marker is (or is now being) recorded.
  const clockSkewLimit = (hb: DeviceHeartbeat, limits: HeartbeatLimits | undefined) =>
    hb.clockOffsetMs !== undefined && patched('device-clock-skew-alert')
      ? (limits?.clockSkewMs ?? startSettings.clockSkewMs)
      : undefined;

  setHandler(heartbeatSignal, (hb, limits) => {
    if (state) {
      rememberLimits(state, limits);
      applyHeartbeat(state, hb, workflowNowMs(), settingsOf(state), clockSkewLimit(hb, limits));
    } else early.heartbeats.push({ hb, limits, at: workflowNowMs() });
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
      alerts: {
        offline: s?.alerts.offline ?? false,
        overheating: s?.alerts.overheating ?? false,
        clockSkew: s?.alerts.clockSkew ?? false,
      },
      ...(s?.lastHeartbeat?.clockOffsetMs === undefined
        ? {}
        : { clockOffsetMs: s.lastHeartbeat.clockOffsetMs }),
      ...(s?.lastHeartbeat?.deadLetters === undefined ? {} : { deadLetters: s.lastHeartbeat.deadLetters }),
      ...(s?.lastHeartbeat?.lastDeadLetterReason === undefined
        ? {}
        : { lastDeadLetterReason: s.lastHeartbeat.lastDeadLetterReason }),
      generation: s?.generation ?? 0,
    };
  });
  setHandler(
    configureUpdate,
    (patch: DeviceConfigPatch) =>
      lock.run(async () => {
        // An update accepted before the device was loaded waits for the load, and fails if it found nothing.
        await condition(() => state !== undefined || unknownDevice);
        const s = state;
        if (!s) throw deviceUnavailable(input.deviceId);
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
        if (unknownDevice) throw deviceUnavailable(input.deviceId);
        if (state?.status === 'decommissioned' || state?.decommission || early.decommission)
          throw new Error(`device ${input.deviceId} is decommissioned`);
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
      // configure updates waiting for the load fail now (and new ones are rejected) instead of holding the
      // workflow open for ever.
      unknownDevice = true;
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
    for (const { hb, limits, at } of early.heartbeats.splice(0)) {
      rememberLimits(state, limits);
      applyHeartbeat(state, hb, at, settingsOf(state), clockSkewLimit(hb, limits));
    }
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
      const remaining = s.lastSeenMs + settingsOf(s).offlineAfterMs - workflowNowMs();
      if (remaining <= 0) {
        goOffline(s, workflowNowMs(), settingsOf(s));
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
  if (s.alerts.clockSkew) {
    s.alerts.clockSkew = false;
    s.effects.push({
      kind: 'alert',
      alert: {
        kind: 'clock_skew',
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
