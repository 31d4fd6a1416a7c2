/**
 * Which settings a device runs with (server's explicit config > environment > calibration), that a cleared
 * server setting brings the calibrated value back, that the last config survives a restart, and that a
 * heartbeat answer outside the contract is never applied.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import pino from 'pino';
import { ApiClient, ApiError } from '../../../edge/api';
import { loadEdgeConfig } from '../../../edge/config';
import { Heartbeat } from '../../../edge/heartbeat';
import { DeviceConfigStore, effectiveSettings, SettingsError } from '../../../edge/settings';

const env = loadEdgeConfig({
  DEVICE_ID: 'pi-r100',
  CLASSROOM_ID: 'R100',
  API_BASE_URL: 'http://127.0.0.1:3000',
  API_KEY: 'demo-key-pi-r100',
});
const calibrated = { threshold: 0.61, minMargin: 0.04, votes: 3 };

void describe('edge settings', () => {
  void test('when the server sets nothing, then the device runs the calibration and its own FRAME_SKIP / CAMERA_FPS', () => {
    assert.deepEqual(effectiveSettings(calibrated, env, {}), {
      rules: calibrated,
      frameSkip: 2,
      fps: 8,
    });
  });

  void test('when the environment sets a rule, then it replaces the calibrated one; an explicit server setting replaces both', () => {
    const local = { ...env, RECOGNITION_THRESHOLD: 0.7, RECOGNITION_VOTES: 5, FRAME_SKIP: 0 };
    assert.deepEqual(effectiveSettings(calibrated, local, {}).rules, {
      threshold: 0.7,
      minMargin: 0.04,
      votes: 5,
    });
    const s = effectiveSettings(calibrated, local, { recognitionThreshold: 0.66, frameSkip: 4, fps: 10 });
    assert.deepEqual(s, { rules: { threshold: 0.66, minMargin: 0.04, votes: 5 }, frameSkip: 4, fps: 10 });
  });

  void test('when the manifest has no calibration and nothing sets a rule, then the device refuses to guess', () => {
    assert.throws(() => effectiveSettings(undefined, env, {}), SettingsError);
    assert.deepEqual(
      effectiveSettings(undefined, env, {
        recognitionThreshold: 0.6,
        recognitionMinMargin: 0.05,
        recognitionVotes: 2,
      }).rules,
      { threshold: 0.6, minMargin: 0.05, votes: 2 },
    );
  });

  void test('when a config is saved, then a restarted device loads it; a corrupted file is ignored', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-devcfg-'));
    try {
      const store = new DeviceConfigStore(dir);
      assert.equal(store.load(), undefined);
      store.save({ config: { recognitionThreshold: 0.66, fps: 10 }, configVersion: 4 });
      assert.deepEqual(new DeviceConfigStore(dir).load(), {
        config: { recognitionThreshold: 0.66, fps: 10 },
        configVersion: 4,
      });
      fs.writeFileSync(store.file, '{"config":{"recognitionThreshold":7},"configVersion":5}');
      assert.equal(store.load(), undefined, 'a value outside the contract is not loaded');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('edge heartbeat answers', () => {
  async function answering(bodies: unknown[], fn: (api: ApiClient) => Promise<void>): Promise<void> {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(bodies.shift()));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      await fn(
        new ApiClient({
          baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          deviceId: 'pi-r100',
          apiKey: 'demo-key-pi-r100',
          timeoutMs: 2000,
        }),
      );
    } finally {
      server.close();
    }
  }

  void test('when the server clears a setting (a new version without it), then the device gets the empty field and goes back to its default', async () => {
    const applied: { config: unknown; version: number }[] = [];
    await answering(
      [
        { config: { recognitionThreshold: 0.7 }, configVersion: 1 },
        { config: { recognitionThreshold: 0.7 }, configVersion: 1 },
        { config: {}, configVersion: 2 },
      ],
      async (api) => {
        const hb = new Heartbeat(api, pino({ level: 'silent' }), {
          deviceId: 'pi-r100',
          version: 'test',
          intervalMs: 60_000,
          thermalZone: '/nonexistent',
          status: () => ({ queueDepth: 0 }),
          applyConfig: (config, version) => applied.push({ config, version }),
        });
        for (let i = 0; i < 3; i++) await hb.beat();
      },
    );
    assert.deepEqual(applied, [
      { config: { recognitionThreshold: 0.7 }, version: 1 },
      { config: {}, version: 2 },
    ]);
    assert.deepEqual(effectiveSettings(calibrated, env, {}).rules.threshold, calibrated.threshold);
  });

  void test('when a heartbeat answer does not match the contract, then it is an error and nothing is applied', async () => {
    await answering([{ config: { recognitionThreshold: 5 }, configVersion: 3 }], async (api) => {
      await assert.rejects(
        api.heartbeat({ queueDepth: 0, version: 'test' }),
        (err: unknown) =>
          err instanceof ApiError &&
          err.retryable &&
          /does not match the contract \(config\.recognitionThreshold/.test(err.message),
      );
    });
  });

  void test('when a restarted device applied a config before, then its first heartbeat reports that version', async () => {
    const hb = new Heartbeat(
      new ApiClient({ baseUrl: 'http://127.0.0.1:1', deviceId: 'x', apiKey: 'k'.repeat(8), timeoutMs: 10 }),
      pino({ level: 'silent' }),
      {
        deviceId: 'pi-r100',
        version: 'test',
        intervalMs: 60_000,
        thermalZone: '/nonexistent',
        status: () => ({ queueDepth: 0 }),
        applyConfig: () => undefined,
        appliedConfigVersion: 4,
      },
    );
    assert.equal(hb.body().configVersion, 4);
  });
});
