/**
 * Process settings from flags and `DKV_*` environment variables, validated with zod at the edge.
 * A flag wins over its environment variable, which wins over the default. A bad value is reported
 * with the setting's flag and variable and the reason, so the process can stop with exit code 2.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';

/** One setting: how it is spelled on the command line and in the environment, and how it parses. */
export interface Setting<T> {
  /** The flag without dashes, e.g. `tombstone-grace-ms` for `--tombstone-grace-ms`. */
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  /** The default as text (documented and parsed like a given value); undefined when the setting is optional or required. */
  readonly defaultValue?: string;
  readonly required?: boolean;
  /**
   * A switch: on the command line the flag takes no value (`--coordinate` means `true`); its
   * variable and default are text like any other (see {@link booleanSchema}).
   */
  readonly switch?: boolean;
  /** Parses the text of the value; its issues' messages say what is allowed. */
  readonly schema: z.ZodType<T, string>;
}

/** A table of settings keyed by the name the parsed configuration uses (camelCase). */
export type SettingsTable = Record<string, Setting<unknown>>;

/** The parsed values of a {@link SettingsTable}: a setting without default or requirement may be undefined. */
export type SettingsValues<S extends SettingsTable> = {
  [K in keyof S]: S[K] extends Setting<infer T> ? (S[K] extends { defaultValue: string } | { required: true } ? T : T | undefined) : never;
};

/** Bad configuration: every problem, each naming its setting. The process stops with exit code 2. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** The name a person sees for a setting in messages: its flag and its variable. */
export function settingName(setting: Setting<unknown>): string {
  return `--${setting.flag} (${setting.env})`;
}

/**
 * Parses every setting of `table` from `flags` (keyed like the table) and `env`. Collects all
 * problems before throwing one {@link ConfigError}, so a person fixes them in one go.
 */
export function parseSettings<S extends SettingsTable>(
  table: S,
  flags: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): SettingsValues<S> {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(table)) {
    const given = flags[key] ?? nonEmpty(env[setting.env]);
    const text = given ?? setting.defaultValue;
    if (text === undefined) {
      if (setting.required) problems.push(`${settingName(setting)} is required: ${setting.description}`);
      continue;
    }
    const parsed = setting.schema.safeParse(text);
    if (parsed.success) values[key] = parsed.data;
    else
      problems.push(`${settingName(setting)} ${parsed.error.issues.map((issue) => issue.message).join('; ')}, got ${JSON.stringify(text)}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values as SettingsValues<S>;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** A whole number from `min` to `max`, written in decimal digits. */
export function intSchema(min: number, max: number): z.ZodType<number, string> {
  return z.string().transform((text, ctx) => {
    const trimmed = text.trim();
    const value = Number(trimmed);
    if (!/^\d+$/.test(trimmed) || !Number.isSafeInteger(value) || value < min || value > max) {
      ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
      return z.NEVER;
    }
    return value;
  });
}

/** `auto` (the caller works the value out), or a whole number from `min` to `max`. */
export function autoOrIntSchema(min: number, max: number): z.ZodType<number | 'auto', string> {
  const whole = intSchema(min, max);
  return z.string().transform((text, ctx) => {
    if (text.trim() === 'auto') return 'auto' as const;
    const parsed = whole.safeParse(text);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: `must be auto or a whole number from ${min} to ${max}` });
      return z.NEVER;
    }
    return parsed.data;
  });
}

/** A yes/no setting: `true`, `false`, `1`, `0`, `yes` or `no` (any case). */
export function booleanSchema(): z.ZodType<boolean, string> {
  return z.string().transform((text, ctx) => {
    const word = text.trim().toLowerCase();
    if (['true', '1', 'yes'].includes(word)) return true;
    if (['false', '0', 'no'].includes(word)) return false;
    ctx.addIssue({ code: 'custom', message: 'must be true or false (also 1 / 0, yes / no)' });
    return z.NEVER;
  });
}

/** One of a fixed set of words. */
export function enumSchema<const T extends string>(choices: readonly T[]): z.ZodType<T, string> {
  return z.string().transform((text, ctx) => {
    if (!(choices as readonly string[]).includes(text)) {
      ctx.addIssue({ code: 'custom', message: `must be one of ${choices.join(', ')}` });
      return z.NEVER;
    }
    return text as T;
  });
}

/** A text matching `pattern`; `what` says in words what is allowed. */
export function patternSchema(pattern: RegExp, what: string): z.ZodType<string, string> {
  return z.string().transform((text, ctx) => {
    if (!pattern.test(text)) {
      ctx.addIssue({ code: 'custom', message: `must be ${what}` });
      return z.NEVER;
    }
    return text;
  });
}

/** The log levels pino knows, `silent` included. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `host:port` with a port from 1 to 65535; the host is a name, an IPv4 address or a bracketed IPv6 address. */
export const ADDRESS_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([1-9]\d{0,4})$/;

/** True when `address` is `host:port` by {@link ADDRESS_PATTERN} with a port from 1 to 65535. */
export function isValidAddress(address: string): boolean {
  const match = ADDRESS_PATTERN.exec(address);
  return match !== null && Number(match[2]) <= 65535;
}

/**
 * Reads `--flag value` / `--flag=value` arguments for the settings of `table` (and `--help`), and
 * `--flag` alone for a switch (read as `true`). Unknown flags and positional arguments are
 * configuration errors.
 */
export function parseFlags(table: SettingsTable, argv: readonly string[]): { flags: Record<string, string | undefined>; help: boolean } {
  const options: Record<string, { type: 'string' } | { type: 'boolean' }> = { help: { type: 'boolean' } };
  for (const setting of Object.values(table)) options[setting.flag] = setting.switch ? { type: 'boolean' } : { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new ConfigError([error instanceof Error ? error.message : String(error)]);
  }
  const flags: Record<string, string | undefined> = {};
  for (const [key, setting] of Object.entries(table)) {
    const value = parsed.values[setting.flag];
    if (typeof value === 'string') flags[key] = value;
    else if (value === true) flags[key] = 'true';
  }
  return { flags, help: parsed.values['help'] === true };
}

/** The usage text of a settings table: one line per flag with its variable and default. */
export function formatHelp(usage: string, table: SettingsTable): string {
  const lines = [`usage: ${usage}`, '', 'options (each also read from its environment variable):'];
  for (const setting of Object.values(table)) {
    const def = setting.defaultValue !== undefined ? ` [default ${setting.defaultValue}]` : setting.required ? ' [required]' : '';
    lines.push(`  --${setting.flag}${setting.switch ? '' : ' <value>'}  ${setting.env}  ${setting.description}${def}`);
  }
  return lines.join('\n');
}
