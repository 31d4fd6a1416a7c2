/**
 * Property tests against the real app (seeded, reproducible: FUZZ_SEED=<n>):
 * - the device endpoints: thousands of random and malformed bodies; never a 5xx, every error has the one
 *   shape, and rows in recognition_events are exactly the records the API answered `accepted`;
 * - every operation of the OpenAPI document (fast-check): hostile path, query and body values (NUL, control
 *   characters, very long, lone surrogates, implausible dates); never a 5xx, every answer as the document
 *   says (status, content type, JSON schema), and a rejected request changes no table's row count.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Knex } from 'knex';
import { DEMO_DEVICE_KEYS, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';
import { assertErrorShape } from '../support/errors';
import { hostileRequests, queryString, type HostileRequest } from '../support/hostileRequests';
import { ResponseConformance, type OpenApiDocument } from '../support/openapiConformance';

const ITERATIONS = 3000;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const KEY = DEMO_DEVICE_KEYS['pi-r100'];

/** mulberry32: small, fast, good enough to pick fuzz cases reproducibly. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

type R = ReturnType<typeof rng>;

const NASTY_STRINGS = [
  '',
  ' ',
  'S001',
  'S999',
  'pi-r100',
  'pi-r101',
  "' OR 1=1 --",
  '"; DROP TABLE attendance_logs; --',
  '\u0000',
  '\ud800',
  '😀'.repeat(50),
  'x'.repeat(10_000),
  '../../etc/passwd',
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  'session:1:2026-01-01',
  'session:-1:9999-99-99',
  '2026-02-30T25:61:00Z',
  'NaN',
  '1e999',
];

function randomScalar(r: R): unknown {
  switch (r.int(8)) {
    case 0:
      return r.pick(NASTY_STRINGS);
    case 1:
      return r.next() * 10 ** r.int(20) * (r.next() < 0.5 ? -1 : 1);
    case 2:
      return r.int(3) === 0 ? Number.MAX_SAFE_INTEGER : r.int(1000) - 500;
    case 3:
      return r.next() < 0.5;
    case 4:
      return null;
    case 5:
      return new Date(Date.now() + (r.next() - 0.5) * 4 * 86_400_000).toISOString();
    case 6:
      return r.pick(['present', 'late', 'absent', 'excused', 'unknown']);
    default:
      return String.fromCharCode(...Array.from({ length: r.int(40) }, () => r.int(0xffff)));
  }
}

function randomValue(r: R, depth = 0): unknown {
  if (depth > 3 || r.next() < 0.5) return randomScalar(r);
  if (r.next() < 0.5) return Array.from({ length: r.int(5) }, () => randomValue(r, depth + 1));
  return Object.fromEntries(
    Array.from({ length: r.int(5) }, () => [
      r.pick(['device_id', 'records', 'event_id', 'student_id', 'timestamp', 'confidence', '__proto__', 'x']),
      randomValue(r, depth + 1),
    ]),
  );
}

function validRecord(r: R, i: number) {
  return {
    event_id: `fuzz-${SEED}-${r.int(1e9)}-${i}`,
    student_id: `S${String(1 + r.int(40)).padStart(3, '0')}`,
    timestamp: new Date(Date.now() - r.int(120_000)).toISOString(),
    confidence: r.next(),
  };
}

/** A valid batch with one to three mutations; some stay valid (and are then accepted and counted). */
function mutatedBatch(r: R): unknown {
  const batch: Record<string, unknown> = {
    device_id: 'pi-r100',
    records: Array.from({ length: 1 + r.int(4) }, (_, i) => validRecord(r, i)),
  };
  const records = batch.records as Record<string, unknown>[];
  for (let m = 0, n = 1 + r.int(3); m < n; m++) {
    const rec = records[r.int(records.length)]!;
    const field = r.pick(['event_id', 'student_id', 'timestamp', 'confidence', 'course_id', 'session_id']);
    switch (r.int(9)) {
      case 0:
        delete rec[field];
        break;
      case 1:
        rec[field] = randomValue(r);
        break;
      case 2:
        rec[r.pick(['extra', 'status', 'embedding', '__proto__'])] = randomValue(r);
        break;
      case 3:
        batch.device_id = randomScalar(r);
        break;
      case 4:
        batch.records = r.pick([
          [],
          null,
          {},
          'records',
          Array.from({ length: 501 }, (_, i) => validRecord(r, i)),
        ]);
        break;
      case 5:
        records.push({ ...rec });
        break;
      case 6:
        rec.timestamp = r.pick(['2020-01-01T00:00:00Z', '2099-01-01T00:00:00Z', 'yesterday', 1700000000]);
        break;
      case 7:
        rec.confidence = r.pick([-0.1, 1.0001, '0.9', null, 1e308, -0]);
        break;
      default:
        batch[r.pick(['extra', 'room_id', 'records '])] = randomValue(r);
    }
  }
  return batch;
}

function rawBody(r: R): { body: string; contentType: string } {
  const json = 'application/json';
  switch (r.int(10)) {
    case 0:
      return { body: JSON.stringify(mutatedBatch(r)).slice(0, r.int(200)), contentType: json };
    case 1:
      return { body: '['.repeat(5000 + r.int(50_000)) + ']'.repeat(r.int(10)), contentType: json };
    case 2:
      return { body: '{"a":'.repeat(2000 + r.int(5000)) + '1' + '}'.repeat(r.int(7000)), contentType: json };
    case 3:
      return {
        body: r.pick(['null', 'true', '1', '"x"', '1e999', '', ' ', '\u0000', 'NaN']),
        contentType: json,
      };
    case 4:
      return {
        body: JSON.stringify(mutatedBatch(r)),
        contentType: r.pick([
          'text/plain',
          'application/x-www-form-urlencoded',
          'image/jpeg',
          'application/json; charset=latin9',
          'multipart/form-data',
        ]),
      };
    case 5:
      return {
        body: Buffer.from(Array.from({ length: r.int(512) }, () => r.int(256))).toString('latin1'),
        contentType: json,
      };
    case 6:
      return { body: `{"device_id":"pi-r100","records":[${'{},'.repeat(r.int(600))}{}]}`, contentType: json };
    case 7:
      return { body: '{"__proto__":{"admin":true},"device_id":"pi-r100","records":[]}', contentType: json };
    default:
      return { body: JSON.stringify(r.next() < 0.5 ? randomValue(r) : mutatedBatch(r)), contentType: json };
  }
}

let rc: TestRollcall;
let server: http.Server;
let base: string;

void describe('device endpoints under fuzzing (real Temporal + Postgres)', () => {
  before(async () => {
    // The fuzz must not be cut short by the per-device limit or the wrong-key limit per IP; the limits
    // themselves are tested in security.test.ts and securityExposure.test.ts.
    rc = await startTestRollcall(undefined, {
      rateLimits: { devicePerMinute: 1_000_000, loginPerMinute: 10, deviceAuthFailuresPerMinute: 1_000_000 },
    });
    await seedDemoSchool(rc.database.db);
    server = http.createServer(rc.app);
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.close();
    await rc?.stop();
  });

  void test(
    `when ${ITERATIONS} random and malformed bodies hit the device endpoints, then no 5xx, one error shape, and only accepted records are written`,
    { timeout: 300_000 },
    async () => {
      const r = rng(SEED);
      const db = rc.database.db;
      const heartbeatExists =
        (
          await fetch(`${base}/api/v1/heartbeat`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
            body: '{}',
          })
        ).status !== 404;
      const endpoints = heartbeatExists
        ? ['/api/v1/attendance', '/api/v1/heartbeat']
        : ['/api/v1/attendance'];
      const before = Number((await db('recognition_events').count<{ n: string }[]>('* as n'))[0]!.n);
      const statuses = new Map<number, number>();
      let accepted = 0;
      const failures: string[] = [];
      for (let i = 0; i < ITERATIONS; i++) {
        const endpoint = r.pick(endpoints);
        const { body, contentType } =
          r.next() < 0.35
            ? rawBody(r)
            : {
                body: JSON.stringify(r.next() < 0.7 ? mutatedBatch(r) : randomValue(r)),
                contentType: 'application/json',
              };
        const res = await fetch(`${base}${endpoint}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': contentType },
          body,
        });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        if (res.status >= 500)
          failures.push(`#${i} ${endpoint} ${res.status}: ${text.slice(0, 200)} ← ${body.slice(0, 200)}`);
        else if (res.status >= 400) {
          try {
            assertErrorShape({ status: res.status, body: parsed, text });
          } catch (e) {
            failures.push(`#${i} ${res.status} shape: ${(e as Error).message.slice(0, 200)}`);
          }
        } else if (endpoint === '/api/v1/attendance') {
          accepted += (parsed as { accepted: number }).accepted;
        }
      }
      const after = Number((await db('recognition_events').count<{ n: string }[]>('* as n'))[0]!.n);
      process.stderr.write(
        `fuzz seed ${SEED}: ${ITERATIONS} requests to ${endpoints.join(', ')}; statuses ${JSON.stringify(Object.fromEntries(statuses))}; ${accepted} records accepted\n`,
      );
      assert.deepEqual(failures.slice(0, 10), [], `seed ${SEED}`);
      assert.equal(
        after - before,
        accepted,
        'rows written = records accepted; rejected requests wrote nothing',
      );
      assert.ok((statuses.get(400) ?? 0) > ITERATIONS / 4, 'most cases are malformed');
    },
  );
});

/** Audit rows that record a refused request itself: the only rows a rejected request may add. */
const REJECTION_AUDITS = new Set(['auth.login_failed', 'auth.mfa_failed', 'auth.password_change_failed']);

/** Cases per operation of the document: 35 operations × 60 ≈ 2,100 requests, about a minute on 2 cores. */
const RUNS_PER_OPERATION = Number(process.env.FUZZ_RUNS_PER_OPERATION ?? 60);

/**
 * Row counts of every table (partitioned tables counted once, through their parent), but the rate limiter's
 * buckets: counting a rejected request there is its job.
 */
async function rowCounts(db: Knex): Promise<Record<string, number>> {
  const { rows } = await db.raw<{ rows: { name: string }[] }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND c.relname NOT LIKE 'rate\\_limit%' ORDER BY 1`,
  );
  const sql = `SELECT json_build_object(${rows.map((r) => `'${r.name}', (SELECT count(*) FROM "${r.name}")`).join(', ')}) AS counts`;
  return (await db.raw<{ rows: { counts: Record<string, number> }[] }>(sql)).rows[0]!.counts;
}

void describe('every operation of the OpenAPI document under hostile input (real Temporal + Postgres)', () => {
  let app: TestRollcall;
  let srv: http.Server;
  let url: string;
  before(async () => {
    // A stack of its own: the device fuzz above leaves session workflows that write marks later.
    app = await startTestRollcall(undefined, {
      rateLimits: { devicePerMinute: 1_000_000, loginPerMinute: 10, deviceAuthFailuresPerMinute: 1_000_000 },
    });
    await seedDemoSchool(app.database.db);
    srv = http.createServer(app.app);
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  });
  after(async () => {
    srv?.close();
    await app?.stop();
  });

  void test(
    'when hostile values reach any path, query or body field, then no 5xx, answers as documented, and a rejected request writes nothing',
    { timeout: 600_000 },
    async (t) => {
      const doc = (await (await fetch(`${url}/openapi.json`)).json()) as OpenApiDocument;
      const conformance = new ResponseConformance(doc);
      const admin = await bearerFor(app.app, 'admin');
      const today = new Date().toISOString().slice(0, 10);
      const db = app.database.db;
      const failures: string[] = [];
      const statuses = new Map<number, number>();
      let cases = 0;
      let operations = 0;

      const send = async (method: string, r: HostileRequest, security: OpenApiOperationSecurity) => {
        const headers: Record<string, string> = {};
        if (r.credentials === 'wrong') headers.Authorization = 'Bearer not-a-key-nor-a-token';
        else if (r.credentials === 'right' && security === 'deviceKey')
          headers.Authorization = `Bearer ${KEY}`;
        else if (r.credentials === 'right' && security === 'userJwt') headers.Authorization = admin;
        if (r.body !== undefined) headers['Content-Type'] = 'application/json';
        const res = await fetch(`${url}${r.path}${queryString(r.query)}`, {
          method: method.toUpperCase(),
          headers,
          body: r.body === undefined ? undefined : JSON.stringify(r.body),
        });
        return { status: res.status, contentType: res.headers.get('content-type'), body: await res.text() };
      };

      for (const [path, item] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(item)) {
          operations++;
          const security = securityOf(op.security);
          await fc.assert(
            fc.asyncProperty(hostileRequests(path, op, today), async (r) => {
              cases++;
              const before = await rowCounts(db);
              const res = await send(method, r, security);
              statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
              const where = `${method.toUpperCase()} ${r.path.slice(0, 80)} [${r.slot}=${JSON.stringify(r.value.slice(0, 24))}] → ${res.status}`;
              if (res.status >= 500) failures.push(`${where}: ${res.body.slice(0, 200)}`);
              const problem = conformance.problem(method, path, res);
              if (problem) failures.push(`${where}: ${problem}`);
              if (res.status >= 400) {
                const after = await rowCounts(db);
                let changed = Object.keys(after).filter((k) => after[k] !== before[k]);
                // The one write a rejection must make: its own audit row (a failed sign-in or second factor).
                if (changed.includes('audit_log')) {
                  const added: string[] = await db('audit_log')
                    .orderBy('id', 'desc')
                    .limit(after.audit_log! - before.audit_log!)
                    .pluck('action');
                  if (added.every((a) => REJECTION_AUDITS.has(a)))
                    changed = changed.filter((k) => k !== 'audit_log');
                }
                if (changed.length)
                  failures.push(`${where}: rejected, yet rows changed in ${changed.join(', ')}`);
              } else if (method !== 'get' && !r.slot.startsWith('query.')) {
                // Query values of a JSON-body write may be unread (photo uploads read ?by= only for raw images).
                failures.push(`${where}: a write accepted a hostile value`);
              }
              // Failures are collected and reported together below, so every operation is exercised.
              return true;
            }),
            { numRuns: RUNS_PER_OPERATION, seed: SEED },
          );
        }
      }
      t.diagnostic(
        `route fuzz seed ${SEED}: ${cases} cases over ${operations} operations; statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
      );
      process.stderr.write(`route fuzz seed ${SEED}: ${cases} cases over ${operations} operations\n`);
      assert.deepEqual(failures.slice(0, 10), [], `seed ${SEED}`);
      assert.ok(operations >= 30, `only ${operations} operations in the document`);
    },
  );
});

type OpenApiOperationSecurity = 'deviceKey' | 'userJwt' | 'metricsToken' | 'none';

function securityOf(security: Record<string, string[]>[] | undefined): OpenApiOperationSecurity {
  const names = (security ?? []).flatMap((s) => Object.keys(s));
  return (names.find((n) => n === 'deviceKey' || n === 'userJwt' || n === 'metricsToken') ??
    'none') as OpenApiOperationSecurity;
}
