/**
 * Every minute: CPU temperature, queue depth, roster version, app version and frames/s to
 * POST /api/v1/heartbeat. A 404 (server without the endpoint yet) is tolerated; a config with a new
 * configVersion (the admin's explicit settings only, lib/contracts/deviceConfig.ts) is handed to the app.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import type { DeviceConfig, HeartbeatBody } from '../lib/contracts';
import type { ApiClient } from './api';
import { abortableSleep } from './backoff';

export const THERMAL_ZONE = '/sys/class/thermal/thermal_zone0/temp';

/** °C from the kernel's millidegree reading, or undefined where there is no thermal zone (x86 VMs). */
export function readCpuTemperature(file = THERMAL_ZONE): number | undefined {
  try {
    const milli = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(milli) ? Math.round(milli / 100) / 10 : undefined;
  } catch {
    return undefined;
  }
}

export interface HeartbeatOptions {
  deviceId: string;
  version: string;
  intervalMs: number;
  thermalZone?: string;
  status: () => { queueDepth: number; rosterVersion?: number; fps?: number };
  applyConfig: (config: DeviceConfig, configVersion: number) => void;
  /** The configVersion applied before a restart (persisted by the app), reported until the server answers. */
  appliedConfigVersion?: number;
}

export class Heartbeat {
  private notDeployedLogged = false;
  lastConfigVersion: number | undefined;
  sent = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly log: Logger,
    private readonly opts: HeartbeatOptions,
  ) {
    this.lastConfigVersion = opts.appliedConfigVersion;
  }

  body(): HeartbeatBody {
    const s = this.opts.status();
    const temp = readCpuTemperature(this.opts.thermalZone);
    // The device is known from its key; the body reports state only.
    return {
      queueDepth: s.queueDepth,
      version: this.opts.version,
      ...(temp === undefined ? {} : { cpuTempC: temp }),
      ...(s.rosterVersion === undefined ? {} : { rosterVersion: String(s.rosterVersion) }),
      ...(s.fps === undefined ? {} : { fps: Math.round(s.fps * 100) / 100 }),
      ...(this.lastConfigVersion === undefined ? {} : { configVersion: this.lastConfigVersion }),
    };
  }

  async beat(signal?: AbortSignal): Promise<void> {
    const answer = await this.api.heartbeat(this.body(), signal);
    this.sent++;
    if (answer.status === 'not-deployed') {
      if (!this.notDeployedLogged)
        this.log.info('the server has no heartbeat endpoint yet (404); carrying on');
      this.notDeployedLogged = true;
      return;
    }
    if (answer.configVersion !== this.lastConfigVersion) {
      this.opts.applyConfig(answer.config, answer.configVersion);
      this.lastConfigVersion = answer.configVersion;
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.beat(signal);
      } catch (err) {
        if (signal.aborted) break;
        // A missed heartbeat is not worth a retry storm: the next one is a minute away.
        this.log.warn({ err: (err as Error).message }, 'heartbeat failed');
      }
      await abortableSleep(this.opts.intervalMs * (0.9 + Math.random() * 0.2), signal).catch(() => undefined);
    }
  }
}
