/** The one sealing module (lib/crypto/sealed.ts) behind embeddings and TOTP secrets: AES-256-GCM under a keyring. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { ConfigError } from '../../../lib/config';
import { aadOf, Keyring, keyringFromSettings, SealedDataError } from '../../../lib/crypto/sealed';

const keyA = crypto.randomBytes(32);
const keyB = crypto.randomBytes(32);
const aad = aadOf('rollcall/test/v1', 'owner-1');
const plaintext = Buffer.from('a secret worth sealing');

void describe('sealed values', () => {
  const ring = new Keyring(new Map([['k1', keyA]]), 'k1');

  void test('when a value is sealed and opened with the same AAD, then the plaintext comes back and the sealed bytes do not contain it', () => {
    const sealed = ring.seal(plaintext, aad);
    assert.equal(sealed.keyId, 'k1');
    assert.equal(sealed.sealed.length, 1 + 12 + plaintext.length + 16);
    assert.equal(sealed.sealed.includes(plaintext.subarray(0, 8)), false);
    assert.deepEqual(ring.open(sealed, aad, 'test value'), plaintext);
    assert.notDeepEqual(ring.seal(plaintext, aad).sealed, sealed.sealed, 'a fresh nonce each time');
  });

  void test('when the AAD differs (another owner), then opening fails authentication', () => {
    const sealed = ring.seal(plaintext, aad);
    assert.throws(
      () => ring.open(sealed, aadOf('rollcall/test/v1', 'owner-2'), 'test value'),
      (e: Error) => e instanceof SealedDataError && /test value failed authentication/.test(e.message),
    );
    // NUL-separated parts: shifting a character between parts is another AAD.
    assert.notDeepEqual(aadOf('a', 'bc'), aadOf('ab', 'c'));
  });

  void test('when the key id is unknown, then opening fails naming the key id', () => {
    const sealed = ring.seal(plaintext, aad);
    assert.throws(
      () => ring.open({ ...sealed, keyId: 'gone' }, aad, 'test value'),
      /test value sealed with unknown key id gone/,
    );
  });

  void test('when any byte is flipped or the value is truncated, then opening fails', () => {
    const sealed = ring.seal(plaintext, aad);
    for (const at of [0, 5, 20, sealed.sealed.length - 1]) {
      const tampered = Buffer.from(sealed.sealed);
      tampered[at] = (tampered[at] as number) ^ 0x01;
      assert.throws(() => ring.open({ ...sealed, sealed: tampered }, aad, 'v'), SealedDataError);
    }
    assert.throws(
      () => ring.open({ ...sealed, sealed: sealed.sealed.subarray(0, 20) }, aad, 'v'),
      /malformed/,
    );
  });

  void test('when keys are rotated, then old values open with their key id and new ones are sealed with the active key', () => {
    const old = ring.seal(plaintext, aad);
    const rotated = new Keyring(
      new Map([
        ['k1', keyA],
        ['k2', keyB],
      ]),
      'k2',
    );
    assert.deepEqual(rotated.open(old, aad, 'v'), plaintext);
    const fresh = rotated.seal(plaintext, aad);
    assert.equal(fresh.keyId, 'k2');
    assert.throws(() => ring.open(fresh, aad, 'v'), /unknown key id k2/);
    assert.throws(() => rotated.open({ ...old, keyId: 'k2' }, aad, 'v'), /failed authentication/);
  });

  void test('when the caller has its own error type, then failures are of that type', () => {
    class OwnError extends Error {}
    const own = new Keyring(new Map([['k1', keyA]]), 'k1', (m) => new OwnError(m));
    assert.throws(() => own.open({ keyId: 'x', sealed: Buffer.alloc(40) }, aad, 'v'), OwnError);
    assert.throws(() => new Keyring(new Map([['k1', keyA]]), 'k9', (m) => new OwnError(m)), OwnError);
    assert.throws(() => new Keyring(new Map([['short', Buffer.alloc(16)]]), 'short'), /16 bytes/);
  });
});

void describe('keyrings from settings', () => {
  const base = {
    activeKeyId: undefined,
    variable: 'TEST_KEYS',
    activeVariable: 'TEST_ACTIVE_KEY_ID',
    protects: 'test data is encrypted at rest',
    developmentLabel: 'rollcall test development key',
    developmentWarning: 'TEST_KEYS is not set: PUBLIC development key',
  };

  void test('when production has no keys, then it refuses, naming the variable', () => {
    assert.throws(
      () => keyringFromSettings({ ...base, spec: undefined, production: true, warn: () => {} }),
      (e: Error) => e instanceof ConfigError && /TEST_KEYS is required in production/.test(e.message),
    );
  });

  void test('when keys are listed, then the last is active unless one is named, and an unknown name is refused', () => {
    const spec = `old:${keyA.toString('base64')},new:${keyB.toString('base64url')}`;
    const ring = keyringFromSettings({ ...base, spec, production: true, warn: () => {} });
    assert.deepEqual(ring.keyIds, ['old', 'new']);
    assert.equal(ring.activeKeyId, 'new');
    const pinned = keyringFromSettings({
      ...base,
      spec,
      activeKeyId: 'old',
      production: true,
      warn: () => {},
    });
    assert.equal(pinned.activeKeyId, 'old');
    assert.throws(
      () => keyringFromSettings({ ...base, spec, activeKeyId: 'nope', production: true, warn: () => {} }),
      /TEST_ACTIVE_KEY_ID=nope is not a key id in TEST_KEYS/,
    );
    assert.throws(
      () => keyringFromSettings({ ...base, spec: 'k1:c2hvcnQ=', production: true, warn: () => {} }),
      /TEST_KEYS: key k1 decodes to 5 bytes/,
    );
  });

  void test('when development has no keys, then the public development key is used and the warning is said once', () => {
    const warnings: string[] = [];
    const a = keyringFromSettings({
      ...base,
      spec: undefined,
      production: false,
      warn: (m) => warnings.push(m),
    });
    const b = keyringFromSettings({
      ...base,
      spec: undefined,
      production: false,
      warn: (m) => warnings.push(m),
    });
    assert.equal(a.activeKeyId, 'dev');
    assert.deepEqual(b.open(a.seal(plaintext, aad), aad, 'v'), plaintext, 'the same key in every process');
    assert.equal(warnings.length, 1);
  });
});
