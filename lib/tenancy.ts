/**
 * Schools as tenants (migrations/20261206000001_schools.ts, README "Schools and tenancy").
 *
 * A school's statements run as the role `rollcall_tenant` with `rollcall.school_id` set for their
 * transaction; Postgres's row-level security policies then show and accept that school's rows only. The
 * owning role (workers, migrations, district admins) is not subject to the policies.
 *
 * - `enterSchool(trx, id)`: the rest of a transaction is the school's (role and school).
 * - `schoolDb(base, id)`: a knex handle on the same pool whose every statement is its own short transaction in
 *   the school's scope, and whose `transaction()` enters the scope first. One statement, one transaction: a
 *   write is committed before its promise resolves, as with the plain handle, so "commit, then start the
 *   workflow that reads it" keeps working.
 * - `requestScopedDb(base)` + `schoolScope()`: the handle the API's routes hold. Inside a request of a school
 *   user it is that school's `schoolDb`; otherwise the plain handle.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { RequestHandler } from 'express';
import type { Knex } from 'knex';

export const TENANT_ROLE = 'rollcall_tenant';
/** The shape the `schools.id` CHECK allows; anything else never reaches SQL. */
export const SCHOOL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function schoolIdLiteral(schoolId: string): string {
  if (!SCHOOL_ID.test(schoolId)) throw new Error(`invalid school id ${JSON.stringify(schoolId)}`);
  return `'${schoolId}'`;
}

const scopeSql = (schoolId: string) =>
  `SET LOCAL ROLE ${TENANT_ROLE}; SET LOCAL rollcall.school_id = ${schoolIdLiteral(schoolId)}`;

/** The rest of this transaction runs as the school (role and school): the policies apply. */
export async function enterSchool(trx: Knex.Transaction, schoolId: string): Promise<void> {
  await trx.raw(scopeSql(schoolId));
}

type TransactionFn = Knex['transaction'];
interface PgConnection {
  query(sql: string): Promise<unknown>;
}

const handles = new WeakMap<Knex, Map<string, Knex>>();

/** The plain handle behind a request-scoped one (which follows the request; a school's handle must not). */
const plainOf = new WeakMap<Knex, Knex>();

/** A handle on `base`'s pool whose statements and transactions are the school's (see the module comment). */
export function schoolDb(handle: Knex, schoolId: string): Knex {
  const base = plainOf.get(handle) ?? handle;
  let bySchool = handles.get(base);
  if (!bySchool) handles.set(base, (bySchool = new Map()));
  const cached = bySchool.get(schoolId);
  if (cached) return cached;

  const begin = `BEGIN; ${scopeSql(schoolId)}`;
  const scoped = base.withUserParams({ schoolId });
  const baseClient = base.client as {
    acquireConnection(): Promise<PgConnection>;
    releaseConnection(c: PgConnection): Promise<unknown>;
  };
  Object.assign(scoped.client, {
    async acquireConnection(): Promise<PgConnection> {
      const conn = await baseClient.acquireConnection();
      try {
        await conn.query(begin);
      } catch (err) {
        await baseClient.releaseConnection(conn);
        throw err;
      }
      return conn;
    },
    // Runs before the statement's promise settles (knex awaits the release), so a resolved write is committed.
    // After a failed statement Postgres answers COMMIT with a rollback.
    async releaseConnection(conn: PgConnection): Promise<void> {
      try {
        await conn.query('COMMIT');
      } finally {
        await baseClient.releaseConnection(conn);
      }
    },
  });
  const transaction = ((containerOrConfig?: unknown, config?: unknown) => {
    if (typeof containerOrConfig === 'function') {
      return base.transaction(async (trx) => {
        await enterSchool(trx, schoolId);
        return (containerOrConfig as (t: Knex.Transaction) => unknown)(trx);
      }, config as Knex.TransactionConfig);
    }
    return base.transaction(containerOrConfig as Knex.TransactionConfig).then(async (trx) => {
      await enterSchool(trx, schoolId);
      return trx;
    });
  }) as TransactionFn;
  Object.defineProperty(scoped, 'transaction', { value: transaction, configurable: true });
  bySchool.set(schoolId, scoped);
  return scoped;
}

const requestSchool = new AsyncLocalStorage<Knex>();

/**
 * The API's handle: the request's school handle inside `schoolScope`, the plain handle elsewhere (device
 * routes, sign-in, district admins). Routes keep holding one `db` and need not know which.
 */
export function requestScopedDb(base: Knex): Knex {
  const current = (): Knex => requestSchool.getStore() ?? base;
  const scoped = new Proxy(base, {
    apply: (_target, _this, args: unknown[]) =>
      (current() as unknown as (...a: unknown[]) => unknown)(...args),
    get: (_target, prop) => {
      const db = current();
      const value: unknown = Reflect.get(db, prop, db);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(db) : value;
    },
  });
  plainOf.set(scoped, base);
  return scoped;
}

/** The school a request's statements run in; null: none (district admin, device, anonymous). */
export type SchoolOf = (req: Parameters<RequestHandler>[0]) => Promise<string | null | undefined>;

/** Runs the rest of a request of a school user in that school's scope (after authentication). */
export function schoolScope(base: Knex, schoolOf: SchoolOf): RequestHandler {
  return (req, _res, next) => {
    schoolOf(req).then(
      (school) => (school ? requestSchool.run(schoolDb(base, school), next) : next()),
      (err: unknown) => next(err),
    );
  };
}

/** Runs `fn` with `db` (from requestScopedDb) scoped to a school, as a request of that school would be. */
export function runInSchool<T>(base: Knex, schoolId: string, fn: () => Promise<T>): Promise<T> {
  return requestSchool.run(schoolDb(base, schoolId), fn);
}
