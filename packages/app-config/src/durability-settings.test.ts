// Goal: --fsync, --data-dir and --merge-min-bytes parse as the README says (always, never, an
// interval in ms; a default of 100 ms; no data dir by default; merges from 64 MiB by default) and a
// bad value names the setting and what is allowed.
// Method: table cases through parseSettings.
import { describe, expect, it } from 'vitest';
import { DURABILITY_SETTINGS } from './durability-settings.js';
import { ConfigError, parseSettings } from './settings.js';

describe('DURABILITY_SETTINGS', () => {
  it.each([
    ['always', { mode: 'always' }],
    ['never', { mode: 'never' }],
    ['250', { mode: 'interval', intervalMs: 250 }],
  ])('parses --fsync %s', (text, policy) => {
    expect(parseSettings(DURABILITY_SETTINGS, { fsync: text, dataDir: '/var/lib/dkv' }, {})).toEqual({
      fsync: policy,
      dataDir: '/var/lib/dkv',
      mergeMinBytes: 64 * 1024 * 1024,
    });
  });

  it('defaults to an fsync every 100 ms and no data directory', () => {
    expect(parseSettings(DURABILITY_SETTINGS, {}, {})).toEqual({
      fsync: { mode: 'interval', intervalMs: 100 },
      mergeMinBytes: 64 * 1024 * 1024,
    });
    expect(parseSettings(DURABILITY_SETTINGS, {}, { DKV_DATA_DIR: '/d', DKV_FSYNC: 'always' })).toEqual({
      fsync: { mode: 'always' },
      dataDir: '/d',
      mergeMinBytes: 64 * 1024 * 1024,
    });
  });

  it.each(['sometimes', '0', '60001', '1.5'])('refuses --fsync %s, saying what is allowed', (text) => {
    expect(() => parseSettings(DURABILITY_SETTINGS, { fsync: text }, {})).toThrow(ConfigError);
    expect(() => parseSettings(DURABILITY_SETTINGS, { fsync: text }, {})).toThrow(
      /--fsync \(DKV_FSYNC\) must be always, never, or an interval in milliseconds from 1 to 60000/,
    );
  });

  it('takes --merge-min-bytes (DKV_MERGE_MIN_BYTES) from 0, and refuses what is not a whole number of bytes', () => {
    expect(parseSettings(DURABILITY_SETTINGS, {}, { DKV_MERGE_MIN_BYTES: '0' })).toMatchObject({ mergeMinBytes: 0 });
    expect(parseSettings(DURABILITY_SETTINGS, { mergeMinBytes: '262144' }, {})).toMatchObject({ mergeMinBytes: 262_144 });
    expect(() => parseSettings(DURABILITY_SETTINGS, { mergeMinBytes: '1.5' }, {})).toThrow(
      /--merge-min-bytes \(DKV_MERGE_MIN_BYTES\) must be a whole number from 0 to 1099511627776/,
    );
  });
});
