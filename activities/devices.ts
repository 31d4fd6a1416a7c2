/**
 * Activities of the device workflow: read and write the devices row, deliver alerts (log line, optional
 * webhook, Prometheus), revoke a key. Each is idempotent: a retry writes the same values again.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ApplicationFailure } from '@temporalio/common';
import { deviceAlerts, deviceOffline } from '../lib/metrics';
import { storableText } from '../lib/storableText';
import type { DeviceConfig } from '../lib/contracts';
import type { DeviceStatus } from '../workflows/deviceMessages';

export interface DeviceActivitySettings {
  /** Alerts are POSTed here as JSON when set. */
  alertWebhookUrl?: string;
  log: Logger;
}

export interface DeviceRecord {
  deviceId: string;
  roomId: string;
  status: DeviceStatus;
  config: DeviceConfig;
  configVersion: number;
  lastSeenAt?: string;
}

export interface DeviceAlert {
  deviceId: string;
  roomId: string;
  kind: 'offline' | 'overheating' | 'clock_skew';
  state: 'raised' | 'resolved';
  message: string;
  /** ISO instant (workflow time) at which the condition was detected. */
  at: string;
  lastSeenAt?: string;
  cpuTempC?: number;
  /** clock_skew: how far the device's clock was ahead of the server's (negative: behind). */
  clockOffsetMs?: number;
}

interface DeviceRow {
  id: string;
  room_id: string;
  status: DeviceStatus;
  config: DeviceConfig | null;
  config_version: number;
  last_seen: Date | null;
}

export function createDeviceActivities(db: Knex, settings: DeviceActivitySettings) {
  const log = settings.log.child({ component: 'devices' });
  return {
    async loadDevice(input: { deviceId: string }): Promise<DeviceRecord | null> {
      const row = await db<DeviceRow>('devices')
        .where({ id: input.deviceId })
        .first('id', 'room_id', 'status', 'config', 'config_version', 'last_seen');
      if (!row) return null;
      return {
        deviceId: row.id,
        roomId: row.room_id,
        status: row.status,
        config: row.config ?? {},
        configVersion: row.config_version,
        lastSeenAt: row.last_seen?.toISOString(),
      };
    },

    async recordDeviceStatus(input: {
      deviceId: string;
      status: DeviceStatus;
      lastSeenAt?: string;
    }): Promise<void> {
      // Never resurrect a revoked device, and never move last_seen backwards (the API writes it too).
      const changes: Record<string, unknown> = { status: input.status };
      if (input.lastSeenAt)
        changes.last_seen = db.raw('GREATEST(last_seen, ?::timestamptz)', [input.lastSeenAt]);
      await db('devices')
        .where({ id: input.deviceId })
        .whereNot({ status: 'decommissioned' })
        .update(changes);
      const room = await db('devices').where({ id: input.deviceId }).first('room_id');
      if (room)
        deviceOffline.set({ device: input.deviceId, room: room.room_id }, input.status === 'offline' ? 1 : 0);
    },

    async saveDeviceConfig(input: {
      deviceId: string;
      config: DeviceConfig;
      configVersion: number;
    }): Promise<void> {
      const n = await db('devices')
        .where({ id: input.deviceId })
        .whereNot({ status: 'decommissioned' })
        .update({ config: JSON.stringify(input.config), config_version: input.configVersion });
      if (n === 0) {
        throw ApplicationFailure.create({
          message: `device ${input.deviceId} is unknown or decommissioned`,
          nonRetryable: true,
        });
      }
      log.info(
        { deviceId: input.deviceId, configVersion: input.configVersion, config: input.config },
        'device config changed',
      );
    },

    async raiseDeviceAlert(alert: DeviceAlert): Promise<void> {
      const line = { alert: `device.${alert.kind}`, ...alert };
      if (alert.state === 'raised')
        log.warn(line, `device ${alert.deviceId}: ${alert.kind} (${alert.message})`);
      else log.info(line, `device ${alert.deviceId}: ${alert.kind} resolved (${alert.message})`);
      deviceAlerts.inc({ kind: alert.kind, state: alert.state });
      if (alert.kind === 'offline') {
        deviceOffline.set({ device: alert.deviceId, room: alert.roomId }, alert.state === 'raised' ? 1 : 0);
      }
      if (settings.alertWebhookUrl) {
        const res = await fetch(settings.alertWebhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ source: 'rollcall', ...line }),
          signal: AbortSignal.timeout(10_000),
        });
        // A 4xx will not get better by retrying; a 5xx or a timeout may.
        if (res.status >= 400 && res.status < 500) {
          throw ApplicationFailure.create({
            message: `alert webhook answered ${res.status}`,
            nonRetryable: true,
          });
        }
        if (!res.ok) throw new Error(`alert webhook answered ${res.status}`);
      }
    },

    async revokeDevice(input: { deviceId: string; by: string; reason?: string }): Promise<void> {
      const roomId = await db.transaction(async (trx) => {
        const before = await trx('devices')
          .where({ id: input.deviceId })
          .forUpdate()
          .first('status', 'room_id');
        if (!before) return undefined;
        await trx('devices')
          .where({ id: input.deviceId })
          .update({ key_hash: null, status: 'decommissioned' });
        if (before.status !== 'decommissioned') {
          await trx('audit_log').insert({
            actor: storableText(input.by, 200),
            action: 'device.decommission',
            entity: 'device',
            entity_id: input.deviceId,
            before: JSON.stringify({ status: before.status }),
            after: JSON.stringify({ status: 'decommissioned' }),
            // A reason the database cannot store must not keep the key valid through endless retries.
            reason: input.reason === undefined ? null : storableText(input.reason, 500),
          });
        }
        return before.room_id as string;
      });
      if (roomId !== undefined) deviceOffline.remove({ device: input.deviceId, room: roomId });
      log.info({ deviceId: input.deviceId, by: input.by }, 'device decommissioned; key revoked');
    },
  };
}

export type DeviceActivities = ReturnType<typeof createDeviceActivities>;
