/**
 * Enrollment (people-facing): consent, photo upload, enrollment status.
 *
 * Uploads are either `application/json` `{ by, images: [base64…] }` or one raw `image/jpeg|png|webp` body
 * (`?by=`). This router carries its own body parsers with ENROLLMENT_UPLOAD_LIMIT, so it is mounted before
 * the app's small global JSON parser.
 *
 * Signed-in people only: an admin, or a teacher of a course the student is enrolled in (checked before any
 * body is read). The actor recorded is the signed-in user; `grantedBy`/`revokedBy`/`by` are optional and,
 * when sent, must name that same user.
 */
import express, { type Router } from 'express';
import { featureRouter } from '../router';
import { z } from 'zod';
import { text } from '../../lib/contracts/text';
import { MAX_PHOTOS_PER_ENROLLMENT } from '../../lib/enrollment';
import type { RequestHandler } from 'express';
import { assertStudentAccess, currentUser, requireUser } from '../auth/user';
import { AppError } from '../errors';
import { parseOr400, studentIdSchema } from '../validate';
import {
  enrollmentStatus,
  grantConsent,
  revokeConsent,
  startEnrollment,
  type EnrollmentDeps,
} from './service';

export const studentParams = z.strictObject({ id: studentIdSchema });
const actor = text(128).optional();
export const consentBody = z.strictObject({
  grantedBy: actor,
  kind: z.literal('biometric_enrollment').default('biometric_enrollment'),
});
export const revokeBody = z.strictObject({
  revokedBy: actor,
  reason: text(500, { allowEmpty: true }).optional(),
});
const base64 = z
  .string()
  .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'not base64')
  .min(8)
  // 20 MiB of image; the body limit (ENROLLMENT_UPLOAD_LIMIT) usually stops a request before this.
  .max(28_000_000);
export const photosBody = z.strictObject({
  by: actor,
  images: z.array(base64).min(1).max(MAX_PHOTOS_PER_ENROLLMENT),
});
export const rawQuery = z.strictObject({ by: actor });
const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'];

/** The signed-in user's id; a claimed actor must be that user. */
function actorOf(req: express.Request, claimed: string | undefined): string {
  const user = currentUser(req);
  if (claimed !== undefined && claimed !== user.id) {
    throw new AppError(
      400,
      'actor_mismatch',
      `actions are recorded as the signed-in user (${user.id}), not ${claimed}`,
    );
  }
  return user.id;
}

export function enrollmentRoutes(deps: EnrollmentDeps): Router {
  const router = featureRouter();
  const smallJson = express.json({ limit: '16kb', strict: true });
  const mayManage: RequestHandler = async (req, _res, next) => {
    const { id } = parseOr400(studentParams, req.params, 'params');
    await assertStudentAccess(deps.db, currentUser(req), id);
    next();
  };
  router.use('/api/v1/students/:id', requireUser(['admin', 'teacher']));

  router.post('/api/v1/students/:id/consent', mayManage, smallJson, async (req, res) => {
    const { id } = parseOr400(studentParams, req.params, 'params');
    const body = parseOr400(consentBody, req.body ?? {}, 'body');
    const { consent, created } = await grantConsent(deps.db, id, actorOf(req, body.grantedBy));
    res.status(created ? 201 : 200).json({ consent });
  });

  router.delete('/api/v1/students/:id/consent', mayManage, smallJson, async (req, res) => {
    const { id } = parseOr400(studentParams, req.params, 'params');
    const body = parseOr400(revokeBody, req.body ?? {}, 'body');
    res.json(await revokeConsent(deps.db, id, actorOf(req, body.revokedBy), body.reason));
  });

  router.post(
    '/api/v1/students/:id/photos',
    mayManage,
    express.json({ limit: deps.uploadLimit, strict: true }),
    express.raw({ type: IMAGE_TYPES, limit: deps.uploadLimit }),
    async (req, res) => {
      const { id } = parseOr400(studentParams, req.params, 'params');
      let by: string;
      let photos: Buffer[];
      if (req.is('application/json')) {
        const body = parseOr400(photosBody, req.body, 'body');
        by = actorOf(req, body.by);
        photos = body.images.map((b64) => Buffer.from(b64, 'base64'));
      } else if (req.is(IMAGE_TYPES) && Buffer.isBuffer(req.body) && req.body.length > 0) {
        by = actorOf(req, parseOr400(rawQuery, req.query, 'query').by);
        photos = [req.body];
      } else {
        throw new AppError(
          415,
          'unsupported_media_type',
          'send application/json {"by","images":[base64…]} or one image/jpeg, image/png or image/webp body',
        );
      }
      const started = await startEnrollment(deps, id, photos, by);
      res
        .status(202)
        .location(`/api/v1/students/${encodeURIComponent(id)}/enrollment`)
        .json({ ...started, statusUrl: `/api/v1/students/${encodeURIComponent(id)}/enrollment` });
    },
  );

  router.get('/api/v1/students/:id/enrollment', mayManage, async (req, res) => {
    const { id } = parseOr400(studentParams, req.params, 'params');
    res.json(await enrollmentStatus(deps, id));
  });

  return router;
}
