/**
 * Device lifecycle through the admin API on the real Temporal dev server and real Postgres: provision
 * (one-time key, only its hash stored), heartbeat (workflow started, status online, config answered),
 * configure (delivered in the next heartbeat response), rotate (old key 401), decommission (workflow
 * completes, key revoked: the next call is 401), /metrics shows the device gauges; clock offset and dead
 * letters reported by a device are shown to admins and alerted on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { reportableReason } from '../../edge/heartbeat';
import { hashDeviceKey } from '../../lib/deviceKeys';
import * as explicitConfigMigration from '../../migrations/20261202000010_device_config_explicit';
import { seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { deviceStateQuery, deviceWorkflowId } from '../../workflows/deviceMessages';
import { bearerFor } from '../support/auth';
import { eventually, startTestRollcall, type TestRollcall } from '../support/app';

let rc: TestRollcall;
let admin: string;

const heartbeat = (extra: object = {}) => ({
  queueDepth: 3,
  version: '0.4.1',
  cpuTempC: 52.5,
  fps: 7.8,
  rosterVersion: 'r12',
  ...extra,
});

/** A heartbeat answer without its server_time (the device's clock sample). */
const settingsOf = (body: { config: object; configVersion: number }) => ({
  config: body.config,
  configVersion: body.configVersion,
});

void describe('device lifecycle (real Temporal + real Postgres)', () => {
  before(async () => {
    rc = await startTestRollcall();
    await seedDemoSchool(rc.database.db);
    admin = await bearerFor(rc.app, 'admin');
  });
  after(async () => rc?.stop());

  void test('when a device is provisioned, heartbeats, is configured, rotated and decommissioned, then each step holds and the revoked key gets 401', async () => {
    const t0 = Date.now();
    const prov = await request(rc.app)
      .post('/api/v1/admin/devices')
      .set('Authorization', admin)
      .send({ device_id: 'pi-lab-7', room_id: 'R101' });
    assert.equal(prov.status, 201, JSON.stringify(prov.body));
    const key: string = prov.body.api_key;
    assert.match(key, /^rcd_[A-Za-z0-9_-]{43}$/);
    assert.equal(prov.body.workflow_id, deviceWorkflowId('pi-lab-7'));
    const row = await rc.database.db('devices').where({ id: 'pi-lab-7' }).first();
    assert.equal(row.key_hash, hashDeviceKey(key), 'only the hash is stored');
    assert.ok(!JSON.stringify(row).includes(key));
    assert.equal(row.status, 'provisioned');

    const again = await request(rc.app)
      .post('/api/v1/admin/devices')
      .set('Authorization', admin)
      .send({ device_id: 'pi-lab-7', room_id: 'R101' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'device_exists');

    const hb1 = await request(rc.app)
      .post('/api/v1/heartbeat')
      .set('Authorization', `Bearer ${key}`)
      .send(heartbeat());
    assert.equal(hb1.status, 200, JSON.stringify(hb1.body));
    // Nothing set by an admin: the answer overrides nothing (the device keeps its calibrated rules).
    assert.deepEqual(settingsOf(hb1.body), { config: {}, configVersion: 0 });
    await eventually(
      async () =>
        (await rc.database.db('devices').where({ id: 'pi-lab-7' }).first('status')).status === 'online',
      'status online',
    );
    const handle = rc.temporal.client.workflow.getHandle(deviceWorkflowId('pi-lab-7'));
    const view = await handle.query(deviceStateQuery);
    assert.equal(view.status, 'online');
    assert.equal(view.lastHeartbeat?.rosterVersion, 'r12');

    const bad = await request(rc.app)
      .post('/api/v1/admin/devices/pi-lab-7/config')
      .set('Authorization', admin)
      .send({ fps: 0 });
    assert.equal(bad.status, 400);
    const conf = await request(rc.app)
      .post('/api/v1/admin/devices/pi-lab-7/config')
      .set('Authorization', admin)
      .send({ recognitionThreshold: 0.58, frameSkip: 4 });
    assert.equal(conf.status, 200, JSON.stringify(conf.body));
    assert.deepEqual(conf.body, { config: { recognitionThreshold: 0.58, frameSkip: 4 }, configVersion: 1 });
    const hb2 = await request(rc.app)
      .post('/api/v1/heartbeat')
      .set('Authorization', `Bearer ${key}`)
      .send(heartbeat());
    assert.deepEqual(settingsOf(hb2.body), {
      config: { recognitionThreshold: 0.58, frameSkip: 4 },
      configVersion: 1,
    });
    await request(rc.app)
      .post('/api/v1/heartbeat')
      .set('Authorization', `Bearer ${key}`)
      .send(heartbeat({ configVersion: 1 }));
    await eventually(
      async () => (await handle.query(deviceStateQuery)).appliedConfigVersion === 1,
      'config applied',
    );
    // Clearing a setting (null) takes it out of the answer: the device goes back to its calibrated value.
    const cleared = await request(rc.app)
      .post('/api/v1/admin/devices/pi-lab-7/config')
      .set('Authorization', admin)
      .send({ recognitionThreshold: null });
    assert.deepEqual(cleared.body, { config: { frameSkip: 4 }, configVersion: 2 });
    const hb3 = await request(rc.app)
      .post('/api/v1/heartbeat')
      .set('Authorization', `Bearer ${key}`)
      .send(heartbeat({ configVersion: 1 }));
    assert.deepEqual(settingsOf(hb3.body), { config: { frameSkip: 4 }, configVersion: 2 });

    const metrics = await request(rc.app).get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(
      metrics.text,
      /rollcall_device_cpu_temp_celsius\{device="pi-lab-7",service="rollcall"\} 52\.5/,
    );
    assert.match(metrics.text, /rollcall_device_queue_depth\{device="pi-lab-7",service="rollcall"\} 3/);
    const durations = metrics.text
      .split('\n')
      .filter((l) => l.startsWith('api_request_duration_seconds_count'));
    assert.ok(
      durations.some((l) => l.includes('route="/api/v1/heartbeat"') && l.includes('status="200"')),
      durations.join('\n'),
    );

    const rotated = await request(rc.app)
      .post('/api/v1/admin/devices/pi-lab-7/rotate-key')
      .set('Authorization', admin);
    assert.equal(rotated.status, 200);
    const newKey: string = rotated.body.api_key;
    assert.notEqual(newKey, key);
    assert.equal(
      (
        await request(rc.app)
          .post('/api/v1/heartbeat')
          .set('Authorization', `Bearer ${key}`)
          .send(heartbeat())
      ).status,
      401,
    );
    assert.equal(
      (
        await request(rc.app)
          .post('/api/v1/heartbeat')
          .set('Authorization', `Bearer ${newKey}`)
          .send(heartbeat())
      ).status,
      200,
    );

    const dec = await request(rc.app)
      .post('/api/v1/admin/devices/pi-lab-7/decommission')
      .set('Authorization', admin)
      .send({ reason: 'replaced by pi-lab-8' });
    assert.equal(dec.status, 202);
    const outcome = await handle.result();
    assert.equal(outcome.status, 'decommissioned');
    const after = await request(rc.app)
      .post('/api/v1/heartbeat')
      .set('Authorization', `Bearer ${newKey}`)
      .send(heartbeat());
    assert.equal(after.status, 401);
    assert.equal(after.body.error.code, 'unauthenticated');
    const revoked = await rc.database.db('devices').where({ id: 'pi-lab-7' }).first('status', 'key_hash');
    assert.deepEqual(revoked, { status: 'decommissioned', key_hash: null });
    const audit = await rc.database
      .db('audit_log')
      .where({ entity: 'device', entity_id: 'pi-lab-7' })
      .orderBy('id')
      .pluck('action');
    assert.deepEqual(audit, ['device.provision', 'device.rotate_key', 'device.decommission']);
    process.stderr.write(`device lifecycle through the API: ${Date.now() - t0} ms\n`);
  });

  void test('when a teacher or an anonymous client calls the admin device API, then 403 / 401 and no key is issued', async () => {
    const teacher = await bearerFor(rc.app, 'teacher1');
    const asTeacher = await request(rc.app)
      .post('/api/v1/admin/devices')
      .set('Authorization', teacher)
      .send({ device_id: 'pi-x', room_id: 'R100' });
    assert.equal(asTeacher.status, 403);
    const anonymous = await request(rc.app).get('/api/v1/admin/devices');
    assert.equal(anonymous.status, 401);
    assert.equal(await rc.database.db('devices').where({ id: 'pi-x' }).first(), undefined);
  });

  void test('when a seeded device sends its first heartbeat, then signalWithStart creates its workflow with search attributes', async () => {
    const res = await request(rc.app)
      .post('/api/v1/heartbeat')
      .set('Authorization', 'Bearer demo-key-pi-r102')
      .send(heartbeat({ cpuTempC: 81 }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const handle = rc.temporal.client.workflow.getHandle(deviceWorkflowId('pi-r102'));
    await eventually(
      async () => (await handle.query(deviceStateQuery)).alerts.overheating,
      'overheating alert',
    );
    const desc = await handle.describe();
    assert.deepEqual(desc.searchAttributes.DeviceId, ['pi-r102']);
    assert.deepEqual(desc.searchAttributes.RoomId, ['R102']);
    const listed = await request(rc.app).get('/api/v1/admin/devices').set('Authorization', admin);
    assert.equal(listed.status, 200);
    const r102 = listed.body.devices.find((d: { deviceId: string }) => d.deviceId === 'pi-r102');
    assert.equal(r102.status, 'online');
    assert.ok(r102.lastSeenAt);
  });

  void test('when a device reports its clock offset and dead letters, then admins see them per device, /metrics has them, and a clock past CLOCK_SKEW_SECONDS raises a clock_skew alert that resolves once back in range', async () => {
    const send = async (extra: object) => {
      const res = await request(rc.app)
        .post('/api/v1/heartbeat')
        .set('Authorization', 'Bearer demo-key-pi-r101')
        .send(heartbeat(extra));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as { server_time?: string };
    };
    const before = Date.now();
    // When the device's last upload was refused: an hour before now (whatever the date the suite runs on).
    const deadLetterAt = new Date(before - 3_600_000).toISOString();
    const answer = await send({
      clockOffsetMs: 300_000,
      deadLetters: 2,
      lastDeadLetterReason: 'student S009 is not enrolled in MATH201',
      lastDeadLetterAt: deadLetterAt,
      droppedEvents: 0,
    });
    const serverTime = Date.parse(answer.server_time ?? '');
    assert.ok(
      serverTime >= before - 1000 && serverTime <= Date.now() + 1000,
      'the answer carries server_time',
    );

    const handle = rc.temporal.client.workflow.getHandle(deviceWorkflowId('pi-r101'));
    await eventually(async () => (await handle.query(deviceStateQuery)).alerts.clockSkew, 'clock_skew alert');
    const view = await handle.query(deviceStateQuery);
    assert.equal(view.clockOffsetMs, 300_000);
    assert.equal(view.deadLetters, 2);
    assert.equal(view.lastDeadLetterReason, 'student S009 is not enrolled in MATH201');

    const listed = await request(rc.app).get('/api/v1/admin/devices').set('Authorization', admin);
    const r101 = listed.body.devices.find((d: { deviceId: string }) => d.deviceId === 'pi-r101');
    assert.equal(r101.clockOffsetMs, 300_000);
    assert.equal(r101.deadLetters, 2);
    assert.deepEqual(r101.lastDeadLetter, {
      reason: 'student S009 is not enrolled in MATH201',
      at: deadLetterAt,
    });
    const neverReported = listed.body.devices.find((d: { deviceId: string }) => d.deviceId === 'pi-r100');
    assert.deepEqual(
      [neverReported.clockOffsetMs, neverReported.deadLetters, neverReported.lastDeadLetter],
      [null, null, null],
    );

    const metrics = (await request(rc.app).get('/metrics')).text;
    assert.match(
      metrics,
      /rollcall_device_clock_offset_seconds\{device="pi-r101",service="rollcall"\} 300\b/,
    );
    assert.match(metrics, /rollcall_device_dead_letters\{device="pi-r101",service="rollcall"\} 2\b/);
    assert.match(
      metrics,
      /rollcall_device_alerts_total\{kind="clock_skew",state="raised",service="rollcall"\} 1\b/,
    );

    // A raw NUL byte in a reason breaks the contract's string rule: 400 naming the field, nothing stored.
    const refused = await request(rc.app)
      .post('/api/v1/heartbeat')
      .set('Authorization', 'Bearer demo-key-pi-r101')
      .send(heartbeat({ clockOffsetMs: -40, deadLetters: 3, lastDeadLetterReason: 'bad\u0000byte' }));
    assert.equal(refused.status, 400);
    assert.match(JSON.stringify(refused.body), /lastDeadLetterReason/);
    // NTP fixed: back within the limit. The edge sends what the rule allows (reportableReason).
    await send({
      clockOffsetMs: -40,
      deadLetters: 3,
      lastDeadLetterReason: reportableReason('bad\u0000byte'),
    });
    await eventually(
      async () => !(await handle.query(deviceStateQuery)).alerts.clockSkew,
      'clock_skew alert resolved',
    );
    // The workflow's state flips before its alert activity (which counts the metric) has run.
    await eventually(
      async () =>
        /rollcall_device_alerts_total\{kind="clock_skew",state="resolved",service="rollcall"\} 1\b/.test(
          (await request(rc.app).get('/metrics')).text,
        ),
      'the resolved clock_skew alert counted in /metrics',
    );
    const row = await rc.database
      .db('devices')
      .where({ id: 'pi-r101' })
      .first('clock_offset_ms', 'dead_letters', 'last_dead_letter_reason', 'last_dead_letter_at');
    assert.deepEqual(
      { ...row, clock_offset_ms: Number(row.clock_offset_ms) },
      {
        clock_offset_ms: -40,
        dead_letters: 3,
        last_dead_letter_reason: 'bad byte',
        last_dead_letter_at: null,
      },
    );
  });

  void test('when devices carry the defaults older code filled in, then the migration removes them and keeps real settings; down restores them', async () => {
    const db = rc.database.db;
    await db('devices').insert([
      {
        id: 'pi-old-a',
        room_id: 'R101',
        config: JSON.stringify({ recognitionThreshold: 0.5, frameSkip: 2, fps: 8 }),
      },
      {
        id: 'pi-old-b',
        room_id: 'R101',
        config: JSON.stringify({ recognitionThreshold: 0.62, frameSkip: 2, fps: 10 }),
        config_version: 3,
      },
    ]);
    const configs = async () =>
      Object.fromEntries(
        (await db('devices').whereIn('id', ['pi-old-a', 'pi-old-b']).select('id', 'config')).map((r) => [
          r.id,
          r.config,
        ]),
      );
    await explicitConfigMigration.up(db);
    assert.deepEqual(await configs(), {
      'pi-old-a': {},
      'pi-old-b': { recognitionThreshold: 0.62, fps: 10 },
    });
    await explicitConfigMigration.down(db);
    assert.deepEqual(await configs(), {
      'pi-old-a': { recognitionThreshold: 0.5, frameSkip: 2, fps: 8 },
      'pi-old-b': { recognitionThreshold: 0.62, frameSkip: 2, fps: 10 },
    });
    await explicitConfigMigration.up(db);
    await db('devices').whereIn('id', ['pi-old-a', 'pi-old-b']).delete();
  });
});
