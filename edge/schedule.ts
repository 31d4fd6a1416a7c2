/**
 * Keeps the rosters of the room's classes fresh: asks GET /api/v1/schedule every 10 minutes and at class
 * boundaries, fetches the current class's roster and, shortly before its early window opens, the next
 * class's, revalidates them with If-None-Match, and persists them. Which roster applies is a matter of the
 * clock alone (rankedRosters), so the next class is recognised from the moment the server counts its
 * sightings, even when the API cannot be reached then; on start-up the cached rosters are loaded.
 */
import type { Logger } from 'pino';
import type { ScheduleAnswer, SessionInfo } from '../lib/contracts';
import type { ApiClient } from './api';
import { abortableSleep, withBackoff } from './backoff';
import {
  cachedRosterFrom,
  DEFAULT_EARLY_MINUTES,
  DEFAULT_GRACE_MINUTES,
  rankedRosters,
  rosterCoversTime,
  rosterWindow,
  RosterStore,
  type CachedRoster,
  type SessionWindows,
} from './roster';

/** The next class's roster is fetched at the latest this long before its early window opens. */
export const PREFETCH_LEAD_MS = 2 * 60_000;

export interface RosterSyncOptions {
  classroomId: string;
  pollMs: number;
  /** The server's time (edge/clock.ts); the device's clock when omitted. */
  now?: () => Date;
}

export class RosterSync {
  private rosters: CachedRoster[];
  private schedule: ScheduleAnswer | undefined;
  private readonly listeners = new Set<(roster: CachedRoster | undefined) => void>();
  private readonly now: () => Date;
  lastError: string | undefined;

  constructor(
    private readonly api: ApiClient,
    private readonly store: RosterStore,
    private readonly log: Logger,
    private readonly opts: RosterSyncOptions,
  ) {
    this.now = opts.now ?? (() => new Date());
    this.rosters = store.load();
    for (const r of this.rosters)
      log.info({ sessionId: r.sessionId, rosterVersion: r.rosterVersion }, 'roster cache loaded');
  }

  /** The rosters of the classes taking sightings at `at`, ranked as the server ranks them (cached or fresh). */
  activeRosters(at: Date = this.now()): CachedRoster[] {
    return rankedRosters(this.rosters, at);
  }

  /** The roster of the class a sighting at `at` belongs to first, if any. */
  active(at: Date = this.now()): CachedRoster | undefined {
    return this.activeRosters(at)[0];
  }

  onChange(listener: (roster: CachedRoster | undefined) => void): void {
    this.listeners.add(listener);
  }

  /**
   * One poll: schedule → rosters (ETag). Throws when the API could not be asked; what was fetched is kept,
   * and the cache keeps the rest.
   */
  async refresh(signal?: AbortSignal): Promise<void> {
    const schedule = await this.api.schedule(this.opts.classroomId, signal);
    this.schedule = schedule;
    const windows: SessionWindows = {
      earlyMinutes: schedule.early_minutes ?? DEFAULT_EARLY_MINUTES,
      graceMinutes: schedule.grace_minutes ?? DEFAULT_GRACE_MINUTES,
    };
    const now = this.now();
    const wanted: SessionInfo[] = [];
    if (schedule.current) wanted.push(schedule.current);
    const next = schedule.next;
    let prefetch: string | undefined;
    if (next && next.session_id !== schedule.current?.session_id) {
      const opensIn = rosterWindow(sessionTimes(next, windows)).opensAt - now.getTime();
      if (opensIn <= this.opts.pollMs + PREFETCH_LEAD_MS) {
        wanted.push(next);
        prefetch = next.session_id;
      }
    }

    const fresh: CachedRoster[] = [];
    let failure: unknown;
    for (const session of wanted) {
      try {
        const r = await this.fetchRoster(session, windows, signal);
        if (r) fresh.push(r);
      } catch (err) {
        failure ??= err;
        // Not reachable now: the copy on disk (if any) still serves its class.
        const old = this.rosters.find((r) => r.sessionId === session.session_id);
        if (old) fresh.push(old);
      }
    }
    // A class the server no longer names as current but that is in its grace keeps its roster: a student
    // seen after the bell still counts for it when the next class does not have them.
    const inGrace = this.rosters.filter(
      (r) =>
        !fresh.some((f) => f.sessionId === r.sessionId) &&
        Date.parse(r.endsAt) <= now.getTime() &&
        rosterCoversTime(r, now),
    );
    this.replace([...fresh, ...inGrace], prefetch);
    if (failure !== undefined) throw failure;
  }

  private async fetchRoster(
    session: SessionInfo,
    windows: SessionWindows,
    signal?: AbortSignal,
  ): Promise<CachedRoster | undefined> {
    const cached = this.rosters.find((r) => r.sessionId === session.session_id);
    const fetched = await this.api.roster(session.session_id, cached?.etag ?? null, signal);
    if (fetched.status === 'not-modified' && cached) {
      return { ...cached, ...sessionTimes(session, windows), fetchedAt: this.now().toISOString() };
    }
    if (fetched.status === 'ok') {
      return cachedRosterFrom(session, fetched.roster, fetched.etag, windows, this.now());
    }
    return undefined;
  }

  private replace(next: CachedRoster[], prefetched: string | undefined): void {
    const before = new Map(this.rosters.map((r) => [r.sessionId, r.etag]));
    const changed =
      next.length !== this.rosters.length ||
      next.some((r) => !before.has(r.sessionId) || before.get(r.sessionId) !== r.etag);
    this.store.save(next);
    this.rosters = next;
    if (!changed) return;
    for (const r of next) {
      if (before.has(r.sessionId) && before.get(r.sessionId) === r.etag) continue;
      const ahead = r.sessionId === prefetched;
      this.log.info(
        {
          sessionId: r.sessionId,
          courseId: r.courseId,
          rosterVersion: r.rosterVersion,
          students: r.students.length,
          startsAt: r.startsAt,
        },
        ahead ? 'roster of the next class fetched ahead' : 'roster updated',
      );
    }
    const top = this.active();
    for (const l of this.listeners) l(top);
  }

  /** Milliseconds until the next poll: the regular interval, or sooner at a class boundary. */
  nextPollDelay(): number {
    const now = this.now().getTime();
    const windows: SessionWindows = {
      earlyMinutes: this.schedule?.early_minutes ?? DEFAULT_EARLY_MINUTES,
      graceMinutes: this.schedule?.grace_minutes ?? DEFAULT_GRACE_MINUTES,
    };
    const next = this.schedule?.next;
    const nextOnDevice =
      next !== undefined && next !== null && this.rosters.some((r) => r.sessionId === next.session_id);
    const boundaries = [
      this.schedule?.current ? Date.parse(this.schedule.current.ends_at) : undefined,
      // Just before the next class's early window opens (to fetch its roster, unless it is here already),
      // and at its start.
      next && !nextOnDevice
        ? rosterWindow(sessionTimes(next, windows)).opensAt - PREFETCH_LEAD_MS
        : undefined,
      next ? Date.parse(next.starts_at) : undefined,
    ]
      .filter((t): t is number => t !== undefined)
      .map((t) => t - now + 1000)
      .filter((d) => d > 0);
    return Math.min(this.opts.pollMs, ...boundaries);
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        // A few quick retries for a blip; a longer outage waits for the next poll (the cache covers it).
        await withBackoff(() => this.refresh(signal), {
          initialMs: 2000,
          maxMs: 30_000,
          maxAttempts: 3,
          signal,
        });
        this.lastError = undefined;
      } catch (err) {
        if (signal.aborted) break;
        this.lastError = (err as Error).message;
        this.log.warn(
          { err: this.lastError, cachedSessions: this.rosters.map((r) => r.sessionId) },
          'schedule/roster refresh failed; using the cache',
        );
      }
      const wait = this.lastError ? Math.min(this.nextPollDelay(), 60_000) : this.nextPollDelay();
      await abortableSleep(wait * (0.9 + Math.random() * 0.2), signal).catch(() => undefined);
    }
  }
}

function sessionTimes(
  session: SessionInfo,
  windows: SessionWindows,
): Pick<CachedRoster, 'startsAt' | 'endsAt' | 'earlyMinutes' | 'graceMinutes'> {
  return {
    startsAt: session.starts_at,
    endsAt: session.ends_at,
    earlyMinutes: windows.earlyMinutes,
    graceMinutes: windows.graceMinutes,
  };
}
