/**
 * People-facing authentication and authorisation. `authenticateUser` (app-wide, before every router) reads
 * `Authorization: Bearer <JWT>`, verifies it and loads the user, so a deleted user or a changed role takes
 * effect at once; device keys (not JWT-shaped) pass through untouched for `requireDevice`.
 * `requireUser(roles)` guards a route; the scoping helpers answer "may this teacher see that course?".
 *
 * Scoping rules (README "Security"): an admin sees everything; a teacher sees and overrides only courses
 * whose `courses.teacher_id` is theirs, a student's records only in those courses, and may manage consent
 * and photos of a student enrolled in one of them. Erasure, timetable admin and /health/detailed: admin.
 */
import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { JWT_SHAPE, TokenError, verifyToken, type JwtSettings, type Role } from '../../lib/jwt';
import { AppError } from '../errors';

export interface AuthenticatedUser {
  id: string;
  role: Role;
  name: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    user?: AuthenticatedUser;
    /** Why a presented JWT was not accepted (reported by requireUser as a 401). */
    userAuthFailure?: string;
  }
}

export function authenticateUser(deps: { db: Knex; jwt: JwtSettings }): RequestHandler {
  return async (req, _res, next) => {
    const header = req.get('authorization');
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token || !JWT_SHAPE.test(token)) return next();
    try {
      const claims = verifyToken(deps.jwt, token);
      const row = await deps.db('users').where({ id: claims.sub }).first('id', 'role', 'name');
      if (!row) req.userAuthFailure = 'the token belongs to a user who no longer exists';
      else req.user = { id: row.id, role: row.role, name: row.name };
    } catch (err) {
      if (!(err instanceof TokenError)) return next(err);
      req.userAuthFailure = err.reason === 'expired' ? 'token has expired; sign in again' : err.message;
    }
    next();
  };
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
