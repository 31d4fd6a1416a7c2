import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { ConfigError } from '../../../lib/config';
import {
  jwtSettingsFromConfig,
  parseJwtKeys,
  signToken,
  TokenError,
  verifyToken,
  type JwtSettings,
} from '../../../lib/jwt';
import { hashPassword, verifyPassword } from '../../../lib/passwords';

const settings = (spec: string, ttlSeconds = 600, audience = 'rollcall-api'): JwtSettings => ({
  keys: parseJwtKeys(spec),
  ttlSeconds,
  audience,
});
const A = `a:${'x'.repeat(40)}`;
const B = `b:${'y'.repeat(40)}`;

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof TokenError) return e.reason;
    throw e;
  }
  return 'accepted';
}

void describe('JWT (HS256 with key ids)', () => {
  void test('when a token is signed with the first key, then every configured key set that still lists it verifies it (rotation)', () => {
    const { token } = signToken(settings(A), { sub: 'u1', role: 'teacher' });
    assert.equal(verifyToken(settings(`${B},${A}`), token).sub, 'u1');
    assert.equal(
      reason(() => verifyToken(settings(B), token)),
      'unknown_key',
    );
  });

  void test("when a token carries no audience or another one, then it is rejected; this API's audience is accepted", () => {
    const s = settings(A);
    const { token } = signToken(s, { sub: 'u1', role: 'teacher' });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { aud: unknown };
    assert.equal(claims.aud, 'rollcall-api');
    assert.equal(
      reason(() => verifyToken(settings(A, 600, 'other-service'), token)),
      'wrong_audience',
    );
    const signed = (payload: object) => {
      const h = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: 'a' })).toString('base64url');
      const p = Buffer.from(JSON.stringify(payload)).toString('base64url');
      const sig = crypto
        .createHmac('sha256', Buffer.from(A.split(':')[1]!, 'utf8'))
        .update(`${h}.${p}`)
        .digest('base64url');
      return `${h}.${p}.${sig}`;
    };
    const iat = Math.floor(Date.now() / 1000);
    const base = { iss: 'rollcall', sub: 'u1', role: 'admin', iat, exp: iat + 600 };
    assert.equal(
      reason(() => verifyToken(s, signed(base))),
      'wrong_audience',
    );
    assert.equal(
      reason(() => verifyToken(s, signed({ ...base, aud: ['reports', 'rollcall-api'] }))),
      'accepted',
    );
    assert.equal(
      reason(() => verifyToken(s, signed({ ...base, aud: 'rollcall-api-staging' }))),
      'wrong_audience',
    );
  });

  void test('when a token is expired, then it is rejected as expired (with 30 s leeway)', () => {
    const s = settings(A, 60);
    const now = Date.now();
    const { token } = signToken(s, { sub: 'u1', role: 'admin' }, now - 60_000 - 29_000);
    assert.equal(
      reason(() => verifyToken(s, token, now)),
      'accepted',
    );
    assert.equal(
      reason(() => verifyToken(s, token, now + 2_000)),
      'expired',
    );
  });

  void test('when a correctly signed token lives longer than this API ever issues, or is not valid before a later time, then it is rejected', () => {
    const long = settings(A, 50 * 365 * 86_400); // what a forger with the signing key would mint
    const { token } = signToken(long, { sub: 'u-admin', role: 'admin' });
    assert.equal(
      reason(() => verifyToken(settings(A, 600), token)),
      'malformed',
    );
    assert.equal(
      reason(() => verifyToken(long, token)),
      'accepted',
    );
    const s = settings(A, 600);
    const [h, ,] = signToken(s, { sub: 'u1', role: 'teacher' }).token.split('.');
    const iat = Math.floor(Date.now() / 1000);
    const p = Buffer.from(
      JSON.stringify({
        iss: 'rollcall',
        aud: 'rollcall-api',
        sub: 'u1',
        role: 'teacher',
        iat,
        exp: iat + 600,
        nbf: iat + 300,
      }),
    ).toString('base64url');
    const sig = crypto
      .createHmac('sha256', Buffer.from(A.split(':')[1]!, 'utf8'))
      .update(`${h}.${p}`)
      .digest('base64url');
    assert.equal(
      reason(() => verifyToken(s, `${h}.${p}.${sig}`)),
      'not_yet_valid',
    );
  });

  void test('when a token is tampered with, unsigned or garbage, then it is rejected', () => {
    const s = settings(A);
    const { token } = signToken(s, { sub: 'u1', role: 'teacher' });
    const [h, p, sig] = token.split('.') as [string, string, string];
    const admin = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), role: 'admin' }),
    ).toString('base64url');
    const none = Buffer.from(JSON.stringify({ alg: 'none', kid: 'a' })).toString('base64url');
    assert.equal(
      reason(() => verifyToken(s, `${h}.${admin}.${sig}`)),
      'bad_signature',
    );
    assert.equal(
      reason(() => verifyToken(s, `${none}.${p}.${sig}`)),
      'malformed',
    );
    assert.equal(
      reason(() => verifyToken(s, 'not-a-token')),
      'malformed',
    );
    assert.equal(
      reason(() => verifyToken(s, `${h}.${p}.${crypto.randomBytes(32).toString('base64url')}`)),
      'bad_signature',
    );
  });

  void test('when production has no JWT_SIGNING_KEYS, then start-up fails; development warns and uses a dev key', () => {
    assert.throws(() => jwtSettingsFromConfig({ NODE_ENV: 'production', JWT_TTL_MINUTES: 60 }), ConfigError);
    const warnings: string[] = [];
    const dev = jwtSettingsFromConfig({ NODE_ENV: 'development', JWT_TTL_MINUTES: 60 }, (m) =>
      warnings.push(m),
    );
    assert.equal(dev.keys.size, 1);
    assert.ok(warnings.length <= 1);
    assert.equal(
      jwtSettingsFromConfig({ NODE_ENV: 'production', JWT_TTL_MINUTES: 5, JWT_SIGNING_KEYS: `${A},${B}` })
        .ttlSeconds,
      300,
    );
  });
});

void describe('passwords (scrypt)', () => {
  void test('when a password is hashed, then only that password verifies and each hash has its own salt', async () => {
    const h1 = await hashPassword('correct horse');
    const h2 = await hashPassword('correct horse');
    assert.notEqual(h1, h2);
    assert.equal(await verifyPassword('correct horse', h1), true);
    assert.equal(await verifyPassword('correct hors', h1), false);
    assert.equal(await verifyPassword('correct horse', null), false);
    assert.equal(await verifyPassword('x', 'scrypt$garbage'), false);
  });
});
