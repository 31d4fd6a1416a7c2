/**
 * Account settings and the short-lived, single-purpose tokens of the two-step sign-in. A scoped token is a
 * JWT like any other but for its own audience (`<JWT_AUDIENCE>/mfa-login`, `…/mfa-enrol`), so the ordinary
 * verification (authenticateUser) refuses it everywhere else as "not issued for this API".
 */
import type { Knex } from 'knex';
import type { Config } from '../../lib/config';
import { totpSecretCipherFromConfig, type TotpSecretCipher } from '../../lib/crypto/totpSecrets';
import {
  signToken,
  TokenError,
  verifyToken,
  type JwtSettings,
  type Role,
  type TokenClaims,
} from '../../lib/jwt';
import type { RateLimitRule } from '../../lib/rateLimiter';
import { DEMO_USERS } from '../../migrations/seeds/demoSchool';

export interface AccountSettings {
  /** ADMIN_MFA_REQUIRED: an admin without confirmed TOTP may sign in only to enrol it. */
  adminMfaRequired: boolean;
  /** Accounts (lower-case e-mail) the admin requirement skips: the demo seed's, while it is seeded. */
  mfaExemptEmails: readonly string[];
  /** The clock TOTP codes are judged by (ms since the epoch); tests fix it. */
  now: () => number;
  /** The issuer authenticator apps show next to the account. */
  issuer: string;
  /** Seals users.totp_secret at rest (SECRET_KEYS). */
  totpSecrets: TotpSecretCipher;
  /**
   * Failed second factors per user (then the account's MFA step is locked for the rest of the window), MFA
   * attempts per client IP, token redemptions per client IP, failed current passwords per user.
   */
  limits: {
    mfaFailuresPerUser: Omit<RateLimitRule, 'name'>;
    mfaPerIp: Omit<RateLimitRule, 'name'>;
    tokenRedemptionsPerIp: Omit<RateLimitRule, 'name'>;
    passwordFailuresPerUser: Omit<RateLimitRule, 'name'>;
  };
}

export const DEFAULT_ACCOUNT_LIMITS: AccountSettings['limits'] = {
  mfaFailuresPerUser: { limit: 5, windowSeconds: 300 },
  mfaPerIp: { limit: 30, windowSeconds: 60 },
  tokenRedemptionsPerIp: { limit: 10, windowSeconds: 60 },
  passwordFailuresPerUser: { limit: 5, windowSeconds: 300 },
};

/**
 * From config: the demo accounts' password is published, so requiring MFA of the demo admin would hand the
 * admin account to whoever enrols first; they are exempt while DEMO_SEED seeds them, never in production.
 */
export function accountSettingsFrom(
  cfg: Pick<Config, 'ADMIN_MFA_REQUIRED' | 'DEMO_SEED' | 'NODE_ENV' | 'SECRET_KEYS' | 'SECRET_ACTIVE_KEY_ID'>,
  overrides: Partial<AccountSettings> = {},
): AccountSettings {
  const demo = cfg.DEMO_SEED && cfg.NODE_ENV !== 'production';
  return {
    adminMfaRequired: cfg.ADMIN_MFA_REQUIRED,
    mfaExemptEmails: demo ? Object.values(DEMO_USERS) : [],
    now: Date.now,
    issuer: 'Rollcall',
    limits: DEFAULT_ACCOUNT_LIMITS,
    ...overrides,
    // Built here, at start-up, so production without SECRET_KEYS refuses to start.
    totpSecrets: overrides.totpSecrets ?? totpSecretCipherFromConfig(cfg),
  };
}

/** What a user must still do after the password: nothing, a TOTP code, or enrol TOTP first. */
export type SecondFactorNeed = 'none' | 'totp' | 'enrol';

export function secondFactorNeed(
  user: { role: Role; email: string; totp_confirmed_at: Date | null },
  settings: Pick<AccountSettings, 'adminMfaRequired' | 'mfaExemptEmails'>,
): SecondFactorNeed {
  if (user.totp_confirmed_at) return 'totp';
  const exempt = settings.mfaExemptEmails.includes(user.email.toLowerCase());
  return user.role === 'admin' && settings.adminMfaRequired && !exempt ? 'enrol' : 'none';
}

/** `mfa-login`: password accepted, a code is due (5 min). `mfa-enrol`: only TOTP enrolment (15 min). */
export type TokenScope = 'mfa-login' | 'mfa-enrol';
const SCOPE_TTL_SECONDS: Record<TokenScope, number> = { 'mfa-login': 300, 'mfa-enrol': 900 };

function scoped(jwt: JwtSettings, scope: TokenScope): JwtSettings {
  return { ...jwt, audience: `${jwt.audience}/${scope}`, ttlSeconds: SCOPE_TTL_SECONDS[scope] };
}

export function signScopedToken(
  jwt: JwtSettings,
  scope: TokenScope,
  claims: { sub: string; role: Role },
  nowMs = Date.now(),
): { token: string; expiresAt: string } {
  return signToken(scoped(jwt, scope), claims, nowMs);
}

/** The claims of a valid token of that scope; null for anything else. */
export function verifyScopedToken(jwt: JwtSettings, scope: TokenScope, token: string): TokenClaims | null {
  try {
    return verifyToken(scoped(jwt, scope), token);
  } catch (err) {
    if (err instanceof TokenError) return null;
    throw err;
  }
}

/**
 * A token issued (iat, whole seconds) before the account's `tokens_valid_after` (password changed or reset,
 * account disabled, MFA removed) is refused.
 */
export function issuedBeforeRevocation(iat: number, tokensValidAfter: Date | null): boolean {
  return tokensValidAfter !== null && iat * 1000 < tokensValidAfter.getTime();
}

/**
 * `tokens_valid_after` for a change made now: the next whole second, so every token issued so far (iat is
 * in whole seconds) is revoked, including one issued earlier in this very second.
 */
export function revocationInstant(nowMs = Date.now()): Date {
  return new Date(Math.floor(nowMs / 1000) * 1000 + 1000);
}

/**
 * The update of `tokens_valid_after` that revokes every token issued so far: the next whole second, or a
 * second after the previous revocation if that is later (a token issued right after it is dated then, see
 * issueTimeFor), so two changes within one second both take effect.
 */
export function revokeTokens(db: Knex, nowMs = Date.now()): Knex.Raw {
  return db.raw(`GREATEST(?::timestamptz, tokens_valid_after + interval '1 second')`, [
    revocationInstant(nowMs).toISOString(),
  ]);
}

/** When to date a new token of the account: now, or its revocation instant if that is (≤ 1 s) ahead. */
export function issueTimeFor(tokensValidAfter: Date | null, nowMs = Date.now()): number {
  return Math.max(nowMs, tokensValidAfter?.getTime() ?? 0);
}
