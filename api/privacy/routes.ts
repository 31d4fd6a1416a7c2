/** DELETE /api/v1/students/:id/biometrics (admin): the right to erasure for face data. */
import type { Router } from 'express';
import { featureRouter } from '../router';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { text } from '../../lib/contracts/text';
import { currentUser, requireUser } from '../auth/user';
import { parseOr400, studentIdSchema } from '../validate';
import { eraseBiometrics } from './service';

export const erasureParams = z.strictObject({ id: studentIdSchema });
export const erasureQuery = z.strictObject({ reason: text(500).optional() });
export const erasureResponse = z.object({
  student_id: z.string(),
  consents_revoked: z.number(),
  embeddings_deleted: z.number(),
  photos_deleted: z.number(),
  courses_bumped: z.array(z.string()),
  enrollment_cancelled: z.boolean(),
});

export function privacyRoutes(deps: { db: Knex; temporal: Client; stagingDir: string }): Router {
  const router = featureRouter();
  router.delete('/api/v1/students/:id/biometrics', requireUser(['admin']), async (req, res) => {
    const { id } = parseOr400(erasureParams, req.params, 'params');
    const { reason } = parseOr400(erasureQuery, req.query, 'query');
    res.json(await eraseBiometrics(deps, id, currentUser(req).id, reason));
  });
  return router;
}
