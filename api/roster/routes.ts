/**
 * `GET /api/v1/roster/:sessionId` (device key): the faces a device in the session's room needs, i.e. the
 * decrypted embeddings of exactly the students enrolled in that session's course (with active consent),
 * for the server's enrollment model. A strong ETag over roster version + model + the embedding rows lets
 * the device revalidate for free (304) and only download when the class's faces changed.
 */
import crypto from 'node:crypto';
import type { Router } from 'express';
import { featureRouter } from '../router';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { rosterParamsSchema, type RosterAnswer } from '../../lib/contracts';
import { EmbeddingCryptoError } from '../../lib/crypto/embeddings';
import { embeddingToBytes } from '../../lib/crypto/embeddings';
import type { EnrollmentSettings } from '../../lib/enrollment';
import { EMBEDDER_SPECS } from '../../models/pipeline/embedders';
import { parseSessionId } from '../../workflows/messages';
import { requireDevice } from '../auth/device';
import { AppError } from '../errors';
import { parseOr400 } from '../validate';

export interface RosterDeps {
  db: Knex;
  log: Logger;
  settings: Pick<EnrollmentSettings, 'cipher' | 'embedder'>;
}

interface EmbeddingMeta {
  id: number | string;
  student_id: string;
}

/** ISO day of week (1 = Monday) of a calendar date. */
function isoDayOfWeek(date: string): number {
  return ((new Date(`${date}T00:00:00Z`).getUTCDay() + 6) % 7) + 1;
}

function etagFor(rosterVersion: number, modelId: string, rows: readonly EmbeddingMeta[]): string {
  const h = crypto.createHash('sha256');
  h.update(`roster/v1\0${rosterVersion}\0${modelId}\0`);
  for (const r of rows) h.update(`${r.student_id}:${r.id},`);
  return `"${h.digest('base64url').slice(0, 32)}"`;
}

/** If-None-Match uses weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

export function rosterRoutes(deps: RosterDeps): Router {
  const router = featureRouter();
  const modelId = deps.settings.embedder;

  router.get('/api/v1/roster/:sessionId', requireDevice(deps.db, { inSchool: true }), async (req, res) => {
    const { sessionId } = parseOr400(rosterParamsSchema, req.params, 'params');
    const parsed = parseSessionId(sessionId);
    if (!parsed)
      throw new AppError(
        400,
        'invalid_session_id',
        'session ids look like session:{scheduleId}:{YYYY-MM-DD}',
      );
    const device = req.device!;
    const schedule = await deps
      .db('schedules as s')
      .join('courses as c', 'c.id', 's.course_id')
      .where('s.id', parsed.scheduleId)
      .first(
        's.course_id',
        's.room_id',
        's.day_of_week',
        's.effective_from',
        's.effective_to',
        'c.roster_version',
      );
    if (!schedule) throw new AppError(404, 'not_found', `session ${sessionId} does not exist`);
    if (schedule.room_id !== device.roomId) {
      throw new AppError(403, 'wrong_room', `session ${sessionId} is not in this device's room`);
    }
    const from = String(schedule.effective_from);
    const to = schedule.effective_to === null ? null : String(schedule.effective_to);
    if (
      isoDayOfWeek(parsed.sessionDate) !== schedule.day_of_week ||
      parsed.sessionDate < from ||
      (to !== null && parsed.sessionDate > to)
    ) {
      throw new AppError(
        404,
        'not_found',
        `schedule ${parsed.scheduleId} has no session on ${parsed.sessionDate}`,
      );
    }
    const courseId: string = schedule.course_id;
    const rosterVersion = Number(schedule.roster_version);

    const enrolledWithConsent = deps
      .db('enrollments as e')
      .where('e.course_id', courseId)
      .whereExists(
        deps
          .db('consents as k')
          .whereRaw('k.student_id = e.student_id')
          .where('k.kind', 'biometric_enrollment')
          .whereNull('k.revoked_at'),
      )
      .select('e.student_id');
    const meta: EmbeddingMeta[] = await deps
      .db('face_embeddings')
      .where('model_id', modelId)
      .whereIn('student_id', enrolledWithConsent)
      .orderBy([{ column: 'student_id' }, { column: 'id' }])
      .select('id', 'student_id');
    const etag = etagFor(rosterVersion, modelId, meta);
    res.setHeader('ETag', etag);
    // Biometric data: the device may cache it, shared caches must not; always revalidate.
    res.setHeader('Cache-Control', 'private, no-cache');
    if (matches(req.get('if-none-match'), etag)) {
      res.status(304).end();
      return;
    }

    const rows: { id: number | string; student_id: string; vector: Buffer; key_id: string }[] = await deps
      .db('face_embeddings')
      .whereIn(
        'id',
        meta.map((m) => m.id),
      )
      .orderBy([{ column: 'student_id' }, { column: 'id' }])
      .select('id', 'student_id', 'vector', 'key_id');
    const byStudent = new Map<string, string[]>();
    let unreadable = 0;
    for (const row of rows) {
      try {
        const vector = deps.settings.cipher.open(
          { keyId: row.key_id, sealed: row.vector },
          { studentId: row.student_id, modelId },
        );
        const list = byStudent.get(row.student_id) ?? [];
        list.push(embeddingToBytes(vector).toString('base64'));
        byStudent.set(row.student_id, list);
      } catch (err) {
        if (!(err instanceof EmbeddingCryptoError)) throw err;
        // A row that fails authentication was tampered with or moved: never serve it, and say so loudly.
        unreadable++;
        req.log.error(
          { embeddingRowId: String(row.id), studentId: row.student_id, keyId: row.key_id },
          err.message,
        );
      }
    }
    const [{ n }] = await deps
      .db('enrollments')
      .where({ course_id: courseId })
      .count<{ n: number }[]>('* as n');
    const body: RosterAnswer = {
      sessionId,
      courseId,
      roomId: schedule.room_id,
      modelId,
      dimension: EMBEDDER_SPECS[modelId].dim,
      encoding: 'base64-float32le',
      rosterVersion,
      students: [...byStudent].map(([studentId, embeddings]) => ({ studentId, embeddings })),
      studentsWithoutFaces: Number(n) - byStudent.size,
    };
    if (unreadable > 0)
      req.log.warn({ sessionId, unreadable }, 'roster served without embeddings that failed authentication');
    res.json(body);
  });

  return router;
}
