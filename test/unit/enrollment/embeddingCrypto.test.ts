/** Face embeddings at rest: AES-256-GCM with per-row nonces, key ids, and AAD binding student + model. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../../lib/config';
import {
  bytesToEmbedding,
  embeddingCipherFromConfig,
  EmbeddingCipher,
  EmbeddingCryptoError,
  embeddingToBytes,
  parseEmbeddingKeys,
} from '../../../lib/crypto/embeddings';

const owner = { studentId: 'S001', modelId: 'faceres' };
const keyA = crypto.randomBytes(32);
const keyB = crypto.randomBytes(32);

function unitVector(dim: number, seed: number): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = Math.sin(seed * 31 + i * 0.7);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

void describe('embedding encryption at rest', () => {
  const cipher = new EmbeddingCipher(new Map([['k1', keyA]]), 'k1');

  void test('when an embedding is sealed and opened, then the exact float32 values come back', () => {
    const v = unitVector(1024, 1);
    const sealed = cipher.seal(v, owner);
    assert.equal(sealed.keyId, 'k1');
    assert.equal(sealed.sealed.length, 1 + 12 + 1024 * 4 + 16);
    assert.deepEqual(cipher.open(sealed, owner), v);
  });

  void test('when the same embedding is sealed twice, then the ciphertexts differ and neither contains the plaintext', () => {
    const v = unitVector(256, 2);
    const a = cipher.seal(v, owner).sealed;
    const b = cipher.seal(v, owner).sealed;
    assert.notDeepEqual(a, b);
    const plain = embeddingToBytes(v);
    assert.equal(a.includes(plain.subarray(0, 16)), false);
  });

  void test('when one byte of the ciphertext or tag is flipped, then opening fails authentication', () => {
    const sealed = cipher.seal(unitVector(128, 3), owner);
    for (const at of [20, sealed.sealed.length - 1, 5]) {
      const tampered = Buffer.from(sealed.sealed);
      tampered[at] = (tampered[at] as number) ^ 0x01;
      assert.throws(() => cipher.open({ ...sealed, sealed: tampered }, owner), EmbeddingCryptoError);
    }
  });

  void test('when a row is moved to another student or relabelled as another model, then opening fails', () => {
    const sealed = cipher.seal(unitVector(128, 4), owner);
    assert.throws(() => cipher.open(sealed, { ...owner, studentId: 'S002' }), /failed authentication/);
    assert.throws(() => cipher.open(sealed, { ...owner, modelId: 'mobileface' }), /failed authentication/);
  });

  void test('when the key id is unknown or names the wrong key, then opening fails', () => {
    const sealed = cipher.seal(unitVector(64, 5), owner);
    assert.throws(() => cipher.open({ ...sealed, keyId: 'nope' }, owner), /unknown key id nope/);
    const both = new EmbeddingCipher(
      new Map([
        ['k1', keyA],
        ['k2', keyB],
      ]),
      'k2',
    );
    assert.throws(() => both.open({ ...sealed, keyId: 'k2' }, owner), /failed authentication/);
  });

  void test('when keys are rotated, then old rows still open with their key id and new rows use the active key', () => {
    const old = cipher.seal(unitVector(64, 6), owner);
    const rotated = new EmbeddingCipher(
      new Map([
        ['k1', keyA],
        ['k2', keyB],
      ]),
      'k2',
    );
    assert.deepEqual(rotated.open(old, owner), cipher.open(old, owner));
    const fresh = rotated.seal(unitVector(64, 7), owner);
    assert.equal(fresh.keyId, 'k2');
    assert.throws(() => cipher.open(fresh, owner), /unknown key id k2/);
  });

  void test('when floats are serialised, then they are little-endian float32 and round-trip', () => {
    const v = new Float32Array([1, -0.5, 0.1]);
    const bytes = embeddingToBytes(v);
    assert.equal(bytes.readFloatLE(4), -0.5);
    assert.deepEqual(bytesToEmbedding(bytes), v);
    assert.throws(() => bytesToEmbedding(new Uint8Array(5)), EmbeddingCryptoError);
  });
});

void describe('embedding keys from configuration', () => {
  const spec = `old:${keyA.toString('base64')},new:${keyB.toString('base64url')}`;

  void test('when EMBEDDING_KEYS lists two keys, then both parse and the last is active by default', () => {
    assert.deepEqual([...parseEmbeddingKeys(spec).keys()], ['old', 'new']);
    const cfg = loadConfig({ NODE_ENV: 'production', EMBEDDING_KEYS: spec });
    assert.equal(embeddingCipherFromConfig(cfg).activeKeyId, 'new');
    const pinned = loadConfig({
      NODE_ENV: 'production',
      EMBEDDING_KEYS: spec,
      EMBEDDING_ACTIVE_KEY_ID: 'old',
    });
    assert.equal(embeddingCipherFromConfig(pinned).activeKeyId, 'old');
  });

  void test('when production has no EMBEDDING_KEYS, then start-up fails naming the variable', () => {
    assert.throws(
      () => embeddingCipherFromConfig(loadConfig({ NODE_ENV: 'production' })),
      /EMBEDDING_KEYS is required/,
    );
  });

  void test('when a key is not 32 bytes or the active id is unknown, then configuration is rejected', () => {
    assert.throws(() => parseEmbeddingKeys(`k:${crypto.randomBytes(16).toString('base64')}`), ConfigError);
    const cfg = loadConfig({ NODE_ENV: 'production', EMBEDDING_KEYS: spec, EMBEDDING_ACTIVE_KEY_ID: 'gone' });
    assert.throws(() => embeddingCipherFromConfig(cfg), /EMBEDDING_ACTIVE_KEY_ID=gone/);
    assert.throws(() => loadConfig({ EMBEDDING_KEYS: 'no-colon-here' }), /EMBEDDING_KEYS/);
  });

  void test('when development has no keys, then a deterministic development key is used with a loud warning', () => {
    const warnings: string[] = [];
    const a = embeddingCipherFromConfig(loadConfig({ NODE_ENV: 'development' }), (m) => warnings.push(m));
    const b = embeddingCipherFromConfig(loadConfig({ NODE_ENV: 'test' }), (m) => warnings.push(m));
    assert.equal(a.activeKeyId, 'dev');
    assert.deepEqual(b.open(a.seal(unitVector(32, 8), owner), owner), unitVector(32, 8));
    assert.equal(warnings.length, 1, 'warned once per process');
    assert.match(warnings[0] ?? '', /PUBLIC development key/);
  });
});
