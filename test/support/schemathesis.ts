/**
 * Schemathesis (PyPI), an independent client driven by /openapi.json, installed with pip into a venv in the
 * project's cache directory (ROLLCALL_CACHE_DIR) on first use and reused after.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { config } from '../../lib/config';

export const SCHEMATHESIS_VERSION = '4.32.5';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** pip's words for "the index cannot be reached" (as opposed to a broken install). */
const UNREACHABLE =
  /(Could not find a version that satisfies|No matching distribution found|ConnectionError|Max retries exceeded|Temporary failure in name resolution|Network is unreachable)/;

export type SchemathesisInstall =
  { ok: true; bin: string } | { ok: false; unreachable: boolean; why: string };

export async function ensureSchemathesis(): Promise<SchemathesisInstall> {
  const venv = path.join(config().ROLLCALL_CACHE_DIR, `schemathesis-${SCHEMATHESIS_VERSION}`);
  const bin = path.join(venv, 'bin', 'schemathesis');
  if (fs.existsSync(bin) && (await run(bin, ['--version'])).stdout.includes(SCHEMATHESIS_VERSION))
    return { ok: true, bin };
  const python = process.env.PYTHON ?? 'python3';
  const made = await run(python, ['-m', 'venv', '--clear', venv]).catch((e: Error) => ({
    code: 1,
    stdout: '',
    stderr: e.message,
  }));
  if (made.code !== 0)
    return { ok: false, unreachable: false, why: `${python} -m venv: ${made.stderr.trim()}` };
  const pip = await run(path.join(venv, 'bin', 'pip'), [
    'install',
    '--quiet',
    '--disable-pip-version-check',
    `schemathesis==${SCHEMATHESIS_VERSION}`,
  ]);
  if (pip.code !== 0) {
    fs.rmSync(venv, { recursive: true, force: true });
    return { ok: false, unreachable: UNREACHABLE.test(pip.stderr), why: pip.stderr.trim().slice(-600) };
  }
  return { ok: true, bin };
}
