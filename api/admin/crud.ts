/**
 * The one shape of the admin CRUD routers (students, courses, rooms; enrollments reuse the pieces):
 *
 *   GET  /api/v1/admin/{plural}                  list (active, q, entity filters, limit/offset)
 *   GET  /api/v1/admin/{plural}/:id              one
 *   POST /api/v1/admin/{plural}                  create (201; an id taken → 409)
 *   PUT  /api/v1/admin/{plural}/:id              replace the editable fields
 *   POST /api/v1/admin/{plural}/:id/deactivate   never a delete: attendance history refers to these rows
 *   POST /api/v1/admin/{plural}/:id/reactivate
 *
 * Admins only. Every change writes its audit_log row (before/after views) in the change's transaction; a
 * deactivation of something already inactive (or the reverse) changes nothing and writes nothing. Rows that
 * came from the OneRoster import can be edited, and the answer says that the next import may overwrite the
 * edit (`notices`). Postgres's own rules (unique ids, references, checks, the timetable's no-overlap
 * exclusion) answer as 409/422, never as a 5xx.
 */
import type { Request, Response, Router } from 'express';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { z } from 'zod';
import { text, wholeNumber } from '../../lib/contracts/text';
import { currentUser, requireUser } from '../auth/user';
import { AppError } from '../errors';
import { featureRouter } from '../router';
import { parseOr400 } from '../validate';
import { requestTimetableSync } from './schedules';

export interface AdminCrudDeps {
  db: Knex;
  temporal: Client;
  taskQueue: string;
  log: Logger;
}

/** Query fields every list takes. */
export const listFields = {
  active: z.enum(['true', 'false']).optional().describe('only active (true) or only inactive (false) rows'),
  q: text(100).optional().describe('case-insensitive search in ids, names (and e-mails)'),
  limit: wholeNumber(/^([1-9][0-9]{0,2}|1000)$/, 'from 1 to 1000')
    .optional()
    .describe('at most this many rows (default 200)'),
  offset: wholeNumber(/^(0|[1-9][0-9]{0,8})$/, 'from 0 to 999999999')
    .optional()
    .describe('skip this many rows'),
};
export interface ListQuery {
  active?: 'true' | 'false';
  q?: string;
  limit?: number;
  offset?: number;
}
const DEFAULT_LIMIT = 200;

/** The body of deactivate/reactivate: optional, the reason goes into the audit row. */
export const activationBody = z.strictObject({ reason: text(500).optional() });

/** Where an imported row came from; `managed_by_import` says the next import may overwrite edits. */
export const sourceView = {
  source: z
    .string()
    .nullable()
    .describe("'oneroster' for rows the roster import made; null for rows made here"),
  sourced_id: z.string().nullable(),
  managed_by_import: z.boolean(),
};
export interface Sourced {
  source: string | null;
  sourced_id: string | null;
  managed_by_import: boolean;
}

export const timetableSyncView = z
  .object({ workflowId: z.string(), runId: z.string() })
  .nullable()
  .optional()
  .describe('the timetable:sync run that makes the Temporal Schedules follow, when timetable rows changed');

/** The answer of every write: the row as it is now and what the admin should know about the change. */
export function writeAnswer<K extends string>(entity: K, view: z.ZodType) {
  return z.object({
    [entity]: view,
    notices: z.array(z.string()).describe('effects of the change (enrollments ended, rows paused, import)'),
    timetable_sync: timetableSyncView,
  } as Record<K | 'notices' | 'timetable_sync', z.ZodType>);
}

/** Filters of the common list fields, search over `searchColumns`; paging. */
export function applyListQuery(
  qb: Knex.QueryBuilder,
  q: ListQuery,
  activeColumn: string,
  searchColumns: string[],
): void {
  if (q.active) void qb.where(activeColumn, q.active === 'true');
  if (q.q) {
    const pattern = `%${q.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    void qb.where((w) => {
      for (const c of searchColumns) void w.orWhereRaw(`?? ILIKE ?`, [c, pattern]);
    });
  }
  void qb.limit(q.limit ?? DEFAULT_LIMIT).offset(q.offset ?? 0);
}

export const sourcedColumns = (alias: string, db: Knex) => [
  `${alias}.source`,
  `${alias}.sourced_id`,
  db.raw(`(${alias}.source IS NOT NULL) AS managed_by_import`),
];

/** Timestamps as ISO strings, so answers and audit rows carry the same text. */
export function isoTimes<T extends Record<string, unknown>>(row: T, columns: (keyof T)[]): T {
  const out: Record<string, unknown> = { ...row };
  for (const c of columns) {
    const v = out[c as string];
    if (v instanceof Date) out[c as string] = v.toISOString();
  }
  return out as T;
}

export function importNotice(entity: string, id: string, view: Partial<Sourced>): string[] {
  if (!view.source) return [];
  return [
    `${entity} ${id} is managed by the ${view.source} roster import (sourcedId ${view.sourced_id}): the change is saved, but the next import may overwrite it`,
  ];
}

export function audit(
  trx: Knex,
  entry: {
    actor: string;
    entity: string;
    action: string;
    id: string;
    before?: unknown;
    after?: unknown;
    reason?: string;
  },
) {
  return trx('audit_log').insert({
    actor: entry.actor,
    action: `${entry.entity}.${entry.action}`,
    entity: entry.entity,
    entity_id: entry.id,
    before: entry.before === undefined ? null : JSON.stringify(entry.before),
    after: entry.after === undefined ? null : JSON.stringify(entry.after),
    reason: entry.reason ?? null,
  });
}

/** Postgres's refusals as the client's mistake, named; anything else goes on to the error middleware. */
export async function tableRules<T>(what: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof AppError) throw err;
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23505') throw new AppError(409, 'duplicate_id', `${what} already exists`);
    if (e.code === '23503')
      throw new AppError(422, 'unknown_reference', `${what} refers to a row that does not exist`);
    if (e.code === '23514' || e.code === '22023')
      throw new AppError(422, 'invalid_value', `${what} breaks ${e.constraint ?? 'a rule of the table'}`);
    if (e.code === '23P01')
      throw new AppError(
        409,
        'schedule_overlap',
        `${what} clashes with another active class in the same room`,
      );
    throw err;
  }
}

export interface Effects {
  notices: string[];
  timetableChanged?: boolean;
}

/** Starts timetable:sync after a commit that changed timetable rows; a failure is logged, the write stands. */
export async function syncTimetableAfter(deps: AdminCrudDeps, effects: Effects[]) {
  if (!effects.some((e) => e.timetableChanged)) return null;
  try {
    return await requestTimetableSync(deps);
  } catch (err) {
    deps.log.error({ err }, 'timetable sync could not be started');
    return null;
  }
}

export interface EntitySpec<
  View extends { id: string; active: boolean },
  Create extends { id: string },
  Update,
> {
  /** Audit entity and answer key (`student`). */
  entity: string;
  /** Path segment and list key (`students`). */
  plural: string;
  table: string;
  params: z.ZodType<{ id: string }>;
  listQuery: z.ZodType<ListQuery>;
  createBody: z.ZodType<Create>;
  updateBody: z.ZodType<Update>;
  list(db: Knex, q: ListQuery): Promise<View[]>;
  read(db: Knex, id: string): Promise<View | undefined>;
  /** Checks against other rows before writing (references exist, a time zone is known): 422s. */
  assertWritable?(db: Knex, body: Create | Update): Promise<void>;
  /** The table's columns from a body (without id). */
  columns(body: Create | Update): Record<string, unknown>;
  afterUpdate?(trx: Knex.Transaction, before: View, after: View): Promise<Effects>;
  /** Run in the transaction, after the row's `active` changed. */
  onDeactivate?(trx: Knex.Transaction, id: string, actor: string): Promise<Effects>;
  onReactivate?(trx: Knex.Transaction, id: string, actor: string): Promise<Effects>;
  /** Refuses a deactivation (409) before anything changes. */
  assertCanDeactivate?(trx: Knex.Transaction, id: string): Promise<void>;
}

export function entityRoutes<
  View extends { id: string; active: boolean },
  Create extends { id: string },
  Update,
>(deps: AdminCrudDeps, spec: EntitySpec<View, Create, Update>): Router {
  const router = featureRouter();
  const admin = requireUser(['admin']);
  const base = `/api/v1/admin/${spec.plural}`;
  const { db } = deps;

  const locked = async (trx: Knex.Transaction, id: string): Promise<View> => {
    const row = await trx(spec.table).where({ id }).forUpdate().first('id');
    const view = row ? await spec.read(trx, id) : undefined;
    if (!view) throw new AppError(404, 'not_found', `${spec.entity} ${id} does not exist`);
    return view;
  };

  const answer = async (res: Response, status: number, view: View, effects: Effects[]): Promise<void> => {
    res.status(status).json({
      [spec.entity]: view,
      notices: effects.flatMap((e) => e.notices),
      timetable_sync: await syncTimetableAfter(deps, effects),
    });
  };

  router.get(base, admin, async (req, res) => {
    const q = parseOr400(spec.listQuery, req.query, 'query');
    res.json({ [spec.plural]: await spec.list(db, q) });
  });

  router.get(`${base}/:id`, admin, async (req, res) => {
    const { id } = parseOr400(spec.params, req.params, 'params');
    const view = await spec.read(db, id);
    if (!view) throw new AppError(404, 'not_found', `${spec.entity} ${id} does not exist`);
    res.json({ [spec.entity]: view });
  });

  router.post(base, admin, async (req, res) => {
    const body = parseOr400(spec.createBody, req.body, 'body');
    await spec.assertWritable?.(db, body);
    const actor = currentUser(req).id;
    const created = await tableRules(`${spec.entity} ${body.id}`, () =>
      db.transaction(async (trx) => {
        if (await trx(spec.table).where({ id: body.id }).first('id'))
          throw new AppError(409, 'duplicate_id', `${spec.entity} ${body.id} already exists`);
        await trx(spec.table).insert({ id: body.id, ...spec.columns(body) });
        const after = (await spec.read(trx, body.id))!;
        await audit(trx, { actor, entity: spec.entity, action: 'create', id: body.id, after });
        return after;
      }),
    );
    res.location(`${base}/${encodeURIComponent(created.id)}`);
    await answer(res, 201, created, []);
  });

  router.put(`${base}/:id`, admin, async (req, res) => {
    const { id } = parseOr400(spec.params, req.params, 'params');
    const body = parseOr400(spec.updateBody, req.body, 'body');
    await spec.assertWritable?.(db, body);
    const actor = currentUser(req).id;
    const { after, effects } = await tableRules(`${spec.entity} ${id}`, () =>
      db.transaction(async (trx) => {
        const before = await locked(trx, id);
        await trx(spec.table).where({ id }).update(spec.columns(body));
        const after = (await spec.read(trx, id))!;
        await audit(trx, { actor, entity: spec.entity, action: 'update', id, before, after });
        const effects = [
          { notices: importNotice(spec.entity, id, before as Partial<Sourced>) },
          ...(spec.afterUpdate ? [await spec.afterUpdate(trx, before, after)] : []),
        ];
        return { after, effects };
      }),
    );
    await answer(res, 200, after, effects);
  });

  const setActive = (active: boolean) => async (req: Request, res: Response) => {
    const { id } = parseOr400(spec.params, req.params, 'params');
    const { reason } = parseOr400(activationBody, req.body ?? {}, 'body');
    const actor = currentUser(req).id;
    const action = active ? 'reactivate' : 'deactivate';
    const { after, effects } = await tableRules(`${spec.entity} ${id}`, () =>
      db.transaction(async (trx) => {
        const before = await locked(trx, id);
        if (before.active === active)
          return {
            after: before,
            effects: [
              {
                notices: [
                  `${spec.entity} ${id} is already ${active ? 'active' : 'inactive'}: nothing changed`,
                ],
              },
            ],
          };
        if (!active) await spec.assertCanDeactivate?.(trx, id);
        await trx(spec.table).where({ id }).update({ active });
        const hook = active ? spec.onReactivate : spec.onDeactivate;
        const effects = [
          ...(hook ? [await hook(trx, id, actor)] : []),
          { notices: importNotice(spec.entity, id, before as Partial<Sourced>) },
        ];
        const after = (await spec.read(trx, id))!;
        await audit(trx, { actor, entity: spec.entity, action, id, before, after, reason });
        return { after, effects };
      }),
    );
    await answer(res, 200, after, effects);
  };
  router.post(`${base}/:id/deactivate`, admin, setActive(false));
  router.post(`${base}/:id/reactivate`, admin, setActive(true));

  return router;
}
