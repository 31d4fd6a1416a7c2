/** POST /api/v1/sessions/:id/overrides — a teacher (of the course) or an admin corrects one student's mark. */
import type { Router } from 'express';
import { featureRouter } from '../router';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { sessionIdSchema } from '../../lib/contracts/schedule';
import { text } from '../../lib/contracts/text';
import { currentUser, requireUser } from '../auth/user';
import { parseOr400, studentIdSchema } from '../validate';
import { overrideMark } from './service';

export const sessionParams = z.strictObject({ id: sessionIdSchema });
const overrideStatus = z
  .enum(['present', 'late', 'absent', 'excused', 'unmarked'])
  .describe(
    'unmarked withdraws an override that created the mark (undo of correcting an unmarked student), before finalisation only',
  );
export const overrideBody = z.strictObject({
  student_id: studentIdSchema,
  status: overrideStatus,
  reason: text(500),
});
export const overrideResponse = z.object({
  session_id: z.string(),
  student_id: z.string(),
  status: overrideStatus,
  source: z.literal('override'),
  by: z.string(),
  applied_via: z.enum(['workflow', 'database']),
});

export function sessionRoutes(deps: { db: Knex; temporal: Client }): Router {
  const router = featureRouter();
  router.post('/api/v1/sessions/:id/overrides', requireUser(['admin', 'teacher']), async (req, res) => {
    const { id } = parseOr400(sessionParams, req.params, 'params');
    const body = parseOr400(overrideBody, req.body, 'body');
    res.json(await overrideMark(deps, currentUser(req), id, body));
  });
  return router;
}
