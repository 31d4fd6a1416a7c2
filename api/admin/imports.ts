/**
 * OneRoster imports (admin): `POST /api/v1/admin/imports` takes a bundle as an `application/zip` body or as
 * the file of a `multipart/form-data` form, stores it under a new run (audited), starts the rosterImport
 * workflow and answers 202 with the run id; `GET /api/v1/admin/imports/:id` answers the run's status, live
 * progress, summary or the list of bad rows. Anything that is not a readable bundle is a 4xx.
 */
import express, { type Router } from 'express';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  BundleInputError,
  bundleFromZip,
  createRosterImportRun,
  MAX_BUNDLE_BYTES,
  rosterImportView,
  startRosterImport,
} from '../../lib/oneroster/runs';
import { key } from '../../lib/contracts/text';
import { featureRouter } from '../router';
import { currentUser, requireUser } from '../auth/user';
import { AppError } from '../errors';
import { parseOr400 } from '../validate';

export const importParams = z.strictObject({
  id: key({
    max: 36,
    pattern: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    message: 'not an import id (a UUID)',
  }),
});
const ZIP_TYPES = ['application/zip', 'application/x-zip-compressed'];
export const IMPORT_MEDIA_TYPES = [...ZIP_TYPES, 'multipart/form-data'];

const issue = z.object({ file: z.string(), line: z.number(), reason: z.string() });
export const importStarted = z.object({
  run_id: z.string(),
  workflow_id: z.string(),
  status_url: z.string(),
});
export const importView = z.object({
  runId: z.string(),
  status: z.enum(['received', 'validating', 'rejected', 'planning', 'applying', 'applied', 'failed']),
  workflowId: z.string().nullable(),
  requestedBy: z.string(),
  fileName: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  progress: z
    .object({
      phase: z.string(),
      issueCount: z.number(),
      changesPlanned: z.number(),
      batchesDone: z.number(),
      batchesTotal: z.number(),
    })
    .nullable(),
  summary: z.record(z.string(), z.unknown()).nullable(),
  issues: z.object({ count: z.number(), list: z.array(issue) }).nullable(),
});

export interface ImportRouteDeps {
  db: Knex;
  temporal: Client;
  taskQueue: string;
  log: Logger;
}

/** The first file part of a multipart/form-data body (RFC 7578), as bytes, with its file name. */
export function firstFilePart(body: Buffer, contentType: string): { name?: string; data: Buffer } {
  const m = /boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  if (!m) throw new AppError(400, 'invalid_multipart', 'multipart/form-data without a boundary');
  const delimiter = Buffer.from(`--${m[1] ?? m[2]}`);
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const partStart = at + delimiter.length;
    if (body.subarray(partStart, partStart + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', partStart);
    if (headerEnd < 0) break;
    const headers = body.subarray(partStart, headerEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next < 0) break;
    const disposition = /content-disposition:[^\r\n]*filename="([^"]*)"/i.exec(headers);
    if (disposition) return { name: disposition[1], data: body.subarray(headerEnd + 4, next) };
    at = next + 2;
  }
  throw new AppError(400, 'invalid_multipart', 'the form has no file part (send the bundle as a file field)');
}

export function importRoutes(deps: ImportRouteDeps): Router {
  const router = featureRouter();
  const admin = requireUser(['admin']);
  const raw = express.raw({ type: IMPORT_MEDIA_TYPES, limit: MAX_BUNDLE_BYTES });

  router.post('/api/v1/admin/imports', admin, raw, async (req, res) => {
    if (!req.is(IMPORT_MEDIA_TYPES) || !Buffer.isBuffer(req.body)) {
      throw new AppError(
        415,
        'unsupported_media_type',
        'send the OneRoster bundle as an application/zip body or as a file in multipart/form-data',
      );
    }
    if (req.body.length === 0) throw new AppError(400, 'empty_bundle', 'the request has no bundle');
    const upload = req.is('multipart/form-data')
      ? firstFilePart(req.body, req.get('content-type') ?? '')
      : { name: undefined, data: req.body };
    let files;
    try {
      files = bundleFromZip(upload.data);
    } catch (err) {
      if (err instanceof BundleInputError) throw new AppError(400, 'invalid_bundle', err.message);
      throw err;
    }
    const user = currentUser(req);
    const runId = await createRosterImportRun(deps.db, {
      files,
      requestedBy: user.id,
      fileName: upload.name?.replace(/[\u0000-\u001F\u007F-\u009F]/g, '').slice(0, 200),
    });
    const started = await startRosterImport(deps.temporal, deps.taskQueue, runId);
    const statusUrl = `/api/v1/admin/imports/${runId}`;
    res
      .status(202)
      .location(statusUrl)
      .json({ run_id: runId, workflow_id: started.workflowId, status_url: statusUrl });
  });

  router.get('/api/v1/admin/imports/:id', admin, async (req, res) => {
    const { id } = parseOr400(importParams, req.params, 'params');
    const view = await rosterImportView(deps.db, deps.temporal, id);
    if (!view) throw new AppError(404, 'not_found', `import ${id} does not exist`);
    res.json(view);
  });

  return router;
}
