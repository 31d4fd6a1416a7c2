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

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

/**
 * Passwords people pick first (the tops of public breach lists, plus this product's and a school's own
 * words). Not a breach corpus: a small list that stops the obvious, compared after lowercasing.
 */
const COMMON_PASSWORDS = new Set([
  '123456789012',
  '1234567890123',
  '12345678901234',
  '123456123456',
  '111111111111',
  '000000000000',
  'qwertyuiopas',
  'qwertyuiop123',
  'qwerty123456',
  '1q2w3e4r5t6y',
  '1qaz2wsx3edc',
  'zaq12wsxcde3',
  'password1234',
  'password12345',
  'password123456',
  'passwordpassword',
  'p@ssw0rd1234',
  'passw0rd1234',
  'iloveyou1234',
  'letmein12345',
  'welcome12345',
  'welcome123456',
  'changeme1234',
  'administrator',
  'administrator1',
  'admin1234567',
  'adminadmin123',
  'abcdefghijkl',
  'abc123abc123',
  'aaaaaaaaaaaa',
  'football1234',
  'baseball1234',
  'sunshine1234',
  'princess1234',
  'trustno1trustno1',
  'correcthorsebatterystaple',
  'rollcall1234',
  'rollcall-demo',
  'rollcallrollcall',
  'teacher12345',
  'teacherteacher',
  'classroom123',
  'school123456',
  'schoolschool',
  'student12345',
]);

/**
 * Why a new password is refused (empty: acceptable): at least PASSWORD_MIN_LENGTH characters (length
 * beats composition rules, NIST SP 800-63B), not the account's e-mail or its local part, not a common
 * password, not one character repeated, no control characters.
 */
export function passwordProblems(password: string, account: { email: string; name?: string }): string[] {
  const problems: string[] = [];
  const p = password.normalize('NFC');
  const length = [...p].length;
  if (length < PASSWORD_MIN_LENGTH) problems.push(`must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (length > PASSWORD_MAX_LENGTH) problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters`);
  if (/[\u0000-\u001F\u007F-\u009F]/.test(p)) problems.push('must not contain control characters');
  const lower = p.toLowerCase();
  const email = account.email.trim().toLowerCase();
  const local = email.split('@')[0] ?? '';
  const name = account.name?.trim().toLowerCase() ?? '';
  if (lower === email || (local.length >= 4 && lower.includes(local)) || (name.length >= 3 && lower === name))
    problems.push('must not be or contain your e-mail address or name');
  if (COMMON_PASSWORDS.has(lower)) problems.push('is a commonly used password');
  if (length > 0 && new Set(p).size <= 2) problems.push('must not repeat one or two characters');
  return problems;
}

/** 32 random bytes, base64url: invite and reset tokens (43 characters). */
export const ONE_TIME_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * A one-time token and the form it is stored in. The token is 256 random bits, so a fast hash is enough
 * (no guessing to slow down); the database holds only SHA-256, so a leaked table redeems nothing.
 */
export function newOneTimeToken(): { token: string; hash: string } {
  const token = crypto.randomBytes(32).toString('base64url');
  return { token, hash: hashOneTimeToken(token) };
}

export function hashOneTimeToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}
