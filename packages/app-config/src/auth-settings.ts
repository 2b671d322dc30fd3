import { AuthFileError, loadAuthFile, type AuthFile } from '@dkv/auth';
import { z } from 'zod';
import { settingName, type Setting, type SettingsValues } from './settings.js';

/**
 * The authentication setting (API.md, "Security") as every process takes it: storage nodes,
 * coordinators and `dkv cluster up`, which passes it to each. One flag, variable and schema, so
 * one environment configures all.
 */
export const AUTH_SETTINGS = {
  authFile: {
    flag: 'auth-file',
    env: 'DKV_AUTH_FILE',
    description:
      'JSON file {"users": [{"name", "password", "role": "read"|"readwrite"|"admin"}], "clusterSecret"}: turns authentication on for both doors (re-read on SIGHUP); absent: every port is open',
    schema: z.string().min(1, 'must be the path of the auth file'),
  },
} satisfies Record<string, Setting<unknown>>;

/** The parsed values of {@link AUTH_SETTINGS}. */
export type AuthSettingsValues = SettingsValues<typeof AUTH_SETTINGS>;

/**
 * The auth file a process starts with: its path (re-read on SIGHUP) and its content. The
 * `clusterSecret` is what the internode transport proves and checks (its `clusterSecret` option).
 */
export interface AuthFileConfig extends AuthFile {
  readonly path: string;
}

/**
 * Loads the auth file the settings name: null when none is given; a file that cannot be read or
 * is invalid adds a problem naming the setting, the file and each bad field (never a secret).
 */
export function authFileConfigFrom(values: AuthSettingsValues, problems: string[]): AuthFileConfig | null {
  if (values.authFile === undefined) return null;
  try {
    return { path: values.authFile, ...loadAuthFile(values.authFile) };
  } catch (error) {
    if (!(error instanceof AuthFileError)) throw error;
    problems.push(`${settingName(AUTH_SETTINGS.authFile)} ${error.message}`);
    return null;
  }
}
