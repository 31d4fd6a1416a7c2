/**
 * Dead letters on the edge: counted (across restarts) with the newest reason, sent in every heartbeat in
 * a shape the server's contract takes, and listed for an operator by `npm run edge -- dead-letters`.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import pino from 'pino';
import { ApiClient } from '../../../edge/api';
import { deadLettersCommand } from '../../../edge/deadLetters';
import { Heartbeat } from '../../../edge/heartbeat';
import { Outbox, type OutboxRecord, type RecordOutcome } from '../../../edge/outbox';
import { heartbeatBodySchema } from '../../../lib/contracts';

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-dead-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function rec(studentId: string): OutboxRecord {
  return {
    event_id: crypto.randomUUID(),
    student_id: studentId,
    session_id: 'session:7:2026-03-02',
    timestamp: '2026-03-02T09:05:00.000Z',
    confidence: 0.9,
  };
}

/** The server rejects every record of S9xx, with a reason that carries a control character. */
const judge = async (rs: OutboxRecord[]): Promise<RecordOutcome[]> =>
  rs.map((r) =>
    r.student_id.startsWith('S9')
      ? {
          event_id: r.event_id,
          status: 'rejected',
          reason: `student ${r.student_id} is not enrolled\u0000 in MATH201`,
        }
      : { event_id: r.event_id, status: 'accepted' },
  );

function heartbeatOf(outbox: Outbox): Heartbeat {
  return new Heartbeat(
    new ApiClient({ baseUrl: 'http://127.0.0.1:1', deviceId: 'x', apiKey: 'k'.repeat(8), timeoutMs: 10 }),
    pino({ level: 'silent' }),
    {
      deviceId: 'pi-r100',
      version: 'test',
      intervalMs: 60_000,
      thermalZone: '/nonexistent',
      status: () => ({
        queueDepth: outbox.depth,
        deadLetters: outbox.deadLetters,
        droppedEvents: outbox.dropped,
      }),
      applyConfig: () => undefined,
    },
  );
}

void describe('edge dead letters', () => {
  void test('when the server rejects records, then the count and the newest reason are kept across a restart and go out in every heartbeat', async () => {
    const dir = tmp();
    const outbox = Outbox.open(dir);
    assert.deepEqual(outbox.deadLetters, { count: 0 });
    assert.equal(heartbeatOf(outbox).body().deadLetters, 0, 'a device with none says so');

    outbox.append([rec('S001'), rec('S901'), rec('S002'), rec('S902')]);
    await outbox.drain(judge);
    assert.equal(outbox.deadLetters.count, 2);
    assert.match(outbox.deadLetters.last?.reason ?? '', /S902/);

    const reopened = Outbox.open(dir);
    assert.equal(reopened.deadLetters.count, 2, 'counted from the file after a restart');
    assert.match(reopened.deadLetters.last?.reason ?? '', /S902/);

    const body = heartbeatOf(reopened).body();
    assert.deepEqual(heartbeatBodySchema.parse(body), body, "the server's contract takes it");
    assert.equal(body.deadLetters, 2);
    assert.equal(body.droppedEvents, 0);
    assert.equal(
      body.lastDeadLetterReason,
      'student S902 is not enrolled  in MATH201',
      'no control characters',
    );
    assert.equal(body.lastDeadLetterAt, reopened.deadLetters.last?.at);
  });

  void test('when an operator lists the dead letters on the device, then each record is printed with its reason, oldest first, without touching the outbox', async () => {
    const dataDir = tmp();
    const outbox = Outbox.open(path.join(dataDir, 'outbox'));
    outbox.append([rec('S901'), rec('S001'), rec('S902')]);
    await outbox.drain(judge);
    const before = fs.readdirSync(path.join(dataDir, 'outbox')).sort();

    const out: string[] = [];
    const err: string[] = [];
    assert.equal(
      deadLettersCommand(
        [],
        dataDir,
        (l) => out.push(l),
        (l) => err.push(l),
      ),
      0,
    );
    assert.equal(out.length, 2);
    assert.match(
      out[0] ?? '',
      /S901 {2}2026-03-02T09:05:00.000Z {2}session:7:2026-03-02 {2}[0-9a-f-]{36} {2}— student S901 is not enrolled/,
    );
    assert.match(out[1] ?? '', /S902/);
    assert.match(err.join('\n'), /2 dead-lettered records in .*outbox\/dead-letter\.jsonl/);

    const json: string[] = [];
    deadLettersCommand(
      ['--json'],
      dataDir,
      (l) => json.push(l),
      () => undefined,
    );
    assert.deepEqual(
      json.map((l) => (JSON.parse(l) as { record: OutboxRecord }).record.student_id),
      ['S901', 'S902'],
    );
    assert.equal(
      deadLettersCommand(
        ['--all'],
        dataDir,
        () => undefined,
        () => undefined,
      ),
      2,
    );
    assert.deepEqual(fs.readdirSync(path.join(dataDir, 'outbox')).sort(), before, 'read-only');

    const empty = tmp();
    const none: string[] = [];
    assert.equal(
      deadLettersCommand(
        [],
        empty,
        () => undefined,
        (l) => none.push(l),
      ),
      0,
    );
    assert.match(none.join(''), /^0 dead-lettered records/);
    assert.equal(fs.existsSync(path.join(empty, 'outbox')), false, 'no outbox is created by looking');
  });
});
