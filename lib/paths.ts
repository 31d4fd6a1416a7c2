import os from 'node:os';
import path from 'node:path';

/** The repository root (this file lives in lib/). */
export const repoRoot = path.resolve(__dirname, '..');

/** Where a local install keeps its state (Postgres data, Temporal SQLite file, edge outbox, backups). */
export function defaultDataDir(): string {
  return path.join(repoRoot, '.data');
}

/**
 * Where built tools (the Temporal CLI, the Java test server classpath) are cached. Shared across checkouts
 * of the same machine on purpose: a cold Temporal build takes minutes.
 */
export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg && xdg.length > 0 ? xdg : path.join(os.homedir(), '.cache'), 'rollcall');
}
