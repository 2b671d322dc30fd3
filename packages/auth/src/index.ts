/**
 * `@dkv/auth`: users, roles and the cluster secret of `--auth-file` (API.md, "Security").
 * `loadAuthFile` / `parseAuthFile` validate the file, `UserTable` checks credentials in constant
 * time, `ReloadableAuth` re-reads the file on SIGHUP, `parseBasicAuthorization` reads HTTP Basic
 * credentials (`LOG_REDACT_PATHS` in `@dkv/app-config` keeps them out of logs).
 */
export {
  AuthFileError,
  authFileSchema,
  loadAuthFile,
  parseAuthFile,
  roleAllows,
  MAX_AUTH_FILE_BYTES,
  MAX_SECRET_LENGTH,
  MAX_USERS,
  ROLES,
  USER_NAME_PATTERN,
  type AuthFile,
  type AuthUser,
  type Role,
} from './auth-file.js';
export { constantTimeEqual, UserTable, type Authenticator, type Principal } from './authenticator.js';
export { ReloadableAuth, type AuthLog, type AuthReload } from './reloadable-auth.js';
export { basicAuthorization, parseBasicAuthorization, MAX_AUTHORIZATION_LENGTH, type Credentials } from './basic.js';
