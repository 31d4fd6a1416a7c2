/** Driving the OneRoster import through the API in integration tests: upload, wait, count. */
import assert from 'node:assert/strict';
import type { Express } from 'express';
import type { Knex } from 'knex';
import request from 'supertest';
import { eventually } from './app';
import { bundleZip } from './oneroster';

export const ROSTER_TABLES = ['students', 'users', 'courses', 'enrollments', 'schedules'] as const;

/** Rows per roster table (what a rejected bundle must leave as it was). */
export async function rosterCounts(db: Knex): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ROSTER_TABLES) {
    const [{ n }] = await db(t).count<{ n: string }[]>('* as n');
    out[t] = Number(n);
  }
  return out;
}

/**
 * Uploads a bundle to POST /api/v1/admin/imports as `bearer` (inside `school` with X-School-Id when given; as a
 * zip body or a multipart file) and waits for the run to finish; answers the run view.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function uploadRoster<View = any>(
  app: Express,
  files: ReadonlyMap<string, string>,
  opts: { bearer: string; school?: string; how?: 'zip' | 'multipart' },
): Promise<View> {
  const withSchool = (req: request.Test) => (opts.school ? req.set('X-School-Id', opts.school) : req);
  const post = withSchool(request(app).post('/api/v1/admin/imports').set('Authorization', opts.bearer));
  const res =
    opts.how === 'multipart'
      ? await post.attach('bundle', bundleZip(files), {
          filename: 'roster.zip',
          contentType: 'application/zip',
        })
      : await post.set('Content-Type', 'application/zip').send(bundleZip(files));
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assert.match(res.body.workflow_id, /^roster-import:/);
  return eventually(
    async () => {
      const view = await withSchool(request(app).get(res.body.status_url).set('Authorization', opts.bearer));
      assert.equal(view.status, 200, JSON.stringify(view.body));
      return ['applied', 'rejected', 'failed'].includes(view.body.status) ? (view.body as View) : undefined;
    },
    'the import to finish',
    120_000,
  );
}
