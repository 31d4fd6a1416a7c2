/**
 * The fault matrix (issues #6, #13): ten rooms of simulated Pis post recognition batches to the real API
 * while the stack underneath is broken one piece at a time — the worker is SIGKILLed and restarted, the
 * Temporal server is SIGKILLed, left down for 30 s and restarted on the same SQLite file (the API keeps
 * answering 202: batches wait in the inbox), Postgres is stopped with `-m immediate` and restarted, the inbox
 * relay is SIGKILLed while it holds claimed rows, and the edge's link to the API is cut and restored. Devices behave like the edge outbox: a
 * batch is retried (same batch, same event ids) with backoff, honouring Retry-After, until it gets a 202.
 *
 * Everything here is its own: a Postgres in a temp data dir on a free port (the shared test server is
 * never touched), a Temporal dev server with a SQLite file, the worker and the inbox relay as child processes
 * (so kill -9 is real), the API in this process behind a TCP hop that plays the edge's network link.
 *
 * After the class ends (grace 0) and the one-minute amendment window closes, every session must be
 * finalised, every event that got a 202 must be in recognition_events exactly once, every student seen
 * must be present/late as of the earliest sighting, every other enrolled student absent exactly once, and
 * the stored summaries must match the marks.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { Knex } from 'knex';
import pino from 'pino';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../../api/app';
import { config } from '../../lib/config';
import { jwtSettingsFromConfig, signToken } from '../../lib/jwt';
import { parseRetryAfter, withBackoff } from '../../edge/backoff';
import { createDb, ensureDatabase } from '../../lib/db';
import { migrateLatest } from '../../lib/migrate';
import { repoRoot } from '../../lib/paths';
import { startLocalPostgres, type LocalPostgres } from '../../lib/postgres';
import { freePort, runChecked } from '../../lib/process';
import { startDevServer, type DevServer, type DevServerOptions } from '../../lib/temporal/devServer';
import { rosterQuery, sessionWorkflowId, type AttendanceStatus } from '../../workflows/messages';
import { seedHerd, zoneKeepingOneDate, type HerdRoom } from '../../scripts/lib/herdSeed';

const ROOMS = 10;
const STUDENTS = 30;
/** Per room: students 0..17 walk in before the late mark, 18..23 after it, 24..29 never come. */
const EARLY = 18;
const LATE = 6;
/** The edge's per-student debounce (30 s on a Pi; shorter here so the class produces re-sightings). */
const DEBOUNCE_MS = 8_000;
/** How often a device drains its outbox (60 s on a Pi; shorter here to make load). */
const DRAIN_EVERY_MS = 1_000;
/** 1 minute: the workflow rounds the amendment window to whole minutes. */
const AMEND_HOURS = 1 / 60;
const REQUEST_TIMEOUT_MS = 15_000;
/**
 * No answer waits on Temporal (the API only commits to the inbox), and a stopped Postgres refuses
 * connections at once: every answer comes well within this.
 */
const SLOWEST_ANSWER_MS = 10_000;
/** How long Temporal stays dead during the load. */
const TEMPORAL_DOWN_MS = 30_000;
/** The relay's lease in this test: rows of a killed relay are claimed again this long after its claim. */
const RELAY_LEASE_SECONDS = 6;

interface Sighting {
  event_id: string;
  student_id: string;
  timestamp: string;
  confidence: number;
}

interface RequestLog {
  sentAt: number;
  device: string;
  status: number;
  attempt: number;
  eventIds: string[];
  ms: number;
  /** `error.code` of a non-202 answer. */
  code?: string;
}

interface FaultWindow {
  name: string;
  from: number;
  to: number;
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(status === 0 ? 'no response' : `HTTP ${status}`);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function required(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(`${name} is not set: run this test through \`npm test\` or \`npm run test:faults\``);
  return v;
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${String(lastError ?? 'no value')})`);
}

/** A TCP hop between the devices and the API: cutting it resets every open connection and refuses new ones. */
function edgeLink(apiPort: number) {
  let cut = false;
  const open = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    if (cut) return void inbound.destroy();
    const upstream = net.connect(apiPort, '127.0.0.1');
    open.add(inbound);
    open.add(upstream);
    const close = () => {
      inbound.destroy();
      upstream.destroy();
      open.delete(inbound);
      open.delete(upstream);
    };
    inbound.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    inbound.pipe(upstream).pipe(inbound);
  });
  return {
    server,
    cut() {
      cut = true;
      for (const s of open) s.destroy();
    },
    restore() {
      cut = false;
    },
  };
}

/** One simulated Pi: sightings go into an outbox; the uploader retries the head batch until it gets a 202. */
class SimulatedDevice {
  readonly pending: Sighting[] = [];
  readonly acked = new Set<string>();
  readonly earliest = new Map<string, number>();
  private readonly lastSeen = new Map<string, number>();
  private seq = 0;
  generating = true;

  constructor(
    readonly room: HerdRoom,
    private readonly runId: string,
    private readonly arrivals: Map<string, number>,
  ) {}

  /** The camera's view at `now`: each arrived student is seen at most once per debounce period. */
  observe(now: number): void {
    for (const [studentId, arrivesAt] of this.arrivals) {
      if (now < arrivesAt) continue;
      const last = this.lastSeen.get(studentId);
      if (last !== undefined && (now - last < DEBOUNCE_MS || Math.random() < 0.5)) continue;
      this.lastSeen.set(studentId, now);
      if (!this.earliest.has(studentId)) this.earliest.set(studentId, now);
      this.pending.push({
        event_id: `${this.room.deviceId}.${this.runId}.${++this.seq}`,
        student_id: studentId,
        timestamp: new Date(now).toISOString(),
        confidence: 0.8 + Math.random() * 0.19,
      });
    }
  }
}

void describe('fault matrix: worker, Temporal, Postgres and the edge link fail under load', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  void test(
    'when each dependency fails and recovers during a class, then no 202 is lost or duplicated and the roll is exact',
    { timeout: 12 * 60_000 },
    async (t) => {
      const cliPath = required('TEMPORAL_CLI_PATH');
      const say = (m: string) => t.diagnostic(`${new Date().toISOString().slice(11, 19)} ${m}`);

      // --- Postgres of our own, in a temp data dir on a free port.
      const pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-faults-pg-'));
      const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-faults-'));
      cleanups.push(async () => {
        fs.rmSync(pgDir, { recursive: true, force: true });
        fs.rmSync(workDir, { recursive: true, force: true });
      });
      const pgPort = await freePort();
      let pg: LocalPostgres = await startLocalPostgres({ dataDir: pgDir, port: pgPort });
      cleanups.push(() => pg.stop());
      await ensureDatabase(pg.adminUrl, 'rollcall');
      const databaseUrl = pg.urlFor('rollcall');
      const db: Knex = createDb(databaseUrl, 10);
      cleanups.push(() => db.destroy());
      await migrateLatest(db);

      // --- Temporal dev server persisted in SQLite, so a restart keeps every workflow and signal.
      const serverOpts: DevServerOptions = {
        cliPath,
        port: await freePort(),
        namespace: 'default',
        dbFile: path.join(workDir, 'temporal.sqlite'),
        logFile: path.join(workDir, 'temporal.log'),
      };
      let temporal: DevServer = await startDevServer(serverOpts);
      cleanups.push(() => temporal.stop());
      const connection = await Connection.connect({ address: temporal.address });
      cleanups.push(() => connection.close());
      const client = new Client({ connection, namespace: 'default' });
      const taskQueue = `faults-${process.pid}`;

      // --- The worker and the inbox relay (`npm run relay`) as child processes, so they can be killed apart.
      const workerLog = path.join(workDir, 'worker.log');
      const relayLog = path.join(workDir, 'relay.log');
      const unexpectedWorkerExits: string[] = [];
      const common = {
        NODE_ENV: 'test',
        DATABASE_URL: databaseUrl,
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_NAMESPACE: 'default',
        TEMPORAL_TASK_QUEUE: taskQueue,
        SESSION_EARLY_MINUTES: '15',
        SESSION_GRACE_MINUTES: '0',
        LOG_LEVEL: 'warn',
        ROLLCALL_DATA_DIR: workDir,
      };
      /** A child process of ours, SIGKILLed if the test exits; any other end of it is recorded. */
      const spawnChild = (name: string, entry: string, log: string, env: Record<string, string>) => {
        const out = fs.openSync(log, 'a');
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'workers', entry)], {
          cwd: repoRoot,
          stdio: ['ignore', out, out],
          env: { ...process.env, ...common, ...env },
        });
        fs.closeSync(out);
        const killOnExit = () => child.kill('SIGKILL');
        process.once('exit', killOnExit);
        child.once('exit', (code, signal) => {
          process.removeListener('exit', killOnExit);
          if (signal !== 'SIGKILL')
            unexpectedWorkerExits.push(`${name} pid ${child.pid}: code ${code} signal ${signal}`);
        });
        return child;
      };
      let worker: ChildProcess | undefined;
      const spawnWorker = (): ChildProcess =>
        spawnChild('worker', 'main.ts', workerLog, {
          SESSION_AMEND_HOURS: String(AMEND_HOURS),
          ATTENDANCE_FLUSH_SECONDS: '1',
          // The relay runs as its own process below.
          RELAY_IN_WORKER: 'false',
        });
      let relay: ChildProcess | undefined;
      const spawnRelay = (): ChildProcess =>
        spawnChild('relay', 'relayMain.ts', relayLog, { RELAY_LEASE_SECONDS: String(RELAY_LEASE_SECONDS) });
      /** Ready when the new process polls the task queue (its identity is `pid@host`). */
      const workerPolling = (pid: number) =>
        until(`worker ${pid} to poll ${taskQueue}`, 180_000, async () => {
          const res = await client.withDeadline(Date.now() + 3_000, () =>
            client.workflowService.describeTaskQueue({
              namespace: 'default',
              taskQueue: { name: taskQueue },
            }),
          );
          return res.pollers?.some((p) => p.identity?.startsWith(`${pid}@`)) ? true : undefined;
        });
      worker = spawnWorker();
      cleanups.push(async () => {
        worker?.kill('SIGKILL');
      });
      relay = spawnRelay();
      cleanups.push(async () => {
        relay?.kill('SIGKILL');
      });

      // --- The API in this process, behind the edge link.
      const app = createApp({
        db,
        temporal: client,
        taskQueue,
        log: pino({ level: 'silent' }),
        bodyLimit: '256kb',
        earlyMinutes: 15,
        graceMinutes: 0,
      });
      const api = http.createServer(app).listen(0, '127.0.0.1');
      await new Promise((r) => api.once('listening', r));
      cleanups.push(() => new Promise<void>((r) => api.close(() => r())));
      const link = edgeLink((api.address() as AddressInfo).port);
      link.server.listen(0, '127.0.0.1');
      await new Promise((r) => link.server.once('listening', r));
      cleanups.push(() => new Promise<void>((r) => link.server.close(() => r())));
      const linkPort = (link.server.address() as AddressInfo).port;
      cleanups.push(async () => api.closeAllConnections());

      say(`waiting for the worker (pid ${worker.pid}) to bundle workflows and poll`);
      await workerPolling(worker.pid!);

      // --- The class: starts at the current minute, late after ≥ 15 s from now, ends ≥ 150 s from now (the
      // faults, Temporal's 30 s outage included, all fall within the class's load).
      const now = Date.now();
      const start = new Date(Math.floor(now / 60_000) * 60_000);
      let lateAfterMinutes = 1;
      if (start.getTime() + 60_000 - now < 15_000) lateAfterMinutes = 2;
      const lateAfter = start.getTime() + lateAfterMinutes * 60_000;
      let end = new Date(lateAfter + 60_000);
      while (end.getTime() - now < 150_000) end = new Date(end.getTime() + 60_000);
      const rooms = await seedHerd(db, {
        rooms: ROOMS,
        studentsPerClass: STUDENTS,
        start,
        end,
        lateAfterMinutes,
        timezone: zoneKeepingOneDate(start, new Date(end.getTime() + 5 * 60_000)),
        prefix: 'F',
        devicePrefix: 'fault',
      });
      say(
        `class ${start.toISOString()} – ${end.toISOString()} (late after ${new Date(lateAfter).toISOString()}), ${ROOMS} rooms × ${STUDENTS}`,
      );

      // --- The load: each device observes its room every second and uploads its outbox.
      const runId = crypto.randomBytes(4).toString('hex');
      const devices = rooms.map((room) => {
        const arrivals = new Map<string, number>();
        room.students.forEach((s, i) => {
          if (i < EARLY) arrivals.set(s, now + Math.random() * 5_000);
          else if (i < EARLY + LATE) arrivals.set(s, lateAfter + 2_000 + (i - EARLY) * 2_000);
        });
        return new SimulatedDevice(room, runId, arrivals);
      });
      const requests: RequestLog[] = [];
      // One connection per Pi, as in a school: a device never queues behind another device's slow request.
      const agents = new Map(
        devices.map((d) => [d.room.deviceId, new http.Agent({ keepAlive: true, maxSockets: 1 })]),
      );
      cleanups.push(async () => agents.forEach((a) => a.destroy()));
      const post = (device: SimulatedDevice, batch: Sighting[], attempt: number) =>
        new Promise<void>((resolve, reject) => {
          const body = JSON.stringify({ device_id: device.room.deviceId, records: batch });
          const entry: RequestLog = {
            sentAt: Date.now(),
            device: device.room.deviceId,
            status: 0,
            attempt,
            eventIds: batch.map((b) => b.event_id),
            ms: 0,
          };
          requests.push(entry);
          const req = http.request(
            {
              host: '127.0.0.1',
              port: linkPort,
              path: '/api/v1/attendance',
              method: 'POST',
              agent: agents.get(device.room.deviceId),
              timeout: REQUEST_TIMEOUT_MS,
              headers: {
                'content-type': 'application/json',
                authorization: `Bearer ${device.room.key}`,
                'content-length': Buffer.byteLength(body),
              },
            },
            (res) => {
              let text = '';
              res.on('data', (c: Buffer) => (text += c.toString()));
              res.on('end', () => {
                entry.status = res.statusCode ?? 0;
                entry.ms = Date.now() - entry.sentAt;
                if (entry.status === 202) {
                  const result = JSON.parse(text) as { rejected: number; results: { status: string }[] };
                  if (result.rejected > 0)
                    return reject(new Error(`records rejected: ${text.slice(0, 500)}`));
                  return resolve();
                }
                try {
                  entry.code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
                } catch {
                  entry.code = 'unparseable';
                }
                const retryAfter = res.headers['retry-after'];
                reject(
                  new HttpStatusError(
                    entry.status,
                    parseRetryAfter(typeof retryAfter === 'string' ? retryAfter : undefined),
                  ),
                );
              });
              res.on('error', () => reject(new HttpStatusError(0, undefined)));
            },
          );
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', () => {
            entry.ms = Date.now() - entry.sentAt;
            reject(new HttpStatusError(0, undefined));
          });
          req.end(body);
        });

      const generateUntil = end.getTime() - 3_000;
      const fatal: Error[] = [];
      // If the test fails midway, the load stops before the stack does (cleanups run newest first): a device
      // retrying forever against a stopped API would keep the test file from ever exiting.
      let stopped = false;
      cleanups.push(async () => {
        stopped = true;
      });
      const load = Promise.all(
        devices.map(async (d) => {
          const camera = (async () => {
            while (Date.now() < generateUntil && !stopped) {
              d.observe(Date.now());
              await sleep(900 + Math.random() * 200);
            }
            d.generating = false;
          })();
          const uploader = (async () => {
            while ((d.generating || d.pending.length > 0) && !stopped) {
              if (d.pending.length === 0) {
                await sleep(200);
                continue;
              }
              // The head of the outbox, frozen: every retry sends exactly these records.
              const batch = d.pending.slice(0, 100);
              await withBackoff((attempt) => post(d, batch, attempt), {
                initialMs: 250,
                maxMs: 3_000,
                maxRetryAfterMs: 3_000,
                isRetryable: (err) => !stopped && err instanceof HttpStatusError,
              });
              for (const s of batch) d.acked.add(s.event_id);
              d.pending.splice(0, batch.length);
              await sleep(DRAIN_EVERY_MS);
            }
          })();
          await Promise.all([camera, uploader]);
        }),
      ).catch((err: Error) => {
        fatal.push(err);
      });

      // --- The faults, one after another, with the load running throughout.
      const windows: FaultWindow[] = [];
      const fault = async (name: string, inject: () => Promise<void>, recover: () => Promise<void>) => {
        const from = Date.now();
        say(`fault: ${name}`);
        await inject();
        await recover();
        windows.push({ name, from, to: Date.now() });
        say(`recovered from ${name} after ${((Date.now() - from) / 1000).toFixed(1)} s`);
        await sleep(4_000);
      };
      await sleep(4_000);
      await fault(
        'worker kill -9 + restart',
        async () => {
          worker?.kill('SIGKILL');
          await sleep(2_000);
          worker = spawnWorker();
        },
        async () => void (await workerPolling(worker!.pid!)),
      );
      let temporalBackAt = 0;
      await fault(
        'Temporal server SIGKILL, 30 s down, restart',
        async () => {
          const exited = new Promise((r) => temporal.process.once('exit', r));
          temporal.process.kill('SIGKILL');
          await exited;
          // Devices keep posting: their batches wait in the inbox while the relay's signals fail.
          await sleep(TEMPORAL_DOWN_MS);
          temporal = await startDevServer(serverOpts);
          temporalBackAt = Date.now();
        },
        async () => {
          await until('Temporal to answer', 60_000, async () =>
            client.withDeadline(Date.now() + 2_000, async () => {
              await client.workflowService.getSystemInfo({});
              return true;
            }),
          );
          // Everything received while Temporal was down is delivered once it is back.
          await until('the inbox to drain what arrived during the outage', 120_000, async () => {
            const [{ n }] = await db('inbox_pending')
              .where('received_at', '<', new Date(temporalBackAt))
              .count<{ n: number }[]>('* as n');
            return Number(n) === 0 ? true : undefined;
          });
          say(
            `inbox drained ${((Date.now() - temporalBackAt) / 1000).toFixed(1)} s after Temporal came back`,
          );
        },
      );
      await fault(
        'Postgres immediate stop + restart',
        async () => {
          const owner = fs.statSync(pg.dataDir);
          const asOwner = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : {};
          await runChecked(
            path.join(pg.bin.binDir, 'pg_ctl'),
            ['-D', pg.dataDir, '-m', 'immediate', '-w', 'stop'],
            asOwner,
          );
          await sleep(3_000);
          pg = await startLocalPostgres({ dataDir: pgDir, port: pgPort });
        },
        async () =>
          void (await until('Postgres to answer', 60_000, async () => {
            await db.raw('SELECT 1');
            return true;
          })),
      );
      // Frozen (SIGSTOP) at an instant when it holds claimed, undelivered rows, then killed: those rows are
      // exactly what a relay dying mid-delivery leaves behind. Another relay claims them once the lease ends.
      let orphaned: string[] = [];
      await fault(
        'relay kill -9 mid-delivery + restart',
        async () => {
          // Up to three tries: the frozen relay's last statement may have delivered everything it held.
          for (let attempt = 1; attempt <= 3 && orphaned.length === 0; attempt++) {
            const stuck = relay!;
            const held = await until('the relay to be caught holding claimed rows', 90_000, async () => {
              stuck.kill('SIGSTOP');
              const rows: string[] = await db('inbox_pending as p')
                .join('inbox_leases as l', 'l.session_id', 'p.session_id')
                .where('l.lease_until', '>', db.fn.now())
                .pluck('p.event_id');
              if (rows.length > 0) return rows;
              stuck.kill('SIGCONT');
              return undefined;
            });
            const exited = new Promise((r) => stuck.once('exit', r));
            stuck.kill('SIGKILL');
            await exited;
            // A statement the relay sent just before it froze (marking some of these delivered) still ran in
            // its Postgres backend: what it left undelivered is what a relay dying mid-delivery leaves behind.
            await sleep(1_000);
            orphaned = await db('inbox_pending').whereIn('event_id', held).pluck('event_id');
            relay = spawnRelay();
          }
          say(`relay killed holding ${orphaned.length} claimed rows`);
        },
        async () =>
          void (await until(
            "the dead relay's rows to be delivered",
            RELAY_LEASE_SECONDS * 1000 + 90_000,
            async () => {
              const [{ n }] = await db('inbox_pending')
                .whereIn('event_id', orphaned)
                .count<{ n: number }[]>('* as n');
              return Number(n) === 0 ? true : undefined;
            },
          )),
      );
      await fault(
        'edge link cut 8 s, then replay',
        async () => {
          link.cut();
          await sleep(8_000);
          link.restore();
        },
        async () => undefined,
      );
      if (Date.now() > generateUntil)
        say('note: the fault sequence outlasted the class; later faults saw only replays');

      // --- The session's end under load: a device batch in transit while the session finalises, and
      // teachers' overrides during the first finalisation and as the amendment window closes. Overrides
      // meet either the running workflow (update) or, once it has ended, the amendment path; both land.
      await db('users')
        // An admin with TOTP confirmed (ADMIN_MFA_REQUIRED refuses one without); its token is signed here,
        // as the sign-in with password and code would have issued it.
        .insert({
          id: 'u-fault-admin',
          email: 'fault-admin@faults.test',
          name: 'Fault admin',
          role: 'admin',
          totp_secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
          totp_confirmed_at: new Date(),
        })
        .onConflict('id')
        .ignore();
      const adminBearer = `Bearer ${signToken(jwtSettingsFromConfig(config()), { sub: 'u-fault-admin', role: 'admin' }).token}`;
      const apiPort = (api.address() as AddressInfo).port;
      const overridesVia = new Map<string, string>();
      const excused = new Set<string>();
      const overrideOnce = async (sessionId: string, studentId: string) => {
        const res = await fetch(
          `http://127.0.0.1:${apiPort}/api/v1/sessions/${encodeURIComponent(sessionId)}/overrides`,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: adminBearer },
            body: JSON.stringify({ student_id: studentId, status: 'excused', reason: 'fault matrix' }),
          },
        ).catch(() => undefined);
        if (!res || res.status === 503) throw new HttpStatusError(res?.status ?? 0, undefined);
        const body = (await res.json()) as { applied_via?: string };
        assert.ok(res.ok, `override ${sessionId}/${studentId}: ${res.status} ${JSON.stringify(body)}`);
        overridesVia.set(`${sessionId}/${studentId}`, body.applied_via ?? '?');
        excused.add(`${sessionId}/${studentId}`);
      };
      const retrying = (fn: (attempt: number) => Promise<void>) =>
        withBackoff(fn, {
          initialMs: 250,
          maxMs: 3_000,
          maxRetryAfterMs: 3_000,
          isRetryable: (err) => err instanceof HttpStatusError,
        });
      const endSessionIds = rooms.map((r) => sessionWorkflowId(r.scheduleId, r.sessionDate));
      const endgame = (async () => {
        await sleep(Math.max(0, end.getTime() + 200 - Date.now()));
        let from = Date.now();
        say('fault: signals + overrides as the sessions finalise');
        await Promise.all(
          rooms.map(async (room, i) => {
            const d = devices[i];
            const seenAt = end.getTime() - 2_000;
            const batch: Sighting[] = [
              {
                event_id: `${room.deviceId}.${runId}.end`,
                student_id: room.students[EARLY + LATE],
                timestamp: new Date(seenAt).toISOString(),
                confidence: 0.9,
              },
            ];
            d.earliest.set(batch[0].student_id, seenAt);
            await Promise.all([
              retrying((attempt) => post(d, batch, attempt)).then(() => d.acked.add(batch[0].event_id)),
              retrying(() => overrideOnce(endSessionIds[i], room.students[EARLY + LATE + 1])),
            ]);
          }),
        );
        windows.push({ name: 'signals + overrides as the sessions finalise', from, to: Date.now() });
        await sleep(Math.max(0, end.getTime() + AMEND_HOURS * 3_600_000 + 500 - Date.now()));
        from = Date.now();
        say('fault: overrides as the amendment windows close');
        await Promise.all(
          rooms.map((room, i) =>
            retrying(() => overrideOnce(endSessionIds[i], room.students[EARLY + LATE + 2])),
          ),
        );
        windows.push({ name: 'overrides as the amendment windows close', from, to: Date.now() });
      })();

      await load;
      await endgame;
      const via = [...overridesVia.values()];
      say(
        `overrides applied via the workflow: ${via.filter((v) => v === 'workflow').length}, via the amendment path: ${via.filter((v) => v === 'database').length}`,
      );
      assert.deepEqual(fatal, [], 'the load generator failed');
      say(`load done: ${requests.length} requests; waiting for finalisation and the amendment window`);

      // --- The inbox empty: every committed recognition delivered to its workflow.
      await until('the inbox to be delivered', 120_000, async () => {
        const [{ n }] = await db('inbox_pending').count<{ n: number }[]>('* as n');
        return Number(n) === 0 ? true : undefined;
      });
      // --- Every session finalised and its workflow complete (end + grace 0 + 1 min amendment window).
      const sessionIds = rooms.map((r) => sessionWorkflowId(r.scheduleId, r.sessionDate));
      await until('every session workflow to complete', end.getTime() - Date.now() + 4 * 60_000, async () => {
        for (const id of sessionIds) {
          const d = await client.withDeadline(Date.now() + 3_000, () =>
            client.workflow.getHandle(id).describe(),
          );
          if (d.status.name !== 'COMPLETED') return undefined;
        }
        return true;
      });
      assert.deepEqual(
        unexpectedWorkerExits,
        [],
        `worker or relay exited on its own; see ${workerLog}, ${relayLog}`,
      );

      // --- Assertions.
      const allAcked = devices.flatMap((d) => [...d.acked]);
      const allGenerated = devices.reduce((n, d) => n + d.acked.size + d.pending.length, 0);
      assert.equal(allAcked.length, allGenerated, 'every sighting was eventually acknowledged with a 202');
      const eventRows: { event_id: string; n: number }[] = (
        await db.raw(
          `SELECT e.event_id, count(r.event_id)::int AS n
             FROM unnest(?::text[]) AS e(event_id) LEFT JOIN recognition_events r ON r.event_id = e.event_id
            GROUP BY e.event_id`,
          [allAcked],
        )
      ).rows;
      const eventCount = new Map(eventRows.map((r) => [r.event_id, r.n]));
      const missingEvents = allAcked.filter((id) => (eventCount.get(id) ?? 0) === 0);
      const duplicatedEvents = allAcked.filter((id) => (eventCount.get(id) ?? 0) > 1);
      assert.deepEqual(missingEvents.slice(0, 10), [], 'acknowledged events missing from recognition_events');
      assert.deepEqual(duplicatedEvents.slice(0, 10), [], 'acknowledged events stored more than once');
      const totalEvents = Number((await db('recognition_events').count<{ n: number }[]>('* as n'))[0].n);
      assert.equal(totalEvents, allAcked.length, 'recognition_events holds exactly the acknowledged events');

      interface MarkRow {
        session_id: string;
        student_id: string;
        status: AttendanceStatus;
        marked_at: Date;
        n: number;
      }
      const marks: MarkRow[] = (
        await db.raw(
          `SELECT session_id, student_id, min(status) AS status, min(marked_at) AS marked_at, count(*)::int AS n
             FROM attendance_logs GROUP BY session_id, student_id`,
        )
      ).rows;
      const markOf = new Map(marks.map((m) => [`${m.session_id}/${m.student_id}`, m]));
      const wrong: string[] = [];
      const firstSeenBy = new Map<string, number>();
      rooms.forEach((room, i) => {
        const sessionId = sessionIds[i];
        const device = devices[i];
        for (const studentId of room.students) {
          const m = markOf.get(`${sessionId}/${studentId}`);
          const seen = device.earliest.get(studentId);
          if (seen !== undefined) firstSeenBy.set(`${sessionId}/${studentId}`, seen);
          const expected: AttendanceStatus = excused.has(`${sessionId}/${studentId}`)
            ? 'excused'
            : seen === undefined
              ? 'absent'
              : seen <= lateAfter
                ? 'present'
                : 'late';
          if (!m) wrong.push(`${studentId}: no mark (expected ${expected})`);
          else if (m.n !== 1) wrong.push(`${studentId}: ${m.n} marks`);
          else if (m.status !== expected) wrong.push(`${studentId}: ${m.status}, expected ${expected}`);
          else if (seen !== undefined && m.marked_at.getTime() !== seen)
            wrong.push(
              `${studentId}: marked at ${m.marked_at.toISOString()}, first seen ${new Date(seen).toISOString()}`,
            );
        }
      });
      assert.equal(marks.length, ROOMS * STUDENTS, 'one mark per enrolled student and session, no strays');
      assert.deepEqual(wrong.slice(0, 20), [], 'marks that differ from what the devices saw');

      const sessions: { id: string; status: string; summary: Record<string, number> }[] = await db(
        'class_sessions',
      )
        .whereIn('id', sessionIds)
        .select('id', 'status', 'summary');
      assert.equal(sessions.length, ROOMS);
      for (const s of sessions) {
        assert.equal(s.status, 'closed', `${s.id} closed`);
        const counts = { present: 0, late: 0, absent: 0, excused: 0 };
        for (const m of marks) if (m.session_id === s.id) counts[m.status]++;
        assert.deepEqual(
          {
            enrolled: s.summary.enrolled,
            present: s.summary.present,
            late: s.summary.late,
            absent: s.summary.absent,
            excused: s.summary.excused,
          },
          { enrolled: STUDENTS, ...counts },
          `${s.id} summary`,
        );
        // Of those who never came, one was seen as the session finalised and two were excused.
        assert.equal(counts.absent, STUDENTS - EARLY - LATE - 3, `${s.id} absentees`);
        assert.equal(counts.excused, 2, `${s.id} excused`);
        const roster = await client.withDeadline(Date.now() + 10_000, () =>
          client.workflow.getHandle(s.id).query(rosterQuery),
        );
        assert.equal(roster.phase, 'finalised', `${s.id} roster phase`);
        // An override that met the ended workflow went through the amendment path: the workflow's last
        // view (its query) still shows that student absent, while the database and summary count it.
        const viaDatabase = [...overridesVia].filter(
          ([k, via]) => k.startsWith(`${s.id}/`) && via === 'database',
        ).length;
        assert.deepEqual(
          roster.counts,
          {
            ...counts,
            excused: counts.excused - viaDatabase,
            absent: counts.absent + viaDatabase,
            unmarked: 0,
          },
          `${s.id} roster counts`,
        );
      }

      // --- The results table: what each fault did to the devices' requests.
      const acceptedBy = new Map<string, number>();
      for (const r of requests)
        if (r.status === 202) for (const id of r.eventIds) acceptedBy.set(id, r.sentAt);
      const inWindow = (at: number, w: { from: number; to: number }) => at >= w.from && at <= w.to;
      const rows = [...windows, { name: 'outside faults', from: -1, to: -1 }].map((w) => {
        const outside = w.from < 0;
        const within = (at: number) => (outside ? !windows.some((x) => inWindow(at, x)) : inWindow(at, w));
        const reqs = requests.filter((r) => within(r.sentAt));
        const ackedHere = [...acceptedBy].filter(([, at]) => within(at)).map(([id]) => id);
        const studentsHere = [...firstSeenBy].filter(([, at]) => within(at)).map(([k]) => k);
        const lost =
          ackedHere.filter((id) => (eventCount.get(id) ?? 0) === 0).length +
          studentsHere.filter((k) => !['present', 'late'].includes(markOf.get(k)?.status ?? '')).length;
        const duplicated =
          ackedHere.filter((id) => (eventCount.get(id) ?? 0) > 1).length +
          studentsHere.filter((k) => (markOf.get(k)?.n ?? 0) > 1).length;
        const count = (p: (r: RequestLog) => boolean) => reqs.filter(p).length;
        return {
          fault: w.name,
          seconds: outside ? '' : ((w.to - w.from) / 1000).toFixed(1),
          requests: reqs.length,
          ok: count((r) => r.status === 202),
          unavailable: count((r) => r.status === 503),
          noResponse: count((r) => r.status === 0),
          other: count((r) => r.status !== 202 && r.status !== 503 && r.status !== 0),
          retries: count((r) => r.attempt > 1),
          maxMs: Math.max(0, ...reqs.map((r) => r.ms)),
          codes: [...new Set(reqs.flatMap((r) => (r.code ? [`${r.status} ${r.code}`] : [])))].join(', '),
          lost,
          duplicated,
        };
      });
      const table = [
        '| fault | s | requests | 202 | 503 | no response | other | retries | slowest answer ms | error codes | lost | duplicated |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|',
        ...rows.map(
          (r) =>
            `| ${r.fault} | ${r.seconds} | ${r.requests} | ${r.ok} | ${r.unavailable} | ${r.noResponse} | ${r.other} | ${r.retries} | ${r.maxMs} | ${r.codes} | ${r.lost} | ${r.duplicated} |`,
        ),
      ].join('\n');
      process.stdout.write(
        `\nfault matrix (${ROOMS} rooms, ${allAcked.length} events, ${requests.length} requests)\n${table}\n\n`,
      );
      fs.writeFileSync(path.join(os.tmpdir(), 'rollcall-fault-matrix.md'), `${table}\n`);

      const otherStatuses = requests.filter(
        (r) => r.status !== 202 && r.status !== 503 && r.status !== 0 && r.status !== 429,
      );
      assert.deepEqual(
        [...new Set(otherStatuses.map((r) => r.status))],
        [],
        'during faults the API answers 202, 503 (+ Retry-After) or 429, never another error',
      );
      const slowest = Math.max(...requests.map((r) => r.ms));
      assert.ok(slowest < SLOWEST_ANSWER_MS, `slowest answer ${slowest} ms`);
      // Only a Postgres outage may refuse a device: Temporal's and the relay's cost latency of marks only.
      for (const r of rows.filter((x) => /^(Temporal|relay|worker)/.test(x.fault)))
        assert.equal(r.unavailable, 0, `${r.fault}: 503 answers`);
      // The killed relay's claims were taken over and delivered by its successor (a queue row goes only when
      // a relay has delivered its event; the dead one could not) and each of their events marked once.
      assert.ok(orphaned.length > 0, 'the relay was killed holding claimed rows');
      assert.deepEqual(
        await db('inbox_pending').whereIn('event_id', orphaned).pluck('event_id'),
        [],
        'rows of the killed relay delivered',
      );
      assert.equal(
        await db('recognition_events')
          .whereIn('event_id', orphaned)
          .count<{ n: number }[]>('* as n')
          .then(([r]) => Number(r!.n)),
        orphaned.length,
        'their events kept',
      );
      for (const r of rows) {
        assert.equal(r.lost, 0, `${r.fault}: lost`);
        assert.equal(r.duplicated, 0, `${r.fault}: duplicated`);
      }
    },
  );
});
