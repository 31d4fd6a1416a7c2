/**
 * The device workflow on the time-skipping test server with in-memory activities: heartbeats keep it
 * online, ten minutes of silence raise exactly one alert, recovery resolves it, overheating alerts once per
 * episode, configuration is validated and persisted, state survives continue-as-new, decommissioning
 * revokes and completes.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { DeviceActivities, DeviceAlert, DeviceRecord } from '../../../activities/devices';
import { createTimeSkippingEnv } from '../../../lib/temporal/testServer';
import { device, type DeviceState } from '../../../workflows/device';
import {
  configureUpdate,
  decommissionSignal,
  deviceStateQuery,
  deviceWorkflowId,
  heartbeatSignal,
  type DeviceConfig,
  type DeviceHeartbeat,
  type DeviceStatus,
} from '../../../workflows/deviceMessages';
import { DeviceIdKey, RoomIdKey } from '../../../workflows/searchAttributes';
import { maybeRecordHistory } from '../../support/histories';

const MIN = 60_000;
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let seq = 0;

interface FakeDevices {
  activities: DeviceActivities;
  alerts: DeviceAlert[];
  statuses: { status: DeviceStatus; lastSeenAt?: string }[];
  configs: { config: DeviceConfig; configVersion: number }[];
  revoked: string[];
}

function fakeDeviceActivities(record: Partial<DeviceRecord> = {}): FakeDevices {
  const fake: Omit<FakeDevices, 'activities'> = { alerts: [], statuses: [], configs: [], revoked: [] };
  const activities: DeviceActivities = {
    async loadDevice(input) {
      return {
        deviceId: input.deviceId,
        roomId: 'R100',
        status: 'provisioned',
        config: {},
        configVersion: 0,
        ...record,
      };
    },
    async recordDeviceStatus(input) {
      fake.statuses.push({ status: input.status, lastSeenAt: input.lastSeenAt });
    },
    async saveDeviceConfig(input) {
      fake.configs.push({ config: input.config, configVersion: input.configVersion });
    },
    async raiseDeviceAlert(alert) {
      fake.alerts.push(alert);
    },
    async revokeDevice(input) {
      fake.revoked.push(input.deviceId);
    },
  };
  return { ...fake, activities };
}

async function startEnv(): Promise<TestWorkflowEnvironment> {
  const created = await createTimeSkippingEnv();
  // The Java test server knows only built-in search attributes; the workflow upserts these two.
  await created.connection.operatorService.addSearchAttributes({
    namespace: created.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      [DeviceIdKey, RoomIdKey].map((k) => {
        assert.equal(k.type, SearchAttributeType.KEYWORD);
        return [k.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD];
      }),
    ),
  });
  return created;
}

async function withDevice<T>(
  fake: FakeDevices,
  fn: (handle: WorkflowHandle<typeof device>, deviceId: string) => Promise<T>,
  input: { maxHistoryEventsBeforeContinue?: number; state?: DeviceState } = {},
): Promise<T> {
  // A fresh test server per test: a shared Java test server's clock was seen to stop skipping after a few
  // of these tests (a time-skipping lock left behind by a finished or continued run), hanging env.sleep.
  env = await startEnv();
  try {
    return await runDevice(fake, fn, input);
  } finally {
    await env.teardown();
  }
}

async function runDevice<T>(
  fake: FakeDevices,
  fn: (handle: WorkflowHandle<typeof device>, deviceId: string) => Promise<T>,
  input: { maxHistoryEventsBeforeContinue?: number; state?: DeviceState },
): Promise<T> {
  const taskQueue = `device-test-${process.pid}-${++seq}`;
  const deviceId = `pi-test-${seq}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: bundle,
    activities: fake.activities,
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(device, {
      taskQueue,
      workflowId: deviceWorkflowId(deviceId),
      args: [{ deviceId, roomId: 'R100', ...input }],
    });
    try {
      return await fn(handle, deviceId);
    } finally {
      // A device workflow never ends by itself; one left running would hold the test server's clock
      // (its timer fires into a task queue nobody polls any more).
      const { status } = await handle.describe();
      if (status.name === 'RUNNING') await handle.terminate('test finished');
    }
  });
}

const hb = (extra: Partial<DeviceHeartbeat> = {}): DeviceHeartbeat => ({
  queueDepth: 0,
  version: '1.0.0',
  cpuTempC: 55,
  ...extra,
});

/** Waits (wall time, time skipping locked) until the workflow has run what the test expects. */
async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const offlineAlerts = (f: FakeDevices, state: 'raised' | 'resolved') =>
  f.alerts.filter((a) => a.kind === 'offline' && a.state === state);

void describe('device workflow (time-skipping)', () => {
  before(
    async () => {
      try {
        Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
      } catch {
        // Installed already by this process.
      }
      bundle = await bundleWorkflowCode({
        workflowsPath: require.resolve('../../../workflows/device'),
        logger: new DefaultLogger('WARN'),
      });
    },
    { timeout: 120_000 },
  );

  void test(
    'when heartbeats arrive every minute for 30 minutes, then the device stays online and no alert is raised',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities();
      await withDevice(fake, async (handle) => {
        for (let i = 0; i < 30; i++) {
          await handle.signal(heartbeatSignal, hb({ queueDepth: i }));
          await env.sleep(MIN);
        }
        const view = await handle.query(deviceStateQuery);
        assert.equal(view.status, 'online');
        assert.equal(view.heartbeats, 30);
        assert.equal(view.lastHeartbeat?.queueDepth, 29);
        assert.deepEqual(view.alerts, { offline: false, overheating: false });
      });
      assert.equal(fake.alerts.length, 0);
      assert.deepEqual(
        fake.statuses.map((s) => s.status),
        ['online'],
        'only the provisioned → online transition is persisted, not every heartbeat',
      );
    },
  );

  void test(
    'when the device falls silent, then after 10 minutes exactly one offline alert is raised, and a heartbeat resolves it',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities();
      await withDevice(fake, async (handle) => {
        await handle.signal(heartbeatSignal, hb());
        await until('online', () => fake.statuses.length === 1);
        await env.sleep(9 * MIN);
        assert.equal((await handle.query(deviceStateQuery)).status, 'online', 'not offline before 10 min');
        assert.equal(fake.alerts.length, 0);

        await env.sleep(2 * MIN);
        await until('offline alert', () => offlineAlerts(fake, 'raised').length === 1);
        assert.equal((await handle.query(deviceStateQuery)).status, 'offline');

        await env.sleep(60 * MIN); // a long silence raises nothing more
        assert.equal(offlineAlerts(fake, 'raised').length, 1);

        await handle.signal(heartbeatSignal, hb());
        await until('resolved alert', () => offlineAlerts(fake, 'resolved').length === 1);
        const view = await handle.query(deviceStateQuery);
        assert.equal(view.status, 'online');
        assert.equal(view.alerts.offline, false);
      });
      assert.deepEqual(
        fake.statuses.map((s) => s.status),
        ['online', 'offline', 'online'],
      );
      assert.equal(offlineAlerts(fake, 'raised').length, 1);
      assert.equal(offlineAlerts(fake, 'resolved').length, 1);
      assert.match(offlineAlerts(fake, 'raised')[0].message, /no heartbeat for 10 min/);
    },
  );

  void test(
    'when the CPU stays above 70 °C for many heartbeats, then one alert per episode',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities();
      await withDevice(fake, async (handle) => {
        for (const t of [60, 72, 75, 78, 71, 68, 72, 60, 59, 80, 81]) {
          await handle.signal(heartbeatSignal, hb({ cpuTempC: t }));
          await env.sleep(MIN);
        }
        await until('alerts', async () => fake.alerts.length === 3);
      });
      // 72 raises; 68 is inside the 5 °C hysteresis so 72 again is the same episode; 60 ends it; 80 raises again.
      assert.deepEqual(
        fake.alerts.map((a) => `${a.kind}:${a.state}:${a.cpuTempC}`),
        ['overheating:raised:72', 'overheating:resolved:60', 'overheating:raised:80'],
      );
    },
  );

  void test(
    'when an operator configures the device, then valid settings are persisted with a new version and bad ones are rejected before history',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities();
      await withDevice(fake, async (handle) => {
        const result = await handle.executeUpdate(configureUpdate, {
          args: [{ recognitionThreshold: 0.62, fps: 10 }],
        });
        assert.equal(result.configVersion, 1);
        assert.deepEqual(result.config, { recognitionThreshold: 0.62, fps: 10 }, 'only what was set');
        await assert.rejects(
          handle.executeUpdate(configureUpdate, { args: [{ fps: 500 }] }),
          (err: unknown) =>
            err instanceof WorkflowUpdateFailedError &&
            /fps must be a number between 1 and 30/.test(String(err.cause?.message)),
        );
        await assert.rejects(
          handle.executeUpdate(configureUpdate, {
            args: [{ brightness: 3 } as unknown as Partial<DeviceConfig>],
          }),
          WorkflowUpdateFailedError,
        );
        const view = await handle.query(deviceStateQuery);
        assert.equal(view.configVersion, 1);
        assert.equal(view.appliedConfigVersion, 0, 'pending until the device reports it applied');
        await handle.signal(heartbeatSignal, hb({ configVersion: 1 }));
        await until('applied', async () => (await handle.query(deviceStateQuery)).appliedConfigVersion === 1);
        await maybeRecordHistory('device-configured', handle);
      });
      assert.deepEqual(fake.configs, [{ config: { recognitionThreshold: 0.62, fps: 10 }, configVersion: 1 }]);
    },
  );

  void test(
    'when history grows past the limit, then continue-as-new keeps status, counters, alerts and the pending config',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities();
      await withDevice(
        fake,
        async (handle) => {
          const firstRunId = (await handle.describe()).runId;
          await handle.executeUpdate(configureUpdate, { args: [{ frameSkip: 5 }] });
          // Paced like a real device: heartbeats racing the continue-as-new task can leak a time-skipping
          // lock in the Java test server (a later env.sleep then never returns).
          for (let i = 0; i < 12; i++) {
            await handle.signal(heartbeatSignal, hb({ cpuTempC: 75, queueDepth: i }));
            await env.sleep(MIN);
          }
          // Query only once the new run has completed its first workflow task: the Java test server stalls a
          // query that races the first task of a just-continued run.
          await until('continued as new', async () => {
            const d = await handle.describe();
            return d.runId !== firstRunId && d.historyLength >= 5;
          });
          const view = await handle.query(deviceStateQuery);
          assert.ok(view.generation >= 1, `generation ${view.generation}`);
          assert.equal(view.status, 'online');
          assert.equal(view.heartbeats, 12);
          assert.equal(view.configVersion, 1);
          assert.equal(view.appliedConfigVersion, 0, 'the config is still pending after continue-as-new');
          assert.deepEqual(view.config, { frameSkip: 5 });
          assert.equal(view.alerts.overheating, true);

          // The offline timer survives too: measured from the last heartbeat (1 min ago), not from the new run.
          await env.sleep(9 * MIN + 30_000);
          await until('offline alert', () => offlineAlerts(fake, 'raised').length === 1);
        },
        { maxHistoryEventsBeforeContinue: 20 },
      );
      assert.equal(
        fake.alerts.filter((a) => a.kind === 'overheating').length,
        1,
        'no second overheating alert after continue-as-new',
      );
    },
  );

  void test(
    'when an operator clears a setting, then the config no longer has it (the device goes back to its calibrated default)',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities({
        config: { recognitionThreshold: 0.7, recognitionVotes: 4 },
        configVersion: 3,
      });
      await withDevice(fake, async (handle) => {
        await until('loaded', async () => (await handle.query(deviceStateQuery)).configVersion === 3);
        assert.deepEqual((await handle.query(deviceStateQuery)).config, {
          recognitionThreshold: 0.7,
          recognitionVotes: 4,
        });
        const result = await handle.executeUpdate(configureUpdate, {
          args: [{ recognitionThreshold: null, frameSkip: 0 }],
        });
        assert.deepEqual(result, { config: { recognitionVotes: 4, frameSkip: 0 }, configVersion: 4 });
      });
      assert.deepEqual(fake.configs, [{ config: { recognitionVotes: 4, frameSkip: 0 }, configVersion: 4 }]);
    },
  );

  void test(
    'when a device still runs on state from older code (defaults filled in), then they are not shown and the next change drops them',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities();
      const legacy: DeviceState = {
        roomId: 'R100',
        status: 'online',
        heartbeats: 3,
        config: { recognitionThreshold: 0.5, frameSkip: 2, fps: 12 },
        configVersion: 2,
        appliedConfigVersion: 2,
        alerts: { offline: false, overheating: false },
        effects: [],
        generation: 1,
      };
      await withDevice(
        fake,
        async (handle) => {
          assert.deepEqual((await handle.query(deviceStateQuery)).config, { fps: 12 });
          const result = await handle.executeUpdate(configureUpdate, { args: [{ recognitionVotes: 4 }] });
          assert.deepEqual(result.config, { fps: 12, recognitionVotes: 4 });
          // Once clean, a value equal to an old default is an explicit setting like any other.
          const again = await handle.executeUpdate(configureUpdate, { args: [{ frameSkip: 2 }] });
          assert.deepEqual(again.config, { fps: 12, recognitionVotes: 4, frameSkip: 2 });
        },
        { state: legacy },
      );
    },
  );

  void test(
    'when the device is decommissioned, then its key is revoked, open alerts are resolved and the workflow completes',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities();
      const outcome = await withDevice(fake, async (handle) => {
        await handle.signal(heartbeatSignal, hb());
        await env.sleep(15 * MIN);
        await until('offline', () => offlineAlerts(fake, 'raised').length === 1);
        await handle.signal(decommissionSignal, { by: 'u-admin', reason: 'replaced' });
        return handle.result();
      });
      assert.equal(outcome.status, 'decommissioned');
      assert.equal(outcome.reason, 'decommissioned');
      assert.equal(fake.revoked.length, 1);
      assert.equal(offlineAlerts(fake, 'resolved').length, 1);
    },
  );

  void test(
    'when a heartbeat starts a workflow for a decommissioned device, then it ends without reviving it',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities({ status: 'decommissioned' });
      const outcome = await withDevice(fake, async (handle) => {
        await handle.signal(heartbeatSignal, hb());
        return handle.result();
      });
      assert.equal(outcome.reason, 'unknown_device');
      assert.equal(fake.statuses.length, 0);
    },
  );
});
