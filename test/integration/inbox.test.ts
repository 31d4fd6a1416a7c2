/**
 * The durable inbox (workers/relay.ts) on the real Temporal dev server and real Postgres: the rows a relay
 * claimed before it died are delivered by another once the lease has passed, and two relays side by side
 * never claim the same row. (Temporal down and a relay killed under load: test/integration/faults.test.ts.)
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import request from 'supertest';
import { metricsRegistry } from '../../lib/metrics';
import { DEMO_DEVICE_KEYS, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { startInboxRelay } from '../../workers/relay';
import { eventually, startTestRollcall, type TestRollcall } from '../support/app';

const KEY = DEMO_DEVICE_KEYS['pi-r100'];

function record(studentId: string, at = new Date()) {
  return {
    event_id: `evt-${crypto.randomUUID()}`,
    student_id: studentId,
    timestamp: at.toISOString(),
    confidence: 0.9,
  };
}

/** Rows the relays have delivered, in any way (signalled, redundant, amended, undeliverable), so far. */
async function handled(): Promise<number> {
  const metric = await metricsRegistry.getSingleMetric('rollcall_inbox_deliveries_total')!.get();
  return metric.values.filter((v) => v.labels.outcome !== 'failed').reduce((n, v) => n + v.value, 0);
}

void describe('inbox relay (real Temporal + real Postgres)', () => {
  let rc: TestRollcall;
  /** The queue rows (undelivered events) among `eventIds`. */
  const pendingOf = (eventIds: string[]): Promise<{ event_id: string }[]> =>
    rc.database.db('inbox_pending').whereIn('event_id', eventIds).select('event_id');
  before(async () => {
    rc = await startTestRollcall();
    await seedDemoSchool(rc.database.db);
  });
  after(async () => rc?.stop());

  const post = (records: object[]) =>
    request(rc.app)
      .post('/api/v1/attendance')
      .set('Authorization', `Bearer ${KEY}`)
      .send({ device_id: 'pi-r100', records });

  void test('when a relay died holding claimed rows, then another delivers them once the lease has passed and each is marked once', async () => {
    const db = rc.database.db;
    const first = await post([record('S001')]);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const sessionId = first.body.results[0].session_id as string;
    // Events as a relay leaves them when it dies right after its claim: queued, leased, attempted once.
    const orphans = ['S002', 'S003'].map((s) => record(s));
    const claimed: { event_id: string; lease_until: Date }[] = await db.transaction(async (trx) => {
      await trx.raw(
        `INSERT INTO recognition_events (event_id, session_id, device_id, student_id, seen_at, confidence)
         SELECT o.event_id, ?, 'pi-r100', o.student_id, o.ts, 0.9
           FROM unnest(?::text[], ?::text[], ?::timestamptz[]) AS o(event_id, student_id, ts)`,
        [
          sessionId,
          orphans.map((o) => o.event_id),
          orphans.map((o) => o.student_id),
          orphans.map((o) => o.timestamp),
        ],
      );
      // The dead relay's lease on the session (one per session, whatever it held).
      const leased = await trx('inbox_leases')
        .insert({
          session_id: sessionId,
          lease_until: trx.raw(`now() + interval '2 seconds'`),
          delivery_attempts: 1,
          holder: crypto.randomUUID(),
        })
        .onConflict('session_id')
        .merge()
        .returning(['lease_until']);
      assert.equal(
        (
          await trx('inbox_pending').whereIn(
            'event_id',
            orphans.map((o) => o.event_id),
          )
        ).length,
        2,
        'every committed event is queued',
      );
      return orphans.map((o) => ({ event_id: o.event_id, lease_until: leased[0]!.lease_until as Date }));
    });
    await eventually(
      async () => ((await pendingOf(claimed.map((c) => c.event_id))).length === 0 ? true : undefined),
      'the orphaned rows to be delivered',
    );
    const leaseOf = new Map(claimed.map((c) => [c.event_id, c.lease_until.getTime()]));
    const marks = await eventually(async () => {
      const m: { student_id: string }[] = await db('attendance_logs')
        .where({ session_id: sessionId })
        .select('student_id');
      return m.length >= 3 ? m : undefined;
    }, 'three marks');
    assert.deepEqual(marks.map((m) => m.student_id).sort(), ['S001', 'S002', 'S003']);
    // Not before the dead relay's lease ended: the living relay waited for it, then claimed them again.
    const written: { event_id: string; recorded_at: Date }[] = await db('attendance_logs')
      .whereIn('event_id', [...leaseOf.keys()])
      .select('event_id', 'recorded_at');
    assert.equal(written.length, 2);
    for (const w of written)
      assert.ok(
        w.recorded_at.getTime() >= leaseOf.get(w.event_id)!,
        'not before the dead relay’s lease ended',
      );
  });

  void test('when a student already delivered is seen again, then the later sighting is delivered without a signal and an earlier one still is signalled', async () => {
    const db = rc.database.db;
    const now = Date.now();
    const opened = await post([record('S029', new Date(now - 10_000))]);
    assert.equal(opened.status, 202, JSON.stringify(opened.body));
    const sessionId = opened.body.results[0].session_id as string;
    // The relay covers a student only once it knows the session's window (the workflow has opened it).
    await eventually(
      async () => (await db('class_sessions').where({ id: sessionId }).first()) ?? undefined,
      'the session to be open',
    );
    const delivered = (eventIds: string[]) =>
      eventually(
        async () => ((await pendingOf(eventIds)).length === 0 ? true : undefined),
        `${eventIds.join(', ')} delivered`,
      );
    const signalled = async () => {
      const history = await rc.temporal.client.workflow.getHandle(sessionId).fetchHistory();
      return (history.events ?? [])
        .filter((e) => e.workflowExecutionSignaledEventAttributes)
        .map((e) =>
          (e.workflowExecutionSignaledEventAttributes?.input?.payloads ?? [])
            .map((p) => Buffer.from(p.data ?? []).toString())
            .join(''),
        );
    };
    const first = record('S030', new Date(now - 10_000));
    assert.equal((await post([first])).status, 202);
    await delivered([first.event_id]);
    const before = await signalled();

    const later = record('S030', new Date(now - 5_000));
    assert.equal((await post([later])).status, 202);
    await delivered([later.event_id]);
    assert.equal((await signalled()).length, before.length, 'no signal for a later sighting');

    const earlier = record('S030', new Date(now - 20_000));
    assert.equal((await post([earlier])).status, 202);
    await delivered([earlier.event_id]);
    const after = await eventually(async () => {
      const s = await signalled();
      return s.length > before.length ? s : undefined;
    }, 'a signal for the earlier sighting');
    assert.equal(after.length, before.length + 1);
    assert.ok(after.at(-1)!.includes(earlier.event_id), 'the earlier sighting travelled');
    assert.ok(!after.some((p) => p.includes(later.event_id)), 'the later sighting never did');
  });

  void test('when events are deleted before delivery (retention, erasure), then their queue rows go with them and nothing else does', async () => {
    const db = rc.database.db;
    const opened = await post([record('S026')]);
    assert.equal(opened.status, 202, JSON.stringify(opened.body));
    const sessionId = opened.body.results[0].session_id as string;
    const [kept, purged] = [record('S027'), record('S028')];
    await db.transaction(async (trx) => {
      for (const r of [kept, purged])
        await trx('recognition_events').insert({
          event_id: r.event_id,
          session_id: sessionId,
          device_id: 'pi-r100',
          student_id: r.student_id,
          seen_at: r.timestamp,
          confidence: 0.9,
        });
      // Held by a relay for a minute, so neither is delivered while the test looks.
      await trx('inbox_leases')
        .insert({
          session_id: sessionId,
          lease_until: trx.raw(`now() + interval '1 minute'`),
          delivery_attempts: 1,
          holder: crypto.randomUUID(),
        })
        .onConflict('session_id')
        .merge();
    });
    assert.equal((await pendingOf([kept.event_id, purged.event_id])).length, 2);
    await db('recognition_events').where({ event_id: purged.event_id }).delete();
    assert.deepEqual(
      (await pendingOf([kept.event_id, purged.event_id])).map((r) => r.event_id),
      [kept.event_id],
    );
    // Released, the one left is delivered as usual.
    await db('inbox_leases').where({ session_id: sessionId }).delete();
    await eventually(
      async () => ((await pendingOf([kept.event_id])).length === 0 ? true : undefined),
      'the kept event to be delivered',
    );
    await eventually(
      async () => (await db('attendance_logs').where({ event_id: kept.event_id }).first()) ?? undefined,
      'its mark',
    );
  });

  void test('when two relays run side by side, then no row is claimed twice and every student is marked once', async () => {
    const db = rc.database.db;
    const second = startInboxRelay({
      db,
      temporal: rc.temporal.client,
      taskQueue: rc.taskQueue,
      log: pino({ level: 'silent' }),
      earlyMinutes: 15,
      graceMinutes: 10,
      listenUrl: rc.database.url,
      settings: { batchSize: 7 },
    });
    try {
      const students = Array.from({ length: 26 }, (_, i) => `S${String(i + 4).padStart(3, '0')}`);
      const batches = Array.from({ length: 20 }, () =>
        Array.from({ length: 5 }, () => record(students[Math.floor(Math.random() * students.length)])),
      );
      const handledBefore = await handled();
      const answers = await Promise.all(batches.map((b) => post(b)));
      for (const a of answers) assert.equal(a.status, 202, JSON.stringify(a.body));
      const ids = batches.flat().map((r) => r.event_id);
      // While they are delivered, no session is ever claimed again while held (a lease's attempts would grow).
      const attempts = new Set<number>();
      await eventually(async () => {
        const leases: { delivery_attempts: number }[] = await db('inbox_leases').select('delivery_attempts');
        for (const l of leases) attempts.add(l.delivery_attempts);
        return (await pendingOf(ids)).length === 0 ? true : undefined;
      }, 'every row delivered');
      assert.ok(
        [...attempts].every((n) => n <= 1),
        `attempts seen: ${[...attempts].join(', ')}`,
      );
      // Both relays count in this process: the rows were handled exactly once between them.
      assert.equal((await handled()) - handledBefore, ids.length, 'each row delivered exactly once');
      const seen = new Set(batches.flat().map((r) => r.student_id));
      const marks = await eventually(async () => {
        const m: { student_id: string; n: number }[] = (
          await db.raw(
            `SELECT student_id, count(*)::int AS n FROM attendance_logs
              WHERE student_id = ANY(?) GROUP BY student_id`,
            [[...seen]],
          )
        ).rows;
        return m.length === seen.size ? m : undefined;
      }, 'a mark for every student seen');
      assert.deepEqual(
        marks.filter((m) => m.n !== 1),
        [],
        'one mark per student',
      );
    } finally {
      await second.stop();
    }
  });
});
