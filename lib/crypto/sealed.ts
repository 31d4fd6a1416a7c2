/**
 * Data sealed at rest under a keyring: AES-256-GCM, one random 96-bit nonce per value, the key id kept beside
 * the value by the caller so keys can be rotated (open with any configured key, seal with the active one), and
 * additional authenticated data chosen by the caller that binds the value to its owner, so a ciphertext copied
 * onto another row fails to open instead of silently becoming that row's.
 *
 * Sealed bytes: version (1 byte) ‖ nonce (12) ‖ ciphertext (as long as the plaintext) ‖ tag (16).
 * Used by face embeddings (lib/crypto/embeddings.ts) and TOTP secrets (lib/crypto/totpSecrets.ts), each with
 * its own keys and its own AAD prefix.
 */
import crypto from 'node:crypto';
import { ConfigError } from '../config';

const FORMAT_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + NONCE_BYTES;
export const KEY_BYTES = 32;
export const DEV_KEY_ID = 'dev';

/** An unknown key id, a malformed or tampered value, or a value moved to another owner. */
export class SealedDataError extends Error {
  override readonly name: string = 'SealedDataError';
}

export interface SealedValue {
  keyId: string;
  sealed: Buffer;
}

/** Builds an error of the caller's own type (EmbeddingCryptoError, …) from a message. */
export type SealErrorFactory = (message: string) => Error;

export class Keyring {
  private readonly keys: ReadonlyMap<string, Buffer>;

  constructor(
    keys: ReadonlyMap<string, Buffer>,
    readonly activeKeyId: string,
    private readonly fail: SealErrorFactory = (m) => new SealedDataError(m),
  ) {
    for (const [kid, key] of keys) {
      if (key.length !== KEY_BYTES) throw fail(`key ${kid} is ${key.length} bytes, need ${KEY_BYTES}`);
    }
    if (!keys.has(activeKeyId)) throw fail(`active key id ${activeKeyId} is not among the keys`);
    this.keys = new Map(keys);
  }

  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  seal(plaintext: Buffer, aad: Buffer): SealedValue {
    const key = this.keys.get(this.activeKeyId) as Buffer;
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      keyId: this.activeKeyId,
      sealed: Buffer.concat([Buffer.from([FORMAT_VERSION]), nonce, body, cipher.getAuthTag()]),
    };
  }

  /**
   * The plaintext, or the caller's error for an unknown key id, a malformed value, or a failed authentication;
   * `what` names the value in that error (never its content).
   */
  open(value: SealedValue, aad: Buffer, what: string): Buffer {
    const key = this.keys.get(value.keyId);
    if (!key) throw this.fail(`${what} sealed with unknown key id ${value.keyId}`);
    const sealed = value.sealed;
    if (sealed.length < HEADER_BYTES + TAG_BYTES || sealed[0] !== FORMAT_VERSION) {
      throw this.fail(`${what} ciphertext is malformed or of an unknown format version`);
    }
    const nonce = sealed.subarray(1, HEADER_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const body = sealed.subarray(HEADER_BYTES, sealed.length - TAG_BYTES);
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      throw this.fail(`${what} failed authentication (tampered, swapped, or wrong key ${value.keyId})`);
    }
  }
}

/** AAD from labelled parts; NUL separators (ids cannot contain NUL), so ("S1","2x") and ("S12","x") differ. */
export function aadOf(...parts: string[]): Buffer {
  return Buffer.from(parts.join('\0'), 'utf8');
}

/** Parses `kid:base64key,kid2:base64key` (base64 or base64url); `variable` names the setting in errors. */
export function parseKeySpec(spec: string, variable: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const part of spec.split(',')) {
    const sep = part.indexOf(':');
    if (sep <= 0) throw new ConfigError(`${variable}: expected kid:base64key`);
    const kid = part.slice(0, sep);
    const encoded = part.slice(sep + 1);
    const key = Buffer.from(encoded, /[-_]/.test(encoded) ? 'base64url' : 'base64');
    if (keys.has(kid)) throw new ConfigError(`${variable}: key id ${kid} appears twice`);
    if (key.length !== KEY_BYTES) {
      throw new ConfigError(
        `${variable}: key ${kid} decodes to ${key.length} bytes, need ${KEY_BYTES} (openssl rand -base64 32)`,
      );
    }
    keys.set(kid, key);
  }
  return keys;
}

/** A fixed, public key for development and tests only: anyone can open what it seals. */
export function publicDevelopmentKey(label: string): Buffer {
  return crypto.createHash('sha256').update(label).digest();
}

export interface KeyringSettings {
  /** `kid:base64key,…` or unset. */
  spec: string | undefined;
  activeKeyId: string | undefined;
  production: boolean;
  /** The variables, for errors: e.g. EMBEDDING_KEYS / EMBEDDING_ACTIVE_KEY_ID. */
  variable: string;
  activeVariable: string;
  /** What the keys protect, for the production error ("face embeddings are encrypted at rest"). */
  protects: string;
  /** Seeds the public development key; fixed forever, or values sealed in development stop opening. */
  developmentLabel: string;
  /** Said once per process when the development key is used. */
  developmentWarning: string;
  warn: (message: string) => void;
  fail?: SealErrorFactory;
}

const warned = new Set<string>();

/**
 * The keyring of a setting: production refuses to start without keys; development and test fall back to the
 * public development key and say so (once per variable).
 */
export function keyringFromSettings(s: KeyringSettings): Keyring {
  if (!s.spec) {
    if (s.production) throw new ConfigError(`${s.variable} is required in production (${s.protects})`);
    if (s.activeKeyId && s.activeKeyId !== DEV_KEY_ID)
      throw new ConfigError(`${s.activeVariable} is set but ${s.variable} is not`);
    if (!warned.has(s.variable)) {
      warned.add(s.variable);
      s.warn(s.developmentWarning);
    }
    return new Keyring(new Map([[DEV_KEY_ID, publicDevelopmentKey(s.developmentLabel)]]), DEV_KEY_ID, s.fail);
  }
  const keys = parseKeySpec(s.spec, s.variable);
  const active = s.activeKeyId ?? [...keys.keys()].at(-1)!;
  if (!keys.has(active))
    throw new ConfigError(`${s.activeVariable}=${active} is not a key id in ${s.variable}`);
  return new Keyring(keys, active, s.fail);
}
