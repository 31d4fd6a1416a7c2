/**
 * People's passwords: scrypt (N=2^15, r=8, p=1) with a 16-byte random salt per password, stored as
 * `scrypt$N$r$p$salt$hash` (base64) so parameters can be raised later without invalidating old hashes.
 * Comparison is constant-time; an unknown user is checked against a dummy hash so that timing does not
 * reveal which emails exist.
 */
import crypto from 'node:crypto';

const N = 1 << 15;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

function scrypt(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    crypto.scrypt(
      password.normalize('NFC'),
      salt,
      KEY_BYTES,
      { N: n, r, p, maxmem: 256 * n * r },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

const DUMMY = `scrypt$${N}$${R}$${P}$${Buffer.alloc(SALT_BYTES).toString('base64')}$${Buffer.alloc(KEY_BYTES).toString('base64')}`;

/** False for a wrong password, a missing hash (user without a password) or an unreadable hash. */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  const usable = typeof stored === 'string' && stored.startsWith('scrypt$');
  const parts = (usable ? stored : DUMMY).split('$');
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (parts.length !== 6 || ![n, r, p].every((v) => Number.isInteger(v) && v > 0) || n > 1 << 20)
    return false;
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const expected = Buffer.from(parts[5] ?? '', 'base64');
  if (expected.length !== KEY_BYTES) return false;
  const actual = await scrypt(password, salt, n, r, p);
  return crypto.timingSafeEqual(actual, expected) && usable;
}
