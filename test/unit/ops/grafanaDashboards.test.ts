/**
 * deploy/grafana: every dashboard loads as Grafana JSON (uid, title, panels with unique ids inside the
 * 24-column grid, the provisioned Prometheus data source), every panel query reads only metrics Rollcall
 * defines, and promtool parses every query (handed to it as recording rules, Grafana's variables filled in).
 * Docker-compose provisions the data source and the dashboards folder.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { findPromtool, metricNamesIn, registeredMetricNames } from '../../support/promql';

const exec = promisify(execFile);
const root = path.resolve(__dirname, '..', '..', '..');
const dashboardsDir = path.join(root, 'deploy', 'grafana', 'dashboards');

interface Target {
  refId: string;
  expr: string;
  datasource?: { uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating?: { list: { name: string }[] };
}

const files = fs.readdirSync(dashboardsDir).filter((f) => f.endsWith('.json'));
const dashboards = files.map((f) => ({
  file: f,
  dash: JSON.parse(fs.readFileSync(path.join(dashboardsDir, f), 'utf8')) as Dashboard,
}));

/** A Grafana query as Prometheus would see it: built-in intervals and template variables filled in. */
function concrete(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?(\w+)\}?/g, '.+');
}

void describe('Grafana dashboards', () => {
  void test('when the dashboards are listed, then attendance flow, devices, API, Temporal and backups are all there', () => {
    const titles = dashboards.map((d) => d.dash.title).join(' | ');
    for (const topic of ['Attendance', 'Devices', 'API', 'Temporal', 'Backups']) {
      assert.match(titles, new RegExp(topic), `no dashboard about ${topic}`);
    }
  });

  void test('when each dashboard is read, then it has a unique uid, panels with unique ids in the grid, and the provisioned data source', () => {
    const provisioned = fs.readFileSync(
      path.join(root, 'deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'),
      'utf8',
    );
    const uid = /uid: (\S+)/.exec(provisioned)?.[1];
    assert.equal(uid, 'prometheus');
    const uids = new Set<string>();
    for (const { file, dash } of dashboards) {
      assert.match(dash.uid, /^[a-z0-9-]{1,40}$/, `${file}: uid`);
      assert.ok(!uids.has(dash.uid), `${file}: duplicate uid ${dash.uid}`);
      uids.add(dash.uid);
      assert.ok(dash.title && dash.schemaVersion >= 30, `${file}: title and schemaVersion`);
      assert.ok(dash.panels.length > 0, `${file}: no panels`);
      const ids = new Set<number>();
      for (const p of dash.panels) {
        assert.ok(!ids.has(p.id), `${file}: duplicate panel id ${p.id}`);
        ids.add(p.id);
        const g = p.gridPos;
        assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `${file}: ${p.title} grid`);
        assert.equal(p.datasource?.uid, uid, `${file}: ${p.title} data source`);
        assert.ok((p.targets ?? []).length > 0, `${file}: ${p.title} has no query`);
        for (const t of p.targets ?? []) {
          assert.ok(t.expr.trim().length > 0, `${file}: ${p.title} empty query`);
          const vars = [...t.expr.matchAll(/\$(\w+)/g)].map((m) => m[1]).filter((v) => !v?.startsWith('__'));
          const defined = new Set((dash.templating?.list ?? []).map((v) => v.name));
          for (const v of vars)
            assert.ok(defined.has(v as string), `${file}: ${p.title} uses undefined $${v}`);
        }
      }
    }
  });

  void test('when a panel queries a metric, then Rollcall defines it', () => {
    const known = registeredMetricNames();
    const unknown = dashboards.flatMap(({ file, dash }) =>
      dash.panels.flatMap((p) =>
        (p.targets ?? []).flatMap((t) =>
          metricNamesIn(concrete(t.expr))
            .filter((n) => !known.has(n))
            .map((n) => `${file} / ${p.title}: ${n}`),
        ),
      ),
    );
    assert.deepEqual(unknown, []);
  });

  void test('when promtool parses every panel query, then all are valid PromQL', async () => {
    const rules = dashboards.flatMap(({ dash }) =>
      dash.panels.flatMap((p) =>
        (p.targets ?? []).map((t, i) => ({
          record: `grafana:${dash.uid.replace(/-/g, '_')}:${p.id}:${i}`,
          expr: concrete(t.expr),
        })),
      ),
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-grafana-'));
    try {
      const file = path.join(dir, 'queries.yml');
      // JSON is YAML: no quoting questions.
      fs.writeFileSync(file, JSON.stringify({ groups: [{ name: 'grafana', rules }] }));
      const { stdout } = await exec(findPromtool(), ['check', 'rules', file]);
      assert.match(stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('when docker-compose starts Grafana and Prometheus, then it provisions these dashboards, the data source and the rules', () => {
    const compose = fs.readFileSync(path.join(root, 'deploy', 'docker-compose.yml'), 'utf8');
    assert.match(compose, /\.\/grafana\/provisioning:\/etc\/grafana\/provisioning:ro/);
    assert.match(compose, /\.\/grafana\/dashboards:\/etc\/grafana\/dashboards:ro/);
    assert.match(compose, /\.\/prometheus\/rules:\/etc\/prometheus\/rules:ro/);
    const provider = fs.readFileSync(
      path.join(root, 'deploy', 'grafana', 'provisioning', 'dashboards', 'rollcall.yml'),
      'utf8',
    );
    assert.match(provider, /path: \/etc\/grafana\/dashboards/);
  });

  void test('when promtool checks the compose Prometheus configuration, then it is valid', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-prometheus-'));
    try {
      // The token file exists only inside the container: point the check at a stand-in.
      const token = path.join(dir, 'metrics_token');
      fs.writeFileSync(token, 'x', { mode: 0o600 });
      const cfg = fs
        .readFileSync(path.join(root, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')
        .replaceAll('/run/secrets/metrics_token', token)
        .replace('/etc/prometheus/rules/*.yml', path.join(root, 'deploy', 'prometheus', 'rules', '*.yml'));
      fs.writeFileSync(path.join(dir, 'prometheus.yml'), cfg);
      const { stdout } = await exec(findPromtool(), ['check', 'config', path.join(dir, 'prometheus.yml')]);
      assert.match(stdout, /SUCCESS/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
