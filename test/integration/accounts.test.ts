/**
 * Accounts on the real stack (Postgres + Temporal via the test helpers): invitation → password → sign-in,
 * admin TOTP enrolment and two-step sign-in on a fixed clock, single-use recovery codes, password reset and
 * change, lockouts, disabled users, role changes, the operators' CLI, and an audit row for each.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { Express } from 'express';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../api/app';
import { DEFAULT_ACCOUNT_LIMITS } from '../../api/auth/settings';
import { repoRoot } from '../../lib/paths';
import { base32Decode, base32Encode, newTotpSecret, totp } from '../../lib/totp';
import { DEMO_PASSWORD, DEMO_USERS, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { FAST_TIMING, startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';
import { assertErrorShape } from '../support/errors';

const run = promisify(execFile);

/** The TOTP clock of the app under test: fixed, moved by hand (any real date works for the rest). */
const T0 = Date.UTC(2026, 5, 1, 8, 0, 0);
let clock = T0;

let rc: TestRollcall;
let app: Express;
let admin: string;

/** Each test signs in from its own client address (trusted X-Forwarded-For), so limits do not mix. */
let lastIp = 0;
const newIp = () => `198.51.100.${++lastIp}`;

const GOOD = 'violet staple orbit 42';
const GOOD2 = 'amber ferry lantern 77';

function post(pathname: string, ip: string, bearer?: string) {
  const r = request(app).post(pathname).set('X-Forwarded-For', ip);
  return bearer ? r.set('Authorization', bearer) : r;
}

async function login(email: string, password: string, ip: string) {
  return post('/api/v1/auth/login', ip).send({ email, password });
}

async function invite(email: string, name: string, role: 'admin' | 'teacher') {
  const res = await post('/api/v1/admin/users', newIp(), admin).send({ email, name, role });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { user: { id: string; status: string }; invite: { token: string; expiresAt: string } };
}

/** An invited user with a password set: their id. */
async function activeUser(email: string, name: string, role: 'admin' | 'teacher'): Promise<string> {
  const { user, invite: inv } = await invite(email, name, role);
  const set = await post('/api/v1/auth/password/set', newIp()).send({ token: inv.token, password: GOOD });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  return user.id;
}

const code = (secret: string, at = clock) => totp(base32Decode(secret), at);

async function storedSecret(userId: string): Promise<string> {
  const row = await rc.database.db('users').where({ id: userId }).first('totp_secret');
  return row.totp_secret as string;
}

async function actions(userId: string): Promise<string[]> {
  return rc.database
    .db('audit_log')
    .where({ entity: 'user', entity_id: userId })
    .orderBy('id')
    .pluck('action');
}

/** Enrols TOTP with a full or enrolment token; answers the secret and recovery codes. */
async function enrolTotp(bearer: string, ip: string) {
  const start = await post('/api/v1/auth/mfa/totp', ip, bearer);
  assert.equal(start.status, 200, JSON.stringify(start.body));
  const secret = start.body.secret as string;
  const ok = await post('/api/v1/auth/mfa/totp/confirm', ip, bearer).send({ code: code(secret) });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  return { secret, recoveryCodes: ok.body.recoveryCodes as string[], token: ok.body.token as string };
}

void describe('accounts (real Postgres + Temporal)', () => {
  before(async () => {
    rc = await startTestRollcall();
    await seedDemoSchool(rc.database.db);
    app = createApp({
      db: rc.database.db,
      temporal: rc.temporal.client,
      taskQueue: rc.taskQueue,
      log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      bodyLimit: '256kb',
      earlyMinutes: FAST_TIMING.earlyMinutes,
      graceMinutes: FAST_TIMING.graceMinutes,
      trustProxy: ['loopback'],
      accounts: { adminMfaRequired: true, now: () => clock, limits: DEFAULT_ACCOUNT_LIMITS },
    });
    // The demo admin (published password, DEMO_SEED) is exempt from the admin MFA requirement.
    admin = await bearerFor(app, 'admin');
  });
  after(async () => {
    await rc?.stop();
  });

  void test('when an admin invites a teacher, then the invite token sets a password once and the teacher signs in', async () => {
    const { user, invite: inv } = await invite('ada@school.example', 'Ada Lovelace', 'teacher');
    assert.equal(user.status, 'invited');
    assert.ok(Date.parse(inv.expiresAt) - Date.now() > 6.9 * 24 * 3600_000, 'valid for 7 days');
    const stored = await rc.database.db('user_tokens').where({ user_id: user.id }).first();
    assert.notEqual(stored.token_hash, inv.token, 'only the hash is stored');
    const ip = newIp();
    // No usable password yet.
    assert.equal((await login('ada@school.example', GOOD, ip)).status, 401);
    // A weak password is refused without spending the token.
    const weak = await post('/api/v1/auth/password/set', ip).send({ token: inv.token, password: 'ada-2026' });
    assert.equal(weak.status, 422);
    assertErrorShape(weak);
    assert.ok((weak.body.error.details.problems as string[]).length > 0);
    const asEmail = await post('/api/v1/auth/password/set', ip).send({
      token: inv.token,
      password: 'ada@school.example',
    });
    assert.equal(asEmail.status, 422);
    const set = await post('/api/v1/auth/password/set', ip).send({ token: inv.token, password: GOOD });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body, { user: { id: user.id, email: 'ada@school.example' }, purpose: 'invite' });
    const again = await post('/api/v1/auth/password/set', ip).send({ token: inv.token, password: GOOD2 });
    assert.equal(again.status, 401, 'single use');
    const res = await login('Ada@School.example', GOOD, ip);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.user.role, 'teacher');
    const me = await request(app).get('/api/v1/auth/me').set('Authorization', `Bearer ${res.body.token}`);
    assert.equal(me.body.user.id, user.id);
    // A teacher is not a users admin; an e-mail is invited once.
    const list = await request(app)
      .get('/api/v1/admin/users')
      .set('Authorization', `Bearer ${res.body.token}`);
    assert.equal(list.status, 403);
    const dup = await post('/api/v1/admin/users', ip, admin).send({
      email: 'ADA@school.example',
      name: 'Ada again',
      role: 'teacher',
    });
    assert.equal(dup.status, 409);
    const listed = await request(app).get('/api/v1/admin/users').set('Authorization', admin);
    const ada = (listed.body.users as { id: string; status: string; mfa: boolean }[]).find(
      (u) => u.id === user.id,
    );
    assert.equal(ada?.status, 'active');
    assert.deepEqual(await actions(user.id), [
      'user.invite',
      'auth.login_failed',
      'auth.invite_accepted',
      'auth.login',
    ]);
    const failed = await rc.database
      .db('audit_log')
      .where({ entity_id: user.id, action: 'auth.login_failed' })
      .first();
    assert.equal(failed.reason, 'no_password');
  });

  void test('when a sign-in fails, then the answer does not say whether the e-mail exists, and both are audited', async () => {
    const ip = newIp();
    const unknown = await login('nobody@school.example', GOOD, ip);
    const wrong = await login('ada@school.example', 'not the password at all', ip);
    assert.equal(unknown.status, 401);
    assert.equal(wrong.status, 401);
    assert.deepEqual(unknown.body, wrong.body);
    const rows = await rc.database
      .db('audit_log')
      .where({ action: 'auth.login_failed' })
      .whereRaw("after->>'ip' = ?", [ip])
      .orderBy('id')
      .select('entity_id', 'reason', 'actor');
    assert.deepEqual(
      rows.map((r: { entity_id: string; reason: string }) => [r.entity_id === 'unknown', r.reason]),
      [
        [true, 'unknown_email'],
        [false, 'wrong_password'],
      ],
    );
  });

  void test('when an admin without TOTP signs in, then only enrolment is allowed; with TOTP confirmed a code is due at every sign-in', async () => {
    const id = await activeUser('head@school.example', 'Hedda Head', 'admin');
    const ip = newIp();
    const first = await login('head@school.example', GOOD, ip);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.mfa, 'enrol');
    assert.equal(first.body.token, undefined);
    const enrolBearer = `Bearer ${first.body.enrolToken}`;
    // The enrolment token opens nothing else.
    const users = await request(app).get('/api/v1/admin/users').set('Authorization', enrolBearer);
    assert.equal(users.status, 401);
    assert.match(users.body.error.message, /MFA enrolment/);
    const start = await post('/api/v1/auth/mfa/totp', ip, enrolBearer);
    assert.equal(start.status, 200);
    const secret = start.body.secret as string;
    const uri = new URL(start.body.otpauthUri);
    assert.equal(uri.searchParams.get('secret'), secret);
    assert.equal(uri.searchParams.get('issuer'), 'Rollcall');
    const bad = await post('/api/v1/auth/mfa/totp/confirm', ip, enrolBearer).send({
      code: code(secret, clock + 5 * 60_000),
    });
    assert.equal(bad.status, 422, 'a code 5 minutes off is refused');
    const ok = await post('/api/v1/auth/mfa/totp/confirm', ip, enrolBearer).send({ code: code(secret) });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const sealed = await storedSecret(id);
    assert.match(sealed, /^v1:[A-Za-z0-9_-]+:/, 'sealed at rest');
    assert.equal(sealed.includes(secret), false, 'the base32 secret is not in the column');
    assert.equal(ok.body.recoveryCodes.length, 10);
    assert.equal(new Set(ok.body.recoveryCodes).size, 10);
    const full = await request(app)
      .get('/api/v1/admin/users')
      .set('Authorization', `Bearer ${ok.body.token}`);
    assert.equal(full.status, 200);
    assert.equal((full.body.users as { id: string; mfa: boolean }[]).find((u) => u.id === id)?.mfa, true);
    const stored = await rc.database.db('user_recovery_codes').where({ user_id: id }).pluck('code_hash');
    assert.equal(stored.length, 10);
    assert.equal(stored.includes(ok.body.recoveryCodes[0]), false, 'stored hashed');

    // Two-step sign-in: password → challenge → code.
    const step1 = await login('head@school.example', GOOD, ip);
    assert.equal(step1.body.mfa, 'totp');
    assert.equal(step1.body.token, undefined);
    const challenge = step1.body.challengeToken as string;
    const asBearer = await request(app).get('/api/v1/auth/me').set('Authorization', `Bearer ${challenge}`);
    assert.equal(asBearer.status, 401, 'a challenge is not an access token');
    // The step used to confirm cannot be used again.
    const reused = await post('/api/v1/auth/login/mfa', ip).send({
      challengeToken: challenge,
      code: code(secret),
    });
    assert.equal(reused.status, 401);
    clock += 30_000;
    const step2 = await post('/api/v1/auth/login/mfa', ip).send({
      challengeToken: challenge,
      code: code(secret),
    });
    assert.equal(step2.status, 200, JSON.stringify(step2.body));
    assert.equal(step2.body.user.id, id);
    const me = await request(app).get('/api/v1/auth/me').set('Authorization', `Bearer ${step2.body.token}`);
    assert.equal(me.status, 200);
    // One step behind (a slow typist) still passes, once.
    const late = await login('head@school.example', GOOD, ip);
    clock += 30_000;
    const behind = await post('/api/v1/auth/login/mfa', ip).send({
      challengeToken: late.body.challengeToken,
      code: code(secret, clock - 30_000),
    });
    assert.equal(behind.status, 401, 'the step before was spent already');
    const current = await post('/api/v1/auth/login/mfa', ip).send({
      challengeToken: late.body.challengeToken,
      code: code(secret),
    });
    assert.equal(current.status, 200);

    const log = await actions(id);
    for (const a of ['auth.login', 'auth.mfa_failed', 'auth.mfa_enrolled'])
      assert.ok(log.includes(a), `${a} in ${log.join(', ')}`);
    const totpLogins = await rc.database
      .db('audit_log')
      .where({ entity_id: id, action: 'auth.login' })
      .whereRaw("after->>'factor' = 'totp'");
    // The confirmation with the enrolment token completed a sign-in too.
    assert.equal(totpLogins.length, 3);

    // Recovery codes: each works once instead of a code.
    const recovery = ok.body.recoveryCodes[3] as string;
    const r1 = await login('head@school.example', GOOD, ip);
    const used = await post('/api/v1/auth/login/mfa', ip).send({
      challengeToken: r1.body.challengeToken,
      code: recovery.toUpperCase(),
    });
    assert.equal(used.status, 200, JSON.stringify(used.body));
    const r2 = await login('head@school.example', GOOD, ip);
    const twice = await post('/api/v1/auth/login/mfa', ip).send({
      challengeToken: r2.body.challengeToken,
      code: recovery,
    });
    assert.equal(twice.status, 401, 'a recovery code works once');
    const row = await rc.database
      .db('audit_log')
      .where({ entity_id: id, action: 'auth.recovery_code_used' })
      .first();
    assert.equal(row.after.remaining, 9);
  });

  void test('when a row still holds a clear TOTP secret from before sealing, then its codes still work and the first one seals it', async () => {
    const id = await activeUser('lena@school.example', 'Lena Legacy', 'teacher');
    const secret = base32Encode(newTotpSecret());
    await rc.database
      .db('users')
      .where({ id })
      .update({ totp_secret: secret, totp_confirmed_at: rc.database.db.fn.now(), totp_last_step: null });
    const ip = newIp();
    const step1 = await login('lena@school.example', GOOD, ip);
    assert.equal(step1.body.mfa, 'totp');
    clock += 30_000;
    const step2 = await post('/api/v1/auth/login/mfa', ip).send({
      challengeToken: step1.body.challengeToken,
      code: code(secret),
    });
    assert.equal(step2.status, 200, JSON.stringify(step2.body));
    const sealed = await storedSecret(id);
    assert.match(sealed, /^v1:/, 'sealed by the successful code');
    assert.equal(sealed.includes(secret), false);
    // The same authenticator keeps working from the sealed row; the spent step still cannot be replayed.
    const again = await login('lena@school.example', GOOD, ip);
    const replay = await post('/api/v1/auth/login/mfa', ip).send({
      challengeToken: again.body.challengeToken,
      code: code(secret),
    });
    assert.equal(replay.status, 401);
    clock += 30_000;
    const next = await post('/api/v1/auth/login/mfa', ip).send({
      challengeToken: again.body.challengeToken,
      code: code(secret),
    });
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.equal(await storedSecret(id), sealed, 'sealed under the active key: not sealed again');
  });

  void test("when a sealed TOTP secret is copied onto another user's row, then it does not verify there", async () => {
    const fromId = await activeUser('sam@school.example', 'Sam Source', 'teacher');
    const ip = newIp();
    const first = await login('sam@school.example', GOOD, ip);
    const { secret } = await enrolTotp(`Bearer ${first.body.token}`, ip);
    const toId = await activeUser('cora@school.example', 'Cora Copy', 'teacher');
    await rc.database
      .db('users')
      .where({ id: toId })
      .update({ totp_secret: await storedSecret(fromId), totp_confirmed_at: rc.database.db.fn.now() });
    clock += 30_000;
    const step1 = await login('cora@school.example', GOOD, ip);
    assert.equal(step1.body.mfa, 'totp');
    const res = await post('/api/v1/auth/login/mfa', ip).send({
      challengeToken: step1.body.challengeToken,
      code: code(secret),
    });
    // Not a wrong code but a row that cannot be opened: a server error without internals, logged for operators.
    assert.equal(res.status, 500, JSON.stringify(res.body));
    assert.equal(res.body.token, undefined);
    assert.equal(JSON.stringify(res.body).includes(secret), false);
  });

  void test('when second factors keep failing, then the account is locked for the window, even for the right code', async () => {
    const id = await activeUser('tom@school.example', 'Tom Teacher', 'teacher');
    const ip = newIp();
    // MFA is optional for teachers: Tom signs in with a password, then turns it on.
    const plain = await login('tom@school.example', GOOD, ip);
    assert.ok(plain.body.token, 'a teacher without TOTP gets a token at once');
    const { secret } = await enrolTotp(`Bearer ${plain.body.token}`, ip);
    clock += 30_000;
    const step1 = await login('tom@school.example', GOOD, ip);
    const challengeToken = step1.body.challengeToken as string;
    const wrong = code(secret) === '000000' ? '111111' : '000000';
    for (let i = 0; i < DEFAULT_ACCOUNT_LIMITS.mfaFailuresPerUser.limit; i++) {
      const r = await post('/api/v1/auth/login/mfa', ip).send({ challengeToken, code: wrong });
      assert.equal(r.status, 401, `attempt ${i + 1}`);
    }
    const locked = await post('/api/v1/auth/login/mfa', ip).send({ challengeToken, code: code(secret) });
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers['retry-after']) >= 1);
    assertErrorShape(locked);
    const failures = (await actions(id)).filter((a) => a === 'auth.mfa_failed');
    assert.equal(failures.length, DEFAULT_ACCOUNT_LIMITS.mfaFailuresPerUser.limit);
  });

  void test('when passwords keep failing from one address, then sign-in is refused with 429 even for the right one', async () => {
    const id = await activeUser('lock@school.example', 'Lou Locked', 'teacher');
    const ip = newIp();
    let status = 0;
    let attempts = 0;
    while (attempts < 50) {
      attempts++;
      status = (await login('lock@school.example', `wrong password ${attempts}`, ip)).status;
      if (status !== 401) break;
    }
    assert.equal(status, 429);
    assert.equal((await login('lock@school.example', GOOD, ip)).status, 429);
    const failed = (await actions(id)).filter((a) => a === 'auth.login_failed');
    assert.equal(failed.length, attempts - 1);
  });

  void test('when a reset token is issued, then it sets a new password once, revokes old tokens, and expires after an hour', async () => {
    const id = await activeUser('rita@school.example', 'Rita Reset', 'teacher');
    const ip = newIp();
    const before = await login('rita@school.example', GOOD, ip);
    const oldBearer = `Bearer ${before.body.token}`;
    const reset = await post(`/api/v1/admin/users/${id}/password-reset`, ip, admin);
    assert.equal(reset.status, 201, JSON.stringify(reset.body));
    assert.equal(reset.body.purpose, 'reset');
    const ttl = Date.parse(reset.body.expiresAt) - Date.now();
    assert.ok(ttl > 50 * 60_000 && ttl <= 61 * 60_000, `reset valid for an hour (${ttl} ms)`);
    const set = await post('/api/v1/auth/password/set', ip).send({
      token: reset.body.token,
      password: GOOD2,
    });
    assert.equal(set.status, 200);
    assert.equal(set.body.purpose, 'reset');
    const stale = await request(app).get('/api/v1/auth/me').set('Authorization', oldBearer);
    assert.equal(stale.status, 401, 'tokens from before the reset are revoked');
    assert.equal((await login('rita@school.example', GOOD, ip)).status, 401);
    const fresh = await login('rita@school.example', GOOD2, ip);
    assert.equal(fresh.status, 200);
    const me = await request(app).get('/api/v1/auth/me').set('Authorization', `Bearer ${fresh.body.token}`);
    assert.equal(me.status, 200, 'a token issued right after the reset is good');
    // An expired token sets nothing.
    const second = await post(`/api/v1/admin/users/${id}/password-reset`, ip, admin);
    await rc.database
      .db('user_tokens')
      .where({ user_id: id })
      .whereNull('used_at')
      .update({ expires_at: rc.database.db.raw("now() - interval '1 minute'") });
    const expired = await post('/api/v1/auth/password/set', ip).send({
      token: second.body.token,
      password: GOOD,
    });
    assert.equal(expired.status, 401);
    const log = await actions(id);
    assert.deepEqual(
      log.filter((a) => a.startsWith('user.password') || a === 'auth.password_reset'),
      ['user.password_reset_issued', 'auth.password_reset', 'user.password_reset_issued'],
    );
  });

  void test('when a user changes their password, then the current one is required, the policy applies and old tokens stop', async () => {
    const id = await activeUser('cara@school.example', 'Cara Change', 'teacher');
    const ip = newIp();
    const bearer = `Bearer ${(await login('cara@school.example', GOOD, ip)).body.token}`;
    const wrong = await post('/api/v1/auth/password', ip, bearer).send({
      currentPassword: 'not it at all',
      newPassword: GOOD2,
    });
    assert.equal(wrong.status, 422);
    assert.equal(wrong.body.error.code, 'wrong_password');
    const weak = await post('/api/v1/auth/password', ip, bearer).send({
      currentPassword: GOOD,
      newPassword: 'password1234',
    });
    assert.equal(weak.status, 422);
    assert.equal(weak.body.error.code, 'weak_password');
    const ok = await post('/api/v1/auth/password', ip, bearer).send({
      currentPassword: GOOD,
      newPassword: GOOD2,
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await request(app).get('/api/v1/auth/me').set('Authorization', bearer)).status, 401);
    const next = await request(app).get('/api/v1/auth/me').set('Authorization', `Bearer ${ok.body.token}`);
    assert.equal(next.status, 200);
    assert.equal((await login('cara@school.example', GOOD2, ip)).status, 200);
    const log = await actions(id);
    assert.ok(log.includes('auth.password_change_failed'));
    assert.ok(log.includes('auth.password_changed'));
  });

  void test('when a user is disabled, then their token stops at once and sign-in fails like a wrong password; enabling restores it', async () => {
    const id = await activeUser('dora@school.example', 'Dora Disabled', 'teacher');
    const ip = newIp();
    const bearer = `Bearer ${(await login('dora@school.example', GOOD, ip)).body.token}`;
    assert.equal((await request(app).get('/api/v1/auth/me').set('Authorization', bearer)).status, 200);
    const off = await post(`/api/v1/admin/users/${id}/disable`, ip, admin).send({
      reason: 'left the school',
    });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.user.status, 'disabled');
    const rejected = await request(app).get('/api/v1/auth/me').set('Authorization', bearer);
    assert.equal(rejected.status, 401);
    assertErrorShape(rejected);
    const signIn = await login('dora@school.example', GOOD, ip);
    const wrong = await login('dora@school.example', 'some other password', ip);
    assert.equal(signIn.status, 401);
    assert.deepEqual(signIn.body, wrong.body);
    assert.equal((await post(`/api/v1/admin/users/${id}/password-reset`, ip, admin)).status, 409);
    // Nothing is deleted; the admin cannot disable themselves.
    assert.ok(await rc.database.db('users').where({ id }).first());
    const self = await post('/api/v1/admin/users/u-admin/disable', ip, admin);
    assert.equal(self.status, 409);
    const on = await post(`/api/v1/admin/users/${id}/enable`, ip, admin);
    assert.equal(on.body.user.status, 'active');
    assert.equal(
      (await request(app).get('/api/v1/auth/me').set('Authorization', bearer)).status,
      401,
      'tokens revoked by disabling stay revoked',
    );
    assert.equal((await login('dora@school.example', GOOD, ip)).status, 200);
    const log = await actions(id);
    assert.ok(log.includes('user.disable') && log.includes('user.enable'));
    const refused = await rc.database
      .db('audit_log')
      .where({ entity_id: id, action: 'auth.login_failed', reason: 'disabled' });
    assert.equal(refused.length, 1);
    const disable = await rc.database
      .db('audit_log')
      .where({ entity_id: id, action: 'user.disable' })
      .first();
    assert.equal(disable.reason, 'left the school');
    assert.equal(disable.actor, 'u-admin');
  });

  void test('when the roster import retires a teacher, then their token stops, sign-in fails like a wrong password, and an admin cannot re-enable them by hand', async () => {
    const id = await activeUser('rory@school.example', 'Rory Retired', 'teacher');
    const ip = newIp();
    const bearer = `Bearer ${(await login('rory@school.example', GOOD, ip)).body.token}`;
    assert.equal((await request(app).get('/api/v1/auth/me').set('Authorization', bearer)).status, 200);
    // What activities/rosterImport.ts writes when a bundle no longer lists the teacher.
    await rc.database.db('users').where({ id }).update({ active: false });
    assert.equal((await request(app).get('/api/v1/auth/me').set('Authorization', bearer)).status, 401);
    const signIn = await login('rory@school.example', GOOD, ip);
    assert.equal(signIn.status, 401);
    assert.deepEqual(signIn.body, (await login('rory@school.example', 'some other password', ip)).body);
    const enable = await post(`/api/v1/admin/users/${id}/enable`, ip, admin);
    assertErrorShape(enable, 409);
    assert.equal(enable.body.error.code, 'retired_by_roster');
    const listed = await request(app).get('/api/v1/admin/users').set('Authorization', admin);
    assert.equal(listed.body.users.find((u: { id: string }) => u.id === id)?.status, 'disabled');
  });

  void test('when a role changes, then it is audited, a teacher made admin must enrol MFA, and an admin cannot change their own', async () => {
    const id = await activeUser('pat@school.example', 'Pat Promoted', 'teacher');
    const ip = newIp();
    const bearer = `Bearer ${(await login('pat@school.example', GOOD, ip)).body.token}`;
    const res = await request(app)
      .put(`/api/v1/admin/users/${id}/role`)
      .set('Authorization', admin)
      .send({ role: 'admin' });
    assert.equal(res.status, 200);
    assert.equal(res.body.user.role, 'admin');
    const now = await request(app).get('/api/v1/auth/me').set('Authorization', bearer);
    assert.equal(now.status, 401, 'an admin without MFA has no full session');
    assert.equal((await login('pat@school.example', GOOD, ip)).body.mfa, 'enrol');
    const self = await request(app)
      .put('/api/v1/admin/users/u-admin/role')
      .set('Authorization', admin)
      .send({ role: 'teacher' });
    assert.equal(self.status, 409);
    const row = await rc.database.db('audit_log').where({ entity_id: id, action: 'user.role' }).first();
    assert.deepEqual([row.before, row.after, row.actor], [{ role: 'teacher' }, { role: 'admin' }, 'u-admin']);
    const missing = await request(app)
      .put('/api/v1/admin/users/u-nobody/role')
      .set('Authorization', admin)
      .send({ role: 'admin' });
    assert.equal(missing.status, 404);
  });

  void test('when a teacher turns TOTP off with a code, then sign-in needs only the password again', async () => {
    const id = await activeUser('otto@school.example', 'Otto Optional', 'teacher');
    const ip = newIp();
    const first = await login('otto@school.example', GOOD, ip);
    const { secret, token } = await enrolTotp(`Bearer ${first.body.token}`, ip);
    clock += 30_000;
    const bad = await post('/api/v1/auth/mfa/totp/disable', ip, `Bearer ${token}`).send({ code: '12345a' });
    assert.equal(bad.status, 400);
    const off = await post('/api/v1/auth/mfa/totp/disable', ip, `Bearer ${token}`).send({
      code: code(secret),
    });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    const again = await login('otto@school.example', GOOD, ip);
    assert.ok(again.body.token);
    const log = await actions(id);
    assert.ok(log.includes('auth.mfa_enrolled') && log.includes('auth.mfa_disabled'));
  });

  void test('when the demo admin signs in (DEMO_SEED), then it is exempt from the admin MFA requirement', async () => {
    const res = await login(DEMO_USERS.admin, DEMO_PASSWORD, newIp());
    assert.equal(res.status, 200);
    assert.ok(res.body.token);
    assert.ok((await actions('u-admin')).includes('auth.login'));
  });

  void test('when an operator runs `npm run users -- invite` and `reset`, then the token is printed once and redeemable', async () => {
    const env = {
      ...process.env,
      NODE_ENV: 'test' as const,
      LOG_LEVEL: 'silent',
      DATABASE_URL: rc.database.url,
    };
    const cli = (args: string[]) =>
      run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts', 'users.ts'), ...args], {
        cwd: repoRoot,
        env,
        timeout: 120_000,
      });
    const invited = await cli(['invite', 'cli@school.example', 'Cleo Cli', 'teacher']);
    const token = invited.stdout.trim();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.match(invited.stderr, /password\/set/);
    const ip = newIp();
    const set = await post('/api/v1/auth/password/set', ip).send({ token, password: GOOD });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const reset = await cli(['reset', 'cli@school.example']);
    const set2 = await post('/api/v1/auth/password/set', ip).send({
      token: reset.stdout.trim(),
      password: GOOD2,
    });
    assert.equal(set2.body.purpose, 'reset');
    assert.equal((await login('cli@school.example', GOOD2, ip)).status, 200);
    const row = await rc.database
      .db('audit_log')
      .where({ action: 'user.invite' })
      .whereRaw("after->>'email' = ?", ['cli@school.example'])
      .first();
    assert.match(row.actor, /^cli:/);
  });

  void test('when invite and reset tokens are guessed from one address, then redemption is limited', async () => {
    const ip = newIp();
    const statuses: number[] = [];
    for (let i = 0; i <= DEFAULT_ACCOUNT_LIMITS.tokenRedemptionsPerIp.limit; i++) {
      const token = Buffer.alloc(32, i).toString('base64url');
      statuses.push((await post('/api/v1/auth/password/set', ip).send({ token, password: GOOD })).status);
    }
    assert.deepEqual(statuses, [...Array(DEFAULT_ACCOUNT_LIMITS.tokenRedemptionsPerIp.limit).fill(401), 429]);
  });
});
