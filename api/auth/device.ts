import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { hashDeviceKey } from '../../lib/deviceKeys';
import { AppError } from '../errors';
import { deviceLimiterOf, tooManyRequests } from '../security/rateLimit';

export interface AuthenticatedDevice {
  id: string;
  roomId: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    device?: AuthenticatedDevice;
  }
}

/** Device-facing routes: `Authorization: Bearer <device key>` (or `X-Device-Key`), scoped to one room, rate-limited per device. */
export function requireDevice(db: Knex): RequestHandler {
  return async (req, _res, next) => {
    const header = req.get('authorization');
    const key = header?.startsWith('Bearer ') ? header.slice(7).trim() : req.get('x-device-key');
    if (!key)
      return next(
        new AppError(401, 'unauthenticated', 'a device key is required (Authorization: Bearer <key>)'),
      );
    const row = await db('devices')
      .where({ key_hash: hashDeviceKey(key) })
      .first('id', 'room_id', 'status');
    if (!row || row.status === 'decommissioned')
      return next(new AppError(401, 'unauthenticated', 'unknown or revoked device key'));
    req.device = { id: row.id, roomId: row.room_id };
    // Per device, not per IP: a school's Pis may share one NAT address.
    const limit = deviceLimiterOf(req.app)?.take(`device:${row.id}`);
    if (limit && !limit.ok) return next(tooManyRequests(limit.retryAfterSeconds, 'device'));
    next();
  };
}
