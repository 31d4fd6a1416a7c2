/**
 * Every minute: CPU temperature, queue depth, roster version, app version, frames/s, the clock offset and
 * the dead letters (count and newest reason) to POST /api/v1/heartbeat. A 404 (server without the endpoint
 * yet) is tolerated; a config with a new configVersion (the admin's explicit settings only,
 * lib/contracts/deviceConfig.ts) is handed to the app.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import { MAX_CLOCK_OFFSET_MS, toText, type DeviceConfig, type HeartbeatBody } from '../lib/contracts';
import { ApiError, type ApiClient, type HeartbeatAnswer } from './api';
import { abortableSleep } from './backoff';
import type { DeadLetterSummary } from './outbox';

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

export interface HeartbeatStatus {
  queueDepth: number;
  rosterVersion?: number;
  fps?: number;
  /** Records refused since the start because the outbox was full. */
  droppedEvents?: number;
  deadLetters?: DeadLetterSummary;
  /** The device clock's lead over the server's, once measured (edge/clock.ts). */
  clockOffsetMs?: number;
  /** Detection time per analysed frame since the previous heartbeat (edge/detectionLatency.ts). */
  detectionLatency?: HeartbeatBody['detectionLatency'];
}

/** What the server takes of a dead letter's reason (the heartbeat contract's string rule, 500 characters). */
export function reportableReason(reason: string): string {
  return toText(reason, 500);
}

export interface HeartbeatOptions {
  deviceId: string;
  version: string;
  intervalMs: number;
  thermalZone?: string;
  status: () => HeartbeatStatus;
  applyConfig: (config: DeviceConfig, configVersion: number) => void;
  /** Called after every answer (the app looks at the clock offset it measured). */
  onAnswer?: () => void;
  /** The configVersion applied before a restart (persisted by the app), reported until the server answers. */
  appliedConfigVersion?: number;
}

/** A dead letter's `at` as the contract takes it (a hand-edited file may hold anything). */
function instant(at: unknown): string | undefined {
  const ms = typeof at === 'string' ? Date.parse(at) : NaN;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

function withoutDetection(body: HeartbeatBody): HeartbeatBody {
  const { detectionLatency: _omitted, ...rest } = body;
  return rest;
}

function mentions(body: unknown, word: string): boolean {
  return JSON.stringify(body ?? null).includes(word);
}

export class Heartbeat {
  private notDeployedLogged = false;
  private omitDetectionLatency = false;
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
    const lastDead = s.deadLetters?.last;
    const lastDeadAt = instant(lastDead?.at);
    // The device is known from its key; the body reports state only.
    return {
      queueDepth: s.queueDepth,
      version: this.opts.version,
      ...(temp === undefined ? {} : { cpuTempC: temp }),
      ...(s.rosterVersion === undefined ? {} : { rosterVersion: String(s.rosterVersion) }),
      ...(s.fps === undefined ? {} : { fps: Math.round(s.fps * 100) / 100 }),
      ...(this.lastConfigVersion === undefined ? {} : { configVersion: this.lastConfigVersion }),
      ...(s.droppedEvents === undefined ? {} : { droppedEvents: s.droppedEvents }),
      ...(s.clockOffsetMs === undefined
        ? {}
        : {
            clockOffsetMs: Math.max(
              -MAX_CLOCK_OFFSET_MS,
              Math.min(MAX_CLOCK_OFFSET_MS, Math.round(s.clockOffsetMs)),
            ),
          }),
      ...(s.deadLetters === undefined ? {} : { deadLetters: s.deadLetters.count }),
      ...(lastDead ? { lastDeadLetterReason: reportableReason(String(lastDead.reason)) } : {}),
      ...(lastDeadAt ? { lastDeadLetterAt: lastDeadAt } : {}),
      ...(s.detectionLatency ? { detectionLatency: s.detectionLatency } : {}),
    };
  }

  async beat(signal?: AbortSignal): Promise<void> {
    const body = this.body();
    let answer: HeartbeatAnswer;
    try {
      answer = await this.api.heartbeat(this.omitDetectionLatency ? withoutDetection(body) : body, signal);
    } catch (err) {
      // A server older than the detectionLatency field refuses unknown fields (400): send without it from
      // now on rather than fall silent (and be reported offline) until the server is upgraded.
      if (!(err instanceof ApiError && err.status === 400 && mentions(err.body, 'detectionLatency')))
        throw err;
      this.omitDetectionLatency = true;
      this.log.info('the server does not know detectionLatency yet; heartbeats go without it');
      answer = await this.api.heartbeat(withoutDetection(body), signal);
    }
    this.sent++;
    this.opts.onAnswer?.();
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
