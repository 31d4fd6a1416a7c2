/**
 * POST /api/v1/heartbeat (device key) and the admin device lifecycle under /api/v1/admin/devices (admin
 * JWT). Provisioning and rotation answer with the device key once; it is never stored or logged.
 */
import type { Router } from 'express';
import { featureRouter } from '../router';
import { z } from 'zod';
import { requireDevice } from '../auth/device';
import { currentUser, requireUser } from '../auth/user';
import { deviceIdSchema, parseOr400 } from '../validate';
import { deviceConfigPatchSchema, deviceConfigSchema, heartbeatBodySchema } from '../../lib/contracts';
import { key, text } from '../../lib/contracts/text';
import {
  acceptHeartbeat,
  configureDevice,
  decommissionDevice,
  listDevices,
  provisionDevice,
  rotateDeviceKey,
  type DeviceAdminDeps,
} from './service';

export const deviceParams = z.strictObject({ id: deviceIdSchema });
export const provisionBody = z.strictObject({
  device_id: deviceIdSchema,
  room_id: key(),
});
export const provisionResponse = z.object({
  device_id: z.string(),
  room_id: z.string(),
  api_key: z.string(),
  workflow_id: z.string(),
});
export const rotateResponse = z.object({ device_id: z.string(), api_key: z.string() });
export const decommissionBody = z.strictObject({
  reason: text(500).optional(),
});
export const deviceListResponse = z.object({
  devices: z.array(
    z.object({
      deviceId: z.string(),
      roomId: z.string(),
      status: z.string(),
      lastSeenAt: z.string().nullable(),
      configVersion: z.number(),
      config: deviceConfigSchema,
      createdAt: z.string(),
      clockOffsetMs: z
        .number()
        .nullable()
        .describe(
          "How far the device's clock was ahead of the server's at its last heartbeat (null: not reported)",
        ),
      deadLetters: z
        .number()
        .nullable()
        .describe("Records in the device's dead-letter file at its last heartbeat (null: not reported)"),
      lastDeadLetter: z
        .object({ reason: z.string(), at: z.string().nullable() })
        .nullable()
        .describe('The newest dead-lettered record: why the server rejected it, and when (device clock)'),
    }),
  ),
});

export function deviceRoutes(deps: DeviceAdminDeps): Router {
  const router = featureRouter();
  const admin = requireUser(['admin']);

  router.post('/api/v1/heartbeat', requireDevice(deps.db, { inSchool: true }), async (req, res) => {
    const hb = parseOr400(heartbeatBodySchema, req.body, 'body');
    res.json(await acceptHeartbeat(deps, req.device!, hb));
  });

  router.get('/api/v1/admin/devices', admin, async (_req, res) => {
    res.json({ devices: await listDevices(deps.db) });
  });
  router.post('/api/v1/admin/devices', admin, async (req, res) => {
    const body = parseOr400(provisionBody, req.body, 'body');
    const p = await provisionDevice(deps, {
      deviceId: body.device_id,
      roomId: body.room_id,
      by: currentUser(req).id,
    });
    res.status(201).setHeader('Cache-Control', 'no-store');
    res.json({ device_id: p.deviceId, room_id: p.roomId, api_key: p.apiKey, workflow_id: p.workflowId });
  });
  router.post('/api/v1/admin/devices/:id/rotate-key', admin, async (req, res) => {
    const { id } = parseOr400(deviceParams, req.params, 'params');
    const r = await rotateDeviceKey(deps, { deviceId: id, by: currentUser(req).id });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ device_id: r.deviceId, api_key: r.apiKey });
  });
  router.post('/api/v1/admin/devices/:id/config', admin, async (req, res) => {
    const { id } = parseOr400(deviceParams, req.params, 'params');
    const patch = parseOr400(deviceConfigPatchSchema, req.body, 'body');
    res.json(await configureDevice(deps, id, patch));
  });
  router.post('/api/v1/admin/devices/:id/decommission', admin, async (req, res) => {
    const { id } = parseOr400(deviceParams, req.params, 'params');
    const body = parseOr400(decommissionBody, req.body ?? {}, 'body');
    const r = await decommissionDevice(deps, { deviceId: id, by: currentUser(req).id, reason: body.reason });
    // The key is revoked (committed) before this answers; 202: the device workflow still resolves its open
    // alerts and completes.
    res.status(202).json({ device_id: r.deviceId, workflow_id: r.workflowId, status: 'decommissioned' });
  });
  return router;
}
