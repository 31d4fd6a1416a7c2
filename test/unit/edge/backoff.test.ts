import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import pino from 'pino';
import { ApiClient } from '../../../edge/api';
import { backoffDelay, parseRetryAfter, withBackoff } from '../../../edge/backoff';
import { Outbox } from '../../../edge/outbox';
import { Uploader } from '../../../edge/uploader';
import type { AttendanceAnswer } from '../../../lib/contracts';

/** A 202 answer as the contract has it: every record accepted. */
function acceptedAnswer(records: { event_id: string }[]): AttendanceAnswer {
  return {
    accepted: records.length,
    duplicates: 0,
    rejected: 0,
    results: records.map((r) => ({
      event_id: r.event_id,
      status: 'accepted',
      session_id: 'session:1:2026-01-05',
    })),
  };
}

void describe('edge backoff', () => {
  void test('when attempts fail, then delays grow exponentially with full jitter up to the cap', () => {
    const opts = { initialMs: 100, maxMs: 1000, random: () => 1 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, opts)),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(backoffDelay(3, { ...opts, random: () => 0.5 }), 200);
  });

  void test('when the server sends Retry-After, then it is the floor of the wait', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())! > 8000, true);
    assert.equal(parseRetryAfter('soon'), undefined);
    const d = backoffDelay(1, { initialMs: 100, random: () => 1 }, { retryAfterMs: 5000 });
    assert.ok(d >= 5000 && d <= 5010, String(d));
  });

  void test('when a call fails twice then succeeds, then withBackoff sleeps twice (fake sleep) and returns the result', async () => {
    const sleeps: number[] = [];
    let n = 0;
    const out = await withBackoff(
      async () => {
        if (++n < 3) throw Object.assign(new Error('busy'), { retryAfterMs: 2000 });
        return 'ok';
      },
      { sleep: async (ms) => void sleeps.push(ms), random: () => 0 },
    );
    assert.equal(out, 'ok');
    assert.deepEqual(sleeps, [2000, 2000]);
  });

  void test('when an error is not retryable, then withBackoff throws it at once', async () => {
    let n = 0;
    await assert.rejects(
      withBackoff(
        async () => {
          n++;
          throw new Error('bad request');
        },
        { isRetryable: () => false, sleep: async () => undefined },
      ),
      /bad request/,
    );
    assert.equal(n, 1);
  });

  void test('when the API answers 503 with Retry-After: 1, then the uploader waits about a second and delivers on the retry', async () => {
    const hits: number[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hits.push(Date.now());
        assert.equal(req.headers.authorization, 'Bearer test-key-123');
        if (hits.length <= 2) {
          res.writeHead(503, { 'Retry-After': '1', 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'temporal_unavailable', message: 'retry later' } }));
          return;
        }
        const { records } = JSON.parse(body) as { records: { event_id: string }[] };
        res.writeHead(202, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(acceptedAnswer(records)));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-backoff-'));
    try {
      const port = (server.address() as AddressInfo).port;
      const api = new ApiClient({
        baseUrl: `http://127.0.0.1:${port}`,
        deviceId: 'pi-x',
        apiKey: 'test-key-123',
        timeoutMs: 2000,
      });
      const outbox = Outbox.open(dir);
      outbox.append([
        {
          event_id: crypto.randomUUID(),
          student_id: 'S001',
          timestamp: new Date().toISOString(),
          confidence: 0.9,
        },
      ]);
      const uploader = new Uploader(outbox, api, pino({ level: 'silent' }), {
        intervalMs: 60_000,
        backoff: { initialMs: 10 },
      });
      const report = await uploader.drainOnce();
      assert.equal(report.accepted, 1);
      assert.equal(hits.length, 3);
      assert.ok(hits[1]! - hits[0]! >= 990, `waited ${hits[1]! - hits[0]!} ms after the first 503`);
      assert.ok(hits[2]! - hits[1]! >= 990, `waited ${hits[2]! - hits[1]!} ms after the second 503`);
      assert.equal(outbox.depth, 0);
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('when the API refuses a batch as malformed, then it is bisected and only the bad record is dead-lettered', async () => {
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const { records } = JSON.parse(body) as { records: { event_id: string; student_id: string }[] };
        if (records.some((r) => r.student_id === 'bad id!')) {
          res.writeHead(400, { 'Content-Type': 'application/json' });
          res.end(
            JSON.stringify({ error: { code: 'invalid_request', message: 'student_id: only letters' } }),
          );
          return;
        }
        res.writeHead(202, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(acceptedAnswer(records)));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bisect-'));
    try {
      const port = (server.address() as AddressInfo).port;
      const api = new ApiClient({
        baseUrl: `http://127.0.0.1:${port}`,
        deviceId: 'pi-x',
        apiKey: 'test-key-123',
        timeoutMs: 2000,
      });
      const outbox = Outbox.open(dir);
      const recs = Array.from({ length: 9 }, (_, i) => ({
        event_id: crypto.randomUUID(),
        student_id: i === 5 ? 'bad id!' : 'S001',
        timestamp: new Date().toISOString(),
        confidence: 0.9,
      }));
      outbox.append(recs);
      const report = await new Uploader(outbox, api, pino({ level: 'silent' }), {
        intervalMs: 60_000,
      }).drainOnce();
      assert.deepEqual([report.accepted, report.rejected], [8, 1]);
      const dead = outbox.readDeadLetters();
      assert.equal(dead.length, 1);
      assert.match(dead[0]!.reason, /HTTP 400/);
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
