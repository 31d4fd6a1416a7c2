/**
 * Signing in and the signed-in user's own account.
 *
 * POST /api/v1/auth/login {email, password} → `{token, expiresAt, user}`; or, for an account with TOTP,
 * `{mfa: "totp", challengeToken}` to redeem with a code at POST /api/v1/auth/login/mfa; or, for an admin who
 * must use MFA and has none, `{mfa: "enrol", enrolToken}`, good only for the enrolment routes. Password
 * attempts are rate-limited per client IP and e-mail (a school behind one NAT address does not share one
 * budget), per e-mail across all IPs (guessing one account from many addresses) and per IP across all
 * e-mails (spraying one password); second factors per client IP, and 5 failed codes lock an account's MFA
 * step for 5 minutes. Every sign-in, failed sign-in and failed code writes an audit row; the answer never
 * says whether an e-mail has an account.
 */
import type { Request, Response, Router } from 'express';
import { featureRouter } from '../router';
import type { Knex } from 'knex';
import { z } from 'zod';
import { NO_CONTROL_CHARACTERS } from '../../lib/contracts/text';
import { signToken, type JwtSettings } from '../../lib/jwt';
import { ONE_TIME_TOKEN_PATTERN, PASSWORD_MAX_LENGTH, verifyPassword } from '../../lib/passwords';
import { RateLimiter } from '../../lib/rateLimiter';
import { AppError } from '../errors';
import { enforceLimits, tooManyRequests } from '../security/rateLimit';
import { parseOr400 } from '../validate';
import {
  accountClosed,
  audit,
  changePassword,
  confirmTotp,
  disableTotp,
  RECOVERY_CODE_PATTERN,
  SecondFactorRejected,
  setPasswordWithToken,
  spendSecondFactor,
  startTotpEnrolment,
  unusedRecoveryCodes,
  userById,
  userByEmail,
  type UserRow,
} from './accounts';
import {
  issueTimeFor,
  issuedBeforeRevocation,
  secondFactorNeed,
  signScopedToken,
  verifyScopedToken,
  type AccountSettings,
} from './settings';
import { currentUser, enrollingOrCurrentUser, requireUser, requireUserOrEnrolment } from './user';

export const loginBody = z.strictObject({
  email: z.email().max(254),
  password: z.string().min(1).max(1024),
});

const userSummary = z.object({ id: z.string(), name: z.string(), role: z.enum(['admin', 'teacher']) });

const signedIn = z.object({ token: z.string(), expiresAt: z.iso.datetime(), user: userSummary });

/** The signed-in user, with what the account page shows: the address and whether TOTP is on. */
export const meResponse = z.object({
  user: userSummary.extend({
    email: z.string(),
    mfa: z.boolean(),
    schoolId: z.string().nullable().describe("The user's school; null: a district admin (every school)"),
  }),
});

export const loginResponse = z.union([
  signedIn,
  z.object({
    mfa: z.literal('totp'),
    challengeToken: z.string().describe('POST it with a code to /api/v1/auth/login/mfa (5 minutes)'),
    expiresAt: z.iso.datetime(),
  }),
  z.object({
    mfa: z.literal('enrol'),
    enrolToken: z.string().describe('Admins must use MFA: good only for the TOTP enrolment routes'),
    expiresAt: z.iso.datetime(),
    user: userSummary,
  }),
]);

/** A 6-digit TOTP code or a recovery code (`abcde-fghij`). */
const secondFactor = z
  .string()
  .max(11)
  .regex(
    new RegExp(`^(\\d{6}|${RECOVERY_CODE_PATTERN.source.slice(1, -1)})$`),
    '6 digits or a recovery code',
  );

export const mfaLoginBody = z.strictObject({
  challengeToken: z
    .string()
    .max(4096)
    .regex(
      /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/,
      'the challengeToken of POST /api/v1/auth/login',
    ),
  code: secondFactor,
});

export const totpCodeBody = z.strictObject({
  code: z
    .string()
    .max(6)
    .regex(/^\d{6}$/, '6 digits'),
});
export const secondFactorBody = z.strictObject({ code: secondFactor });

export const totpEnrolResponse = z.object({
  secret: z.string().describe('base32; or scan otpauthUri as a QR code'),
  otpauthUri: z.string(),
});

export const totpConfirmResponse = signedIn.extend({
  recoveryCodes: z.array(z.string()).describe('Shown once; each works once instead of a code'),
});

const newPassword = z
  .string()
  .min(1)
  .max(PASSWORD_MAX_LENGTH)
  .regex(NO_CONTROL_CHARACTERS, 'must not contain control characters');

export const passwordChangeBody = z.strictObject({
  currentPassword: z
    .string()
    .min(1)
    .max(1024)
    .regex(NO_CONTROL_CHARACTERS, 'must not contain control characters'),
  newPassword,
});

export const passwordSetBody = z.strictObject({
  token: z.string().max(43).regex(ONE_TIME_TOKEN_PATTERN, 'the token of an invitation or reset link'),
  password: newPassword,
});

export const passwordSetResponse = z.object({
  user: z.object({ id: z.string(), email: z.string() }),
  purpose: z.enum(['invite', 'reset']),
});

export const mfaDisableResponse = z.object({ mfa: z.literal(false) });

export interface LoginLimiters {
  perIpAndEmail: RateLimiter;
  perEmail: RateLimiter;
  perIp: RateLimiter;
}

/** The form of an address that the limits count: `Teacher1@Demo.School ` and `teacher1@demo.school` are one. */
export function normalisedEmail(email: string): string {
  return email.trim().normalize('NFC').toLowerCase();
}

function clientIp(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** 429 while `subject` has used up its failures, without counting this attempt (only failures count). */
async function assertNotLocked(limiter: RateLimiter, subject: string): Promise<void> {
  const state = await limiter.check(subject);
  if (!state.ok) throw tooManyRequests(state.retryAfterSeconds, 'account');
}

export function authRoutes(deps: {
  db: Knex;
  /** Where rate-limit counters live: the district's, never a school's scope (they are no school's rows). */
  counters: Knex;
  jwt: JwtSettings;
  loginLimiters: LoginLimiters;
  accounts: AccountSettings;
}): Router {
  const router = featureRouter();
  const { db, jwt, accounts } = deps;
  const limiter = (name: string, rule: { limit: number; windowSeconds: number }) =>
    new RateLimiter(deps.counters, { name, ...rule });
  const mfaFailures = limiter('mfa-failures-user', accounts.limits.mfaFailuresPerUser);
  const mfaPerIp = limiter('mfa-ip', accounts.limits.mfaPerIp);
  const redemptionsPerIp = limiter('token-redeem-ip', accounts.limits.tokenRedemptionsPerIp);
  const passwordFailures = limiter('password-failures-user', accounts.limits.passwordFailuresPerUser);

  /** A full access token for the account. */
  const issue = (user: UserRow) => {
    const { token, expiresAt } = signToken(
      jwt,
      { sub: user.id, role: user.role },
      issueTimeFor(user.tokens_valid_after),
    );
    return { token, expiresAt, user: { id: user.id, name: user.name, role: user.role } };
  };
  /** A full access token for the account, written down as a sign-in. */
  const signIn = async (res: Response, user: UserRow, ip: string, factor: string) => {
    await db('users').where({ id: user.id }).update({ last_login_at: db.fn.now() });
    await audit(db, { actor: user.id, action: 'auth.login', userId: user.id, after: { ip, factor } });
    res.setHeader('Cache-Control', 'no-store');
    return issue(user);
  };

  router.post('/api/v1/auth/login', async (req, res) => {
    const { email, password } = parseOr400(loginBody, req.body, 'body');
    // Counted before the password is checked: every attempt spends budget, right or wrong.
    const ip = clientIp(req);
    const who = normalisedEmail(email);
    const limits = deps.loginLimiters;
    await enforceLimits(
      res,
      [
        { limiter: limits.perIpAndEmail, subject: `${ip} ${who}` },
        { limiter: limits.perEmail, subject: who },
        { limiter: limits.perIp, subject: ip },
      ],
      'client',
    );
    const user = await userByEmail(db, email);
    // verifyPassword runs scrypt even without a user, so the answer time does not reveal which emails exist.
    const ok = await verifyPassword(password, user?.password_hash);
    if (!user || !ok || accountClosed(user)) {
      const reason = !user
        ? 'unknown_email'
        : !user.password_hash
          ? 'no_password'
          : !ok
            ? 'wrong_password'
            : 'disabled';
      await audit(db, {
        actor: 'anonymous',
        action: 'auth.login_failed',
        userId: user?.id ?? 'unknown',
        after: { email: who, ip },
        reason,
      });
      throw new AppError(401, 'invalid_credentials', 'email or password is wrong');
    }
    const need = secondFactorNeed(user, accounts);
    res.setHeader('Cache-Control', 'no-store');
    if (need === 'totp') {
      const challenge = signScopedToken(
        jwt,
        'mfa-login',
        { sub: user.id, role: user.role },
        issueTimeFor(user.tokens_valid_after),
      );
      res.json({ mfa: 'totp', challengeToken: challenge.token, expiresAt: challenge.expiresAt });
      return;
    }
    if (need === 'enrol') {
      const enrol = signScopedToken(
        jwt,
        'mfa-enrol',
        { sub: user.id, role: user.role },
        issueTimeFor(user.tokens_valid_after),
      );
      await audit(db, {
        actor: user.id,
        action: 'auth.login',
        userId: user.id,
        after: { ip, factor: 'password', scope: 'mfa_enrol' },
      });
      res.json({
        mfa: 'enrol',
        enrolToken: enrol.token,
        expiresAt: enrol.expiresAt,
        user: { id: user.id, name: user.name, role: user.role },
      });
      return;
    }
    req.log.info({ userId: user.id }, 'user signed in');
    res.json(await signIn(res, user, ip, 'password'));
  });

  router.post('/api/v1/auth/login/mfa', async (req, res) => {
    const { challengeToken, code } = parseOr400(mfaLoginBody, req.body, 'body');
    const ip = clientIp(req);
    await enforceLimits(res, [{ limiter: mfaPerIp, subject: ip }], 'client');
    const claims = verifyScopedToken(jwt, 'mfa-login', challengeToken);
    const user = claims ? await userById(db, claims.sub) : undefined;
    if (
      !claims ||
      !user ||
      accountClosed(user) ||
      !user.totp_confirmed_at ||
      issuedBeforeRevocation(claims.iat, user.tokens_valid_after)
    )
      throw new AppError(401, 'invalid_challenge', 'the sign-in expired or is invalid; sign in again');
    await assertNotLocked(mfaFailures, user.id);
    const factor = await spendSecondFactor(db, user, code, accounts);
    if (!factor) {
      await mfaFailures.hit(user.id);
      await audit(db, {
        actor: user.id,
        action: 'auth.mfa_failed',
        userId: user.id,
        after: { ip, stage: 'login' },
      });
      throw new SecondFactorRejected(401);
    }
    if (factor === 'recovery_code')
      await audit(db, {
        actor: user.id,
        action: 'auth.recovery_code_used',
        userId: user.id,
        after: { ip, remaining: await unusedRecoveryCodes(db, user.id) },
      });
    req.log.info({ userId: user.id }, 'user signed in');
    res.json(await signIn(res, user, ip, factor));
  });

  router.get('/api/v1/auth/me', requireUser(), async (req, res) => {
    const user = currentUser(req);
    const row = await userById(db, user.id);
    if (!row) throw new AppError(401, 'invalid_token', 'the token belongs to a user who no longer exists');
    res.json({ user: { ...user, email: row.email, mfa: row.totp_confirmed_at !== null } });
  });

  router.post('/api/v1/auth/mfa/totp', requireUserOrEnrolment(), async (req, res) => {
    const { user } = enrollingOrCurrentUser(req);
    res.setHeader('Cache-Control', 'no-store');
    res.json(await startTotpEnrolment(db, user.id, accounts));
  });

  router.post('/api/v1/auth/mfa/totp/confirm', requireUserOrEnrolment(), async (req, res) => {
    const { code } = parseOr400(totpCodeBody, req.body, 'body');
    const { user, enrolling } = enrollingOrCurrentUser(req);
    const ip = clientIp(req);
    await enforceLimits(res, [{ limiter: mfaPerIp, subject: ip }], 'client');
    await assertNotLocked(mfaFailures, user.id);
    let recoveryCodes: string[];
    try {
      recoveryCodes = await confirmTotp(db, user.id, code, accounts, ip);
    } catch (err) {
      if (err instanceof SecondFactorRejected) await mfaFailures.hit(user.id);
      throw err;
    }
    const row = (await userById(db, user.id))!;
    // With an enrolment token this completes the sign-in; a signed-in user just gets a fresh token.
    const session = enrolling ? await signIn(res, row, ip, 'totp') : issue(row);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ ...session, recoveryCodes });
  });

  router.post('/api/v1/auth/mfa/totp/disable', requireUser(), async (req, res) => {
    const { code } = parseOr400(secondFactorBody, req.body, 'body');
    const user = currentUser(req);
    const ip = clientIp(req);
    await enforceLimits(res, [{ limiter: mfaPerIp, subject: ip }], 'client');
    await assertNotLocked(mfaFailures, user.id);
    const row = await userById(db, user.id);
    const mustReenrol =
      row !== undefined && secondFactorNeed({ ...row, totp_confirmed_at: null }, accounts) === 'enrol';
    try {
      await disableTotp(db, user.id, code, accounts, ip, mustReenrol);
    } catch (err) {
      if (err instanceof SecondFactorRejected) await mfaFailures.hit(user.id);
      throw err;
    }
    res.json({ mfa: false });
  });

  router.post('/api/v1/auth/password', requireUser(), async (req, res) => {
    const { currentPassword, newPassword } = parseOr400(passwordChangeBody, req.body, 'body');
    const user = currentUser(req);
    await assertNotLocked(passwordFailures, user.id);
    let row: UserRow;
    try {
      row = await changePassword(db, user.id, currentPassword, newPassword, clientIp(req));
    } catch (err) {
      if (err instanceof AppError && err.code === 'wrong_password') await passwordFailures.hit(user.id);
      throw err;
    }
    // Every older token is revoked; this answer carries the session on.
    res.setHeader('Cache-Control', 'no-store');
    res.json(issue(row));
  });

  router.post('/api/v1/auth/password/set', async (req, res) => {
    const { token, password } = parseOr400(passwordSetBody, req.body, 'body');
    await enforceLimits(res, [{ limiter: redemptionsPerIp, subject: clientIp(req) }], 'client');
    const { user, purpose } = await setPasswordWithToken(db, token, password, clientIp(req));
    res.setHeader('Cache-Control', 'no-store');
    res.json({ user: { id: user.id, email: user.email }, purpose });
  });

  return router;
}
