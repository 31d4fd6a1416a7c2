import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { alignFace } from '../../../models/pipeline/align';
import { createFacePipeline } from '../../../models';
import { decodeImage } from '../../../models/pipeline/image';
import { NETWORK_SPECS, type NetworkName } from '../../../models/pipeline/embedders';
import { loadTfjsGraph } from '../../../models/convert/tfjs-graph';
import { convertTfjsGraphToOnnx, UnsupportedTfjsOpError } from '../../../models/convert/tfjs-to-onnx';
import { ensureModels, facePhoto, repoRoot } from '../../support/faces';

const HUMAN_MODELS = join(repoRoot, 'node_modules', '@vladmandic', 'human-models', 'models');

async function loadTfjsReference(name: string): Promise<tf.GraphModel> {
  const json = JSON.parse(readFileSync(join(HUMAN_MODELS, `${name}.json`), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[];
  };
  const bin = readFileSync(join(HUMAN_MODELS, `${name}.bin`));
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  return tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0]?.weights ?? [],
      weightData,
    }),
  );
}

void describe('TFJS graph → ONNX converter', () => {
  let modelDir = '';
  const crops = new Map<NetworkName, Float32Array>();

  before(async () => {
    modelDir = ensureModels();
    await tf.setBackend('cpu');
    // A real face crop, aligned exactly as the pipeline feeds the embedders.
    const pipeline = await createFacePipeline({ modelDir });
    const image = await decodeImage(facePhoto('face_recognition/obama'));
    const [face] = await pipeline.detectFaces(image);
    await pipeline.dispose();
    assert.ok(face, 'the test portrait has a face');
    for (const name of ['mobileface', 'faceres'] as const) {
      const spec = NETWORK_SPECS[name];
      crops.set(name, Float32Array.from(alignFace(image, face.landmarks, spec.crop).pixels, spec.normalise));
    }
  });

  for (const [name, file] of [
    ['mobileface', 'mobileface.onnx'],
    ['faceres', 'faceres.onnx'],
  ] as const) {
    void it(`when ${name} runs on a real face crop, then ONNX output equals TFJS output within 1e-4 relative`, async () => {
      const spec = NETWORK_SPECS[name];
      const input = crops.get(name) as Float32Array;
      const shape = [1, spec.crop.size, spec.crop.size, 3];
      const reference = await loadTfjsReference(name);
      const expected = (reference.execute(tf.tensor(input, shape), spec.outputName) as tf.Tensor).dataSync();
      const session = await ort.InferenceSession.create(join(modelDir, file));
      const actual = (await session.run({ [spec.inputName]: new ort.Tensor('float32', input, shape) }))[
        spec.outputName
      ]?.data as Float32Array;
      await session.release();
      assert.equal(actual.length, expected.length);
      let maxDiff = 0;
      let maxAbs = 0;
      for (let i = 0; i < actual.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs((actual[i] ?? 0) - (expected[i] ?? 0)));
        maxAbs = Math.max(maxAbs, Math.abs(expected[i] ?? 0));
      }
      assert.ok(maxAbs > 0, 'reference output is not all zeros');
      assert.ok(maxDiff <= 1e-4 * Math.max(1, maxAbs), `max abs diff ${maxDiff} (output scale ${maxAbs})`);
    });
  }

  void it('when a graph uses an op the converter does not know, then it fails with a typed error', () => {
    const graph = loadTfjsGraph(join(HUMAN_MODELS, 'mobileface.json'));
    graph.nodes.push({ name: 'mystery', op: 'FancyNewOp', input: ['data'], attr: {} });
    assert.throws(
      () => convertTfjsGraphToOnnx(graph, { graphName: 'x', source: 'test' }),
      UnsupportedTfjsOpError,
    );
  });
});
