import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { runInSchool } from '../../lib/tenancy';
import { hashDeviceKey } from '../../lib/deviceKeys';
import { runPrepared, type PreparedQuery } from '../../lib/preparedQuery';
import { AppError } from '../errors';
import { counterCheckSql, counterHitSql, counterKeySql } from '../../lib/rateLimiter';
import { answerLimits, deviceLimitersOf, tooManyRequests } from '../security/rateLimit';

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

/** What DEVICE_AUTH answers: the address's live block (if any), the key's device (if any), the device's hit. */
interface DeviceAuthRow {
  blocked_hits: number | null;
  blocked_seconds_left: number | null;
  id: string | null;
  room_id: string;
  status: string;
  school_id: string;
  device_hits: number | null;
  device_seconds_left: number | null;
}

/**
 * Every device request runs it, as one prepared statement (lib/preparedQuery): the client address's wrong-key
 * counter ($1 its rule, $2 the address), the device its key names ($3 the key's hash) and, unless the address
 * is blocked ($6 the address's limit) or the device decommissioned, one hit on that device's counter ($4 its
 * rule, $5 its window in seconds). The same counters as lib/rateLimiter's, keyed the same way.
 */
const DEVICE_AUTH: PreparedQuery = {
  name: 'device_auth',
  text: `WITH blocked AS (${counterCheckSql(counterKeySql('$1::text', '$2::text'))}),
    device AS (SELECT id, room_id, status, school_id FROM devices WHERE key_hash = $3::text),
    counted AS (${counterHitSql(
      `SELECT ${counterKeySql('$4::text', 'd.id')} AS key, $5::float8 AS window_seconds
         FROM device d
        WHERE d.status <> 'decommissioned' AND NOT EXISTS (SELECT 1 FROM blocked b WHERE b.hits >= $6::int)`,
    )})
    SELECT b.hits AS blocked_hits, b.seconds_left AS blocked_seconds_left,
           d.id, d.room_id, d.status, d.school_id, c.hits AS device_hits, c.seconds_left AS device_seconds_left
      FROM (SELECT 1) one LEFT JOIN blocked b ON true LEFT JOIN device d ON true LEFT JOIN counted c ON true`,
};

/** Warms DEVICE_AUTH (lib/preparedQuery warmPrepared): no key hashes to NULL, so nothing is counted. */
export const DEVICE_AUTH_WARMUP = { query: DEVICE_AUTH, values: ['warm-up', '', null, 'warm-up', 60, 1] };

/**
 * Device-facing routes: `Authorization: Bearer <device key>` (or `X-Device-Key`), scoped to one room,
 * rate-limited per device. Wrong keys are counted per client IP: once RATE_LIMIT_DEVICE_AUTH_FAILURES_PER_MINUTE
 * are used up, every device request from that IP answers 429 until the window ends, before any key is
 * looked at (so a guess cannot be told right from wrong while blocked). The block, the key and the device's
 * hit are one statement (one round trip, one plan): the device path's cost is paid on every batch.
 */
export function requireDevice(db: Knex, opts: { inSchool?: boolean } = {}): RequestHandler {
  return async (req, res, next) => {
    const limiters = deviceLimitersOf(req.app);
    if (!limiters) throw new Error('device routes need the device rate limiters (createApp sets them)');
    const { perDevice, authFailuresPerIp: perIp } = limiters;
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const header = req.get('authorization');
    const key = header?.startsWith('Bearer ') ? header.slice(7).trim() : req.get('x-device-key');
    const [answer] = await runPrepared<DeviceAuthRow>(db, DEVICE_AUTH, [
      perIp.rule.name,
      ip,
      key ? hashDeviceKey(key) : null,
      perDevice.rule.name,
      perDevice.rule.windowSeconds,
      perIp.rule.limit,
    ]);
    const row = answer!; // one row whatever was found (the statement's FROM is a single row)
    perDevice.sweepNowAndThen();
    const blocked = perIp.result(row.blocked_hits ?? 0, row.blocked_seconds_left ?? 0, false);
    if (!blocked.ok) return next(tooManyRequests(blocked.retryAfterSeconds, 'address'));
    if (!key)
      return next(
        new AppError(401, 'unauthenticated', 'a device key is required (Authorization: Bearer <key>)'),
      );
    if (!row.id || row.status === 'decommissioned') {
      await perIp.hit(ip);
      return next(new AppError(401, 'unauthenticated', 'unknown or revoked device key'));
    }
    req.device = { id: row.id, roomId: row.room_id, schoolId: row.school_id };
    // Per device, not per IP: a school's Pis may share one NAT address.
    answerLimits(res, [perDevice.result(row.device_hits!, row.device_seconds_left!, true)], 'device');
    // The rest of the request runs in the device's school (row-level security), where the route asks for it.
    if (opts.inSchool) void runInSchool(db, row.school_id, async () => next());
    else next();
  };
}
