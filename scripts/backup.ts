/**
 * Backups for operators, through the same workflows the Schedule runs (a running Rollcall worker is needed
 * for run/restore):
 *
 *   tsx scripts/backup.ts run                      dump now, verify by restore, apply retention; prints the result
 *   tsx scripts/backup.ts list [--json]            every recorded run, newest first
 *   tsx scripts/backup.ts restore <id> --into <db> restore into a NEW (or empty) database, counts checked
 *
 * After a restore, point DATABASE_URL at the new database and restart; the live database is never
 * overwritten. Exit codes: 0 ok, 1 failed, 2 usage.
 */
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import type { backupDatabase } from '../workflows/backupDatabase';
import type { restoreDatabase } from '../workflows/restoreDatabase';
import { openOpsContext, runCli, UsageError } from './lib/opsContext';

const USAGE = `usage: tsx scripts/backup.ts run
       tsx scripts/backup.ts list [--json]
       tsx scripts/backup.ts restore <backupId> --into <database>`;

function rootCause(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { into: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, id] = positionals;
  if (values.help || !command) throw new UsageError('');
  if (command === 'restore' && (!id || !/^\d+$/.test(id) || !values.into))
    throw new UsageError('restore needs <backupId> --into <database>');
  if (!['run', 'list', 'restore'].includes(command)) throw new UsageError(`unknown command ${command}`);
  const ctx = await openOpsContext();
  try {
    if (command === 'list') {
      const rows = await ctx
        .db('backups')
        .orderBy('id', 'desc')
        .select(
          'id',
          'trigger',
          'status',
          'snapshot_at',
          'size_bytes',
          'dump_ms',
          'verify_ms',
          'file_path',
          'error',
        );
      if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
      for (const r of values.json ? [] : rows) {
        const at = r.snapshot_at ? new Date(r.snapshot_at).toISOString() : '-';
        const size = r.size_bytes ? `${(Number(r.size_bytes) / 1024).toFixed(0)} KiB` : '-';
        process.stdout.write(
          `${String(r.id).padStart(5)}  ${r.status.padEnd(9)} ${r.trigger.padEnd(8)} ${at}  ${size.padStart(10)}  ${r.file_path ?? r.error ?? ''}\n`,
        );
      }
      return 0;
    }
    const client = await ctx.temporal();
    try {
      if (command === 'run') {
        const r = await client.workflow.execute<typeof backupDatabase>('backupDatabase', {
          taskQueue: ctx.cfg.TEMPORAL_TASK_QUEUE,
          workflowId: `backup:manual:${new Date().toISOString()}`,
          args: [{ trigger: 'manual' }],
        });
        process.stdout.write(
          `backup ${r.backupId} verified: ${r.dump.filePath} (${r.dump.sizeBytes} bytes, ${r.dump.tables} tables, ${r.dump.rows} rows; ` +
            `dump ${r.dump.dumpMs} ms, verify ${r.verify.verifyMs} ms); pruned ${r.retention.pruned.length}\n`,
        );
        return 0;
      }
      const r = await client.workflow.execute<typeof restoreDatabase>('restoreDatabase', {
        taskQueue: ctx.cfg.TEMPORAL_TASK_QUEUE,
        workflowId: `restore:${id}:${values.into}:${crypto.randomBytes(3).toString('hex')}`,
        args: [{ backupId: Number(id), intoDatabase: values.into! }],
      });
      process.stdout.write(
        `restored backup ${r.backupId} into ${r.database}: ${r.tables} tables, ${r.rows} rows in ${r.restoreMs} ms\n`,
      );
      return 0;
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      process.stderr.write(`${command} failed: ${rootCause(err)}\n`);
      return 1;
    }
  } finally {
    await ctx.close();
  }
}

runCli(USAGE, main);
