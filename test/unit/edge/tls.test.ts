/**
 * The edge over HTTPS (edge/httpsWithCa.ts): a server whose certificate comes from the school's own CA is
 * trusted when ROLLCALL_CA_FILE names that CA and refused otherwise (Node's public CAs alone, or another
 * CA); the heartbeat sent through it carries the detection-latency summary, and an answer reaches the edge
 * with its status and body intact. An edge newer than its server drops that field after the server's 400.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ApiClient, ApiError } from '../../../edge/api';
import { DetectionLatency } from '../../../edge/detectionLatency';
import { fetchWithCa, readCaFile } from '../../../edge/httpsWithCa';
import { loadEdgeConfig } from '../../../edge/config';
import { Heartbeat } from '../../../edge/heartbeat';
import { heartbeatBodySchema } from '../../../lib/contracts';
import { makeTestCa, type TestCa } from '../../../scripts/lib/s3Server';

let dir: string;
let school: TestCa;
let stranger: TestCa;
let server: https.Server;
let baseUrl: string;
const received: unknown[] = [];

const client = (fetch?: ReturnType<typeof fetchWithCa>) =>
  new ApiClient({
    baseUrl,
    deviceId: 'pi-r100',
    apiKey: 'k'.repeat(16),
    timeoutMs: 5_000,
    ...(fetch ? { fetch } : {}),
  });

void describe('edge HTTPS with a custom CA', () => {
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-edge-tls-'));
    school = await makeTestCa(path.join(dir, 'school'));
    stranger = await makeTestCa(path.join(dir, 'stranger'));
    server = https.createServer(
      { cert: fs.readFileSync(school.certFile), key: fs.readFileSync(school.keyFile), minVersion: 'TLSv1.3' },
      (req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          received.push(JSON.parse(body || 'null'));
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ config: {}, configVersion: 3, server_time: new Date().toISOString() }));
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `https://localhost:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  void test("when ROLLCALL_CA_FILE names the school's CA, then the heartbeat goes through over TLS 1.3 with its detection latency", async () => {
    const latency = new DetectionLatency();
    for (const ms of [20, 22, 25, 30, 90]) latency.record(ms);
    const detectionLatency = latency.take();
    assert.deepEqual(detectionLatency, { frames: 5, p50Ms: 25, p95Ms: 90, maxMs: 90 });
    const body = { queueDepth: 0, version: '0.1.0', detectionLatency };
    assert.equal(heartbeatBodySchema.safeParse(body).success, true);
    const answer = await client(fetchWithCa(readCaFile(school.caFile))).heartbeat(body);
    assert.deepEqual(answer, { status: 'ok', config: {}, configVersion: 3 });
    assert.deepEqual(received.at(-1), body);
    assert.equal(latency.take(), undefined, 'a new interval starts empty');
  });

  void test('when the edge trusts only the public CAs, or another CA, then the connection is refused and retried later', async () => {
    for (const api of [client(), client(fetchWithCa(readCaFile(stranger.caFile)))]) {
      await assert.rejects(
        () => api.heartbeat({ queueDepth: 0, version: '0.1.0' }),
        (err: unknown) => err instanceof ApiError && err.status === 0 && err.retryable,
      );
    }
  });

  void test('when ROLLCALL_CA_FILE is set, then the edge configuration takes it, and a file without a certificate is refused', () => {
    const cfg = loadEdgeConfig({
      DEVICE_ID: 'pi-r100',
      CLASSROOM_ID: 'R100',
      API_BASE_URL: 'https://rollcall.school.example',
      API_KEY: 'k'.repeat(16),
      ROLLCALL_CA_FILE: school.caFile,
    });
    assert.equal(cfg.ROLLCALL_CA_FILE, school.caFile);
    const junk = path.join(dir, 'junk.pem');
    fs.writeFileSync(junk, 'not a certificate');
    assert.throws(() => readCaFile(junk), /no PEM certificate/);
  });
});

void describe('a new edge against a server older than detectionLatency', () => {
  void test('when the server refuses the unknown field, then the heartbeat goes again without it, and stays without it', async () => {
    const bodies: Record<string, unknown>[] = [];
    // What an older server's strict schema answers for an unknown field.
    const old = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const body = JSON.parse(raw) as Record<string, unknown>;
        bodies.push(body);
        res.writeHead('detectionLatency' in body ? 400 : 200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify(
            'detectionLatency' in body
              ? {
                  error: {
                    code: 'validation_failed',
                    message: 'body: Unrecognized key: "detectionLatency"',
                    details: { issues: [{ field: 'body', message: 'Unrecognized key: "detectionLatency"' }] },
                  },
                }
              : { config: {}, configVersion: 0 },
          ),
        );
      });
    });
    await new Promise<void>((r) => old.listen(0, '127.0.0.1', r));
    try {
      const api = new ApiClient({
        baseUrl: `http://127.0.0.1:${(old.address() as AddressInfo).port}`,
        deviceId: 'pi-r100',
        apiKey: 'k'.repeat(16),
        timeoutMs: 5_000,
      });
      const latency = new DetectionLatency();
      const hb = new Heartbeat(api, pino({ level: 'silent' }), {
        deviceId: 'pi-r100',
        version: '0.1.0',
        intervalMs: 60_000,
        status: () => {
          latency.record(30);
          return { queueDepth: 0, detectionLatency: latency.take() };
        },
        applyConfig: () => undefined,
      });
      await hb.beat();
      await hb.beat();
      assert.equal(hb.sent, 2);
      assert.deepEqual(
        bodies.map((b) => 'detectionLatency' in b),
        [true, false, false],
      );
    } finally {
      await new Promise((r) => old.close(r));
    }
  });
});
