/**
 * Checks an answer against the OpenAPI document, as an independent client would: the status is listed for
 * the operation, the content type is listed for that status, and a JSON body validates against its schema
 * (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses it).
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

type Json = Record<string, unknown>;

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, Json> };
}

export interface OpenApiOperation {
  operationId: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: 'path' | 'query'; required: boolean; schema: Json; example?: unknown }[];
  requestBody?: { required: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, { content?: Record<string, { schema?: Json }> }>;
}

/** Replaces `#/components/schemas/X` references by the schemas themselves (the document has no cycles). */
function inline(schema: unknown, components: Record<string, Json>): unknown {
  if (Array.isArray(schema)) return schema.map((s) => inline(s, components));
  if (typeof schema !== 'object' || schema === null) return schema;
  const ref = (schema as Json).$ref;
  if (typeof ref === 'string' && ref.startsWith('#/components/schemas/'))
    return inline(components[ref.slice('#/components/schemas/'.length)], components);
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inline(v, components)]));
}

/** `text/csv; charset=utf-8` → `text/csv` */
export function mediaType(contentType: string | null | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

export class ResponseConformance {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: false });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly doc: OpenApiDocument) {
    addFormats(this.ajv);
  }

  /** Why the answer does not conform, or undefined when it does. */
  problem(
    method: string,
    path: string,
    res: { status: number; contentType: string | null; body: string },
  ): string | undefined {
    const op = this.doc.paths[path]?.[method];
    if (!op) return `${method} ${path} is not in the document`;
    const response = op.responses[String(res.status)] ?? op.responses.default;
    if (!response) return `status ${res.status} is not listed (${Object.keys(op.responses).join(', ')})`;
    if (!response.content)
      return res.body.length === 0 ? undefined : `status ${res.status} documents no body`;
    const type = mediaType(res.contentType);
    const media = response.content[type];
    if (!media) return `content type ${type || '(none)'} is not listed for ${res.status}`;
    if (type !== 'application/json' || !media.schema) return undefined;
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      return 'the JSON body does not parse';
    }
    const key = `${method} ${path} ${res.status}`;
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(inline(media.schema, this.doc.components.schemas) as Json);
      this.validators.set(key, validate);
    }
    if (validate(body)) return undefined;
    return `body does not match the schema: ${this.ajv.errorsText(validate.errors)}`;
  }
}
