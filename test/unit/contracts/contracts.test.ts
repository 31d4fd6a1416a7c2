/**
 * The edge/server contracts (lib/contracts/): one validation of a device config for the API and the
 * workflow, every config field documented, answers tolerant of fields a newer server adds, config from
 * older code cleaned of the defaults it filled in, and an edge that imports no server internals.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { z } from 'zod';
import {
  applyConfigPatch,
  assertValidConfigPatch,
  DEVICE_CONFIG_KEYS,
  deviceConfigPatchSchema,
  deviceConfigSchema,
  heartbeatAnswerSchema,
  scheduleAnswerSchema,
  text,
  toText,
} from '../../../lib/contracts';
import { withoutLegacyDefaults } from '../../../workflows/deviceMessages';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

void describe('device config contract', () => {
  void test('when a patch is checked by the API schema and by the workflow validator, then both accept and refuse the same patches', () => {
    const cases: [unknown, boolean][] = [
      [{ recognitionThreshold: 0.62 }, true],
      [{ recognitionThreshold: null, frameSkip: 0 }, true],
      [{ recognitionVotes: 4, recognitionMinMargin: 0.05, fps: 10 }, true],
      [{ frameSkip: 1.5 }, false],
      [{ recognitionVotes: 0 }, false],
      [{ recognitionThreshold: 1.5 }, false],
      [{ fps: '8' }, false],
      [{ brightness: 3 }, false],
      [{}, false],
      [null, false],
    ];
    for (const [patch, valid] of cases) {
      const api = deviceConfigPatchSchema.safeParse(patch).success;
      let workflow = true;
      try {
        assertValidConfigPatch(patch);
      } catch {
        workflow = false;
      }
      assert.deepEqual([api, workflow], [valid, valid], JSON.stringify(patch));
    }
  });

  void test('when a patch sets and clears fields, then the config holds exactly the explicit settings', () => {
    const config = applyConfigPatch(
      { recognitionThreshold: 0.6, fps: 10 },
      { recognitionThreshold: null, frameSkip: 4 },
    );
    assert.deepEqual(config, { fps: 10, frameSkip: 4 });
  });

  void test('when the schema is published, then every config field says what it means and what absent means', () => {
    const json = z.toJSONSchema(deviceConfigSchema) as {
      properties: Record<string, { description?: string }>;
    };
    for (const key of DEVICE_CONFIG_KEYS)
      assert.match(json.properties[key]?.description ?? '', /Absent: /, key);
    assert.match(
      json.properties.frameSkip!.description!,
      /skipped between two analysed frames: 0 analyses every frame/,
    );
  });

  void test('when an answer carries fields this device does not know, then it still parses (a newer server)', () => {
    const answer = heartbeatAnswerSchema.parse({
      config: { recognitionThreshold: 0.6, futureKnob: 3 },
      configVersion: 2,
      serverNote: 'x',
    });
    assert.deepEqual(answer, { config: { recognitionThreshold: 0.6 }, configVersion: 2 });
    assert.equal(
      scheduleAnswerSchema.safeParse({ room_id: 'R1', server_time: 'yesterday', current: null, next: null })
        .success,
      false,
    );
  });

  void test('when a config comes from older code, then the defaults it filled in are removed and real settings stay', () => {
    assert.deepEqual(withoutLegacyDefaults({ recognitionThreshold: 0.5, frameSkip: 2, fps: 8 }), {});
    assert.deepEqual(withoutLegacyDefaults({ recognitionThreshold: 0.62, frameSkip: 2, fps: 10 }), {
      recognitionThreshold: 0.62,
      fps: 10,
    });
  });
});

void describe('edge imports', () => {
  /** Every repository file an entry point reaches through relative imports. */
  function reachable(entry: string): Set<string> {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = fs.readFileSync(file, 'utf8');
      for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const base = path.resolve(path.dirname(file), spec!);
        const target = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
        if (target) visit(target);
      }
    };
    visit(entry);
    return seen;
  }

  void test('when the edge app is followed through its imports, then it reaches contracts and models but no server code', () => {
    const files = [...reachable(path.join(repoRoot, 'edge', 'main.ts'))].map((f) =>
      path.relative(repoRoot, f),
    );
    const server = files.filter((f) => /^(api|workflows|activities|workers|migrations)\//.test(f));
    const lib = files.filter((f) => f.startsWith('lib/') && !f.startsWith('lib/contracts/'));
    assert.deepEqual([...server, ...lib], []);
    assert.ok(files.includes('lib/contracts/index.ts'));
  });
});

void describe('the string rule, from both sides', () => {
  void test('when a device turns an arbitrary error message into a reason with toText, then text() accepts it', () => {
    const rule = text(20, { allowEmpty: true });
    const refused = ['bad\u0000byte', 'line one\nline two\u0085', 'x\ud800y', 'é'.repeat(30), '\u0007'];
    for (const value of refused) assert.equal(rule.safeParse(value).success, false, JSON.stringify(value));
    for (const value of [...refused, '  e\u0301cole  ']) {
      const sent = toText(value, 20);
      assert.ok(rule.safeParse(sent).success, `toText(${JSON.stringify(value)}) = ${JSON.stringify(sent)}`);
    }
    assert.equal(toText('bad\u0000byte', 20), 'bad byte');
    assert.equal(toText('  e\u0301cole  ', 20), 'école');
    assert.equal([...toText('é'.repeat(30), 20)].length, 20);
  });
});
