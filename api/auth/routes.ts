/** POST /api/v1/auth/login {email, password} → {token, expiresAt, user}; rate-limited per client IP. */
import { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { signToken, type JwtSettings } from '../../lib/jwt';
import { verifyPassword } from '../../lib/passwords';
import type { TokenBuckets } from '../../lib/tokenBucket';
import { AppError } from '../errors';
import { rateLimited } from '../security/rateLimit';
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

export function authRoutes(deps: { db: Knex; jwt: JwtSettings; loginLimiter: TokenBuckets }): Router {
  const router = Router();
  router.post(
    '/api/v1/auth/login',
    rateLimited(deps.loginLimiter, (req) => `ip:${req.ip ?? 'unknown'}`),
    async (req, res) => {
      const { email, password } = parseOr400(loginBody, req.body, 'body');
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
    },
  );
  router.get('/api/v1/auth/me', requireUser(), (req, res) => {
    res.json({ user: currentUser(req) });
  });
  return router;
}
