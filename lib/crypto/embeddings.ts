/**
 * Face embeddings at rest: AES-256-GCM, one random 96-bit nonce per row, the key id stored beside the row
 * (face_embeddings.key_id) so keys can be rotated, and additional authenticated data binding the row to its
 * student and model, so a ciphertext copied onto another student's row (or relabelled as another model)
 * fails to decrypt instead of silently enrolling the wrong face.
 *
 * Stored bytes: version (1 byte) ‖ nonce (12) ‖ ciphertext (4 × dim) ‖ tag (16).
 * The plaintext is the embedding as float32 little-endian, the same bytes the roster endpoint sends.
 */
import crypto from 'node:crypto';
import type { Config } from '../config';
import { ConfigError } from '../config';

const FORMAT_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const HEADER_BYTES = 1 + NONCE_BYTES;
export const DEV_KEY_ID = 'dev';

export class EmbeddingCryptoError extends Error {
  override readonly name = 'EmbeddingCryptoError';
}

export interface EmbeddingOwner {
  studentId: string;
  modelId: string;
}

export interface SealedEmbedding {
  keyId: string;
  sealed: Buffer;
}

/** float32 little-endian, whatever the host's byte order. */
export function embeddingToBytes(vector: Float32Array): Buffer {
  const out = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) out.writeFloatLE(vector[i] as number, i * 4);
  return out;
}

export function bytesToEmbedding(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0)
    throw new EmbeddingCryptoError(`embedding bytes (${bytes.length}) are not a multiple of 4`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

function aad(owner: EmbeddingOwner): Buffer {
  // NUL separators: ids cannot contain NUL, so ("S1","2x") and ("S12","x") never collide.
  return Buffer.from(
    `rollcall/face_embedding/v${FORMAT_VERSION}\0${owner.studentId}\0${owner.modelId}`,
    'utf8',
  );
}

export class EmbeddingCipher {
  private readonly keys: ReadonlyMap<string, Buffer>;

  constructor(
    keys: ReadonlyMap<string, Buffer>,
    readonly activeKeyId: string,
  ) {
    for (const [kid, key] of keys) {
      if (key.length !== KEY_BYTES)
        throw new EmbeddingCryptoError(`key ${kid} is ${key.length} bytes, need ${KEY_BYTES}`);
    }
    if (!keys.has(activeKeyId))
      throw new EmbeddingCryptoError(`active key id ${activeKeyId} is not among the keys`);
    this.keys = new Map(keys);
  }

  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  seal(vector: Float32Array, owner: EmbeddingOwner): SealedEmbedding {
    const key = this.keys.get(this.activeKeyId) as Buffer;
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(owner));
    const body = Buffer.concat([cipher.update(embeddingToBytes(vector)), cipher.final()]);
    return {
      keyId: this.activeKeyId,
      sealed: Buffer.concat([Buffer.from([FORMAT_VERSION]), nonce, body, cipher.getAuthTag()]),
    };
  }

  /** Throws EmbeddingCryptoError for an unknown key id, a tampered row, or a row moved to another owner. */
  open(row: SealedEmbedding, owner: EmbeddingOwner): Float32Array {
    const key = this.keys.get(row.keyId);
    if (!key) throw new EmbeddingCryptoError(`embedding sealed with unknown key id ${row.keyId}`);
    const sealed = row.sealed;
    if (sealed.length < HEADER_BYTES + TAG_BYTES || sealed[0] !== FORMAT_VERSION) {
      throw new EmbeddingCryptoError('embedding ciphertext is malformed or of an unknown format version');
    }
    const nonce = sealed.subarray(1, HEADER_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const body = sealed.subarray(HEADER_BYTES, sealed.length - TAG_BYTES);
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(owner));
    decipher.setAuthTag(tag);
    try {
      return bytesToEmbedding(Buffer.concat([decipher.update(body), decipher.final()]));
    } catch {
      throw new EmbeddingCryptoError(
        `embedding of ${owner.studentId}/${owner.modelId} failed authentication (tampered, swapped, or wrong key ${row.keyId})`,
      );
    }
  }
}

/** Parses `kid:base64key,kid2:base64key`; base64 or base64url. */
export function parseEmbeddingKeys(spec: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const part of spec.split(',')) {
    const sep = part.indexOf(':');
    if (sep <= 0) throw new ConfigError('EMBEDDING_KEYS: expected kid:base64key');
    const kid = part.slice(0, sep);
    const encoded = part.slice(sep + 1);
    const key = Buffer.from(encoded, /[-_]/.test(encoded) ? 'base64url' : 'base64');
    if (keys.has(kid)) throw new ConfigError(`EMBEDDING_KEYS: key id ${kid} appears twice`);
    if (key.length !== KEY_BYTES) {
      throw new ConfigError(
        `EMBEDDING_KEYS: key ${kid} decodes to ${key.length} bytes, need ${KEY_BYTES} (openssl rand -base64 32)`,
      );
    }
    keys.set(kid, key);
  }
  return keys;
}

/** A fixed, public key for development and tests only: anyone can decrypt what it seals. */
export function developmentKey(): Buffer {
  return crypto.createHash('sha256').update('rollcall development embedding key — not secret').digest();
}

let warnedDevKey = false;

/**
 * The cipher the process uses, from EMBEDDING_KEYS / EMBEDDING_ACTIVE_KEY_ID. Production refuses to start
 * without keys; development and test fall back to the public development key and say so loudly.
 */
export function embeddingCipherFromConfig(
  cfg: Pick<Config, 'NODE_ENV' | 'EMBEDDING_KEYS' | 'EMBEDDING_ACTIVE_KEY_ID'>,
  warn: (message: string) => void = (m) => process.stderr.write(`\n!!! ${m}\n\n`),
): EmbeddingCipher {
  if (!cfg.EMBEDDING_KEYS) {
    if (cfg.NODE_ENV === 'production') {
      throw new ConfigError(
        'EMBEDDING_KEYS is required in production (face embeddings are encrypted at rest)',
      );
    }
    if (cfg.EMBEDDING_ACTIVE_KEY_ID && cfg.EMBEDDING_ACTIVE_KEY_ID !== DEV_KEY_ID) {
      throw new ConfigError('EMBEDDING_ACTIVE_KEY_ID is set but EMBEDDING_KEYS is not');
    }
    if (!warnedDevKey) {
      warnedDevKey = true;
      warn(
        'EMBEDDING_KEYS is not set: face embeddings are encrypted with the PUBLIC development key. ' +
          'Never enroll real students like this; set EMBEDDING_KEYS=kid:$(openssl rand -base64 32).',
      );
    }
    return new EmbeddingCipher(new Map([[DEV_KEY_ID, developmentKey()]]), DEV_KEY_ID);
  }
  const keys = parseEmbeddingKeys(cfg.EMBEDDING_KEYS);
  const active = cfg.EMBEDDING_ACTIVE_KEY_ID ?? [...keys.keys()].at(-1)!;
  if (!keys.has(active))
    throw new ConfigError(`EMBEDDING_ACTIVE_KEY_ID=${active} is not a key id in EMBEDDING_KEYS`);
  return new EmbeddingCipher(keys, active);
}
