// Goal: a storage node started with --coordinate takes the stand-alone coordinator's settings under
// the same flags, variables, defaults and limits, so one environment configures both topologies
// alike; the node repeats those definitions (apps/node/src/coordinate-config.ts) rather than
// importing them, and this test keeps the two copies from drifting apart. Every coordinator flag
// is either shared with the node or one of the documented exclusions, so a new coordinator flag
// fails here until someone decides whether a coordinating node takes it too.
// Method: the two settings tables side by side, each from its package's public entry (the node's
// NODE_SETTINGS holds its coordinate settings). The sample values of a setting are derived from
// what its schemas say when they refuse a value (their range or their choices), so no flag has
// cases of its own. Descriptions differ on purpose (the node's start with "with --coordinate")
// and are not compared.
import { ConfigError, type Setting } from '@dkv/app-config';
import { NODE_SETTINGS, parseNodeConfig } from '@dkv/node';
import { describe, expect, it } from 'vitest';
import { COORDINATOR_SETTINGS, parseCoordinatorConfig } from './config.js';

type AnySetting = Setting<unknown>;

/** Coordinator flags that a node takes as its own identity and edges (apps/node/src/config.ts), with its own meaning: not compared. */
const NODE_OWN_FLAGS = ['id', 'host', 'port', 'join', 'n', 'log-level'];

/**
 * Flags every process takes from one definition in @dkv/app-config (AUTH_SETTINGS, TLS_SETTINGS),
 * coordinating or not: the same object in both tables, so there is no copy to drift; checked to be that object.
 */
const ONE_DEFINITION_FLAGS = ['auth-file', 'tls-cert', 'tls-key', 'tls-ca'];

/** Coordinator flags a coordinating node does not take, for the reasons given at NODE_COORDINATE_SETTINGS. */
const NOT_ON_NODE_FLAGS = ['transport', 'join-timeout-ms', 'membership-refresh-ms', 'clock-offset-ms'];

function byFlag(table: Readonly<Record<string, AnySetting>>): ReadonlyMap<string, AnySetting> {
  return new Map(Object.values(table).map((setting) => [setting.flag, setting]));
}

const coordinatorByFlag = byFlag(COORDINATOR_SETTINGS);
const nodeByFlag = byFlag(NODE_SETTINGS);
const SHARED_FLAGS = [...coordinatorByFlag.keys()].filter(
  (flag) => nodeByFlag.has(flag) && !NODE_OWN_FLAGS.includes(flag) && !ONE_DEFINITION_FLAGS.includes(flag),
);

function coordinatorSetting(flag: string): AnySetting {
  const setting = coordinatorByFlag.get(flag);
  if (setting === undefined) throw new Error(`the coordinator has no --${flag}`);
  return setting;
}

function nodeSetting(flag: string): AnySetting {
  const setting = nodeByFlag.get(flag);
  if (setting === undefined) throw new Error(`the node has no --${flag}`);
  return setting;
}

/** What a schema says when it refuses a value no setting takes, e.g. "must be a whole number from 1 to 60000". */
function refusalOf(setting: AnySetting): string {
  const result = setting.schema.safeParse('\u0000');
  return result.success ? '' : result.error.issues.map((issue) => issue.message).join('; ');
}

const RANGE = /must be a whole number from (-?\d+) to (-?\d+)/;
const CHOICES = /must be one of (.+)$/;

/**
 * Values around a setting's limits or choices as its schema states them (each limit, one inside,
 * one outside, a fraction, ten times the top), near misses of each choice, its default, and a few
 * that no number or word setting takes.
 */
function samplesOf(setting: AnySetting): string[] {
  const samples = ['', ' ', 'x', 'NaN', '-1', '0', '1', '1.5', '1e3', '0x10', 'true'];
  if (setting.defaultValue !== undefined) samples.push(setting.defaultValue, ` ${setting.defaultValue} `);
  const refusal = refusalOf(setting);
  const range = RANGE.exec(refusal);
  if (range !== null) {
    const min = Number(range[1]);
    const max = Number(range[2]);
    samples.push(...[min - 1, min, min + 1, max - 1, max, max + 1, max * 10].map(String), `${min}.5`, `${max}.0`);
  }
  const choices = CHOICES.exec(refusal);
  if (choices !== null)
    for (const choice of (choices[1] ?? '').split(', ')) samples.push(choice, choice.toUpperCase(), ` ${choice}`, `${choice}x`);
  return samples;
}

/** How a schema answers a text: the value it parses to, or the reasons it refuses it. */
function answerOf(setting: AnySetting, text: string): { accepts: unknown } | { refuses: string[] } {
  const result = setting.schema.safeParse(text);
  return result.success ? { accepts: result.data } : { refuses: result.error.issues.map((issue) => issue.message) };
}

/** The problems a configuration error lists, or none. */
function problemsOf(parse: () => unknown): readonly string[] {
  try {
    parse();
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
}

describe('the settings a coordinating node shares with the stand-alone coordinator', () => {
  it('are every coordinator flag but exactly the documented exclusions', () => {
    const notOnNode = [...coordinatorByFlag.keys()].filter((flag) => !nodeByFlag.has(flag));
    expect(notOnNode.sort()).toEqual([...NOT_ON_NODE_FLAGS].sort());
    for (const flag of NODE_OWN_FLAGS) {
      expect(coordinatorByFlag.has(flag), `--${flag} on the coordinator`).toBe(true);
      expect(nodeByFlag.has(flag), `--${flag} on the node`).toBe(true);
    }
    for (const flag of ONE_DEFINITION_FLAGS) expect(nodeSetting(flag), `--${flag}`).toBe(coordinatorSetting(flag));
    expect(SHARED_FLAGS.length).toBe(
      coordinatorByFlag.size - NOT_ON_NODE_FLAGS.length - NODE_OWN_FLAGS.length - ONE_DEFINITION_FLAGS.length,
    );
  });

  it.each(SHARED_FLAGS)('--%s: same variable, default, requirement and switch', (flag) => {
    const spelling = ({ env, defaultValue, required, switch: isSwitch }: AnySetting) => ({ env, defaultValue, required, switch: isSwitch });
    expect(spelling(nodeSetting(flag))).toEqual(spelling(coordinatorSetting(flag)));
  });

  it.each(SHARED_FLAGS)('--%s: states its range or its choices, so its samples come from its definition', (flag) => {
    for (const setting of [coordinatorSetting(flag), nodeSetting(flag)]) {
      const refusal = refusalOf(setting);
      expect(RANGE.test(refusal) || CHOICES.test(refusal), `refusal "${refusal}"`).toBe(true);
    }
  });

  it.each(SHARED_FLAGS)('--%s: accepts and refuses the same values', (flag) => {
    const coordinator = coordinatorSetting(flag);
    const node = nodeSetting(flag);
    const samples = [...new Set([...samplesOf(coordinator), ...samplesOf(node)])];
    const answers = (setting: AnySetting) => Object.fromEntries(samples.map((text) => [JSON.stringify(text), answerOf(setting, text)]));
    expect(answers(node)).toEqual(answers(coordinator));
  });

  // The checks between settings are written twice too (parseCoordinatorConfig, coordinateProblems);
  // a problem must read the same from either process, naming flags and variables.
  it.each([
    [{ w: '4' }],
    [{ n: '1' }],
    [{ hedgeMinDelayMs: '300', hedgeMaxDelayMs: '200' }],
    [{ replicationBaseBackoffMs: '500', replicationMaxBackoffMs: '100' }],
    [{ nodeRetryBaseDelayMs: '300', nodeRetryMaxDelayMs: '100' }],
  ])('words a bad combination %j alike', (flags: Record<string, string>) => {
    const coordinator = problemsOf(() => parseCoordinatorConfig({ join: 'h:1', ...flags }, {}));
    const node = problemsOf(() => parseNodeConfig({ id: 'n1', coordinate: 'true', ...flags }, {}));
    expect(coordinator.length).toBeGreaterThan(0);
    expect(coordinator.every((problem) => problem.startsWith('--'))).toBe(true);
    expect(node).toEqual(coordinator);
  });
});
