import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { Outbox, type OutboxRecord, type RecordOutcome } from '../../../edge/outbox';

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-outbox-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function rec(i: number): OutboxRecord {
  return {
    event_id: crypto.randomUUID(),
    student_id: `S${String((i % 30) + 1).padStart(3, '0')}`,
    timestamp: new Date(1_700_000_000_000 + i * 1000).toISOString(),
    confidence: 0.8,
  };
}

const acceptAll = async (rs: OutboxRecord[]): Promise<RecordOutcome[]> =>
  rs.map((r) => ({ event_id: r.event_id, status: 'accepted' }));

void describe('edge outbox', () => {
  void test('when records are appended and the outbox is reopened, then they are all still pending in order', async () => {
    const dir = tmp();
    const ob = Outbox.open(dir, { segmentMaxBytes: 1000 });
    const records = Array.from({ length: 50 }, (_, i) => rec(i));
    for (const r of records) ob.append([r]);
    assert.equal(ob.depth, 50);
    assert.ok(fs.readdirSync(dir).filter((f) => f.startsWith('seg-')).length > 3, 'rotates segments');
    const again = Outbox.open(dir, { segmentMaxBytes: 1000 });
    assert.equal(again.depth, 50);
    const sent: string[] = [];
    const report = await again.drain(
      async (rs) => {
        sent.push(...rs.map((r) => r.event_id));
        return acceptAll(rs);
      },
      { batchSize: 7 },
    );
    assert.deepEqual(
      sent,
      records.map((r) => r.event_id),
    );
    assert.equal(report.accepted, 50);
    assert.equal(report.batches, 8);
    assert.equal(again.depth, 0);
    assert.equal(Outbox.open(dir).depth, 0, 'the ack is durable');
    assert.ok(
      fs.readdirSync(dir).filter((f) => f.startsWith('seg-')).length <= 2,
      'answered segments are deleted',
    );
  });

  void test('when a crash left a half-written last line, then reopening drops only that line', () => {
    const dir = tmp();
    const ob = Outbox.open(dir);
    ob.append([rec(1), rec(2)]);
    const seg = fs.readdirSync(dir).find((f) => f.startsWith('seg-'))!;
    fs.appendFileSync(path.join(dir, seg), '{"event_id":"half-writ');
    const again = Outbox.open(dir);
    assert.equal(again.depth, 2);
    again.append([rec(3)]);
    assert.equal(again.peek(10).records.length, 3);
    assert.equal(again.peek(10).corrupt.length, 0);
  });

  void test('when the upload fails, then nothing is acknowledged and the same records are sent again', async () => {
    const dir = tmp();
    const ob = Outbox.open(dir);
    const records = [rec(1), rec(2), rec(3)];
    ob.append(records);
    await assert.rejects(ob.drain(async () => Promise.reject(new Error('network down'))));
    assert.equal(ob.depth, 3);
    const sent: string[] = [];
    await Outbox.open(dir).drain(async (rs) => {
      sent.push(...rs.map((r) => r.event_id));
      return acceptAll(rs);
    });
    assert.deepEqual(
      sent,
      records.map((r) => r.event_id),
      'the same event ids: the server dedupes them',
    );
  });

  void test('when the server rejects a record, then it goes to the dead-letter file with the reason and is not retried', async () => {
    const dir = tmp();
    const ob = Outbox.open(dir);
    const [a, b] = [rec(1), rec(2)];
    ob.append([a, b]);
    const report = await ob.drain(async () => [
      { event_id: a.event_id, status: 'accepted' },
      { event_id: b.event_id, status: 'rejected', reason: 'unknown student S999' },
    ]);
    assert.deepEqual([report.accepted, report.rejected], [1, 1]);
    assert.equal(ob.depth, 0);
    const dead = Outbox.open(dir).readDeadLetters();
    assert.equal(dead.length, 1);
    assert.deepEqual(dead[0]!.record, b);
    assert.equal(dead[0]!.reason, 'unknown student S999');
    let calls = 0;
    await Outbox.open(dir).drain(async (rs) => {
      calls++;
      return acceptAll(rs);
    });
    assert.equal(calls, 0);
  });

  void test('when the outbox is full, then new records are refused and counted as dropped', async () => {
    const dir = tmp();
    const ob = Outbox.open(dir, { maxRecords: 100 });
    const res = ob.append(Array.from({ length: 120 }, (_, i) => rec(i)));
    assert.deepEqual(res, { taken: 100, dropped: 20 });
    assert.deepEqual(ob.append([rec(1)]), { taken: 0, dropped: 1 });
    assert.equal(ob.dropped, 21);
    await ob.drain(acceptAll, { batchSize: 50 });
    assert.deepEqual(ob.append([rec(1)]), { taken: 1, dropped: 0 });
  });

  void test('when a full batch is waiting, then append listeners hear the depth; batches never exceed 500', async () => {
    const dir = tmp();
    const ob = Outbox.open(dir);
    const depths: number[] = [];
    ob.onAppend((d) => depths.push(d));
    ob.append(Array.from({ length: 1200 }, (_, i) => rec(i)));
    assert.deepEqual(depths, [1200]);
    const sizes: number[] = [];
    await ob.drain(
      async (rs) => {
        sizes.push(rs.length);
        return acceptAll(rs);
      },
      { batchSize: 10_000 },
    );
    assert.deepEqual(sizes, [500, 500, 200]);
  });
});
