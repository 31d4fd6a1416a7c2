/**
 * Imports a OneRoster 1.1/1.2 CSV bundle through the rosterImport workflow and follows it:
 *
 *   npm run roster:import -- bundle.zip|bundle-dir [--school ID] [--by NAME] [--json]
 *
 * The bundle is imported into one school: --school, else the only school (a district of several schools
 * names it).
 *
 * Prints progress from the workflow's query, then the summary (changes by kind, classes that still need a
 * room and times) or, for a rejected bundle, every bad row as `file:line: reason` (nothing was written).
 * Needs the database (DATABASE_URL, or the local one `npm start` runs) and a running worker (`npm start` or
 * `npm run worker`) at TEMPORAL_ADDRESS or 127.0.0.1:TEMPORAL_PORT.
 * Exit codes: 0 applied, 1 rejected or failed, 2 usage or unreadable bundle.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Knex } from 'knex';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { RosterImportSummary } from '../activities/rosterImport';
import { config } from '../lib/config';
import { createDb } from '../lib/db';
import { ensurePostgres } from '../lib/infra';
import { logger } from '../lib/logger';
import type { RosterIssue } from '../lib/oneroster/bundle';
import {
  BundleInputError,
  bundleFromZip,
  createRosterImportRun,
  csvFilesOf,
  MAX_BUNDLE_BYTES,
  startRosterImport,
} from '../lib/oneroster/runs';
import { isPortOpen } from '../lib/process';
import { SCHOOL_ID, schoolDb } from '../lib/tenancy';
import { connectClient } from '../lib/temporal/connection';
import type { rosterImport } from '../workflows/rosterImport';
import { rosterImportProgressQuery } from '../workflows/rosterImportMessages';

class UsageError extends Error {}
/** The workflow failed (already reported on the output). */
export class ImportFailed extends Error {}

const PAST: Record<string, string> = {
  create: 'created',
  update: 'updated',
  deactivate: 'deactivated',
  reactivate: 'reactivated',
};

/** A bundle's CSV files from a zip file or a directory. */
export function readBundle(p: string): Map<string, Buffer> {
  if (!fs.existsSync(p)) throw new UsageError(`no such file or directory: ${p}`);
  if (fs.statSync(p).isDirectory()) {
    let total = 0;
    const entries: [string, Buffer][] = [];
    for (const name of fs.readdirSync(p).sort()) {
      const full = path.join(p, name);
      if (!fs.statSync(full).isFile() || !name.toLowerCase().endsWith('.csv')) continue;
      total += fs.statSync(full).size;
      if (total > MAX_BUNDLE_BYTES)
        throw new BundleInputError(`the bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
      entries.push([name, fs.readFileSync(full)]);
    }
    return csvFilesOf(entries);
  }
  if (fs.statSync(p).size > MAX_BUNDLE_BYTES)
    throw new BundleInputError(`the bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
  return bundleFromZip(fs.readFileSync(p));
}

export function describeSummary(s: RosterImportSummary): string[] {
  const lines: string[] = [];
  if (s.status === 'rejected') {
    lines.push(`rejected: ${s.issueCount} problem(s); nothing was written`);
    return lines;
  }
  lines.push(`applied: ${s.totalChanges} change(s)`);
  for (const [entity, counts] of Object.entries(s.changes)) {
    const parts = Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([action, n]) => `${n} ${PAST[action] ?? action}`);
    if (parts.length > 0) lines.push(`  ${entity}s: ${parts.join(', ')}`);
  }
  if (s.ignored.users + s.ignored.enrollments > 0)
    lines.push(
      `  ignored: ${s.ignored.users} user(s) and ${s.ignored.enrollments} enrollment(s) of other roles`,
    );
  for (const f of s.failed) lines.push(`  not applied: ${f.entity} ${f.sourcedId}: ${f.reason}`);
  if (s.needsTimetable.length > 0) {
    lines.push(`${s.needsTimetable.length} class(es) still need a room and times:`);
    for (const g of s.needsTimetable) lines.push(`  ${g.classSourcedId} (${g.title}): ${g.reason}`);
  }
  return lines;
}

export interface ImportCliDeps {
  db: Knex;
  client: Client;
  taskQueue: string;
  write: (line: string) => void;
  pollMs?: number;
}

/** Stores the bundle, starts the workflow, prints progress and the outcome; answers the exit code. */
export async function importBundle(
  deps: ImportCliDeps,
  files: ReadonlyMap<string, Buffer>,
  opts: { by: string; fileName: string; json?: boolean; school?: string },
): Promise<{ code: number; summary: RosterImportSummary; issues: RosterIssue[] }> {
  const runId = await createRosterImportRun(opts.school ? schoolDb(deps.db, opts.school) : deps.db, {
    files,
    requestedBy: opts.by,
    fileName: opts.fileName,
  });
  const { workflowId } = await startRosterImport(deps.client, deps.taskQueue, runId);
  const handle = deps.client.workflow.getHandle<typeof rosterImport>(workflowId);
  if (!opts.json) deps.write(`import ${runId} started (workflow ${workflowId})`);
  let done = false;
  const result = handle.result().finally(() => {
    done = true;
  });
  let last = '';
  while (!done) {
    try {
      const p = await handle.query(rosterImportProgressQuery);
      const line = `${p.phase}${p.batchesTotal ? ` batch ${p.batchesDone}/${p.batchesTotal}` : ''}${p.changesPlanned ? ` (${p.changesPlanned} changes)` : ''}`;
      if (line !== last && !opts.json) deps.write(`  ${line}`);
      last = line;
    } catch {
      // The workflow may not have run its first task yet, or has just finished.
    }
    await Promise.race([
      result.catch(() => undefined),
      new Promise((r) => setTimeout(r, deps.pollMs ?? 300)),
    ]);
  }
  let summary: RosterImportSummary;
  try {
    summary = await result;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const inner = err.cause as (Error & { cause?: Error }) | undefined;
    const cause = inner?.cause?.message ?? inner?.message ?? err.message;
    deps.write(
      `failed: ${cause} (changes already applied stay; importing the bundle again applies the rest)`,
    );
    throw new ImportFailed(cause);
  }
  const run = await deps.db('roster_import_runs').where({ id: runId }).first('issues');
  const issues: RosterIssue[] = (run?.issues as { list?: RosterIssue[] } | null)?.list ?? [];
  if (opts.json) deps.write(JSON.stringify({ summary, issues }));
  else {
    for (const i of issues) deps.write(`${i.file}:${i.line}: ${i.reason}`);
    if (issues.length < summary.issueCount) deps.write(`… and ${summary.issueCount - issues.length} more`);
    for (const line of describeSummary(summary)) deps.write(line);
  }
  return { code: summary.status === 'applied' ? 0 : 1, summary, issues };
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      by: { type: 'string' },
      school: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || positionals.length !== 1)
    throw new UsageError(
      'usage: npm run roster:import -- <bundle.zip|dir> [--school ID] [--by NAME] [--json]',
    );
  if (values.school !== undefined && !SCHOOL_ID.test(values.school))
    throw new UsageError('--school takes a school id (letters, digits, . _ -)');
  const files = readBundle(positionals[0]!);
  const cfg = config();
  const log = logger();
  const pgWasRunning = cfg.DATABASE_URL !== undefined || (await isPortOpen(cfg.PG_PORT));
  const pg = await ensurePostgres(cfg, log);
  const db = createDb(pg.url, 4);
  const closers: (() => Promise<unknown>)[] = [() => db.destroy()];
  if (!pgWasRunning) closers.push(pg.stop);
  try {
    const client = await connectClient(cfg, cfg.TEMPORAL_ADDRESS ?? `127.0.0.1:${cfg.TEMPORAL_PORT}`);
    closers.unshift(() => client.connection.close());
    const { code } = await importBundle(
      { db, client, taskQueue: cfg.TEMPORAL_TASK_QUEUE, write: (l) => process.stdout.write(`${l}\n`) },
      files,
      {
        by: values.by ?? `cli:${os.userInfo().username}`,
        fileName: path.basename(positionals[0]!),
        json: values.json,
        school: values.school,
      },
    );
    return code;
  } finally {
    for (const close of closers) await close().catch(() => undefined);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (
        err instanceof UsageError ||
        err instanceof BundleInputError ||
        (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
      ) {
        process.stderr.write(`roster-import: ${(err as Error).message}\n`);
        process.exit(2);
      }
      if (err instanceof ImportFailed) process.exit(1);
      process.stderr.write(`roster-import: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
