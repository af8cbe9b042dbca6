// Home Assistant users and password logins, read from bytes (haos-format.md §4.2–§4.4, §7 items 13–14):
//   .storage/auth_provider.homeassistant  {"users": [{"username", "password"}]}  the password logins
//   .storage/auth                         users, groups, credentials (login ↔ user links), refresh tokens
//   .storage/auth_module.totp             {"users": {"<user id>": "<base32 secret>"}}  TOTP (MFA) secrets
//
// auth_module.totp, from home-assistant/core homeassistant/auth/mfa_modules/totp.py (commit d4b1e819):
// STORAGE_VERSION = 1, STORAGE_KEY = "auth_module.totp", saved as `{STORAGE_USERS: self._users}` with
// STORAGE_USERS = "users" and `self._users[user_id] = ota_secret`; async_is_user_setup is
// `user_id in self._users`, and async_depose_user pops the user id.

import { CorruptError, NotFoundError } from '../errors.js';
import { pyCasefold, pyStrip } from './py-unicode.js';
import { parseStore, type StoreFile } from './store.js';

export const PROVIDER_STORE = { key: 'auth_provider.homeassistant', path: '.storage/auth_provider.homeassistant', major: 1 } as const;
export const AUTH_STORE = { key: 'auth', path: '.storage/auth', major: 1 } as const;
export const TOTP_STORE = { key: 'auth_module.totp', path: '.storage/auth_module.totp', major: 1 } as const;

/** Groups Home Assistant recreates at load when missing (auth/const.py). */
const SYSTEM_GROUPS = new Set(['system-admin', 'system-users', 'system-read-only']);

export interface ProviderLogin {
  username: string;
  /** base64 of a bcrypt hash. */
  password: string;
}

/**
 * How login names are compared. 'legacy': exactly (Core before the removal of legacy mode, mid-2026, when any
 * stored name is not normalised). 'normalized': `strip().casefold()` on both sides. 'auto': legacy exactly
 * when isLegacyMode() says Core before 2026.7 would run in legacy mode.
 */
export type MatchMode = 'auto' | 'legacy' | 'normalized';

/** `username.strip().casefold()`, as Home Assistant normalises usernames. */
export function normalizeUsername(username: string): string {
  return pyCasefold(pyStrip(username));
}

/** Legacy mode (Core before 2026.7): on when ANY stored username is not normalised; names then match exactly. */
export function isLegacyMode(providerUsers: ReadonlyArray<{ username: string }>): boolean {
  return providerUsers.some((u) => normalizeUsername(u.username) !== u.username);
}

export function resolveMode(providerUsers: ReadonlyArray<{ username: string }>, mode: MatchMode = 'auto'): 'legacy' | 'normalized' {
  if (mode !== 'auto') return mode;
  return isLegacyMode(providerUsers) ? 'legacy' : 'normalized';
}

/**
 * Index of the login Home Assistant would match for `username`, or -1. With several matches this is the
 * first, which is the one change_password (and `ha auth reset`) edits; see findLoginIndexes.
 */
export function findLogin(providerUsers: ReadonlyArray<{ username: string }>, username: string, mode: MatchMode = 'auto'): number {
  return findLoginIndexes(providerUsers, username, mode)[0] ?? -1;
}

/** Every matching login. validate_login uses the LAST match, change_password the first. */
export function findLoginIndexes(providerUsers: ReadonlyArray<{ username: string }>, username: string, mode: MatchMode = 'auto'): number[] {
  const key = matchKey(resolveMode(providerUsers, mode));
  const wanted = key(username);
  const found: number[] = [];
  providerUsers.forEach((u, i) => {
    if (key(u.username) === wanted) found.push(i);
  });
  return found;
}

function matchKey(mode: 'legacy' | 'normalized'): (name: string) => string {
  return mode === 'legacy' ? (name) => name : normalizeUsername;
}

/** Parses `.storage/auth_provider.homeassistant` and checks each login has a string username and password. */
export function parseProviderStore(bytes: Buffer): StoreFile<{ users: ProviderLogin[] }> {
  const file = parseStore(bytes, PROVIDER_STORE.key, PROVIDER_STORE.path);
  const data = file.data as { users?: unknown } | null;
  const bad = (what: string) =>
    new CorruptError('BAD_PROVIDER_STORE', `bad ${PROVIDER_STORE.path}: ${what}`, {
      details: { path: PROVIDER_STORE.path },
      hint: 'Home Assistant cannot check passwords with this file; restore it from a backup',
    });
  if (!isObject(data) || !Array.isArray(data.users)) throw bad('data.users is not a list');
  data.users.forEach((u: unknown, i: number) => {
    if (!isObject(u) || typeof u.username !== 'string' || typeof u.password !== 'string') {
      throw bad(`login #${i} has no string "username" and "password"`);
    }
  });
  return file as StoreFile<{ users: ProviderLogin[] }>;
}

export interface AuthUserRecord {
  id: string;
  group_ids?: string[];
  is_owner?: boolean;
  is_active?: boolean;
  name?: string | null;
  system_generated?: boolean;
  local_only?: boolean;
}

export interface AuthCredentialRecord {
  id: string;
  user_id: string;
  auth_provider_type: string;
  auth_provider_id: string | null;
  data: { username?: unknown } & Record<string, unknown>;
}

export interface AuthData {
  users: AuthUserRecord[];
  groups: Array<{ id: string }>;
  credentials: AuthCredentialRecord[];
  refresh_tokens: Array<{ id: string; user_id: string }>;
}

/** Parses `.storage/auth`; the lists Home Assistant indexes into must be lists of objects with string ids. */
export function parseAuthStore(bytes: Buffer): StoreFile<AuthData> {
  const file = parseStore(bytes, AUTH_STORE.key, AUTH_STORE.path);
  const data = file.data;
  const bad = (what: string) =>
    new CorruptError('BAD_AUTH_STORE', `bad ${AUTH_STORE.path}: ${what}`, {
      details: { path: AUTH_STORE.path },
      hint: 'Home Assistant would fail to load its users from this file; restore it from a backup',
    });
  if (!isObject(data)) throw bad('data is not an object');
  const list = (name: string, required: boolean, idFields: string[]): void => {
    const value = data[name];
    if (value === undefined && !required) return;
    if (!Array.isArray(value)) throw bad(`data.${name} is not a list`);
    value.forEach((item: unknown, i: number) => {
      if (!isObject(item)) throw bad(`data.${name}[${i}] is not an object`);
      for (const f of idFields) if (typeof item[f] !== 'string') throw bad(`data.${name}[${i}].${f} is not a string`);
    });
  };
  list('users', true, ['id']);
  list('groups', false, ['id']);
  list('credentials', true, ['id', 'user_id']);
  list('refresh_tokens', false, ['id', 'user_id']);
  return file as StoreFile<AuthData>;
}

/** Parses `.storage/auth_module.totp`: data.users maps user ids to TOTP secrets. */
export function parseTotpStore(bytes: Buffer): StoreFile<{ users: Record<string, string> }> {
  const file = parseStore(bytes, TOTP_STORE.key, TOTP_STORE.path);
  const data = file.data;
  if (!isObject(data) || !isObject(data.users) || Array.isArray(data.users)) {
    throw new CorruptError('BAD_TOTP_STORE', `bad ${TOTP_STORE.path}: data.users is not an object`, {
      details: { path: TOTP_STORE.path },
      hint: 'Home Assistant cannot check one-time codes with this file; restore it from a backup',
    });
  }
  return file as StoreFile<{ users: Record<string, string> }>;
}

export interface HaUser {
  /** The password login (as stored in auth_provider.homeassistant), or the credential's name when it has none. */
  username: string | null;
  name: string | null;
  owner: boolean;
  /** In group system-admin. A login not yet linked to a user becomes an administrator at first login (§4.4). */
  admin: boolean;
  active: boolean;
  /** system_generated (Supervisor, Home Assistant Content, ...): cannot log in with a password. */
  system: boolean;
  localOnly: boolean;
  /** A TOTP secret exists for this user in auth_module.totp; null: not known (that file could not be read). */
  mfa: boolean | null;
  userId: string | null;
  /** false for a password login that no user is linked to yet (Home Assistant creates the user at first login). */
  linked: boolean;
  /** A password login exists for this user. */
  hasLogin: boolean;
}

export interface AuthWarning {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface UserList {
  users: HaUser[];
  warnings: AuthWarning[];
  /** How login names are matched (legacy: exactly). */
  mode: 'legacy' | 'normalized';
}

export interface AuthFiles {
  auth?: Buffer;
  provider?: Buffer;
  totp?: Buffer;
  /** Why the TOTP store could not be read (damage on the card; its path named): who has two-factor on is not known. */
  totpUnreadable?: string;
}

/**
 * Joins users (.storage/auth) to their password logins and MFA state. Logins with no linked user are listed
 * too (name and userId null). Order: owner first, then by name, system users last.
 */
export function listUsers(files: AuthFiles, options: { mode?: MatchMode } = {}): UserList {
  if (!files.provider) {
    throw new NotFoundError('PROVIDER_STORE_MISSING', `${PROVIDER_STORE.path} is missing: no user can log in with a password`, {
      details: { path: PROVIDER_STORE.path },
      hint: 'restore it from a backup; without it Home Assistant rejects every username and password',
    });
  }
  const logins = parseProviderStore(files.provider).data.users;
  const mode = resolveMode(logins, options.mode);
  const key = matchKey(mode);
  const warnings: AuthWarning[] = [];
  checkLogins(logins, mode, warnings);

  const mfaUsers = files.totpUnreadable === undefined ? totpUsers(files.totp, warnings) : null;
  if (files.totpUnreadable !== undefined) {
    warnings.push({ code: 'TOTP_STORE_UNREADABLE', message: `${files.totpUnreadable}; who has two-factor on is not known (shown as "unknown")` });
  }
  const rows: HaUser[] = [];
  const linkedLogins = new Set<number>();

  if (!files.auth) {
    warnings.push({
      code: 'AUTH_STORE_MISSING',
      message: `${AUTH_STORE.path} is missing: Home Assistant starts with no users, and each login below becomes a new administrator (not owner) at first login`,
    });
  } else {
    rows.push(...linkedUsers(files.auth, logins, key, mfaUsers, linkedLogins, warnings));
  }

  logins.forEach((login, i) => {
    if (linkedLogins.has(i)) return;
    rows.push({
      username: login.username, name: null, owner: false, admin: true, active: true, system: false,
      localOnly: false, mfa: mfaUsers && false, userId: null, linked: false, hasLogin: true,
    });
  });

  rows.sort(compareUsers);
  return { users: rows, warnings, mode };
}

/**
 * The user ids with a TOTP secret. A damaged TOTP store is set aside by Home Assistant at its next start, and
 * two-factor is then off for every user: said, not a refusal (it stopped `auth list` and a password reset that
 * does not touch that file).
 */
function totpUsers(totp: Buffer | undefined, warnings: AuthWarning[]): Set<string> {
  if (!totp) return new Set();
  try {
    return new Set(Object.keys(parseTotpStore(totp).data.users));
  } catch (err) {
    // Only what makes Home Assistant's store loading fail (not JSON); a file of another shape is not set aside.
    if (!(err instanceof CorruptError) || err.code !== 'BAD_STORE_JSON') throw err;
    warnings.push({ code: 'TOTP_STORE_DAMAGED', message: `${err.message}: two-factor is then off for every user` });
    return new Set();
  }
}

/** The users of .storage/auth, each joined to its password login (index added to `linkedLogins`). */
function linkedUsers(
  authBytes: Buffer,
  logins: ProviderLogin[],
  key: (username: string) => string,
  mfaUsers: Set<string> | null,
  linkedLogins: Set<number>,
  warnings: AuthWarning[],
): HaUser[] {
  const auth = parseAuthStore(authBytes).data;
  checkReferences(auth, warnings);
  const loginIndexByKey = new Map<string, number>();
  logins.forEach((l, i) => {
    if (!loginIndexByKey.has(key(l.username))) loginIndexByKey.set(key(l.username), i);
  });
  return auth.users.map((user) => {
    const cred = auth.credentials.find(
      (c) => c.user_id === user.id && c.auth_provider_type === 'homeassistant' && (c.auth_provider_id ?? null) === null,
    );
    const credName = cred && typeof cred.data?.username === 'string' ? cred.data.username : null;
    const loginIndex = credName === null ? undefined : loginIndexByKey.get(key(credName));
    if (loginIndex !== undefined) linkedLogins.add(loginIndex);
    else if (credName !== null) {
      warnings.push({
        code: 'CREDENTIAL_WITHOUT_LOGIN',
        message: `user ${JSON.stringify(user.name ?? user.id)} is linked to login ${JSON.stringify(credName)}, which has no password in ${PROVIDER_STORE.path}: it cannot log in with a password`,
        details: { userId: user.id, username: credName },
      });
    }
    return {
      username: loginIndex !== undefined ? logins[loginIndex]!.username : credName,
      name: typeof user.name === 'string' ? user.name : null,
      owner: user.is_owner === true,
      admin: Array.isArray(user.group_ids) && user.group_ids.includes('system-admin'),
      active: user.is_active === true,
      system: user.system_generated === true,
      localOnly: user.local_only === true,
      mfa: mfaUsers && mfaUsers.has(user.id),
      userId: user.id,
      linked: true,
      hasLogin: loginIndex !== undefined,
    };
  });
}

function checkLogins(logins: ProviderLogin[], mode: 'legacy' | 'normalized', warnings: AuthWarning[]): void {
  const seen = new Map<string, string>();
  const key = matchKey(mode);
  for (const { username } of logins) {
    const normalized = normalizeUsername(username);
    if (normalized !== username) {
      warnings.push({
        code: 'USERNAME_NOT_NORMALIZED',
        message: `login ${JSON.stringify(username)} is not normalised: Home Assistant before 2026.7 then matches every name exactly (legacy mode); later versions match it as ${JSON.stringify(normalized)}`,
        details: { username, normalized },
      });
    }
    const previous = seen.get(key(username));
    if (previous !== undefined) {
      warnings.push({
        code: 'DUPLICATE_LOGIN',
        message: `logins ${JSON.stringify(previous)} and ${JSON.stringify(username)} are the same name to Home Assistant: a login checks the last one's password, a password change edits the first`,
        details: { usernames: [previous, username] },
      });
    } else seen.set(key(username), username);
  }
}

function checkReferences(auth: AuthData, warnings: AuthWarning[]): void {
  const userIds = new Set(auth.users.map((u) => u.id));
  const groupIds = new Set([...(auth.groups ?? []).map((g) => g.id), ...SYSTEM_GROUPS]);
  const dangling = (what: string, id: string, userId: string) =>
    warnings.push({
      code: 'DANGLING_USER_ID',
      message: `${AUTH_STORE.path}: ${what} ${id} belongs to user ${userId}, which does not exist; Home Assistant fails to load its users (KeyError) until this is fixed`,
      details: { what, id, userId },
    });
  for (const c of auth.credentials) if (!userIds.has(c.user_id)) dangling('credential', c.id, c.user_id);
  for (const t of auth.refresh_tokens ?? []) if (!userIds.has(t.user_id)) dangling('refresh token', t.id, t.user_id);
  for (const u of auth.users) {
    for (const g of Array.isArray(u.group_ids) ? u.group_ids : []) {
      if (!groupIds.has(g)) {
        warnings.push({
          code: 'DANGLING_GROUP_ID',
          message: `${AUTH_STORE.path}: user ${u.id} is in group ${JSON.stringify(g)}, which does not exist; Home Assistant fails to load its users (KeyError) until this is fixed`,
          details: { userId: u.id, groupId: g },
        });
      }
    }
  }
}

function compareUsers(a: HaUser, b: HaUser): number {
  const rank = (u: HaUser) => (u.owner ? 0 : u.system ? 2 : 1);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  const name = (u: HaUser) => normalizeUsername(u.name ?? u.username ?? '');
  return cmp(name(a), name(b)) || cmp(a.username ?? '', b.username ?? '') || cmp(a.userId ?? '', b.userId ?? '');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
