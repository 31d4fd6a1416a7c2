/** The password policy and one-time tokens of lib/passwords.ts. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import {
  hashOneTimeToken,
  hashPassword,
  newOneTimeToken,
  ONE_TIME_TOKEN_PATTERN,
  passwordProblems,
  verifyPassword,
} from '../../../lib/passwords';
import {
  issuedBeforeRevocation,
  issueTimeFor,
  revocationInstant,
  secondFactorNeed,
} from '../../../api/auth/settings';

const ada = { email: 'ada.lovelace@school.example', name: 'Ada Lovelace' };

void describe('password policy', () => {
  void test('when a long, uncommon password is checked, then it passes', () => {
    assert.deepEqual(passwordProblems('violet staple orbit 42', ada), []);
    assert.deepEqual(passwordProblems('Zürich-Tram-Linie-11', ada), []);
  });

  void test('when a password is shorter than 12 characters, then it is refused', () => {
    assert.deepEqual(passwordProblems('k8#Lm2!qZ0x', ada), ['must be at least 12 characters']);
    // Counted in characters, not bytes or UTF-16 units.
    assert.equal(passwordProblems('ééééééééééé', ada).includes('must be at least 12 characters'), true);
  });

  void test('when a password is the e-mail, contains its local part or is the name, then it is refused', () => {
    for (const p of [
      'ada.lovelace@school.example',
      'ADA.LOVELACE@SCHOOL.EXAMPLE',
      'my-ada.lovelace-2026',
      'ada lovelace',
    ])
      assert.ok(
        passwordProblems(p, { ...ada, name: 'ada lovelace' }).some((m) => m.includes('e-mail')),
        p,
      );
  });

  void test('when a password is common or one repeated character, then it is refused', () => {
    assert.ok(passwordProblems('Password1234', ada).includes('is a commonly used password'));
    assert.ok(passwordProblems('rollcall-demo', ada).includes('is a commonly used password'));
    assert.ok(passwordProblems('aaaaaaaaaaaaaaaa', ada).includes('must not repeat one or two characters'));
    assert.ok(passwordProblems('abababababababab', ada).includes('must not repeat one or two characters'));
  });

  void test('when a password has a control character, then it is refused', () => {
    assert.ok(
      passwordProblems('violet\u0000staple orbit', ada).includes('must not contain control characters'),
    );
  });

  void test('when a policy-conform password is hashed, then only it verifies', async () => {
    const stored = await hashPassword('violet staple orbit 42');
    assert.equal(await verifyPassword('violet staple orbit 42', stored), true);
    assert.equal(await verifyPassword('violet staple orbit 43', stored), false);
  });
});

void describe('one-time tokens', () => {
  void test('when a token is issued, then it is 32 random bytes in base64url and stored as its SHA-256 only', () => {
    const { token, hash } = newOneTimeToken();
    assert.match(token, ONE_TIME_TOKEN_PATTERN);
    assert.equal(Buffer.from(token, 'base64url').length, 32);
    assert.equal(hash, crypto.createHash('sha256').update(token).digest('hex'));
    assert.equal(hashOneTimeToken(token), hash);
    assert.equal(hash.includes(token), false);
  });

  void test('when many tokens are issued, then none repeats', () => {
    const seen = new Set(Array.from({ length: 1000 }, () => newOneTimeToken().token));
    assert.equal(seen.size, 1000);
  });
});

void describe('token revocation and MFA need', () => {
  void test('when a password changes, then tokens issued up to that second are revoked and new ones are good', () => {
    const changedAt = Date.UTC(2026, 0, 5, 9, 0, 0, 400);
    const validAfter = revocationInstant(changedAt);
    const iatBefore = Math.floor(changedAt / 1000);
    assert.equal(issuedBeforeRevocation(iatBefore, validAfter), true);
    const newIat = Math.floor(issueTimeFor(validAfter, changedAt + 10) / 1000);
    assert.equal(issuedBeforeRevocation(newIat, validAfter), false);
    assert.equal(issuedBeforeRevocation(iatBefore, null), false);
  });

  void test('when an admin has no TOTP, then MFA enrolment is due unless exempt or not required', () => {
    const settings = { adminMfaRequired: true, mfaExemptEmails: ['admin@demo.school'] };
    const admin = { role: 'admin' as const, email: 'head@school.example', totp_confirmed_at: null };
    assert.equal(secondFactorNeed(admin, settings), 'enrol');
    assert.equal(secondFactorNeed({ ...admin, email: 'Admin@Demo.School' }, settings), 'none');
    assert.equal(secondFactorNeed(admin, { ...settings, adminMfaRequired: false }), 'none');
    assert.equal(secondFactorNeed({ ...admin, role: 'teacher' }, settings), 'none');
    assert.equal(secondFactorNeed({ ...admin, totp_confirmed_at: new Date() }, settings), 'totp');
  });
});
