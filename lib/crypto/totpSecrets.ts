/**
 * TOTP secrets at rest (users.totp_secret), sealed with lib/crypto/sealed.ts under SECRET_KEYS, bound to the
 * user id as additional authenticated data: a secret copied onto another user's row does not open there, and
 * a database dump (backups) does not hand out second factors.
 *
 * Stored text, self-describing so one column holds every generation: `v1:<keyId>:<base64 sealed bytes>`.
 * Rows written before sealing hold the base32 secret in the clear; they are still read (`legacy`), and the
 * account's next successful code re-seals them (api/auth/accounts.ts), as it does a row sealed under a key
 * that is no longer the active one (rotation).
 */
import type { Config } from '../config';
import { base32Decode } from '../totp';
import { aadOf, Keyring, keyringFromSettings, SealedDataError } from './sealed';

const PREFIX = 'v1';
const DEVELOPMENT_LABEL = 'rollcall development secret key — not secret';
/** What base32Encode wrote before secrets were sealed (no `:`, so never mistaken for a sealed value). */
const LEGACY_CLEAR = /^[A-Z2-7]+=*$/;

export class TotpSecretError extends SealedDataError {
  override readonly name = 'TotpSecretError';
}

const fail = (message: string) => new TotpSecretError(message);

function aad(userId: string): Buffer {
  return aadOf('rollcall/totp_secret/v1', userId);
}

export class TotpSecretCipher {
  private readonly keyring: Keyring;

  /** From keys and the active key id, or from a keyring built from configuration. */
  constructor(keys: ReadonlyMap<string, Buffer> | Keyring, activeKeyId = '') {
    this.keyring = keys instanceof Keyring ? keys : new Keyring(keys, activeKeyId, fail);
  }

  get activeKeyId(): string {
    return this.keyring.activeKeyId;
  }

  /** The text to store for `userId`'s secret, under the active key. */
  seal(secret: Buffer, userId: string): string {
    const { keyId, sealed } = this.keyring.seal(secret, aad(userId));
    return `${PREFIX}:${keyId}:${sealed.toString('base64')}`;
  }

  /**
   * The secret of a stored value: sealed (any configured key) or legacy clear base32. Throws TotpSecretError
   * for an unknown key id, a tampered value, a value of another user, or text of neither form; the message
   * never contains the value.
   */
  open(stored: string, userId: string): Buffer {
    if (LEGACY_CLEAR.test(stored)) return base32Decode(stored);
    const parts = stored.split(':');
    if (parts.length !== 3 || parts[0] !== PREFIX || !parts[1])
      throw fail(`TOTP secret of ${userId} is neither sealed (${PREFIX}:kid:…) nor legacy base32`);
    return this.keyring.open(
      { keyId: parts[1], sealed: Buffer.from(parts[2]!, 'base64') },
      aad(userId),
      `TOTP secret of ${userId}`,
    );
  }

  /** A legacy clear value, or one sealed under a key that is not the active one: seal it again when it opens. */
  needsReseal(stored: string): boolean {
    return LEGACY_CLEAR.test(stored) || !stored.startsWith(`${PREFIX}:${this.keyring.activeKeyId}:`);
  }
}

/**
 * The cipher of the API, from SECRET_KEYS / SECRET_ACTIVE_KEY_ID. Production refuses to start without keys;
 * development and test use the public development key and say so once.
 */
export function totpSecretCipherFromConfig(
  cfg: Pick<Config, 'NODE_ENV' | 'SECRET_KEYS' | 'SECRET_ACTIVE_KEY_ID'>,
  warn: (message: string) => void = (m) => process.stderr.write(`\n!!! ${m}\n\n`),
): TotpSecretCipher {
  return new TotpSecretCipher(
    keyringFromSettings({
      spec: cfg.SECRET_KEYS,
      activeKeyId: cfg.SECRET_ACTIVE_KEY_ID,
      production: cfg.NODE_ENV === 'production',
      variable: 'SECRET_KEYS',
      activeVariable: 'SECRET_ACTIVE_KEY_ID',
      protects: 'TOTP secrets are encrypted at rest',
      developmentLabel: DEVELOPMENT_LABEL,
      developmentWarning:
        'SECRET_KEYS is not set: TOTP secrets are encrypted with the PUBLIC development key. ' +
        'Never enrol real authenticators like this; set SECRET_KEYS=kid:$(openssl rand -base64 32).',
      warn,
      fail,
    }),
  );
}
