/**
 * The OpenAPI document and the Express app agree: every route the app serves is documented and every
 * documented operation has a route. Built without I/O (lazy knex and Temporal connections).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import knex from 'knex';
import pino from 'pino';
import request from 'supertest';
import { Client } from '@temporalio/client';
import { createApp } from '../../../api/app';
import { buildOpenApi, openApiPath, operations } from '../../../api/openapi';
import { dateRange, idParam } from '../../../api/reports/routes';
import { overrideBody, sessionParams } from '../../../api/sessions/routes';

type Schema = Record<string, unknown>;
interface RequestSide {
  parameters?: { name: string; in: string; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
}

const CONTROL_SAMPLES = ['\u0000', 'a\u0000', '\u001f', '\u007f', '\u0085', '\u009f'];

/** Pushes the path of every string schema that would take a control character or has no length limit. */
function looseStrings(schema: Schema, at: string, out: string[]): void {
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const)
    for (const s of (schema[key] as Schema[] | undefined) ?? [])
      if (s.type !== undefined) looseStrings(s, at, out);
  if (schema.type === 'object')
    for (const [name, prop] of Object.entries((schema.properties ?? {}) as Record<string, Schema>))
      looseStrings(prop, `${at}.${name}`, out);
  if (schema.type === 'array' && schema.items) looseStrings(schema.items as Schema, `${at}[]`, out);
  if (schema.type !== 'string' || Array.isArray(schema.enum) || schema.const !== undefined) return;
  const patterns = [schema.pattern, ...((schema.allOf as Schema[] | undefined) ?? []).map((s) => s.pattern)]
    .filter((p): p is string => typeof p === 'string')
    .map((p) => new RegExp(p, 'u'));
  const refusesControls = CONTROL_SAMPLES.every((c) => patterns.some((p) => !p.test(c)));
  const bounded =
    typeof schema.maxLength === 'number' || schema.format === 'date' || schema.format === 'date-time';
  if (!refusesControls || !bounded) out.push(at);
}

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every method+path routed by the app; routers are all mounted at '/', so paths are absolute. */
export function routesOf(stack: Layer[]): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      return paths.flatMap((p) =>
        Object.keys(layer.route!.methods)
          .filter((m) => m !== '_all')
          .map((m) => `${m.toUpperCase()} ${p}`),
      );
    }
    return layer.handle?.stack ? routesOf(layer.handle.stack) : [];
  });
}

function app() {
  return createApp({
    db: knex({ client: 'pg' }),
    temporal: new Client(),
    taskQueue: 'openapi-test',
    log: pino({ level: 'silent' }),
    bodyLimit: '256kb',
    earlyMinutes: 15,
    graceMinutes: 10,
  });
}

void describe('OpenAPI document', () => {
  void test('when the router stack is walked, then every route is in the spec and every operation is routed', () => {
    const routed = new Set(routesOf((app() as unknown as { router: { stack: Layer[] } }).router.stack));
    const documented = new Set(operations.map((o) => `${o.method.toUpperCase()} ${o.path}`));
    assert.ok(routed.size >= 20, `found ${routed.size} routes`);
    assert.deepEqual(
      [...routed].filter((r) => !documented.has(r)).sort(),
      [],
      'routes missing from api/openapi.ts',
    );
    assert.deepEqual(
      [...documented].filter((r) => !routed.has(r)).sort(),
      [],
      'documented operations without a route',
    );
  });

  void test('when the spec is built, then it is OpenAPI 3 with schemas from the zod validators and unique operation ids', () => {
    const spec = buildOpenApi();
    assert.match(spec.openapi, /^3\./);
    const ids = Object.values(spec.paths).flatMap((p) =>
      Object.values(p).map((o) => (o as { operationId: string }).operationId),
    );
    assert.equal(new Set(ids).size, ids.length);
    const attendance = spec.paths['/api/v1/attendance']!.post as {
      requestBody: {
        content: Record<
          string,
          { schema: { properties: Record<string, unknown>; additionalProperties: unknown } }
        >;
      };
    };
    const body = attendance.requestBody.content['application/json']!.schema;
    assert.deepEqual(Object.keys(body.properties).sort(), ['device_id', 'records']);
    assert.equal(body.additionalProperties, false, 'strict objects show as additionalProperties: false');
    for (const o of operations)
      assert.ok(spec.paths[openApiPath(o.path)]?.[o.method], `${o.method} ${o.path}`);
  });

  void test('when any request string is documented, then it refuses control characters and has a length limit, like its validator', () => {
    const spec = buildOpenApi() as unknown as {
      paths: Record<string, Record<string, RequestSide>>;
    };
    const loose: string[] = [];
    for (const [path, item] of Object.entries(spec.paths))
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        for (const p of op.parameters ?? []) looseStrings(p.schema, `${where} ${p.in}.${p.name}`, loose);
        const body = op.requestBody?.content['application/json']?.schema;
        if (body) looseStrings(body, `${where} body`, loose);
      }
    // The password is compared, never stored, and may be anything the user chose.
    assert.deepEqual(
      loose.filter((l) => l !== 'POST /api/v1/auth/login body.password'),
      [],
      'strings without the one string rule (lib/contracts/text.ts)',
    );
  });

  void test('when a generated schema is checked against the validator, then limits, dates and session ids agree', () => {
    const hostile = ['a\u0000b', 'a\u0085b', 'x'.repeat(65), '\ud800'];
    for (const v of hostile) assert.equal(idParam.safeParse({ id: v }).success, false, JSON.stringify(v));
    assert.equal(
      dateRange.safeParse({ from: '0000-01-01' }).error?.issues[0]?.message,
      'must be a date between 2000-01-01 and 2199-12-31',
    );
    assert.equal(dateRange.safeParse({ from: '2025-02-29' }).success, false);
    assert.equal(sessionParams.safeParse({ id: 'session:12:2026-02-30' }).success, false);
    assert.equal(sessionParams.safeParse({ id: 'session:12:2028-02-29' }).success, true);
    assert.equal(overrideBody.shape.reason.parse('  Zoe\u0308 was ill  '), 'Zoë was ill', 'NFC and trimmed');
    assert.equal(
      overrideBody.shape.reason.safeParse('😀'.repeat(500)).success,
      true,
      'lengths in code points',
    );
    assert.equal(overrideBody.shape.reason.safeParse('😀'.repeat(501)).success, false);
  });

  void test('when /openapi.json, /docs and /dashboard are fetched, then they are served with a strict CSP and no inline script', async () => {
    const a = app();
    const spec = await request(a).get('/openapi.json');
    assert.equal(spec.status, 200);
    assert.equal(spec.body.info.title, 'Rollcall API');
    const docs = await request(a).get('/docs');
    assert.equal(docs.status, 200);
    assert.match(docs.text, /POST<\/span> <code>\/api\/v1\/auth\/login<\/code>/);
    const dash = await request(a).get('/dashboard');
    assert.match(dash.headers['content-security-policy'], /script-src 'self'/);
    assert.doesNotMatch(dash.text, /<script>|\son[a-z]+=/, 'no inline script or handlers');
    assert.equal(dash.headers['x-frame-options'], 'DENY');
    const js = await request(a).get('/assets/app.js');
    assert.match(js.headers['content-type'], /javascript/);
    assert.equal((await request(a).get('/assets/..%2Fpages.ts')).status, 400);
    assert.equal((await request(a).get('/api/v1/dashboard/overview')).status, 401);
  });
});
