/**
 * People's access tokens: compact JWS, HS256, implemented with node:crypto (no dependency). The header
 * carries the key id; JWT_SIGNING_KEYS lists `kid:secret` pairs, the first signs and every one verifies, so
 * a key is rotated by prepending the new one and removing the old one after JWT_TTL_MINUTES.
 */
import crypto from 'node:crypto';
import { ConfigError, type Config } from './config';

export type Role = 'admin' | 'teacher';

export interface TokenClaims {
  /** users.id */
  sub: string;
  role: Role;
  /** seconds since the epoch */
  iat: number;
  exp: number;
}

export interface JwtSettings {
  /** kid → secret; the first entry signs. */
  keys: ReadonlyMap<string, Buffer>;
  ttlSeconds: number;
  /** `aud` of every token issued; a token without it, or for another audience, is refused. */
  audience: string;
}

export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(
    readonly reason:
      'malformed' | 'bad_signature' | 'unknown_key' | 'expired' | 'not_yet_valid' | 'wrong_audience',
    message: string,
  ) {
    super(message);
  }
}

const ISSUER = 'rollcall';
export const DEFAULT_JWT_AUDIENCE = 'rollcall-api';
const LEEWAY_SECONDS = 30;
export const DEV_JWT_KEY_ID = 'dev';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function hmac(secret: Buffer, data: string): Buffer {
  return crypto.createHmac('sha256', secret).update(data).digest();
}

export function signToken(
  settings: JwtSettings,
  claims: { sub: string; role: Role },
  nowMs = Date.now(),
): { token: string; expiresAt: string } {
  const [kid, secret] = [...settings.keys][0]!;
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + settings.ttlSeconds;
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid }));
  const payload = b64url(
    JSON.stringify({ iss: ISSUER, aud: settings.audience, sub: claims.sub, role: claims.role, iat, exp }),
  );
  const signature = b64url(hmac(secret, `${header}.${payload}`));
  return { token: `${header}.${payload}.${signature}`, expiresAt: new Date(exp * 1000).toISOString() };
}

export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function parseJson(part: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new TokenError('malformed', 'token is not a JWT');
}

/** Verifies signature (constant-time), algorithm, issuer, audience and lifetime; returns the claims. */
export function verifyToken(settings: JwtSettings, token: string, nowMs = Date.now()): TokenClaims {
  if (token.length > 4096 || !JWT_SHAPE.test(token)) throw new TokenError('malformed', 'token is not a JWT');
  const [h, p, s] = token.split('.') as [string, string, string];
  const header = parseJson(h);
  // Only HS256: never "none", never an algorithm chosen by the token.
  if (header.alg !== 'HS256') throw new TokenError('malformed', 'unsupported token algorithm');
  const secret = typeof header.kid === 'string' ? settings.keys.get(header.kid) : undefined;
  if (!secret) throw new TokenError('unknown_key', 'token was signed with an unknown or retired key');
  const expected = hmac(secret, `${h}.${p}`);
  const given = Buffer.from(s, 'base64url');
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new TokenError('bad_signature', 'token signature is invalid');
  }
  const c = parseJson(p);
  const now = Math.floor(nowMs / 1000);
  if (c.iss !== ISSUER || typeof c.sub !== 'string' || (c.role !== 'admin' && c.role !== 'teacher')) {
    throw new TokenError('malformed', 'token claims are invalid');
  }
  // A token minted for another service that shares the key (or an older token without aud) is not ours.
  const audiences = Array.isArray(c.aud) ? c.aud : [c.aud];
  if (!audiences.includes(settings.audience))
    throw new TokenError('wrong_audience', `token is not issued for this API (aud ${settings.audience})`);
  if (typeof c.exp !== 'number' || typeof c.iat !== 'number')
    throw new TokenError('malformed', 'token has no lifetime');
  if (c.exp + LEEWAY_SECONDS <= now) throw new TokenError('expired', 'token has expired');
  if (c.iat - LEEWAY_SECONDS > now) throw new TokenError('not_yet_valid', 'token is not valid yet');
  if (typeof c.nbf === 'number' && c.nbf - LEEWAY_SECONDS > now)
    throw new TokenError('not_yet_valid', 'token is not valid yet');
  // This API never issues a token longer-lived than its TTL: a longer one was not issued by it (a forged
  // 50-year admin token signed with a leaked or development key is refused, not honoured for decades).
  if (c.exp - c.iat > settings.ttlSeconds + LEEWAY_SECONDS)
    throw new TokenError('malformed', 'token lifetime exceeds the maximum this API issues');
  return { sub: c.sub, role: c.role, iat: c.iat, exp: c.exp };
}

export function parseJwtKeys(spec: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const part of spec.split(',')) {
    const sep = part.indexOf(':');
    const kid = part.slice(0, sep);
    if (sep <= 0 || keys.has(kid))
      throw new ConfigError(`JWT_SIGNING_KEYS: key id ${kid || '(empty)'} is missing or repeated`);
    keys.set(kid, Buffer.from(part.slice(sep + 1), 'utf8'));
  }
  return keys;
}

let warnedDevKey = false;

/** Production refuses to start without JWT_SIGNING_KEYS; development and test use a public key, loudly. */
export function jwtSettingsFromConfig(
  cfg: Pick<Config, 'NODE_ENV' | 'JWT_SIGNING_KEYS' | 'JWT_TTL_MINUTES'> &
    Partial<Pick<Config, 'JWT_AUDIENCE'>>,
  warn: (message: string) => void = (m) => process.stderr.write(`\n!!! ${m}\n\n`),
): JwtSettings {
  const ttlSeconds = cfg.JWT_TTL_MINUTES * 60;
  const audience = cfg.JWT_AUDIENCE ?? DEFAULT_JWT_AUDIENCE;
  if (cfg.JWT_SIGNING_KEYS) return { keys: parseJwtKeys(cfg.JWT_SIGNING_KEYS), ttlSeconds, audience };
  if (cfg.NODE_ENV === 'production')
    throw new ConfigError('JWT_SIGNING_KEYS is required in production (people sign in with JWTs)');
  if (!warnedDevKey) {
    warnedDevKey = true;
    warn(
      'JWT_SIGNING_KEYS is not set: access tokens are signed with the PUBLIC development key, so anyone can ' +
        'forge them. Set JWT_SIGNING_KEYS=kid:$(openssl rand -base64 48) outside development.',
    );
  }
  const devKey = crypto.createHash('sha256').update('rollcall development JWT key — not secret').digest();
  return { keys: new Map([[DEV_JWT_KEY_ID, devKey]]), ttlSeconds, audience };
}
