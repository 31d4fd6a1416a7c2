/**
 * A real S3-compatible server on this machine, for the backup tests, the restore drill and RPO/RTO
 * measurements: Versity S3 Gateway (Apache-2.0) over a POSIX directory, built from the Go module proxy once
 * and cached beside the Temporal CLI. It speaks HTTPS with a certificate from a throwaway CA, so clients
 * verify the server exactly as they verify a production object store (custom CA file), and the access keys
 * are random per start and passed by environment, never on a command line.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, runChecked, waitForPort } from '../../lib/process';
import { goInstallCached } from '../../lib/temporal/cli';
import type { S3Repository } from './pitr';

export const VERSITYGW_MODULE = 'github.com/versity/versitygw/cmd/versitygw';
export const VERSITYGW_VERSION = 'v1.8.0';

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = dir ? path.join(dir, name) : '';
    if (p && fs.existsSync(p)) return p;
  }
  return undefined;
}

/** `versitygw` on PATH, else the cached build, else `go install` of the pinned version into the cache. */
export async function resolveVersitygw(cacheDir: string, log: (m: string) => void): Promise<string> {
  const fromPath = onPath('versitygw');
  if (fromPath) return fromPath;
  const target = path.join(cacheDir, 'versitygw', VERSITYGW_VERSION, 'versitygw');
  if (!fs.existsSync(target)) {
    await goInstallCached({
      target,
      module: VERSITYGW_MODULE,
      version: VERSITYGW_VERSION,
      what: 'Versity S3 Gateway',
      hint: 'or put `versitygw` on PATH',
      log,
    });
  }
  return target;
}

export interface TestCa {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * A CA and a server certificate for `hostname` (DNS SAN; clients such as pgBackRest match DNS names only)
 * and 127.0.0.1, valid two days: openssl from the base system, files readable by their owner only.
 */
export async function makeTestCa(dir: string, hostname = 'localhost'): Promise<TestCa> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string) => path.join(dir, n);
  await runChecked(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Rollcall test CA'].concat([
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.crt'),
    ]),
  );
  await runChecked(
    'openssl',
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${hostname}`, '-keyout', f('server.key')].concat([
      '-out',
      f('server.csr'),
    ]),
  );
  fs.writeFileSync(
    f('ext.cnf'),
    `subjectAltName=DNS:${hostname},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  await runChecked(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      f('server.csr'),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
    ].concat(['-days', '2', '-out', f('server.crt'), '-extfile', f('ext.cnf')]),
  );
  for (const n of ['ca.key', 'server.key']) fs.chmodSync(f(n), 0o600);
  fs.chmodSync(f('ca.crt'), 0o644);
  return { caFile: f('ca.crt'), certFile: f('server.crt'), keyFile: f('server.key') };
}

/** A running local S3 server: a repository pgBackRest can use, with the CA it must trust. */
export interface LocalS3 extends Omit<S3Repository, 'path' | 'uriStyle'> {
  caFile: string;
  /** The POSIX directory behind the bucket (objects are files below `<rootDir>/<bucket>/`). */
  rootDir: string;
  stop(): Promise<void>;
}

export interface LocalS3Options {
  dir: string;
  cacheDir: string;
  bucket?: string;
  log?: (m: string) => void;
}

export async function startLocalS3(opts: LocalS3Options): Promise<LocalS3> {
  const log = opts.log ?? (() => undefined);
  const binary = await resolveVersitygw(opts.cacheDir, log);
  const dir = path.resolve(opts.dir);
  const rootDir = path.join(dir, 'objects');
  const bucket = opts.bucket ?? 'rollcall-backups';
  fs.mkdirSync(path.join(rootDir, bucket), { recursive: true });
  const tls = await makeTestCa(path.join(dir, 'tls'));
  const port = await freePort();
  const accessKey = `AK${crypto.randomBytes(9).toString('hex').toUpperCase()}`;
  const secretKey = crypto.randomBytes(24).toString('base64url');
  const region = 'us-east-1';
  const logFd = fs.openSync(path.join(dir, 'versitygw.log'), 'a');
  // Absolute paths: the POSIX backend changes its working directory to the root.
  const child: ChildProcess = spawn(
    binary,
    [
      '--port',
      `127.0.0.1:${port}`,
      '--cert',
      tls.certFile,
      '--key',
      tls.keyFile,
      '--quiet',
      'posix',
      rootDir,
    ],
    {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ROOT_ACCESS_KEY_ID: accessKey,
        ROOT_SECRET_ACCESS_KEY: secretKey,
        VGW_REGION: region,
      },
      stdio: ['ignore', logFd, logFd],
    },
  );
  fs.closeSync(logFd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(port, 15_000, 'the S3 server (versitygw)');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    host: 'localhost',
    port,
    bucket,
    region,
    accessKey,
    secretKey,
    caFile: tls.caFile,
    rootDir,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    },
  };
}
