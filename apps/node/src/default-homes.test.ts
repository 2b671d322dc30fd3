/**
 * Goal: every default of the node's settings that the domain also knows has one home, the domain
 * package's named constant. Method: for each such setting, the `--help` text, the parsed
 * configuration with nothing given, and the constant must agree; a default written again as a
 * literal (the old `'3'` for N, `'3600000'` for the grace) would drift from the constant and fail
 * here. The coordinating node's tuning settings are checked against `DEFAULT_COORDINATOR_CONFIG`,
 * which itself reads the quorum, core and transport constants.
 */
import { formatHelp, type Setting } from '@dkv/app-config';
import { DEFAULT_COORDINATOR_CONFIG } from '@dkv/coordination';
import { DEFAULT_MAX_CLOCK_OFFSET_MS, DEFAULT_MAX_VALUE_BYTES, DEFAULT_REPLICATION_FACTOR, DEFAULT_TOMBSTONE_GRACE_MS } from '@dkv/core';
import { DEFAULT_GOSSIPER_CONFIG } from '@dkv/membership';
import { DEFAULT_HEDGE_MAX_DELAY_MS, DEFAULT_HEDGE_MIN_DELAY_MS } from '@dkv/quorum';
import { DEFAULT_ANTI_ENTROPY_CONFIG, DEFAULT_RANGE_SYNC_CONFIG } from '@dkv/replication';
import { FRAME_OVERHEAD_BYTES } from '@dkv/transport';
import { describe, expect, it } from 'vitest';
import { NODE_SETTINGS, parseNodeConfig, type NodeConfig } from './config.js';

const node = parseNodeConfig({ id: 'n1' }, {});
const coordinating = parseNodeConfig({ id: 'n1', coordinate: 'true' }, {});
const help = formatHelp('dkv node', NODE_SETTINGS);

describe('the node settings take their defaults from the domain constants', () => {
  const cases: Array<[keyof typeof NODE_SETTINGS, number, (config: NodeConfig) => unknown]> = [
    ['n', DEFAULT_REPLICATION_FACTOR, (c) => c.n],
    ['tombstoneGraceMs', DEFAULT_TOMBSTONE_GRACE_MS, (c) => c.tombstoneGraceMs],
    ['maxClockOffsetMs', DEFAULT_MAX_CLOCK_OFFSET_MS, (c) => c.maxClockOffsetMs],
    ['gossipIntervalMs', DEFAULT_GOSSIPER_CONFIG.intervalMs, (c) => c.gossipIntervalMs],
    ['syncBytesPerSecond', DEFAULT_RANGE_SYNC_CONFIG.bytesPerSecond, (c) => c.syncBytesPerSecond],
    ['antiEntropyIntervalMs', DEFAULT_ANTI_ENTROPY_CONFIG.intervalMs, (c) => c.antiEntropyIntervalMs],
    ['antiEntropyBytesPerSecond', DEFAULT_ANTI_ENTROPY_CONFIG.bytesPerSecond, (c) => c.antiEntropyBytesPerSecond],
    ['maxValueBytes', DEFAULT_MAX_VALUE_BYTES, (c) => c.coordinator?.maxValueBytes],
    ['hedgeMinDelayMs', DEFAULT_HEDGE_MIN_DELAY_MS, (c) => c.coordinator?.hedgeMinDelayMs],
    ['hedgeMaxDelayMs', DEFAULT_HEDGE_MAX_DELAY_MS, (c) => c.coordinator?.hedgeMaxDelayMs],
  ];
  it.each(cases)('%s: --help, the parsed default and the constant (%d) agree', (name, constant, read) => {
    const setting: Setting<unknown> = NODE_SETTINGS[name];
    expect(setting.defaultValue).toBe(String(constant));
    expect(help).toMatch(new RegExp(`--${setting.flag} .*\\[default ${constant}\\]`));
    expect(read(coordinating)).toBe(constant);
  });

  it('a coordinating node runs the coordination core defaults for every tuning setting it does not set', () => {
    const { nodeId: _nodeId, localReplicaId: _local, ...defaults } = DEFAULT_COORDINATOR_CONFIG;
    expect(coordinating.coordinator).toMatchObject(defaults);
  });

  it('the default body limit leaves a frame of room above the default value limit', () => {
    expect(node.bodyLimitBytes).toBeGreaterThanOrEqual(DEFAULT_MAX_VALUE_BYTES + FRAME_OVERHEAD_BYTES);
  });
});
