/**
 * People-facing authentication and authorisation. `authenticateUser` (app-wide, before every router) reads
 * `Authorization: Bearer <JWT>`, verifies it and loads the user, so a deleted or disabled user, a revoked
 * token (password changed) or a changed role takes effect at once; device keys (not JWT-shaped) pass through untouched for `requireDevice`.
 * `requireUser(roles)` guards a route; the scoping helpers answer "may this teacher see that course?".
 *
 * Scoping rules (README "Security"): an admin sees everything; a teacher sees and overrides only courses
 * whose `courses.teacher_id` is theirs, a student's records only in those courses, and may manage consent
 * and photos of a student enrolled in one of them. Erasure, timetable admin and /health/detailed: admin.
 */
import type { Request, RequestHandler } from 'express';
import type { Knex } from 'knex';
import {
  JWT_SHAPE,
  TokenError,
  verifyToken,
  type JwtSettings,
  type Role,
  type TokenClaims,
} from '../../lib/jwt';
import { AppError } from '../errors';
import {
  issuedBeforeRevocation,
  secondFactorNeed,
  verifyScopedToken,
  type AccountSettings,
} from './settings';
import { accountClosed } from './accounts';
import { SCHOOL_ID } from '../../lib/tenancy';

export interface AuthenticatedUser {
  id: string;
  role: Role;
  name: string;
  /** The user's school; null: a district admin, who spans schools (README "Schools and tenancy"). */
  schoolId: string | null;
}

declare module 'express-serve-static-core' {
  interface Request {
    user?: AuthenticatedUser;
    /** Why a presented JWT was not accepted (reported by requireUser as a 401). */
    userAuthFailure?: string;
    /** The user of a valid `mfa-enrol` token: allowed only on the TOTP enrolment routes. */
    enrollingUser?: AuthenticatedUser;
  }
}

interface AccountState {
  id: string;
  role: Role;
  name: string;
  email: string;
  disabled_at: Date | null;
  active: boolean;
  tokens_valid_after: Date | null;
  totp_confirmed_at: Date | null;
  school_id: string | null;
}

/** Why the account cannot use a token issued at `iat` (undefined: it can). */
function refusal(row: AccountState | undefined, iat: number): string | undefined {
  if (!row) return 'the token belongs to a user who no longer exists';
  if (accountClosed(row)) return 'the account is disabled';
  if (issuedBeforeRevocation(iat, row.tokens_valid_after))
    return 'the token was revoked (password changed, reset or MFA removed); sign in again';
  return undefined;
}

/**
 * Disabled accounts, revoked tokens (issued before `tokens_valid_after`) and admins who must enrol MFA but
 * have not are refused here, on the row read for every request anyway. A token scoped to MFA enrolment sets
 * `enrollingUser` only, which the enrolment routes alone accept.
 */
export function authenticateUser(deps: {
  db: Knex;
  jwt: JwtSettings;
  accounts: Pick<AccountSettings, 'adminMfaRequired' | 'mfaExemptEmails'>;
}): RequestHandler {
  const account = (id: string) =>
    deps
      .db<AccountState>('users')
      .where({ id })
      .first(
        'id',
        'role',
        'name',
        'email',
        'disabled_at',
        'active',
        'tokens_valid_after',
        'totp_confirmed_at',
        'school_id',
      );
  const identify = async (req: Request, token: string): Promise<void> => {
    let claims: TokenClaims;
    try {
      claims = verifyToken(deps.jwt, token);
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      req.userAuthFailure = err.reason === 'expired' ? 'token has expired; sign in again' : err.message;
      const enrol = err.reason === 'wrong_audience' ? verifyScopedToken(deps.jwt, 'mfa-enrol', token) : null;
      if (!enrol) return;
      const row = await account(enrol.sub);
      req.userAuthFailure =
        refusal(row, enrol.iat) ?? 'this token only permits MFA enrolment (POST /api/v1/auth/mfa/totp)';
      if (!refusal(row, enrol.iat))
        req.enrollingUser = { id: row!.id, role: row!.role, name: row!.name, schoolId: row!.school_id };
      return;
    }
    const row = await account(claims.sub);
    const refused = refusal(row, claims.iat);
    if (refused) req.userAuthFailure = refused;
    else if (secondFactorNeed(row!, deps.accounts) === 'enrol')
      req.userAuthFailure = 'admins must use MFA: sign in again to enrol an authenticator';
    else req.user = { id: row!.id, role: row!.role, name: row!.name, schoolId: row!.school_id };
  };
  return async (req, _res, next) => {
    const header = req.get('authorization');
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token || !JWT_SHAPE.test(token)) return next();
    try {
      await identify(req, token);
    } catch (err) {
      return next(err);
    }
    next();
  };
}

/** The user of an enrolment route: a signed-in user, or the holder of an `mfa-enrol` token. */
export function requireUserOrEnrolment(): RequestHandler {
  return (req, res, next) => {
    if (!req.user && req.enrollingUser) return next();
    requireUser()(req, res, next);
  };
}

/** The user of a route behind requireUserOrEnrolment, and whether they came with an enrolment token. */
export function enrollingOrCurrentUser(req: {
  user?: AuthenticatedUser;
  enrollingUser?: AuthenticatedUser;
}): { user: AuthenticatedUser; enrolling: boolean } {
  if (req.user) return { user: req.user, enrolling: false };
  if (req.enrollingUser) return { user: req.enrollingUser, enrolling: true };
  throw new AppError(401, 'unauthenticated', 'sign in first');
}

/** 401 without a valid token, 403 when the user's role is not among `roles`. */
export function requireUser(roles: readonly Role[] = ['admin', 'teacher']): RequestHandler {
  return (req, _res, next) => {
    if (!req.user) {
      return next(
        new AppError(
          401,
          'unauthenticated',
          req.userAuthFailure ?? 'sign in first: Authorization: Bearer <token from POST /api/v1/auth/login>',
          null,
          {
            'WWW-Authenticate': 'Bearer realm="rollcall"',
          },
        ),
      );
    }
    if (!roles.includes(req.user.role))
      return next(new AppError(403, 'forbidden', `this needs the role ${roles.join(' or ')}`));
    next();
  };
}

/** The user of a route behind requireUser. */
export function currentUser(req: { user?: AuthenticatedUser }): AuthenticatedUser {
  if (!req.user) throw new AppError(401, 'unauthenticated', 'sign in first');
  return req.user;
}

/** Course ids a user may see: undefined means all (admin). */
export async function visibleCourseIds(db: Knex, user: AuthenticatedUser): Promise<string[] | undefined> {
  if (user.role === 'admin') return undefined;
  return db('courses').where({ teacher_id: user.id }).orderBy('id').pluck('id');
}

export async function assertCourseAccess(db: Knex, user: AuthenticatedUser, courseId: string): Promise<void> {
  if (user.role === 'admin') return;
  const own = await db('courses').where({ id: courseId, teacher_id: user.id }).first('id');
  if (!own) throw new AppError(403, 'forbidden', `course ${courseId} is not one of your courses`);
}

/** Admin, or a teacher of a course the student is enrolled in. */
export async function assertStudentAccess(
  db: Knex,
  user: AuthenticatedUser,
  studentId: string,
): Promise<void> {
  if (user.role === 'admin') return;
  const taught = await db('enrollments as e')
    .join('courses as c', 'c.id', 'e.course_id')
    .where({ 'e.student_id': studentId, 'c.teacher_id': user.id })
    .first('e.course_id');
  if (!taught)
    throw new AppError(403, 'forbidden', `student ${studentId} is not enrolled in any of your courses`);
}

/** District admins: admins of no school, who span schools (README "Schools and tenancy"). */
export function isDistrictAdmin(user: AuthenticatedUser | undefined): boolean {
  return user?.role === 'admin' && user.schoolId === null;
}

/**
 * The school a request runs in: a school user's own; for a district admin, the school named by the
 * `X-School-Id` header (acting inside one school), else none (every school). A school user naming another
 * school is refused rather than silently held to their own.
 */
export function requestSchoolOf(db: Knex): (req: Request) => Promise<string | null> {
  return async (req) => {
    const user = req.user;
    const asked = req.get('x-school-id');
    if (!user) return null;
    if (user.schoolId !== null) {
      if (asked !== undefined && asked !== user.schoolId)
        throw new AppError(
          403,
          'other_school',
          `your account belongs to school ${user.schoolId}, not ${asked}`,
        );
      return user.schoolId;
    }
    // A district admin's own account (sign-in steps, password, MFA) is no school's: its routes ignore the header.
    if (asked === undefined || req.path.startsWith('/api/v1/auth/')) return null;
    if (!SCHOOL_ID.test(asked) || !(await db('schools').where({ id: asked }).first('id')))
      throw new AppError(
        404,
        'unknown_school',
        `X-School-Id names no school: ${JSON.stringify(asked.slice(0, 64))}`,
      );
    return asked;
  };
}
