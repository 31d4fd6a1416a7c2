/** POST /api/v1/sessions/:id/overrides — a teacher (of the course) or an admin corrects one student's mark. */
import { Router } from 'express';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { STUDENT_ID_PATTERN } from '../../lib/enrollment';
import { currentUser, requireUser } from '../auth/user';
import { parseOr400 } from '../validate';
import { overrideMark } from './service';

export const sessionParams = z.strictObject({ id: z.string().min(1).max(64) });
export const overrideBody = z.strictObject({
  student_id: z.string().regex(STUDENT_ID_PATTERN, 'not a student id'),
  status: z.enum(['present', 'late', 'absent', 'excused']),
  reason: z.string().trim().min(1).max(500),
});
export const overrideResponse = z.object({
  session_id: z.string(),
  student_id: z.string(),
  status: z.enum(['present', 'late', 'absent', 'excused']),
  source: z.literal('override'),
  by: z.string(),
  applied_via: z.enum(['workflow', 'database']),
});

export function sessionRoutes(deps: { db: Knex; temporal: Client }): Router {
  const router = Router();
  router.post('/api/v1/sessions/:id/overrides', requireUser(['admin', 'teacher']), async (req, res) => {
    const { id } = parseOr400(sessionParams, req.params, 'params');
    const body = parseOr400(overrideBody, req.body, 'body');
    res.json(await overrideMark(deps, currentUser(req), id, body));
  });
  return router;
}
