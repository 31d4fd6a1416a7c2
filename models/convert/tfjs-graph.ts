/**
 * Reads a TensorFlow.js graph model (model.json + weight shards) into plain typed structures.
 * Only what the converter needs: nodes, their attributes, and dequantised weights.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export class TfjsModelFormatError extends Error {
  override readonly name = 'TfjsModelFormatError';
}

export interface TfjsAttrValue {
  s?: string;
  i?: string;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { i?: string[]; s?: string[]; f?: number[] };
  shape?: { dim?: { size: string }[] };
  tensor?: { dtype: string; tensorShape?: { dim?: { size: string }[] } };
}

export interface TfjsNode {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, TfjsAttrValue>;
}

export interface TfjsWeight {
  dtype: 'float32' | 'int32';
  shape: number[];
  values: Float32Array | Int32Array;
}

export interface TfjsSignatureTensor {
  name: string;
  shape: number[];
}

export interface TfjsGraph {
  nodes: TfjsNode[];
  weights: Map<string, TfjsWeight>;
  inputs: TfjsSignatureTensor[];
  outputs: TfjsSignatureTensor[];
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; original_dtype?: string; scale?: number; min?: number };
}

interface ModelJson {
  format?: string;
  modelTopology: { node: TfjsNode[] };
  signature?: {
    inputs?: Record<string, { name: string; tensorShape?: { dim?: { size: string }[] } }>;
    outputs?: Record<string, { name: string; tensorShape?: { dim?: { size: string }[] } }>;
  };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

function shapeOf(dims: { size: string }[] | undefined): number[] {
  return (dims ?? []).map((d) => Number(d.size));
}

function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function decodeWeight(spec: WeightSpec, bytes: Buffer, offset: number): { weight: TfjsWeight; size: number } {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization;
  if (q) {
    if (q.dtype !== 'float16') {
      throw new TfjsModelFormatError(`weight ${spec.name}: unsupported quantization ${q.dtype}`);
    }
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = float16ToFloat32(bytes.readUInt16LE(offset + 2 * i));
    return { weight: { dtype: 'float32', shape: spec.shape, values }, size: 2 * count };
  }
  // Copy out of the shared buffer: offsets are not guaranteed to be 4-byte aligned.
  const slice = new Uint8Array(bytes.subarray(offset, offset + 4 * count));
  if (spec.dtype === 'float32') {
    return {
      weight: { dtype: 'float32', shape: spec.shape, values: new Float32Array(slice.buffer) },
      size: 4 * count,
    };
  }
  if (spec.dtype === 'int32') {
    return {
      weight: { dtype: 'int32', shape: spec.shape, values: new Int32Array(slice.buffer) },
      size: 4 * count,
    };
  }
  throw new TfjsModelFormatError(`weight ${spec.name}: unsupported dtype ${spec.dtype}`);
}

export function loadTfjsGraph(modelJsonPath: string): TfjsGraph {
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as ModelJson;
  if (json.format !== 'graph-model') {
    throw new TfjsModelFormatError(`${modelJsonPath}: expected a graph-model, got ${String(json.format)}`);
  }
  const weights = new Map<string, TfjsWeight>();
  for (const group of json.weightsManifest) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(join(dirname(modelJsonPath), p))));
    let offset = 0;
    for (const spec of group.weights) {
      const { weight, size } = decodeWeight(spec, bytes, offset);
      weights.set(spec.name, weight);
      offset += size;
    }
    if (offset !== bytes.length) {
      throw new TfjsModelFormatError(`${modelJsonPath}: weights use ${offset} of ${bytes.length} bytes`);
    }
  }
  const signatureTensors = (
    entries: Record<string, { name: string; tensorShape?: { dim?: { size: string }[] } }> | undefined,
  ): TfjsSignatureTensor[] =>
    Object.values(entries ?? {}).map((t) => ({
      name: t.name.replace(/:0$/, ''),
      shape: shapeOf(t.tensorShape?.dim),
    }));
  const nodes = json.modelTopology.node.map((n) => ({
    name: n.name,
    op: n.op,
    input: n.input ?? [],
    attr: n.attr ?? {},
  }));
  return {
    nodes,
    weights,
    inputs: signatureTensors(json.signature?.inputs),
    outputs: signatureTensors(json.signature?.outputs),
  };
}
