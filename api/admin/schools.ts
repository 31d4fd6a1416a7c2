/**
 * Schools (README "Schools and tenancy"): everyone signed in sees their school (a district admin: every school,
 * or the one named by X-School-Id); district admins add and rename schools. Schools are never deleted: their
 * rows carry attendance history.
 */
import type { Request, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { key, text } from '../../lib/contracts/text';
import { SCHOOL_ID } from '../../lib/tenancy';
import { AppError } from '../errors';
import { featureRouter } from '../router';
import { parseOr400 } from '../validate';
import { currentUser, isDistrictAdmin, requireUser, type AuthenticatedUser } from '../auth/user';

const schoolId = key({ max: 64, pattern: SCHOOL_ID, message: 'letters, digits, . _ - (up to 64)' });

export const schoolParams = z.strictObject({ id: schoolId });
export const schoolCreateBody = z.strictObject({ id: schoolId, name: text(200) });
export const schoolUpdateBody = z.strictObject({ name: text(200) });

export const schoolView = z.object({
  id: z.string(),
  name: z.string(),
  sourcedId: z.string().nullable().describe('The OneRoster org of the school, where known'),
  createdAt: z.iso.datetime(),
});
export const schoolAnswer = z.object({ school: schoolView });
export const schoolListAnswer = z.object({ schools: z.array(schoolView) });

interface SchoolRow {
  id: string;
  name: string;
  sourced_id: string | null;
  created_at: Date;
}

const view = (r: SchoolRow): z.infer<typeof schoolView> => ({
  id: r.id,
  name: r.name,
  sourcedId: r.sourced_id,
  createdAt: r.created_at.toISOString(),
});

/** The district admin acting for the district (not inside one school with X-School-Id); 403 for anyone else. */
function districtActor(req: Request): AuthenticatedUser {
  const user = currentUser(req);
  if (!isDistrictAdmin(user) || req.get('x-school-id') !== undefined)
    throw new AppError(
      403,
      'district_only',
      'only a district admin, acting for the district, adds or renames schools',
    );
  return user;
}

export function schoolRoutes(deps: { db: Knex }): Router {
  const router = featureRouter();
  const { db } = deps;
  const districtAdmin = requireUser(['admin']);

  // Row-level security answers "which": a school's users see their own row only.
  router.get('/api/v1/schools', requireUser(), async (_req, res) => {
    const rows = await db<SchoolRow>('schools').orderBy('id').select('*');
    res.json({ schools: rows.map(view) });
  });

  router.post('/api/v1/admin/schools', districtAdmin, async (req, res) => {
    const user = districtActor(req);
    const body = parseOr400(schoolCreateBody, req.body, 'body');
    const created = await db.transaction(async (trx) => {
      if (await trx('schools').where({ id: body.id }).first('id'))
        throw new AppError(409, 'duplicate_id', `school ${body.id} already exists`);
      const [row] = await trx<SchoolRow>('schools').insert({ id: body.id, name: body.name }).returning('*');
      await trx('audit_log').insert({
        actor: user.id,
        action: 'create',
        entity: 'school',
        entity_id: body.id,
        after: JSON.stringify({ name: body.name }),
        school_id: body.id,
      });
      return row!;
    });
    res
      .location(`/api/v1/schools`)
      .status(201)
      .json({ school: view(created) });
  });

  router.put('/api/v1/admin/schools/:id', districtAdmin, async (req, res) => {
    const user = districtActor(req);
    const { id } = parseOr400(schoolParams, req.params, 'params');
    const body = parseOr400(schoolUpdateBody, req.body, 'body');
    const updated = await db.transaction(async (trx) => {
      const before = await trx<SchoolRow>('schools').where({ id }).forUpdate().first();
      if (!before) throw new AppError(404, 'not_found', `school ${id} does not exist`);
      const [row] = await trx<SchoolRow>('schools').where({ id }).update({ name: body.name }).returning('*');
      await trx('audit_log').insert({
        actor: user.id,
        action: 'update',
        entity: 'school',
        entity_id: id,
        before: JSON.stringify({ name: before.name }),
        after: JSON.stringify({ name: body.name }),
        school_id: id,
      });
      return row!;
    });
    res.json({ school: view(updated) });
  });

  return router;
}
