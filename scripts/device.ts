/**
 * Device lifecycle for operators, through the same use cases as the admin API (api/devices/service.ts):
 *
 *   tsx scripts/device.ts provision <deviceId> --room <roomId>    prints the device key ONCE
 *   tsx scripts/device.ts rotate-key <deviceId>                    prints the new key ONCE; the old one stops
 *   tsx scripts/device.ts decommission <deviceId> [--reason TEXT] [--no-wait]
 *   tsx scripts/device.ts configure <deviceId> [--threshold N] [--min-margin N] [--votes N] [--frame-skip N] [--fps N]
 *       (each value may be `default`: clears the explicit setting, the device runs its own default again)
 *   tsx scripts/device.ts list [--json]     with each device's clock offset and dead letters (last heartbeat)
 *
 * Needs the database and a running Rollcall (worker) for everything but `list`. The key is printed on
 * stdout only (nothing is logged); store it on the device (edge config) right away.
 */
import { parseArgs } from 'node:util';
import {
  configureDevice,
  decommissionDevice,
  listDevices,
  provisionDevice,
  rotateDeviceKey,
  type DeviceAdminDeps,
  type DeviceListing,
} from '../api/devices/service';
import {
  assertValidConfigPatch,
  DEVICE_ID_PATTERN,
  deviceWorkflowId,
  type DeviceConfigPatch,
} from '../workflows/deviceMessages';
import { openOpsContext, runCli, UsageError, type OpsContext } from './lib/opsContext';

const USAGE = `usage: tsx scripts/device.ts provision <deviceId> --room <roomId>
       tsx scripts/device.ts rotate-key <deviceId>
       tsx scripts/device.ts decommission <deviceId> [--reason TEXT] [--no-wait]
       tsx scripts/device.ts configure <deviceId> [--threshold N] [--min-margin N] [--votes N] [--frame-skip N] [--fps N]
                 (N or "default": clear the explicit setting)
       tsx scripts/device.ts list [--json]`;

async function deps(ctx: OpsContext): Promise<DeviceAdminDeps> {
  return {
    db: ctx.db,
    temporal: await ctx.temporal(),
    taskQueue: ctx.cfg.TEMPORAL_TASK_QUEUE,
    log: ctx.log,
    settings: {
      offlineAfterMs: ctx.cfg.DEVICE_OFFLINE_MINUTES * 60_000,
      cpuTempAlertC: ctx.cfg.DEVICE_CPU_TEMP_ALERT_C,
    },
  };
}

/** A configure value: a number sets it, `default` clears it (null), absent leaves it. */
function setting(v: string | undefined, name: string): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'default') return null;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number`);
  return n;
}

/** The clock offset and dead letters of a device's last heartbeat, where it reported them. */
function telemetry(d: DeviceListing): string {
  const parts: string[] = [];
  if (d.clockOffsetMs !== null) {
    const s = d.clockOffsetMs / 1000;
    parts.push(`clock ${s >= 0 ? '+' : ''}${s.toFixed(1)} s`);
  }
  if (d.deadLetters !== null) {
    const reason = d.lastDeadLetter ? ` (newest: ${d.lastDeadLetter.reason})` : '';
    parts.push(`dead letters ${d.deadLetters}${d.deadLetters > 0 ? reason : ''}`);
  }
  return parts.length > 0 ? `  ${parts.join('  ')}` : '';
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      room: { type: 'string' },
      reason: { type: 'string' },
      'no-wait': { type: 'boolean' },
      threshold: { type: 'string' },
      'min-margin': { type: 'string' },
      votes: { type: 'string' },
      'frame-skip': { type: 'string' },
      fps: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, deviceId] = positionals;
  if (values.help || !command) throw new UsageError('');
  if (command !== 'list' && (!deviceId || !DEVICE_ID_PATTERN.test(deviceId))) {
    throw new UsageError(`${command} needs a device id (lowercase letters, digits and -)`);
  }
  const ctx = await openOpsContext();
  try {
    switch (command) {
      case 'provision': {
        if (!values.room) throw new UsageError('provision needs --room <roomId>');
        const p = await provisionDevice(await deps(ctx), {
          deviceId: deviceId!,
          roomId: values.room,
          by: ctx.actor,
        });
        process.stderr.write(
          `provisioned ${p.deviceId} in room ${p.roomId} (workflow ${p.workflowId}); its key, shown once:\n`,
        );
        process.stdout.write(`${p.apiKey}\n`);
        return 0;
      }
      case 'rotate-key': {
        const r = await rotateDeviceKey(await deps(ctx), { deviceId: deviceId!, by: ctx.actor });
        process.stderr.write(`new key for ${r.deviceId} (the old key no longer works), shown once:\n`);
        process.stdout.write(`${r.apiKey}\n`);
        return 0;
      }
      case 'configure': {
        const given: DeviceConfigPatch = {
          recognitionThreshold: setting(values.threshold, 'threshold'),
          recognitionMinMargin: setting(values['min-margin'], 'min-margin'),
          recognitionVotes: setting(values.votes, 'votes'),
          frameSkip: setting(values['frame-skip'], 'frame-skip'),
          fps: setting(values.fps, 'fps'),
        };
        const patch = Object.fromEntries(
          Object.entries(given).filter(([, v]) => v !== undefined),
        ) as DeviceConfigPatch;
        try {
          assertValidConfigPatch(patch);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        const r = await configureDevice(await deps(ctx), deviceId!, patch);
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return 0;
      }
      case 'decommission': {
        const d = await deps(ctx);
        await decommissionDevice(d, { deviceId: deviceId!, by: ctx.actor, reason: values.reason });
        if (!values['no-wait']) {
          await d.temporal.workflow.getHandle(deviceWorkflowId(deviceId!)).result();
          process.stderr.write(`${deviceId} decommissioned; its key is revoked\n`);
        } else process.stderr.write(`${deviceId}: key revoked; its workflow completes shortly\n`);
        return 0;
      }
      case 'list': {
        const devices = await listDevices(ctx.db);
        if (values.json) process.stdout.write(`${JSON.stringify(devices)}\n`);
        else {
          for (const d of devices) {
            process.stdout.write(
              `${d.deviceId.padEnd(16)} ${d.roomId.padEnd(8)} ${d.status.padEnd(14)} last seen ${d.lastSeenAt ?? 'never'}  config v${d.configVersion} ${JSON.stringify(d.config)}${telemetry(d)}\n`,
            );
          }
        }
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } finally {
    await ctx.close();
  }
}

runCli(USAGE, main);
