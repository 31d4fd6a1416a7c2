/**
 * The relay's memory of what it delivered (workers/deliveredSightings.ts): a later or equal sighting of a
 * delivered student is covered, an earlier one, another student or another session is not, and the memory
 * stays within its bound, least recently used first.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeliveredSightings } from '../../../workers/deliveredSightings';

void describe('DeliveredSightings', () => {
  void test('when a sighting was delivered, then later and equal sightings of that student in that session are covered and nothing else is', () => {
    const d = new DeliveredSightings();
    d.delivered('s1', [{ studentId: 'A', seenAtMs: 1_000 }]);
    assert.equal(d.covers('s1', 'A', 1_000), true);
    assert.equal(d.covers('s1', 'A', 5_000), true);
    assert.equal(d.covers('s1', 'A', 999), false, 'an earlier sighting may make the mark earlier');
    assert.equal(d.covers('s1', 'B', 5_000), false);
    assert.equal(d.covers('s2', 'A', 5_000), false);
  });

  void test('when an earlier sighting is delivered after a later one, then the earliest is what covers', () => {
    const d = new DeliveredSightings();
    d.delivered('s1', [{ studentId: 'A', seenAtMs: 5_000 }]);
    d.delivered('s1', [
      { studentId: 'A', seenAtMs: 2_000 },
      { studentId: 'A', seenAtMs: 9_000 },
    ]);
    assert.equal(d.covers('s1', 'A', 2_000), true);
    assert.equal(d.covers('s1', 'A', 1_999), false);
  });

  void test('when a session is forgotten or the bound is passed, then its sightings are delivered again', () => {
    const d = new DeliveredSightings(2);
    d.delivered('s1', [{ studentId: 'A', seenAtMs: 1 }]);
    d.delivered('s2', [{ studentId: 'A', seenAtMs: 1 }]);
    d.delivered('s1', [{ studentId: 'B', seenAtMs: 1 }]); // s1 used most recently
    d.delivered('s3', [{ studentId: 'A', seenAtMs: 1 }]); // evicts s2
    assert.equal(d.covers('s1', 'A', 1), true);
    assert.equal(d.covers('s2', 'A', 1), false);
    assert.equal(d.covers('s3', 'A', 1), true);
    d.forget('s1');
    assert.equal(d.covers('s1', 'A', 1), false);
  });
});
