/**
 * Account use cases, shared by the API (api/auth/routes.ts, api/auth/users.ts) and the operators' CLI
 * (scripts/users.ts): invite, one-time tokens (invite 7 days, reset 1 hour; SHA-256 stored, single use),
 * passwords (policy, change, set from a token), TOTP enrolment and second factors (TOTP or single-use
 * recovery codes), role changes and disabling (never deleting). Every change writes an audit_log row
 * (entity `user`).
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Role } from '../../lib/jwt';
import {
  hashOneTimeToken,
  hashPassword,
  newOneTimeToken,
  passwordProblems,
  verifyPassword,
} from '../../lib/passwords';
import { base32Encode, newTotpSecret, otpauthUri, verifyTotp } from '../../lib/totp';
import { AppError } from '../errors';
import { revokeTokens, type AccountSettings } from './settings';

export const INVITE_TTL_MS = 7 * 24 * 60 * 60 * 1000;
export const RESET_TTL_MS = 60 * 60 * 1000;
export const RECOVERY_CODE_COUNT = 10;

export interface UserRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  password_hash: string | null;
  created_at: Date;
  disabled_at: Date | null;
  /** False when the school's roster (OneRoster import) no longer lists the teacher. */
  active: boolean;
  tokens_valid_after: Date | null;
  password_changed_at: Date | null;
  last_login_at: Date | null;
  /** Sealed (lib/crypto/totpSecrets.ts), or clear base32 in rows from before sealing until their next code. */
  totp_secret: string | null;
  totp_confirmed_at: Date | null;
  totp_last_step: string | number | null;
  /** Null: a district admin. */
  school_id: string | null;
}

export type UserStatus = 'active' | 'invited' | 'disabled';

export interface UserView {
  id: string;
  email: string;
  name: string;
  role: Role;
  status: UserStatus;
  mfa: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}

/**
 * Whether the account may not be used: an admin disabled it (disabled_at), or the school's roster retired the
 * teacher (active = false, set by the OneRoster import). Two facts, kept apart so that a roster re-import never
 * re-enables an account an admin disabled; either one closes the account.
 */
export function accountClosed(u: Pick<UserRow, 'disabled_at' | 'active'>): boolean {
  return u.disabled_at !== null || u.active === false;
}

export function userView(u: UserRow): UserView {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    status: accountClosed(u) ? 'disabled' : u.password_hash ? 'active' : 'invited',
    mfa: u.totp_confirmed_at !== null,
    createdAt: u.created_at.toISOString(),
    lastLoginAt: u.last_login_at?.toISOString() ?? null,
  };
}

export async function userById(db: Knex, id: string): Promise<UserRow | undefined> {
  return db<UserRow>('users').where({ id }).first();
}

export async function userByEmail(db: Knex, email: string): Promise<UserRow | undefined> {
  return db<UserRow>('users').whereRaw('lower(email) = lower(?)', [email.trim()]).first();
}

export interface AuditEntry {
  actor: string;
  action: string;
  /** The user the row is about; `unknown` for a sign-in with an e-mail that has no account. */
  userId: string;
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  reason?: string;
}

export async function audit(db: Knex, e: AuditEntry): Promise<void> {
  await db('audit_log').insert({
    actor: e.actor,
    action: e.action,
    entity: 'user',
    entity_id: e.userId,
    before: e.before ? JSON.stringify(e.before) : null,
    after: e.after ? JSON.stringify(e.after) : null,
    reason: e.reason ?? null,
  });
}

function notFound(id: string): AppError {
  return new AppError(404, 'not_found', `user ${id} does not exist`);
}

/** 422 naming every rule the password breaks. */
export function assertAcceptablePassword(password: string, account: { email: string; name: string }): void {
  const problems = passwordProblems(password, account);
  if (problems.length > 0)
    throw new AppError(422, 'weak_password', `the password ${problems.join('; ')}`, { problems });
}

// ── Invitations and one-time tokens ─────────────────────────────────────────────────────────────────

export interface IssuedToken {
  token: string;
  purpose: 'invite' | 'reset';
  expiresAt: string;
}

async function issueToken(
  trx: Knex,
  userId: string,
  purpose: 'invite' | 'reset',
  actor: string,
): Promise<IssuedToken> {
  // One live token per account: a new one replaces whatever was sent before.
  await trx('user_tokens').where({ user_id: userId }).whereNull('used_at').update({ used_at: trx.fn.now() });
  const { token, hash } = newOneTimeToken();
  const ttlMs = purpose === 'invite' ? INVITE_TTL_MS : RESET_TTL_MS;
  const [row] = await trx('user_tokens')
    .insert({
      token_hash: hash,
      user_id: userId,
      purpose,
      created_by: actor,
      expires_at: trx.raw('now() + make_interval(secs => ?)', [ttlMs / 1000]),
    })
    .returning<{ expires_at: Date }[]>('expires_at');
  return { token, purpose, expiresAt: row!.expires_at.toISOString() };
}

/** A new account with no usable password and an invite token (7 days). 409 when the e-mail is taken. */
export async function inviteUser(
  db: Knex,
  input: { email: string; name: string; role: Role },
  actor: string,
): Promise<{ user: UserView; invite: IssuedToken }> {
  const email = input.email.trim();
  try {
    return await db.transaction(async (trx) => {
      if (await userByEmail(trx, email))
        throw new AppError(409, 'email_taken', 'a user with this e-mail address exists');
      const id = `u-${crypto.randomUUID()}`;
      const [row] = await trx<UserRow>('users')
        .insert({ id, email, name: input.name, role: input.role })
        .returning('*');
      const invite = await issueToken(trx, id, 'invite', actor);
      await audit(trx, {
        actor,
        action: 'user.invite',
        userId: id,
        after: { email, name: input.name, role: input.role, expiresAt: invite.expiresAt },
      });
      return { user: userView(row!), invite };
    });
  } catch (err) {
    // Two invitations of one address at once: the unique index decides.
    if ((err as { code?: string }).code === '23505')
      throw new AppError(409, 'email_taken', 'a user with this e-mail address exists');
    throw err;
  }
}

/**
 * A token to set the password: `reset` (1 hour) for an account that has one, a fresh `invite` (7 days) for
 * one that never accepted its invitation. 409 for a disabled account.
 */
export async function issuePasswordToken(db: Knex, userId: string, actor: string): Promise<IssuedToken> {
  return db.transaction(async (trx) => {
    const user = await trx<UserRow>('users').where({ id: userId }).forUpdate().first();
    if (!user) throw notFound(userId);
    if (user.disabled_at)
      throw new AppError(409, 'user_disabled', 'the account is disabled; enable it first');
    const purpose = user.password_hash ? 'reset' : 'invite';
    const issued = await issueToken(trx, userId, purpose, actor);
    await audit(trx, {
      actor,
      action: purpose === 'reset' ? 'user.password_reset_issued' : 'user.invite_reissued',
      userId,
      after: { expiresAt: issued.expiresAt },
    });
    return issued;
  });
}

/**
 * Sets the password from an invite or reset token: the token must exist, be unused, unexpired and belong
 * to an enabled account (401 otherwise, without saying which); the password must pass the policy (422,
 * checked before the token is spent). Every other token of the account dies and every session is revoked.
 */
export async function setPasswordWithToken(
  db: Knex,
  token: string,
  password: string,
  ip: string,
): Promise<{ user: UserView; purpose: 'invite' | 'reset' }> {
  const hash = hashOneTimeToken(token);
  const invalid = () =>
    new AppError(401, 'invalid_token', 'the link is invalid, used or expired; ask an admin for a new one');
  const live = await db('user_tokens as t')
    .join('users as u', 'u.id', 't.user_id')
    .where({ 't.token_hash': hash })
    .whereNull('t.used_at')
    .whereNull('u.disabled_at')
    .where('t.expires_at', '>', db.fn.now())
    .first<{ user_id: string; email: string; name: string } | undefined>('t.user_id', 'u.email', 'u.name');
  if (!live) throw invalid();
  assertAcceptablePassword(password, live);
  const passwordHash = await hashPassword(password);
  return db.transaction(async (trx) => {
    const spent = await trx('user_tokens')
      .where({ token_hash: hash })
      .whereNull('used_at')
      .where('expires_at', '>', trx.fn.now())
      .update({ used_at: trx.fn.now() })
      .returning<{ user_id: string; purpose: 'invite' | 'reset' }[]>(['user_id', 'purpose']);
    if (spent.length === 0) throw invalid();
    const { user_id: userId, purpose } = spent[0]!;
    await trx('user_tokens')
      .where({ user_id: userId })
      .whereNull('used_at')
      .update({ used_at: trx.fn.now() });
    const [row] = await trx<UserRow>('users')
      .where({ id: userId, active: true })
      .whereNull('disabled_at')
      .update({
        password_hash: passwordHash,
        password_changed_at: trx.fn.now(),
        tokens_valid_after: revokeTokens(trx),
      })
      .returning('*');
    if (!row) throw invalid();
    await audit(trx, {
      actor: userId,
      action: purpose === 'invite' ? 'auth.invite_accepted' : 'auth.password_reset',
      userId,
      after: { ip },
    });
    return { user: userView(row), purpose };
  });
}

/** The signed-in user's own change: the current password is required (422 when wrong), sessions revoked. */
export async function changePassword(
  db: Knex,
  userId: string,
  current: string,
  next: string,
  ip: string,
): Promise<UserRow> {
  const user = await userById(db, userId);
  if (!user) throw notFound(userId);
  if (!(await verifyPassword(current, user.password_hash))) {
    await audit(db, { actor: userId, action: 'auth.password_change_failed', userId, after: { ip } });
    throw new AppError(422, 'wrong_password', 'the current password is wrong');
  }
  assertAcceptablePassword(next, user);
  if (await verifyPassword(next, user.password_hash))
    throw new AppError(422, 'weak_password', 'the new password must differ from the current one', {
      problems: ['must differ from the current password'],
    });
  const passwordHash = await hashPassword(next);
  return db.transaction(async (trx) => {
    const [row] = await trx<UserRow>('users')
      .where({ id: userId })
      .update({
        password_hash: passwordHash,
        password_changed_at: trx.fn.now(),
        tokens_valid_after: revokeTokens(trx),
      })
      .returning('*');
    await audit(trx, { actor: userId, action: 'auth.password_changed', userId, after: { ip } });
    return row!;
  });
}

// ── TOTP and recovery codes ─────────────────────────────────────────────────────────────────────────

/** A new (unconfirmed) secret; 409 when TOTP is already on (disable it first to change authenticator). */
export async function startTotpEnrolment(
  db: Knex,
  userId: string,
  settings: AccountSettings,
): Promise<{ secret: string; otpauthUri: string }> {
  const user = await userById(db, userId);
  if (!user) throw notFound(userId);
  if (user.totp_confirmed_at)
    throw new AppError(409, 'mfa_already_enabled', 'TOTP is already enabled; disable it first to replace it');
  const secret = newTotpSecret();
  await db('users')
    .where({ id: userId })
    .whereNull('totp_confirmed_at')
    .update({ totp_secret: settings.totpSecrets.seal(secret, userId), totp_last_step: null });
  return {
    secret: base32Encode(secret),
    otpauthUri: otpauthUri({ issuer: settings.issuer, account: user.email, secret }),
  };
}

/** Recovery codes as shown once: 10 base32 characters in two groups (50 bits each). */
function newRecoveryCode(): string {
  const raw = base32Encode(crypto.randomBytes(7)).slice(0, 10).toLowerCase();
  return `${raw.slice(0, 5)}-${raw.slice(5)}`;
}

export const RECOVERY_CODE_PATTERN = /^[A-Za-z2-7]{5}-?[A-Za-z2-7]{5}$/;

function hashRecoveryCode(code: string): string {
  return crypto.createHash('sha256').update(code.replace('-', '').toLowerCase(), 'utf8').digest('hex');
}

async function replaceRecoveryCodes(trx: Knex, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await trx('user_recovery_codes').where({ user_id: userId }).delete();
  await trx('user_recovery_codes').insert(
    codes.map((c) => ({ user_id: userId, code_hash: hashRecoveryCode(c) })),
  );
  return codes;
}

/**
 * The column update that seals a secret again after a code proved it: a legacy clear row (from before
 * sealing) or one under a key that is no longer active (rotation) moves to the active key; others stay.
 */
function resealed(
  stored: string,
  secret: Buffer,
  userId: string,
  settings: AccountSettings,
): { totp_secret?: string } {
  return settings.totpSecrets.needsReseal(stored)
    ? { totp_secret: settings.totpSecrets.seal(secret, userId) }
    : {};
}

/** The user's second factor failed: counted (lockout) and audited by the caller. */
export class SecondFactorRejected extends AppError {
  constructor(status: 401 | 422) {
    super(status, 'invalid_code', 'the code is wrong, expired or already used');
  }
}

/**
 * Confirms the pending secret with a current code: TOTP is on from now, its step is spent, and 10 recovery
 * codes are answered (once; only their hashes are kept).
 */
export async function confirmTotp(
  db: Knex,
  userId: string,
  code: string,
  settings: AccountSettings,
  ip: string,
): Promise<string[]> {
  const user = await userById(db, userId);
  if (!user) throw notFound(userId);
  if (user.totp_confirmed_at) throw new AppError(409, 'mfa_already_enabled', 'TOTP is already enabled');
  const stored = user.totp_secret;
  if (!stored)
    throw new AppError(409, 'mfa_not_started', 'start with POST /api/v1/auth/mfa/totp to get a secret');
  const secret = settings.totpSecrets.open(stored, userId);
  const step = verifyTotp(secret, code, settings.now());
  if (step === null) {
    await audit(db, { actor: userId, action: 'auth.mfa_failed', userId, after: { ip, stage: 'enrol' } });
    throw new SecondFactorRejected(422);
  }
  return db.transaction(async (trx) => {
    const confirmed = await trx('users')
      .where({ id: userId, totp_secret: stored })
      .whereNull('totp_confirmed_at')
      .update({
        totp_confirmed_at: trx.fn.now(),
        totp_last_step: step,
        ...resealed(stored, secret, userId, settings),
      });
    if (confirmed === 0)
      throw new AppError(409, 'mfa_changed', 'the enrolment changed meanwhile; start again');
    const codes = await replaceRecoveryCodes(trx, userId);
    await audit(trx, { actor: userId, action: 'auth.mfa_enrolled', userId, after: { ip, method: 'totp' } });
    return codes;
  });
}

/**
 * Checks a second factor of a user with TOTP on: a 6-digit code of the current step ±1 not older than or
 * equal to the last accepted one, or an unused recovery code. The step or code is spent atomically, so two
 * requests with one code cannot both pass. Null when it does not check out.
 */
export async function spendSecondFactor(
  db: Knex,
  user: UserRow,
  code: string,
  settings: AccountSettings,
): Promise<'totp' | 'recovery_code' | null> {
  if (!user.totp_secret || !user.totp_confirmed_at) return null;
  if (/^\d{6}$/.test(code)) {
    const last = user.totp_last_step === null ? null : Number(user.totp_last_step);
    const secret = settings.totpSecrets.open(user.totp_secret, user.id);
    const step = verifyTotp(secret, code, settings.now(), last);
    if (step === null) return null;
    // Spent only if the secret is still the one the code was checked against (not replaced meanwhile).
    const spent = await db('users')
      .where({ id: user.id, totp_secret: user.totp_secret })
      .where((q) => q.whereNull('totp_last_step').orWhere('totp_last_step', '<', step))
      .update({ totp_last_step: step, ...resealed(user.totp_secret, secret, user.id, settings) });
    return spent === 1 ? 'totp' : null;
  }
  if (!RECOVERY_CODE_PATTERN.test(code)) return null;
  const spent = await db('user_recovery_codes')
    .where({ user_id: user.id, code_hash: hashRecoveryCode(code) })
    .whereNull('used_at')
    .update({ used_at: db.fn.now() });
  return spent === 1 ? 'recovery_code' : null;
}

export async function unusedRecoveryCodes(db: Knex, userId: string): Promise<number> {
  const [row] = await db('user_recovery_codes')
    .where({ user_id: userId })
    .whereNull('used_at')
    .count<{ n: string }[]>('* as n');
  return Number(row?.n ?? 0);
}

/**
 * Turns TOTP off (a code or recovery code is required). An admin who must use MFA is signed out everywhere:
 * the next sign-in enrols a new authenticator.
 */
export async function disableTotp(
  db: Knex,
  userId: string,
  code: string,
  settings: AccountSettings,
  ip: string,
  mustReenrol: boolean,
): Promise<void> {
  const user = await userById(db, userId);
  if (!user) throw notFound(userId);
  if (!user.totp_confirmed_at) throw new AppError(409, 'mfa_not_enabled', 'TOTP is not enabled');
  const factor = await spendSecondFactor(db, user, code, settings);
  if (!factor) {
    await audit(db, { actor: userId, action: 'auth.mfa_failed', userId, after: { ip, stage: 'disable' } });
    throw new SecondFactorRejected(422);
  }
  await db.transaction(async (trx) => {
    await trx('users')
      .where({ id: userId })
      .update({
        totp_secret: null,
        totp_confirmed_at: null,
        totp_last_step: null,
        ...(mustReenrol ? { tokens_valid_after: revokeTokens(trx) } : {}),
      });
    await trx('user_recovery_codes').where({ user_id: userId }).delete();
    await audit(trx, { actor: userId, action: 'auth.mfa_disabled', userId, after: { ip, with: factor } });
  });
}

/** Clears a user's TOTP by an admin or operator (a lost phone and no recovery code left). */
export async function resetMfa(db: Knex, userId: string, actor: string): Promise<UserView> {
  // One's own authenticator is removed with a code (POST /api/v1/auth/mfa/totp/disable).
  assertNotSelf(actor, userId, 'reset the MFA of');
  return db.transaction(async (trx) => {
    const [row] = await trx<UserRow>('users')
      .where({ id: userId })
      .update({
        totp_secret: null,
        totp_confirmed_at: null,
        totp_last_step: null,
        tokens_valid_after: revokeTokens(trx),
      })
      .returning('*');
    if (!row) throw notFound(userId);
    await trx('user_recovery_codes').where({ user_id: userId }).delete();
    await audit(trx, { actor, action: 'user.mfa_reset', userId });
    return userView(row);
  });
}

// ── Administration ──────────────────────────────────────────────────────────────────────────────────

export async function listUsers(db: Knex): Promise<UserView[]> {
  const rows = await db<UserRow>('users').orderBy('email').select('*');
  return rows.map(userView);
}

async function activeAdminsOtherThan(trx: Knex, userId: string): Promise<number> {
  const [row] = await trx('users')
    .where({ role: 'admin', active: true })
    .whereNull('disabled_at')
    .whereNot({ id: userId })
    .count<{ n: string }[]>('* as n');
  return Number(row?.n ?? 0);
}

function assertNotSelf(actor: string, userId: string, what: string): void {
  if (actor === userId)
    throw new AppError(409, 'own_account', `you cannot ${what} your own account; ask another admin`);
}

export async function changeRole(db: Knex, userId: string, role: Role, actor: string): Promise<UserView> {
  assertNotSelf(actor, userId, 'change the role of');
  return db.transaction(async (trx) => {
    // Serialises role and status changes, so two admins cannot demote each other at once.
    await trx.raw('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
    const user = await trx<UserRow>('users').where({ id: userId }).first();
    if (!user) throw notFound(userId);
    if (user.role === role) return userView(user);
    if (role === 'teacher' && user.school_id === null)
      throw new AppError(
        409,
        'district_admin',
        'a district admin belongs to no school, and a teacher must: invite the person as a teacher of a school instead',
      );
    if (user.role === 'admin' && !user.disabled_at && (await activeAdminsOtherThan(trx, userId)) === 0)
      throw new AppError(409, 'last_admin', 'this is the last active admin');
    const [row] = await trx<UserRow>('users').where({ id: userId }).update({ role }).returning('*');
    await audit(trx, { actor, action: 'user.role', userId, before: { role: user.role }, after: { role } });
    return userView(row!);
  });
}

/** Disables (sessions revoked at once, open tokens spent) or enables an account; nothing is deleted. */
export async function setDisabled(
  db: Knex,
  userId: string,
  disabled: boolean,
  actor: string,
  reason?: string,
): Promise<UserView> {
  assertNotSelf(actor, userId, disabled ? 'disable' : 'enable');
  return db.transaction(async (trx) => {
    await trx.raw('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
    const user = await trx<UserRow>('users').where({ id: userId }).first();
    if (!user) throw notFound(userId);
    if (!disabled && !user.active)
      throw new AppError(
        409,
        'retired_by_roster',
        "the school's roster (OneRoster import) no longer lists this teacher; restore them there and import again",
      );
    if ((user.disabled_at !== null) === disabled) return userView(user);
    if (disabled && user.role === 'admin' && (await activeAdminsOtherThan(trx, userId)) === 0)
      throw new AppError(409, 'last_admin', 'this is the last active admin');
    const [row] = await trx<UserRow>('users')
      .where({ id: userId })
      .update(
        disabled
          ? { disabled_at: trx.fn.now(), tokens_valid_after: revokeTokens(trx) }
          : { disabled_at: null },
      )
      .returning('*');
    if (disabled)
      await trx('user_tokens')
        .where({ user_id: userId })
        .whereNull('used_at')
        .update({ used_at: trx.fn.now() });
    await audit(trx, {
      actor,
      action: disabled ? 'user.disable' : 'user.enable',
      userId,
      before: { status: userView(user).status },
      after: { status: userView(row!).status },
      reason,
    });
    return userView(row!);
  });
}
