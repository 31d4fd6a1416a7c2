/**
 * Enroll faces from the command line (what the original project's encode_faces did), through the same
 * enrollStudent workflow the API starts, or in-process with --direct.
 *
 *   tsx scripts/encode-faces.ts --batch photos/                 files named by student id: S001.jpg, S001_2.jpg
 *   tsx scripts/encode-faces.ts --student S999 --image x.jpg [--image x2.jpg]
 *   tsx scripts/encode-faces.ts --verify S999 --image y.jpg      score a photo against S999's stored faces
 *
 * Options: --direct (no Temporal: run the activity code here), --consent-by NAME (record biometric consent
 * first, attesting that NAME collected it), --by NAME (audit actor; default cli:$USER), --json.
 * Enrolling replaces the student's previous embeddings of the model. Your photo files are never modified:
 * copies are staged and the copies are discarded after encoding (unless ENROLLMENT_KEEP_PHOTOS).
 *
 * Needs the database (DATABASE_URL, or the local one `npm start` runs) and, without --direct, a running
 * worker (`npm start` or `npm run worker`) reachable at TEMPORAL_ADDRESS or 127.0.0.1:TEMPORAL_PORT.
 * Exit codes: 0 ok, 1 some photos or students failed, 2 usage, 3 verify: no match.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import { config } from '../lib/config';
import { createDb } from '../lib/db';
import {
  enrollWorkflowId,
  enrollmentSettingsFromConfig,
  stagePhotos,
  STUDENT_ID_PATTERN,
  type EnrollmentSettings,
} from '../lib/enrollment';
import { ensurePostgres } from '../lib/infra';
import { logger } from '../lib/logger';
import { isPortOpen } from '../lib/process';
import { connectClient } from '../lib/temporal/connection';
import {
  createEnrollmentActivities,
  sharedFacePipeline,
  type EnrollmentReport,
} from '../activities/enrollment';
import { Matcher } from '../models';
import type { enrollStudent } from '../workflows/enrollStudent';

const IMAGE_FILE = /^(.+?)(?:_\d+)?\.(jpe?g|png|webp)$/i;
const CONCURRENCY = 4;

class UsageError extends Error {}

interface Job {
  studentId: string;
  files: string[];
}

/** Groups S001.jpg, S001_2.jpg … by student id; anything else is reported and skipped. */
export function groupBatch(dir: string): { jobs: Job[]; skipped: string[] } {
  const byStudent = new Map<string, string[]>();
  const skipped: string[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (!fs.statSync(full).isFile()) continue;
    const m = IMAGE_FILE.exec(name);
    if (!m || !STUDENT_ID_PATTERN.test(m[1]!)) {
      skipped.push(name);
      continue;
    }
    byStudent.set(m[1]!, [...(byStudent.get(m[1]!) ?? []), full]);
  }
  return { jobs: [...byStudent].map(([studentId, files]) => ({ studentId, files })), skipped };
}

/** A one-line progress bar on stderr (redrawn in place on a TTY, one line per update otherwise). */
function progress(total: number, label: string) {
  let done = 0;
  const started = Date.now();
  const tty = process.stderr.isTTY;
  const draw = (note: string) => {
    const width = 28;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${secs}s ${note}`;
    process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
  draw('');
  return {
    tick(note: string) {
      done++;
      draw(note);
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}

interface Outcome {
  studentId: string;
  report?: EnrollmentReport;
  error?: string;
}

async function runPool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

async function recordConsent(db: Knex, studentId: string, by: string): Promise<void> {
  const active = await db('consents')
    .where({ student_id: studentId, kind: 'biometric_enrollment' })
    .whereNull('revoked_at')
    .first('id');
  if (active) return;
  await db.transaction(async (trx) => {
    await trx('consents').insert({ student_id: studentId, kind: 'biometric_enrollment', granted_by: by });
    await trx('audit_log').insert({
      actor: by,
      action: 'consent.grant',
      entity: 'student',
      entity_id: studentId,
      after: JSON.stringify({ via: 'cli' }),
    });
  });
}

async function enrollOne(
  job: Job,
  ctx: {
    db: Knex;
    settings: EnrollmentSettings;
    client?: Client;
    taskQueue: string;
    by: string;
    consentBy?: string;
  },
): Promise<Outcome> {
  try {
    if (ctx.consentBy) await recordConsent(ctx.db, job.studentId, ctx.consentBy);
    const refs = await stagePhotos(
      ctx.settings.stagingDir,
      job.studentId,
      job.files.map((f) => fs.readFileSync(f)),
    );
    if (ctx.client) {
      const report = await ctx.client.workflow.execute<typeof enrollStudent>('enrollStudent', {
        taskQueue: ctx.taskQueue,
        workflowId: enrollWorkflowId(job.studentId),
        args: [{ studentId: job.studentId, photoRefs: refs, by: ctx.by }],
      });
      return { studentId: job.studentId, report };
    }
    // --direct: the workflow's steps, in-process.
    const acts = createEnrollmentActivities(ctx.db, ctx.settings);
    try {
      await acts.checkEnrollmentConsent({ studentId: job.studentId });
      return {
        studentId: job.studentId,
        report: await acts.encodeEnrollmentPhotos({ studentId: job.studentId, photoRefs: refs, by: ctx.by }),
      };
    } finally {
      await acts.discardEnrollmentPhotos({ photoRefs: refs });
    }
  } catch (err) {
    const e = err as Error & { cause?: Error & { cause?: Error } };
    return { studentId: job.studentId, error: e.cause?.cause?.message ?? e.cause?.message ?? e.message };
  }
}

function describeOutcome(o: Outcome, files: string[]): string {
  if (o.error) return `${o.studentId}: FAILED — ${o.error}`;
  const r = o.report!;
  const lines = [
    `${o.studentId}: stored ${r.stored}/${r.photos.length}${r.replaced ? ` (replaced ${r.replaced})` : ''}`,
  ];
  r.photos.forEach((p, i) => {
    if (p.status === 'rejected')
      lines.push(`  ${path.basename(files[i] ?? p.ref)}: ${p.reason?.code} — ${p.reason?.message}`);
  });
  return lines.join('\n');
}

async function verify(
  db: Knex,
  settings: EnrollmentSettings,
  studentId: string,
  image: string,
  json: boolean,
): Promise<number> {
  const modelId = settings.embedder;
  const rows: { student_id: string; vector: Buffer; key_id: string }[] = await db('face_embeddings')
    .where({ student_id: studentId, model_id: modelId })
    .select('student_id', 'vector', 'key_id');
  if (rows.length === 0) throw new UsageError(`${studentId} has no stored ${modelId} embeddings`);
  const roster = rows.map((r) => ({
    personId: studentId,
    embedding: settings.cipher.open({ keyId: r.key_id, sealed: r.vector }, { studentId, modelId }),
  }));
  const pipeline = await sharedFacePipeline(settings.modelDir, settings.embedder);
  const faces = await pipeline.embedFaces(image);
  if (faces.length !== 1) throw new UsageError(`${image}: expected exactly one face, found ${faces.length}`);
  const { threshold } = pipeline.recognitionDefaults();
  const result = new Matcher(pipeline.embeddingDim, roster, { threshold }).match(faces[0]!.embedding);
  const matched = result.kind === 'match';
  if (json)
    process.stdout.write(
      `${JSON.stringify({ studentId, modelId, score: result.score, threshold, matched, storedEmbeddings: rows.length })}\n`,
    );
  else
    process.stdout.write(
      `${studentId}: score ${result.score.toFixed(3)} against ${rows.length} stored (threshold ${threshold}) → ${matched ? 'MATCH' : 'NO MATCH'}\n`,
    );
  await pipeline.dispose();
  return matched ? 0 : 3;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      batch: { type: 'string' },
      student: { type: 'string' },
      verify: { type: 'string' },
      image: { type: 'string', multiple: true },
      direct: { type: 'boolean', default: false },
      'consent-by': { type: 'string' },
      by: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const modes = [values.batch, values.student, values.verify].filter((v) => v !== undefined).length;
  if (values.help || modes !== 1)
    throw new UsageError('choose one of --batch DIR, --student ID --image FILE…, --verify ID --image FILE');
  const images = values.image ?? [];
  for (const img of images) if (!fs.existsSync(img)) throw new UsageError(`no such file: ${img}`);

  const cfg = config();
  const log = logger();
  const settings = enrollmentSettingsFromConfig(cfg);
  const pgWasRunning = cfg.DATABASE_URL !== undefined || (await isPortOpen(cfg.PG_PORT));
  const pg = await ensurePostgres(cfg, log);
  const db = createDb(pg.url, 4);
  const closers: (() => Promise<unknown>)[] = [() => db.destroy()];
  if (!pgWasRunning) closers.push(pg.stop);
  try {
    if (values.verify !== undefined) {
      if (images.length !== 1) throw new UsageError('--verify needs exactly one --image');
      return await verify(db, settings, values.verify, images[0]!, values.json);
    }
    let jobs: Job[];
    if (values.batch !== undefined) {
      const grouped = groupBatch(values.batch);
      for (const s of grouped.skipped)
        process.stderr.write(`skipping ${s}: not named <studentId>[_n].jpg|png|webp\n`);
      jobs = grouped.jobs;
    } else {
      if (images.length === 0) throw new UsageError('--student needs at least one --image');
      if (!STUDENT_ID_PATTERN.test(values.student!))
        throw new UsageError(`not a student id: ${values.student}`);
      jobs = [{ studentId: values.student!, files: images }];
    }
    let client: Client | undefined;
    if (!values.direct) {
      client = await connectClient(cfg, cfg.TEMPORAL_ADDRESS ?? `127.0.0.1:${cfg.TEMPORAL_PORT}`);
      closers.unshift(() => client!.connection.close());
    }
    const ctx = {
      db,
      settings,
      client,
      taskQueue: cfg.TEMPORAL_TASK_QUEUE,
      by: values.by ?? `cli:${os.userInfo().username}`,
      consentBy: values['consent-by'],
    };
    const bar = progress(jobs.length, values.direct ? 'encoding' : 'enrolling');
    const started = Date.now();
    const outcomes = await runPool(jobs, values.direct ? 1 : CONCURRENCY, async (job) => {
      const o = await enrollOne(job, ctx);
      bar.tick(`${job.studentId}${o.error ? ' failed' : ` ${o.report!.stored}/${job.files.length}`}`);
      return o;
    });
    bar.end();
    const photos = jobs.reduce((n, j) => n + j.files.length, 0);
    if (values.json) process.stdout.write(`${JSON.stringify(outcomes)}\n`);
    else outcomes.forEach((o, i) => process.stdout.write(`${describeOutcome(o, jobs[i]!.files)}\n`));
    process.stderr.write(
      `${jobs.length} students, ${photos} photos in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    if (values.direct) await (await sharedFacePipeline(settings.modelDir, settings.embedder)).dispose();
    return outcomes.every((o) => !o.error && o.report!.rejected === 0) ? 0 : 1;
  } finally {
    for (const close of closers) await close().catch(() => undefined);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
        process.stderr.write(
          `encode-faces: ${(err as Error).message}\n(see the header of scripts/encode-faces.ts)\n`,
        );
        process.exit(2);
      }
      process.stderr.write(`encode-faces: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
