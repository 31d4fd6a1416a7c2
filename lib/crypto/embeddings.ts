/**
 * Face embeddings at rest, sealed with lib/crypto/sealed.ts (AES-256-GCM, per-row nonce): the key id stored
 * beside the row (face_embeddings.key_id) so keys can be rotated, and additional authenticated data binding
 * the row to its student and model, so a ciphertext copied onto another student's row (or relabelled as
 * another model) fails to decrypt instead of silently enrolling the wrong face.
 *
 * Stored bytes: version (1 byte) ‖ nonce (12) ‖ ciphertext (4 × dim) ‖ tag (16).
 * The plaintext is the embedding as float32 little-endian, the same bytes the roster endpoint sends.
 */
import type { Config } from '../config';
import {
  aadOf,
  SealedDataError,
  DEV_KEY_ID,
  Keyring,
  keyringFromSettings,
  parseKeySpec,
  publicDevelopmentKey,
} from './sealed';

export { DEV_KEY_ID };

const DEVELOPMENT_LABEL = 'rollcall development embedding key — not secret';

export class EmbeddingCryptoError extends SealedDataError {
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
  return aadOf('rollcall/face_embedding/v1', owner.studentId, owner.modelId);
}

const fail = (message: string) => new EmbeddingCryptoError(message);

export class EmbeddingCipher {
  private readonly keyring: Keyring;

  /** From keys and the active key id, or from a keyring built from configuration. */
  constructor(keys: ReadonlyMap<string, Buffer> | Keyring, activeKeyId = '') {
    this.keyring = keys instanceof Keyring ? keys : new Keyring(keys, activeKeyId, fail);
  }

  get activeKeyId(): string {
    return this.keyring.activeKeyId;
  }

  get keyIds(): string[] {
    return this.keyring.keyIds;
  }

  seal(vector: Float32Array, owner: EmbeddingOwner): SealedEmbedding {
    return this.keyring.seal(embeddingToBytes(vector), aad(owner));
  }

  /** Throws EmbeddingCryptoError for an unknown key id, a tampered row, or a row moved to another owner. */
  open(row: SealedEmbedding, owner: EmbeddingOwner): Float32Array {
    return bytesToEmbedding(
      this.keyring.open(row, aad(owner), `embedding of ${owner.studentId}/${owner.modelId}`),
    );
  }
}

/** Parses `kid:base64key,kid2:base64key`; base64 or base64url. */
export function parseEmbeddingKeys(spec: string): Map<string, Buffer> {
  return parseKeySpec(spec, 'EMBEDDING_KEYS');
}

/** A fixed, public key for development and tests only: anyone can decrypt what it seals. */
export function developmentKey(): Buffer {
  return publicDevelopmentKey(DEVELOPMENT_LABEL);
}

/**
 * The cipher the process uses, from EMBEDDING_KEYS / EMBEDDING_ACTIVE_KEY_ID. Production refuses to start
 * without keys; development and test fall back to the public development key and say so loudly.
 */
export function embeddingCipherFromConfig(
  cfg: Pick<Config, 'NODE_ENV' | 'EMBEDDING_KEYS' | 'EMBEDDING_ACTIVE_KEY_ID'>,
  warn: (message: string) => void = (m) => process.stderr.write(`\n!!! ${m}\n\n`),
): EmbeddingCipher {
  return new EmbeddingCipher(
    keyringFromSettings({
      spec: cfg.EMBEDDING_KEYS,
      activeKeyId: cfg.EMBEDDING_ACTIVE_KEY_ID,
      production: cfg.NODE_ENV === 'production',
      variable: 'EMBEDDING_KEYS',
      activeVariable: 'EMBEDDING_ACTIVE_KEY_ID',
      protects: 'face embeddings are encrypted at rest',
      developmentLabel: DEVELOPMENT_LABEL,
      developmentWarning:
        'EMBEDDING_KEYS is not set: face embeddings are encrypted with the PUBLIC development key. ' +
        'Never enroll real students like this; set EMBEDDING_KEYS=kid:$(openssl rand -base64 32).',
      warn,
      fail,
    }),
  );
}
