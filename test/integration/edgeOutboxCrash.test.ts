/**
 * The outbox against kill -9, end to end: children append and upload to the real API (real Temporal +
 * Postgres) and are SIGKILLed at random moments; afterwards the parent drains what is left. Every record
 * a child reported as taken must be in recognition_events exactly once, and no student gets two marks.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ApiClient } from '../../edge/api';
import { Outbox } from '../../edge/outbox';
import { Uploader } from '../../edge/uploader';
import { DEMO_DEVICE_KEYS, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { eventually, startTestRollcall, type TestRollcall } from '../support/app';

const CHILD = path.join(__dirname, '..', 'fixtures', 'edge', 'outbox-child.ts');
const DEVICE = 'pi-r100';
const KEY = DEMO_DEVICE_KEYS[DEVICE]!;

let rc: TestRollcall;
let server: http.Server;
let baseUrl: string;
const dirs: string[] = [];

function runChild(dir: string, count: number, killAfterMs: number | null) {
  return new Promise<{ tried: string[]; taken: string[]; killed: boolean }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CHILD, dir, baseUrl, DEVICE, KEY, String(count)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    let timer: NodeJS.Timeout | undefined;
    let sawStart = false;
    child.stdout.on('data', () => {
      // Start the kill clock at the first append, so tsx start-up time does not eat the window.
      if (!sawStart && killAfterMs !== null) {
        sawStart = true;
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      const lines = out.split('\n');
      const tried = lines.filter((l) => l.startsWith('try ')).map((l) => l.slice(4));
      const taken = lines.filter((l) => l.startsWith('taken ')).map((l) => l.slice(6));
      if (signal !== 'SIGKILL' && code !== 0) return reject(new Error(`child exited with ${code}`));
      resolve({ tried, taken, killed: signal === 'SIGKILL' });
    });
  });
}

void describe('edge outbox under kill -9 (real API, Temporal, Postgres)', () => {
  before(
    async () => {
      // The children upload far more often than a real Pi (to crash mid-upload often); the API's per-device
      // rate limit (a different concern, honoured by the uploader via 429 + Retry-After) is lifted here.
      process.env.RATE_LIMIT_DEVICE_PER_MINUTE = '100000';
      rc = await startTestRollcall();
      await seedDemoSchool(rc.database.db);
      server = http.createServer(rc.app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    { timeout: 120_000 },
  );
  after(async () => {
    server?.close();
    await rc?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  void test(
    'when the device is killed at random points between append and upload, then every taken record is delivered exactly once',
    { timeout: 240_000 },
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-crash-'));
      dirs.push(dir);
      const tried = new Set<string>();
      const taken = new Set<string>();
      let kills = 0;
      for (let round = 0; round < 8; round++) {
        const res = await runChild(dir, 400, 20 + Math.floor(Math.random() * 400));
        res.tried.forEach((id) => tried.add(id));
        res.taken.forEach((id) => taken.add(id));
        if (res.killed) kills++;
      }
      // One last child runs to completion, so appends also continue after the crashes.
      const last = await runChild(dir, 40, null);
      last.tried.forEach((id) => tried.add(id));
      last.taken.forEach((id) => taken.add(id));
      assert.ok(kills >= 6, `children were killed ${kills} times`);
      assert.ok(taken.size >= 100, `${taken.size} records taken`);

      const outbox = Outbox.open(dir);
      const api = new ApiClient({ baseUrl, deviceId: DEVICE, apiKey: KEY, timeoutMs: 10_000 });
      await new Uploader(outbox, api, pino({ level: 'silent' }), { intervalMs: 1000 }).drainOnce();
      assert.equal(outbox.depth, 0);
      assert.deepEqual(outbox.readDeadLetters(), [], 'nothing rejected');

      const db = rc.database.db;
      const rows: { event_id: string; n: string }[] = await db('recognition_events')
        .where({ device_id: DEVICE })
        .groupBy('event_id')
        .select('event_id', db.raw('count(*) AS n'));
      const delivered = new Set(rows.map((r) => r.event_id));
      assert.ok(
        rows.every((r) => Number(r.n) === 1),
        'no event stored twice',
      );
      const missing = [...taken].filter((id) => !delivered.has(id));
      assert.deepEqual(missing, [], 'every taken record reached Postgres');
      const unexplained = [...delivered].filter((id) => !tried.has(id));
      assert.deepEqual(unexplained, [], 'nothing delivered that was not appended');
      process.stderr.write(
        `kill -9 test: ${kills} kills, ${tried.size} appends tried, ${taken.size} taken, ${delivered.size} delivered ` +
          `(${delivered.size - taken.size} written but killed before the append returned)\n`,
      );

      // The class session turns those events into one mark per student (first sighting wins).
      const students = new Set(
        (await db('recognition_events').where({ device_id: DEVICE }).select('student_id')).map(
          (r: { student_id: string }) => r.student_id,
        ),
      );
      const marks = await eventually(
        async () => {
          const m: { student_id: string; event_id: string }[] = await db('attendance_logs')
            .where({ source: 'device' })
            .select('student_id', 'event_id');
          return m.length >= students.size ? m : undefined;
        },
        'attendance marks',
        60_000,
      );
      assert.equal(marks.length, students.size, 'one mark per student');
      assert.equal(new Set(marks.map((m) => m.student_id)).size, students.size);
      assert.ok(marks.every((m) => delivered.has(m.event_id)));
    },
  );

  void test(
    'when a crash comes after the upload but before the ack, then the resend is answered duplicate and stored once',
    { timeout: 60_000 },
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-dup-'));
      dirs.push(dir);
      const api = new ApiClient({ baseUrl, deviceId: DEVICE, apiKey: KEY, timeoutMs: 10_000 });
      const records = Array.from({ length: 5 }, (_, i) => ({
        event_id: crypto.randomUUID(),
        student_id: `S0${10 + i}`,
        timestamp: new Date().toISOString(),
        confidence: 0.9,
      }));
      Outbox.open(dir).append(records);
      // The upload succeeds, then the process "dies" before acknowledging.
      await assert.rejects(
        Outbox.open(dir).drain(async (rs) => {
          const outcomes = await new Uploader(Outbox.open(dir), api, pino({ level: 'silent' }), {
            intervalMs: 1000,
          }).send(rs);
          assert.ok(outcomes.every((o) => o.status === 'accepted'));
          throw new Error('killed before ack');
        }),
      );
      const reopened = Outbox.open(dir);
      assert.equal(reopened.depth, 5);
      const report = await new Uploader(reopened, api, pino({ level: 'silent' }), {
        intervalMs: 1000,
      }).drainOnce();
      assert.deepEqual([report.accepted, report.duplicate, report.rejected], [0, 5, 0]);
      const stored = await rc.database
        .db('recognition_events')
        .whereIn(
          'event_id',
          records.map((r) => r.event_id),
        )
        .count<{ n: string }[]>('* as n');
      assert.equal(Number(stored[0]!.n), 5);
    },
  );
});
