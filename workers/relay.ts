/**
 * The inbox relay: delivers the recognitions the API committed to `recognition_events` (the durable inbox)
 * to the class session workflows. Each event waits in `inbox_pending` (queued by a trigger in the insert's
 * own transaction, migration 20261208000001_inbox_pending) until a relay has delivered it.
 *
 * claim whole sessions' queued rows (a lease per session, the longest-waiting first) → group per session and
 * device → signalWithStart, several records per signal → delete the delivered queue rows and the lease. A
 * session this relay signalled less than `coalesceMs` ago is left out of its claims until then, so a busy
 * session gets one signal per interval rather than one per device batch (Temporal's cost, and Temporal
 * Cloud's bill, is per signal), while a session that was quiet is delivered at once.
 *
 * Safe with any number of relays: a claim skips sessions another relay holds, and a relay that dies leaves
 * only leases, which expire and are claimed again. Delivery is at least once; the session workflow ignores
 * event ids it has seen, so a row delivered twice marks nothing twice.
 * Temporal being down only delays delivery: a failed session is leased again with a growing delay. A batch
 * for a session whose workflow has ended (signalWithStart refuses to reopen it) goes through the amendment
 * path, written by the session's own writer (`amendEndedSession`).
 *
 * Wakes on NOTIFY `rollcall_inbox` (sent by the queueing trigger when an insert finds nothing waiting,
 * migrations 20261205000020_ingest and 20261208000001_inbox_pending) and otherwise polls every `idlePollMs`.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import type { Knex } from 'knex';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { amendEndedSession } from '../activities/sessions';
import { withinDeadline } from '../lib/temporal/connection';
import { countInboxDeliveries, inboxDeliveryLag, inboxSignals } from '../lib/metrics';
import type { classSession } from '../workflows/classSession';
import { sightingStatus, withinSessionWindow, type SessionTiming } from '../workflows/markRules';
import { DeliveredSightings } from './deliveredSightings';
import { parseSessionId, recognitionsSignal, type Recognition } from '../workflows/messages';
import { CourseIdKey, RoomIdKey, SessionDateKey } from '../workflows/searchAttributes';

/** The channel the inbox's queueing trigger notifies (migration 20261208000001_inbox_pending). */
export const INBOX_CHANNEL = 'rollcall_inbox';

export interface RelaySettings {
  /** Rows claimed per round trip. */
  batchSize: number;
  /** How long a claim is exclusive; a relay that dies mid-delivery delays its rows this long at most. */
  leaseMs: number;
  /** Poll interval when no notification arrives (a lost LISTEN connection only costs latency). */
  idlePollMs: number;
  /** How long one signalWithStart may take before the rows are released for a retry. */
  signalDeadlineMs: number;
  /** Records per signal (keeps payloads and history events small). */
  recordsPerSignal: number;
  /** Claim loops per relay: one claims while another signals. */
  loops: number;
  /** Signals in flight per loop. */
  parallelSignals: number;
  /** Cap of the retry delay of rows whose delivery failed (doubling from 500 ms). */
  maxRetryDelayMs: number;
  /**
   * A session this relay signalled is not claimed again for this long, so a busy session's records gather
   * into one signal per interval instead of one per device batch: Temporal's cost (history write, workflow
   * task) is per signal, not per record. A session not signalled that recently is claimed at once (its rows
   * wait at most for the next NOTIFY or poll). Per relay: two relays may each signal a session once.
   */
  coalesceMs: number;
}

export const DEFAULT_RELAY_SETTINGS: RelaySettings = {
  batchSize: 500,
  leaseMs: 30_000,
  idlePollMs: 1_000,
  signalDeadlineMs: 5_000,
  recordsPerSignal: 250,
  loops: 2,
  parallelSignals: 16,
  maxRetryDelayMs: 5_000,
  coalesceMs: 5_000,
};

/** What the relay takes from the configuration: its task queue, the session window and its settings. */
export function relayConfig(cfg: {
  TEMPORAL_TASK_QUEUE: string;
  SESSION_EARLY_MINUTES: number;
  SESSION_GRACE_MINUTES: number;
  RELAY_BATCH_SIZE: number;
  RELAY_LEASE_SECONDS: number;
  RELAY_POLL_MS: number;
  RELAY_COALESCE_MS: number;
}): Pick<RelayDeps, 'taskQueue' | 'earlyMinutes' | 'graceMinutes' | 'settings'> {
  return {
    taskQueue: cfg.TEMPORAL_TASK_QUEUE,
    earlyMinutes: cfg.SESSION_EARLY_MINUTES,
    graceMinutes: cfg.SESSION_GRACE_MINUTES,
    settings: {
      batchSize: cfg.RELAY_BATCH_SIZE,
      leaseMs: cfg.RELAY_LEASE_SECONDS * 1000,
      idlePollMs: cfg.RELAY_POLL_MS,
      coalesceMs: cfg.RELAY_COALESCE_MS,
    },
  };
}

export interface RelayDeps {
  db: Knex;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  /** The session window used by the amendment path (the worker's SESSION_EARLY/GRACE_MINUTES). */
  earlyMinutes: number;
  graceMinutes: number;
  /** Postgres URL for LISTEN; by default the knex connection's. Without one the relay only polls. */
  listenUrl?: string;
  settings?: Partial<RelaySettings>;
}

interface InboxRow {
  event_id: string;
  session_id: string;
  device_id: string;
  student_id: string;
  seen_at: Date;
  confidence: number;
  received_at: Date;
}

interface SessionRow {
  starts_at: Date;
  ends_at: Date;
  late_after_minutes: number;
}

export interface RelayCycle {
  claimed: number;
  delivered: number;
  failed: number;
}

export interface InboxRelay {
  /** Claims and delivers one batch (tests, and the loops). */
  deliverOnce(): Promise<RelayCycle>;
  /** Stops claiming, lets deliveries in flight finish, closes the LISTEN connection. */
  stop(): Promise<void>;
}

function connectionStringOf(db: Knex): string | undefined {
  const connection = (db.client as { config?: { connection?: unknown } }).config?.connection;
  if (typeof connection === 'string') return connection;
  const cs = (connection as { connectionString?: unknown } | undefined)?.connectionString;
  return typeof cs === 'string' ? cs : undefined;
}

/** Wakes waiting loops on NOTIFY; reconnects lazily after the connection is lost. */
class Waker {
  private client?: pg.Client;
  private connecting?: Promise<void>;
  private notified = false;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly url: string | undefined,
    private readonly log: Logger,
  ) {}

  wakeAll(): void {
    this.notified = true;
    for (const w of this.waiters) w();
  }

  /** (Re)establishes LISTEN; a failure is logged and retried at the next wait. */
  ensureListening(): Promise<void> {
    if (!this.url || this.client) return Promise.resolve();
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.url, application_name: 'rollcall-relay' });
      const lost = () => {
        if (this.client === client) this.client = undefined;
        client.end().catch(() => undefined);
      };
      client.on('error', lost);
      client.on('end', lost);
      client.on('notification', () => this.wakeAll());
      try {
        await client.connect();
        await client.query(`LISTEN ${INBOX_CHANNEL}`);
        this.client = client;
        // Rows committed while nobody listened are found by the next claim.
        this.wakeAll();
      } catch (err) {
        lost();
        this.log.warn({ err: (err as Error).message }, 'inbox relay cannot LISTEN; polling until it can');
      }
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** Resolves on a notification (or one that arrived since the last wait), after `ms`, or at wakeAll. */
  async wait(ms: number): Promise<void> {
    await this.ensureListening();
    if (this.notified) {
      this.notified = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
    this.notified = false;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(lanes);
}

export function startInboxRelay(deps: RelayDeps): InboxRelay {
  const s: RelaySettings = { ...DEFAULT_RELAY_SETTINGS, ...deps.settings };
  const { db, log } = deps;
  const waker = new Waker(deps.listenUrl ?? connectionStringOf(db), log);
  let stopped = false;

  const delivered = new DeliveredSightings();
  /** Sessions this relay signalled recently → when; pruned as their interval passes. */
  const signalledAt = new Map<string, number>();
  const coalescing = (): string[] => {
    const now = Date.now();
    for (const [id, at] of signalledAt) if (now - at >= s.coalesceMs) signalledAt.delete(id);
    return [...signalledAt.keys()];
  };

  /**
   * Whole sessions, the one waiting longest first, and per session in the order received: a claim takes a
   * session's waiting rows together (so they travel in one signal) and leases the session, and takes nothing
   * of a leased session (in flight, waiting for a retry, or held by a relay that died), because the workflow
   * keeps a persisted mark when an earlier sighting with the same status arrives after it. Claims are
   * serialised (a transaction advisory lock) so that each sees the leases the previous one took. Sessions
   * this relay signalled less than `coalesceMs` ago wait for their interval.
   *
   * The cost follows the sessions waiting and the rows claimed, not the backlog: the waiting sessions come
   * from a skip scan of the queue's key (session, received; one probe per session, its oldest row), each
   * session's rows from a range of that key (the oldest first, read only as far as the claim takes), and a
   * claim writes one lease row per session, nothing per event.
   */
  const claim = (): Promise<{ holder: string; rows: InboxRow[] }> =>
    db.transaction(async (trx) => {
      await trx.raw(`SELECT pg_advisory_xact_lock(hashtext('rollcall_inbox_claim'))`);
      const holder = crypto.randomUUID();
      const { rows } = await trx.raw<{ rows: InboxRow[] }>(
        `WITH RECURSIVE waiting AS (
             (SELECT p.session_id, p.received_at FROM inbox_pending p ORDER BY p.session_id, p.received_at LIMIT 1)
           UNION ALL
             SELECT n.session_id, n.received_at FROM waiting w
              CROSS JOIN LATERAL (SELECT p.session_id, p.received_at FROM inbox_pending p
                                   WHERE p.session_id > w.session_id
                                   ORDER BY p.session_id, p.received_at LIMIT 1) n),
         sessions AS (
           SELECT w.session_id, w.received_at AS waiting_since FROM waiting w
            WHERE w.session_id <> ALL(?::text[])
              AND NOT EXISTS (SELECT 1 FROM inbox_leases l
                               WHERE l.session_id = w.session_id AND l.lease_until > now())
            ORDER BY w.received_at LIMIT ?),
         picked AS (
           SELECT r.session_id, r.event_id FROM sessions s
            CROSS JOIN LATERAL (SELECT p.session_id, p.event_id, p.received_at FROM inbox_pending p
                                 WHERE p.session_id = s.session_id ORDER BY p.received_at LIMIT ?) r
            ORDER BY s.waiting_since, r.session_id, r.received_at LIMIT ?),
         leased AS (
           INSERT INTO inbox_leases AS l (session_id, lease_until, delivery_attempts, holder)
           SELECT DISTINCT session_id, now() + make_interval(secs => ?), 1, ?::uuid FROM picked
           ON CONFLICT (session_id) DO UPDATE
             SET lease_until = EXCLUDED.lease_until, delivery_attempts = l.delivery_attempts + 1,
                 holder = EXCLUDED.holder
           RETURNING l.session_id)
         SELECT e.event_id, e.session_id, e.device_id, e.student_id, e.seen_at, e.confidence, e.received_at
           FROM picked c JOIN leased l ON l.session_id = c.session_id
           JOIN recognition_events e ON e.event_id = c.event_id`,
        [coalescing(), s.parallelSignals * 4, s.batchSize, s.batchSize, s.leaseMs / 1000, holder],
      );
      return {
        holder,
        rows: rows.sort(
          (a, b) =>
            a.received_at.getTime() - b.received_at.getTime() || a.seen_at.getTime() - b.seen_at.getTime(),
        ),
      };
    });

  /**
   * Delivered: the rows leave the queue (the events stay in recognition_events, written once), and the
   * sessions in `finished` (all their claimed rows delivered) are no longer leased by this claim.
   */
  const markDelivered = async (holder: string, rows: InboxRow[], finished: string[]) => {
    const { rows: gone } = await db.raw<{ rows: { lag: number }[] }>(
      `WITH freed AS (DELETE FROM inbox_leases WHERE session_id = ANY(?) AND holder = ?::uuid)
       DELETE FROM inbox_pending WHERE session_id = ANY(?) AND event_id = ANY(?)
       RETURNING extract(epoch FROM now() - received_at)::float8 AS lag`,
      [finished, holder, [...new Set(rows.map((r) => r.session_id))], rows.map((r) => r.event_id)],
    );
    for (const r of gone) inboxDeliveryLag.observe(r.lag);
  };

  /**
   * Sessions whose delivery failed come back after 0.5 s · 2^(attempts−1), capped: quick after a blip,
   * gentle in an outage (unless another relay has taken the session over since).
   */
  const release = (holder: string, sessionIds: string[]) =>
    db.raw(
      `UPDATE inbox_leases
          SET lease_until = now() + make_interval(secs => least(?, 0.5 * 2 ^ least(delivery_attempts - 1, 20)))
        WHERE session_id = ANY(?) AND holder = ?::uuid`,
      [s.maxRetryDelayMs / 1000, sessionIds, holder],
    );

  /** A session's window and lateness rule as the workflow applies them (the worker's early/grace minutes). */
  const timingOf = (x: SessionRow): SessionTiming => ({
    startsAt: new Date(x.starts_at).toISOString(),
    endsAt: new Date(x.ends_at).toISOString(),
    lateAfterMinutes: x.late_after_minutes,
    earlyMinutes: deps.earlyMinutes,
    graceMinutes: deps.graceMinutes,
  });

  /** A batch for a session whose workflow has ended: written by the session's writer with its rules. */
  const amend = async (sessionId: string, deviceId: string, rows: InboxRow[]) => {
    const session = await db('class_sessions').where({ id: sessionId }).first();
    if (!session) return;
    const timing = timingOf(session);
    const marks = rows
      .filter((r) => withinSessionWindow(timing, r.seen_at.getTime()))
      .map((r) => ({
        eventId: r.event_id,
        studentId: r.student_id,
        status: sightingStatus(timing, r.seen_at.getTime()),
        markedAt: r.seen_at.toISOString(),
        source: 'device' as const,
        confidence: r.confidence,
        deviceId,
        actor: `device:${deviceId}`,
        reason: 'uploaded after the session ended',
      }));
    if (marks.length === 0) return;
    await amendEndedSession(db, { sessionId, courseId: session.course_id, marks });
    log.info({ sessionId, deviceId, marks: marks.length }, 'late upload written to a finished session');
  };

  const deliverOnce = async (): Promise<RelayCycle> => {
    const { holder, rows } = await claim();
    if (rows.length === 0) return { claimed: 0, delivered: 0, failed: 0 };
    // Per session, signals in the order received: runs of one device, at most recordsPerSignal records each.
    const sessions = new Map<string, InboxRow[][]>();
    for (const r of rows) {
      const chunks = sessions.get(r.session_id) ?? [];
      sessions.set(r.session_id, chunks);
      const last = chunks[chunks.length - 1];
      if (last && last[0].device_id === r.device_id && last.length < s.recordsPerSignal) last.push(r);
      else chunks.push([r]);
    }
    const scheduleIds = [...new Set(rows.flatMap((r) => parseSessionId(r.session_id)?.scheduleId ?? []))];
    const [scheduleRows, sessionRows] = await Promise.all([
      db('schedules').whereIn('id', scheduleIds).select('id', 'course_id', 'room_id'),
      db('class_sessions')
        .whereIn('id', [...sessions.keys()])
        .select('id', 'starts_at', 'ends_at', 'late_after_minutes'),
    ]);
    const schedules = new Map<number, { course_id: string; room_id: string }>(
      scheduleRows.map((x: { id: number; course_id: string; room_id: string }) => [Number(x.id), x]),
    );
    const timings = new Map<string, SessionTiming>(
      sessionRows.map((x: SessionRow & { id: string }) => [x.id, timingOf(x)]),
    );

    const done: InboxRow[] = [];
    const failed: InboxRow[] = [];
    let firstError: unknown;
    const deliverChunk = async (chunk: InboxRow[]): Promise<boolean> => {
      const { session_id: sessionId, device_id: deviceId } = chunk[0];
      const ids = chunk.map((r) => r.event_id);
      const parsed = parseSessionId(sessionId);
      const schedule = parsed && schedules.get(parsed.scheduleId);
      if (!parsed || !schedule) {
        // The API only stores session ids of timetable rows; a row without one can never be delivered.
        log.error({ sessionId, records: ids.length }, 'inbox rows name no timetable row; dropped');
        countInboxDeliveries('undeliverable', ids.length);
        done.push(...chunk);
        return true;
      }
      // A student's sighting no earlier than one this relay has delivered changes nothing in the workflow.
      const fresh = chunk.filter((r) => !delivered.covers(sessionId, r.student_id, r.seen_at.getTime()));
      const redundant = chunk.length - fresh.length;
      if (fresh.length === 0) {
        countInboxDeliveries('redundant', redundant);
        done.push(...chunk);
        return true;
      }
      const records: Recognition[] = fresh.map((r) => ({
        eventId: r.event_id,
        studentId: r.student_id,
        seenAt: r.seen_at.toISOString(),
        confidence: r.confidence,
      }));
      try {
        await withinDeadline(deps.temporal, s.signalDeadlineMs, () =>
          deps.temporal.workflow.signalWithStart<
            typeof classSession,
            [{ deviceId: string; records: Recognition[] }]
          >('classSession', {
            workflowId: sessionId,
            taskQueue: deps.taskQueue,
            args: [{ scheduleId: parsed.scheduleId, sessionDate: parsed.sessionDate }],
            // A finished session is never reopened (as the launcher refuses to): amendment path below.
            workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
            signal: recognitionsSignal,
            signalArgs: [{ deviceId, records }],
            typedSearchAttributes: [
              { key: CourseIdKey, value: schedule.course_id },
              { key: RoomIdKey, value: schedule.room_id },
              { key: SessionDateKey, value: parsed.sessionDate },
            ],
          }),
        );
        inboxSignals.inc();
        countInboxDeliveries('signalled', fresh.length);
        countInboxDeliveries('redundant', redundant);
        signalledAt.set(sessionId, Date.now());
        // Only sightings inside the session's window (known once the workflow has opened the session):
        // the workflow ignores one outside it, so it covers nothing.
        const timing = timings.get(sessionId);
        if (timing) {
          delivered.delivered(
            sessionId,
            fresh
              .filter((r) => withinSessionWindow(timing, r.seen_at.getTime()))
              .map((r) => ({ studentId: r.student_id, seenAtMs: r.seen_at.getTime() })),
          );
        }
        done.push(...chunk);
        return true;
      } catch (err) {
        try {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          // The workflow has ended: every row of the chunk goes through the amendment path's own rules.
          delivered.forget(sessionId);
          await amend(sessionId, deviceId, chunk);
          countInboxDeliveries('amended', ids.length);
          done.push(...chunk);
          return true;
        } catch (e) {
          firstError ??= e;
          return false;
        }
      }
    };
    // Sessions in parallel; within one, a failed signal holds back the rest (retried together, in order).
    await inParallel([...sessions.values()], s.parallelSignals, async (chunks) => {
      for (const [i, chunk] of chunks.entries()) {
        if (await deliverChunk(chunk)) continue;
        const held = chunks.slice(i).flat();
        countInboxDeliveries('failed', held.length);
        failed.push(...held);
        return;
      }
    });
    const failedSessions = new Set(failed.map((r) => r.session_id));
    const finished = [...sessions.keys()].filter((id) => !failedSessions.has(id));
    if (done.length > 0 || finished.length > 0) await markDelivered(holder, done, finished);
    if (failed.length > 0) {
      await release(holder, [...failedSessions]);
      log.warn(
        { err: (firstError as Error | undefined)?.message, records: failed.length },
        'inbox delivery failed; retrying with backoff',
      );
    }
    return { claimed: rows.length, delivered: done.length, failed: failed.length };
  };

  const loop = async () => {
    let errorDelayMs = 0;
    while (!stopped) {
      let again = false;
      try {
        const c = await deliverOnce();
        errorDelayMs = 0;
        // A full batch means more may wait; a failing Temporal is left to the rows' own retry delays.
        again = c.claimed === s.batchSize && c.failed === 0;
      } catch (err) {
        errorDelayMs = Math.min(5_000, Math.max(250, errorDelayMs * 2));
        log.warn({ err: (err as Error).message }, 'inbox relay cannot claim; retrying');
      }
      if (stopped) break;
      if (again) continue;
      await waker.wait(errorDelayMs || s.idlePollMs);
    }
  };

  const loops = Array.from({ length: s.loops }, () => loop());
  log.info({ loops: s.loops, batchSize: s.batchSize }, 'inbox relay running');
  return {
    deliverOnce,
    stop: async () => {
      stopped = true;
      waker.wakeAll();
      await Promise.all(loops);
      await waker.close();
    },
  };
}
