/** TOTP secrets at rest (lib/crypto/totpSecrets.ts): sealed text bound to the user, legacy clear rows, rotation. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { loadConfig } from '../../../lib/config';
import {
  TotpSecretCipher,
  totpSecretCipherFromConfig,
  TotpSecretError,
} from '../../../lib/crypto/totpSecrets';
import { base32Encode, newTotpSecret } from '../../../lib/totp';

const keyA = crypto.randomBytes(32);
const keyB = crypto.randomBytes(32);
const cipherA = new TotpSecretCipher(new Map([['k1', keyA]]), 'k1');
const rotated = new TotpSecretCipher(
  new Map([
    ['k1', keyA],
    ['k2', keyB],
  ]),
  'k2',
);

void describe('TOTP secrets at rest', () => {
  void test('when a secret is sealed, then the stored text names its key, is not the base32 secret, and opens for its user', () => {
    const secret = newTotpSecret();
    const stored = cipherA.seal(secret, 'u-1');
    assert.match(stored, /^v1:k1:[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(stored.includes(base32Encode(secret)), false);
    assert.equal(stored.includes(secret.toString('base64')), false);
    assert.deepEqual(cipherA.open(stored, 'u-1'), secret);
    assert.equal(cipherA.needsReseal(stored), false);
  });

  void test("when a sealed secret is copied to another user's row, then it does not open there", () => {
    const stored = cipherA.seal(newTotpSecret(), 'u-1');
    assert.throws(
      () => cipherA.open(stored, 'u-2'),
      (e: Error) =>
        e instanceof TotpSecretError && /TOTP secret of u-2 failed authentication/.test(e.message),
    );
  });

  void test('when the stored text is tampered with or malformed, then opening fails without echoing it', () => {
    const stored = cipherA.seal(newTotpSecret(), 'u-1');
    const body = Buffer.from(stored.split(':')[2]!, 'base64');
    body[body.length - 3] = (body[body.length - 3] as number) ^ 0x10;
    assert.throws(() => cipherA.open(`v1:k1:${body.toString('base64')}`, 'u-1'), TotpSecretError);
    for (const bad of ['v2:k1:AAAA', 'v1::AAAA', 'not base32!', 'v1:k1']) {
      assert.throws(
        () => cipherA.open(bad, 'u-1'),
        (e: Error) => e instanceof TotpSecretError && !e.message.includes(bad),
        bad,
      );
    }
    assert.throws(() => cipherA.open(stored.replace('v1:k1:', 'v1:k9:'), 'u-1'), /unknown key id k9/);
  });

  void test('when a row still holds the legacy clear base32 secret, then it opens and is due for sealing', () => {
    const secret = newTotpSecret();
    const legacy = base32Encode(secret);
    assert.deepEqual(cipherA.open(legacy, 'u-1'), secret);
    assert.equal(cipherA.needsReseal(legacy), true);
  });

  void test('when the keys are rotated, then secrets under the old key open and are due for sealing under the new one', () => {
    const secret = newTotpSecret();
    const old = cipherA.seal(secret, 'u-1');
    assert.deepEqual(rotated.open(old, 'u-1'), secret);
    assert.equal(rotated.needsReseal(old), true);
    const fresh = rotated.seal(secret, 'u-1');
    assert.match(fresh, /^v1:k2:/);
    assert.equal(rotated.needsReseal(fresh), false);
  });
});

void describe('TOTP secret keys from configuration', () => {
  const spec = `old:${keyA.toString('base64')},new:${keyB.toString('base64')}`;

  void test('when production has no SECRET_KEYS, then start-up fails naming the variable', () => {
    assert.throws(
      () => totpSecretCipherFromConfig(loadConfig({ NODE_ENV: 'production' })),
      /SECRET_KEYS is required in production/,
    );
  });

  void test('when SECRET_KEYS lists two keys, then the last seals unless SECRET_ACTIVE_KEY_ID names another', () => {
    assert.equal(
      totpSecretCipherFromConfig(loadConfig({ NODE_ENV: 'production', SECRET_KEYS: spec })).activeKeyId,
      'new',
    );
    const pinned = loadConfig({ NODE_ENV: 'production', SECRET_KEYS: spec, SECRET_ACTIVE_KEY_ID: 'old' });
    assert.equal(totpSecretCipherFromConfig(pinned).activeKeyId, 'old');
    assert.throws(() => loadConfig({ SECRET_KEYS: 'no-colon' }), /SECRET_KEYS/);
  });

  void test('when development has no SECRET_KEYS, then the public development key is used with a warning that names no key', () => {
    const warnings: string[] = [];
    const dev = totpSecretCipherFromConfig(loadConfig({ NODE_ENV: 'development' }), (m) => warnings.push(m));
    assert.equal(dev.activeKeyId, 'dev');
    assert.ok(warnings.length <= 1);
    for (const w of warnings) assert.match(w, /SECRET_KEYS is not set/);
  });
});
