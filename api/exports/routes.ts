/**
 * `GET /api/v1/exports/attendance?from=&to=[&course_id=][&format=csv|oneroster]`: admins export every
 * course, teachers only their own (README "Security", "Exporting attendance"). Input is checked and the
 * first page read before the answer starts, so a bad request or an unavailable database still gets its
 * JSON error; after that the body streams, and a failure midway cuts the connection (a truncated CSV or
 * zip, never a complete-looking one). Every export, finished or not, leaves an audit_log row.
 */
import type { Response, Router } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { z } from 'zod';
import { calendarDate, key } from '../../lib/contracts/text';
import { ZipStreamWriter } from '../../lib/oneroster/zip';
import { assertCourseAccess, currentUser, requireUser, visibleCourseIds } from '../auth/user';
import { csvRecord } from '../csv';
import { AppError } from '../errors';
import { featureRouter } from '../router';
import { parseOr400 } from '../validate';
import {
  categoriesCsv,
  lineItemRecord,
  manifestCsv,
  markPages,
  ONEROSTER_HEADERS,
  oneRosterRecord,
  PLAIN_COLUMNS,
  plainRecord,
  resultRecord,
  sessionPages,
  type ExportFilter,
} from './attendance';

/** The longest range one export covers, in calendar days (both ends included). */
export const MAX_EXPORT_DAYS = 366;

export const attendanceExportQuery = z.strictObject({
  from: calendarDate(),
  to: calendarDate(),
  course_id: key().optional(),
  format: z.enum(['csv', 'oneroster']).default('csv'),
});

const DAY_MS = 86_400_000;

/** Calendar days from `from` to `to`, both included. */
export function daysInRange(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS) + 1;
}

/** Yields the first value already taken, then the rest of the iterator. */
async function* resume<T>(first: IteratorResult<T, void>, rest: AsyncIterator<T, void>): AsyncGenerator<T> {
  if (first.done) return;
  yield first.value;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

/** Resolves once `res` has flushed `chunk`, or rejects when the client went away. */
function send(res: Response, chunk: string): Promise<void> {
  if (res.destroyed) return Promise.reject(new Error('the client closed the connection'));
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('the client closed the connection'));
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

interface ExportCounts {
  rows: number;
  lineItems?: number;
}

export function exportRoutes(deps: { db: Knex; log: Logger }): Router {
  const { db } = deps;
  const router = featureRouter();
  router.use('/api/v1/exports', requireUser(['admin', 'teacher']));

  router.get('/api/v1/exports/attendance', async (req, res) => {
    const q = parseOr400(attendanceExportQuery, req.query, 'query');
    if (q.to < q.from)
      throw new AppError(400, 'validation_failed', `query.to: ${q.to} is before query.from ${q.from}`);
    const days = daysInRange(q.from, q.to);
    if (days > MAX_EXPORT_DAYS)
      throw new AppError(
        400,
        'range_too_large',
        `query.to: the range covers ${days} days; at most ${MAX_EXPORT_DAYS} per export`,
      );
    const user = currentUser(req);
    if (q.course_id) {
      const course = await db('courses').where({ id: q.course_id }).first('id');
      if (!course) throw new AppError(404, 'not_found', `course ${q.course_id} does not exist`);
      await assertCourseAccess(db, user, q.course_id);
    }
    const filter: ExportFilter = {
      from: q.from,
      to: q.to,
      courseId: q.course_id,
      onlyCourses: q.course_id ? undefined : await visibleCourseIds(db, user),
    };
    const log = (req.log ?? deps.log).child({ export: 'attendance', userId: user.id });
    const name = `attendance-${q.from}-${q.to}${q.course_id ? `-${q.course_id.replace(/[^A-Za-z0-9-]/g, '_')}` : ''}`;

    // The first page is read before the answer starts: a failure here is still a JSON error.
    let body: (counts: ExportCounts) => Promise<void>;
    if (q.format === 'csv') {
      const marks = markPages(db, filter);
      const first = await marks.next();
      body = async (counts) => {
        res.setHeader('Content-Disposition', `attachment; filename="${name}.csv"`);
        res.type('text/csv');
        await send(res, csvRecord(PLAIN_COLUMNS));
        for await (const page of resume(first, marks)) {
          await send(res, page.map(plainRecord).join(''));
          counts.rows += page.length;
        }
      };
    } else {
      const sessions = sessionPages(db, filter);
      const first = await sessions.next();
      body = async (counts) => {
        res.setHeader('Content-Disposition', `attachment; filename="${name}-oneroster.zip"`);
        res.type('application/zip');
        const zip = new ZipStreamWriter(res);
        await zip.addFile('manifest.csv', [manifestCsv()]);
        await zip.addFile('categories.csv', [categoriesCsv()]);
        const lineItems = new Set<string>();
        await zip.addFile(
          'lineItems.csv',
          (async function* () {
            yield oneRosterRecord(ONEROSTER_HEADERS['lineItems.csv']);
            for await (const page of resume(first, sessions)) {
              for (const s of page) lineItems.add(s.session_id);
              yield page.map(lineItemRecord).join('');
            }
          })(),
        );
        counts.lineItems = lineItems.size;
        await zip.addFile(
          'results.csv',
          (async function* () {
            yield oneRosterRecord(ONEROSTER_HEADERS['results.csv']);
            for await (const page of markPages(db, filter)) {
              // A session that opened after lineItems.csv was written is left out whole.
              const kept = page.filter((m) => lineItems.has(m.session_id));
              counts.rows += kept.length;
              yield kept.map(resultRecord).join('');
            }
          })(),
        );
        await zip.finish();
      };
    }

    const counts: ExportCounts = { rows: 0 };
    let completed = false;
    try {
      await body(counts);
      res.end();
      completed = true;
    } catch (err) {
      log.warn({ err, rows: counts.rows }, 'attendance export stopped before its end');
      res.destroy();
    } finally {
      log.info(
        { format: q.format, from: q.from, to: q.to, courseId: q.course_id, ...counts, completed },
        'attendance export',
      );
      await db('audit_log')
        .insert({
          actor: user.id,
          action: 'export.attendance',
          entity: 'export',
          entity_id: 'attendance',
          after: JSON.stringify({
            from: q.from,
            to: q.to,
            course_id: q.course_id ?? null,
            format: q.format,
            ...counts,
            completed,
          }),
        })
        .catch((err: unknown) => log.error({ err }, 'the audit row of an attendance export was not written'));
    }
  });

  return router;
}
