/**
 * Keeps the room's current class and its roster fresh: asks GET /api/v1/schedule every 10 minutes and at
 * class boundaries, revalidates the roster with If-None-Match, and persists it. When the API is
 * unreachable it keeps (and on start-up loads) the cached roster for as long as that class runs.
 */
import type { Logger } from 'pino';
import type { ScheduleAnswer } from '../lib/contracts';
import type { ApiClient } from './api';
import { abortableSleep, withBackoff } from './backoff';
import { cachedRosterFrom, rosterCoversTime, RosterStore, EARLY_MS, type CachedRoster } from './roster';

export interface RosterSyncOptions {
  classroomId: string;
  pollMs: number;
  now?: () => Date;
}

export class RosterSync {
  private roster: CachedRoster | undefined;
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
    this.roster = store.load();
    if (this.roster)
      log.info(
        { sessionId: this.roster.sessionId, rosterVersion: this.roster.rosterVersion },
        'roster cache loaded',
      );
  }

  /** The roster of the class running now, if any (cached or fresh). */
  active(at: Date = this.now()): CachedRoster | undefined {
    return this.roster && rosterCoversTime(this.roster, at) ? this.roster : undefined;
  }

  onChange(listener: (roster: CachedRoster | undefined) => void): void {
    this.listeners.add(listener);
  }

  /** One poll: schedule → roster (ETag). Throws when the API could not be asked; the cache stays. */
  async refresh(signal?: AbortSignal): Promise<void> {
    const schedule = await this.api.schedule(this.opts.classroomId, signal);
    this.schedule = schedule;
    const current = schedule.current;
    if (!current) return;
    const cached = this.roster?.sessionId === current.session_id ? this.roster : undefined;
    const fetched = await this.api.roster(current.session_id, cached?.etag ?? null, signal);
    let next: CachedRoster;
    if (fetched.status === 'not-modified' && cached) {
      next = {
        ...cached,
        startsAt: current.starts_at,
        endsAt: current.ends_at,
        fetchedAt: this.now().toISOString(),
      };
    } else if (fetched.status === 'ok') {
      next = cachedRosterFrom(current, fetched.roster, fetched.etag, this.now());
    } else {
      return;
    }
    const changed = next.sessionId !== this.roster?.sessionId || next.etag !== this.roster?.etag;
    this.store.save(next);
    this.roster = next;
    if (changed) {
      this.log.info(
        {
          sessionId: next.sessionId,
          courseId: next.courseId,
          rosterVersion: next.rosterVersion,
          students: next.students.length,
        },
        'roster updated',
      );
      for (const l of this.listeners) l(next);
    }
  }

  /** Milliseconds until the next poll: the regular interval, or sooner at a class boundary. */
  nextPollDelay(): number {
    const now = this.now().getTime();
    const boundaries = [
      this.schedule?.current?.ends_at,
      this.schedule?.next?.starts_at
        ? new Date(Date.parse(this.schedule.next.starts_at) - EARLY_MS).toISOString()
        : undefined,
    ]
      .filter((t): t is string => t !== undefined)
      .map((t) => Date.parse(t) - now + 1000)
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
          { err: this.lastError, cachedSession: this.roster?.sessionId ?? null },
          'schedule/roster refresh failed; using the cache',
        );
      }
      const wait = this.lastError ? Math.min(this.nextPollDelay(), 60_000) : this.nextPollDelay();
      await abortableSleep(wait * (0.9 + Math.random() * 0.2), signal).catch(() => undefined);
    }
  }
}
