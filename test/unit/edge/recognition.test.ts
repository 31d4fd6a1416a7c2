import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Debouncer } from '../../../edge/debounce';
import { Recognizer } from '../../../edge/recognizer';
import { calibratedRules } from '../../../edge/settings';
import { voteOf, type RecognitionRules } from '../../../edge/tracker';
import { rosterCoversTime, RosterStore, type CachedRoster } from '../../../edge/roster';
import { renderScene } from '../../../edge/sources/classroom';
import { embeddingToBytes } from '../../../lib/crypto/embeddings';
import { createFacePipeline, type FacePipeline } from '../../../models';
import { ensureModels, facePhoto } from '../../support/faces';

const session = { sessionId: 'session:1:2026-01-05', courseId: 'DEMO100' };

void describe('edge debounce', () => {
  void test('when a student is seen again within 30 s, then no second record; after the window, a new record with a new event id', () => {
    const d = new Debouncer(30_000);
    const t0 = new Date('2026-01-05T09:00:00Z');
    const first = d.offer({ studentId: 'S001', confidence: 0.81234567 }, t0, session);
    assert.ok(first);
    assert.match(first.event_id, /^[0-9a-f-]{36}$/);
    assert.equal(first.confidence, 0.8123);
    assert.deepEqual(
      [first.student_id, first.session_id, first.course_id, first.timestamp],
      ['S001', session.sessionId, 'DEMO100', t0.toISOString()],
    );
    for (const s of [1, 10, 29.9])
      assert.equal(
        d.offer({ studentId: 'S001', confidence: 0.9 }, new Date(t0.getTime() + s * 1000), session),
        undefined,
      );
    assert.ok(
      d.offer({ studentId: 'S002', confidence: 0.9 }, new Date(t0.getTime() + 5000), session),
      'another student is independent',
    );
    const again = d.offer({ studentId: 'S001', confidence: 0.9 }, new Date(t0.getTime() + 30_000), session);
    assert.ok(again);
    assert.notEqual(again.event_id, first.event_id);
    assert.equal(d.suppressed, 3);
  });

  void test('when the class changes, then the same student is recorded for the new session at once', () => {
    const d = new Debouncer(30_000);
    const t0 = new Date();
    assert.ok(d.offer({ studentId: 'S001', confidence: 0.9 }, t0, session));
    assert.ok(
      d.offer({ studentId: 'S001', confidence: 0.9 }, new Date(t0.getTime() + 1000), {
        sessionId: 'session:2:2026-01-05',
        courseId: 'CS101',
      }),
    );
  });
});

void describe('edge roster cache', () => {
  void test('when a roster is saved and loaded, then it is the same, private to the device user, and valid only around its class', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-roster-'));
    try {
      const store = new RosterStore(dir);
      assert.deepEqual(store.load(), []);
      const roster: CachedRoster = {
        ...session,
        startsAt: '2026-01-05T09:00:00.000Z',
        endsAt: '2026-01-05T10:00:00.000Z',
        rosterVersion: 3,
        etag: '"abc"',
        modelId: 'faceres',
        dimension: 2,
        students: [
          {
            studentId: 'S001',
            embeddings: [embeddingToBytes(new Float32Array([0.6, 0.8])).toString('base64')],
          },
        ],
        fetchedAt: '2026-01-05T08:50:00.000Z',
      };
      store.save([roster]);
      assert.deepEqual(new RosterStore(dir).load(), [roster]);
      assert.equal(fs.statSync(store.file).mode & 0o777, 0o600);
      assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')).length, 0);
      assert.equal(rosterCoversTime(roster, new Date('2026-01-05T08:46:00Z')), true);
      assert.equal(rosterCoversTime(roster, new Date('2026-01-05T10:09:00Z')), true);
      assert.equal(rosterCoversTime(roster, new Date('2026-01-05T10:11:00Z')), false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('edge recognizer on real photos', () => {
  let pipeline: FacePipeline;
  let roster: CachedRoster;
  let rules: RecognitionRules;
  before(
    async () => {
      const modelDir = ensureModels();
      pipeline = await createFacePipeline({ modelDir, tileGrid: 1 });
      rules = calibratedRules(modelDir, pipeline.embedderName)!;
      const enrolled = await Promise.all(
        ['face_recognition/obama', 'face_recognition/obama2'].map(
          async (id) => (await pipeline.embedFaces(facePhoto(id)))[0]!.embedding,
        ),
      );
      roster = {
        ...session,
        startsAt: new Date().toISOString(),
        endsAt: new Date(Date.now() + 3600_000).toISOString(),
        rosterVersion: 1,
        etag: '"x"',
        modelId: pipeline.embedderName,
        dimension: pipeline.embeddingDim,
        students: [
          { studentId: 'S001', embeddings: enrolled.map((e) => embeddingToBytes(e).toString('base64')) },
        ],
        fetchedAt: new Date().toISOString(),
      };
    },
    { timeout: 120_000 },
  );
  after(async () => pipeline?.dispose());

  void test('when an enrolled student appears in a frame next to a non-enrolled person, then only the student votes under the calibrated rules', async () => {
    const r = new Recognizer(pipeline);
    r.useRoster(roster);
    const frame = await renderScene(
      [facePhoto('face_recognition/obama3'), facePhoto('face_recognition/biden')],
      1280,
      720,
    );
    const result = await r.recognise(frame);
    assert.equal(result.faces, 2);
    const votes = result.observations.map((o) => (o.best ? voteOf(o.best, rules) : undefined));
    assert.deepEqual(votes.filter(Boolean), ['S001']);
    const student = result.observations[votes.indexOf('S001')]!;
    assert.ok(student.best!.score >= rules.threshold);
    assert.ok(student.box.x < 640, 'the student is the face on the left');
    const other = result.observations.find((o) => o !== student)!;
    assert.ok(other.best, 'the non-enrolled face was compared with the roster');
    assert.ok(other.best.score < rules.threshold, `Biden scored ${other.best.score}`);
  });

  void test('when only a non-enrolled person is in view, then the face is compared and does not vote', async () => {
    const r = new Recognizer(pipeline);
    r.useRoster(roster);
    const result = await r.recognise(await renderScene([facePhoto('face_recognition/biden')], 640, 480));
    assert.equal(result.faces, 1);
    assert.equal(result.observations.length, 1);
    assert.equal(voteOf(result.observations[0]!.best!, rules), undefined);
  });

  void test('when the threshold is above the match score, then the enrolled student does not vote either', async () => {
    const r = new Recognizer(pipeline);
    r.useRoster(roster);
    const result = await r.recognise(await renderScene([facePhoto('face_recognition/obama3')], 640, 480));
    assert.equal(voteOf(result.observations[0]!.best!, { ...rules, threshold: 0.99 }), undefined);
  });

  void test('when there is no roster (no class), then faces are found but not compared', async () => {
    const r = new Recognizer(pipeline);
    r.useRoster(undefined);
    const result = await r.recognise(await renderScene([facePhoto('face_recognition/obama3')], 640, 480));
    assert.equal(result.faces, 1);
    assert.deepEqual(
      result.observations.map((o) => o.best),
      [undefined],
    );
  });

  void test('when the roster changes, then the recognizer says so (the tracker starts afresh); the same roster again, not', () => {
    const r = new Recognizer(pipeline);
    assert.equal(r.useRoster(roster), true);
    assert.equal(r.useRoster({ ...roster, fetchedAt: new Date().toISOString() }), false, 'a revalidation');
    assert.equal(r.useRoster({ ...roster, etag: '"y"', rosterVersion: 2 }), true);
    assert.equal(r.useRoster(undefined), true);
  });
});
