// Goal: the metrics of real dkv processes follow Prometheus's naming rules (issue #14: base
// units, `_total` counters, no key-valued labels; promtool's checks), and the Grafana dashboard and
// alert rules in deploy/ only use metric names the processes actually export.
// Method: `dkv cluster up --nodes 3` from the built CLI (e2e-support), some traffic, then each
// /metrics (the coordinator's and a storage node's) is held to `lintExposition` (@dkv/testkit, an
// equivalent of `promtool check metrics` written as code, tested on its own); the PromQL of
// deploy/prometheus/alerts.yml and deploy/grafana/dkv-dashboard.json is searched for metric names,
// each of which must be among the series scraped. Every wait is bounded; afterAll stops every
// process by pid.
import { readFileSync } from 'node:fs';
import { lintExposition, parseExposition } from '@dkv/testkit';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses } from './e2e-support.js';

const DEADLINE_MS = 45_000;
const ROOT = new URL('../../../', import.meta.url);
const cli = new CliProcesses({ ...process.env, DKV_VNODES: '64', DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);
/**
 * prom-client's default metrics that break the rules: gauges named `_total`. They are the
 * library's (Node's active handles, requests and resources), kept because dashboards know them.
 */
const THIRD_PARTY_EXCEPTIONS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
/** Series Prometheus itself records for every scrape target; no process exports them. */
const PROMETHEUS_SERIES = new Set(['up']);
const expositions = new Map<string, string>();

beforeAll(async () => {
  const url = await cli.readyUrl(cli.start(['cluster', 'up', '--nodes', '3', '--port', '0']));
  for (let i = 0; i < 20; i += 1) {
    await fetch(`${url}/v1/kv/metric-key-${i}`, { method: 'PUT', body: 'v' });
    await fetch(`${url}/v1/kv/metric-key-${i}`);
  }
  await fetch(`${url}/v1/kv/missing`);
  expositions.set('coordinator', await (await fetch(`${url}/metrics`)).text());
  expositions.set('storage node', await (await fetch(`http://${cli.announced.get('n1')!.address}/metrics`)).text());
}, DEADLINE_MS * 2);

afterAll(async () => {
  await cli.stopAll();
});

/** Every series name the processes export (`_bucket`, `_sum` and `_count` of histograms included). */
function exportedSeries(): Set<string> {
  const names = new Set<string>();
  for (const text of expositions.values()) {
    for (const family of parseExposition(text)) {
      names.add(family.name);
      for (const sample of family.samples) names.add(sample.series);
    }
  }
  return names;
}

/** The metric names a PromQL expression uses: its identifiers but functions, aggregations, keywords, label names and durations. */
function metricNamesIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}');
  const names = [...withoutStrings.matchAll(/\b([a-z_:][a-z0-9_:]*)\b(?!\s*\()/g)].map((match) => match[1]!);
  const promqlWords = new Set([
    'sum',
    'min',
    'max',
    'avg',
    'count',
    'group',
    'stddev',
    'stdvar',
    'topk',
    'bottomk',
    'quantile',
    'count_values',
    'by',
    'without',
    'on',
    'ignoring',
    'group_left',
    'group_right',
    'and',
    'or',
    'unless',
    'bool',
    'offset',
    'le',
    'operation',
    'status',
    'instance',
    'node',
    'coordinator',
    'job',
    'm',
    's',
    'h',
    'd',
  ]);
  return names.filter((name) => !promqlWords.has(name) && !/^\d/.test(name));
}

describe('metric names of real processes', () => {
  it.each(['coordinator', 'storage node'])("the %s's /metrics passes the naming rules", (process) => {
    const text = expositions.get(process)!;
    expect(text).toContain('dkv_');
    const problems = lintExposition(text).filter((problem) => !THIRD_PARTY_EXCEPTIONS.some((name) => problem.startsWith(`${name}:`)));
    expect(problems).toEqual([]);
  });

  it('exports the metrics the README and deploy/ rely on, with their types', () => {
    const types = new Map<string, string | null>();
    for (const text of expositions.values()) for (const family of parseExposition(text)) types.set(family.name, family.type);
    expect(types.get('dkv_requests_total')).toBe('counter');
    expect(types.get('dkv_request_duration_seconds')).toBe('histogram');
    expect(types.get('dkv_clock_offset_seconds')).toBe('gauge');
    expect(types.get('dkv_cluster_nodes')).toBe('gauge');
    expect(types.get('dkv_sync_received_bytes_total')).toBe('counter');
    expect(types.get('dkv_storage_log_write_failures_total')).toBe('counter');
    expect(expositions.get('coordinator')).toMatch(/^dkv_cluster_nodes\{status="up",coordinator="c1"\} 3$/m);
  });
});

describe('deploy/ uses only exported metrics', () => {
  it('every alert rule expression names exported metrics only', () => {
    const rules = parse(readFileSync(new URL('deploy/prometheus/alerts.yml', ROOT), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
    };
    const exported = exportedSeries();
    const alerts = rules.groups.flatMap((group) => group.rules);
    expect(alerts.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining(['DkvQuorumFailures', 'DkvHintsBacklog', 'DkvStorageNodeDown', 'DkvClockOffset', 'DkvDiskWriteFailures']),
    );
    const unknown = alerts.flatMap((rule) =>
      metricNamesIn(rule.expr)
        .filter((name) => !exported.has(name) && !PROMETHEUS_SERIES.has(name))
        .map((name) => `${rule.alert}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it('every Grafana panel query names exported metrics only', () => {
    const dashboard = JSON.parse(readFileSync(new URL('deploy/grafana/dkv-dashboard.json', ROOT), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    const exported = exportedSeries();
    const queries = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, expr: target.expr })));
    expect(queries.length).toBeGreaterThan(10);
    const unknown = queries.flatMap((query) =>
      metricNamesIn(query.expr)
        .filter((name) => !exported.has(name) && !PROMETHEUS_SERIES.has(name))
        .map((name) => `${query.panel}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it('the name finder sees a name that is not exported (the checks above can fail)', () => {
    expect(metricNamesIn('sum by (operation) (rate(dkv_requests_total{status=~"5.."}[1m])) / dkv_no_such_metric > 0.5')).toEqual([
      'dkv_requests_total',
      'dkv_no_such_metric',
    ]);
  });
});
