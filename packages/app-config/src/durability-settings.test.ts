// Goal: --fsync and --data-dir parse as the README says (always, never, an interval in ms; a
// default of 100 ms; no data dir by default) and a bad value names the setting and what is allowed.
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
    expect(parseSettings(DURABILITY_SETTINGS, { fsync: text, dataDir: '/var/lib/dkv' }, {})).toEqual({ fsync: policy, dataDir: '/var/lib/dkv' });
  });

  it('defaults to an fsync every 100 ms and no data directory', () => {
    expect(parseSettings(DURABILITY_SETTINGS, {}, {})).toEqual({ fsync: { mode: 'interval', intervalMs: 100 } });
    expect(parseSettings(DURABILITY_SETTINGS, {}, { DKV_DATA_DIR: '/d', DKV_FSYNC: 'always' })).toEqual({ fsync: { mode: 'always' }, dataDir: '/d' });
  });

  it.each(['sometimes', '0', '60001', '1.5'])('refuses --fsync %s, saying what is allowed', (text) => {
    expect(() => parseSettings(DURABILITY_SETTINGS, { fsync: text }, {})).toThrow(ConfigError);
    expect(() => parseSettings(DURABILITY_SETTINGS, { fsync: text }, {})).toThrow(/--fsync \(DKV_FSYNC\) must be always, never, or an interval in milliseconds from 1 to 60000/);
  });
});
