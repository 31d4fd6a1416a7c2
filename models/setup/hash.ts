import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export function sha256OfFile(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function sha256OfBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError';
  constructor(what: string, expected: string, actual: string) {
    super(`${what}: sha256 ${actual} does not match the pinned ${expected}`);
  }
}

export function assertSha256(what: string, actual: string, expected: string): void {
  if (actual !== expected) throw new ChecksumMismatchError(what, expected, actual);
}
