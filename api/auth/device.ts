import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { runInSchool } from '../../lib/tenancy';
import { hashDeviceKey } from '../../lib/deviceKeys';
import { runPrepared, type PreparedQuery } from '../../lib/preparedQuery';
import { AppError } from '../errors';
import { deviceLimitersOf, enforceLimits, tooManyRequests } from '../security/rateLimit';

export interface AuthenticatedDevice {
  id: string;
  roomId: string;
  schoolId: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    device?: AuthenticatedDevice;
  }
}

interface DeviceRow {
  id: string;
  room_id: string;
  status: string;
  school_id: string;
}

/** Every device request runs it: a prepared statement (lib/preparedQuery). */
const DEVICE_BY_KEY: PreparedQuery = {
  name: 'device_by_key_school',
  text: 'SELECT id, room_id, status, school_id FROM devices WHERE key_hash = $1',
};

/** Warms DEVICE_BY_KEY (lib/preparedQuery warmPrepared): no key hashes to the empty string. */
export const DEVICE_AUTH_WARMUP = { query: DEVICE_BY_KEY, values: [''] };

/**
 * Device-facing routes: `Authorization: Bearer <device key>` (or `X-Device-Key`), scoped to one room,
 * rate-limited per device. Wrong keys are counted per client IP: once RATE_LIMIT_DEVICE_AUTH_FAILURES_PER_MINUTE
 * are used up, every device request from that IP answers 429 until the window ends, before any key is
 * looked at (so a guess cannot be told right from wrong while blocked).
 */
export function requireDevice(db: Knex, opts: { inSchool?: boolean } = {}): RequestHandler {
  return async (req, res, next) => {
    const limiters = deviceLimitersOf(req.app);
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const header = req.get('authorization');
    const key = header?.startsWith('Bearer ') ? header.slice(7).trim() : req.get('x-device-key');
    // The address's block and the key, looked up together (one round trip of latency); the block is judged
    // first, so while it holds the answer is 429 whether the key was right or not.
    const [blocked, rows] = await Promise.all([
      limiters?.authFailuresPerIp.check(ip),
      key ? runPrepared<DeviceRow>(db, DEVICE_BY_KEY, [hashDeviceKey(key)]) : [],
    ]);
    if (blocked && !blocked.ok) return next(tooManyRequests(blocked.retryAfterSeconds, 'address'));
    if (!key)
      return next(
        new AppError(401, 'unauthenticated', 'a device key is required (Authorization: Bearer <key>)'),
      );
    const row = rows[0];
    if (!row || row.status === 'decommissioned') {
      await limiters?.authFailuresPerIp.hit(ip);
      return next(new AppError(401, 'unauthenticated', 'unknown or revoked device key'));
    }
    req.device = { id: row.id, roomId: row.room_id, schoolId: row.school_id };
    // Per device, not per IP: a school's Pis may share one NAT address.
    if (limiters) await enforceLimits(res, [{ limiter: limiters.perDevice, subject: row.id }], 'device');
    // The rest of the request runs in the device's school (row-level security), where the route asks for it.
    if (opts.inSchool) void runInSchool(db, row.school_id, async () => next());
    else next();
  };
}
