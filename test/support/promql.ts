/**
 * Helpers of the operations tests: find promtool (Debian's `prometheus` package, installed by .ci/run, or
 * PROMTOOL_PATH), list the metric names an expression uses, and the names Rollcall's registry defines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { metricsRegistry } from '../../lib/metrics';

export function findPromtool(): string {
  const candidates = [
    process.env.PROMTOOL_PATH,
    ...(process.env.PATH ?? '').split(path.delimiter).map((d) => (d ? path.join(d, 'promtool') : undefined)),
    '/usr/bin/promtool',
  ];
  for (const c of candidates) {
    if (c && fs.existsSync(c)) return c;
  }
  throw new Error(
    'promtool not found: `apt-get install --no-install-recommends prometheus` (.ci/run does) or set PROMTOOL_PATH',
  );
}

const PROMQL_WORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'rate',
  'irate',
  'increase',
  'delta',
  'time',
  'abs',
  'absent',
  'histogram_quantile',
  'topk',
  'bottomk',
  'clamp_min',
  'clamp_max',
  'le',
  'offset',
  'bool',
  'vector',
  'scalar',
  'label_replace',
  'sort',
  'sort_desc',
  'max_over_time',
  'min_over_time',
  'avg_over_time',
  'deriv',
  'changes',
  'round',
  'count_over_time',
  'last_over_time',
  'quantile',
  'inf',
  'nan',
  'humanize',
  'humanizePercentage',
]);

/**
 * Metric names in a PromQL expression: identifiers not inside a label matcher or string, not a function or
 * keyword, not a label name in `by (...)`. Good enough for Rollcall's own rules and dashboards, which the
 * tests also hand to promtool for a real parse.
 */
export function metricNamesIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/'(?:[^'\\]|\\.)*'/g, "''");
  const withoutMatchers = withoutStrings.replace(/\{[^}]*\}/g, '{}');
  const withoutGroupings = withoutMatchers.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g,
    '$1()',
  );
  const withoutDurations = withoutGroupings.replace(/\[[^\]]*\]/g, '[]');
  const names = new Set<string>();
  for (const m of withoutDurations.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]|\s*\()/g)) {
    const name = m[1] as string;
    if (!PROMQL_WORDS.has(name) && !/^\d/.test(name)) names.add(name);
  }
  return [...names];
}

/** Names Rollcall's registry serves, with the _bucket/_count/_sum series of histograms and summaries. */
export function registeredMetricNames(): Set<string> {
  const names = new Set<string>(['up', 'scrape_duration_seconds']);
  for (const metric of metricsRegistry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_count', '_sum']) names.add(name + s);
    if (type === 'summary') for (const s of ['_count', '_sum']) names.add(name + s);
  }
  return names;
}
