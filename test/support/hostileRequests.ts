/**
 * fast-check arbitraries of hostile requests for any operation of the OpenAPI document: one input slot (a
 * path or query parameter, or a body field) gets a value no validator may accept — a NUL or another control
 * character, a string longer than any limit, a lone surrogate, an impossible or implausible date — and the
 * others plausible values, often Unicode. The request is described, not sent: see securityFuzz.test.ts.
 */
import fc from 'fast-check';
import type { OpenApiOperation } from './openapiConformance';

type Json = Record<string, unknown>;

/** C0, DEL and C1 characters, NUL first. */
const CONTROL = [0x00, 0x01, 0x08, 0x09, 0x0a, 0x0b, 0x0d, 0x1b, 0x1f, 0x7f, 0x80, 0x85, 0x9f].map((c) =>
  String.fromCharCode(c),
);

/** Strings no string field accepts; `longest` bounds the very long ones (a URL must fit Node's header limit). */
export function hostileString(longest: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constant('\u0000'),
    fc
      .tuple(fc.string({ maxLength: 8 }), fc.constantFrom(...CONTROL), fc.string({ maxLength: 8 }))
      .map(([a, c, b]) => a + c + b),
    fc.integer({ min: 1100, max: longest }).map((n) => 'Zoë '.repeat(Math.ceil(n / 4))),
    fc.constantFrom('\ud800', 'a\udc00b', '\udfff\ud800'),
  );
}

/** Dates the reports and the timetable must refuse with a 400: year 0, outside 2000–2199, impossible days. */
const HOSTILE_DATES = [
  '0000-01-01',
  '1999-12-31',
  '2200-01-01',
  '9999-12-31',
  '2025-02-29',
  '2026-02-30',
  '2025-13-01',
  '+002025-01-01',
  '-000001-01-01',
  '20250101',
  '2025-1-1',
];

function isDateField(schema: Json): boolean {
  return schema.format === 'date';
}

/** A plausible value of a schema (not necessarily valid for the domain: it only fills the other slots). */
export function plausible(schema: Json | undefined, today: string): unknown {
  const s = schema ?? {};
  if (Array.isArray(s.enum)) return s.enum[0];
  if (s.default !== undefined) return s.default;
  const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string | undefined];
  if (Array.isArray(s.anyOf)) return plausible((s.anyOf as Json[])[0], today);
  if (types.includes('integer')) return typeof s.minimum === 'number' ? s.minimum : 1;
  if (types.includes('number')) return typeof s.minimum === 'number' ? s.minimum : 0.5;
  if (types.includes('boolean')) return true;
  if (types.includes('array')) return [plausible(s.items as Json, today)];
  if (types.includes('object')) {
    const props = (s.properties ?? {}) as Record<string, Json>;
    return Object.fromEntries(
      ((s.required ?? []) as string[]).map((name) => [name, plausible(props[name], today)]),
    );
  }
  if (s.format === 'date') return today;
  if (s.format === 'date-time') return `${today}T08:00:00Z`;
  if (s.format === 'email') return 'teacher1@demo.school';
  const patterns = [s.pattern, ...((s.allOf ?? []) as Json[]).map((a) => a.pattern)].filter(
    (p): p is string => typeof p === 'string',
  );
  const candidates = ['S001', 'pi-r100', 'DEMO100', 'Zoë ✓ 😀 naïve', '08:30', 'c2FtcGxlLXBob3Rv'];
  return (
    candidates.find(
      (c) =>
        patterns.every((p) => new RegExp(p, 'u').test(c)) &&
        [...c].length >= ((s.minLength as number) ?? 0) &&
        [...c].length <= ((s.maxLength as number) ?? Infinity),
    ) ?? 'S001'
  );
}

export interface HostileRequest {
  path: string;
  query: Record<string, string>;
  body?: unknown;
  /** Where the hostile value went: `path.id`, `query.from`, `body.records.0.student_id`. */
  slot: string;
  value: string;
  credentials: 'right' | 'none' | 'wrong';
}

interface Slot {
  where: 'path' | 'query' | 'body';
  /** Property path inside the body (arrays: index 0). */
  name: string[];
  schema: Json;
}

function bodySlots(schema: Json, prefix: string[] = []): Slot[] {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  return Object.entries(props).flatMap(([name, prop]) => {
    const here: Slot = { where: 'body', name: [...prefix, name], schema: prop };
    const items = prop.items as Json | undefined;
    if (prop.type === 'array' && items?.type === 'object')
      return [here, ...bodySlots(items, [...prefix, name, '0'])];
    if (prop.type === 'array' && items)
      return [here, { where: 'body', name: [...prefix, name, '0'], schema: items }];
    return [here];
  });
}

function setIn(target: unknown, name: string[], value: unknown): void {
  let at = target as Record<string, unknown>;
  for (const step of name.slice(0, -1)) {
    if (typeof at[step] !== 'object' || at[step] === null) at[step] = /^\d+$/.test(step) ? [] : {};
    at = at[step] as Record<string, unknown>;
  }
  at[name[name.length - 1]!] = value;
}

/** Percent-encodes a path segment; a lone surrogate becomes the (invalid) UTF-8 bytes it would have. */
export function encodeSegment(s: string): string {
  return [...s]
    .map((ch) => {
      const c = ch.codePointAt(0)!;
      if (c >= 0xd800 && c <= 0xdfff)
        return `%${(0xe0 | (c >> 12)).toString(16)}%${(0x80 | ((c >> 6) & 0x3f)).toString(16)}%${(0x80 | (c & 0x3f)).toString(16)}`;
      return encodeURIComponent(ch);
    })
    .join('');
}

/** Hostile requests for one operation: every case carries one value its validators must refuse. */
export function hostileRequests(
  path: string,
  op: OpenApiOperation,
  today: string,
): fc.Arbitrary<HostileRequest> {
  const params = op.parameters ?? [];
  const bodySchema = op.requestBody?.content['application/json']?.schema;
  const slots: Slot[] = [
    ...params.map((p) => ({ where: p.in, name: [p.name], schema: p.schema }) as Slot),
    ...(bodySchema ? bodySlots(bodySchema) : []),
  ];
  // An operation without inputs still gets the hostile value, in a query parameter it does not read.
  if (slots.length === 0) slots.push({ where: 'query', name: ['x'], schema: { type: 'string' } });
  return fc
    .record({
      slot: fc.constantFrom(...slots),
      credentials: fc.constantFrom<HostileRequest['credentials']>(
        ...(op.security?.length
          ? (['right', 'right', 'right', 'right', 'none', 'wrong'] as const)
          : ['none' as const]),
      ),
      withOptionals: fc.boolean(),
      salt: fc.nat(),
    })
    .chain(({ slot, credentials, withOptionals }) => {
      const longest = slot.where === 'body' ? 20_000 : 3_000;
      const value = isDateField(slot.schema)
        ? fc.oneof(fc.constantFrom(...HOSTILE_DATES), hostileString(longest))
        : hostileString(longest);
      return value.map((v) => {
        const pathValues: Record<string, string> = {};
        const query: Record<string, string> = {};
        for (const p of params) {
          const given = p.example ?? plausible(p.schema, today);
          if (p.in === 'path') pathValues[p.name] = String(given);
          else if (p.required || withOptionals) query[p.name] = String(given);
        }
        let body: unknown = bodySchema ? plausible(bodySchema, today) : undefined;
        if (slot.where === 'path') pathValues[slot.name[0]!] = v;
        else if (slot.where === 'query') query[slot.name[0]!] = v;
        else {
          body ??= {};
          setIn(body, slot.name, v);
        }
        const url = path.replace(/\{([^}]+)\}/g, (_m, name: string) => encodeSegment(pathValues[name] ?? ''));
        return {
          path: url,
          query,
          body,
          slot: `${slot.where}.${slot.name.join('.')}`,
          value: v,
          credentials,
        };
      });
    });
}

/** `?a=b&c=d`, with lone surrogates encoded as their (invalid) UTF-8 bytes. */
export function queryString(query: Record<string, string>): string {
  const parts = Object.entries(query).map(([k, v]) => `${encodeSegment(k)}=${encodeSegment(v)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
