/**
 * Finds the `temporal` CLI (which embeds the dev server and Web UI), building it from the Go module proxy
 * when nothing else provides it. Order: TEMPORAL_CLI_PATH, `temporal` on PATH, the cache, else
 * `go install` of the pinned version into the cache.
 *
 * v1.5.1 is pinned because every CLI tag from v1.6.0 replaces its nested `cliext` module with a local path,
 * which `go install` cannot resolve and which the module proxy does not serve on its own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export interface ResolveCliOptions {
  explicitPath?: string;
  cacheDir: string;
  version: string;
  log?: (msg: string) => void;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function cachedCliPath(cacheDir: string, version: string): string {
  return path.join(cacheDir, 'temporal-cli', version, 'temporal');
}

export async function resolveTemporalCli(opts: ResolveCliOptions): Promise<string> {
  if (opts.explicitPath) {
    if (!isExecutable(opts.explicitPath)) {
      throw new Error(`TEMPORAL_CLI_PATH=${opts.explicitPath} is not an executable file`);
    }
    return opts.explicitPath;
  }
  const fromPath = onPath('temporal');
  if (fromPath) return fromPath;
  const cached = cachedCliPath(opts.cacheDir, opts.version);
  if (isExecutable(cached)) return cached;
  await buildTemporalCli(cached, opts.version, opts.log ?? (() => undefined));
  return cached;
}

/** One build at a time per cache dir, across processes (npm start and npm test may race on a new machine). */
async function withLock<T>(lockDir: string, fn: () => Promise<T>, log: (m: string) => void): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      break;
    } catch {
      const age = Date.now() - fs.statSync(lockDir, { throwIfNoEntry: false })!.mtimeMs;
      if (Number.isFinite(age) && age > 30 * 60_000) fs.rmSync(lockDir, { recursive: true, force: true });
      if (Date.now() - started > 30 * 60_000) throw new Error(`timed out waiting for build lock ${lockDir}`);
      if ((Date.now() - started) % 30_000 < 1000)
        log('waiting for another process to finish building Temporal…');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

async function buildTemporalCli(target: string, version: string, log: (m: string) => void): Promise<void> {
  await goInstallCached({
    target,
    module: TEMPORAL_CLI_MODULE,
    version,
    what: 'the Temporal CLI',
    hint: 'put `temporal` on PATH, or set TEMPORAL_CLI_PATH',
    log,
  });
}

export interface GoInstallOptions {
  /** Where the binary ends up (its directory is created; a lock beside it serialises builds). */
  target: string;
  /** The main package, e.g. github.com/temporalio/cli/cmd/temporal. */
  module: string;
  version: string;
  /** For log lines: 'the Temporal CLI'. */
  what: string;
  /** Another way to provide the binary, for the error without Go. */
  hint?: string;
  log: (m: string) => void;
}

/**
 * `go install module@version` into a private GOBIN, then an atomic rename to `target`: one build at a time
 * per target across processes, never a half-written binary. Tools the project builds from the Go module
 * proxy (the Temporal CLI, the S3 server of the backup tests) share it.
 */
export async function goInstallCached(opts: GoInstallOptions): Promise<void> {
  const { target, module, version, what, log } = opts;
  const dir = path.dirname(target);
  fs.mkdirSync(dir, { recursive: true });
  await withLock(
    `${dir}.lock`,
    async () => {
      if (isExecutable(target)) return;
      const go = onPath('go') ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
      if (!go) {
        throw new Error(
          `${what} was not found and there is no Go toolchain to build it. Install Go (>= 1.24)${opts.hint ? `, ${opts.hint}` : ''}.`,
        );
      }
      log(`building ${what} ${version} from the Go module proxy into ${dir} (first run only, a few minutes)`);
      const started = Date.now();
      const tmpBin = fs.mkdtempSync(path.join(dir, '.build-'));
      await new Promise<void>((resolve, reject) => {
        const child = spawn(go, ['install', `${module}@${version}`], {
          env: { ...process.env, GOBIN: tmpBin, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let downloaded = 0;
        let tail = '';
        const ticker = setInterval(
          () =>
            log(
              `  …still building ${what} (${Math.round((Date.now() - started) / 1000)} s, ${downloaded} modules fetched)`,
            ),
          20_000,
        );
        child.stderr.on('data', (d: Buffer) => {
          const text = d.toString();
          downloaded += (text.match(/go: downloading/g) ?? []).length;
          tail = (tail + text).slice(-4000);
        });
        child.on('error', (e) => {
          clearInterval(ticker);
          reject(e);
        });
        child.on('close', (code) => {
          clearInterval(ticker);
          if (code === 0) resolve();
          else reject(new Error(`go install ${module}@${version} failed (exit ${code}):\n${tail}`));
        });
      });
      fs.renameSync(path.join(tmpBin, path.basename(module)), target);
      fs.rmSync(tmpBin, { recursive: true, force: true });
      log(`built ${what} in ${Math.round((Date.now() - started) / 1000)} s`);
    },
    log,
  );
}
