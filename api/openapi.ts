/**
 * The OpenAPI 3.1 document of every route, built from the same zod schemas the routes validate with
 * (zod 4's z.toJSONSchema), so the spec cannot drift from validation. test/unit/api/openapi.test.ts walks
 * the Express router stack and fails when a route is missing here or an operation has no route.
 */
import { z } from 'zod';
import { scheduleBody, scheduleParams, scheduleView } from './admin/schedules';
import {
  attendanceAnswerSchema,
  attendanceBatchSchema,
  deviceConfigPatchSchema,
  heartbeatAnswerSchema,
  heartbeatBodySchema,
  rosterAnswerSchema,
  rosterParamsSchema,
  scheduleAnswerSchema,
  scheduleQuerySchema,
} from '../lib/contracts';
import { loginBody, loginResponse } from './auth/routes';
import { overviewResponse } from './dashboard/overview';
import { consentBody, photosBody, rawQuery, revokeBody, studentParams } from './enrollment/routes';
import { erasureParams, erasureQuery, erasureResponse } from './privacy/routes';
import { absencesQuery, dateRange, idParam, sessionQuery } from './reports/routes';
import { overrideBody, overrideResponse, sessionParams } from './sessions/routes';
import {
  decommissionBody,
  deviceListResponse,
  deviceParams,
  provisionBody,
  provisionResponse,
  rotateResponse,
} from './devices/routes';

type Method = 'get' | 'post' | 'put' | 'delete';
type Auth = 'none' | 'device' | 'user' | 'admin';

export interface Operation {
  method: Method;
  /** Express-style path (`/api/v1/students/:id`). */
  path: string;
  tag: 'device' | 'people' | 'admin' | 'ops' | 'pages';
  summary: string;
  auth: Auth;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Non-JSON request bodies, by media type. */
  rawBody?: string[];
  response?: z.ZodType;
  /** Default: 200 JSON. */
  produces?: 'json' | 'json+csv' | 'html' | 'asset';
  status?: number;
}

const csv = 'json+csv' as const;

export const operations: Operation[] = [
  // Device-facing (device key)
  {
    method: 'post',
    path: '/api/v1/attendance',
    tag: 'device',
    auth: 'device',
    summary: 'Upload a batch of recognitions (idempotent event ids); 202 once Temporal has them',
    body: attendanceBatchSchema,
    status: 202,
    response: attendanceAnswerSchema,
  },
  {
    method: 'get',
    path: '/api/v1/schedule',
    tag: 'device',
    auth: 'device',
    summary: "The device room's current and next class, with session id and roster version",
    query: scheduleQuerySchema,
    response: scheduleAnswerSchema,
  },
  {
    method: 'get',
    path: '/api/v1/roster/:sessionId',
    tag: 'device',
    auth: 'device',
    summary: 'Embeddings of the students enrolled in the session (ETag / 304)',
    params: rosterParamsSchema,
    response: rosterAnswerSchema,
  },
  // People
  {
    method: 'post',
    path: '/api/v1/auth/login',
    tag: 'people',
    auth: 'none',
    summary: 'Sign in: email + password → JWT (rate-limited per IP)',
    body: loginBody,
    response: loginResponse,
  },
  { method: 'get', path: '/api/v1/auth/me', tag: 'people', auth: 'user', summary: 'The signed-in user' },
  {
    method: 'get',
    path: '/api/v1/attendance/student/:id',
    tag: 'people',
    auth: 'user',
    summary: "A student's history (teachers: their courses only)",
    params: idParam,
    query: dateRange,
    produces: csv,
  },
  {
    method: 'get',
    path: '/api/v1/attendance/course/:id',
    tag: 'people',
    auth: 'user',
    summary: 'Course grid: students × sessions with percentages (teacher of the course or admin)',
    params: idParam,
    query: dateRange,
    produces: csv,
  },
  {
    method: 'get',
    path: '/api/v1/sessions/:id',
    tag: 'people',
    auth: 'user',
    summary: 'Session roster with marks',
    params: idParam,
    query: sessionQuery,
    produces: csv,
  },
  {
    method: 'post',
    path: '/api/v1/sessions/:id/overrides',
    tag: 'people',
    auth: 'user',
    summary: "Override one student's mark (workflow update, or directly once the session has ended); audited",
    params: sessionParams,
    body: overrideBody,
    response: overrideResponse,
  },
  {
    method: 'get',
    path: '/api/v1/reports/unregistered-classes',
    tag: 'people',
    auth: 'user',
    summary: 'Timetabled classes for which no device sent anything',
    query: dateRange,
    produces: csv,
  },
  {
    method: 'get',
    path: '/api/v1/reports/consecutive-absences',
    tag: 'people',
    auth: 'user',
    summary: 'Students absent from their latest N sessions of a course',
    query: absencesQuery,
    produces: csv,
  },
  {
    method: 'post',
    path: '/api/v1/students/:id/consent',
    tag: 'people',
    auth: 'user',
    summary: 'Record biometric enrollment consent (admin, or a teacher of the student)',
    params: studentParams,
    body: consentBody,
    status: 201,
  },
  {
    method: 'delete',
    path: '/api/v1/students/:id/consent',
    tag: 'people',
    auth: 'user',
    summary: "Revoke consent (deletes the student's embeddings)",
    params: studentParams,
    body: revokeBody,
  },
  {
    method: 'post',
    path: '/api/v1/students/:id/photos',
    tag: 'people',
    auth: 'user',
    summary: 'Upload enrollment photos (base64 JSON, or one raw image with ?by=) and start enrollStudent',
    params: studentParams,
    query: rawQuery,
    body: photosBody,
    rawBody: ['image/jpeg', 'image/png', 'image/webp'],
    status: 202,
  },
  {
    method: 'get',
    path: '/api/v1/students/:id/enrollment',
    tag: 'people',
    auth: 'user',
    summary: 'Status of the latest enrollment workflow',
    params: studentParams,
  },
  {
    method: 'get',
    path: '/api/v1/dashboard/overview',
    tag: 'people',
    auth: 'user',
    summary: "Today's sessions per room with counts, device health, Temporal UI links",
    response: overviewResponse,
  },
  // Admin
  {
    method: 'delete',
    path: '/api/v1/students/:id/biometrics',
    tag: 'admin',
    auth: 'admin',
    summary: 'Erase biometric data: embeddings, staged photos, consent; bumps roster versions; audited',
    params: erasureParams,
    query: erasureQuery,
    response: erasureResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/schedules',
    tag: 'admin',
    auth: 'admin',
    summary: 'Create a timetable row; starts timetable:sync',
    body: scheduleBody,
    status: 201,
    response: z.object({ schedule: scheduleView }),
  },
  {
    method: 'put',
    path: '/api/v1/admin/schedules/:id',
    tag: 'admin',
    auth: 'admin',
    summary: 'Replace a timetable row; starts timetable:sync',
    params: scheduleParams,
    body: scheduleBody,
    response: z.object({ schedule: scheduleView }),
  },
  {
    method: 'delete',
    path: '/api/v1/admin/schedules/:id',
    tag: 'admin',
    auth: 'admin',
    summary: 'Delete a timetable row without sessions; starts timetable:sync',
    params: scheduleParams,
  },
  {
    method: 'post',
    path: '/api/v1/heartbeat',
    tag: 'device',
    auth: 'device',
    summary:
      'Device heartbeat (every minute); answers with the settings an admin set explicitly for the device',
    body: heartbeatBodySchema,
    response: heartbeatAnswerSchema,
  },
  {
    method: 'get',
    path: '/api/v1/admin/devices',
    tag: 'admin',
    auth: 'admin',
    summary: 'Devices with status, last heartbeat and configuration',
    response: deviceListResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/devices',
    tag: 'admin',
    auth: 'admin',
    summary: 'Provision a device: starts its workflow, answers its API key once',
    body: provisionBody,
    status: 201,
    response: provisionResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/devices/:id/rotate-key',
    tag: 'admin',
    auth: 'admin',
    summary: 'Replace the device key (the old one stops working at once); answers the new key once',
    params: deviceParams,
    response: rotateResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/devices/:id/config',
    tag: 'admin',
    auth: 'admin',
    summary:
      "Change a device's settings (validated by the workflow); delivered in its next heartbeat response",
    params: deviceParams,
    body: deviceConfigPatchSchema,
    response: heartbeatAnswerSchema,
  },
  {
    method: 'post',
    path: '/api/v1/admin/devices/:id/decommission',
    tag: 'admin',
    auth: 'admin',
    summary: 'Decommission: the device workflow revokes the key and completes',
    params: deviceParams,
    body: decommissionBody,
    status: 202,
  },
  // Operations
  { method: 'get', path: '/health', tag: 'ops', auth: 'none', summary: 'Process is up' },
  { method: 'get', path: '/health/live', tag: 'ops', auth: 'none', summary: 'Liveness probe' },
  {
    method: 'get',
    path: '/health/ready',
    tag: 'ops',
    auth: 'none',
    summary: 'Readiness: Postgres and Temporal reachable (503 otherwise)',
  },
  {
    method: 'get',
    path: '/health/detailed',
    tag: 'ops',
    auth: 'admin',
    summary: 'Latencies, errors and memory (admin)',
  },
  { method: 'get', path: '/openapi.json', tag: 'ops', auth: 'none', summary: 'This document' },
  {
    method: 'get',
    path: '/metrics',
    tag: 'ops',
    auth: 'none',
    summary: 'Prometheus metrics of this process (devices, backups, API latency)',
    produces: 'asset',
  },
  // Pages
  {
    method: 'get',
    path: '/docs',
    tag: 'pages',
    auth: 'none',
    summary: 'API documentation (rendered from this document)',
    produces: 'html',
  },
  {
    method: 'get',
    path: '/dashboard',
    tag: 'pages',
    auth: 'none',
    summary: 'Dashboard (signs in with the login endpoint; data needs a JWT)',
    produces: 'html',
  },
  {
    method: 'get',
    path: '/assets/:file',
    tag: 'pages',
    auth: 'none',
    summary: 'Static assets of the pages (app.js, style.css)',
    produces: 'asset',
    params: z.strictObject({ file: z.enum(['app.js', 'style.css']) }),
  },
];

/** `/a/:id` → `/a/{id}` */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

function parameters(where: 'path' | 'query', schema: z.ZodObject | undefined) {
  if (!schema) return [];
  const s = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, prop]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: prop,
  }));
}

const errorResponse = {
  description: 'Error',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

function responses(op: Operation) {
  const ok: Record<string, unknown> = { description: 'Success' };
  if (op.produces === 'html') ok.content = { 'text/html': { schema: { type: 'string' } } };
  else if (op.produces === 'asset')
    ok.content = {
      'application/javascript': { schema: { type: 'string' } },
      'text/css': { schema: { type: 'string' } },
    };
  else {
    const content: Record<string, unknown> = {
      'application/json': { schema: op.response ? jsonSchema(op.response) : { type: 'object' } },
    };
    if (op.produces === 'json+csv') content['text/csv'] = { schema: { type: 'string' } };
    ok.content = content;
  }
  const out: Record<string, unknown> = { [String(op.status ?? 200)]: ok };
  if (op.method !== 'get' || op.params || op.query) out['400'] = errorResponse;
  if (op.auth !== 'none') out['401'] = errorResponse;
  if (op.auth === 'user' || op.auth === 'admin' || op.auth === 'device') out['403'] = errorResponse;
  if (op.auth === 'device' || op.path === '/api/v1/auth/login')
    out['429'] = { ...errorResponse, description: 'Rate limited (see Retry-After)' };
  if (op.body) out['413'] = errorResponse;
  out.default = errorResponse;
  return out;
}

export function buildOpenApi(opts: { version?: string } = {}) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const security = op.auth === 'none' ? [] : op.auth === 'device' ? [{ deviceKey: [] }] : [{ userJwt: [] }];
    const requestBody = op.body
      ? {
          required: true,
          content: {
            'application/json': { schema: jsonSchema(op.body) },
            ...Object.fromEntries(
              (op.rawBody ?? []).map((t) => [t, { schema: { type: 'string', format: 'binary' } }]),
            ),
          },
        }
      : undefined;
    paths[openApiPath(op.path)] ??= {};
    paths[openApiPath(op.path)]![op.method] = {
      operationId: `${op.method}${openApiPath(op.path).replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      tags: [op.tag],
      summary: op.summary,
      ...(op.auth === 'admin' ? { description: 'Requires the admin role.' } : {}),
      security,
      parameters: [...parameters('path', op.params), ...parameters('query', op.query)],
      ...(requestBody ? { requestBody } : {}),
      responses: responses(op),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Rollcall API',
      version: opts.version ?? '0.1.0',
      description:
        'Face-recognition classroom attendance. Devices authenticate with their device key; people with a JWT from POST /api/v1/auth/login. Every error is {"error":{"code","message","details"}}.',
    },
    tags: [
      {
        name: 'device',
        description: 'Device-facing (device key, scoped to its room, rate-limited per device)',
      },
      { name: 'people', description: 'Teachers and admins (JWT; teachers see only their own courses)' },
      { name: 'admin', description: 'Admins only' },
      { name: 'ops', description: 'Health and this document' },
      { name: 'pages', description: 'HTML pages served by the API' },
    ],
    components: {
      securitySchemes: {
        deviceKey: { type: 'http', scheme: 'bearer', description: 'Device key (or X-Device-Key header)' },
        userJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message', 'details'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
            },
          },
        },
      },
    },
    paths,
  };
}
