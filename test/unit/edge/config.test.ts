import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import pino from 'pino';
import { ApiClient } from '../../../edge/api';
import { EdgeConfigError, loadEdgeConfig } from '../../../edge/config';
import { Heartbeat, readCpuTemperature } from '../../../edge/heartbeat';
import { findCameraBinary, i420ToRgb } from '../../../edge/sources/libcamera';
import { CameraUnavailableError } from '../../../edge/sources/types';

const base = {
  DEVICE_ID: 'pi-r100',
  CLASSROOM_ID: 'R100',
  API_BASE_URL: 'http://127.0.0.1:3000/',
  API_KEY: 'demo-key-pi-r100',
};

void describe('edge config', () => {
  void test('when the required variables are set, then defaults fill the rest', () => {
    const c = loadEdgeConfig(base);
    assert.equal(c.API_BASE_URL, 'http://127.0.0.1:3000');
    assert.equal(c.DEBOUNCE_SECONDS, 30);
    assert.equal(c.FRAME_SOURCE, 'libcamera');
    assert.equal(c.RECOGNITION_THRESHOLD, undefined);
    assert.equal(
      c.FRAME_SKIP,
      2,
      'two frames skipped between analysed ones: every third, as the server means it',
    );
    assert.equal(loadEdgeConfig({ ...base, RECOGNITION_THRESHOLD: '0.7', FRAME_SKIP: '5' }).FRAME_SKIP, 5);
    assert.equal(loadEdgeConfig({ ...base, FRAME_SKIP: '0' }).FRAME_SKIP, 0, 'every frame');
    assert.equal(loadEdgeConfig({ ...base, RECOGNITION_VOTES: '4' }).RECOGNITION_VOTES, 4);
  });

  void test('when variables are missing or wrong, then one error names every one of them', () => {
    try {
      loadEdgeConfig({
        API_BASE_URL: 'ftp://x',
        RECOGNITION_THRESHOLD: '2',
        FRAME_SOURCE: 'webcam',
        CAMERA_WIDTH: '600',
      });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof EdgeConfigError);
      const text = err.message;
      for (const v of [
        'DEVICE_ID: is required',
        'CLASSROOM_ID',
        'API_KEY',
        'API_BASE_URL: must be an http(s) URL',
        'RECOGNITION_THRESHOLD',
        'FRAME_SOURCE',
      ]) {
        assert.ok(text.includes(v), `${v} in\n${text}`);
      }
    }
    assert.throws(() => loadEdgeConfig({ ...base, FRAME_SOURCE: 'directory' }), /FRAME_DIRECTORY: required/);
    assert.throws(() => loadEdgeConfig({ ...base, CAMERA_WIDTH: '600' }), /multiple of 64/);
  });
});

void describe('edge camera and device status', () => {
  void test('when no capture binary is installed, then start-up fails with an error that says what to do', () => {
    assert.throws(
      () => findCameraBinary(undefined, '/nonexistent'),
      (e: unknown) =>
        e instanceof CameraUnavailableError &&
        /rpicam-vid or libcamera-vid.*FRAME_SOURCE=classroom/s.test(e.message),
    );
    assert.equal(findCameraBinary('sh', '/bin:/usr/bin').endsWith('/sh'), true);
  });

  void test('when an I420 frame is converted, then grey stays grey and the size is w·h·3', () => {
    const w = 4;
    const h = 2;
    const yuv = new Uint8Array(w * h * 1.5).fill(128);
    yuv.fill(126, 0, w * h);
    const rgb = i420ToRgb(yuv, w, h);
    assert.equal(rgb.length, w * h * 3);
    assert.ok(
      [...rgb].every((v) => Math.abs(v - 128) <= 2),
      String([...rgb]),
    );
  });

  void test('when a thermal zone exists, then its millidegrees become °C; when not, undefined', () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rc-temp-')), 'temp');
    fs.writeFileSync(f, '48312\n');
    assert.equal(readCpuTemperature(f), 48.3);
    assert.equal(readCpuTemperature('/nonexistent/temp'), undefined);
  });

  void test('when the heartbeat endpoint is missing (404), then it is tolerated; when it returns config, then the config is applied once per version', async () => {
    let deployed = false;
    const bodies: unknown[] = [];
    const server = http.createServer((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        bodies.push(JSON.parse(b));
        res.setHeader('Content-Type', 'application/json');
        if (!deployed) {
          res.statusCode = 404;
          res.end(JSON.stringify({ error: { code: 'not_found', message: 'no route' } }));
        } else {
          res.statusCode = 200;
          res.end(JSON.stringify({ config: { recognitionThreshold: 0.7, frameSkip: 4 }, configVersion: 2 }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const api = new ApiClient({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        deviceId: 'pi-r100',
        apiKey: 'demo-key-pi-r100',
        timeoutMs: 2000,
      });
      const applied: unknown[] = [];
      const hb = new Heartbeat(api, pino({ level: 'silent' }), {
        deviceId: 'pi-r100',
        version: 'rollcall-edge/test',
        intervalMs: 60_000,
        thermalZone: '/nonexistent',
        status: () => ({ queueDepth: 7, rosterVersion: 3, fps: 7.9 }),
        applyConfig: (c, v) => applied.push({ c, v }),
      });
      await hb.beat();
      deployed = true;
      await hb.beat();
      await hb.beat();
      assert.deepEqual(bodies[0], {
        queueDepth: 7,
        version: 'rollcall-edge/test',
        rosterVersion: '3',
        fps: 7.9,
      });
      // Once a config was applied, the device reports the version it runs.
      assert.equal((bodies[2] as { configVersion?: number }).configVersion, 2);
      assert.deepEqual(applied, [{ c: { recognitionThreshold: 0.7, frameSkip: 4 }, v: 2 }]);
    } finally {
      server.close();
    }
  });
});
