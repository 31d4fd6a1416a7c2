/**
 * Which roster the edge recognises against, on a fixed clock: back-to-back classes, a gap between
 * classes, the server's own windows, and the next class's roster fetched ahead so the switch happens on
 * time even when the API cannot be reached at that moment (and after a reboot without network).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import pino from 'pino';
import type { ApiClient, RosterFetch } from '../../../edge/api';
import { rankedRosters, rosterForSighting, RosterStore, type CachedRoster } from '../../../edge/roster';
import { PREFETCH_LEAD_MS, RosterSync } from '../../../edge/schedule';
import type { RosterAnswer, ScheduleAnswer, SessionInfo } from '../../../lib/contracts';

const MIN = 60_000;
const day = '2026-03-02';
const t = (hhmm: string) => new Date(`${day}T${hhmm}:00.000Z`);

function roster(sessionId: string, from: string, to: string, students: string[]): CachedRoster {
  return {
    sessionId,
    courseId: sessionId.toUpperCase(),
    startsAt: t(from).toISOString(),
    endsAt: t(to).toISOString(),
    rosterVersion: 1,
    etag: `"${sessionId}"`,
    modelId: 'dlib',
    dimension: 1,
    students: students.map((studentId) => ({ studentId, embeddings: [] })),
    fetchedAt: t('08:00').toISOString(),
    earlyMinutes: 15,
    graceMinutes: 10,
  };
}

const ids = (rs: readonly CachedRoster[]) => rs.map((r) => r.sessionId);

void describe('edge roster switching (fixed clock)', () => {
  // A 09:00–10:00 and B 10:00–11:00 back to back; S1 is in both, S2 only in A, S3 only in B.
  const a = roster('a', '09:00', '10:00', ['S1', 'S2']);
  const b = roster('b', '10:00', '11:00', ['S1', 'S3']);

  void test('when classes are back to back, then the next roster applies from its early window, ranked as the server ranks the classes', () => {
    assert.deepEqual(ids(rankedRosters([a, b], t('09:44'))), ['a'], 'before B opens');
    assert.deepEqual(ids(rankedRosters([a, b], t('09:45'))), ['a', 'b'], 'B opens 15 min early');
    assert.deepEqual(ids(rankedRosters([a, b], t('10:00'))), ['b', 'a'], 'B covers, A in grace');
    assert.deepEqual(ids(rankedRosters([a, b], t('10:10'))), ['b', 'a'], 'the last instant of A');
    assert.deepEqual(ids(rankedRosters([a, b], new Date(t('10:10').getTime() + 1))), ['b']);
  });

  void test("when a student is seen while both classes take sightings, then the sighting goes to the server's class for that student", () => {
    const at = t('09:50');
    assert.equal(rosterForSighting([a, b], 'S3', at)?.sessionId, 'b', "the next class's on-time student");
    assert.equal(rosterForSighting([a, b], 'S1', at)?.sessionId, 'a', 'in both: the class that covers it');
    assert.equal(rosterForSighting([a, b], 'S2', at)?.sessionId, 'a');
    const later = t('10:05');
    assert.equal(rosterForSighting([a, b], 'S1', later)?.sessionId, 'b');
    assert.equal(rosterForSighting([a, b], 'S2', later)?.sessionId, 'a', "A's student after the bell");
    assert.equal(rosterForSighting([a, b], 'S9', later), undefined);
  });

  void test("when there is a gap between classes, or the server's windows differ, then each roster applies exactly in its own window", () => {
    const c = roster('c', '10:30', '11:00', ['S1']);
    assert.deepEqual(ids(rankedRosters([a, c], t('10:10'))), ['a']);
    assert.deepEqual(ids(rankedRosters([a, c], t('10:12'))), [], 'A has ended, C not yet open');
    assert.deepEqual(ids(rankedRosters([a, c], t('10:15'))), ['c']);
    const short = { ...c, earlyMinutes: 5, graceMinutes: 0 };
    assert.deepEqual(ids(rankedRosters([short], t('10:24'))), []);
    assert.deepEqual(ids(rankedRosters([short], t('10:25'))), ['c']);
    const legacy: CachedRoster = { ...c };
    delete legacy.earlyMinutes;
    delete legacy.graceMinutes;
    assert.deepEqual(ids(rankedRosters([legacy], t('10:15'))), ['c'], 'a cache from older code: 15 min');
  });
});

void describe('edge roster sync (fixed clock, scripted API)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  function session(id: string, from: string, to: string): SessionInfo {
    return {
      session_id: id,
      schedule_id: 1,
      course_id: id.toUpperCase(),
      course_name: id,
      session_date: day,
      starts_at: t(from).toISOString(),
      ends_at: t(to).toISOString(),
      late_after_minutes: 5,
      roster_version: 1,
    };
  }

  /** A server with classes A 09:00–10:00 and B 10:00–11:00 that can be switched off. */
  function scriptedApi(now: () => Date) {
    const calls: string[] = [];
    let reachable = true;
    const sessions = [session('a', '09:00', '10:00'), session('b', '10:00', '11:00')];
    const students: Record<string, string[]> = { a: ['S1', 'S2'], b: ['S1', 'S3'] };
    const api = {
      async schedule(roomId: string): Promise<ScheduleAnswer> {
        calls.push(`schedule ${roomId}`);
        if (!reachable) throw new Error('ECONNREFUSED');
        const at = now().getTime();
        const open = (s: SessionInfo) =>
          at >= Date.parse(s.starts_at) - 15 * MIN && at <= Date.parse(s.ends_at) + 10 * MIN;
        const covers = (s: SessionInfo) => at >= Date.parse(s.starts_at) && at < Date.parse(s.ends_at);
        return {
          room_id: roomId,
          server_time: now().toISOString(),
          current: sessions.find(covers) ?? sessions.find(open) ?? null,
          next: sessions.find((s) => Date.parse(s.starts_at) > at) ?? null,
          early_minutes: 15,
          grace_minutes: 10,
        };
      },
      async roster(sessionId: string, etag: string | null): Promise<RosterFetch> {
        calls.push(`roster ${sessionId}`);
        if (!reachable) throw new Error('ECONNREFUSED');
        if (etag === `"${sessionId}"`) return { status: 'not-modified' };
        const body: RosterAnswer = {
          sessionId,
          courseId: sessionId.toUpperCase(),
          roomId: 'R1',
          modelId: 'dlib',
          dimension: 1,
          encoding: 'base64-float32le',
          rosterVersion: 1,
          students: (students[sessionId] ?? []).map((studentId) => ({ studentId, embeddings: [] })),
          studentsWithoutFaces: 0,
        };
        return { status: 'ok', etag: `"${sessionId}"`, roster: body };
      },
    };
    return {
      api: api as unknown as ApiClient,
      calls,
      goOffline: () => {
        reachable = false;
      },
    };
  }

  function sync(api: ApiClient, dir: string, clock: { now: Date }) {
    return new RosterSync(api, new RosterStore(dir), pino({ level: 'silent' }), {
      classroomId: 'R1',
      pollMs: 10 * MIN,
      now: () => clock.now,
    });
  }

  void test('when the next class starts right after this one, then its roster is fetched ahead and recognised from its early window on, with the API gone and after a reboot', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-schedule-'));
    dirs.push(dir);
    const clock = { now: t('09:20') };
    const server = scriptedApi(() => clock.now);
    const rs = sync(server.api, dir, clock);

    await rs.refresh();
    assert.deepEqual(server.calls, ['schedule R1', 'roster a'], 'B opens in 25 min: not yet');
    assert.equal(rs.nextPollDelay(), 10 * MIN, 'the regular poll comes before the prefetch boundary');

    clock.now = t('09:40');
    await rs.refresh();
    assert.deepEqual(server.calls.slice(2), ['schedule R1', 'roster a', 'roster b'], 'B is fetched ahead');
    assert.deepEqual(ids(rs.activeRosters()), ['a'], 'fetched, but not yet applied');
    assert.equal(rs.nextPollDelay(), 10 * MIN, 'B is on the device: no extra poll before it opens');

    // The switch happens on the clock alone: the API is unreachable from now on.
    server.goOffline();
    clock.now = t('09:45');
    await assert.rejects(rs.refresh());
    assert.deepEqual(ids(rs.activeRosters()), ['a', 'b']);
    assert.equal(rs.active(t('09:52'))?.sessionId, 'a');
    assert.equal(rs.active(t('10:00'))?.sessionId, 'b');
    assert.deepEqual(ids(rs.activeRosters(t('10:11'))), ['b']);

    const rebooted = sync(server.api, dir, clock);
    assert.deepEqual(ids(rebooted.activeRosters(t('09:50'))), ['a', 'b'], 'both rosters are on disk');
    assert.deepEqual(ids(rebooted.activeRosters(t('10:05'))), ['b', 'a']);
  });

  void test('when the previous class is in its grace and the server names only the next, then the previous roster stays until its grace ends', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-schedule-'));
    dirs.push(dir);
    const clock = { now: t('09:50') };
    const server = scriptedApi(() => clock.now);
    const rs = sync(server.api, dir, clock);
    await rs.refresh();
    clock.now = t('10:01');
    await rs.refresh();
    assert.deepEqual(ids(rs.activeRosters()), ['b', 'a']);
    clock.now = t('10:20');
    await rs.refresh();
    assert.deepEqual(ids(rs.activeRosters()), ['b']);
    assert.deepEqual(
      new RosterStore(dir).load().map((r) => r.sessionId),
      ['b'],
      "A's roster (biometric data) leaves the disk once its grace is over",
    );
  });

  void test('when the next class is hours away, then its roster is not fetched, and the poll wakes just before its early window', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-schedule-'));
    dirs.push(dir);
    const clock = { now: t('07:00') };
    const server = scriptedApi(() => clock.now);
    const rs = sync(server.api, dir, clock);
    await rs.refresh();
    assert.deepEqual(server.calls, ['schedule R1']);
    assert.deepEqual(ids(rs.activeRosters()), []);
    clock.now = t('08:40');
    assert.equal(
      rs.nextPollDelay(),
      t('08:45').getTime() - PREFETCH_LEAD_MS - t('08:40').getTime() + 1000,
      'at 08:43, two minutes before A opens',
    );
  });

  void test('when the cache was written by an older edge (one roster), then it is still loaded', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-schedule-'));
    dirs.push(dir);
    const old = roster('a', '09:00', '10:00', ['S1']);
    fs.writeFileSync(path.join(dir, 'roster.json'), JSON.stringify(old));
    assert.deepEqual(new RosterStore(dir).load(), [old]);
  });
});
