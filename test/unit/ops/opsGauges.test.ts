/**
 * The scrape-time gauges of lib/metrics.ts: absent (not 0) without a sample or when a part is missing, the
 * accuracy ratio derived from device marks and overrides, and the detection-latency gauges a heartbeat sets.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { metricsRegistry, recordDetectionLatency, setOpsSampler } from '../../../lib/metrics';

function lines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

void describe('scrape-time gauges', () => {
  afterEach(() => setOpsSampler(undefined));

  void test('when no sampler is registered, then backup, database and WAL gauges are absent rather than 0', async () => {
    const text = await metricsRegistry.metrics();
    for (const name of [
      'rollcall_backup_age_seconds',
      'rollcall_backup_last_success_timestamp_seconds',
      'rollcall_db_connections',
      'rollcall_wal_archive_mode',
      'rollcall_wal_oldest_ready_age_seconds',
      'recognition_accuracy_ratio',
    ]) {
      assert.deepEqual(lines(text, name), [], name);
    }
  });

  void test('when the sampler fails, then the gauges stay absent and the scrape still answers', async () => {
    setOpsSampler(() => Promise.reject(new Error('database down')));
    const text = await metricsRegistry.metrics();
    assert.deepEqual(lines(text, 'rollcall_db_connections'), []);
    assert.match(text, /rollcall_process_/);
  });

  void test('when a sample has marks and overrides, then the accuracy is 1 - overridden / device marks, and a course without device marks has none', async () => {
    setOpsSampler(async () => ({
      recognition: [
        { courseId: 'CS101', deviceId: 'pi-r101', deviceMarks: 40, overridden: 10 },
        { courseId: 'MATH201', deviceId: 'pi-r102', deviceMarks: 0, overridden: 0 },
      ],
      wal: { archiveMode: true, failedCount: 0, readySegments: 0, oldestReadySeconds: 0 },
    }));
    const text = await metricsRegistry.metrics();
    assert.deepEqual(lines(text, 'recognition_accuracy_ratio'), [
      'recognition_accuracy_ratio{course="CS101",device="pi-r101",service="rollcall"} 0.75',
    ]);
    assert.deepEqual(lines(text, 'rollcall_wal_archive_mode'), [
      'rollcall_wal_archive_mode{service="rollcall"} 1',
    ]);
    // Never archived yet: no timestamp series rather than the epoch.
    assert.deepEqual(lines(text, 'rollcall_wal_last_archived_timestamp_seconds'), []);
  });

  void test('when a heartbeat reports detection times, then the device has p50, p95 and max in seconds', async () => {
    recordDetectionLatency('pi-r100', { frames: 480, p50Ms: 42, p95Ms: 95.5, maxMs: 180 });
    const text = await metricsRegistry.metrics();
    assert.deepEqual(lines(text, 'face_detection_latency_seconds'), [
      'face_detection_latency_seconds{device="pi-r100",quantile="0.5",service="rollcall"} 0.042',
      'face_detection_latency_seconds{device="pi-r100",quantile="0.95",service="rollcall"} 0.0955',
      'face_detection_latency_seconds{device="pi-r100",quantile="1",service="rollcall"} 0.18',
    ]);
    assert.deepEqual(lines(text, 'face_detection_frames'), [
      'face_detection_frames{device="pi-r100",service="rollcall"} 480',
    ]);
  });
});
