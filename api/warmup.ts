/**
 * Before a replica takes traffic, its device path runs in-process a few hundred times, so the first herd
 * after a start (a deploy at 8:55, a pod rescheduled) meets compiled code rather than paying V8's
 * compilation in its latency (measured: the first 5 s of a 10,000-a-minute herd on a just-started API had a
 * 202 P95 of ~800 ms, the rest 20–150 ms; deploy/SCALING.md).
 *
 * What runs: a device batch as a device sends it, but without a key, through an app built like the real
 * one with a silent logger (body parsing, request id, security headers, routing, the address's block
 * look-up, the 401 and its error body), and the batch schema on the same body. Nothing is written: a missing
 * key is refused before any key is counted as wrong. The request-duration metric is reset afterwards so the
 * warm-up is not reported as traffic.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { attendanceBatchSchema } from '../lib/contracts';
import { apiRequestDuration } from '../lib/metrics';

function sampleBatch(): string {
  const now = Date.now();
  return JSON.stringify({
    device_id: 'warm-up',
    records: Array.from({ length: 10 }, (_, i) => ({
      event_id: `warm-up-${i}`,
      student_id: `S${String(i).padStart(3, '0')}`,
      timestamp: new Date(now - i * 1000).toISOString(),
      confidence: 0.9,
    })),
  });
}

export async function warmDevicePath(app: Express, rounds = 300): Promise<void> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const body = sampleBatch();
  const post = () =>
    new Promise<void>((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/api/v1/attendance',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', () => resolve());
      req.end(body);
    });
  try {
    for (let i = 0; i < rounds; i++) {
      await Promise.all([post(), post(), post(), post()]);
      attendanceBatchSchema.safeParse(JSON.parse(body));
    }
  } finally {
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
    apiRequestDuration.reset();
  }
}
