/**
 * deploy/prometheus: the alert rules parse (`promtool check rules`), their unit tests pass (`promtool test
 * rules`), every alert has a firing case in those tests and a section in deploy/RUNBOOK.md, and every metric
 * a rule reads is one Rollcall's registry defines (a renamed metric would otherwise leave an alert silent
 * forever).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { findPromtool, metricNamesIn, registeredMetricNames } from '../../support/promql';

const exec = promisify(execFile);
const root = path.resolve(__dirname, '..', '..', '..');
const rulesFile = path.join(root, 'deploy', 'prometheus', 'rules', 'rollcall.rules.yml');
const testsFile = path.join(root, 'deploy', 'prometheus', 'tests', 'rollcall.test.yml');

interface Rule {
  alert: string;
  expr: string;
}

/** The rules file's alerts (its YAML is regular: `- alert:` then `expr:` as a scalar or a `|` block). */
function alerts(): Rule[] {
  const lines = fs.readFileSync(rulesFile, 'utf8').split('\n');
  const out: Rule[] = [];
  for (let i = 0; i < lines.length; i++) {
    const a = /^\s*- alert: (\w+)\s*$/.exec(lines[i] as string);
    if (!a) continue;
    let j = i + 1;
    while (j < lines.length && !/^\s*expr:/.test(lines[j] as string)) j++;
    const first = (lines[j] as string).replace(/^\s*expr:\s*/, '');
    let expr = first;
    if (first === '|') {
      const indent = /^(\s*)/.exec(lines[j + 1] as string)?.[1]?.length ?? 0;
      const body: string[] = [];
      for (let k = j + 1; k < lines.length; k++) {
        const l = lines[k] as string;
        if (l.trim() !== '' && (/^(\s*)/.exec(l)?.[1]?.length ?? 0) < indent) break;
        body.push(l.trim());
      }
      expr = body.join(' ');
    }
    out.push({ alert: a[1] as string, expr });
  }
  return out;
}

void describe('Prometheus alert rules', () => {
  const promtool = findPromtool();

  void test('when promtool checks the rules file, then it parses', async () => {
    const { stdout } = await exec(promtool, ['check', 'rules', rulesFile]);
    assert.match(stdout, /SUCCESS: \d+ rules found/);
  });

  void test('when promtool runs the rule unit tests, then every case passes', async () => {
    const result = await exec(promtool, ['test', 'rules', testsFile], { cwd: path.dirname(testsFile) }).catch(
      (err: { stdout?: string; stderr?: string }) => {
        throw new Error(`promtool test rules failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      },
    );
    assert.match(result.stdout, /SUCCESS/);
  });

  void test('when the rules are listed, then every seed alert is among them and each has a firing case', () => {
    const names = alerts().map((a) => a.alert);
    for (const seed of [
      'DeviceOffline',
      'DeviceCpuHot',
      'ApiLatencyHigh',
      'DbConnectionsHigh',
      'DeviceQueueBacklog',
      'RecognitionAccuracyLow',
      'BackupTooOld',
      'WalArchiveLagging',
      'ScheduleMissed',
      'TaskQueueBacklog',
      'ApiErrorRate',
      'DeviceNeverSeen',
      'DeviceClockSkew',
    ]) {
      assert.ok(names.includes(seed), `no alert ${seed}`);
    }
    // A firing case: an `alertname: X` whose exp_alerts list is not empty.
    const testText = fs.readFileSync(testsFile, 'utf8');
    const firing = new Set(
      [...testText.matchAll(/alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels/g)].map((m) => m[1]),
    );
    const missing = names.filter((n) => !firing.has(n));
    assert.deepEqual(missing, [], `alerts without a firing case in ${path.basename(testsFile)}`);
  });

  void test('when an alert names its runbook, then deploy/RUNBOOK.md has that section', () => {
    const runbook = fs.readFileSync(path.join(root, 'deploy', 'RUNBOOK.md'), 'utf8');
    // GitHub's anchors: the heading's text lower-cased, spaces to dashes, punctuation dropped.
    const anchors = new Set(
      [...runbook.matchAll(/^#{2,4} (.+)$/gm)].map((m) =>
        (m[1] as string)
          .toLowerCase()
          .replace(/[^\w\- ]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    const text = fs.readFileSync(rulesFile, 'utf8');
    const targets = [...text.matchAll(/runbook: deploy\/RUNBOOK\.md#([\w-]+)/g)].map((m) => m[1] as string);
    assert.ok(targets.length >= alerts().length);
    assert.deepEqual(
      targets.filter((t) => !anchors.has(t)),
      [],
    );
  });

  void test('when a rule reads a metric, then Rollcall defines it', () => {
    const known = registeredMetricNames();
    const unknown = alerts().flatMap((a) =>
      metricNamesIn(a.expr)
        .filter((n) => !known.has(n))
        .map((n) => `${a.alert}: ${n}`),
    );
    assert.deepEqual(unknown, []);
  });
});
