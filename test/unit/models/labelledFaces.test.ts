import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { config } from '../../../lib/config';
import { createFacePipeline, type FacePipeline } from '../../../models';
import { countOpenSet, openSetFolds, type EmbeddedPhoto } from '../../../models/bench/recognition';
import { splitByIdentity } from '../../../models/bench/stats';
import {
  findLabelledFaces,
  labelledFacesDir,
  loadEvaluationFrame,
} from '../../../models/datasets/labelled-faces';
import { ensureModels, repoRoot } from '../../support/faces';

const lookup = findLabelledFaces(labelledFacesDir(repoRoot, config().ROLLCALL_FACES_DIR));
const skip = lookup.found ? false : lookup.reason;

void describe('labelled evaluation faces', () => {
  void it('when the folder is missing, then the lookup says which folder and how to point at another', () => {
    const empty = mkdtempSync(join(tmpdir(), 'rollcall-faces-'));
    try {
      const missing = findLabelledFaces(empty);
      assert.equal(missing.found, false);
      assert.ok(!missing.found && missing.reason.includes(join(empty, 'celebrities')));
      assert.ok(!missing.found && missing.reason.includes('ROLLCALL_FACES_DIR'));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  void it('when the shared folder is there, then both sets are listed by person', { skip }, () => {
    assert.ok(lookup.found);
    const people = (set: 'celebrities' | 'att'): Map<string, number> => {
      const counts = new Map<string, number>();
      for (const f of lookup.sets[set]) counts.set(f.identity, (counts.get(f.identity) ?? 0) + 1);
      return counts;
    };
    const celebrities = people('celebrities');
    const att = people('att');
    assert.equal(celebrities.size, 16);
    assert.equal(celebrities.get('celebrities/Lindsay_Lohan'), 22);
    assert.ok([...celebrities.values()].every((n) => n >= 22 && n <= 40));
    assert.equal(att.size, 25);
    assert.ok([...att.values()].every((n) => n === 10));
  });

  void it(
    'when a tight crop is loaded, then it sits in the middle of a grey frame twice its size',
    { skip },
    async () => {
      assert.ok(lookup.found);
      const crop = lookup.sets.celebrities[0]!;
      const frame = await loadEvaluationFrame(crop);
      assert.deepEqual([frame.width, frame.height], [224, 224]);
      const pixel = (x: number, y: number): number[] => [
        ...frame.data.subarray((y * 224 + x) * 3, (y * 224 + x) * 3 + 3),
      ];
      assert.deepEqual(pixel(5, 5), [128, 128, 128]);
      assert.deepEqual(pixel(218, 218), [128, 128, 128]);
      assert.notDeepEqual(pixel(112, 112), [128, 128, 128]);
      const grey = await loadEvaluationFrame(lookup.sets.att[0]!);
      assert.deepEqual([grey.width, grey.height], [184, 224]);
    },
  );

  void describe(
    'the shipped faceres operating point on AT&T people it was not calibrated on',
    { skip },
    () => {
      let pipeline: FacePipeline;
      const faces: EmbeddedPhoto[] = [];
      let reportHalf: string[] = [];

      before(
        async () => {
          assert.ok(lookup.found);
          pipeline = await createFacePipeline({ modelDir: ensureModels(), embedder: 'faceres' });
          const att = lookup.sets.att;
          reportHalf = splitByIdentity(
            att.map((f) => f.identity),
            14,
          ).report;
          for (const photo of att.filter((f) => reportHalf.includes(f.identity))) {
            const frame = await loadEvaluationFrame(photo);
            const face = (await pipeline.detectFaces(frame)).find((f) => f.quality.ok);
            if (!face) continue;
            const [embedded] = await pipeline.embedDetected(frame, [face]);
            faces.push({ identity: photo.identity, path: photo.path, embedding: embedded!.embedding });
          }
        },
        { timeout: 120_000 },
      );
      after(async () => pipeline?.dispose());

      void it('when half of them are enrolled with 3 photos, then their other photos are named and the rest are not', () => {
        const decisions = openSetFolds(faces, reportHalf, [], 3, 'max', 14);
        const counts = countOpenSet(decisions, pipeline.recognitionDefaults());
        assert.equal(reportHalf.length, 12);
        assert.ok(counts.hit.rate >= 0.95, JSON.stringify(counts.hit));
        assert.equal(counts.wrongPerson.count, 0);
        assert.ok(counts.strangerAccepted.total >= 100);
        assert.ok(counts.strangerAccepted.count <= 1, JSON.stringify(counts.strangerAccepted));
      });
    },
  );
});
