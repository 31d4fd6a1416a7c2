/**
 * The device workflow on the time-skipping test server with in-memory activities: heartbeats keep it
 * online, ten minutes of silence raise exactly one alert, recovery resolves it, overheating alerts once per
 * episode, configuration is validated and persisted, state survives continue-as-new, decommissioning
 * revokes and completes.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { WorkflowUpdateFailedError, WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
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

/**
 * In-memory device activities. `record` null: the devices row does not exist. `loaded`: loadDevice
 * answers only once it resolves (messages can then reach the workflow before its state is loaded).
 */
function fakeDeviceActivities(
  record: Partial<DeviceRecord> | null = {},
  loaded: Promise<void> = Promise.resolve(),
): FakeDevices {
  const fake: Omit<FakeDevices, 'activities'> = { alerts: [], statuses: [], configs: [], revoked: [] };
  const activities: DeviceActivities = {
    async loadDevice(input) {
      await loaded;
      if (record === null) return null;
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
        assert.deepEqual(view.alerts, { offline: false, overheating: false, clockSkew: false });
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
    'when the server lowers its offline limit, then a device workflow started with the old one alerts at the new limit, also after continue-as-new',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities();
      await withDevice(
        fake,
        async (handle) => {
          // Enough heartbeats to continue-as-new at least once; the limits travel with each of them.
          for (let i = 0; i < 8; i++) {
            await handle.signal(heartbeatSignal, hb(), { clockSkewMs: 120_000, offlineAfterMs: 3 * MIN });
            await env.sleep(MIN / 2);
          }
          await until('online', () => fake.statuses.length >= 1);
          await env.sleep(4 * MIN);
          await until('offline alert', () => offlineAlerts(fake, 'raised').length === 1);
        },
        { maxHistoryEventsBeforeContinue: 20 },
      );
      assert.match(offlineAlerts(fake, 'raised')[0].message, /limit 3 min/);
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
    'when the device clock is further off than the limit the heartbeat carries, then one clock_skew alert per episode, resolved once back in range',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities();
      const limits = { clockSkewMs: 120_000 };
      await withDevice(fake, async (handle) => {
        // 250 s: same episode; 115 s: within the limit but not yet 10 % inside it; -30 s: back.
        for (const offset of [500, 300_000, 250_000, 115_000, -30_000, -200_000]) {
          await handle.signal(heartbeatSignal, hb({ clockOffsetMs: offset }), limits);
          await env.sleep(MIN);
        }
        await until('three alerts', () => fake.alerts.length === 3);
        let view = await handle.query(deviceStateQuery);
        assert.equal(view.alerts.clockSkew, true);
        assert.equal(view.clockOffsetMs, -200_000);

        // An admin raised CLOCK_SKEW_SECONDS: the next heartbeat brings the new limit to this running device.
        await handle.signal(heartbeatSignal, hb({ clockOffsetMs: -200_000 }), { clockSkewMs: 600_000 });
        await until('resolved', () => fake.alerts.length === 4);
        // A heartbeat from an older API (no limits) is judged against the workflow's default, 120 s.
        await handle.signal(heartbeatSignal, hb({ clockOffsetMs: 130_000 }));
        await until('raised again', () => fake.alerts.length === 5);
        view = await handle.query(deviceStateQuery);
        assert.equal(view.alerts.clockSkew, true);
        await maybeRecordHistory('device-clock-skew', handle);
      });
      assert.deepEqual(
        fake.alerts.map((a) => `${a.kind}:${a.state}:${a.clockOffsetMs}`),
        [
          'clock_skew:raised:300000',
          'clock_skew:resolved:-30000',
          'clock_skew:raised:-200000',
          'clock_skew:resolved:-200000',
          'clock_skew:raised:130000',
        ],
      );
      assert.match(fake.alerts[0]?.message ?? '', /clock 300\.0 s ahead of the server's \(limit 120 s\)/);
      assert.match(fake.alerts[2]?.message ?? '', /200\.0 s behind/);
    },
  );

  void test(
    'when heartbeats report dead letters, then the device state shows their count and the newest reason',
    { timeout: 60_000 },
    async () => {
      const fake = fakeDeviceActivities();
      await withDevice(fake, async (handle) => {
        await handle.signal(
          heartbeatSignal,
          hb({ deadLetters: 3, lastDeadLetterReason: 'student S9 is not enrolled in MATH201' }),
        );
        await until('heard', async () => (await handle.query(deviceStateQuery)).heartbeats === 1);
        const view = await handle.query(deviceStateQuery);
        assert.equal(view.deadLetters, 3);
        assert.equal(view.lastDeadLetterReason, 'student S9 is not enrolled in MATH201');
      });
    },
  );

  void test(
    'when configure reaches the workflow of a device that does not exist, then the update fails with a clear non-retryable error instead of waiting for ever, and the workflow ends',
    { timeout: 60_000 },
    async () => {
      let load!: () => void;
      const fake = fakeDeviceActivities(null, new Promise<void>((r) => (load = r)));
      await withDevice(fake, async (handle) => {
        // Accepted before the load answered: the validator cannot know yet.
        const update = await handle.startUpdate(configureUpdate, {
          args: [{ fps: 10 }],
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        });
        load();
        const outcome = await Promise.race([
          update.result().then(
            () => 'succeeded',
            (err: unknown) => err,
          ),
          new Promise((r) => setTimeout(() => r('still waiting after 15 s'), 15_000)),
        ]);
        assert.ok(outcome instanceof WorkflowUpdateFailedError, String(outcome));
        assert.match(String(outcome.cause?.message), /device pi-test-\d+ is unknown or decommissioned/);
        assert.equal((outcome.cause as { nonRetryable?: boolean } | undefined)?.nonRetryable, true);
        assert.equal((await handle.result()).reason, 'unknown_device');
      });
      assert.deepEqual(fake.configs, [], 'nothing was saved');
    },
  );

  void test(
    'when a device is being decommissioned before its state has loaded, then configure is rejected before it enters history',
    { timeout: 60_000 },
    async () => {
      let load!: () => void;
      const fake = fakeDeviceActivities({}, new Promise<void>((r) => (load = r)));
      const outcome = await withDevice(fake, async (handle) => {
        await handle.signal(decommissionSignal, { by: 'u-admin', reason: 'stolen' });
        await assert.rejects(
          handle.executeUpdate(configureUpdate, { args: [{ fps: 10 }] }),
          (err: unknown) =>
            err instanceof WorkflowUpdateFailedError &&
            /device pi-test-\d+ is decommissioned/.test(String(err.cause?.message)),
        );
        load();
        const result = await handle.result();
        const events = (await handle.fetchHistory()).events ?? [];
        assert.ok(
          events.every((e) => !e.workflowExecutionUpdateAcceptedEventAttributes),
          'the rejected update left no trace in history',
        );
        return result;
      });
      assert.equal(outcome.reason, 'decommissioned');
      assert.deepEqual(fake.configs, [], 'the settings of a decommissioned device were never saved');
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
