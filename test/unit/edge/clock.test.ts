/**
 * The edge's clock offset: measured from the server_time of the answers, anchored to the monotonic clock
 * (an NTP step of the wall clock does not corrupt it), the shortest round trip winning; used to stamp
 * sightings in the server's time and reported in every heartbeat.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import pino from 'pino';
import { ApiClient } from '../../../edge/api';
import { EdgeClock } from '../../../edge/clock';
import { Heartbeat } from '../../../edge/heartbeat';
import { heartbeatBodySchema } from '../../../lib/contracts';

const SERVER = Date.parse('2026-03-02T09:00:00.000Z');

/** A device whose wall clock reads `wall` and whose monotonic clock reads `mono` (both settable). */
function fakeDevice(wallMs: number) {
  const c = { wall: wallMs, mono: 1_000 };
  const clock = new EdgeClock({ wallMs: () => c.wall, monotonicMs: () => c.mono });
  return { c, clock };
}

void describe('edge clock offset', () => {
  void test('when the device clock is 5 minutes ahead, then the offset says so and sightings are stamped in server time', () => {
    const { c, clock } = fakeDevice(SERVER + 5 * 60_000);
    assert.equal(clock.measured, false);
    assert.equal(clock.offsetMs(), 0, 'unmeasured: the device trusts its own clock');
    const sent = clock.mark();
    c.mono += 200;
    c.wall += 200;
    // The server answered in the middle of the round trip.
    clock.observe(new Date(SERVER + 100).toISOString(), sent, clock.mark());
    assert.equal(clock.measured, true);
    assert.equal(clock.offsetMs(), 5 * 60_000);
    assert.equal(clock.now().getTime(), SERVER + 200);
    const seen = new Date(c.wall - 1_000);
    assert.equal(clock.toServerTime(seen).toISOString(), new Date(SERVER - 800).toISOString());
  });

  void test('when NTP steps the wall clock after a measurement, then server time stays right and the offset follows the step', () => {
    const { c, clock } = fakeDevice(Date.parse('1970-01-01T00:00:10Z'));
    const sent = clock.mark();
    clock.observe(new Date(SERVER).toISOString(), sent, sent);
    assert.equal(clock.offsetMs(), Date.parse('1970-01-01T00:00:10Z') - SERVER, 'a Pi booted in 1970');
    c.mono += 60_000;
    c.wall = SERVER + 60_000; // NTP synced
    assert.equal(clock.now().getTime(), SERVER + 60_000);
    assert.equal(clock.offsetMs(), 0);
  });

  void test('when answers come back with different round trips, then the shortest one sets the offset', () => {
    const { c, clock } = fakeDevice(SERVER);
    // A slow answer whose midpoint guess is 2 s off, then a quick, exact one.
    let sent = clock.mark();
    c.mono += 8_000;
    clock.observe(new Date(SERVER + 2_000).toISOString(), sent, clock.mark());
    c.wall += 8_000;
    sent = clock.mark();
    c.mono += 20;
    c.wall += 20;
    clock.observe(new Date(SERVER + 8_010).toISOString(), sent, clock.mark());
    assert.equal(clock.offsetMs(), 0);
    clock.observe('not a time', 0, 1);
    assert.equal(clock.offsetMs(), 0, 'an unreadable answer is no sample');
  });

  void test('when the schedule and heartbeat answers carry server_time, then the API client measures the offset and the heartbeat reports it', async () => {
    const serverAhead = 90_000; // the server's clock is 90 s ahead of this machine's: the device is behind
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const server_time = new Date(Date.now() + serverAhead).toISOString();
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify(
            req.url?.startsWith('/api/v1/schedule')
              ? { room_id: 'R100', server_time, current: null, next: null }
              : { config: {}, configVersion: 0, server_time },
          ),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const clock = new EdgeClock();
      const api = new ApiClient({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        deviceId: 'pi-r100',
        apiKey: 'demo-key-pi-r100',
        timeoutMs: 2000,
        clock,
      });
      const started = Date.now();
      await api.schedule('R100');
      // The estimate is off by at most the round trip (long on a busy machine), never by the 90 s.
      const roundTrip = Date.now() - started;
      assert.ok(
        Math.abs(clock.offsetMs() + serverAhead) <= Math.max(100, roundTrip),
        `offset ${clock.offsetMs()} (round trip ${roundTrip} ms)`,
      );
      const bodies: unknown[] = [];
      const hb = new Heartbeat(api, pino({ level: 'silent' }), {
        deviceId: 'pi-r100',
        version: 'test',
        intervalMs: 60_000,
        thermalZone: '/nonexistent',
        status: () => ({ queueDepth: 0, clockOffsetMs: clock.offsetMs() }),
        applyConfig: () => undefined,
        onAnswer: () => bodies.push(hb.body()),
      });
      const beatStarted = Date.now();
      await hb.beat();
      const beatTrip = Date.now() - beatStarted;
      const body = heartbeatBodySchema.parse(bodies[0]);
      assert.ok(Number.isInteger(body.clockOffsetMs), 'whole milliseconds');
      assert.ok(
        Math.abs((body.clockOffsetMs ?? 0) + serverAhead) <= Math.max(100, roundTrip, beatTrip),
        JSON.stringify(body),
      );
    } finally {
      server.close();
    }
  });
});
