/**
 * `npm test`: prepares the real components once (models, the Temporal CLI, the Java time-skipping test
 * server, a Postgres server), then runs the suites with node's test runner. Integration tests create their
 * own databases on that server and their own Temporal dev servers on free ports.
 *
 *   npm test                 unit + integration
 *   npm test -- unit         unit only (still needs Java for the time-skipping server)
 *   npm test -- integration  integration only
 *   npm test -- <file…>      just those files
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { config } from '../lib/config';
import { repoRoot } from '../lib/paths';
import { startLocalPostgres } from '../lib/postgres';
import { freePort, runChecked } from '../lib/process';
import { resolveTemporalCli } from '../lib/temporal/cli';
import { resolveVersitygw } from './lib/s3Server';
import { ensureTimeSkippingServer } from '../lib/temporal/testServer';

function findTests(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? findTests(path.join(dir, e.name))
        : e.name.endsWith('.test.ts')
          ? [path.join(dir, e.name)]
          : [],
    )
    .sort();
}

function say(msg: string): void {
  process.stderr.write(`[test] ${msg}\n`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const suites =
    args.length === 0 ? ['unit', 'integration'] : args.filter((a) => a === 'unit' || a === 'integration');
  const explicit = args.filter((a) => a.endsWith('.ts'));
  const files =
    explicit.length > 0 ? explicit : suites.flatMap((s) => findTests(path.join(repoRoot, 'test', s)));
  const cfg = config();
  const t0 = Date.now();

  say('preparing models (extract/convert/verify; fast when cached)');
  await runChecked(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'scripts', 'setup-models.ts'), '--faces'],
    {
      cwd: repoRoot,
    },
  );
  say('resolving the Temporal CLI (built from the Go module proxy on a new machine)');
  const cliPath = await resolveTemporalCli({
    explicitPath: cfg.TEMPORAL_CLI_PATH,
    cacheDir: cfg.ROLLCALL_CACHE_DIR,
    version: cfg.TEMPORAL_CLI_VERSION,
    log: say,
  });
  if (files.some((f) => path.basename(f) === 'pitr.test.ts')) {
    say('resolving the S3 server of the restore drill (built from the Go module proxy on a new machine)');
    await resolveVersitygw(cfg.ROLLCALL_CACHE_DIR, say);
  }
  say('resolving the Java time-skipping test server (Maven Central on a new machine)');
  await ensureTimeSkippingServer({ log: say });

  let adminUrl = process.env.ROLLCALL_TEST_ADMIN_URL ?? cfg.DATABASE_URL;
  let stopPg: (() => Promise<void>) | undefined;
  if (!adminUrl) {
    // A server of this run's own: concurrent runs (two terminals, CI beside a developer) must not stop
    // each other's database.
    const dataDir = path.join(cfg.ROLLCALL_DATA_DIR, `test-postgres-${process.pid}`);
    const pg = await startLocalPostgres({ dataDir, port: await freePort(), log: say });
    adminUrl = pg.adminUrl;
    stopPg = async () => {
      await pg.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    };
  }
  say(`ready in ${Math.round((Date.now() - t0) / 1000)} s; running ${files.length} test files`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void (stopPg?.() ?? Promise.resolve()).finally(() => process.exit(130)));
  }

  const code = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
      {
        cwd: repoRoot,
        stdio: 'inherit',
        env: {
          ...process.env,
          NODE_ENV: 'test',
          LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
          TEMPORAL_CLI_PATH: cliPath,
          ROLLCALL_TEST_ADMIN_URL: adminUrl,
        },
      },
    );
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (stopPg) await stopPg();
  say(`finished in ${Math.round((Date.now() - t0) / 1000)} s`);
  process.exit(code);
}

main().catch((err: unknown) => {
  process.stderr.write(`[test] preparation failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
