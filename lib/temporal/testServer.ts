/**
 * Temporal's Java time-skipping test server for tests, without any download outside Maven Central.
 *
 * `@temporalio/testing`'s default `createTimeSkipping()` downloads a native test-server build from
 * GitHub/CDN, which is not reachable here. Instead we resolve the Java SDK's
 * `io.temporal:temporal-test-server` (not a fat jar) with Maven once, into
 * `<repo>/.data/cache/temporal-test-server/<version>/lib/`, and write a small `/bin/sh` wrapper that
 * `exec`s `java -cp lib/* io.temporal.testserver.TestServer "$@"`.
 *
 * How the SDK (1.24.0, sdk-core `ephemeral_server/mod.rs`) drives the wrapper:
 * - argv is exactly `<port> [extraArgs...]`; with no extraArgs that is just `<port>`. The Java main
 *   accepts `<port> [--enable-time-skipping]` and nothing else. Without the flag, time skipping starts
 *   *locked*, which is what the SDK expects: its `TimeSkippingClient` unlocks skipping while a
 *   workflow result is awaited, and `env.sleep()` calls `unlockTimeSkippingWithSleep`.
 *   Never pass `--enable-time-skipping` here (it would unbalance the SDK's lock/unlock calls).
 * - it polls `127.0.0.1:<port>` with a gRPC connect every 100 ms, 50 times (~5 s), then gives up.
 *   The JVM listens after ~0.5 s on this machine, so the SDK's window is enough.
 * - it stops the child with SIGKILL (tokio `Child::kill`), hence the wrapper must `exec` java so that
 *   the killed PID is the JVM itself. The wrapper also starts a tiny watchdog that SIGKILLs the JVM if
 *   the Node process that started it dies without tearing the environment down (e.g. a test runner
 *   timeout), so crashed test runs do not leave JVMs behind.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ClientOptionsForTestEnv } from '@temporalio/testing';

const execFileAsync = promisify(execFile);

/** Pinned `io.temporal:temporal-test-server` version (newest on Maven Central when pinned). */
export const TEMPORAL_TEST_SERVER_VERSION = '1.38.0';

const MAIN_CLASS = 'io.temporal.testserver.TestServer';
/**
 * JVM start-up matters (the SDK gives the server ~5 s): C1-only JIT and the serial GC cut start-up by
 * ~25% when several test files start servers in parallel (measured 1.8 s -> 1.4 s with 4 at once on
 * 2 cores). The test server's load is tiny, so the peak-performance loss does not matter.
 * `opts.javaOpts` come after these, so they can override them.
 */
const DEFAULT_JVM_OPTS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const POM_PATH = path.join(__dirname, 'test-server-pom.xml');
const COMPLETE_MARKER = '.complete';
/** A build lock older than this is considered abandoned (its owner crashed). */
const STALE_LOCK_MS = 10 * 60 * 1000;
const LOCK_WAIT_TIMEOUT_MS = 15 * 60 * 1000;

export interface TimeSkippingServerOptions {
  /** temporal-test-server version; defaults to {@link TEMPORAL_TEST_SERVER_VERSION}. */
  version?: string;
  /** Cache root; defaults to `<repo>/.data/cache/temporal-test-server`. */
  cacheRoot?: string;
  /** Extra JVM arguments baked into the wrapper after the defaults (e.g. `['-Xmx256m']`). */
  javaOpts?: string[];
  /** Test-server log level (slf4j-simple): defaults to `warn`. */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'off';
  /** Progress messages (only emitted when something has to be built). */
  log?: (message: string) => void;
}

export interface CreateTimeSkippingEnvOptions extends TimeSkippingServerOptions {
  /** Fixed port for the server; default: a free port chosen by the SDK. */
  port?: number;
  /** Client options passed through to the SDK (data converter, interceptors, ...). */
  client?: ClientOptionsForTestEnv;
}

export class TemporalTestServerSetupError extends Error {
  override readonly name = 'TemporalTestServerSetupError';
}

/** Locate an executable on PATH without spawning anything. */
function findOnPath(command: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  for (const dir of dirs) {
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function findJava(): string {
  const javaHome = process.env.JAVA_HOME;
  if (javaHome !== undefined && javaHome !== '') {
    const candidate = path.join(javaHome, 'bin', 'java');
    if (fs.existsSync(candidate)) return candidate;
  }
  const onPath = findOnPath('java');
  if (onPath !== undefined) return onPath;
  throw new TemporalTestServerSetupError(
    'Java was not found (neither $JAVA_HOME/bin/java nor `java` on PATH). The Temporal time-skipping ' +
      'test server is a Java program: install a JRE 17 (Debian: `apt-get install openjdk-17-jre-headless`) ' +
      'or set JAVA_HOME.',
  );
}

function findMaven(): string {
  const onPath = findOnPath('mvn');
  if (onPath !== undefined) return onPath;
  throw new TemporalTestServerSetupError(
    'Maven (`mvn`) was not found on PATH. It is needed once to fetch the Temporal test server ' +
      `(io.temporal:temporal-test-server) from Maven Central into the cache. Install it ` +
      '(Debian: `apt-get install maven`) or pre-populate the cache directory.',
  );
}

/** Single-quote for /bin/sh. */
function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tail(text: string, lines: number): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

async function runMaven(mvn: string, version: string, outputDir: string): Promise<void> {
  const args = [
    '-q',
    '-B',
    '-Dstyle.color=never',
    '-f',
    POM_PATH,
    `-Dtemporal.test.server.version=${version}`,
    `-DoutputDirectory=${outputDir}`,
    'dependency:copy-dependencies',
  ];
  try {
    await execFileAsync(mvn, args, { maxBuffer: 64 * 1024 * 1024, cwd: path.dirname(outputDir) });
  } catch (err: unknown) {
    const out = typeof err === 'object' && err !== null && 'stdout' in err ? String(err.stdout) : '';
    const errOut = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr) : '';
    const detail = tail(`${out}\n${errOut}`, 30) || (err instanceof Error ? err.message : String(err));
    throw new TemporalTestServerSetupError(
      `mvn failed to resolve io.temporal:temporal-test-server:${version} (is Maven Central reachable, ` +
        `does the version exist?). Command: ${mvn} ${args.join(' ')}\n${detail}`,
    );
  }
}

/**
 * Build `<versionDir>/lib` once. Safe against concurrent callers (node --test runs test files in
 * parallel processes): a mkdir lock serialises builders, and the classpath is assembled in a temp
 * directory and renamed into place, so `lib/.complete` exists only for a whole classpath.
 */
async function ensureClasspath(
  versionDir: string,
  version: string,
  log: (m: string) => void,
): Promise<string> {
  const libDir = path.join(versionDir, 'lib');
  const marker = path.join(libDir, COMPLETE_MARKER);
  if (fs.existsSync(marker)) return libDir;

  const mvn = findMaven();
  await fsp.mkdir(versionDir, { recursive: true });
  const lockDir = path.join(versionDir, '.build-lock');
  const waitStarted = Date.now();

  for (;;) {
    if (fs.existsSync(marker)) return libDir;
    try {
      await fsp.mkdir(lockDir);
    } catch (err: unknown) {
      if (errorCode(err) !== 'EEXIST') throw err;
      const stat = await fsp.stat(lockDir).catch(() => undefined);
      if (stat !== undefined && Date.now() - stat.mtimeMs > STALE_LOCK_MS) {
        log(`temporal-test-server: removing stale build lock ${lockDir}`);
        await fsp.rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - waitStarted > LOCK_WAIT_TIMEOUT_MS) {
        throw new TemporalTestServerSetupError(`Timed out waiting for another process to build ${libDir}`);
      }
      await sleepMs(250);
      continue;
    }

    // We hold the lock.
    try {
      if (fs.existsSync(marker)) return libDir;
      const tmpDir = path.join(versionDir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
      const tmpLib = path.join(tmpDir, 'lib');
      await fsp.mkdir(tmpLib, { recursive: true });
      try {
        log(
          `temporal-test-server: resolving io.temporal:temporal-test-server:${version} with Maven into ${libDir}`,
        );
        const started = Date.now();
        await runMaven(mvn, version, tmpLib);
        const jars = (await fsp.readdir(tmpLib)).filter((f) => f.endsWith('.jar'));
        if (!jars.includes(`temporal-test-server-${version}.jar`)) {
          throw new TemporalTestServerSetupError(
            `mvn finished but temporal-test-server-${version}.jar is not in ${tmpLib} (got: ${jars.join(', ')})`,
          );
        }
        await fsp.writeFile(
          path.join(tmpLib, COMPLETE_MARKER),
          `${JSON.stringify({ version, jars: jars.sort(), builtAt: new Date().toISOString() }, null, 2)}\n`,
        );
        // A leftover incomplete lib/ (no marker, e.g. deleted by hand) would block the rename.
        await fsp.rm(libDir, { recursive: true, force: true });
        await fsp.rename(tmpLib, libDir);
        log(`temporal-test-server: ${jars.length} jars ready in ${Date.now() - started} ms`);
      } finally {
        await fsp.rm(tmpDir, { recursive: true, force: true });
      }
      return libDir;
    } finally {
      await fsp.rm(lockDir, { recursive: true, force: true });
    }
  }
}

function wrapperScript(
  java: string,
  libDir: string,
  javaOpts: string[],
  logLevel: string,
  version: string,
): string {
  const jvmArgs = [...DEFAULT_JVM_OPTS, `-Dorg.slf4j.simpleLogger.defaultLogLevel=${logLevel}`, ...javaOpts]
    .map(shQuote)
    .join(' ');
  return `#!/bin/sh
# Generated by lib/temporal/testServer.ts - do not edit (it is rewritten when it differs).
# Temporal time-skipping test server io.temporal:temporal-test-server:${version}
# Usage (as called by @temporalio/testing): <port> [--enable-time-skipping]
#
# Orphan guard: if the process that started us (the Node test process) dies without killing us,
# SIGKILL the JVM. $$ stays the JVM's PID after the exec below. The guard exits by itself once the
# JVM is gone (the SDK kills and reaps it on env.teardown()).
self=$$
parent=$PPID
( while kill -0 "$parent" 2>/dev/null && kill -0 "$self" 2>/dev/null; do sleep 2; done
  kill -0 "$parent" 2>/dev/null || kill -9 "$self" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
exec ${shQuote(java)} ${jvmArgs} -cp ${shQuote(path.join(libDir, '*'))} ${MAIN_CLASS} "$@"
`;
}

/**
 * Make sure the Java test server is available and return the path of an executable wrapper script
 * suitable for `{ executable: { type: 'existing-path', path } }`.
 *
 * First call: runs Maven once (~7 s with an empty ~/.m2, 38 MB of jars). Afterwards it only checks a
 * marker file and (re)writes the wrapper if its content changed: a few milliseconds.
 */
export async function ensureTimeSkippingServer(opts: TimeSkippingServerOptions = {}): Promise<string> {
  const version = opts.version ?? TEMPORAL_TEST_SERVER_VERSION;
  if (!/^[0-9A-Za-z][0-9A-Za-z.\-_]*$/.test(version)) {
    throw new TemporalTestServerSetupError(
      `Invalid temporal-test-server version: ${JSON.stringify(version)}`,
    );
  }
  const cacheRoot = opts.cacheRoot ?? path.join(REPO_ROOT, '.data', 'cache', 'temporal-test-server');
  const versionDir = path.join(path.resolve(cacheRoot), version);
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));

  const java = findJava();
  const libDir = await ensureClasspath(versionDir, version, log);

  const wrapperPath = path.join(versionDir, 'temporal-test-server');
  const content = wrapperScript(java, libDir, opts.javaOpts ?? [], opts.logLevel ?? 'warn', version);
  const existing = await fsp.readFile(wrapperPath, 'utf8').catch(() => undefined);
  if (existing !== content) {
    const tmp = `${wrapperPath}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await fsp.writeFile(tmp, content, { mode: 0o755 });
    await fsp.rename(tmp, wrapperPath); // atomic: concurrent callers never see a half-written script
  } else {
    const mode = (await fsp.stat(wrapperPath)).mode;
    if ((mode & 0o111) === 0) await fsp.chmod(wrapperPath, 0o755);
  }
  return wrapperPath;
}

function isStartupTimeout(err: unknown): boolean {
  return err instanceof Error && /did not start within/.test(err.message);
}

/**
 * Start a fresh Java time-skipping test server (SDK-managed child process) and return the SDK's
 * `TestWorkflowEnvironment` for it: `env.client` auto-skips time while awaiting workflow results,
 * `env.sleep()` skips server time, `env.nativeConnection` is for Workers. Call `env.teardown()` when
 * done (it SIGKILLs the JVM).
 *
 * If the SDK's ~5 s startup window is missed once (a loaded CI machine), it retries one time.
 */
export async function createTimeSkippingEnv(
  opts: CreateTimeSkippingEnvOptions = {},
): Promise<TestWorkflowEnvironment> {
  const executablePath = await ensureTimeSkippingServer(opts);
  const create = (): Promise<TestWorkflowEnvironment> =>
    TestWorkflowEnvironment.createTimeSkipping({
      server: {
        executable: { type: 'existing-path', path: executablePath },
        ...(opts.port !== undefined ? { port: opts.port } : {}),
      },
      ...(opts.client !== undefined ? { client: opts.client } : {}),
    });
  try {
    return await create();
  } catch (err: unknown) {
    if (!isStartupTimeout(err)) throw err;
    (opts.log ?? ((m: string) => process.stderr.write(`${m}\n`)))(
      'temporal-test-server: JVM missed the SDK startup window (5 s); retrying once',
    );
    return await create();
  }
}
