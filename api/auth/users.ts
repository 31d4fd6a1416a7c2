/**
 * Users admin (admins only): list, invite (an account without a usable password and a one-time invite
 * token, 7 days), change role, disable / enable (never delete: courses and audit rows name users), issue a
 * password-reset token (1 hour) and clear a lost authenticator. Tokens are answered once and stored as
 * SHA-256; where no mail server is configured the admin passes them on (or uses `npm run users`).
 */
import type { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { key, text } from '../../lib/contracts/text';
import { featureRouter } from '../router';
import { parseOr400 } from '../validate';
import { changeRole, inviteUser, issuePasswordToken, listUsers, resetMfa, setDisabled } from './accounts';
import { currentUser, requireUser } from './user';

const role = z.enum(['admin', 'teacher']);

export const userParams = z.strictObject({ id: key({ max: 64 }) });

export const inviteBody = z.strictObject({
  email: z.email().max(254),
  name: text(200),
  role,
});

export const roleBody = z.strictObject({ role });

export const disableBody = z.strictObject({ reason: text(500).optional() });

export const userViewSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role,
  status: z.enum(['active', 'invited', 'disabled']),
  mfa: z.boolean(),
  createdAt: z.iso.datetime(),
  lastLoginAt: z.iso.datetime().nullable(),
});

const issuedToken = z.object({
  token: z.string().describe('Shown once: the user sets a password with POST /api/v1/auth/password/set'),
  purpose: z.enum(['invite', 'reset']),
  expiresAt: z.iso.datetime(),
});

export const userListResponse = z.object({ users: z.array(userViewSchema) });
export const userResponse = z.object({ user: userViewSchema });
export const inviteResponse = z.object({ user: userViewSchema, invite: issuedToken });
export const passwordTokenResponse = issuedToken;

export function userAdminRoutes(deps: { db: Knex }): Router {
  const router = featureRouter();
  const admin = requireUser(['admin']);
  const { db } = deps;

  router.get('/api/v1/admin/users', admin, async (_req, res) => {
    res.json({ users: await listUsers(db) });
  });

  router.post('/api/v1/admin/users', admin, async (req, res) => {
    const body = parseOr400(inviteBody, req.body, 'body');
    const result = await inviteUser(db, body, currentUser(req).id);
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json(result);
  });

  router.put('/api/v1/admin/users/:id/role', admin, async (req, res) => {
    const { id } = parseOr400(userParams, req.params, 'params');
    const body = parseOr400(roleBody, req.body, 'body');
    res.json({ user: await changeRole(db, id, body.role, currentUser(req).id) });
  });

  router.post('/api/v1/admin/users/:id/disable', admin, async (req, res) => {
    const { id } = parseOr400(userParams, req.params, 'params');
    const { reason } = parseOr400(disableBody, req.body ?? {}, 'body');
    res.json({ user: await setDisabled(db, id, true, currentUser(req).id, reason) });
  });

  router.post('/api/v1/admin/users/:id/enable', admin, async (req, res) => {
    const { id } = parseOr400(userParams, req.params, 'params');
    res.json({ user: await setDisabled(db, id, false, currentUser(req).id) });
  });

  router.post('/api/v1/admin/users/:id/password-reset', admin, async (req, res) => {
    const { id } = parseOr400(userParams, req.params, 'params');
    const issued = await issuePasswordToken(db, id, currentUser(req).id);
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json(issued);
  });

  router.post('/api/v1/admin/users/:id/mfa-reset', admin, async (req, res) => {
    const { id } = parseOr400(userParams, req.params, 'params');
    const actor = currentUser(req).id;
    res.json({ user: await resetMfa(db, id, actor) });
  });

  return router;
}
