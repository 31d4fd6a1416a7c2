/**
 * A small in-memory ONNX graph description and its serialisation to ModelProto bytes.
 * Field numbers follow onnx/onnx.proto (IR version 8).
 */
import { ProtoWriter } from './protobuf-writer';

export const OnnxDataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;
export type OnnxDataTypeCode = (typeof OnnxDataType)[keyof typeof OnnxDataType];

export type OnnxAttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: readonly number[] };

export interface OnnxNode {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, OnnxAttributeValue>>;
}

export interface OnnxTensor {
  name: string;
  dataType: OnnxDataTypeCode;
  dims: readonly number[];
  /** Little-endian raw bytes, as ONNX raw_data expects. */
  raw: Uint8Array;
}

/** A dimension is a fixed size or a symbolic name (e.g. the batch). */
export type OnnxDim = number | string;

export interface OnnxValueInfo {
  name: string;
  elemType: OnnxDataTypeCode;
  shape: readonly OnnxDim[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModelOptions {
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
  docString: string;
  metadata: Readonly<Record<string, string>>;
}

const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;
const IR_VERSION = 8;

function writeAttribute(w: ProtoWriter, name: string, attr: OnnxAttributeValue): void {
  w.string(1, name);
  switch (attr.kind) {
    case 'float':
      w.float(2, attr.value).int(20, ATTRIBUTE_TYPE.FLOAT);
      break;
    case 'int':
      w.int(3, attr.value).int(20, ATTRIBUTE_TYPE.INT);
      break;
    case 'string':
      w.string(4, attr.value).int(20, ATTRIBUTE_TYPE.STRING);
      break;
    case 'ints':
      for (const v of attr.value) w.int(8, v);
      w.int(20, ATTRIBUTE_TYPE.INTS);
      break;
  }
}

function writeNode(w: ProtoWriter, node: OnnxNode): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, node.name).string(4, node.opType);
  for (const [name, attr] of Object.entries(node.attributes ?? {})) {
    w.message(5, (a) => writeAttribute(a, name, attr));
  }
}

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType).string(8, t.name).bytes(9, t.raw);
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.int(1, v.elemType);
      tensorType.message(2, (shape) => {
        for (const dim of v.shape) {
          shape.message(1, (d) => (typeof dim === 'number' ? d.int(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

export function encodeOnnxModel(graph: OnnxGraph, options: OnnxModelOptions): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, IR_VERSION)
    .string(2, options.producerName)
    .string(3, options.producerVersion)
    .string(6, options.docString);
  w.message(7, (g) => {
    for (const node of graph.nodes) g.message(1, (n) => writeNode(n, node));
    g.string(2, graph.name);
    for (const t of graph.initializers) g.message(5, (m) => writeTensor(m, t));
    for (const v of graph.inputs) g.message(11, (m) => writeValueInfo(m, v));
    for (const v of graph.outputs) g.message(12, (m) => writeValueInfo(m, v));
  });
  w.message(8, (o) => o.string(1, '').int(2, options.opsetVersion));
  for (const [key, value] of Object.entries(options.metadata)) {
    w.message(14, (m) => m.string(1, key).string(2, value));
  }
  return w.finish();
}
