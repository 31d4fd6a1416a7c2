/**
 * POST /api/v1/auth/login {email, password} → {token, expiresAt, user}. Rate-limited per client IP and
 * e-mail (a school behind one NAT address does not share one budget), per e-mail across all IPs (guessing
 * one account's password from many addresses) and per IP across all e-mails (spraying one password).
 */
import type { Router } from 'express';
import { featureRouter } from '../router';
import type { Knex } from 'knex';
import { z } from 'zod';
import { signToken, type JwtSettings } from '../../lib/jwt';
import { verifyPassword } from '../../lib/passwords';
import type { RateLimiter } from '../../lib/rateLimiter';
import { AppError } from '../errors';
import { enforceLimits } from '../security/rateLimit';
import { parseOr400 } from '../validate';
import { currentUser, requireUser } from './user';

export const loginBody = z.strictObject({
  email: z.email().max(254),
  password: z.string().min(1).max(1024),
});

export const loginResponse = z.object({
  token: z.string(),
  expiresAt: z.iso.datetime(),
  user: z.object({ id: z.string(), name: z.string(), role: z.enum(['admin', 'teacher']) }),
});

export interface LoginLimiters {
  perIpAndEmail: RateLimiter;
  perEmail: RateLimiter;
  perIp: RateLimiter;
}

/** The form of an address that the limits count: `Teacher1@Demo.School ` and `teacher1@demo.school` are one. */
export function normalisedEmail(email: string): string {
  return email.trim().normalize('NFC').toLowerCase();
}

export function authRoutes(deps: { db: Knex; jwt: JwtSettings; loginLimiters: LoginLimiters }): Router {
  const router = featureRouter();
  router.post('/api/v1/auth/login', async (req, res) => {
    const { email, password } = parseOr400(loginBody, req.body, 'body');
    // Counted before the password is checked: every attempt spends budget, right or wrong.
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const who = normalisedEmail(email);
    const limits = deps.loginLimiters;
    await enforceLimits(
      res,
      [
        { limiter: limits.perIpAndEmail, subject: `${ip} ${who}` },
        { limiter: limits.perEmail, subject: who },
        { limiter: limits.perIp, subject: ip },
      ],
      'client',
    );
    const user = await deps
      .db('users')
      .whereRaw('lower(email) = lower(?)', [email])
      .first('id', 'name', 'role', 'password_hash');
    // verifyPassword runs scrypt even without a user, so the answer time does not reveal which emails exist.
    const ok = await verifyPassword(password, user?.password_hash);
    if (!user || !ok) throw new AppError(401, 'invalid_credentials', 'email or password is wrong');
    const { token, expiresAt } = signToken(deps.jwt, { sub: user.id, role: user.role });
    req.log.info({ userId: user.id }, 'user signed in');
    res.setHeader('Cache-Control', 'no-store');
    res.json({ token, expiresAt, user: { id: user.id, name: user.name, role: user.role } });
  });
  router.get('/api/v1/auth/me', requireUser(), (req, res) => {
    res.json({ user: currentUser(req) });
  });
  return router;
}
