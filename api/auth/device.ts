import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { hashDeviceKey } from '../../lib/deviceKeys';
import { AppError } from '../errors';
import { deviceLimitersOf, enforceLimits, tooManyRequests } from '../security/rateLimit';

export interface AuthenticatedDevice {
  id: string;
  roomId: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    device?: AuthenticatedDevice;
  }
}

/**
 * Device-facing routes: `Authorization: Bearer <device key>` (or `X-Device-Key`), scoped to one room,
 * rate-limited per device. Wrong keys are counted per client IP: once RATE_LIMIT_DEVICE_AUTH_FAILURES_PER_MINUTE
 * are used up, every device request from that IP answers 429 until the window ends, before any key is
 * looked at (so a guess cannot be told right from wrong while blocked).
 */
export function requireDevice(db: Knex): RequestHandler {
  return async (req, res, next) => {
    const limiters = deviceLimitersOf(req.app);
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    if (limiters) {
      const blocked = await limiters.authFailuresPerIp.check(ip);
      if (!blocked.ok) return next(tooManyRequests(blocked.retryAfterSeconds, 'address'));
    }
    const header = req.get('authorization');
    const key = header?.startsWith('Bearer ') ? header.slice(7).trim() : req.get('x-device-key');
    if (!key)
      return next(
        new AppError(401, 'unauthenticated', 'a device key is required (Authorization: Bearer <key>)'),
      );
    const row = await db('devices')
      .where({ key_hash: hashDeviceKey(key) })
      .first('id', 'room_id', 'status');
    if (!row || row.status === 'decommissioned') {
      await limiters?.authFailuresPerIp.hit(ip);
      return next(new AppError(401, 'unauthenticated', 'unknown or revoked device key'));
    }
    req.device = { id: row.id, roomId: row.room_id };
    // Per device, not per IP: a school's Pis may share one NAT address.
    if (limiters) await enforceLimits(res, [{ limiter: limiters.perDevice, subject: row.id }], 'device');
    next();
  };
}
