/**
 * GET /api/v1/dashboard/devices (admin): the devices page's view — the devices table (status, last seen,
 * clock offset, dead letters) joined with what only the device workflow holds (the latest heartbeat's CPU
 * temperature and queue depth, and its open alerts), read with the workflow's `state` query. A workflow
 * that does not answer within DEVICE_STATE_DEADLINE_MS leaves those fields null (`live: false`): the page
 * still shows the table's view rather than waiting on Temporal.
 */
import type { Router } from 'express';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { withinDeadline } from '../../lib/temporal/connection';
import { deviceStateQuery, deviceWorkflowId, type DeviceView } from '../../workflows/deviceMessages';
import { requireUser } from '../auth/user';
import { listDevices } from '../devices/service';
import { featureRouter } from '../router';
import { workflowUrl, type DashboardSettings } from './overview';

export const DEVICE_STATE_DEADLINE_MS = 2_000;

export const deviceHealthResponse = z.object({
  generated_at: z.string(),
  devices: z.array(
    z.object({
      device_id: z.string(),
      room_id: z.string(),
      status: z.string(),
      last_seen: z.string().nullable(),
      cpu_temp_c: z.number().nullable(),
      queue_depth: z.number().nullable(),
      clock_offset_ms: z.number().nullable(),
      dead_letters: z.number().nullable(),
      alerts: z.array(z.enum(['offline', 'overheating', 'clock_skew'])),
      live: z
        .boolean()
        .describe('false: the device workflow did not answer; temperature, queue and alerts unknown'),
      workflow_url: z.string(),
    }),
  ),
});

async function workflowState(temporal: Client, deviceId: string): Promise<DeviceView | null> {
  try {
    return await withinDeadline(temporal, DEVICE_STATE_DEADLINE_MS, () =>
      temporal.workflow.getHandle(deviceWorkflowId(deviceId)).query(deviceStateQuery),
    );
  } catch {
    // Not started yet (never provisioned through the API), or Temporal slow/unavailable: the table's view.
    return null;
  }
}

export function deviceHealthRoutes(deps: {
  db: Knex;
  temporal: Client;
  settings: DashboardSettings;
}): Router {
  const router = featureRouter();
  router.get('/api/v1/dashboard/devices', requireUser(['admin']), async (_req, res) => {
    const devices = await listDevices(deps.db);
    const states = await Promise.all(
      devices.map((d) => (d.status === 'decommissioned' ? null : workflowState(deps.temporal, d.deviceId))),
    );
    res.json({
      generated_at: new Date().toISOString(),
      devices: devices.map((d, i) => {
        const st = states[i];
        const alerts: ('offline' | 'overheating' | 'clock_skew')[] = [];
        if (st?.alerts.offline) alerts.push('offline');
        if (st?.alerts.overheating) alerts.push('overheating');
        if (st?.alerts.clockSkew) alerts.push('clock_skew');
        return {
          device_id: d.deviceId,
          room_id: d.roomId,
          status: d.status,
          last_seen: d.lastSeenAt,
          cpu_temp_c: st?.lastHeartbeat?.cpuTempC ?? null,
          queue_depth: st?.lastHeartbeat?.queueDepth ?? null,
          clock_offset_ms: d.clockOffsetMs,
          dead_letters: d.deadLetters,
          alerts,
          live: st !== null,
          workflow_url: workflowUrl(deps.settings, deviceWorkflowId(d.deviceId)),
        };
      }),
    });
  });
  return router;
}
