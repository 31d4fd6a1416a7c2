/**
 * Starting a roster import and reading its state, shared by the admin API and `npm run roster:import`: the
 * bundle's CSV files are stored under a new run id (with an audit row naming who asked), the workflow gets
 * only that id, and the run row answers "how did it go" after the workflow is gone.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import type { RosterImportSummary } from '../../activities/rosterImport';
import type { rosterImport } from '../../workflows/rosterImport';
import {
  rosterImportProgressQuery,
  rosterImportWorkflowId,
  type RosterImportProgress,
} from '../../workflows/rosterImportMessages';
import type { RosterIssue } from './bundle';
import { looksLikeZip, readZip, ZipError } from './zip';

/** Largest bundle accepted (zip or the sum of a directory's CSV files). */
export const MAX_BUNDLE_BYTES = 50 * 1024 * 1024;
const MAX_CSV_FILES = 50;

/** The upload is not a usable bundle at all (not a zip, no manifest.csv, too big): the caller's mistake. */
export class BundleInputError extends Error {
  override name = 'BundleInputError';
}

/** CSV files of a bundle by base name; folders inside a zip and macOS metadata are ignored. */
export function csvFilesOf(entries: Iterable<[string, Buffer]>): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [name, data] of entries) {
    if (name.startsWith('__MACOSX/') || name.split('/').some((p) => p.startsWith('._'))) continue;
    const base = name.split('/').at(-1)!;
    if (!base.toLowerCase().endsWith('.csv')) continue;
    if (out.has(base)) throw new BundleInputError(`${base} appears twice in the bundle`);
    out.set(base, data);
  }
  if (out.size > MAX_CSV_FILES)
    throw new BundleInputError(`the bundle has more than ${MAX_CSV_FILES} CSV files`);
  if (!out.has('manifest.csv'))
    throw new BundleInputError(
      'not a OneRoster bundle: manifest.csv is missing (at the top or in one folder)',
    );
  return out;
}

/** A zip archive's CSV files. */
export function bundleFromZip(zip: Buffer): Map<string, Buffer> {
  if (zip.length > MAX_BUNDLE_BYTES)
    throw new BundleInputError(`the bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
  if (!looksLikeZip(zip)) throw new BundleInputError('the upload is not a zip archive');
  try {
    return csvFilesOf(
      readZip(zip, { maxEntries: 200, maxEntryBytes: MAX_BUNDLE_BYTES, maxTotalBytes: 4 * MAX_BUNDLE_BYTES }),
    );
  } catch (err) {
    if (err instanceof ZipError) throw new BundleInputError(`the zip archive cannot be read: ${err.message}`);
    throw err;
  }
}

export async function createRosterImportRun(
  db: Knex,
  input: { files: ReadonlyMap<string, Buffer>; requestedBy: string; fileName?: string },
): Promise<string> {
  const runId = crypto.randomUUID();
  await db.transaction(async (trx) => {
    await trx('roster_import_runs').insert({
      id: runId,
      requested_by: input.requestedBy,
      file_name: input.fileName ?? null,
      workflow_id: rosterImportWorkflowId(runId),
    });
    for (const [name, content] of input.files)
      await trx('roster_import_files').insert({ run_id: runId, name, content });
    await trx('audit_log').insert({
      actor: input.requestedBy,
      action: 'roster_import.requested',
      entity: 'roster_import',
      entity_id: runId,
      after: JSON.stringify({ fileName: input.fileName ?? null, files: [...input.files.keys()].sort() }),
    });
  });
  return runId;
}

export async function startRosterImport(
  client: Client,
  taskQueue: string,
  runId: string,
): Promise<{ workflowId: string; runId: string }> {
  const workflowId = rosterImportWorkflowId(runId);
  await client.workflow.start<typeof rosterImport>('rosterImport', {
    workflowId,
    taskQueue,
    args: [{ runId }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  return { workflowId, runId };
}

export interface RosterImportView {
  runId: string;
  status: string;
  workflowId: string | null;
  requestedBy: string;
  fileName: string | null;
  createdAt: string;
  finishedAt: string | null;
  /** Live progress from the workflow's query (null once it has ended or when Temporal cannot be asked). */
  progress: RosterImportProgress | null;
  summary: Partial<RosterImportSummary> | null;
  issues: { count: number; list: RosterIssue[] } | null;
}

export async function rosterImportView(
  db: Knex,
  client: Client,
  runId: string,
): Promise<RosterImportView | undefined> {
  const run = await db('roster_import_runs').where({ id: runId }).first();
  if (!run) return undefined;
  let progress: RosterImportProgress | null = null;
  if (!['applied', 'rejected', 'failed'].includes(run.status) && run.workflow_id) {
    try {
      progress = await client.workflow.getHandle(run.workflow_id).query(rosterImportProgressQuery);
    } catch {
      // Not started yet, just ended, or Temporal is away: the run row still says where it stands.
      progress = null;
    }
  }
  const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);
  return {
    runId,
    status: run.status,
    workflowId: run.workflow_id,
    requestedBy: run.requested_by,
    fileName: run.file_name,
    createdAt: iso(run.created_at)!,
    finishedAt: iso(run.finished_at),
    progress,
    summary: run.summary,
    issues: run.issues,
  };
}

/** Statuses after which a run's workflow touches nothing of it again. */
export const FINISHED_RUN_STATUSES = ['applied', 'rejected', 'failed'] as const;

export interface RosterImportPruneResult {
  /** Runs whose uploaded files or staging rows were deleted by this pass. */
  runs: number;
  files: number;
  stagingRows: number;
  /** Runs that finished before this instant were pruned. */
  cutoff: string;
}

/**
 * Retention of OneRoster imports (ROSTER_IMPORT_RETENTION_DAYS): a run that finished more than `retentionDays`
 * before `now` loses its uploaded bundle (roster_import_files) and validated rows (roster_import_staging),
 * which hold the school's whole roster. The run row (summary, issues) and its roster_import_changes, the audit
 * of what the import changed, are kept. A run still in progress is never touched: each run is pruned in its
 * own transaction with its row locked and its status checked again. Idempotent: a second pass finds nothing.
 */
export async function pruneRosterImportRuns(
  db: Knex,
  retentionDays: number,
  now: Date,
): Promise<RosterImportPruneResult> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000).toISOString();
  const hasData = (table: string) =>
    db(table).whereRaw(`${table}.run_id = roster_import_runs.id`).select(db.raw('1'));
  const candidates: string[] = await db('roster_import_runs')
    .whereIn('status', [...FINISHED_RUN_STATUSES])
    .where('finished_at', '<', cutoff)
    .where((q) =>
      q.whereExists(hasData('roster_import_files')).orWhereExists(hasData('roster_import_staging')),
    )
    .orderBy('finished_at')
    .pluck('id');
  const result: RosterImportPruneResult = { runs: 0, files: 0, stagingRows: 0, cutoff };
  for (const runId of candidates) {
    await db.transaction(async (trx) => {
      const run = await trx('roster_import_runs')
        .where({ id: runId })
        .whereIn('status', [...FINISHED_RUN_STATUSES])
        .where('finished_at', '<', cutoff)
        .forUpdate()
        .first('id');
      if (!run) return;
      const files = await trx('roster_import_files').where({ run_id: runId }).delete();
      const stagingRows = await trx('roster_import_staging').where({ run_id: runId }).delete();
      if (files + stagingRows === 0) return;
      result.runs++;
      result.files += files;
      result.stagingRows += stagingRows;
    });
  }
  return result;
}
