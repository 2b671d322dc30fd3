// Goal: the exposition checker finds each naming problem it claims to (so a test that finds none in
// a real /metrics means something) and passes well-formed text. Method: a table of small
// expositions, each breaking one rule, with the problem expected.
import { describe, expect, it } from 'vitest';
import { lintExposition, parseExposition } from './prometheus-lint.js';

const GOOD = [
  '# HELP dkv_requests_total Requests answered',
  '# TYPE dkv_requests_total counter',
  'dkv_requests_total{operation="get",status="200"} 4',
  '# HELP dkv_request_duration_seconds Time to answer',
  '# TYPE dkv_request_duration_seconds histogram',
  'dkv_request_duration_seconds_bucket{le="0.1",operation="get"} 1',
  'dkv_request_duration_seconds_bucket{le="+Inf",operation="get"} 1',
  'dkv_request_duration_seconds_sum{operation="get"} 0.01',
  'dkv_request_duration_seconds_count{operation="get"} 1',
  '# HELP dkv_storage_bytes Bytes held',
  '# TYPE dkv_storage_bytes gauge',
  'dkv_storage_bytes{node="n1"} 12',
  '# HELP dkv_sync_received_bytes_total Bytes streamed',
  '# TYPE dkv_sync_received_bytes_total counter',
  'dkv_sync_received_bytes_total 0',
].join('\n');

function one(name: string, type: string, sample: string): string {
  return `# HELP ${name} help\n# TYPE ${name} ${type}\n${sample}\n`;
}

describe('lintExposition', () => {
  it('passes a well-formed exposition, and parses its families', () => {
    expect(lintExposition(GOOD)).toEqual([]);
    expect(parseExposition(GOOD).map((family) => [family.name, family.type, family.samples.length])).toEqual([
      ['dkv_requests_total', 'counter', 1],
      ['dkv_request_duration_seconds', 'histogram', 4],
      ['dkv_storage_bytes', 'gauge', 1],
      ['dkv_sync_received_bytes_total', 'counter', 1],
    ]);
  });

  it.each([
    { text: one('dkv_requests', 'counter', 'dkv_requests 1'), problem: "dkv_requests: a counter's name ends in _total" },
    {
      text: one('dkv_depth_total', 'gauge', 'dkv_depth_total 1'),
      problem: 'dkv_depth_total: only counters end in _total (this is a gauge)',
    },
    { text: one('dkv_clock_offset_ms', 'gauge', 'dkv_clock_offset_ms 1'), problem: 'dkv_clock_offset_ms: use the base unit, seconds' },
    { text: one('dkv_value_kb', 'gauge', 'dkv_value_kb 1'), problem: 'dkv_value_kb: use the base unit, bytes' },
    {
      text: one('dkv_bytes_received_total', 'counter', 'dkv_bytes_received_total 1'),
      problem: 'dkv_bytes_received_total: the unit (bytes) is the last part of the name, before _total',
    },
    {
      text: one('dkv_hits_total', 'counter', 'dkv_hits_total{key="session:1"} 1'),
      problem: 'dkv_hits_total: label key would carry keys, values or secrets',
    },
    { text: one('dkv_hits_total', 'counter', 'dkv_hits_total{__x="a"} 1'), problem: 'dkv_hits_total: label __x is not a valid label name' },
    { text: '# TYPE dkv_up gauge\ndkv_up 1\n', problem: 'dkv_up: no # HELP text' },
    { text: '# HELP dkv_up up\ndkv_up 1\n', problem: 'dkv_up: no # TYPE line' },
    { text: one('dkvRequests_total', 'counter', 'dkvRequests_total 1'), problem: 'dkvRequests_total: names are snake_case' },
    {
      text: one('dkv_latency_seconds', 'histogram', 'dkv_latency_seconds_bucket 1'),
      problem: 'dkv_latency_seconds: a _bucket series without le',
    },
  ])('finds: $problem', ({ text, problem }) => {
    expect(lintExposition(text)).toContain(problem);
  });
});
