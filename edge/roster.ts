/**
 * The class roster on the device: fetched for the room's current session (revalidated with its ETag),
 * kept on disk (atomic write + fsync; mode 0600, it is biometric data) so that a reboot without network
 * still recognises the class that is running, and turned into Matcher rows.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RosterEmbedding } from '../models';
import type { RosterAnswer, SessionInfo } from '../lib/contracts';
import { readJsonFile, writeFileAtomic } from './durableFile';

export interface CachedRoster {
  sessionId: string;
  courseId: string;
  startsAt: string;
  endsAt: string;
  rosterVersion: number;
  etag: string | null;
  modelId: string;
  dimension: number;
  students: { studentId: string; embeddings: string[] }[];
  fetchedAt: string;
}

/** The server accepts marks from 15 min before a class to 10 min after it (its default early/grace). */
export const EARLY_MS = 15 * 60_000;
export const GRACE_MS = 10 * 60_000;

export function rosterCoversTime(roster: Pick<CachedRoster, 'startsAt' | 'endsAt'>, at: Date): boolean {
  const t = at.getTime();
  return t >= Date.parse(roster.startsAt) - EARLY_MS && t <= Date.parse(roster.endsAt) + GRACE_MS;
}

export function cachedRosterFrom(
  session: SessionInfo,
  body: RosterAnswer,
  etag: string | null,
  now = new Date(),
): CachedRoster {
  return {
    sessionId: session.session_id,
    courseId: session.course_id,
    startsAt: session.starts_at,
    endsAt: session.ends_at,
    rosterVersion: body.rosterVersion,
    etag,
    modelId: body.modelId,
    dimension: body.dimension,
    students: body.students,
    fetchedAt: now.toISOString(),
  };
}

export function rosterEmbeddings(roster: CachedRoster): RosterEmbedding[] {
  return roster.students.flatMap((s) =>
    s.embeddings.map((b64) => {
      const bytes = Buffer.from(b64, 'base64');
      if (bytes.length !== roster.dimension * 4) {
        throw new Error(
          `roster embedding of ${s.studentId} has ${bytes.length} bytes, expected ${roster.dimension * 4}`,
        );
      }
      const embedding = new Float32Array(roster.dimension);
      for (let i = 0; i < roster.dimension; i++) embedding[i] = bytes.readFloatLE(i * 4);
      return { personId: s.studentId, embedding };
    }),
  );
}

export class RosterStore {
  readonly file: string;

  constructor(dataDir: string) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = path.join(dataDir, 'roster.json');
  }

  load(): CachedRoster | undefined {
    try {
      const r = readJsonFile(this.file) as CachedRoster | undefined;
      return r && typeof r.sessionId === 'string' && Array.isArray(r.students) ? r : undefined;
    } catch {
      // A torn file cannot happen (atomic rename), but a corrupted disk can: refetch rather than crash.
      return undefined;
    }
  }

  save(roster: CachedRoster): void {
    writeFileAtomic(this.file, JSON.stringify(roster));
  }

  clear(): void {
    fs.rmSync(this.file, { force: true });
  }
}
