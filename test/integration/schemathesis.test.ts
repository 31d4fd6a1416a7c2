/**
 * Schemathesis, an independent client, against a started stack (real Postgres and Temporal, the demo
 * school): it reads /openapi.json and generates requests for every operation (examples, coverage, fuzzing,
 * then the stateful phase that follows the document's links), checking that no answer is a 5xx and that
 * status, content type and body are what the document says. Bounded (--max-examples, --max-time) so the
 * suite stays within CI's time; SCHEMATHESIS_MAX_EXAMPLES raises it for a deeper run, SCHEMATHESIS_VERBOSE=1
 * prints Schemathesis's own report.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DEMO_DEVICE_KEYS, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';
import { ensureSchemathesis, run, type SchemathesisInstall } from '../support/schemathesis';

const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
].join(',');
const MAX_EXAMPLES = Number(process.env.SCHEMATHESIS_MAX_EXAMPLES ?? 25);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

interface Pass {
  name: string;
  authorization: () => Promise<string>;
  filter: string[];
  maxTimeSeconds: number;
}

let install: SchemathesisInstall;
let rc: TestRollcall | undefined;
let server: http.Server | undefined;
let base: string;

void describe('Schemathesis against a started stack', () => {
  before(async () => {
    install = await ensureSchemathesis();
    if (!install.ok) return;
    // Schemathesis is the client here, not an abuser: the limits are tested in security.test.ts.
    rc = await startTestRollcall(undefined, {
      rateLimits: { devicePerMinute: 1_000_000, loginPerMinute: 10, deviceAuthFailuresPerMinute: 1_000_000 },
    });
    await seedDemoSchool(rc.database.db);
    server = http.createServer(rc.app);
    await new Promise<void>((res) => server!.listen(0, '127.0.0.1', res));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.close();
    await rc?.stop();
  });

  void test(
    'when Schemathesis drives every operation from /openapi.json, then no 5xx and no status, content-type or schema nonconformance',
    { timeout: 420_000 },
    async (t) => {
      if (!install.ok) {
        // Only an unreachable index excuses the run; a broken install is a failure.
        assert.ok(install.unreachable, `installing schemathesis failed: ${install.why}`);
        t.skip(`pip cannot reach PyPI to install schemathesis: ${install.why.split('\n').pop()}`);
        return;
      }
      const { bin } = install;
      // Device routes first: the people pass (an admin) may rotate or decommission the demo device.
      const passes: Pass[] = [
        {
          name: 'device',
          authorization: async () => `Bearer ${DEMO_DEVICE_KEYS['pi-r100']}`,
          filter: ['--include-tag', 'device'],
          maxTimeSeconds: 40,
        },
        {
          name: 'people, admin and ops',
          authorization: () => bearerFor(rc!.app, 'admin'),
          filter: ['--exclude-tag', 'device'],
          maxTimeSeconds: 80,
        },
      ];
      const failures: string[] = [];
      for (const pass of passes) {
        const res = await run(bin, [
          'run',
          `${base}/openapi.json`,
          '--checks',
          CHECKS,
          '--phases',
          'examples,coverage,fuzzing,stateful',
          '--max-examples',
          String(MAX_EXAMPLES),
          '--max-time',
          String(pass.maxTimeSeconds),
          '--seed',
          String(SEED),
          '--workers',
          '1',
          '--request-timeout',
          '20',
          '--suppress-health-check',
          'all',
          '--header',
          `Authorization: ${await pass.authorization()}`,
          ...pass.filter,
        ]);
        if (process.env.SCHEMATHESIS_VERBOSE) process.stderr.write(res.stdout);
        const summary = summarise(res.stdout);
        t.diagnostic(`schemathesis (${pass.name}, seed ${SEED}): ${summary}`);
        process.stderr.write(`schemathesis (${pass.name}, seed ${SEED}): ${summary}\n`);
        if (res.code !== 0)
          failures.push(
            `${pass.name}: exit ${res.code}\n${res.stdout.slice(-6000)}\n${res.stderr.slice(-2000)}`,
          );
      }
      assert.deepEqual(failures, []);
    },
  );
});

/** Schemathesis's counts: operations tested, test cases, stateful scenarios. */
function summarise(stdout: string): string {
  const tested = /Tested:\s*(\d+)/.exec(stdout)?.[1] ?? '?';
  const cases = /Test cases:\s*\n\s*([^\n]+)/.exec(stdout)?.[1]?.trim() ?? 'no count';
  const scenarios = /Scenarios:\s*(\d+)/.exec(stdout)?.[1] ?? '0';
  return `${tested} operations, test cases ${cases}, ${scenarios} stateful scenarios`;
}
