/**
 * Runs `temporal server start-dev`: the real Temporal server with a SQLite file for persistence and the
 * Web UI, on the ports asked for.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { waitForPort } from '../process';
import { searchAttributeFlags } from './searchAttributes';

export interface DevServerOptions {
  cliPath: string;
  port: number;
  uiPort?: number;
  /** SQLite file; omit for an in-memory server (tests). */
  dbFile?: string;
  namespace: string;
  logFile?: string;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function devServerArgs(opts: DevServerOptions): string[] {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port),
    '--log-level',
    'warn',
  ];
  args.push('--namespace', opts.namespace);
  // The dev server's Web UI has no authentication (anyone reaching it may terminate, signal or update any
  // workflow): loopback only, explicitly, whatever the CLI's default.
  if (opts.uiPort) args.push('--ui-ip', '127.0.0.1', '--ui-port', String(opts.uiPort));
  else args.push('--headless');
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  for (const flag of searchAttributeFlags()) args.push('--search-attribute', flag);
  return args;
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  if (opts.dbFile) fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a') : 'ignore';
  const child = spawn(opts.cliPath, devServerArgs(opts), {
    env: { ...process.env, TEMPORAL_VERSION_CHECK_DISABLED: '1' },
    stdio: ['ignore', out, out],
  });
  let exited: number | null = null;
  // Never outlive the process that started it (a crashed test run must not leave servers behind).
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.on('exit', (code) => {
    exited = code ?? -1;
    process.removeListener('exit', killOnExit);
  });
  try {
    await waitForPort(opts.port, 60_000, 'Temporal dev server');
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(
      `${(e as Error).message}${exited !== null ? ` (it exited with ${exited})` : ''}; see ${opts.logFile ?? 'its output'}`,
    );
  }
  return {
    address: `127.0.0.1:${opts.port}`,
    uiUrl: opts.uiPort ? `http://127.0.0.1:${opts.uiPort}` : undefined,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(killer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
