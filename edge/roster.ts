/**
 * Class rosters on the device: fetched for the room's current class and, ahead of time, for the next one
 * (revalidated with their ETags), kept on disk (atomic write + fsync; mode 0600, it is biometric data) so
 * that a reboot without network still recognises the class that is running, and turned into Matcher rows.
 * Which roster a sighting belongs to follows the server's rule for which class it is (rankedRosters).
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
  /** The server's early window and grace when the roster was fetched (absent in older caches: the defaults). */
  earlyMinutes?: number;
  graceMinutes?: number;
}

/** The server's windows when its schedule answer does not say (SESSION_EARLY_MINUTES, SESSION_GRACE_MINUTES). */
export const DEFAULT_EARLY_MINUTES = 15;
export const DEFAULT_GRACE_MINUTES = 10;

export interface SessionWindows {
  earlyMinutes: number;
  graceMinutes: number;
}

type Timed = Pick<CachedRoster, 'startsAt' | 'endsAt' | 'earlyMinutes' | 'graceMinutes'>;

/** When the server starts and stops counting sightings for the roster's class (epoch ms, inclusive). */
export function rosterWindow(roster: Timed): { opensAt: number; closesAt: number } {
  return {
    opensAt: Date.parse(roster.startsAt) - (roster.earlyMinutes ?? DEFAULT_EARLY_MINUTES) * 60_000,
    closesAt: Date.parse(roster.endsAt) + (roster.graceMinutes ?? DEFAULT_GRACE_MINUTES) * 60_000,
  };
}

export function rosterCoversTime(roster: Timed, at: Date): boolean {
  const t = at.getTime();
  const w = rosterWindow(roster);
  return t >= w.opensAt && t <= w.closesAt;
}

/**
 * The rosters whose class takes sightings at `at`, in the order the server ranks those classes
 * (schedule_slots_at, migrations/20261202000001_time_edges.ts): the class whose own time covers the
 * instant, then one about to start (early arrivals), then one just ended (grace); the nearer boundary first.
 * With back-to-back classes the next class's roster joins when its early window opens, not when the
 * previous class's grace ends.
 */
export function rankedRosters<R extends Timed>(rosters: readonly R[], at: Date): R[] {
  const t = at.getTime();
  const rank = (r: R) => {
    const start = Date.parse(r.startsAt);
    const end = Date.parse(r.endsAt);
    const phase = t >= start && t < end ? 0 : t < start ? 1 : 2;
    return { phase, distance: Math.min(Math.abs(t - start), Math.abs(t - end)) };
  };
  return rosters
    .filter((r) => rosterCoversTime(r, at))
    .map((r) => ({ r, ...rank(r) }))
    .sort((a, b) => a.phase - b.phase || a.distance - b.distance)
    .map((x) => x.r);
}

/**
 * The roster (class) a sighting of `studentId` at `at` belongs to: the first ranked one the student is
 * on, as the server takes the first ranked class the student is enrolled in. A session id that disagrees
 * with the server's choice would get the record rejected.
 */
export function rosterForSighting(
  rosters: readonly CachedRoster[],
  studentId: string,
  at: Date,
): CachedRoster | undefined {
  return rankedRosters(rosters, at).find((r) => r.students.some((s) => s.studentId === studentId));
}

export function cachedRosterFrom(
  session: SessionInfo,
  body: RosterAnswer,
  etag: string | null,
  windows: SessionWindows,
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
    earlyMinutes: windows.earlyMinutes,
    graceMinutes: windows.graceMinutes,
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

function isCachedRoster(r: unknown): r is CachedRoster {
  const c = r as Partial<CachedRoster> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.sessionId === 'string' &&
    typeof c.startsAt === 'string' &&
    typeof c.endsAt === 'string' &&
    Array.isArray(c.students)
  );
}

/** `roster.json`: the rosters of the current and the next class (`{"rosters": [...]}`; older edges wrote one). */
export class RosterStore {
  readonly file: string;

  constructor(dataDir: string) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = path.join(dataDir, 'roster.json');
  }

  load(): CachedRoster[] {
    try {
      const saved = readJsonFile(this.file) as { rosters?: unknown } | undefined;
      if (saved === undefined) return [];
      if (isCachedRoster(saved)) return [saved];
      return Array.isArray(saved.rosters) ? saved.rosters.filter(isCachedRoster) : [];
    } catch {
      // A torn file cannot happen (atomic rename), but a corrupted disk can: refetch rather than crash.
      return [];
    }
  }

  save(rosters: readonly CachedRoster[]): void {
    writeFileAtomic(this.file, JSON.stringify({ rosters }));
  }
}
