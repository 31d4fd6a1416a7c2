import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CALIBRATION_FILE,
  CalibrationError,
  parseCalibration,
  readCalibrationFile,
  recognitionDefaults,
  type CalibrationFile,
  type EmbedderCalibration,
} from '../../../models/calibration';
import { readModelManifest, type ModelManifest } from '../../../models/manifest';
import { EMBEDDER_SPECS } from '../../../models/pipeline/embedders';
import { setupModels } from '../../../models/setup/setup-models';
import { ensureModels, repoRoot } from '../../support/faces';

function point(threshold: number, minMargin: number, votes: number): EmbedderCalibration {
  return {
    threshold,
    minMargin,
    votes,
    detector: 'blazeface',
    template: 'max',
    measuredAt: '2026-01-01',
    data: 'test',
    split: { seed: 1 },
    targets: { pairFar: 0.001 },
    figures: {},
  };
}

const CALIBRATION: CalibrationFile = {
  formatVersion: 1,
  generatedBy: 'calibration.test.ts',
  embedders: { faceres: point(0.512, 0.03, 2), mobileface: point(0.47, 0, 1) },
};

void describe('calibrated recognition defaults', () => {
  let scratch: string;

  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'rollcall-calibration-'));
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  void it('when the setup step runs with a calibration file, then the manifest carries each embedder’s operating point', () => {
    // A model folder of hard links to the real models, so the setup step only re-hashes them.
    const realModels = ensureModels();
    const modelDir = join(scratch, 'onnx');
    const cacheDir = join(scratch, 'cache');
    mkdirSync(modelDir);
    for (const file of readdirSync(realModels).filter((f) => f.endsWith('.onnx')))
      linkSync(join(realModels, file), join(modelDir, file));
    const calibrationPath = join(scratch, 'calibration.json');
    writeFileSync(calibrationPath, JSON.stringify(CALIBRATION));

    const { built } = setupModels({ repoRoot, modelDir, cacheDir, log: () => undefined, calibrationPath });

    assert.deepEqual(built, []);
    assert.deepEqual(recognitionDefaults(modelDir, 'faceres'), {
      threshold: 0.512,
      minMargin: 0.03,
      votes: 2,
    });
    assert.deepEqual(recognitionDefaults(modelDir, 'mobileface'), {
      threshold: 0.47,
      minMargin: 0,
      votes: 1,
    });
    assert.deepEqual(readModelManifest(modelDir).recognition?.faceres, CALIBRATION.embedders.faceres);
  });

  void it('when an embedder was never calibrated, then asking for its defaults fails and says how to calibrate', () => {
    const manifest: ModelManifest = { formatVersion: 1, models: [], recognition: CALIBRATION.embedders };
    assert.throws(
      () => recognitionDefaults(manifest, 'faceplugin'),
      (error: unknown) =>
        error instanceof CalibrationError &&
        error.message.includes('faceplugin') &&
        error.message.includes('--write-calibration'),
    );
    assert.throws(() => recognitionDefaults({ formatVersion: 1, models: [] }, 'faceres'), CalibrationError);
  });

  void it('when a calibration file has an impossible value, then reading it fails naming the field', () => {
    const bad = { ...CALIBRATION, embedders: { faceres: { ...point(0.5, 0, 1), votes: 0 } } };
    assert.throws(
      () => parseCalibration(JSON.stringify(bad), 'bad.json'),
      (error: unknown) =>
        error instanceof CalibrationError && /embedders\.faceres\.votes/.test(error.message),
    );
    const tooHigh = { ...CALIBRATION, embedders: { faceres: point(1.5, 0, 1) } };
    assert.throws(() => parseCalibration(JSON.stringify(tooHigh), 'bad.json'), CalibrationError);
  });

  void it('when the committed calibration is read, then it is valid, names real embedders and covers the default one', () => {
    const committed = readCalibrationFile(join(repoRoot, CALIBRATION_FILE));
    const names = Object.keys(committed.embedders);
    assert.ok(names.includes('faceres'), 'the default embedder must have a shipped operating point');
    for (const name of names) {
      assert.ok(Object.hasOwn(EMBEDDER_SPECS, name), `${name} is not an embedder`);
      const { threshold, votes } = committed.embedders[name] as EmbedderCalibration;
      assert.ok(threshold > 0 && threshold < 1 && votes >= 1, `${name}: ${threshold}, ${votes}`);
    }
    // The setup step copies it verbatim.
    const manifest = JSON.parse(readFileSync(join(ensureModels(), 'manifest.json'), 'utf8')) as ModelManifest;
    assert.deepEqual(manifest.recognition, committed.embedders);
  });
});
