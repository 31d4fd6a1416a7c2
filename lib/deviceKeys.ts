import crypto from 'node:crypto';

/** A device API key: 32 random bytes, shown once at provisioning; only its hash is stored. */
export function generateDeviceKey(): string {
  return `rcd_${crypto.randomBytes(32).toString('base64url')}`;
}

/** Keys are high-entropy random strings, so a plain SHA-256 is a sufficient (and constant-cost) hash. */
export function hashDeviceKey(key: string): string {
  return crypto.createHash('sha256').update(key, 'utf8').digest('hex');
}
