/**
 * `npm run temporal:build`: resolves the Temporal CLI the way `npm start` and `npm test` do
 * (TEMPORAL_CLI_PATH, PATH, the cache, else a build from the Go module proxy) and prints its path.
 */
import { config } from '../lib/config';
import { resolveTemporalCli } from '../lib/temporal/cli';

async function main(): Promise<void> {
  const cfg = config();
  const cliPath = await resolveTemporalCli({
    explicitPath: cfg.TEMPORAL_CLI_PATH,
    cacheDir: cfg.ROLLCALL_CACHE_DIR,
    version: cfg.TEMPORAL_CLI_VERSION,
    log: (msg) => process.stderr.write(`[temporal] ${msg}\n`),
  });
  process.stdout.write(`${cliPath}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
