/** The backup retention rule (lib/backups.ts selectForRetention) and the restore comparison. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareCounts, selectForRetention } from '../../../lib/backups';

const at = (iso: string, id: number) => ({ id, snapshotAt: new Date(iso) });

void describe('backup retention', () => {
  void test('when there are several backups a day for weeks, then only the newest of each of the last N days is kept daily', () => {
    const backups = [];
    let id = 0;
    for (let day = 1; day <= 20; day++) {
      for (const hour of ['02', '14'])
        backups.push(at(`2026-03-${String(day).padStart(2, '0')}T${hour}:30:00Z`, ++id));
    }
    const { keep, prune } = selectForRetention(backups, 7, 0);
    assert.equal(keep.length, 7);
    assert.deepEqual(keep, [40, 38, 36, 34, 32, 30, 28], 'the 14:30 backup of each of the last 7 days');
    assert.equal(prune.length, 33);
  });

  void test('when backups span a year and a half, then monthly keeps the newest of each of the last M months on top of the daily ones', () => {
    const backups = [];
    let id = 0;
    for (let m = 0; m < 18; m++) {
      const month = new Date(Date.UTC(2025, m, 1));
      for (const d of [3, 17])
        backups.push(at(new Date(month.getTime() + (d - 1) * 86_400_000 + 7_200_000).toISOString(), ++id));
    }
    const { keep } = selectForRetention(backups, 2, 12);
    // Daily: the two newest days (ids 36, 35); monthly: the 17th of each of the last 12 months.
    assert.deepEqual(keep, [36, 35, 34, 32, 30, 28, 26, 24, 22, 20, 18, 16, 14]);
  });

  void test('when nothing exceeds the policy, then nothing is pruned', () => {
    const { prune } = selectForRetention(
      [at('2026-01-01T00:00:00Z', 1), at('2026-01-02T00:00:00Z', 2)],
      30,
      12,
    );
    assert.deepEqual(prune, []);
  });

  void test('when a restore differs from the dump, then each difference is named', () => {
    assert.deepEqual(compareCounts({ 'public.a': 3, 'public.b': 1 }, { 'public.a': 3, 'public.b': 1 }), []);
    assert.deepEqual(compareCounts({ 'public.a': 3, 'public.b': 1 }, { 'public.a': 2, 'public.c': 0 }), [
      'public.a: 2 rows restored, 3 dumped',
      'public.b: missing in the restore',
      'public.c: not in the dump',
    ]);
  });
});
