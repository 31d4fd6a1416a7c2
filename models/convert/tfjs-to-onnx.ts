/**
 * Converts a TensorFlow.js graph model to ONNX, op by op.
 *
 * Activations stay NHWC as in TensorFlow; only convolutions need NCHW in ONNX, so each one is
 * wrapped in a pair of Transposes. onnxruntime's layout optimiser removes most of those pairs,
 * and every other op (Pad, Mul, Add, Reshape, MatMul, ReduceMean) keeps TF semantics unchanged.
 * Unsupported ops fail loudly rather than producing a silently wrong model.
 */
import {
  encodeOnnxModel,
  OnnxDataType,
  type OnnxAttributeValue,
  type OnnxGraph,
  type OnnxNode,
} from './onnx-model';
import type { TfjsAttrValue, TfjsGraph, TfjsNode, TfjsWeight } from './tfjs-graph';

export class UnsupportedTfjsOpError extends Error {
  override readonly name = 'UnsupportedTfjsOpError';
}

export interface ConvertOptions {
  graphName: string;
  /** Recorded in the model's metadata so a converted file can be traced to its source. */
  source: string;
  /** Restrict the ONNX outputs to these TF tensor names (default: the model signature's outputs). */
  outputs?: readonly string[];
}

const OPSET = 13;
const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];
const BATCH_DIM = 'batch';

const ELEMENTWISE_BINARY: Readonly<Record<string, string>> = {
  Add: 'Add',
  AddV2: 'Add',
  BiasAdd: 'Add',
  Sub: 'Sub',
  Mul: 'Mul',
  RealDiv: 'Div',
  Maximum: 'Max',
  Minimum: 'Min',
};

const ELEMENTWISE_UNARY: Readonly<Record<string, string>> = {
  Identity: 'Identity',
  Relu: 'Relu',
  Sigmoid: 'Sigmoid',
  Tanh: 'Tanh',
};

function attrString(attr: TfjsAttrValue | undefined): string | undefined {
  return attr?.s === undefined ? undefined : Buffer.from(attr.s, 'base64').toString('utf8');
}

function attrInts(attr: TfjsAttrValue | undefined, fallback: number[]): number[] {
  return attr?.list?.i ? attr.list.i.map(Number) : fallback;
}

function attrStrings(attr: TfjsAttrValue | undefined): string[] {
  return (attr?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
}

function tensorRef(input: string): string {
  if (input.startsWith('^')) throw new UnsupportedTfjsOpError(`control dependency ${input} is not supported`);
  const [name, port] = input.split(':');
  if (port !== undefined && port !== '0') throw new UnsupportedTfjsOpError(`multi-output tensor ${input}`);
  return name ?? input;
}

function rawOf(values: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** HWIO → OIHW for Conv2D; HWCM → (C·M)1HW for depthwise, where ONNX uses group = C. */
function transposeFilter(w: TfjsWeight, depthwise: boolean): { dims: number[]; values: Float32Array } {
  const [kh = 0, kw = 0, cin = 0, cm = 0] = w.shape;
  const src = w.values;
  const out = new Float32Array(src.length);
  const dims = depthwise ? [cin * cm, 1, kh, kw] : [cm, cin, kh, kw];
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        for (let o = 0; o < cm; o++) {
          const from = ((y * kw + x) * cin + i) * cm + o;
          const to = depthwise ? ((i * cm + o) * kh + y) * kw + x : ((o * cin + i) * kh + y) * kw + x;
          out[to] = src[from] ?? 0;
        }
      }
    }
  }
  return { dims, values: out };
}

class GraphBuilder {
  readonly graph: OnnxGraph;
  private readonly emittedInitializers = new Set<string>();
  private readonly constNames: Set<string>;

  constructor(
    private readonly tf: TfjsGraph,
    name: string,
  ) {
    this.graph = { name, nodes: [], initializers: [], inputs: [], outputs: [] };
    this.constNames = new Set(tf.nodes.filter((n) => n.op === 'Const').map((n) => n.name));
  }

  weight(name: string): TfjsWeight {
    const w = this.tf.weights.get(name);
    if (!w) throw new UnsupportedTfjsOpError(`constant ${name} has no weight data`);
    return w;
  }

  /** Returns the ONNX tensor name for a TF input, emitting a float initializer for constants. */
  value(input: string): string {
    const name = tensorRef(input);
    if (this.constNames.has(name) && !this.emittedInitializers.has(name)) {
      const w = this.weight(name);
      const values = w.values instanceof Float32Array ? w.values : Float32Array.from(w.values);
      this.addFloatInitializer(name, w.shape, values);
    }
    return name;
  }

  intParam(input: string): number[] {
    return Array.from(this.weight(tensorRef(input)).values);
  }

  addFloatInitializer(name: string, dims: readonly number[], values: Float32Array): string {
    this.emittedInitializers.add(name);
    this.graph.initializers.push({ name, dataType: OnnxDataType.FLOAT, dims, raw: rawOf(values) });
    return name;
  }

  addInt64Initializer(name: string, values: readonly number[]): string {
    this.emittedInitializers.add(name);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.graph.initializers.push({
      name,
      dataType: OnnxDataType.INT64,
      dims: [values.length],
      raw: rawOf(data),
    });
    return name;
  }

  node(
    opType: string,
    name: string,
    inputs: string[],
    outputs: string[],
    attributes?: Record<string, OnnxAttributeValue>,
  ): void {
    const node: OnnxNode = { opType, name, inputs, outputs, ...(attributes ? { attributes } : {}) };
    this.graph.nodes.push(node);
  }
}

function convertConvolution(b: GraphBuilder, n: TfjsNode, depthwise: boolean): void {
  const dataFormat = attrString(n.attr.data_format) ?? 'NHWC';
  if (dataFormat !== 'NHWC') throw new UnsupportedTfjsOpError(`${n.name}: data_format ${dataFormat}`);
  const [input, filterName, ...extra] = n.input;
  if (input === undefined || filterName === undefined)
    throw new UnsupportedTfjsOpError(`${n.name}: missing inputs`);
  const tfFilter = b.weight(tensorRef(filterName));
  const filter = transposeFilter(tfFilter, depthwise);
  const weightName = b.addFloatInitializer(`${n.name}/filter_oihw`, filter.dims, filter.values);
  const strides = attrInts(n.attr.strides, [1, 1, 1, 1]);
  const dilations = attrInts(n.attr.dilations, [1, 1, 1, 1]);
  const padding = attrString(n.attr.padding) ?? 'VALID';
  const attributes: Record<string, OnnxAttributeValue> = {
    strides: { kind: 'ints', value: [strides[1] ?? 1, strides[2] ?? 1] },
    dilations: { kind: 'ints', value: [dilations[1] ?? 1, dilations[2] ?? 1] },
    group: { kind: 'int', value: depthwise ? (tfFilter.shape[2] ?? 1) : 1 },
  };
  // TF 'SAME' puts the odd padding pixel at the end, exactly like ONNX SAME_UPPER.
  if (padding === 'SAME') attributes.auto_pad = { kind: 'string', value: 'SAME_UPPER' };
  else if (padding === 'VALID') attributes.pads = { kind: 'ints', value: [0, 0, 0, 0] };
  else throw new UnsupportedTfjsOpError(`${n.name}: padding ${padding}`);

  const convInputs = [`${n.name}/nchw_in`, weightName];
  const fusedOps = n.op === '_FusedConv2D' ? attrStrings(n.attr.fused_ops) : [];
  if (fusedOps[0] === 'BiasAdd') {
    const biasName = extra[0];
    if (biasName === undefined) throw new UnsupportedTfjsOpError(`${n.name}: BiasAdd without bias`);
    convInputs.push(b.value(biasName));
  } else if (fusedOps.length > 0) {
    throw new UnsupportedTfjsOpError(`${n.name}: fused ops ${fusedOps.join(',')}`);
  }
  b.node('Transpose', `${n.name}/to_nchw`, [b.value(input)], [`${n.name}/nchw_in`], {
    perm: { kind: 'ints', value: TO_NCHW },
  });
  b.node('Conv', `${n.name}/conv`, convInputs, [`${n.name}/nchw_out`], attributes);
  const activation = fusedOps[1];
  const transposedOut = activation ? `${n.name}/pre_activation` : n.name;
  b.node('Transpose', `${n.name}/to_nhwc`, [`${n.name}/nchw_out`], [transposedOut], {
    perm: { kind: 'ints', value: TO_NHWC },
  });
  if (activation) convertActivation(b, n.name, activation, transposedOut, n.name);
}

function convertActivation(
  b: GraphBuilder,
  owner: string,
  activation: string,
  input: string,
  output: string,
): void {
  if (activation === 'Relu') {
    b.node('Relu', `${owner}/relu`, [input], [output]);
  } else if (activation === 'Relu6') {
    const lo = b.addFloatInitializer(`${owner}/relu6_min`, [], Float32Array.of(0));
    const hi = b.addFloatInitializer(`${owner}/relu6_max`, [], Float32Array.of(6));
    b.node('Clip', `${owner}/relu6`, [input, lo, hi], [output]);
  } else {
    throw new UnsupportedTfjsOpError(`${owner}: fused activation ${activation}`);
  }
}

function convertMatMul(b: GraphBuilder, n: TfjsNode): void {
  if (n.attr.transpose_a?.b || n.attr.transpose_b?.b)
    throw new UnsupportedTfjsOpError(`${n.name}: transposed MatMul`);
  const [a, w, bias] = n.input;
  if (a === undefined || w === undefined) throw new UnsupportedTfjsOpError(`${n.name}: missing inputs`);
  const fusedOps = n.op === '_FusedMatMul' ? attrStrings(n.attr.fused_ops) : [];
  if (fusedOps.length === 0) {
    b.node('MatMul', n.name, [b.value(a), b.value(w)], [n.name]);
    return;
  }
  if (fusedOps[0] !== 'BiasAdd' || bias === undefined) {
    throw new UnsupportedTfjsOpError(`${n.name}: fused ops ${fusedOps.join(',')}`);
  }
  const activation = fusedOps[1];
  const biasOut = activation ? `${n.name}/biased` : n.name;
  b.node('Gemm', `${n.name}/gemm`, [b.value(a), b.value(w), b.value(bias)], [biasOut]);
  if (activation) convertActivation(b, n.name, activation, biasOut, n.name);
}

function convertNode(b: GraphBuilder, n: TfjsNode): void {
  const binary = ELEMENTWISE_BINARY[n.op];
  const unary = ELEMENTWISE_UNARY[n.op];
  if (binary) {
    const [x, y] = n.input;
    if (x === undefined || y === undefined) throw new UnsupportedTfjsOpError(`${n.name}: missing inputs`);
    b.node(binary, n.name, [b.value(x), b.value(y)], [n.name]);
    return;
  }
  if (unary) {
    b.node(unary, n.name, [b.value(n.input[0] ?? '')], [n.name]);
    return;
  }
  const [first = '', second = ''] = n.input;
  switch (n.op) {
    case 'Const':
      return;
    case 'Placeholder': {
      const dims = (n.attr.shape?.shape?.dim ?? []).map((d) =>
        Number(d.size) < 0 ? BATCH_DIM : Number(d.size),
      );
      b.graph.inputs.push({ name: n.name, elemType: OnnxDataType.FLOAT, shape: dims });
      return;
    }
    case 'Conv2D':
    case '_FusedConv2D':
      convertConvolution(b, n, false);
      return;
    case 'DepthwiseConv2dNative':
      convertConvolution(b, n, true);
      return;
    case 'Relu6':
      convertActivation(b, n.name, 'Relu6', b.value(first), n.name);
      return;
    case 'Softmax':
      b.node('Softmax', n.name, [b.value(first)], [n.name], { axis: { kind: 'int', value: -1 } });
      return;
    case 'Pad': {
      const paddings = b.intParam(second);
      const begins = paddings.filter((_, i) => i % 2 === 0);
      const ends = paddings.filter((_, i) => i % 2 === 1);
      const pads = b.addInt64Initializer(`${n.name}/pads`, [...begins, ...ends]);
      b.node('Pad', n.name, [b.value(first), pads], [n.name], {
        mode: { kind: 'string', value: 'constant' },
      });
      return;
    }
    case 'Reshape': {
      const shape = b.addInt64Initializer(`${n.name}/shape`, b.intParam(second));
      b.node('Reshape', n.name, [b.value(first), shape], [n.name]);
      return;
    }
    case 'Mean': {
      const keepDims = n.attr.keep_dims?.b === true;
      b.node('ReduceMean', n.name, [b.value(first)], [n.name], {
        axes: { kind: 'ints', value: b.intParam(second) },
        keepdims: { kind: 'int', value: keepDims ? 1 : 0 },
      });
      return;
    }
    case 'MatMul':
    case '_FusedMatMul':
      convertMatMul(b, n);
      return;
    default:
      throw new UnsupportedTfjsOpError(`${n.name}: op ${n.op} is not supported by the converter`);
  }
}

export function convertTfjsGraphToOnnx(tf: TfjsGraph, options: ConvertOptions): Uint8Array {
  const b = new GraphBuilder(tf, options.graphName);
  for (const node of tf.nodes) convertNode(b, node);
  const outputNames = options.outputs ?? tf.outputs.map((o) => o.name);
  for (const name of outputNames) {
    const signature = tf.outputs.find((o) => o.name === name);
    const shape = signature ? signature.shape.map((d, i) => (i === 0 ? BATCH_DIM : d)) : [];
    b.graph.outputs.push({ name, elemType: OnnxDataType.FLOAT, shape });
  }
  return encodeOnnxModel(b.graph, {
    opsetVersion: OPSET,
    producerName: 'rollcall-tfjs-to-onnx',
    producerVersion: '1',
    docString: `Converted from ${options.source}`,
    metadata: { source: options.source },
  });
}
