/**
 * Builds dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1, "loss_metric" net,
 * 150×150 RGB chip → 128-d descriptor) as an ONNX graph from its float32 weights.
 *
 * The weights come as one flat little-endian float32 array (face-api.js@0.10.0,
 * weights_uncompressed/face_recognition_model.weights). Facts used here, read from that package's
 * source and checked against dlib's network definition (dnn_face_recognition_ex.cpp):
 * - every convolution is stored as filters [out, in, kh, kw] (ONNX's OIHW), then its bias [out],
 *   then dlib's `affine` layer (batch norm frozen to scale and shift) as scale [out] and shift [out];
 * - a residual block is conv-affine-relu, conv-affine, + input, relu; a downsampling block strides
 *   its first conv by 2 without padding and adds the input average-pooled 2×2/2, zero-padded in
 *   channels (dlib's add_prev adds tensors of different shapes as if the smaller were zero-padded
 *   at the end, which also covers the conv branch being one row/column smaller than the pooled one);
 * - dlib pads a strided conv or pool by 0 and a stride-1 3×3 conv by 1;
 * - the final fc (no bias) is stored [128, 256], i.e. already transposed for Gemm's transB.
 *
 * Layout NCHW, dynamic batch. The input is 0..255 RGB; the graph subtracts dlib's channel means
 * and divides by 256 itself, so callers feed raw chip pixels.
 */
import { encodeOnnxModel, OnnxDataType, type OnnxAttributeValue, type OnnxGraph } from './onnx-model';

export const DLIB_CHIP_SIZE = 150;
export const DLIB_DESCRIPTOR_DIM = 128;
export const DLIB_INPUT_NAME = 'chip';
export const DLIB_OUTPUT_NAME = 'descriptor';
/** dlib's input_rgb_image_sized<150>: per-channel means (R, G, B), then a division by 256. */
export const DLIB_CHANNEL_MEANS = [122.782, 117.001, 104.298] as const;
/** Number of float32 values in the weights file: any other size is a different network. */
export const DLIB_WEIGHT_COUNT = 5_614_592;

const OPSET = 13;
const BATCH_DIM = 'batch';

export class DlibWeightsError extends Error {
  override readonly name = 'DlibWeightsError';
}

interface ResidualBlock {
  name: string;
  channels: number;
  down: boolean;
}

/** dlib's alevel4 … alevel0, in forward order. */
const RESIDUAL_BLOCKS: readonly ResidualBlock[] = [
  { name: 'conv32_1', channels: 32, down: false },
  { name: 'conv32_2', channels: 32, down: false },
  { name: 'conv32_3', channels: 32, down: false },
  { name: 'conv64_down', channels: 64, down: true },
  { name: 'conv64_1', channels: 64, down: false },
  { name: 'conv64_2', channels: 64, down: false },
  { name: 'conv64_3', channels: 64, down: false },
  { name: 'conv128_down', channels: 128, down: true },
  { name: 'conv128_1', channels: 128, down: false },
  { name: 'conv128_2', channels: 128, down: false },
  { name: 'conv256_down', channels: 256, down: true },
  { name: 'conv256_1', channels: 256, down: false },
  { name: 'conv256_2', channels: 256, down: false },
  { name: 'conv256_down_out', channels: 256, down: true },
];

/** Reads the flat weights in file order and fails unless every value is used exactly once. */
class WeightReader {
  private offset = 0;
  constructor(private readonly values: Float32Array) {
    if (values.length !== DLIB_WEIGHT_COUNT)
      throw new DlibWeightsError(`expected ${DLIB_WEIGHT_COUNT} float32 weights, got ${values.length}`);
  }

  take(count: number): Float32Array {
    if (this.offset + count > this.values.length)
      throw new DlibWeightsError(`weights end early at ${this.offset} (+${count})`);
    const out = this.values.subarray(this.offset, this.offset + count);
    this.offset += count;
    return out;
  }

  assertConsumed(): void {
    if (this.offset !== this.values.length)
      throw new DlibWeightsError(`${this.values.length - this.offset} weights left over`);
  }
}

function floatRaw(values: Float32Array): Uint8Array {
  const copy = Float32Array.from(values);
  return new Uint8Array(copy.buffer);
}

function int64Raw(values: readonly number[]): Uint8Array {
  return new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
}

class DlibGraphBuilder {
  readonly graph: OnnxGraph = { name: 'dlib-resnet', nodes: [], initializers: [], inputs: [], outputs: [] };

  constructor(private readonly weights: WeightReader) {}

  node(
    opType: string,
    name: string,
    inputs: string[],
    attributes?: Record<string, OnnxAttributeValue>,
  ): string {
    this.graph.nodes.push({ opType, name, inputs, outputs: [name], ...(attributes ? { attributes } : {}) });
    return name;
  }

  floatInitializer(name: string, dims: number[], values: Float32Array): string {
    this.graph.initializers.push({ name, dataType: OnnxDataType.FLOAT, dims, raw: floatRaw(values) });
    return name;
  }

  int64Initializer(name: string, values: number[]): string {
    this.graph.initializers.push({
      name,
      dataType: OnnxDataType.INT64,
      dims: [values.length],
      raw: int64Raw(values),
    });
    return name;
  }

  /**
   * Conv followed by dlib's affine layer, folded into one Conv: scale·(W∗x + b) + shift
   * = (scale·W)∗x + (scale·b + shift). Folded in float64, rounded once to float32.
   */
  convAffine(name: string, x: string, cin: number, cout: number, k: number, stride: number): string {
    const filters = this.weights.take(cout * cin * k * k);
    const bias = this.weights.take(cout);
    const scale = this.weights.take(cout);
    const shift = this.weights.take(cout);
    const w = new Float32Array(filters.length);
    const b = new Float32Array(cout);
    const perOut = cin * k * k;
    for (let o = 0; o < cout; o++) {
      const s = scale[o] ?? 0;
      for (let i = 0; i < perOut; i++) w[o * perOut + i] = s * (filters[o * perOut + i] ?? 0);
      b[o] = s * (bias[o] ?? 0) + (shift[o] ?? 0);
    }
    const pad = stride === 1 ? Math.floor(k / 2) : 0;
    return this.node(
      'Conv',
      name,
      [
        x,
        this.floatInitializer(`${name}/W`, [cout, cin, k, k], w),
        this.floatInitializer(`${name}/B`, [cout], b),
      ],
      {
        kernel_shape: { kind: 'ints', value: [k, k] },
        strides: { kind: 'ints', value: [stride, stride] },
        pads: { kind: 'ints', value: [pad, pad, pad, pad] },
      },
    );
  }

  /** Zero padding at the end of the channel (c) and spatial (hw) axes of an NCHW tensor. */
  padEnd(name: string, x: string, c: number, hw: number): string {
    const pads = this.int64Initializer(`${name}/pads`, [0, 0, 0, 0, 0, c, hw, hw]);
    return this.node('Pad', name, [x, pads], { mode: { kind: 'string', value: 'constant' } });
  }
}

function convOutSize(size: number, k: number, stride: number): number {
  const pad = stride === 1 ? Math.floor(k / 2) : 0;
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

export interface DlibOnnxOptions {
  /** Recorded in the model's metadata so the file can be traced to its source. */
  source: string;
}

export function buildDlibResnetOnnx(weights: Float32Array, options: DlibOnnxOptions): Uint8Array {
  const reader = new WeightReader(weights);
  const b = new DlibGraphBuilder(reader);
  const { graph } = b;
  graph.inputs.push({
    name: DLIB_INPUT_NAME,
    elemType: OnnxDataType.FLOAT,
    shape: [BATCH_DIM, 3, DLIB_CHIP_SIZE, DLIB_CHIP_SIZE],
  });

  const means = b.floatInitializer('input/means', [1, 3, 1, 1], Float32Array.from(DLIB_CHANNEL_MEANS));
  const inv256 = b.floatInitializer('input/scale', [], Float32Array.of(1 / 256));
  let x = b.node('Mul', 'input/normalised', [
    b.node('Sub', 'input/centred', [DLIB_INPUT_NAME, means]),
    inv256,
  ]);

  x = b.node('Relu', 'conv32_down/relu', [b.convAffine('conv32_down/conv', x, 3, 32, 7, 2)]);
  let size = convOutSize(DLIB_CHIP_SIZE, 7, 2);
  x = b.node('MaxPool', 'maxpool', [x], {
    kernel_shape: { kind: 'ints', value: [3, 3] },
    strides: { kind: 'ints', value: [2, 2] },
  });
  size = Math.floor((size - 3) / 2) + 1;
  let channels = 32;

  for (const block of RESIDUAL_BLOCKS) {
    const stride = block.down ? 2 : 1;
    const conv1 = b.convAffine(`${block.name}/conv1`, x, channels, block.channels, 3, stride);
    const relu1 = b.node('Relu', `${block.name}/relu1`, [conv1]);
    let branch = b.convAffine(`${block.name}/conv2`, relu1, block.channels, block.channels, 3, 1);
    let shortcut = x;
    if (block.down) {
      const branchSize = convOutSize(size, 3, 2);
      const pooledSize = Math.floor((size - 2) / 2) + 1;
      shortcut = b.node('AveragePool', `${block.name}/avgpool`, [x], {
        kernel_shape: { kind: 'ints', value: [2, 2] },
        strides: { kind: 'ints', value: [2, 2] },
      });
      if (block.channels > channels)
        shortcut = b.padEnd(`${block.name}/pad_channels`, shortcut, block.channels - channels, 0);
      if (pooledSize > branchSize)
        branch = b.padEnd(`${block.name}/pad_spatial`, branch, 0, pooledSize - branchSize);
      size = pooledSize;
    }
    x = b.node('Relu', `${block.name}/relu2`, [b.node('Add', `${block.name}/add`, [branch, shortcut])]);
    channels = block.channels;
  }

  const pooled = b.node('ReduceMean', 'global_avg', [x], {
    axes: { kind: 'ints', value: [2, 3] },
    keepdims: { kind: 'int', value: 0 },
  });
  const fc = b.floatInitializer(
    'fc/W',
    [DLIB_DESCRIPTOR_DIM, channels],
    reader.take(DLIB_DESCRIPTOR_DIM * channels),
  );
  graph.nodes.push({
    opType: 'Gemm',
    name: 'fc',
    inputs: [pooled, fc],
    outputs: [DLIB_OUTPUT_NAME],
    attributes: { transB: { kind: 'int', value: 1 } },
  });
  reader.assertConsumed();
  graph.outputs.push({
    name: DLIB_OUTPUT_NAME,
    elemType: OnnxDataType.FLOAT,
    shape: [BATCH_DIM, DLIB_DESCRIPTOR_DIM],
  });

  return encodeOnnxModel(graph, {
    opsetVersion: OPSET,
    producerName: 'rollcall-dlib-resnet',
    producerVersion: '1',
    docString: `dlib face recognition ResNet v1 (150x150 RGB chip -> 128-d descriptor), built from ${options.source}`,
    metadata: { source: options.source },
  });
}

/** The weights file as float32 values (little-endian on disk, copied so the buffer is aligned). */
export function dlibWeightsFromBytes(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new DlibWeightsError('weights file size is not a multiple of 4');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}
